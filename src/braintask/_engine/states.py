"""Hidden states at a batch shape, for models whose ``init_state`` ignores the batch."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from .._models.graph import module_states

__all__ = ["HiddenBatcher", "INIT_STATES", "batch_hidden_states", "random_hidden_states",
           "recorded", "warn_shared_random"]


def _is_hidden(path: tuple, state: Any) -> bool:
    return isinstance(state, brainstate.ShortTermState)


#: What ``init_states=`` accepts.
INIT_STATES = ("shared", "per_trial")


def _hidden_values(model: brainstate.nn.Module) -> list[np.ndarray]:
    return [np.asarray(v) for s in module_states(model, _is_hidden).values()
            for v in jax.tree.leaves(s.value)]


def random_hidden_states(model: brainstate.nn.Module) -> bool:
    """Whether ``model.init_state`` draws its hidden states at random: two
    initialisations under two different keys differ. brainstate's random key is
    put back as it was (the caller's next initialisation draws as before)."""
    key = brainstate.random.DEFAULT.value
    try:
        draws = []
        for sub in jax.random.split(key):
            brainstate.random.DEFAULT.value = sub
            brainstate.nn.init_all_states(model)
            draws.append(_hidden_values(model))
    finally:
        brainstate.random.DEFAULT.value = key
    return any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(*draws))


def _put_back(model: brainstate.nn.Module, path: tuple, state: brainstate.State) -> None:
    """Put the state object ``state`` back at ``path`` in the model."""
    parent: Any = model
    for p in path[:-1]:
        parent = parent[p] if isinstance(parent, (list, tuple, dict)) else getattr(parent, p)
    if isinstance(parent, (list, dict)):
        parent[path[-1]] = state
    else:
        setattr(parent, path[-1], state)


class HiddenBatcher:
    """Puts a model's hidden states at a batch shape ``(B, ...)``.

    The model's states are initialised once without a batch size (HORN allocates
    them unbatched whatever it is told). With ``per_trial=False`` each
    :meth:`start` broadcasts those initial values to ``(batch_size,) + shape``:
    every trial starts from the same state. With ``per_trial=True`` each
    :meth:`start` calls the model's ``init_state(batch_size)`` again, so a
    random initialisation draws new values for every trial, from brainstate's
    random key (inside a compiled program the key is one of its states, so the
    draws follow the seed, the epoch and the minibatch); the model keeps its
    state objects. Starting before every forward pass also means no state leaks
    from one minibatch into the next.
    """

    def __init__(self, model: brainstate.nn.Module, per_trial: bool = False,
                 detect_random: bool = True) -> None:
        self.model, self.per_trial = model, per_trial
        #: Whether the model's ``init_state`` draws at random (see
        #: :func:`random_hidden_states`; ``None`` when not asked: the question
        #: compares two concrete initialisations, so it cannot be asked in a trace).
        self.random = random_hidden_states(model) if detect_random else None
        brainstate.nn.init_all_states(model)
        found = module_states(model, _is_hidden)
        #: Each state's path in the model, e.g. ``"layers/0/h2h/model/x"``.
        self.names = ["/".join(str(p) for p in path) for path in found.keys()]
        self.paths = list(found.keys())
        self.states = list(found.values())
        #: The initial values, as states: a program reads them (with a leading copy
        #: axis while the copies of a :class:`braintask.MultiSeedTrainer` are stacked).
        self.initial_states: list[brainstate.State] = [
            brainstate.State(jax.tree.map(jnp.asarray, s.value)) for s in self.states]
        self.stacked = False
        self.last: list | None = None

    @property
    def initial(self) -> list:
        return [s.value for s in self.initial_states]

    def stack(self, per_copy: list[list],
              place: Callable[[Any], Any] | None = None) -> None:
        """Hold every copy's initial values along a leading axis (``per_copy[k]``:
        copy ``k``'s :attr:`initial`); ``place`` puts the stacked arrays on devices."""
        stacked = [jax.tree.map(lambda *v: jnp.stack(v), *values) for values in zip(*per_copy)]
        self._own = self.initial
        for state, value in zip(self.initial_states, stacked):
            state.value = value if place is None else place(value)
        self.stacked = True

    def unstack(self) -> None:
        """Back to this model's own initial values (those before :meth:`stack`)."""
        if not self.stacked:
            return
        for state, value in zip(self.initial_states, self._own):
            state.value = value
        self.stacked = False

    def reset(self, batch_size: int) -> None:
        """The initial values, broadcast to the batch (no draw)."""
        for state, init in zip(self.states, self.initial):
            state.value = jax.tree.map(lambda v: jnp.broadcast_to(v, (batch_size,) + v.shape), init)

    def follow(self) -> None:
        """Use the model's current hidden-state objects: code that calls the model's
        ``init_state`` itself (e.g. ``batch_hidden_states``) replaces them."""
        found = module_states(self.model, _is_hidden)
        current = list(found.values())
        if all(a is b for a, b in zip(current, self.states)) and len(current) == len(self.states):
            return
        if list(found.keys()) != self.paths:
            raise RuntimeError(
                f"the model's hidden states changed since the trainer was built: it had "
                f"{self.names}, it now has {['/'.join(map(str, p)) for p in found.keys()]}. "
                f"Build a new trainer for a changed model.")
        self.states = current

    def start(self, batch_size: int) -> None:
        """The states a forward pass starts from: drawn per trial, or :meth:`reset`."""
        self.follow()
        if not self.per_trial:
            self.reset(batch_size)
        else:
            for state, value in zip(self.states, self._draw(batch_size)):
                state.value = value
        self.last = [s.value for s in self.states]

    def again(self) -> None:
        """The values of the last :meth:`start` once more (a second pass over the same trials)."""
        assert self.last is not None, "again() follows start()"
        for state, value in zip(self.states, self.last):
            state.value = value

    def _draw(self, batch_size: int) -> list:
        before = dict(module_states(self.model))
        brainstate.nn.init_all_states(self.model, batch_size=batch_size)
        after = dict(module_states(self.model))
        for path, old in before.items():
            if after.get(path, old) is not old:
                _put_back(self.model, path, old)

        # a model that ignores batch_size: one draw, broadcast
        def batched(new: Any, init: Any) -> Any:
            return new if np.ndim(new) == np.ndim(init) + 1 else \
                jnp.broadcast_to(new, (batch_size,) + np.shape(init))

        return [jax.tree.map(batched, after[p].value, init)
                for p, init in zip(self.paths, self.initial)]


