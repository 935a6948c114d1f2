"""Hidden states at a batch shape, for models whose ``init_state`` ignores the batch."""

from __future__ import annotations

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["HiddenBatcher", "batch_hidden_states", "recorded"]


def _is_hidden(path, state) -> bool:
    return isinstance(state, brainstate.ShortTermState)


class HiddenBatcher:
    """Puts a model's hidden states at a batch shape ``(B, ...)`` from their initial values.

    The model's states are initialised once without a batch size (HORN allocates
    them unbatched whatever it is told); each :meth:`reset` broadcasts those
    initial values to ``(batch_size,) + shape``. Resetting before every forward
    pass also means no state leaks from one minibatch into the next.
    """

    def __init__(self, model: brainstate.nn.Module):
        brainstate.nn.init_all_states(model)
        found = model.states(_is_hidden)
        #: Each state's path in the model, e.g. ``"layers/0/h2h/model/x"``.
        self.names = ["/".join(str(p) for p in path) for path in found.keys()]
        self.states = list(found.values())
        self.initial = [jax.tree.map(jnp.asarray, s.value) for s in self.states]

    def reset(self, batch_size: int) -> None:
        for state, init in zip(self.states, self.initial):
            state.value = jax.tree.map(lambda v: jnp.broadcast_to(v, (batch_size,) + v.shape), init)


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
    HiddenBatcher(model).reset(batch_size)


def recorded(logits, outs, traces, names) -> tuple:
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
