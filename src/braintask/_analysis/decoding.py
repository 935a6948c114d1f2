"""Cross-validated linear decoding of a trial variable from hidden states, step by step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .arrays import check_array, check_labels
from .._checks import check_int

if TYPE_CHECKING:
    from .trajectories import Trajectories

__all__ = ["Decoding", "decode_over_time", "cross_temporal_decoding"]


@dataclass(frozen=True, eq=False)
class Decoding:
    """Decoding accuracy at every step, with its chance level.

    Attributes
    ----------
    accuracy : numpy.ndarray
        ``(T,)`` cross-validated accuracy at each step: held-out trials
        decoded correctly, over all folds.
    null : numpy.ndarray
        ``(shuffles, T)`` the same with the labels shuffled across trials.
    quantile : float
        The quantile of :attr:`null` that :attr:`chance_upper` reports.
    """

    accuracy: np.ndarray
    null: np.ndarray
    quantile: float = 0.95

    @property
    def chance_mean(self) -> float:
        """Mean accuracy with shuffled labels, over shuffles and steps."""
        return float(np.mean(self.null)) if self.null.size else float("nan")

    @property
    def chance_upper(self) -> float:
        """The :attr:`quantile` of the shuffled accuracies, over shuffles and steps:
        accuracies above it are unlikely under chance."""
        return float(np.quantile(self.null, self.quantile)) if self.null.size else float("nan")

    @property
    def above_chance(self) -> np.ndarray:
        """``(T,)`` booleans: steps whose accuracy exceeds :attr:`chance_upper`."""
        return self.accuracy > self.chance_upper


def _zscore(states: np.ndarray) -> np.ndarray:
    """Each unit centred and scaled over all trials and steps, in float64 (a step that
    reads no labels; constant units stay at 0)."""
    states = states.astype(np.float64)
    spread = states.std(axis=(0, 1))
    return (states - states.mean(axis=(0, 1))) / np.where(spread > 0, spread, 1.0)


def _checked(states: Trajectories | ArrayLike, labels: ArrayLike,
             folds: int) -> tuple[np.ndarray, np.ndarray, int]:
    """States ``(N, T, U)``, labels as class indices, and ``folds``, checked."""
    states = getattr(states, "states", states)
    states = check_array("states", states, 3, "hidden states (N trials, T steps, U units)")
    labels = check_labels("labels", labels, states.shape[0], "a trial variable to decode")
    folds = check_int("folds", folds, 2)
    classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if classes.size < 2:
        raise ValueError(f"labels must take at least 2 values to decode, got only "
                         f"{classes.tolist()}.")
    if counts.min() < folds:
        few = {c.item(): int(n) for c, n in zip(classes, counts) if n < folds}
        raise ValueError(f"stratified {folds}-fold cross-validation needs at least {folds} "
                         f"trials of every label; labels {few} have fewer (label: trials). "
                         f"Lower folds= or add trials.")
    return _zscore(states), codes.reshape(-1), folds


def _ridge_hits(states: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                alpha: float, cross: bool) -> np.ndarray:
    """Correct held-out trials of ridge classifiers fitted at every step at once:
    ``+-1`` one-hot targets, centred, ``W = (X'X + alpha I)^-1 X'Y`` (the solution
    ``sklearn.linear_model.RidgeClassifier`` finds), the class of the largest score."""
    n_classes = int(labels.max()) + 1
    targets = np.where(np.arange(n_classes) == labels[train, None], 1.0, -1.0)
    x = states[train].swapaxes(0, 1)  # (T, n, U)
    x_mean, y_mean = x.mean(axis=1, keepdims=True), targets.mean(axis=0)
    xc = x - x_mean
    gram = np.einsum("tnu,tnv->tuv", xc, xc) + alpha * np.eye(x.shape[-1])
    weights = np.linalg.solve(gram, np.einsum("tnu,nc->tuc", xc, targets - y_mean))
    bias = y_mean - x_mean @ weights  # (T, 1, C)
    held = states[test].swapaxes(0, 1)  # (T, m, U)
    if cross:  # decoders of every step (rows) on the states of every step (columns)
        guess = (np.einsum("smu,tuc->tsmc", held, weights) + bias[:, None]).argmax(-1)
        return np.sum(guess == labels[test], axis=-1)
    guess = (held @ weights + bias).argmax(-1)  # (T, m)
    return np.sum(guess == labels[test], axis=-1)


def _correct(states: np.ndarray, labels: np.ndarray, splits: list, decoder: object,
             cross: bool) -> np.ndarray:
    """Fraction of held-out trials decoded correctly: ``(T,)`` (train and test at the
    same step) or ``(T, T)`` (train at the row's step, test at the column's)."""
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    n, t, units = states.shape
    hits = np.zeros((t, t) if cross else (t,))
    if isinstance(decoder, float):  # the ridge penalty of the batched default
        for train, test in splits:
            hits += _ridge_hits(states, labels, train, test, decoder, cross)
        return hits / n
    model = clone(decoder)
    with threadpool_limits(1):  # many small fits: threads only add overhead
        for train, test in splits:
            for step in range(t):
                model.fit(states[train, step], labels[train])
                if cross:
                    guess = model.predict(states[test].reshape(-1, units)).reshape(-1, t)
                    hits[step] += np.sum(guess == labels[test, None], axis=0)
                else:
                    hits[step] += np.sum(model.predict(states[test, step]) == labels[test])
    return hits / n


def _decoder(decoder: Any, alpha: Any) -> object:
    """The ridge penalty (a float) for the batched default, or the sklearn classifier."""
    if decoder is None:
        if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite ridge penalty > 0, got {alpha!r}.")
        return float(alpha)
    if not (hasattr(decoder, "fit") and hasattr(decoder, "predict")):
        raise TypeError(f"decoder must be a scikit-learn classifier (with fit and predict), "
                        f"got {type(decoder).__name__}.")
    return decoder


def _splits(labels: np.ndarray, folds: int, seed: int) -> list:
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(labels)), labels))


def decode_over_time(states: Trajectories | ArrayLike, labels: ArrayLike, folds: int = 5, *,
                     shuffles: int = 5, quantile: float = 0.95, seed: int = 0,
                     alpha: float = 1.0, decoder: Any = None) -> Decoding:
    """Cross-validated accuracy of a linear decoder of ``labels`` at every step.

    At each step a decoder is trained on the states of the training folds
    and scored on the held-out fold (stratified K-fold; the same folds at
    every step). The chance level comes from the same procedure with the
    labels shuffled across trials, ``shuffles`` times.

    Parameters
    ----------
    states : array or Trajectories
        ``(N, T, U)`` hidden states (trials, steps, units), finite.
    labels : array
        ``(N,)`` the trial variable to decode (e.g. the cue), >= 2 values,
        each on at least ``folds`` trials.
    folds : int
        Number of cross-validation folds, >= 2. Default 5.
    shuffles : int
        Number of label shuffles for the chance level, >= 0. Default 5
        (pooled over steps: ``5 * T`` null accuracies).
    quantile : float
        The quantile of the shuffled accuracies reported as
        :attr:`Decoding.chance_upper`, in (0, 1). Default 0.95.
    seed : int
        Seeds the folds and the shuffles. Default 0.
    alpha : float
        Ridge penalty of the default decoder, > 0. Default 1.
    decoder : object, optional
        A scikit-learn classifier to fit at each step instead (cloned, never
        changed), e.g. ``LogisticRegression()``: slower, one fit per step and
        fold.

    Notes
    -----
    Each unit is first centred and scaled over all trials and steps (no labels
    are read). The default decoder is a ridge classifier, fitted in closed form
    at all steps of a fold at once: the predictions of
    ``sklearn.linear_model.RidgeClassifier(alpha)`` fitted step by step,
    without its per-fit overhead (hundreds of trials x tens of steps x 64
    units, with the shuffles, take well under a second).

    Returns
    -------
    Decoding
        ``accuracy`` ``(T,)``, ``null`` ``(shuffles, T)``, ``chance_mean``,
        ``chance_upper``.

    Examples
    --------
    >>> import numpy as np, braintask
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 20)
    >>> states = rng.normal(size=(40, 3, 4))
    >>> states[:, 2, 0] += 10 * labels  # the label is in unit 0 at the last step only
    >>> result = braintask.decode_over_time(states, labels, shuffles=2)
    >>> float(result.accuracy[2]), bool(result.above_chance[2])
    (1.0, True)
    """
    states, codes, folds = _checked(states, labels, folds)
    shuffles = check_int("shuffles", shuffles, 0)
    seed = check_int("seed", seed, 0)
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}.")
    decoder = _decoder(decoder, alpha)
    accuracy = _correct(states, codes, _splits(codes, folds, seed), decoder, cross=False)
    rng = np.random.default_rng([seed, 1])
    null = np.zeros((shuffles, states.shape[1]))
    for i in range(shuffles):
        permuted = rng.permutation(codes)
        null[i] = _correct(states, permuted, _splits(permuted, folds, seed), decoder, cross=False)
    return Decoding(accuracy, null, float(quantile))


def cross_temporal_decoding(states: Trajectories | ArrayLike, labels: ArrayLike,
                            folds: int = 5, *, seed: int = 0, alpha: float = 1.0,
                            decoder: Any = None) -> np.ndarray:
    """Cross-temporal generalisation: train a decoder at one step, test it at every step.

    Entry ``[t, s]`` is the cross-validated accuracy of decoders trained on
    the states at step ``t`` of the training folds and tested on the states
    at step ``s`` of the held-out fold. The diagonal is
    :func:`decode_over_time`'s accuracy for the same folds and seed. A code
    that stays put through a delay gives a square block of high accuracy; a
    changing code gives a narrow diagonal.

    Parameters
    ----------
    states, labels, folds, seed, alpha, decoder
        As in :func:`decode_over_time`.

    Returns
    -------
    numpy.ndarray
        ``(T, T)`` accuracies, rows the training step, columns the test step.

    Examples
    --------
    >>> import numpy as np, braintask
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 20)
    >>> states = rng.normal(size=(40, 3, 4))
    >>> states[:, :, 0] += 10 * labels[:, None]  # the same code at every step
    >>> float(braintask.cross_temporal_decoding(states, labels).min())
    1.0
    """
    states, codes, folds = _checked(states, labels, folds)
    seed = check_int("seed", seed, 0)
    decoder = _decoder(decoder, alpha)
    return _correct(states, codes, _splits(codes, folds, seed), decoder, cross=True)
