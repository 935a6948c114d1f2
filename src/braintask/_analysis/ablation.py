"""Silencing units of a trained network: re-scored with their outgoing weights at zero,
against random sets of other units of the same size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import brainstate
import numpy as np

from .._checks import check_int
from .._models.graph import module_states

if TYPE_CHECKING:
    from .._data.dataset import TaskDataset
    from .._training.trainer import Trainer

__all__ = ["Ablation", "ablate_units"]


@dataclass(frozen=True, eq=False)
class Ablation:
    """Scores of a network before and after silencing units, and a random control.

    Attributes
    ----------
    units : tuple of int
        The silenced units.
    metric : str
        The score compared (a key of :meth:`braintask.Trainer.evaluate`).
    before, after : float
        The score of the intact network and with :attr:`units` silenced.
    control : numpy.ndarray
        ``(draws,)`` the score with as many randomly drawn other units silenced.
    control_units : tuple of tuple of int
        The units of each control draw.
    """

    units: tuple
    metric: str
    before: float
    after: float
    control: np.ndarray
    control_units: tuple

    @property
    def drop(self) -> float:
        """``before - after``."""
        return self.before - self.after

    @property
    def control_drop(self) -> float:
        """``before`` minus the mean control score (NaN without control draws)."""
        return self.before - float(np.mean(self.control)) if self.control.size else float("nan")


def _outgoing(model: brainstate.nn.Module) -> tuple[int, list[tuple[brainstate.State, Any]]]:
    """``(n_units, [(param state, first row)])``: the weight matrices that read the
    units, whose row ``first + unit`` carries that unit's output."""
    from .._models.recurrent import RecurrentClassifier

    if isinstance(model, RecurrentClassifier):
        cell, n_in = model.cell, getattr(model.cell, "num_in", None)
        n_units = int(np.prod(cell.out_size))
        found = [(s, n_in) for s in module_states(cell, brainstate.ParamState).values()]
        if n_in is None or any(not isinstance(s.value, dict) or "weight" not in s.value
                               or np.shape(s.value["weight"])[0] != n_in + n_units
                               for s, _ in found):
            raise TypeError(f"ablate_units reads cells whose weights act on [input, hidden] "
                            f"(GRUCell, ValinaRNNCell, LSTMCell, MGUCell); "
                            f"{type(cell).__name__} is not one.")
        return n_units, found + [(model.readout.weight, 0)]
    layers, readout = getattr(model, "layers", None), getattr(model, "h2o", None)
    if layers and readout is not None and hasattr(layers[-1], "horn"):  # HORNSeqNetwork
        coupling = getattr(layers[-1].h2h, "linear", None)
        if coupling is None:
            raise TypeError("ablate_units reads HORN layers without delays (their coupling is "
                            "one linear map of the velocities).")
        return int(layers[-1].n_hidden), [(coupling.weight, 0), (readout.weight, 0)]
    raise TypeError(f"ablate_units silences units of a braintask.RecurrentClassifier or a "
                    f"brainmass.HORNSeqNetwork, got {type(model).__name__}.")


def _score(trainer: Trainer, data: TaskDataset, weights: list[tuple[brainstate.State, Any]],
           units: Sequence[int], metric: str) -> float:
    """The metric with ``units`` silenced; the weights are put back afterwards."""
    saved = [state.value for state, _ in weights]
    try:
        rows = np.asarray(units, dtype=np.int64)
        for state, first in weights:
            value = dict(state.value)
            value["weight"] = value["weight"].at[first + rows].set(0)
            state.value = value
        return float(trainer.evaluate(data)[metric])
    finally:
        for (state, _), value in zip(weights, saved):
            state.value = value


def ablate_units(trainer: Trainer, data: TaskDataset, units: Sequence[int], *,
                 metric: str = "acc", controls: int = 10, seed: int = 0) -> Ablation:
    """Score a trained network with some units silenced, and with random other units.

    *Silencing* a unit sets its **outgoing weights** to zero, so that nothing
    downstream receives its activity: in a :class:`braintask.RecurrentClassifier`
    the rows of every cell weight that read the unit's hidden state (all gates
    of a GRU or LSTM) and its row of the readout; in a
    ``brainmass.HORNSeqNetwork`` (units of the last layer) the unit's row of the
    recurrent coupling (which reads the oscillators' velocities) and of the
    readout (which reads their positions). The unit's own state still evolves,
    driven by its input and its own dynamics, but it affects no other unit and
    no output.

    The trainer's weights are put back bit for bit afterwards, also when an
    error interrupts. The controls silence ``len(units)`` units drawn at random
    from the other units (``controls`` draws).

    Parameters
    ----------
    trainer : Trainer
        A :class:`braintask.Trainer`; its ``evaluate`` scores the network.
    data : TaskDataset
        The trials to score on.
    units : sequence of int
        Distinct unit indices in ``[0, n_units)``, at least one.
    metric : str
        The key of ``trainer.evaluate(data)`` to compare. Default ``"acc"``
        (``"decision_acc"`` for per-step tasks).
    controls : int
        Random control draws, >= 0. Default 10.
    seed : int
        Seeds the draws. Default 0.

    Returns
    -------
    Ablation
        ``before``, ``after``, ``control`` scores and the units of each draw.

    Examples
    --------
    >>> import brainstate, braintools, braintask
    >>> data = braintask.delayed_match_task(32, seq_len=4, n_symbols=3)
    >>> brainstate.random.seed(0)
    >>> net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(3, 8), n_output=2)
    >>> trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=8)
    >>> result = braintask.ablate_units(trainer, data, [0, 1], controls=3)
    >>> result.units, result.control.shape, len(result.control_units[0])
    ((0, 1), (3,), 2)
    """
    if not (hasattr(trainer, "model") and hasattr(trainer, "evaluate")):
        raise TypeError(f"trainer must be a braintask.Trainer, got {type(trainer).__name__}.")
    n_units, weights = _outgoing(trainer.model)
    try:
        units = list(units)
        chosen = [int(u) for u in units]
    except (TypeError, ValueError):
        raise TypeError(f"units must be a sequence of unit indices, got {units!r}.") from None
    if not chosen or len(set(chosen)) != len(chosen) or not all(
            0 <= u < n_units and u == v for u, v in zip(chosen, units)):
        raise ValueError(f"units must be distinct integers in [0, {n_units}) (the network has "
                         f"{n_units} units), at least one; got {list(units)}.")
    controls = check_int("controls", controls, 0)
    others = np.setdiff1d(np.arange(n_units), chosen)
    if controls and others.size < len(chosen):
        raise ValueError(f"a control needs {len(chosen)} units other than the silenced ones, "
                         f"but only {others.size} of {n_units} are left: pass controls=0 or "
                         f"silence fewer units.")
    scores = trainer.evaluate(data)
    if metric not in scores:
        raise ValueError(f"metric {metric!r} is not one of the trainer's scores "
                         f"{sorted(scores)}.")
    rng = np.random.default_rng(check_int("seed", seed, 0))
    draws = tuple(tuple(int(u) for u in np.sort(rng.choice(others, len(chosen), replace=False)))
                  for _ in range(controls))
    after = _score(trainer, data, weights, chosen, metric)
    control = np.array([_score(trainer, data, weights, d, metric) for d in draws])
    return Ablation(tuple(chosen), metric, float(scores[metric]), after, control, draws)
