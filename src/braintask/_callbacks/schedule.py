"""Stepping the optimizer's learning-rate schedule once per epoch."""

from __future__ import annotations

from .base import MonitoredCallback, TrainerLike

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler(MonitoredCallback):
    """Step the optimizer's braintools scheduler once per epoch.

    Added by ``Trainer.fit`` automatically when the optimizer's rate can
    change (a scheduler other than a constant rate); pass one yourself to choose
    the metric that ``ReduceLROnPlateau`` watches (default ``val_loss``, else
    ``test_loss``, else ``train_loss``). Each record's ``lr`` is the rate
    used during that epoch.
    """

    def __init__(self, monitor: str | None = None) -> None:
        super().__init__(monitor)

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        trainer.step_schedule(record[self._monitor])
