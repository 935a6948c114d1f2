"""What a callback sees (``TrainerLike``), the base class, the base of callbacks that
watch one metric, and the wrapper of a plain function."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from .._checks import check_choice, is_better, resolve_mode
from .._history import History

__all__ = ["TrainerLike", "Callback", "MonitoredCallback", "FunctionCallback"]


@runtime_checkable
class TrainerLike(Protocol):
    """What a callback receives: a ``Trainer``, or one copy of a ``MultiSeedTrainer``."""

    history: History  # every epoch trained so far
    epoch: int  # epochs trained so far
    metric_names: list  # the record keys of the current fit
    stop_training: bool  # set True to end the fit after this epoch

    def get_weights(self) -> list: ...

    def set_weights(self, weights: list) -> None: ...

    def step_schedule(self, metric: float | None = None) -> None: ...

    def save(self, path: str | os.PathLike[str]) -> str: ...


class Callback:
    """Base class: override any of the three hooks.

    Examples
    --------
    >>> import braintask
    >>> class PrintLoss(braintask.Callback):
    ...     def on_epoch_end(self, trainer, record):
    ...         print(f"epoch {record['epoch']}: loss {record['train_loss']:.3f}")
    """

    #: Record keys this callback adds to every epoch's record (``record[key] = ...`` in
    #: :meth:`on_epoch_end`). Declared, they are recorded metrics: a
    #: :class:`braintask.Criterion`, early stopping or ``stop_at`` may watch them, and
    #: the callback runs before the built-in ones, so they see its values that epoch.
    adds: tuple[str, ...] = ()

    def on_fit_start(self, trainer: TrainerLike) -> None:
        """Before the first epoch of ``fit`` (``trainer.metric_names`` is set)."""

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        """After each epoch, once ``record`` is in ``trainer.history``."""

    def on_fit_end(self, trainer: TrainerLike) -> None:
        """After the last epoch of ``fit`` (not after an exception)."""


class MonitoredCallback(Callback):
    """A callback that watches one recorded metric in one direction.

    ``monitor`` is checked against ``trainer.metric_names`` when the fit
    starts (default: the first of ``default_monitors`` that is recorded), and
    ``mode`` (``"min"`` or ``"max"``) defaults to :func:`braintask.default_mode`
    of its name. ``best`` is the best value seen, better by more than
    ``min_delta`` than the one before it.
    """

    default_monitors: tuple = ("val_loss", "test_loss", "train_loss")

    def __init__(self, monitor: str | None = None, mode: str | None = None,
                 min_delta: float = 0.0) -> None:
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name (str) or None, got {monitor!r}.")
        if not isinstance(min_delta, (int, float)) or isinstance(min_delta, bool) or min_delta < 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}.")
        self.monitor = monitor
        self.mode = None if mode is None else check_choice("mode", mode, ("min", "max"))
        self.min_delta = float(min_delta)
        self.best: float | None = None

    def on_fit_start(self, trainer: TrainerLike) -> None:
        self._monitor = self._check_monitor(trainer)
        self._mode = self.resolve_mode()
        self.best = None

    def _check_monitor(self, trainer: TrainerLike) -> str:
        """The monitored metric of this fit, or a ValueError listing the recorded ones."""
        names = list(trainer.metric_names)
        if self.monitor is None:
            found = [k for k in self.default_monitors if k in names]
            if not found:
                raise ValueError(f"{type(self).__name__} found none of {self.default_monitors} "
                                 f"among the recorded metrics {names}; pass monitor=.")
            return found[0]
        if self.monitor not in names:
            raise ValueError(f"monitor={self.monitor!r} is not a recorded metric; "
                             f"choose from {names}.")
        return self.monitor

    def resolve_mode(self) -> str:
        """``mode`` if given, else the direction guessed from the monitored name."""
        return resolve_mode(self._monitor, self.mode)

    def is_better(self, value: float) -> bool:
        """Whether ``value`` beats ``best`` by more than ``min_delta``."""
        return is_better(value, self.best, self._mode, self.min_delta)

    def best_in(self, records: Iterable[dict]) -> tuple[float | None, int | None]:
        """``(best value, its epoch)`` over ``records`` that hold the monitored
        metric, the first of equal values (``(None, None)`` if none does)."""
        best, epoch = None, None
        for r in records:
            value = r.get(self._monitor)
            if value is not None and is_better(value, best, self._mode, self.min_delta):
                best, epoch = value, r["epoch"]
        return best, epoch


class FunctionCallback(Callback):
    """A plain ``fn(trainer, record)`` called after every epoch."""

    def __init__(self, fn: Callable[[TrainerLike, dict], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"callbacks must be Callback objects or callables "
                            f"fn(trainer, record), got {fn!r}.")
        self.fn = fn

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        self.fn(trainer, record)
