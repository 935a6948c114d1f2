"""Stopping rules: no improvement for some epochs (early stopping), or every listed
metric at its target."""

from __future__ import annotations

from typing import Mapping

from .._checks import check_int, resolve_mode
from .base import Callback, MonitoredCallback, TrainerLike

__all__ = ["EarlyStopping", "StopAt"]


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

    best_weights: list | None  # the weights of the best epoch, for restore_best

    def __init__(self, monitor: str | None = None, *, mode: str | None = None,
                 patience: int = 5, min_delta: float = 0.0, restore_best: bool = True) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int("patience", patience, 1)
        self.restore_best = bool(restore_best)

    def on_fit_start(self, trainer: TrainerLike) -> None:
        super().on_fit_start(trainer)
        self.wait, self.best_weights = 0, None
        history = trainer.history
        if history.best_epoch is not None and history.records:  # resumed: go on counting
            self.best = history.records[history.best_epoch - 1].get(self._monitor)
            self.wait = history.records[-1]["epoch"] - history.best_epoch

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
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

    def on_fit_end(self, trainer: TrainerLike) -> None:
        if self.restore_best and self.best_weights is not None:
            trainer.set_weights(self.best_weights)


class StopAt(Callback):
    """Stop once every listed metric reaches its target, e.g. ``StopAt({"test_acc": 1.0})``.

    ``mode`` (one string, or a dict per metric) says whether each must fall to
    (``"min"``) or rise to (``"max"``) its target; default from the names.
    """

    def __init__(self, targets: Mapping[str, float],
                 mode: str | Mapping[str, str] | None = None) -> None:
        if not isinstance(targets, Mapping) or not targets:
            raise TypeError(f"targets must be a non-empty dict metric -> value, got {targets!r}.")
        self.targets = {str(k): float(v) for k, v in targets.items()}
        modes = mode if isinstance(mode, Mapping) else {k: mode for k in self.targets}
        self.modes = {k: resolve_mode(k, modes.get(k)) for k in self.targets}

    def on_fit_start(self, trainer: TrainerLike) -> None:
        for key in self.targets:
            if key not in trainer.metric_names:
                raise ValueError(f"stop_at key {key!r} is not a recorded metric; "
                                 f"choose from {trainer.metric_names}.")

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        if all(record[k] <= v if self.modes[k] == "min" else record[k] >= v
               for k, v in self.targets.items()):
            trainer.stop_training = True
            trainer.history.stop_reason = f"reached {self.targets} at epoch {record['epoch']}"
