"""Datasets from ``braintools.cogtask`` tasks: a label at every time step."""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_int
from ._dataset import TaskDataset

__all__ = ["from_cogtask"]

#: Names (any case) of the phases that form the decision period by default, besides
#: every ``braintools.cogtask.Response`` phase. ``"production"`` is the answer window
#: of timing tasks such as ``ReadySetGo``.
DECISION_PHASE_NAMES = ("response", "decision", "production")


def _leaf_phases(phase) -> list:
    """The leaf phases of a cogtask phase tree, in order."""
    children = list(phase.children()) if hasattr(phase, "children") else []
    if not children:
        return [phase]
    return [leaf for child in children for leaf in _leaf_phases(child)]


def _decision_phase_names(task, decision_phase) -> tuple[str, ...]:
    """The names of the leaf phases whose steps form the decision period."""
    from braintools.cogtask import Response

    name = type(task).__name__
    leaves = _leaf_phases(task.phases)
    available = list(dict.fromkeys(p.name for p in leaves))
    if decision_phase is None:
        chosen = [p.name for p in leaves
                  if isinstance(p, Response) or p.name.lower() in DECISION_PHASE_NAMES]
        if not chosen:
            raise ValueError(
                f"{name} has no response phase (a cogtask Response phase, or one named "
                f"{' / '.join(repr(n) for n in DECISION_PHASE_NAMES)}), so its decision period is "
                f"unknown: pass decision_phase= with one or more of its phases {available}."
            )
        return tuple(dict.fromkeys(chosen))
    wanted = [decision_phase] if isinstance(decision_phase, str) else decision_phase
    try:
        wanted = list(wanted)
    except TypeError:
        wanted = [wanted]
    if not wanted or not all(isinstance(w, str) for w in wanted):
        raise TypeError(
            f"decision_phase must be a phase name or a list of phase names of {name} "
            f"(one or more of {available}), got {decision_phase!r}."
        )
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ValueError(
            f"decision_phase names {unknown}, which {name} does not have: its phases are "
            f"{available}."
        )
    return tuple(dict.fromkeys(wanted))


def _check_dt(dt):
    """``dt`` as a positive, finite, scalar brainunit time quantity (or None)."""
    if dt is None:
        return None
    import brainunit as u

    if not isinstance(dt, u.Quantity):
        raise TypeError(
            f"dt must be a brainunit time quantity, e.g. dt=20 * u.ms (with "
            f"`import brainunit as u`), got {dt!r} of type {type(dt).__name__}."
        )
    if not u.have_same_dim(dt, u.ms):
        raise ValueError(f"dt must be a time (e.g. 20 * u.ms), got {dt} with other units.")
    value = np.asarray(dt.to_decimal(u.ms))
    if value.shape != () or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"dt must be one finite time step > 0, e.g. 20 * u.ms, got {dt}.")
    return dt


def _same_time(a, b) -> bool:
    """Whether two time steps are equal (quantities in any time unit)."""
    import brainunit as u

    if not (isinstance(a, u.Quantity) and u.have_same_dim(a, u.ms)):
        return False
    return bool(np.allclose(np.asarray(a.to_decimal(u.ms)), np.asarray(b.to_decimal(u.ms))))


def _sample(task, n_samples: int, start_index: int, decision_names):
    """Trials ``start_index..`` of ``task``: inputs, labels, mask and decision mask.

    The same per-trial generator as ``task.batch_sample`` (``task.sample_trial``
    under ``vmap``), which also reports where each phase starts and ends.
    """
    import brainstate
    import jax.numpy as jnp

    def one(index):
        x, y, info = task.sample_trial(index)
        mask = info.get("mask")
        if mask is None:  # fixed-length trials: every step is real
            mask = jnp.ones((x.shape[0],), dtype=bool)
        steps = jnp.arange(x.shape[0])
        decision = jnp.zeros((x.shape[0],), dtype=bool)
        for phase_name, start, end in info["phase_history"]:
            if phase_name in decision_names:
                decision = decision | ((steps >= start) & (steps < end))
        return x, y, mask, decision & mask

    indices = jnp.arange(n_samples, dtype=jnp.int32) + jnp.asarray(start_index, dtype=jnp.int32)
    sample = brainstate.transform.jit(lambda i: brainstate.transform.vmap2(one)(i))
    return sample(indices)


