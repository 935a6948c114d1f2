"""Regularisers: penalties added to the task loss, on the network's activity and on
its weights, each reported in the History apart from the task loss.

A penalty is any object with a ``name``, a ``reads_states`` flag and a call
``penalty(inputs) -> scalar`` (the :class:`Penalty` protocol), given a
:class:`PenaltyInputs`. The trainer minimises ``task loss + sum of penalties``
and records the task loss as ``<set>_loss`` and each penalty as
``<set>_<name>``, so runs with and without a penalty compare on the same loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from .._checks import check_choice

__all__ = ["Penalty", "PenaltyInputs", "RatePenalty", "WeightPenalty", "check_penalties"]

STEPS = ("all", "kept", "decision")


@dataclass(frozen=True)
class PenaltyInputs:
    """What a penalty may read, inside the compiled training step.

    Attributes
    ----------
    states : dict
        Hidden-state name (as in ``trainer.predict(x, states=True)``, e.g.
        ``"cell/r"``) -> its values after every step, time-major ``(T, B, ...)``;
        empty unless a penalty of the fit ``reads_states``.
    weights : dict
        Trainable weight name (e.g. ``"cell/w_rec"``, ``"readout/weight/weight"``) -> value.
    mask, decision : jax.Array or None
        ``(T, B)`` kept steps and decision steps of per-step tasks (None for
        one label per trial).
    """

    states: dict[str, jax.Array]
    weights: dict[str, jax.Array]
    mask: jax.Array | None = None
    decision: jax.Array | None = None


@runtime_checkable
class Penalty(Protocol):
    """A term added to the training loss: ``penalty(inputs) -> scalar``.

    ``name`` is its record key (``train_<name>``, ``val_<name>``, ...);
    ``reads_states`` asks the trainer for the hidden states of every step (the
    model is then fed one step at a time, as ``predict(states=True)`` does).
    """

    name: str
    reads_states: bool

    def __call__(self, inputs: PenaltyInputs) -> jax.Array: ...


def _strengths(kind: str, l1: float, l2: float) -> tuple[float, float]:
    """``(l1, l2)`` as floats >= 0, at least one of them > 0."""
    for name, value in (("l1", l1), ("l2", l2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    if not (l1 or l2):
        raise ValueError(f"{kind} needs l1 > 0 or l2 > 0.")
    return float(l1), float(l2)


def _names(argument: str, what: str, names: Sequence[str] | None) -> list[str] | None:
    """``names`` as a list of str (None stays None: the default choice)."""
    if names is not None and (isinstance(names, str) or not all(
            isinstance(n, str) for n in names)):
        raise TypeError(f"{argument} must be a list of {what} names, got {names!r}.")
    return None if names is None else list(names)


def _present(kind: str, what: str, names: list[str], available: dict) -> list[str]:
    """``names``, each of which must be a key of ``available``."""
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"{kind}: the model has no {what} {missing}; its {what}s are "
                         f"{list(available)}.")
    return names


def _l1_l2(x: jax.Array, l1: float, l2: float, where: jax.Array | None = None) -> jax.Array:
    """``l1 * mean|x| + l2 * mean x**2`` over the entries ``where`` keeps."""
    terms = (l1 * jnp.abs(x) if l1 else 0.0) + (l2 * jnp.square(x) if l2 else 0.0)
    if where is None:
        return jnp.mean(terms)
    where = jnp.broadcast_to(where, x.shape)
    return jnp.sum(jnp.where(where, terms, 0.0)) / jnp.maximum(jnp.sum(where), 1)


class RatePenalty:
    """L1 and L2 penalties on the network's activity (rates), from its hidden states.

    ``l1 * mean|r| + l2 * mean r**2`` over the chosen steps, trials and units,
    summed over the chosen hidden states: the activity regulariser of Song, Yang
    & Wang (2016) and Yang et al. (2019), who average over all of them.

    Parameters
    ----------
    l1, l2 : float
        Strengths, >= 0 (at least one > 0).
    states : list of str, optional
        Hidden-state names to penalise (default: every hidden state of the
        model; for a :class:`braintask.LeakyRNNCell` that is its rates ``r``).
    steps : str
        ``"all"`` (default), ``"kept"`` (the steps the task's mask keeps) or
        ``"decision"`` (the decision period); per-trial tasks allow ``"all"`` only.
    name : str
        Record key (default ``"rate_penalty"``).

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> penalty = braintask.RatePenalty(l2=0.1)
    >>> r = jnp.array([[[1.0, 3.0]], [[0.0, 2.0]]])  # (T=2, B=1, 2 units)
    >>> round(float(penalty(braintask.PenaltyInputs(states={"cell/r": r}, weights={}))), 6)
    0.35
    """

    reads_states = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, *,
                 states: Sequence[str] | None = None, steps: str = "all",
                 name: str = "rate_penalty") -> None:
        self.l1, self.l2 = _strengths("RatePenalty", l1, l2)
        self.states = _names("states", "hidden-state", states)
        self.steps = check_choice("steps", steps, STEPS)
        self.name = name

    def __repr__(self) -> str:
        return (f"RatePenalty(l1={self.l1}, l2={self.l2}, states={self.states}, "
                f"steps={self.steps!r}, name={self.name!r})")

    def __call__(self, inputs: PenaltyInputs) -> jax.Array:
        names = list(inputs.states) if self.states is None else _present(
            "RatePenalty", "hidden state", self.states, inputs.states)
        where = None
        if self.steps != "all":
            steps = inputs.mask if self.steps == "kept" else inputs.decision
            if steps is None:
                raise ValueError(f"RatePenalty(steps={self.steps!r}) needs per-step targets "
                                 f"(a mask); this task has one label per trial: use steps='all'.")
            where = steps > 0
        total = jnp.zeros(())
        for n in names:
            x = inputs.states[n]
            w = None if where is None else where.reshape(where.shape + (1,) * (x.ndim - 2))
            total = total + _l1_l2(x, self.l1, self.l2, w)
        return total


class WeightPenalty:
    """L1 and L2 penalties on trainable weights.

    ``sum over the chosen weights of (l1 * mean|W| + l2 * mean W**2)``, a mean
    per matrix as in Yang et al. (2019). With Dale's law a
    :class:`braintask.LeakyRNNCell` stores ``W_raw`` with ``|W| = |W_raw|``, so the
    penalty is that of the effective weights.

    Parameters
    ----------
    l1, l2 : float
        Strengths, >= 0 (at least one > 0).
    weights : list of str, optional
        Weight names (default: every weight matrix, i.e. array of 2 or more
        dimensions; biases are left out).
    name : str
        Record key (default ``"weight_penalty"``).

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> penalty = braintask.WeightPenalty(l1=1.0)
    >>> weights = {"cell/w_rec": jnp.array([[1.0, -3.0]]), "cell/b": jnp.array([5.0])}
    >>> inputs = braintask.PenaltyInputs(states={}, weights=weights)
    >>> float(penalty(inputs))  # the mean |w| of the matrix; the bias is left out
    2.0
    """

    reads_states = False

    def __init__(self, l1: float = 0.0, l2: float = 0.0, *,
                 weights: Sequence[str] | None = None, name: str = "weight_penalty") -> None:
        self.l1, self.l2 = _strengths("WeightPenalty", l1, l2)
        self.weights = _names("weights", "weight", weights)
        self.name = name

    def __repr__(self) -> str:
        return (f"WeightPenalty(l1={self.l1}, l2={self.l2}, weights={self.weights}, "
                f"name={self.name!r})")

    def __call__(self, inputs: PenaltyInputs) -> jax.Array:
        if self.weights is None:
            names = [n for n, w in inputs.weights.items() if jnp.ndim(w) >= 2]
        else:
            names = _present("WeightPenalty", "trainable weight", self.weights,
                             inputs.weights)
        total = jnp.zeros(())
        for n in names:
            total = total + _l1_l2(inputs.weights[n], self.l1, self.l2)
        return total


def check_penalties(penalties: Sequence[Penalty] | None, taken: Sequence[str]) -> tuple:
    """``penalties`` as a tuple, each a :class:`Penalty` with a new identifier name."""
    if penalties is None:
        return ()
    if isinstance(penalties, Penalty):
        penalties = [penalties]
    checked: list[Penalty] = []
    for p in penalties:
        if not isinstance(p, Penalty):
            raise TypeError(f"penalties must be a list of penalties (RatePenalty, WeightPenalty "
                            f"or objects with name, reads_states and __call__), got {p!r}.")
        if not isinstance(p.name, str) or not p.name.isidentifier():
            raise ValueError(f"a penalty's name must be an identifier, got {p.name!r}.")
        if p.name in taken or p.name in [q.name for q in checked]:
            raise ValueError(f"penalty name {p.name!r} is taken (by a metric or another "
                             f"penalty); give it another name=.")
        checked.append(p)
    return tuple(checked)
