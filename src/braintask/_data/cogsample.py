"""Sampling trials of a ``braintools.cogtask`` task: its phases, the time step,
compiled samplers kept per task, and the loss weights of each step."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import brainunit as u
    from braintools.cogtask import Task

__all__ = ["step_weights"]

#: Names (any case) of the phases that form the decision period by default, besides
#: every ``braintools.cogtask.Response`` phase. ``"production"`` is the answer window
#: of timing tasks such as ``ReadySetGo``.
DECISION_PHASE_NAMES = ("response", "decision", "production")


def _leaf_phases(phase: Any) -> list:
    """The leaf phases of a cogtask phase tree, in order."""
    children = list(phase.children()) if hasattr(phase, "children") else []
    if not children:
        return [phase]
    return [leaf for child in children for leaf in _leaf_phases(child)]


def _decision_phase_names(task: Task, decision_phase: Any) -> tuple[str, ...]:
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


def _check_dt(dt: Any) -> u.Quantity | None:
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


def _same_time(a: Any, b: u.Quantity) -> bool:
    """Whether two time steps are equal (quantities in any time unit)."""
    import brainunit as u

    if not (isinstance(a, u.Quantity) and u.have_same_dim(a, u.ms)):
        return False
    return bool(np.allclose(np.asarray(a.to_decimal(u.ms)), np.asarray(b.to_decimal(u.ms))))


#: Compiled samplers, by (task id, trials, decision phases, dt): drawing another block
#: of trials from the same task costs milliseconds instead of a new compilation.
_SAMPLERS: dict[tuple, tuple[weakref.ref, Callable]] = {}


def _sample(task: Task, n_samples: int, start_index: int, decision_names: tuple[str, ...],
            dt_ms: float) -> tuple:
    """Trials ``start_index..`` of ``task``: inputs, labels, mask, decision mask and
    the trial variables (the scalar entries of each trial's ``trial_state``).

    The same per-trial generator as ``task.batch_sample`` (``task.sample_trial``
    under ``vmap``), which also reports where each phase starts and ends;
    compiled once per task, number of trials, decision phases and dt.
    """
    import jax.numpy as jnp

    key = (id(task), n_samples, decision_names, dt_ms)
    ref, sample = _SAMPLERS.get(key, (None, None))
    if ref is None or ref() is not task or sample is None:
        sample = _compile_sampler(task, decision_names)
        _SAMPLERS[key] = (weakref.ref(task, lambda _: _forget(key)), sample)
    indices = jnp.arange(n_samples, dtype=jnp.int32) + jnp.asarray(start_index, dtype=jnp.int32)
    return sample(indices)


def _forget(key: tuple) -> None:
    if _SAMPLERS is not None:  # None while the interpreter shuts down
        _SAMPLERS.pop(key, None)


def _trial_scalars(state: dict) -> dict:
    """The numeric scalar entries of a cogtask trial's ``trial_state`` (its coherence,
    ground truth, ...); text (``output_mode``) and vectors are left out."""
    import jax.numpy as jnp

    scalars = {}
    for name, value in state.items():
        if isinstance(value, (str, bytes)) or value is None:
            continue
        try:
            value = jnp.asarray(value)
        except TypeError:
            continue
        if value.ndim == 0 and (jnp.issubdtype(value.dtype, jnp.number)
                                or value.dtype == jnp.bool_):
            scalars[str(name)] = value
    return scalars


def _compile_sampler(task: Task, decision_names: tuple[str, ...]) -> Callable[[Any], tuple]:
    import brainstate
    import jax.numpy as jnp

    names: list = []  # the trial variables' names, in the task's order, found when traced

    def one(index: Any) -> tuple:
        x, y, info = task.sample_trial(index)
        mask = info.get("mask")
        if mask is None:  # fixed-length trials: every step is real
            mask = jnp.ones((x.shape[0],), dtype=bool)
        steps = jnp.arange(x.shape[0])
        decision = jnp.zeros((x.shape[0],), dtype=bool)
        for phase_name, start, end in info["phase_history"]:
            if phase_name in decision_names:
                decision = decision | ((steps >= start) & (steps < end))
        scalars = _trial_scalars(info.get("trial_state", {}))
        names[:] = list(scalars)
        return x, y, mask, decision & mask, tuple(scalars.values())

    compiled = brainstate.transform.jit(lambda i: brainstate.transform.vmap2(one)(i))

    def sample(indices: Any) -> tuple:
        x, y, mask, decision, values = compiled(indices)
        return x, y, mask, decision, dict(zip(names, values))

    return sample


def _check_weighting(grace: Any, response_weight: Any) -> tuple[float, float] | None:
    """``(grace, response_weight)`` checked; both None means no step weights."""
    if grace is None and response_weight is None:
        return None
    import brainunit as u

    if grace is None:
        grace = 0 * u.ms
    if not isinstance(grace, u.Quantity) or not u.have_same_dim(grace, u.ms) \
            or np.ndim(grace.mantissa) or not float(grace.to_decimal(u.ms)) >= 0:
        raise TypeError(f"grace must be one time >= 0, e.g. grace=100 * u.ms (with "
                        f"`import brainunit as u`), got {grace!r}.")
    response_weight = 1.0 if response_weight is None else response_weight
    if isinstance(response_weight, bool) or not isinstance(response_weight, (int, float)) \
            or not math.isfinite(response_weight) or response_weight <= 0:
        raise ValueError(f"response_weight must be a finite number > 0 (the loss weight of "
                         f"the decision steps after the grace period), got {response_weight!r}.")
    return float(grace.to_decimal(u.ms)), float(response_weight)


def step_weights(mask: np.ndarray, decision: np.ndarray, grace_steps: int,
                 response_weight: float, name: str) -> np.ndarray:
    """Loss weights per step: 1 on kept steps, 0 on the first ``grace_steps`` of each
    trial's decision period, ``response_weight`` on the rest of it."""
    weights = mask.astype(np.float32)
    seen = np.cumsum(decision, axis=1)  # decision steps up to and including each step
    weights[decision] = response_weight
    weights[decision & (seen <= grace_steps)] = 0.0
    empty = int(np.sum(decision.sum(axis=1) <= grace_steps))
    if empty:
        raise ValueError(f"the grace period ({grace_steps} steps) covers the whole decision "
                         f"period of {empty} of {len(decision)} {name} trials, so none of "
                         f"their answers would count: shorten grace or lengthen the response.")
    return weights
