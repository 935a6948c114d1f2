"""The learning rate of a braintools optimizer: what it is now, whether it can change,
and one epoch's step of its schedule (keeping every state's dtype, so no compiled
program re-traces)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import brainstate
import braintools
import jax
import jax.numpy as jnp
import numpy as np

from .._distributed import to_host

__all__ = ["scheduler_states", "strict", "Schedule"]


def strict(value: Any) -> Any:
    """``value`` with every leaf strongly typed. A weak-typed leaf (a bias from
    Constant(0.0), a Python-float learning rate) becomes strong after its first
    update, which would re-trace a program once."""
    return jax.tree.map(lambda v: jnp.asarray(v, dtype=jnp.asarray(v).dtype), value)


def scheduler_states(optimizer: braintools.optim.OptaxOptimizer) -> list[brainstate.State]:
    """States held by the optimizer's learning-rate scheduler (epoch counter,
    current rate, plateau bookkeeping): not graph nodes, so listed by hand."""
    scheduler = getattr(optimizer, "lr_scheduler", None)
    if scheduler is None:
        return []
    return [v for v in vars(scheduler).values() if isinstance(v, brainstate.State)]


class Schedule:
    """The learning rate of ``optimizer``, whose small schedule states are
    ``states`` (placed by ``place`` after every step, e.g. replicated on a mesh)."""

    def __init__(self, optimizer: braintools.optim.OptaxOptimizer, states: list[brainstate.State],
                 place: Callable[[Any], Any] | None = None) -> None:
        self.optimizer, self.states, self.place = optimizer, states, place

    @property
    def scheduler(self) -> Any:
        return getattr(self.optimizer, "lr_scheduler", None)

    @property
    def changes(self) -> bool:
        """Whether the rate can change from epoch to epoch (a constant rate,
        braintools' ``ConstantLR`` with factor 1, needs no stepping)."""
        scheduler = self.scheduler
        if scheduler is None:
            return False
        constant = type(scheduler).__name__ == "ConstantLR" and (
            getattr(scheduler, "factor", 1.0) == 1.0 or getattr(scheduler, "total_iters", 0) == 0)
        return not constant

    def current(self, copies: int = 1) -> list[float]:
        """Every copy's learning rate, read from the (stacked) states in one transfer."""
        scheduler = self.scheduler
        values = jax.tree.leaves(scheduler.current_lrs.value) if scheduler is not None and \
            hasattr(scheduler, "current_lrs") else []
        rates = np.ravel(to_host(values[0] if values else self.optimizer.current_lr))
        rates = np.broadcast_to(rates, (copies,))
        return [_shortest(r) for r in rates]

    def step(self, metric: float | None = None) -> None:
        """Advance the schedule by one epoch (``ReduceLROnPlateau`` gets ``metric``)."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        before = {id(s): jax.tree.map(lambda v: jnp.asarray(v).dtype, s.value)
                  for s in self.states}
        if _takes_metric(scheduler):
            scheduler.step(metric)
        else:
            scheduler.step()
        for s in self.states:
            try:
                s.value = jax.tree.map(lambda v, d: jnp.asarray(v, dtype=d), s.value,
                                       before[id(s)])
            except ValueError:  # the schedule changed a structure: keep its new value
                s.value = strict(s.value)
            if self.place is not None:
                s.value = self.place(s.value)


def _shortest(value: Any) -> float:
    # 1e-2 held in float32 reads 0.009999999776; report the number the user wrote.
    return float(str(np.asarray(value).item() if np.asarray(value).dtype == np.float64
                     else np.float32(value)))


def _takes_metric(scheduler: Any) -> bool:
    try:
        params = inspect.signature(scheduler.step).parameters
    except (TypeError, ValueError):
        return False
    first = next(iter(params.values()), None)
    return first is not None and first.name == "metric"
