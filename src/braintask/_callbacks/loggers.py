"""Callbacks: small objects that act at the start of a fit, after each epoch, and at its end.

A callback sees the trainer (a ``TrainerLike``: a :class:`braintask.Trainer`, or
one copy of a :class:`braintask.MultiSeedTrainer`) and the epoch's record. It may
set ``trainer.stop_training = True`` to end the fit after this epoch. Built in:
:class:`EarlyStopping`, :class:`StopAt`, :class:`Checkpoint`, :class:`Criterion`,
:class:`LearningRateScheduler` (added automatically), :class:`CSVLogger`,
:class:`JSONLinesLogger` and :class:`BraintoolsLogger` (any ``braintools.trainer``
logger: TensorBoard, CSV, W&B, MLflow, ...).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Mapping

from .._checks import resolve_mode
from .criterion import Criterion
from .._distributed import is_main
from .base import (Callback, Checkpoint, EarlyStopping, LearningRateScheduler,
                       MonitoredCallback, TrainerLike)

__all__ = ["TrainerLike", "Callback", "MonitoredCallback", "EarlyStopping", "StopAt",
           "Checkpoint", "LearningRateScheduler", "Criterion", "CSVLogger", "JSONLinesLogger",
           "BraintoolsLogger", "FunctionCallback", "as_callbacks"]


class StopAt(Callback):
    """Stop once every listed metric reaches its target, e.g. ``StopAt({"test_acc": 1.0})``.

    ``mode`` (one string, or a dict per metric) says whether each must fall to
    (``"min"``) or rise to (``"max"``) its target; default from the names.
    """

    def __init__(self, targets: Mapping[str, float], mode: str | Mapping[str, str] | None = None):
        if not isinstance(targets, Mapping) or not targets:
            raise TypeError(f"targets must be a non-empty dict metric -> value, got {targets!r}.")
        self.targets = {str(k): float(v) for k, v in targets.items()}
        modes = mode if isinstance(mode, Mapping) else {k: mode for k in self.targets}
        self.modes = {k: resolve_mode(k, modes.get(k)) for k in self.targets}

    def on_fit_start(self, trainer):
        for key in self.targets:
            if key not in trainer.metric_names:
                raise ValueError(f"stop_at key {key!r} is not a recorded metric; "
                                 f"choose from {trainer.metric_names}.")

    def on_epoch_end(self, trainer, record):
        if all(record[k] <= v if self.modes[k] == "min" else record[k] >= v
               for k, v in self.targets.items()):
            trainer.stop_training = True
            trainer.history.stop_reason = f"reached {self.targets} at epoch {record['epoch']}"


class _FileLogger(Callback):
    """Appends one line per epoch and syncs it, so a killed run keeps its log; at
    the start of a fit the file is rewritten from the History, so after a resume
    the log holds exactly the epochs the History holds. Of several processes
    training one model, process 0 writes (their Histories are the same)."""

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path, got {type(path).__name__}.")
        self.path = os.fspath(path)

    def _format(self, records) -> str:
        raise NotImplementedError

    def _append(self, text: str):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def on_fit_start(self, trainer):
        if not is_main():
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self._format(trainer.history.records))
        os.replace(tmp, self.path)

    def on_epoch_end(self, trainer, record):
        if is_main():
            self._append(self._format([record], header=not os.path.getsize(self.path)))


class CSVLogger(_FileLogger):
    """Write every epoch's record as a row of a CSV file (header: the record's keys).

    Examples
    --------
    >>> import braintask
    >>> log = braintask.CSVLogger("training_log.csv")
    """

    def _format(self, records, header=True, columns=None) -> str:
        if not records:
            return ""
        columns = columns or list(dict.fromkeys(k for r in records for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        if header:
            writer.writeheader()
        writer.writerows(records)
        return buf.getvalue()

    def on_epoch_end(self, trainer, record):
        if not is_main():
            return
        header = self._header() if os.path.getsize(self.path) else None
        if header is not None and not set(record) <= set(header):
            self.on_fit_start(trainer)  # new columns: rewrite from the History
        else:  # epochs without a column (e.g. older records) leave its cell empty
            self._append(self._format([record], header=header is None, columns=header))

    def _header(self):
        with open(self.path, encoding="utf-8") as f:
            return next(csv.reader(f), [])


class JSONLinesLogger(_FileLogger):
    """Write every epoch's record as one JSON object per line."""

    def _format(self, records, header=True) -> str:
        return "".join(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                   for k, v in r.items()}) + "\n" for r in records)


class BraintoolsLogger(Callback):
    """Send every epoch's record to a ``braintools.trainer`` logger.

    Any of braintools' loggers works (``CSVLogger``, ``TensorBoardLogger``,
    ``WandBLogger``, ``MLFlowLogger``, ``CompositeLogger``, ...): the record's
    metrics go to ``log_metrics`` with the epoch as the step, the trainer's
    batch size and seed to ``log_hyperparams`` at the start, and
    ``finalize("success")`` is called at the end of the fit. Of several
    processes training one model, process 0 logs (their records are the same).

    Examples
    --------
    >>> import braintask, braintools
    >>> log = braintask.BraintoolsLogger(braintools.trainer.CSVLogger("logs"))
    """

    def __init__(self, logger):
        if not hasattr(logger, "log_metrics") or not hasattr(logger, "finalize"):
            raise TypeError(f"logger must be a braintools.trainer logger (with log_metrics "
                            f"and finalize), got {type(logger).__name__}.")
        self.logger = logger

    def on_fit_start(self, trainer):
        params = {k: getattr(trainer, k) for k in ("batch_size", "seed") if hasattr(trainer, k)}
        if params and hasattr(self.logger, "log_hyperparams") and is_main():
            self.logger.log_hyperparams(params)

    def on_epoch_end(self, trainer, record):
        if is_main():
            self.logger.log_metrics({k: v for k, v in record.items() if k != "epoch"},
                                    step=record["epoch"])

    def on_fit_end(self, trainer):
        if is_main():
            self.logger.finalize("success")


class FunctionCallback(Callback):
    """A plain ``fn(trainer, record)`` called after every epoch."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"callbacks must be Callback objects or callables "
                            f"fn(trainer, record), got {fn!r}.")
        self.fn = fn

    def on_epoch_end(self, trainer, record):
        self.fn(trainer, record)


def as_callbacks(callbacks, *, stop_at=None, patience=None, monitor=None, mode=None,
                 restore_best=True, checkpoint=None, schedule=True) -> list[Callback]:
    """The callbacks of one fit, in the order they run: the learning-rate schedule,
    early stopping, the checkpoint (before user callbacks, so a failing callback
    loses nothing), the user's callbacks, then ``stop_at``."""
    if isinstance(callbacks, (Callback, str, bytes)) or callable(callbacks):
        raise TypeError("callbacks must be a list of Callback objects or callables.")
    user = [c if isinstance(c, Callback) else FunctionCallback(c) for c in list(callbacks)]
    first = [c for c in user if isinstance(c, LearningRateScheduler)]
    if schedule and not first:
        first = [LearningRateScheduler(monitor)]
    if patience is not None:
        first.append(EarlyStopping(monitor, mode=mode, patience=patience,
                                   restore_best=restore_best))
    if checkpoint is not None:
        first.append(Checkpoint(checkpoint))
    last = [] if not stop_at else [StopAt(stop_at)]
    return first + [c for c in user if not isinstance(c, LearningRateScheduler)] + last