def from_cogtask(
    task,
    n_samples: int,
    *,
    start_index: int = 0,
    dt=None,
    decision_phase=None,
    n_classes: int | None = None,
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

    Returns
    -------
    TaskDataset
        ``inputs`` ``(N, T, F)``, ``targets`` ``(N, T)`` (``(N, T, D)``
        floats for ``output_mode="vector"`` tasks), ``mask`` and
        ``decision`` ``(N, T)`` booleans, ``n_classes``. ``info`` records the
        task, the trial indices, the seed, the sampling ``dt`` (a brainunit
        quantity) and the ``decision_phases``.

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

    A task with a continuous answer, ``[fixation, cos, sin]`` at every step:

    >>> task = cogtask.ImmediateDirectionReproduction(seed=0)
    >>> data = braintask.from_cogtask(task, 8, dt=20 * u.ms)
    >>> data.targets.shape, data.n_classes, data.vector
    ((8, 40, 3), None, True)
    """
    import brainstate
    import brainunit as u

    if not hasattr(task, "batch_sample") or not hasattr(task, "phases"):
        raise TypeError(
            f"task must be a braintools.cogtask task (with batch_sample and phases), "
            f"got {type(task).__name__}."
        )
    name = type(task).__name__
    n_samples = check_int("n_samples", n_samples, 1)
    start_index = check_int("start_index", start_index, 0)
    dt = _check_dt(dt)
    if dt is not None:
        # cogtask reads dt's bare number as milliseconds (input noise, variable durations)
        dt = dt.to(u.ms)
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, 1)
    output_mode = getattr(task, "output_mode", "categorical")
    if output_mode not in ("categorical", "vector"):
        raise ValueError(
            f"{name} has output_mode={output_mode!r}; from_cogtask reads 'categorical' "
            f"(labels) and 'vector' (continuous targets) tasks."
        )
    vector = output_mode == "vector"
    if vector and n_classes is not None:
        raise ValueError(
            f"{name} has continuous outputs (output_mode='vector'), so it has no classes: "
            f"leave n_classes=None, got n_classes={n_classes}."
        )
    decision_names = _decision_phase_names(task, decision_phase)

    if dt is None:
        try:
            used_dt = task.dt  # the task's own dt, else the global one
        except KeyError as err:
            raise RuntimeError(
                f"{name} needs a time step to turn its durations into steps: pass "
                f"from_cogtask(..., dt=20 * u.ms), or set the global one with e.g. "
                f"`brainstate.environ.set(dt=1.0 * u.ms)` (which models such as HORN "
                f"also integrate with)."
            ) from err
        x, y, mask, decision = _sample(task, n_samples, start_index, decision_names)
    else:
        with brainstate.environ.context(dt=dt):
            used_dt = task.dt
            if not _same_time(used_dt, dt):
                raise ValueError(
                    f"{name} was built with its own dt={used_dt}, which cogtask samples with "
                    f"instead of from_cogtask's dt={dt}: pass dt=None, or build the task "
                    f"without dt=."
                )
            x, y, mask, decision = _sample(task, n_samples, start_index, decision_names)

    x = np.asarray(x, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    decision = np.asarray(decision, dtype=bool)
    info = dict(task=name, n_samples=n_samples, start_index=start_index,
                seed=getattr(task, "seed", None), dt=used_dt, decision_phases=decision_names)
    if not decision.any():
        raise ValueError(
            f"the decision period of {name} (phases {list(decision_names)}) has no step at "
            f"dt={used_dt}: choose a smaller dt or other phases with decision_phase=."
        )
    if vector:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:  # one output value per step
            y = y[..., None]
        return TaskDataset(x, y, None, info, mask=mask, decision=decision)
    y = np.asarray(y).astype(np.int64)

    declared = getattr(task, "num_classes", None)
    given = n_classes is not None
    if not given:
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
            f"n_classes={int(kept.max()) + 1} to from_cogtask."
        )
    return TaskDataset(x, y, n_classes, info, mask=mask, decision=decision)
