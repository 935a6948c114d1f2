"""A trained model's one-step update as a pure function of a flat state vector."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._models.graph import module_states

__all__ = ["OneStep", "step_function"]


@dataclass(frozen=True, eq=False)
class OneStep:
    """``step(h, x) -> h_next`` of a model, on one flat state vector ``h`` ``(H,)``.

    ``h`` is the model's hidden states side by side, each flattened, in
    :attr:`names` order (e.g. an LSTM cell's ``c`` then ``h``; HORN's positions
    ``x`` then velocities ``y``). Calling it sets those states, runs one step of
    the model and puts the states back, so the model is left as it was; it
    traces under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` with the weights as
    constants.

    Attributes
    ----------
    names : tuple of str
        Paths of the hidden states in the module that steps.
    sizes : tuple of int
        Each state's number of entries in ``h``.
    n_input : int or None
        The input size ``F`` (``x=None`` means zeros of that size).
    """

    names: tuple
    sizes: tuple
    n_input: int | None
    _states: tuple
    _shapes: tuple
    _advance: Callable

    @property
    def n_state(self) -> int:
        """``H``, the length of the state vector."""
        return int(sum(self.sizes))

    def split(self, h: jax.Array | np.ndarray) -> dict:
        """``{name: part of h}`` along the last axis of ``(..., H)`` states."""
        edges = np.cumsum((0,) + self.sizes)
        return {n: h[..., a:b] for n, a, b in zip(self.names, edges[:-1], edges[1:])}

    def __call__(self, h: ArrayLike, x: ArrayLike | None = None) -> jax.Array:
        h = jnp.asarray(h)
        if h.shape != (self.n_state,):
            raise ValueError(f"h must be one state vector of shape ({self.n_state},) "
                             f"({', '.join(self.names)}), got shape {h.shape}.")
        if x is None:
            if self.n_input is None:
                raise ValueError("x=None needs a known input size; pass the input x (F,).")
            x = jnp.zeros((self.n_input,), h.dtype)
        saved = [s.value for s in self._states]
        # a trace stack lets the states hold tracers (of jax.jit / vmap / grad) for the
        # length of this call; the saved values are back before it ends
        with brainstate.StateTraceStack():
            try:
                for state, part, shape in zip(self._states, self.split(h).values(),
                                              self._shapes):
                    state.value = part.reshape(shape)
                self._advance(jnp.asarray(x, h.dtype))
                return jnp.concatenate([jnp.ravel(s.value) for s in self._states])
            finally:
                for state, value in zip(self._states, saved):
                    state.value = value


def _stepper(model: Any) -> tuple[brainstate.nn.Module, Callable[[jax.Array], Any], Any]:
    """``(module that owns the states, one-step call, input size)`` for a model."""
    from .._models.recurrent import RecurrentClassifier

    if isinstance(model, RecurrentClassifier):
        cell = model.cell
        return cell, cell, getattr(cell, "num_in", None)
    layers = getattr(model, "layers", None)
    if layers is not None and hasattr(model, "h2o"):  # brainmass.HORNSeqNetwork
        if len(layers) != 1:
            raise ValueError(f"step_function reads HORN networks with one layer; this one has "
                             f"{len(layers)}: pass one layer's module, model.layers[i].")
        model = layers[0]
    if hasattr(model, "horn") and hasattr(model, "i2h") and hasattr(model, "h2h"):
        layer = model  # brainmass.HORNSeqLayer: one step is horn(i2h(x) + h2h())
        return layer, lambda x: layer.horn(layer.i2h(x) + layer.h2h()), int(layer.n_input)
    if isinstance(model, brainstate.nn.Module):
        return model, model, getattr(model, "num_in", None)
    raise TypeError(f"model must be a braintask.RecurrentClassifier, a brainmass HORN network "
                    f"or layer, or a brainstate module whose call advances one step; got "
                    f"{type(model).__name__}.")


def step_function(model: brainstate.nn.Module) -> OneStep:
    """The one-step update of a model, ``step(h, x) -> h_next``, for fixed-point search.

    Parameters
    ----------
    model : brainstate.nn.Module
        A :class:`braintask.RecurrentClassifier` (its cell steps: GRU, vanilla
        RNN, LSTM, ...), a ``brainmass.HORNSeqNetwork`` with one layer or a
        ``HORNSeqLayer`` (one step drives the oscillators with the input and
        the recurrent coupling), or any brainstate module whose call
        ``module(x)`` advances its ``HiddenState`` objects by one step.

    Returns
    -------
    OneStep
        A callable ``step(h, x)`` on one unbatched state vector ``h`` ``(H,)``
        and input ``x`` ``(F,)`` (None: zero input), with the state layout
        (``names``, ``sizes``, ``split``).

    Examples
    --------
    >>> import brainstate, braintask, numpy as np
    >>> brainstate.random.seed(0)
    >>> net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(3, 8), n_output=2)
    >>> step = braintask.step_function(net)
    >>> step.names, step.n_state, step(np.zeros(8)).shape
    (('h',), 8, (8,))
    >>> found = braintask.find_fixed_points(step, np.zeros((2, 8)))
    >>> float(found.speeds.max()) < 1e-10
    True
    """
    owner, advance, n_input = _stepper(model)
    found = module_states(owner, brainstate.HiddenState)
    if len(found):  # unbatched shapes from a copy: the model keeps its own state objects
        twin = copy.deepcopy(owner)
        brainstate.nn.init_all_states(twin)
        shapes = tuple(tuple(np.shape(module_states(twin, brainstate.HiddenState)[k].value))
                       for k in found.keys())
    else:
        brainstate.nn.init_all_states(owner)
        found = module_states(owner, brainstate.HiddenState)
        shapes = tuple(tuple(np.shape(s.value)) for s in found.values())
    if not len(found):
        raise ValueError(f"{type(owner).__name__} has no brainstate.HiddenState, so it has no "
                         f"state to step.")
    states = tuple(found.values())
    names = tuple("/".join(str(p) for p in path) for path in found.keys())
    return OneStep(names, tuple(int(np.prod(s)) for s in shapes),
                   None if n_input is None else int(n_input), states, shapes, advance)
