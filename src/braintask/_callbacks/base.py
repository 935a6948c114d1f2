"""What a callback sees, and the callbacks that watch one metric: early stopping,
best checkpoints and the learning-rate schedule (training to a criterion is in
``_criterion``)."""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from .._checks import check_choice, check_int, is_better, resolve_mode
from .._history import History

__all__ = ["TrainerLike", "Callback", "MonitoredCallback", "EarlyStopping", "Checkpoint",
           "LearningRateScheduler"]


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

    def save(self, path) -> str: ...


class Callback:
    """Base class: override any of the three hooks.

    Examples
    --------
    >>> import braintask
    >>> class PrintLoss(braintask.Callback):
    ...     def on_epoch_end(self, trainer, record):
    ...         print(f"epoch {record['epoch']}: loss {record['train_loss']:.3f}")
    """

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
                 min_delta: float = 0.0):
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

    def best_in(self, records) -> tuple[float | None, int | None]:
        """``(best value, its epoch)`` over ``records`` that hold the monitored
        metric, the first of equal values (``(None, None)`` if none does)."""
        best, epoch = None, None
        for r in records:
            value = r.get(self._monitor)
            if value is not None and is_better(value, best, self._mode, self.min_delta):
                best, epoch = value, r["epoch"]
        return best, epoch


class EarlyStopping(MonitoredCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, optional
        A recorded metric; default ``"val_loss"`` when the fit has a validation
        set, else ``"test_loss"``, else ``"train_loss"``. Stop on a validation
        split carved from the training data (``fit(train, test, val=...)``),
        not on the test set you report.
    mode : str, optional
        ``"min"`` if lower is better, ``"max"`` if higher is; default from the name
        (:func:`braintask.default_mode`).
    patience : int
        Epochs without improvement before stopping, >= 1.
    min_delta : float
        An improvement must beat the best value by more than this.
    restore_best : bool
        At the end of the fit, put back the weights of the best epoch.

    Examples
    --------
    >>> import braintask
    >>> stop = braintask.EarlyStopping("test_acc", mode="max", patience=3)
    """

    def __init__(self, monitor: str | None = None, *, mode: str | None = None,
                 patience: int = 5, min_delta: float = 0.0, restore_best: bool = True):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int("patience", patience, 1)
        self.restore_best = bool(restore_best)

    def on_fit_start(self, trainer):
        super().on_fit_start(trainer)
        self.wait, self.best_weights = 0, None
        history = trainer.history
        if history.best_epoch is not None and history.records:  # resumed: go on counting
            self.best = history.records[history.best_epoch - 1].get(self._monitor)
            self.wait = history.records[-1]["epoch"] - history.best_epoch

    def on_epoch_end(self, trainer, record):
        if self.is_better(record[self._monitor]):
            self.best, self.wait = record[self._monitor], 0
            trainer.history.best_epoch = record["epoch"]
            if self.restore_best:
                self.best_weights = trainer.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_training = True
            trainer.history.stop_reason = (
                f"{self._monitor} did not improve for {self.patience} epochs "
                f"(best at epoch {trainer.history.best_epoch})")

    def on_fit_end(self, trainer):
        if self.restore_best and self.best_weights is not None:
            trainer.set_weights(self.best_weights)


class Checkpoint(MonitoredCallback):
    """Save a checkpoint (weights, optimizer, schedule, RNG, History) during the fit.

    Parameters
    ----------
    path : str or path
        The file, rewritten atomically (a crash mid-save keeps the previous one).
    every : int
        With ``keep="last"``, save every ``every`` epochs.
    keep : str
        ``"last"``: the latest state; ``"best"``: the state of the best epoch by
        ``monitor``. The best is that of the whole History: a second ``fit``
        (or one after ``load``) saves only an epoch better than every earlier one.
    monitor, mode
        For ``keep="best"``, as in :class:`EarlyStopping`.
    """

    def __init__(self, path, *, every: int = 1, keep: str = "last",
                 monitor: str | None = None, mode: str | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path, got {type(path).__name__}.")
        super().__init__(monitor, mode)
        self.path = path
        self.every = check_int("every", every, 1)
        self.keep = check_choice("keep", keep, ("last", "best"))

    def on_fit_start(self, trainer):
        if self.keep == "best":
            super().on_fit_start(trainer)
            self.best, _ = self.best_in(trainer.history.records)

    def on_epoch_end(self, trainer, record):
        if self.keep == "last":
            if record["epoch"] % self.every == 0:
                trainer.save(self.path)
        elif self.is_better(record[self._monitor]):
            self.best = record[self._monitor]
            trainer.save(self.path)


class LearningRateScheduler(MonitoredCallback):
    """Step the optimizer's braintools scheduler once per epoch.

    Added by ``Trainer.fit`` automatically when the optimizer's rate can
    change (a scheduler other than a constant rate); pass one yourself to choose
    the metric that ``ReduceLROnPlateau`` watches (default ``val_loss``, else
    ``test_loss``, else ``train_loss``). Each record's ``lr`` is the rate
    used during that epoch.
    """

    def __init__(self, monitor: str | None = None):
        super().__init__(monitor)

    def on_epoch_end(self, trainer, record):
        trainer.step_schedule(record[self._monitor])

