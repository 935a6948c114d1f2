"""A brainmass one-step node model as a trainable recurrent network over time."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .graph import module_states

__all__ = ["NodeNetwork"]


def _hidden_names(node: brainstate.nn.Module) -> list[str]:
    """The names of the node's own hidden states (``init_state`` creates them)."""
    brainstate.nn.init_all_states(node)
    return ["/".join(map(str, path))
            for path in module_states(node, brainstate.HiddenState).keys()]


def _inputs_of(node: brainstate.nn.Module) -> dict[str, Any]:
    """The keyword inputs of ``node.update`` and their defaults."""
    params = inspect.signature(node.update).parameters.values()
    return {p.name: p.default for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _check_names(what: str, names: str | Iterable[str], allowed: list[str],
                 node: brainstate.nn.Module) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"{what} {name!r} is not one of {type(node).__name__}'s "
                f"{'inputs' if what == 'drive' else 'names'}: {allowed}.")
    return names


def _make_trainable(node: brainstate.nn.Dynamics, names: tuple[str, ...]) -> None:
    """Replace the node's constants ``names`` by trainable ``brainstate.nn.Param``s,
    one value per unit, starting from the constants' values."""
    for name in names:
        const = getattr(node, name)
        value = const.value()
        shape = tuple(node.varshape)
        value = u.math.broadcast_to(value, shape) if np.shape(value) != shape else value
        setattr(node, name, brainstate.nn.Param(value))


class NodeNetwork(brainstate.nn.Module):
    """A brainmass node model (one step of ``n`` units) as a trainable recurrent
    network run over a sequence, with a linear readout.

    At every step the ``(B, F)`` input goes through a trainable projection, the
    chosen state of the previous step through a trainable ``n x n`` coupling; their
    sum times ``input_gain`` (times ``input_unit``) is the node's ``drive`` input.
    The node takes one integration step (``brainstate.environ`` ``dt``), and the
    ``read`` states, units removed, go to a linear readout: ``(B, C)`` logits
    after the last step, or ``(T, B, C)`` with ``per_step=True``. The node's own
    constants stay fixed unless named in ``trainable``.

    Parameters
    ----------
    node : brainstate.nn.Module
        A brainmass node with a 1-D size ``n``, e.g. ``brainmass.WilsonCowanStep(n)``.
    n_input, n_output : int
        Input features ``F`` and classes ``C``.
    drive : str
        The keyword input of ``node.update`` that receives the drive, e.g.
        ``"rE_inp"`` (Wilson-Cowan) or ``"x_inp"`` (Stuart-Landau, Hopf).
    couple_from : str or None
        The hidden state fed back through the coupling (``None``: no coupling).
    read : str or sequence of str, optional
        The hidden states read out (default: ``couple_from``, else all states).
    input_gain : float
        Scales the drive (nodes with high thresholds need a large one).
    input_unit : brainunit.Unit, optional
        Unit of the drive; by default the unit of the input's default value in
        ``node.update`` (e.g. mV for Jansen-Rit), none if it has none.
    trainable : sequence of str
        Node constants made trainable, one value per unit (e.g. ``("wEE",)``).
    per_step : bool
        Read out at every step instead of after the last one.

    Examples
    --------
    >>> import brainmass, brainstate, brainunit as u, braintask, jax.numpy as jnp
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> net = braintask.NodeNetwork(brainmass.WilsonCowanStep(8), n_input=3,
    ...                             n_output=2, drive="rE_inp", couple_from="rE",
    ...                             trainable=("wEE",))
    >>> braintask.batch_hidden_states(net, 5)
    >>> net(jnp.zeros((7, 5, 3))).shape
    (5, 2)
    >>> braintask.count_parameters(net)  # 3*8+8 in, 8*8+8 coupling, 8*2+2 out, 8 wEE
    130
    """

    def __init__(self, node: brainstate.nn.Dynamics, n_input: int, n_output: int, *,
                 drive: str, couple_from: str | None = None,
                 read: str | Iterable[str] | None = None, input_gain: float = 1.0,
                 input_unit: u.Unit | None = None, trainable: str | Iterable[str] = (),
                 per_step: bool = False) -> None:
        super().__init__()
        shape = tuple(getattr(node, "varshape", ()) or ())
        if len(shape) != 1:
            raise ValueError(f"node must have a 1-D size (n units), got "
                             f"{type(node).__name__} with size {shape or 'none'}.")
        inputs, states = _inputs_of(node), _hidden_names(node)
        self.drive = _check_names("drive", drive, list(inputs), node)[0]
        self.couple_from = None if couple_from is None else _check_names(
            "couple_from state", couple_from, states, node)[0]
        default_read = states if couple_from is None else (couple_from,)
        self.read = _check_names("read state", default_read if read is None else read,
                                 states, node)
        consts = [k for k, v in vars(node).items() if callable(getattr(v, "value", None))
                  and not isinstance(v, brainstate.State)]
        _make_trainable(node, _check_names("trainable constant", trainable, consts, node))
        default = inputs[self.drive]
        self.input_unit = (u.get_unit(default) if isinstance(default, u.Quantity)
                           else None) if input_unit is None else input_unit
        self.input_gain = float(input_gain)
        self.per_step = bool(per_step)
        self.node, n = node, shape[0]
        self.encoder = brainstate.nn.Linear(int(n_input), n)
        self.coupling = None if self.couple_from is None else brainstate.nn.Linear(n, n)
        self.readout = brainstate.nn.Linear(n * len(self.read), int(n_output))

    def _state(self, name: str) -> jax.Array:
        """A hidden state's current value without its unit."""
        return u.get_magnitude(getattr(self.node, name).value)

    def step(self, x: jax.Array) -> jax.Array:
        """One step: drive the node from ``x`` ``(B, F)`` and the fed-back state;
        returns the read states, unitless, concatenated ``(B, n * len(read))``."""
        drive = self.encoder(x)
        if self.coupling is not None:
            assert self.couple_from is not None  # a coupling is built for a couple_from state
            drive = drive + self.coupling(self._state(self.couple_from))
        drive = self.input_gain * drive
        if self.input_unit is not None:
            drive = drive * self.input_unit
        self.node.update(**{self.drive: drive})
        return jnp.concatenate([self._state(name) for name in self.read], axis=-1)

    def update(self, inputs: jax.Array) -> jax.Array:
        features = brainstate.transform.for_loop(self.step, inputs)  # (T, B, n * R)
        return self.readout(features if self.per_step else features[-1])