def warn_shared_random(hidden: HiddenBatcher, stacklevel: int = 3) -> None:
    """Warn that a random initialisation was drawn once and is shared by every trial."""
    warnings.warn(
        f"the model's initial hidden states are random (init_state gives other values under "
        f"another random key: {', '.join(hidden.names)}), but by default one draw, made when "
        f"the trainer was built, is copied to every trial of every minibatch. Pass "
        f"init_states='per_trial' to draw new initial states for every trial of every "
        f"minibatch (reproducible from the trainer's seed), or init_states='shared' to keep "
        f"one draw for all trials and silence this warning.", UserWarning, stacklevel=stacklevel)


def batch_hidden_states(model: brainstate.nn.Module, batch_size: int) -> None:
    """Initialise ``model``'s hidden states and give them a leading batch axis.

    Use it before calling a model by hand on a ``(T, batch_size, F)`` sequence,
    e.g. to record hidden traces of a trained network.

    Examples
    --------
    >>> import brainstate, brainunit as u, brainmass, braintask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> net = brainmass.HORNSeqNetwork(n_input=2, n_hidden=8, n_output=2)
    >>> braintask.batch_hidden_states(net, 5)
    >>> net.layers[0].horn.x.value.shape
    (5, 8)
    """
    HiddenBatcher(model, detect_random=False).reset(batch_size)


def recorded(logits: np.ndarray, outs: np.ndarray, traces: list,
             names: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """The outputs and hidden-state traces of :meth:`Engine.record_program`,
    batch-major outputs and time-major ``(T, N, ...)`` traces by name; a
    ValueError when the step-by-step pass does not reproduce the whole one."""
    per_step = logits.ndim == 3
    stepped = outs[:, 0] if per_step else outs[-1]
    if stepped.shape != logits.shape or not np.allclose(stepped, logits, rtol=1e-4, atol=1e-5):
        raise ValueError(
            "the model's outputs differ when its inputs are fed one step at a time with the "
            "hidden states carried over, so its hidden states cannot be recorded per step: "
            "the model must keep its state in brainstate.HiddenState objects and not reset "
            "them inside its own call.")
    states = {name: trace for name, trace in zip(names, traces)}
    return (logits.swapaxes(0, 1) if per_step else logits), states
