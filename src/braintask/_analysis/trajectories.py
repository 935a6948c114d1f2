"""Hidden-state trajectories of a trained network, the task's phases, and their
principal components."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .arrays import check_array
from .._checks import check_int

if TYPE_CHECKING:
    from .._data.dataset import TaskDataset
    from .._training.trainer import Trainer

__all__ = ["Trajectories", "trajectories", "PCAProjection", "pca_projection"]


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Hidden states of a network at every step of every trial.

    Attributes
    ----------
    states : numpy.ndarray
        ``(N, T, U)`` float array, batch-major: trial, step, unit. The units
        are the chosen state paths, each flattened, side by side in
        :attr:`paths` order.
    paths : tuple of str
        The state paths in the model (e.g. ``"cell/h"``, ``"layers/0/horn/x"``).
    sizes : tuple of int
        How many of the ``U`` units each path contributes.
    phases : dict
        ``{name: (start, stop)}`` step ranges of the task's phases shared by
        every trial (empty when the dataset does not say).
    outputs : numpy.ndarray
        The model's outputs: ``(N, C)``, or ``(N, T, C)`` per step.
    """

    states: np.ndarray
    paths: tuple
    sizes: tuple
    phases: dict = field(default_factory=dict)
    outputs: np.ndarray | None = None

    def units(self, path: str) -> slice:
        """The columns of :attr:`states` that hold ``path``."""
        if path not in self.paths:
            raise KeyError(f"no state path {path!r}; the paths are {list(self.paths)}.")
        start = int(sum(self.sizes[: self.paths.index(path)]))
        return slice(start, start + self.sizes[self.paths.index(path)])


def task_phases(data: Any) -> dict[str, tuple[int, int]]:
    """``{name: (start, stop)}`` of the phases every trial of ``data`` shares.

    Delayed match-to-sample: ``cue`` (step 0), ``delay``, ``probe`` (the last
    step). Datasets with a decision mask (e.g. :func:`braintask.from_cogtask`):
    ``before_decision`` and ``decision`` when the decision period spans the same
    contiguous steps in every trial.
    """
    info = getattr(data, "info", None) or {}
    seq_len = int(np.shape(data.inputs)[1])
    if info.get("task") == "delayed_match_task" and int(info.get("seq_len", -1)) == seq_len:
        return {"cue": (0, 1), "delay": (1, seq_len - 1), "probe": (seq_len - 1, seq_len)}
    decision = getattr(data, "decision", None)
    if decision is None:
        return {}
    decision = np.asarray(decision, bool)
    first = decision[0]
    steps = np.flatnonzero(first)
    if steps.size == 0 or not np.all(decision == first) or np.any(np.diff(steps) != 1):
        return {}  # the decision period moves from trial to trial: see data.decision
    start, stop = int(steps[0]), int(steps[-1]) + 1
    return ({"before_decision": (0, start)} if start > 0 else {}) | {"decision": (start, stop)}


def trajectories(trainer: Trainer, data: TaskDataset, *,
                 paths: str | Iterable[str] | None = None) -> Trajectories:
    """Hidden-state trajectories of a trainer's model on a dataset's trials.

    Runs ``trainer.predict(data.inputs, states=True)`` (one compiled pass) and
    lays the recorded states out batch-major, ``(N, T, U)``.

    Parameters
    ----------
    trainer : Trainer
        A :class:`braintask.Trainer` (trained or not).
    data : TaskDataset
        The trials to run.
    paths : str or list of str, optional
        Which hidden states to keep (e.g. ``"cell/h"``, or HORN's
        ``["layers/0/horn/x", "layers/0/horn/y"]``); all of them by default.
        Trailing axes are flattened.

    Returns
    -------
    Trajectories
        ``states`` ``(N, T, U)``, the paths and their sizes, the model's
        outputs and the task's ``phases`` (see below).

    Notes
    -----
    ``phases`` gives ``{name: (start, stop)}`` step ranges shared by all trials:
    for :func:`braintask.delayed_match_task` data ``cue`` ``(0, 1)``, ``delay``
    and ``probe`` ``(T - 1, T)``; for data with a ``decision`` mask (e.g. from
    :func:`braintask.from_cogtask`) ``before_decision`` and ``decision`` when
    the decision period is the same in every trial. Otherwise it is empty.

    Examples
    --------
    >>> import brainstate, braintools, braintask
    >>> data = braintask.delayed_match_task(16, seq_len=5, n_symbols=3)
    >>> brainstate.random.seed(0)
    >>> net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(3, 8), n_output=2)
    >>> trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=8)
    >>> traj = braintask.trajectories(trainer, data)
    >>> traj.states.shape, traj.paths, traj.phases["delay"]
    ((16, 5, 8), ('cell/h',), (1, 4))
    """
    if not hasattr(trainer, "predict"):
        raise TypeError(f"trainer must be a braintask.Trainer, got {type(trainer).__name__}.")
    inputs = getattr(data, "inputs", None)
    if inputs is None:
        raise TypeError(f"data must be a TaskDataset (with inputs (N, T, F)), got "
                        f"{type(data).__name__}.")
    outputs, recorded = trainer.predict(inputs, states=True)
    available = list(recorded)
    if paths is None:
        paths = available
    paths = [paths] if isinstance(paths, str) else list(paths)
    unknown = [p for p in paths if p not in recorded]
    if unknown or not paths:
        raise ValueError(f"paths names {unknown or 'nothing'}; the model's hidden states are "
                         f"{available}.")
    blocks = []
    for path in paths:
        trace = np.asarray(recorded[path])  # (T, N, ...)
        blocks.append(trace.reshape(trace.shape[0], trace.shape[1], -1).swapaxes(0, 1))
    return Trajectories(np.concatenate(blocks, axis=-1), tuple(paths),
                        tuple(int(b.shape[-1]) for b in blocks), task_phases(data),
                        np.asarray(outputs))


