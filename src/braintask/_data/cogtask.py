"""Datasets from ``braintools.cogtask`` tasks: a label at every time step."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import check_int
from .cogsample import _check_dt, _check_weighting, _decision_phase_names, _same_time, \
    _sample, step_weights
from .dataset import TaskDataset

if TYPE_CHECKING:
    import brainunit as u
    from braintools.cogtask import Task

__all__ = ["from_cogtask"]

def from_cogtask(
    task: Task,
    n_samples: int,
    *,
    start_index: int = 0,
    dt: u.Quantity | None = None,
    decision_phase: str | Iterable[str] | None = None,
    n_classes: int | None = None,
    grace: u.Quantity | None = None,
    response_weight: float | None = None,
) -> TaskDataset:
    """Draw trials of a ``braintools.cogtask`` task as a per-step :class:`TaskDataset`.

    cogtask tasks (``DelayMatchSample``, ``PerceptualDecisionMaking``,
    ``GoNoGo``, ...) are sequences of phases (fixation, stimulus, delay,
    response, ...) with a label at every time step. The dataset keeps those
    ``(N, T)`` labels, the task's padding ``mask`` (for variable-length trials)
    and a ``decision`` mask: the steps of the task's response phases, the
    window in which the answer is scored. The Trainer reports accuracy there
    as ``decision_acc``.

    The decision period comes from the task's structure, not from its labels:
    it is every phase that is a ``braintools.cogtask.Response`` phase or whose
    name is ``"response"``, ``"decision"`` or ``"production"`` (any case). It
    is the same phases in every trial, whatever the answer; in GoNoGo the
    no-go trials, whose answer is to keep fixating (label 0), count as much as
    the go trials. In variable-length tasks the phases start at a different
    step in each trial, and the decision period follows them.

    Parameters
    ----------
    task : braintools.cogtask.Task
        A cogtask task. Build it with ``seed=`` for reproducible trials. Tasks
        with continuous outputs (``output_mode="vector"``, such as
        ``DelayDirectionReproduction``) give float ``(N, T, D)`` targets and
        ``n_classes=None``.
    n_samples : int
        Number of trials, >= 1.
    start_index : int
        Index of the first trial. With a seeded task, trial ``i`` is always
        the same, so ``start_index`` picks disjoint sets (e.g. training trials
        ``0..N-1`` and held-out trials from ``N``).
    dt : brainunit.Quantity, optional
        The time step at which to sample, e.g. ``20 * u.ms``: cogtask turns
        each phase's duration into ``duration / dt`` steps. Sampling happens
        under this dt only; ``brainstate.environ`` is left as it was, so the
        dt a model integrates with (HORN reads ``brainstate.environ`` dt) is
        independent of it. Any time unit is accepted and converted to
        milliseconds, the unit in which cogtask's tasks read dt's number
        (their input noise and variable durations). Default ``None``: the dt
        the task was built with (``Task(dt=...)``), else the global
        ``brainstate.environ`` dt. A plain number is refused (say
        ``20 * u.ms``, not ``20``).
    decision_phase : str or list of str, optional
        Names of the phases that form the decision period, instead of the
        response phases found by the rule above (for a custom task, or to
        score another window).
    n_classes : int, optional
        Number of classes, >= 1 (not for ``output_mode="vector"`` tasks).
        Default: the task's ``num_classes``. The
        labels of every kept step must lie in ``[0, n_classes)``; a task whose
        labels exceed its declared ``num_classes`` is refused with a
        ``ValueError`` that names the labels, unless ``n_classes`` says how
        many classes there are.

    grace : brainunit.Quantity, optional
        A time (e.g. ``100 * u.ms``) at the start of each trial's decision
        period whose steps get loss weight 0: the network may take that long to
        turn to its answer. Rounded up to whole steps of the sampling dt.
    response_weight : float, optional
        The loss weight of the decision steps after the grace period (other
        kept steps weigh 1). Given either of ``grace`` and ``response_weight``,
        the dataset carries these step ``weights`` (defaults 0 ms and 1); the
        conventions of Yang, Joglekar, Song, Newsome & Wang (2019), *Nature
        Neuroscience* 22:297-306, are ``grace=100 * u.ms, response_weight=5``.
        neurogym and PsychRNN likewise mask or weight the loss by step.
        Accuracies are not weighted.

    Returns
    -------
    TaskDataset
        ``inputs`` ``(N, T, F)``, ``targets`` ``(N, T)`` (``(N, T, D)``
        floats for ``output_mode="vector"`` tasks), ``mask`` and
        ``decision`` ``(N, T)`` booleans, ``n_classes``. ``info`` records the
        task, the trial indices, the seed, the sampling ``dt`` (a brainunit
        quantity) and the ``decision_phases``. The trial variables ``trials``
        (see :meth:`braintask.TaskDataset.trial_table`) are the numeric scalar
        entries of each trial's cogtask ``trial_state`` (for
        ``PerceptualDecisionMaking``: ``trial_index``, ``ground_truth``,
        ``coherence``, ``stimulus_direction``), float32 values read as float64 by their
        shortest decimal (a coherence of 51.2 is 51.2).

    Examples
    --------
    >>> import brainunit as u, braintask
    >>> from braintools import cogtask
    >>> task = cogtask.DelayMatchSample(t_fixation=100 * u.ms, t_sample=100 * u.ms,
    ...                                 t_delay=200 * u.ms, t_response=100 * u.ms, seed=0)
    >>> data = braintask.from_cogtask(task, 8, dt=20 * u.ms)
    >>> data.inputs.shape, data.targets.shape, data.n_classes
    ((8, 25, 9), (8, 25), 3)
    >>> print(data.info["dt"], data.info["decision_phases"])
    20 ms ('Response',)
    >>> print(data.decision[0].astype(int))  # the last 100 ms: the response phase
    [0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 1 1 1]
    >>> list(data.trials)  # what cogtask says about each trial
    ['trial_index', 'sample_idx', 'is_match', 'test_idx']
    >>> weighted = braintask.from_cogtask(task, 8, dt=20 * u.ms, grace=40 * u.ms,
    ...                                   response_weight=5.0)
    >>> print(weighted.weights[0, 18:])  # 40 ms of grace, then weight 5
    [1. 1. 0. 0. 5. 5. 5.]

    A task with a continuous answer, ``[fixation, cos, sin]`` at every step:

    >>> task = cogtask.ImmediateDirectionReproduction(seed=0)
    >>> data = braintask.from_cogtask(task, 8, dt=20 * u.ms)
    >>> data.targets.shape, data.n_classes, data.vector
    ((8, 40, 3), None, True)
    """
    import brainunit as u

    if not hasattr(task, "batch_sample") or not hasattr(task, "phases"):
        raise TypeError(
            f"task must be a braintools.cogtask task (with batch_sample and phases), "
            f"got {type(task).__name__}.")
    name = type(task).__name__
    n_samples = check_int("n_samples", n_samples, 1)
    start_index = check_int("start_index", start_index, 0)
    dt = _check_dt(dt)
    if dt is not None:
        # cogtask reads dt's bare number as milliseconds (input noise, variable durations)
        dt = dt.to(u.ms)
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, 1)
    vector = _is_vector(task, n_classes)
    weighting = _check_weighting(grace, response_weight)
    decision_names = _decision_phase_names(task, decision_phase)
    used_dt, (x, y, mask, decision, trials) = _draw(task, n_samples, start_index,
                                                    decision_names, dt)
    trials = {name: _widen(np.asarray(value)) for name, value in trials.items()}
    x = np.asarray(x, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    decision = np.asarray(decision, dtype=bool)
    info = dict(task=name, n_samples=n_samples, start_index=start_index,
                seed=getattr(task, "seed", None), dt=used_dt, decision_phases=decision_names)
    if not decision.any():
        raise ValueError(
            f"the decision period of {name} (phases {list(decision_names)}) has no step at "
            f"dt={used_dt}: choose a smaller dt or other phases with decision_phase=.")
    weights = None
    if weighting is not None:
        dt_ms = float(u.Quantity(used_dt).to_decimal(u.ms))
        grace_steps = math.ceil(weighting[0] / dt_ms - 1e-9)
        weights = step_weights(mask, decision, grace_steps, weighting[1], name)
        info.update(grace_steps=grace_steps, response_weight=weighting[1])
    if vector:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:  # one output value per step
            y = y[..., None]
        return TaskDataset(x, y, None, info, mask=mask, decision=decision, weights=weights,
                           trials=trials)
    y = np.asarray(y).astype(np.int64)
    n_classes = _check_labels(task, y, mask, n_classes, n_samples)
    return TaskDataset(x, y, n_classes, info, mask=mask, decision=decision, weights=weights,
                       trials=trials)


def _widen(value: np.ndarray) -> np.ndarray:
    """float32 as float64 by the shortest decimal of each value (51.2 stays 51.2)."""
    return value.astype(str).astype(np.float64) if value.dtype == np.float32 else value


def _is_vector(task: Task, n_classes: int | None) -> bool:
    name = type(task).__name__
    output_mode = getattr(task, "output_mode", "categorical")
    if output_mode not in ("categorical", "vector"):
        raise ValueError(
            f"{name} has output_mode={output_mode!r}; from_cogtask reads 'categorical' "
            f"(labels) and 'vector' (continuous targets) tasks.")
    if output_mode == "vector" and n_classes is not None:
        raise ValueError(
            f"{name} has continuous outputs (output_mode='vector'), so it has no classes: "
            f"leave n_classes=None, got n_classes={n_classes}.")
    return output_mode == "vector"


def _draw(task: Task, n_samples: int, start_index: int, decision_names: tuple[str, ...],
          dt: u.Quantity | None) -> tuple[Any, tuple]:
    """``(the dt used, trials)``: sampled under ``dt``, or the task's own dt."""
    import brainstate
    import brainunit as u

    name = type(task).__name__
    if dt is None:
        try:
            used_dt = task.dt  # the task's own dt, else the global one
        except KeyError as err:
            raise RuntimeError(
                f"{name} needs a time step to turn its durations into steps: pass "
                f"from_cogtask(..., dt=20 * u.ms), or set the global one with e.g. "
                f"`brainstate.environ.set(dt=1.0 * u.ms)` (which models such as HORN "
                f"also integrate with).") from err
        dt_ms = float(u.Quantity(used_dt).to_decimal(u.ms))
        return used_dt, _sample(task, n_samples, start_index, decision_names, dt_ms)
    with brainstate.environ.context(dt=dt):
        used_dt = task.dt
        if not _same_time(used_dt, dt):
            raise ValueError(
                f"{name} was built with its own dt={used_dt}, which cogtask samples with "
                f"instead of from_cogtask's dt={dt}: pass dt=None, or build the task "
                f"without dt=.")
        dt_ms = float(dt.to_decimal(u.ms))
        return used_dt, _sample(task, n_samples, start_index, decision_names, dt_ms)


def _check_labels(task: Task, y: np.ndarray, mask: np.ndarray, n_classes: int | None,
                  n_samples: int) -> int:
    """The number of classes; every kept label must lie below it."""
    name = type(task).__name__
    declared = getattr(task, "num_classes", None)
    given = n_classes is not None
    if n_classes is None:
        n_classes = int(declared) if declared is not None else int(y[mask].max()) + 1
    kept = y[mask]
    bad = (kept < 0) | (kept >= n_classes)
    if bad.any():
        labels, counts = np.unique(kept[bad], return_counts=True)
        found = ", ".join(f"label {int(l)} on {int(c)} steps" for l, c in zip(labels, counts))
        source = (f"n_classes={n_classes} given to from_cogtask" if given
                  else f"its num_classes={n_classes}")
        raise ValueError(
            f"{name} emits labels outside {source} (labels must lie in [0, {n_classes})): "
            f"{found}, in {n_samples} trials. If these labels are meant, pass "
            f"n_classes={int(kept.max()) + 1} to from_cogtask.")
    return n_classes
