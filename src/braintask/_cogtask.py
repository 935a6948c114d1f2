"""Datasets from ``braintools.cogtask`` tasks: a label at every time step."""

from __future__ import annotations

import numpy as np

from ._checks import check_int
from ._dataset import TaskDataset

__all__ = ["from_cogtask"]


def from_cogtask(task, n_samples: int, *, start_index: int = 0, fixation_label: int = 0) -> TaskDataset:
    """Draw trials of a ``braintools.cogtask`` task as a per-step :class:`TaskDataset`.

    cogtask tasks (``DelayMatchSample``, ``PerceptualDecisionMaking``,
    ``GoNoGo``, ...) label every time step: the fixation label while the
    subject must wait, then the choice. The dataset keeps those ``(N, T)``
    labels, the task's padding ``mask`` (for variable-length trials), and marks
    the ``decision`` period as the unpadded steps whose label is not
    ``fixation_label``; the Trainer reports accuracy there as ``decision_acc``.

    Parameters
    ----------
    task : braintools.cogtask.Task
        A task with categorical outputs. Build it with ``seed=`` for
        reproducible trials; its durations are converted to steps with
        ``brainstate.environ`` dt, which must be set.
    n_samples : int
        Number of trials, >= 1.
    start_index : int
        Index of the first trial. With a seeded task, trial ``i`` is always
        the same, so ``start_index`` picks disjoint sets (e.g. training trials
        ``0..N-1`` and held-out trials from ``N``).
    fixation_label : int
        The label of "no decision yet". Default 0, cogtask's convention.

    Returns
    -------
    TaskDataset
        ``inputs`` ``(N, T, F)``, ``targets`` ``(N, T)``, ``mask`` and
        ``decision`` ``(N, T)`` booleans, ``n_classes = task.num_classes``.

    Examples
    --------
    >>> import brainstate, brainunit as u, braintask
    >>> from braintools import cogtask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> task = cogtask.DelayMatchSample(t_fixation=5 * u.ms, t_sample=5 * u.ms,
    ...                                 t_delay=10 * u.ms, t_response=5 * u.ms, seed=0)
    >>> data = braintask.from_cogtask(task, 8)
    >>> data.inputs.shape, data.targets.shape, data.n_classes
    ((8, 25, 9), (8, 25), 3)
    >>> int(data.decision[0].sum())  # the response period
    5
    """
    if not hasattr(task, "batch_sample"):
        raise TypeError(
            f"task must be a braintools.cogtask task (with batch_sample), got {type(task).__name__}."
        )
    n_samples = check_int("n_samples", n_samples, 1)
    start_index = check_int("start_index", start_index, 0)
    fixation_label = check_int("fixation_label", fixation_label, 0)
    if getattr(task, "output_mode", "categorical") != "categorical":
        raise ValueError(
            f"{type(task).__name__} has output_mode={task.output_mode!r}; from_cogtask needs "
            f"categorical labels (output_mode='categorical')."
        )
    try:
        x, y, mask = task.batch_sample(n_samples, time_first=False, start_index=start_index,
                                       return_mask=True)
    except KeyError as err:
        if "dt" in str(err):
            raise RuntimeError(
                "cogtask converts durations to steps with brainstate.environ dt, which is not set: "
                "call e.g. `brainstate.environ.set(dt=1.0 * u.ms)` first."
            ) from err
        raise
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int64)
    mask = np.asarray(mask, dtype=bool)
    n_classes = int(getattr(task, "num_classes", y.max() + 1))
    info = dict(task=type(task).__name__, n_samples=n_samples, start_index=start_index,
                seed=getattr(task, "seed", None))
    return TaskDataset(x, y, n_classes, info, mask=mask, decision=mask & (y != fixation_label))