@dataclass(frozen=True, eq=False)
class PCAProjection:
    """Trajectories projected on their top principal components.

    Unpacks as ``projected, explained = result``.

    Attributes
    ----------
    projected : numpy.ndarray
        ``(N, T, k)`` coordinates on the components.
    explained : numpy.ndarray
        ``(k,)`` fraction of the total variance each component explains.
    components : numpy.ndarray
        ``(k, U)`` unit-norm principal axes.
    mean : numpy.ndarray
        ``(U,)`` the mean state, subtracted before projecting.
    """

    projected: np.ndarray
    explained: np.ndarray
    components: np.ndarray
    mean: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.projected
        yield self.explained

    def transform(self, states: ArrayLike) -> np.ndarray:
        """Project other ``(..., U)`` states on the same components."""
        states = check_array("states", states, tuple(range(1, 8)), "an array (..., U)")
        if states.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"states have {states.shape[-1]} units; the components were "
                             f"fitted on {self.mean.shape[0]}.")
        return (states - self.mean) @ self.components.T


def pca_projection(states: Trajectories | ArrayLike, k: int = 3) -> PCAProjection:
    """Project trajectories on their top ``k`` principal components.

    The components are fitted (``sklearn.decomposition.PCA``) on every step of
    every trial pooled, so one set of axes serves all trials and times.

    Parameters
    ----------
    states : array or Trajectories
        ``(N, T, U)`` hidden states (or a :class:`Trajectories`), finite.
    k : int
        Number of components, ``1 <= k <= min(N * T, U)``. Default 3.

    Returns
    -------
    PCAProjection
        ``projected`` ``(N, T, k)`` and ``explained`` ``(k,)`` variance ratios
        (unpacks as that pair), with the components and the mean.

    Examples
    --------
    >>> import numpy as np, braintask
    >>> t = np.linspace(0, 1, 20)
    >>> line = np.stack([t, 2 * t, 0 * t], axis=-1)  # (T, 3): all on one axis
    >>> states = np.stack([line, line[::-1]])  # (2, 20, 3)
    >>> pcs, explained = braintask.pca_projection(states, k=2)
    >>> pcs.shape, np.round(explained, 6)
    ((2, 20, 2), array([1., 0.]))
    """
    from sklearn.decomposition import PCA

    states = getattr(states, "states", states)
    states = check_array("states", states, 3, "hidden states (N trials, T steps, U units)")
    n, t, units = states.shape
    k = check_int("k", k, 1)
    if k > min(n * t, units):
        raise ValueError(f"k must be at most min(N * T, U) = {min(n * t, units)} for states of "
                         f"shape {states.shape}, got k={k}.")
    pca = PCA(n_components=k, svd_solver="full").fit(states.reshape(n * t, units))
    projected = pca.transform(states.reshape(n * t, units)).reshape(n, t, k)
    return PCAProjection(projected, pca.explained_variance_ratio_, pca.components_, pca.mean_)
