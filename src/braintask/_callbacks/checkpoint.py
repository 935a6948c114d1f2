"""Saving checkpoints during a fit: the latest state, or the best by a metric."""

from __future__ import annotations

import os

from .._checks import check_choice, check_int
from .base import MonitoredCallback, TrainerLike

__all__ = ["Checkpoint"]


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

    def __init__(self, path: str | os.PathLike[str], *, every: int = 1, keep: str = "last",
                 monitor: str | None = None, mode: str | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path, got {type(path).__name__}.")
        super().__init__(monitor, mode)
        self.path = path
        self.every = check_int("every", every, 1)
        self.keep = check_choice("keep", keep, ("last", "best"))

    def on_fit_start(self, trainer: TrainerLike) -> None:
        if self.keep == "best":
            super().on_fit_start(trainer)
            self.best, _ = self.best_in(trainer.history.records)

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        if self.keep == "last":
            if record["epoch"] % self.every == 0:
                trainer.save(self.path)
        elif self.is_better(record[self._monitor]):
            self.best = record[self._monitor]
            trainer.save(self.path)
