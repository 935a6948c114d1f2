"""Training to a criterion: stop once a metric has met a bound for some epochs,
and record when (epoch and optimizer updates) in the History."""

from __future__ import annotations

from .._checks import check_int
from .._history import History
from .base import MonitoredCallback, TrainerLike

__all__ = ["Criterion"]


class Criterion(MonitoredCallback):
    """Train to a criterion: stop once a metric has met a bound in ``for_epochs``
    consecutive epochs; ``fit(..., epochs=n)`` is then the cap.

    Parameters
    ----------
    monitor : str, optional
        The metric. Default with ``at_least``: the first recorded of
        ``val_decision_acc``, ``val_acc``, ``test_decision_acc``, ``test_acc``,
        ``train_decision_acc``, ``train_acc``; with ``at_most`` the same order of
        ``decision_angular_error`` and ``loss``. Choose on validation
        (``fit(train, test, val=...)``), never on the test set you report: a test
        score read at the epoch it chose is biased upwards.
    at_least : float
        Met when the value is at least this (accuracies).
    at_most : float
        Met when the value is at most this (losses, errors). Give exactly one
        of ``at_least`` and ``at_most``.
    for_epochs : int
        Consecutive epochs that must meet the bound, >= 1.

    Notes
    -----
    When a fit starts, ``history.criterion`` is set to ``{"monitor", "bound",
    "mode", "for_epochs", "epoch", "updates"}``, ``mode`` being ``"max"`` for
    ``at_least`` and ``"min"`` for ``at_most``. ``epoch`` is the epoch that
    completed the first run of ``for_epochs`` epochs meeting the bound and
    ``updates`` that record's ``"updates"`` (optimizer updates so far; None if
    not recorded); both stay None if the bound is never met, and
    ``stop_reason`` then says so. Counting goes on from the History, so a second
    fit, or one resumed from a checkpoint, stops where one long fit would.

    Examples
    --------
    >>> import braintask
    >>> criterion = braintask.Criterion("val_decision_acc", at_least=0.9, for_epochs=2)
    >>> criterion.meets(0.95), criterion.meets(0.85)
    (True, False)
    """

    def __init__(self, monitor: str | None = None, at_least: float | None = None, *,
                 at_most: float | None = None, for_epochs: int = 1) -> None:
        if (at_least is None) == (at_most is None):
            raise ValueError(f"give exactly one of at_least (value >= bound) and at_most "
                             f"(value <= bound), got at_least={at_least!r}, at_most={at_most!r}.")
        bound, name = (at_least, "at_least") if at_most is None else (at_most, "at_most")
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise TypeError(f"{name} must be a number, got {bound!r}.")
        if bound != bound:
            raise ValueError(f"{name} must be a number, not NaN.")
        super().__init__(monitor, "max" if at_most is None else "min")
        self.bound = float(bound)
        self.for_epochs = check_int("for_epochs", for_epochs, 1)
        stems = ("decision_acc", "acc") if at_most is None else ("decision_angular_error", "loss")
        self.default_monitors = tuple(f"{p}_{s}" for p in ("val", "test", "train") for s in stems)

    def meets(self, value: float) -> bool:
        """Whether one epoch's value meets the bound."""
        return value >= self.bound if self.mode == "max" else value <= self.bound

    def _describe(self) -> str:
        sign = ">=" if self.mode == "max" else "<="
        return (f"{self._monitor} {sign} {self.bound:g} in {self.for_epochs} consecutive "
                f"epoch{'s' if self.for_epochs > 1 else ''}")

    def on_fit_start(self, trainer: TrainerLike) -> None:
        super().on_fit_start(trainer)
        self.streak = 0
        met: dict | None = None
        for r in trainer.history.records:
            self._count(r.get(self._monitor))
            if met is None and self.streak >= self.for_epochs:
                met = r
        trainer.history.criterion = {"monitor": self._monitor, "bound": self.bound,
                                     "mode": self.mode, "for_epochs": self.for_epochs,
                                     "epoch": None, "updates": None}
        if met is not None:
            self._record(trainer.history, met)

    def _count(self, value: float | None) -> None:
        self.streak = self.streak + 1 if value is not None and self.meets(value) else 0

    def _record(self, history: History, record: dict) -> None:
        assert history.criterion is not None  # set by on_fit_start
        history.criterion.update(epoch=record["epoch"], updates=record.get("updates"))

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        self._count(record[self._monitor])
        if self.streak < self.for_epochs:
            return
        history = trainer.history
        assert history.criterion is not None  # set by on_fit_start
        if history.criterion["epoch"] is None:
            self._record(history, record)
        trainer.stop_training = True
        updates = record.get("updates")
        history.stop_reason = (f"criterion met: {self._describe()} at epoch {record['epoch']}"
                               + ("" if updates is None else f" ({updates} updates)"))

    def on_fit_end(self, trainer: TrainerLike) -> None:
        history = trainer.history
        assert history.criterion is not None  # set by on_fit_start
        if history.criterion["epoch"] is None and not history.stop_reason:
            history.stop_reason = (f"criterion never met: {self._describe()} did not happen "
                                   f"in {len(history)} epochs")
