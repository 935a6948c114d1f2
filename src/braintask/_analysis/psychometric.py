"""Psychometric and chronometric curves: choices and decision times against a
trial-level difficulty, with a logistic fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .arrays import check_array

if TYPE_CHECKING:  # pandas is imported where a table is made: it costs seconds at import
    import pandas as pd

__all__ = ["Psychometric", "psychometric", "decision_times"]


def _logistic(x: np.ndarray, slope: float, threshold: float, floor: float) -> np.ndarray:
    return floor + (1.0 - floor) / (1.0 + np.exp(-slope * (x - threshold)))


@dataclass(frozen=True, eq=False)
class Psychometric:
    """A psychometric (and chronometric) table with its logistic fit.

    ``P(x) = floor + (1 - floor) / (1 + exp(-slope * (x - threshold)))``.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per difficulty level (the index, sorted): ``n`` trials,
        ``rate`` (fraction of outcomes 1), the Wilson interval ``lower`` and
        ``upper``, ``fit`` (the fitted curve there) and, with decision times,
        ``mean_time``, ``median_time`` and ``n_timed``.
    slope, threshold : float
        Fitted parameters (NaN if the fit failed); ``threshold`` is where
        ``P`` is halfway between ``floor`` and 1.
    slope_se, threshold_se : float
        Their standard errors from the fit's covariance.
    floor : float
        The fixed lower asymptote (0 for P(choose right), 0.5 for the
        accuracy of a two-choice task against unsigned difficulty).
    """

    table: pd.DataFrame
    slope: float
    threshold: float
    slope_se: float
    threshold_se: float
    floor: float

    def curve(self, x: ArrayLike) -> np.ndarray:
        """The fitted ``P(x)`` at difficulties ``x``."""
        return _logistic(np.asarray(x, dtype=float), self.slope, self.threshold, self.floor)


def _fit(levels: np.ndarray, rates: np.ndarray, counts: np.ndarray,
         floor: float) -> tuple[float, float, float, float]:
    """``(slope, threshold, slope_se, threshold_se)``: least squares on the level rates
    with binomial variances ``P (1 - P) / n`` taken at the fitted curve (a Fisher-scoring
    step, so the covariance is the inverse Fisher information of the binomial model)."""
    from scipy.optimize import curve_fit

    model = lambda x, s, t: _logistic(x, s, t, floor)  # noqa: E731
    span = float(np.ptp(levels)) or 1.0
    params = (4.0 / span, float(np.average(levels, weights=counts)))
    try:
        for sigma, absolute in [(1.0 / np.sqrt(counts), False), (None, True)]:
            if sigma is None:  # binomial standard deviations at the first fit
                p = np.clip(model(levels, *params), 1e-6, 1 - 1e-6)
                sigma = np.sqrt(p * (1 - p) / counts)
            params, cov = curve_fit(model, levels, rates, p0=params, sigma=sigma,
                                    absolute_sigma=absolute, maxfev=10000)
    except RuntimeError:  # no convergence
        return (float("nan"),) * 4
    errors = np.sqrt(np.clip(np.diag(cov), 0, None))
    return float(params[0]), float(params[1]), float(errors[0]), float(errors[1])


def psychometric(difficulty: ArrayLike, outcome: ArrayLike, *, times: ArrayLike | None = None,
                 floor: float = 0.0,
                 confidence: float = 0.95) -> Psychometric:
    """Choice rate per difficulty level, its Wilson interval, and a logistic fit.

    Parameters
    ----------
    difficulty : array
        ``(N,)`` trial-level difficulty, finite: e.g. signed coherence (then
        ``outcome`` is "chose right"), or unsigned coherence (then ``outcome``
        is "correct" and ``floor=0.5`` for two choices). At least 3 levels.
    outcome : array
        ``(N,)`` booleans or 0/1.
    times : array, optional
        ``(N,)`` decision times (e.g. from :func:`decision_times`); NaN marks
        a trial without one. Adds the chronometric columns.
    floor : float
        Lower asymptote of the fitted curve, in [0, 1). Default 0.
    confidence : float
        Level of the Wilson intervals, in (0, 1). Default 0.95.

    Returns
    -------
    Psychometric
        ``table`` (a DataFrame per level) and the fitted ``slope``,
        ``threshold`` with standard errors, and ``curve(x)``.

    Examples
    --------
    >>> import numpy as np, braintask
    >>> coherence = np.repeat([-10.0, -5.0, 0.0, 5.0, 10.0], 4)
    >>> right = np.array([0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1])
    >>> result = braintask.psychometric(coherence, right)
    >>> result.table["n"].tolist(), result.table["rate"].tolist()
    ([4, 4, 4, 4, 4], [0.0, 0.25, 0.5, 0.75, 1.0])
    >>> result.table["lower"].round(3).tolist()  # Wilson 95% intervals
    [0.0, 0.046, 0.15, 0.301, 0.51]
    >>> round(result.slope, 2), abs(round(result.threshold, 2))  # symmetric: threshold 0
    (0.31, 0.0)
    """
    import pandas as pd
    from scipy.stats import binomtest

    x = check_array("difficulty", difficulty, 1, "one difficulty value per trial (N,)")
    y = check_array("outcome", outcome, 1, "one outcome per trial (N,), 0/1 or booleans")
    if y.shape != x.shape:
        raise ValueError(f"outcome has {y.shape[0]} trials but difficulty has {x.shape[0]}; "
                         f"give one of each per trial.")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"outcome must be 0/1 or booleans, got values "
                         f"{np.unique(y[(y != 0) & (y != 1)])[:5].tolist()}.")
    if not (isinstance(floor, (int, float)) and 0 <= floor < 1):
        raise ValueError(f"floor must lie in [0, 1), got {floor!r}.")
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}.")
    levels, index, counts = np.unique(x, return_inverse=True, return_counts=True)
    if levels.size < 3:
        raise ValueError(f"a logistic fit needs at least 3 difficulty levels, got "
                         f"{levels.size}: {levels.tolist()}.")
    hits = np.bincount(index, weights=y, minlength=levels.size)
    bounds = [binomtest(int(round(k)), int(n)).proportion_ci(confidence, method="wilson")
              for k, n in zip(hits, counts)]
    rates = hits / counts
    table = pd.DataFrame({"n": counts, "rate": rates, "lower": [b.low for b in bounds],
                          "upper": [b.high for b in bounds]},
                         index=pd.Index(levels, name="difficulty"))
    slope, threshold, slope_se, threshold_se = _fit(levels, rates, counts, float(floor))
    table["fit"] = _logistic(levels, slope, threshold, float(floor))
    if times is not None:
        table = table.join(_chronometric(times, x, levels, index))
    return Psychometric(table, slope, threshold, slope_se, threshold_se, float(floor))


def _chronometric(times: ArrayLike, x: np.ndarray, levels: np.ndarray,
                  index: np.ndarray) -> pd.DataFrame:
    """Mean and median decision time per level, over the trials that have one."""
    import pandas as pd

    t = check_array("times", times, 1, "one decision time per trial (N,)", finite=False)
    if t.shape != x.shape:
        raise ValueError(f"times has {t.shape[0]} trials but difficulty has {x.shape[0]}.")
    if np.any(np.isinf(t)):
        raise ValueError("times must be finite, or NaN for a trial without a decision.")
    rows = []
    for level in range(levels.size):
        got = t[(index == level) & ~np.isnan(t)]
        rows.append((got.mean() if got.size else np.nan,
                     np.median(got) if got.size else np.nan, got.size))
    return pd.DataFrame(rows, columns=["mean_time", "median_time", "n_timed"],
                        index=pd.Index(levels, name="difficulty"))


def decision_times(outputs: ArrayLike, decision: ArrayLike, *,
                   no_choice: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each trial's final choice and the step at which the network committed to it.

    The choice is the output class with the largest value at the trial's last
    decision step. The decision time is the first decision step from which
    that class stays the largest output until the end of the decision period,
    counted from the period's first step (0: committed at onset).

    Parameters
    ----------
    outputs : array
        ``(N, T, C)`` per-step outputs (e.g. ``trainer.predict(data.inputs)``
        of a per-step model), finite.
    decision : array
        ``(N, T)`` booleans, the decision period (e.g. ``data.decision``);
        every trial needs at least one step.
    no_choice : int, optional
        A class that is no choice (e.g. cogtask's fixation output 0): trials
        that end on it get choice -1 and time NaN.

    Returns
    -------
    choice : numpy.ndarray
        ``(N,)`` int class indices (-1: no choice).
    time : numpy.ndarray
        ``(N,)`` float steps since the decision period began (NaN: no choice).

    Examples
    --------
    >>> import numpy as np, braintask
    >>> out = np.zeros((1, 5, 3)); out[0, :, 0] = 1.0  # fixating...
    >>> out[0, 2, 1] = 2.0; out[0, 3:, 2] = 2.0  # ...a wavering start, then class 2
    >>> decision = np.array([[False, True, True, True, True]])
    >>> braintask.decision_times(out, decision)
    (array([2]), array([2.]))
    """
    out = check_array("outputs", outputs, 3, "per-step outputs (N trials, T steps, C classes)")
    window = np.asarray(decision)
    if window.shape != out.shape[:2]:
        raise ValueError(f"decision must be (N, T) = {out.shape[:2]} booleans like the "
                         f"outputs' first two axes, got shape {window.shape}.")
    window = window.astype(bool)
    empty = np.flatnonzero(~window.any(axis=1))
    if empty.size:
        raise ValueError(f"{empty.size} trials have no decision step (e.g. trial "
                         f"{int(empty[0])}); every trial needs one.")
    steps = out.shape[1]
    guess = out.argmax(axis=-1)  # (N, T)
    last = steps - 1 - np.argmax(window[:, ::-1], axis=1)
    choice = guess[np.arange(len(guess)), last]
    agrees = (guess == choice[:, None]) | ~window
    # first step from which every later step agrees: after the last disagreeing step
    disagree = ~agrees
    last_bad = np.where(disagree.any(axis=1), steps - 1 - np.argmax(disagree[:, ::-1], axis=1),
                        -1)
    onset = np.argmax(window, axis=1)
    commit = np.maximum(last_bad + 1, onset)
    time = np.cumsum(window, axis=1)[np.arange(len(guess)), commit] - 1.0
    if no_choice is not None:
        none = choice == int(no_choice)
        choice = np.where(none, -1, choice)
        time = np.where(none, np.nan, time)
    return choice.astype(np.int64), time
