"""Student's t intervals for a mean over seeds (or any repeated runs)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas

__all__ = ["Interval", "mean_interval", "interval_table"]


class Interval(tuple):
    """A mean and its t interval: the pair ``(mean, half_width)``, with ``low``,
    ``high`` (``mean -/+ half_width``, clipped to the bounds when
    :func:`braintask.mean_interval` was given ``bounded``), ``n`` and ``confidence``."""

    low: float
    high: float
    n: int
    confidence: float

    def __new__(cls, mean: float, half_width: float, low: float, high: float, n: int,
                confidence: float) -> Interval:
        self = super().__new__(cls, (mean, half_width))
        self.__dict__.update(low=low, high=high, n=n, confidence=confidence)
        return self

    mean = property(lambda self: self[0])
    half_width = property(lambda self: self[1])

    def __getnewargs__(self) -> tuple:
        return (self.mean, self.half_width, self.low, self.high, self.n, self.confidence)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"an Interval is read-only (tried to set {name!r}).")

    def __repr__(self) -> str:
        return (f"Interval(mean={self.mean!r}, half_width={self.half_width!r}, "
                f"low={self.low!r}, high={self.high!r}, n={self.n}, "
                f"confidence={self.confidence!r})")


def _check_confidence(confidence: Any) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) \
            or not 0 < confidence < 1:  # type: ignore[operator]  # typeshed: Real has no __gt__
        raise ValueError(f"confidence must be a number strictly between 0 and 1, "
                         f"got {confidence!r}.")
    return float(confidence)


def _check_bounds(bounded: Any) -> tuple[float, float] | None:
    if bounded is None:
        return None
    try:
        low, high = (float(b) for b in bounded)
    except (TypeError, ValueError):
        raise TypeError(f"bounded must be None or a pair (low, high), got {bounded!r}.") from None
    if not low < high:
        raise ValueError(f"bounded must be a pair (low, high) with low < high, got {bounded!r}.")
    return low, high


def mean_interval(values: ArrayLike, confidence: float = 0.95, *,
                  bounded: tuple[float, float] | None = None) -> Interval:
    """The mean of ``values`` and the half-width of its Student's t interval.

    ``half_width = t * s / sqrt(n)``, with ``s`` the sample standard deviation
    (``ddof=1``) and ``t`` the ``(1 + confidence) / 2`` quantile of Student's
    t with ``n - 1`` degrees of freedom (``scipy.stats.t.ppf``). The interval
    assumes the values are independent draws (one per seed) from a roughly
    normal spread; with few seeds it is wide, as it should be.

    Parameters
    ----------
    values : sequence of float
        One number per run, at least two, none NaN or infinite.
    confidence : float
        Strictly between 0 and 1; default 0.95.
    bounded : (float, float), optional
        The range the values cannot leave, e.g. ``(0, 1)`` for accuracies.
        A t interval is symmetric, so near a bound it reaches past it (an
        accuracy interval of 0.97 +/- 0.05 would claim accuracies up to 1.02).
        With ``bounded``, ``low`` and ``high`` are clipped to the range; the
        mean and ``half_width`` are unchanged. Values outside the range raise.

    Returns
    -------
    Interval
        The pair ``(mean, half_width)`` (plain floats), with attributes
        ``mean``, ``half_width``, ``low``, ``high``, ``n`` and ``confidence``.

    Examples
    --------
    >>> from braintask import mean_interval
    >>> mean, half = mean_interval([0.8, 0.9, 0.85, 0.95, 0.9])
    >>> round(mean, 3), round(half, 4)
    (0.88, 0.0708)
    >>> mean_interval([0.97, 1.0, 0.94], bounded=(0, 1)).high
    1.0
    """
    array = _checked_values(values)
    confidence = _check_confidence(confidence)
    bounds = _check_bounds(bounded)
    from scipy import stats

    n = array.size
    mean = float(array.mean())
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * array.std(ddof=1) / math.sqrt(n))
    low, high = mean - half, mean + half
    if bounds is not None:
        outside = array[(array < bounds[0]) | (array > bounds[1])]
        if outside.size:
            raise ValueError(f"values must lie within bounded={bounded!r}, got "
                             f"{outside.tolist()}.")
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(mean, half, low, high, n, confidence)


def _checked_values(values: Any) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"values must be a sequence of numbers, got {values!r}.")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"values must be a sequence of numbers, got {values!r}.") from None
    if array.ndim != 1:
        raise ValueError(f"values must be one-dimensional (one number per run), got shape "
                         f"{array.shape}.")
    if array.size < 2:
        raise ValueError(f"values must hold at least 2 numbers for an interval, got "
                         f"{array.size}.")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"values must be finite; positions {bad.tolist()} hold "
                         f"{array[bad].tolist()} (drop runs without a value first).")
    return array


def interval_table(frame: pandas.DataFrame, by: str | Sequence[str], value: str,
                   confidence: float = 0.95, *,
                   bounded: tuple[float, float] | None = None) -> pandas.DataFrame:
    """:func:`braintask.mean_interval` of one column per group of a ``pandas.DataFrame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per run, e.g. from ``MultiSeedTrainer.summary()``.
    by : str or list of str
        The columns that name a group (a model, a learning rate, ...).
    value : str
        The column to average.
    confidence, bounded
        As in :func:`braintask.mean_interval`.

    Returns
    -------
    pandas.DataFrame
        Indexed by the groups, with columns ``n``, ``mean``, ``half_width``,
        ``low`` and ``high``.

    Examples
    --------
    >>> import pandas as pd
    >>> from braintask import interval_table
    >>> runs = pd.DataFrame({"model": ["a", "a", "b", "b", "b"],
    ...                      "acc": [0.8, 0.9, 0.6, 0.7, 0.8]})
    >>> interval_table(runs, "model", "acc").round(3).reset_index()
      model  n  mean  half_width    low   high
    0     a  2  0.85       0.635  0.215  1.485
    1     b  3  0.70       0.248  0.452  0.948
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas.DataFrame, got {type(frame).__name__}.")
    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys + [value] if k not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in frame; it has {list(frame.columns)}.")
    rows = {}
    for group, part in frame.groupby(keys[0] if len(keys) == 1 else keys, sort=True):
        try:
            iv = mean_interval(part[value].to_numpy(dtype=float), confidence, bounded=bounded)
        except ValueError as err:
            raise ValueError(f"group {group!r} of {value!r}: {err}") from None
        rows[group] = {"n": iv.n, "mean": iv.mean, "half_width": iv.half_width,
                       "low": iv.low, "high": iv.high}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = keys
    return table
