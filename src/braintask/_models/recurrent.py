"""Small model wrappers for sequence tasks."""

from __future__ import annotations

import brainstate
import jax
import numpy as np

from .graph import module_states

__all__ = ["RecurrentClassifier", "count_parameters"]


class RecurrentClassifier(brainstate.nn.Module):
    """A brainstate recurrent cell run over a sequence, with a linear readout.

    Maps a time-major ``(T, B, F)`` sequence to ``(B, C)`` logits read from the
    cell's last state, or, with ``per_step=True``, to ``(T, B, C)`` logits read
    at every step (for per-step targets). The cell is any one-step brainstate
    module such as ``brainstate.nn.GRUCell`` or ``brainstate.nn.ValinaRNNCell``.

    Parameters
    ----------
    cell : brainstate.nn.Module
        Maps ``(B, F)`` to ``(B, H)`` and keeps its state between calls; must
        have ``out_size`` (brainstate cells do).
    n_output : int
        Number of classes ``C``.
    per_step : bool
        Read out at every step instead of the last one.

    Examples
    --------
    >>> import brainstate, braintask, jax.numpy as jnp
    >>> net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(3, 8), n_output=2)
    >>> braintask.batch_hidden_states(net, 5)
    >>> net(jnp.zeros((7, 5, 3))).shape
    (5, 2)
    >>> braintask.count_parameters(net)  # GRU 3 * (11 * 8 + 8), readout 8 * 2 + 2
    306
    """

    def __init__(self, cell: brainstate.nn.Module, n_output: int, *,
                 per_step: bool = False) -> None:
        super().__init__()
        self.cell = cell
        self.per_step = bool(per_step)
        self.readout = brainstate.nn.Linear(int(np.prod(cell.out_size)), n_output)

    def update(self, inputs: jax.Array) -> jax.Array:
        states = brainstate.transform.for_loop(self.cell, inputs)  # (T, B, H)
        return self.readout(states if self.per_step else states[-1])


def count_parameters(model: brainstate.nn.Module) -> int:
    """Number of trainable scalars: the sizes of all ``ParamState`` values."""
    params = module_states(model, brainstate.ParamState)
    return int(sum(np.size(leaf) for s in params.values() for leaf in jax.tree.leaves(s.value)))
