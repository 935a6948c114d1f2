"""Loggers: every epoch's record appended to a CSV or JSON-lines file, or handed to
any ``braintools.trainer`` logger (TensorBoard, CSV, W&B, MLflow, ...)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Any

from .._distributed import is_main
from .base import Callback, TrainerLike

__all__ = ["CSVLogger", "JSONLinesLogger", "BraintoolsLogger"]


class _FileLogger(Callback):
    """Appends one line per epoch and syncs it, so a killed run keeps its log; at
    the start of a fit the file is rewritten from the History, so after a resume
    the log holds exactly the epochs the History holds. Of several processes
    training one model, process 0 writes (their Histories are the same)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path, got {type(path).__name__}.")
        self.path = os.fspath(path)

    def _format(self, records: list[dict], header: bool = True) -> str:
        raise NotImplementedError

    def _append(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def on_fit_start(self, trainer: TrainerLike) -> None:
        if not is_main():
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self._format(trainer.history.records))
        os.replace(tmp, self.path)

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        if is_main():
            self._append(self._format([record], header=not os.path.getsize(self.path)))


class CSVLogger(_FileLogger):
    """Write every epoch's record as a row of a CSV file (header: the record's keys).

    Examples
    --------
    >>> import braintask
    >>> log = braintask.CSVLogger("training_log.csv")
    """

    def _format(self, records: list[dict], header: bool = True,
                columns: list[str] | None = None) -> str:
        if not records:
            return ""
        columns = columns or list(dict.fromkeys(k for r in records for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        if header:
            writer.writeheader()
        writer.writerows(records)
        return buf.getvalue()

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        if not is_main():
            return
        header = self._header() if os.path.getsize(self.path) else None
        if header is not None and not set(record) <= set(header):
            self.on_fit_start(trainer)  # new columns: rewrite from the History
        else:  # epochs without a column (e.g. older records) leave its cell empty
            self._append(self._format([record], header=header is None, columns=header))

    def _header(self) -> list[str]:
        with open(self.path, encoding="utf-8") as f:
            return next(csv.reader(f), [])


class JSONLinesLogger(_FileLogger):
    """Write every epoch's record as one JSON object per line."""

    def _format(self, records: list[dict], header: bool = True) -> str:
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

    def __init__(self, logger: Any) -> None:
        if not hasattr(logger, "log_metrics") or not hasattr(logger, "finalize"):
            raise TypeError(f"logger must be a braintools.trainer logger (with log_metrics "
                            f"and finalize), got {type(logger).__name__}.")
        self.logger = logger

    def on_fit_start(self, trainer: TrainerLike) -> None:
        params = {k: getattr(trainer, k) for k in ("batch_size", "seed") if hasattr(trainer, k)}
        if params and hasattr(self.logger, "log_hyperparams") and is_main():
            self.logger.log_hyperparams(params)

    def on_epoch_end(self, trainer: TrainerLike, record: dict) -> None:
        if is_main():
            self.logger.log_metrics({k: v for k, v in record.items() if k != "epoch"},
                                    step=record["epoch"])

    def on_fit_end(self, trainer: TrainerLike) -> None:
        if is_main():
            self.logger.finalize("success")
