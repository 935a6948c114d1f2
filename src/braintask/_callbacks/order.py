"""The one order in which a fit runs its callbacks, for both trainers."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .base import Callback, FunctionCallback
from .criterion import Criterion
from .schedule import LearningRateScheduler
from .stopping import EarlyStopping, StopAt

__all__ = ["FitCallbacks", "fit_callbacks"]

#: ``(before_save, after_save)``: a copy's callbacks that run before the fit's
#: checkpoint is written, and those that run after it.
FitCallbacks = tuple[list[Callback], list[Callback]]


def fit_callbacks(callbacks: Sequence[Callback | Callable[[Any, dict], None]] = (), *,
                  stop_at: Mapping[str, float] | None = None, patience: int | None = None,
                  monitor: str | None = None, mode: str | None = None,
                  restore_best: bool = True, criterion: Criterion | None = None,
                  schedule: bool = True) -> FitCallbacks:
    """The callbacks of one fit of one model (or copy), from ``fit``'s shortcuts and
    the user's ``callbacks``, in the order they run after every epoch:

    0. the user's callbacks that add record keys (``Callback.adds``), so every rule
       below can watch what they add;
    1. the learning-rate schedule (the user's :class:`LearningRateScheduler`, or one
       added when ``schedule`` says the rate can change), so every later callback
       sees the rate of the next epoch;
    2. early stopping (``patience``, ``monitor``, ``mode``, ``restore_best``);
    3. ``stop_at``;
    4. the ``criterion``;
    5. then ``fit(checkpoint=...)`` saves (so a checkpoint holds the stops of the
       built-in rules, and an exception in a callback of the user loses nothing);
    6. the user's other callbacks, in the order given.

    Returns ``(before_save, after_save)``: steps 0-4 and step 6.
    """
    if isinstance(callbacks, (Callback, str, bytes)) or callable(callbacks) \
            or not isinstance(callbacks, Sequence):
        raise TypeError("callbacks must be a list of Callback objects or callables "
                        f"fn(trainer, record), got {type(callbacks).__name__}.")
    if criterion is not None and not isinstance(criterion, Criterion):
        raise TypeError(f"criterion must be a braintask.Criterion, e.g. Criterion("
                        f"'val_decision_acc', at_least=0.9), got {type(criterion).__name__}.")
    user = [c if isinstance(c, Callback) else FunctionCallback(c) for c in callbacks]
    adders = [c for c in user if c.adds]
    first: list[Callback] = [c for c in user if isinstance(c, LearningRateScheduler)]
    if schedule and not first:
        first = [LearningRateScheduler(monitor)]
    first = adders + first
    if patience is not None:
        first.append(EarlyStopping(monitor, mode=mode, patience=patience,
                                   restore_best=restore_best))
    if stop_at:
        first.append(StopAt(stop_at))
    if criterion is not None:
        first.append(criterion)
    return first, [c for c in user if not isinstance(c, LearningRateScheduler) and not c.adds]
