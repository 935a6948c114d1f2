"""The one fit loop of :class:`braintask.Trainer` and :class:`braintask.MultiSeedTrainer`.

A trainer hands the loop its per-copy views (what callbacks see, one per model:
the Trainer itself, or one per copy) and four operations: put a dataset where
its programs read it, evaluate the untrained copies, train one epoch of the
active copies, and undo a failed epoch. The loop does the rest, the same way
for both: checks the data (a fixed dataset, or a :class:`braintask.TrialSource`
of fresh trials per epoch, drawn in the background while the previous epoch
trains), warns when held-out trials copy training trials, records each epoch
(exact epoch metrics, updates so far, learning rate, time), runs the
callbacks, saves checkpoints and stops each copy on its own.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, Sequence

import brainstate
import numpy as np

from .._callbacks.base import TrainerLike
from .._callbacks.order import FitCallbacks
from .._checks import check_int
from .._data.dataset import TaskDataset
from .._data.sources import TrialSource
from .._distributed import is_main, to_host
from .._engine.feed import combine_stats
from .._engine.programs import Engine
from .._engine.silent import warn_if_silent
from .._engine.task import check_held_out_copies
from .._errors import TrainingDiverged
from .._history import History

__all__ = ["FitTarget", "FitView", "EpochResult", "Trials", "TrainData", "run_fit",
           "progress_bar", "diverged"]

#: One set of trials, as a fit or an evaluation accepts it: a dataset, or an
#: ``(inputs, targets)`` pair of batch-major arrays.
Trials = TaskDataset | Sequence[Any]
#: A fit's training data: one set of trials, or a source of fresh trials every epoch.
TrainData = Trials | TrialSource


class FitView(TrainerLike, Protocol):
    """One copy as the fit loop drives it: what its callbacks see, and the step
    that appends an epoch's record."""

    def _advance(self, record: dict) -> None: ...


#: One copy's epoch: ``(stats per minibatch, finite flags, held-out stats, n_steps)``.
EpochResult = tuple[Any, Any, Any, int]


class FitTarget(Protocol):
    """What a trainer gives the fit loop: :class:`braintask.Trainer` (one copy)
    and :class:`braintask.MultiSeedTrainer` (its copies' states stacked) both
    satisfy it, and :func:`run_fit` uses nothing else of them."""

    engine: Engine  # the compiled programs (of every copy, stacked, for copies)
    progress: bool | None  # the tqdm bar: True, False, or None (terminal or notebook)
    batch_size: int  # trials per minibatch, checked once when the trainer is built
    metric_names: list[str]  # the record keys of the current fit, set by the loop

    @property
    def copies(self) -> list[dict]:  # {"seed": ..., "lr": ...} per copy
        ...

    def save(self, path: str | os.PathLike) -> str:  # every copy, in one file
        ...

    def _views(self) -> Sequence[FitView]:  # what each copy's callbacks see
        ...

    def _place(self, data: TaskDataset) -> dict:  # a dataset where the programs read it
        ...

    def _initial(self, data: dict, n: int, held: dict) -> list[dict]:  # untrained metrics
        ...

    def _train_epoch(self, data: dict, n: int, held: dict,
                     active: np.ndarray) -> list[EpochResult]:  # one per active copy
        ...

    def _undo_epoch(self) -> None:  # back to the weights from before a diverged epoch
        ...

    def _begin(self) -> None:  # before the first program of a fit
        ...

    def _end(self) -> None:  # after the last, also after an error
        ...

    def _check_processes_agree(self, train: TaskDataset, held: dict) -> None:
        ...


def _show_progress() -> bool:
    """A bar by default on a terminal, and in a Jupyter kernel that can draw widgets."""
    if sys.stderr.isatty():
        return True
    shell = sys.modules.get("IPython")
    try:
        in_kernel = shell is not None and "IPKernelApp" in shell.get_ipython().config
    except Exception:
        return False
    import importlib.util

    return in_kernel and importlib.util.find_spec("ipywidgets") is not None


def progress_bar(progress: bool | None, total: int, desc: str) -> Any:
    """A tqdm bar over epochs (``tqdm.auto``: a widget in notebooks); ``progress=None``
    shows it on a terminal or in Jupyter. Of several processes, only process 0 shows it."""
    disable = ((not _show_progress()) if progress is None else not progress) or not is_main()
    if disable:  # plain tqdm: tqdm.auto warns on import in a kernel without ipywidgets
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="epoch", disable=disable, leave=False)


def diverged(finite: np.ndarray, epoch: int, history: History, n_steps: int,
             who: str = "") -> TrainingDiverged:
    step = int(np.argmin(finite)) + 1
    return TrainingDiverged(
        f"{who}the training loss or a gradient became NaN/inf at epoch {epoch}, minibatch "
        f"{step} of {n_steps}. Training stopped; the model keeps the weights from before "
        f"that minibatch. Lower the learning rate, clip gradients (e.g. "
        f"braintools.optim.Adam(lr=..., grad_clip_norm=1.0)), or check the inputs.",
        epoch=epoch, step=step, history=history)


class _EpochData:
    """The training data of each epoch: a fixed dataset placed once, or a source's
    trials, the next epoch's drawn and placed on a background thread while the
    current one trains (none past ``end``, the first epoch this fit does not train)."""

    def __init__(self, target: FitTarget, source: Any, first: TaskDataset,
                 first_epoch: int, end: int) -> None:
        self.target, self.source, self.n, self.end = target, source, first.n_samples, end
        # brainstate's environment (dt, ...) is per thread: the background draws see
        # the one the fit was called in
        self._environ = dict(brainstate.environ.all())
        self._current = (first_epoch, target._place(first))
        self._pool = ThreadPoolExecutor(1) if source is not None else None
        self._next: tuple[int, Future] | None = None

    def _draw(self, epoch: int) -> dict:
        with brainstate.environ.context(**self._environ):
            trials = self.target.engine.check_data(self.source.trials(epoch),
                                                   f"train trials of epoch {epoch}")
        return self.target._place(trials)

    def get(self, epoch: int) -> dict:
        if self.source is None or self._current[0] == epoch:
            data = self._current[1]
        elif self._next is not None and self._next[0] == epoch:
            data = self._next[1].result()
        else:
            data = self._draw(epoch)
        self._current = (epoch, data)
        if (self._pool is not None and epoch + 1 < self.end
                and (self._next is None or self._next[0] != epoch + 1)):
            self._next = (epoch + 1, self._pool.submit(self._draw, epoch + 1))
        return data

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _first_trials(target: FitTarget, train: Any, epoch: int) -> tuple[Any, TaskDataset]:
    """``(source or None, checked first training set)``."""
    if hasattr(train, "trials") and hasattr(train, "n_trials"):  # a TrialSource
        return train, target.engine.check_data(train.trials(epoch), f"train trials of epoch {epoch}")
    return None, target.engine.check_data(train, "train")


def run_fit(target: FitTarget, train: Any, held_sets: dict, *, epochs: int,
            callbacks: Sequence[FitCallbacks], checkpoint: str | os.PathLike | None = None,
            desc: str = "epochs") -> None:
    """Train every active copy of ``target`` for up to ``epochs`` epochs.

    ``callbacks[k]`` are copy ``k``'s ``(before_save, after_save)`` callbacks
    (:func:`braintask._callbacks.order.fit_callbacks`). After each epoch every
    copy's first group runs, then ``checkpoint`` (a path) saves every copy,
    then every copy's second group (and the file is written again if one of
    those stopped a copy). The copies' views carry ``stop_training``; the loop
    ends when every copy has stopped.
    """
    epochs = check_int("epochs", epochs, 1)
    views = target._views()
    active = np.array([not v.stop_training for v in views])
    epoch = min(v.epoch for v, a in zip(views, active) if a) if active.any() else 0
    source, first = _first_trials(target, train, epoch)
    spec = target.engine.spec
    assert spec is not None  # fixed by check_data in _first_trials
    held_sets = spec.check_sets(first, held_sets, target.batch_size)
    check_held_out_copies(first, held_sets, stacklevel=4)
    target.metric_names = _metric_names(spec.metric_names(list(held_sets)), callbacks)
    target._check_processes_agree(first, held_sets)
    for view in views:
        view.history.chance = spec.chance
    data = _EpochData(target, source, first, epoch, end=epoch + epochs)
    held = {k: target.engine.feeder.to_device(d) for k, d in held_sets.items()}
    target._begin()
    try:
        initial = target._initial(data.get(epoch), data.n, held)
        for view, stats in zip(views, initial):
            for name, values in stats.items():
                view.history.initial.update(
                    {f"{name}_{m}": float(np.asarray(values[m][0])) for m in spec.stat_names()})
        for view, (before, after) in zip(views, callbacks):
            view.history.stop_reason = ""
            for cb in before + after:
                cb.on_fit_start(view)
        silent = np.zeros(len(views), bool)  # warned already in this fit
        with progress_bar(target.progress, epochs, desc) as bar:
            for _ in range(epochs):
                if not active.any():
                    break
                _one_epoch(target, views, data, held, active, callbacks, bar, silent,
                           checkpoint)
                active &= np.array([not v.stop_training for v in views])
        for view, (before, after) in zip(views, callbacks):
            for cb in before + after:
                cb.on_fit_end(view)
    finally:
        target._end()
        data.close()


def _metric_names(built_in: list[str], callbacks: Sequence[FitCallbacks]) -> list[str]:
    """The record keys of a fit: the trainer's metrics, then those its callbacks
    declare they add (``Callback.adds``)."""
    added: list[str] = []
    for before, after in callbacks[:1]:  # every copy has the same kinds of callbacks
        for cb in before + after:
            for key in cb.adds:
                if not isinstance(key, str) or key in built_in or key in added:
                    raise ValueError(f"{type(cb).__name__}.adds names {key!r}, which is not "
                                     f"a new record key (the trainer records {built_in}).")
                added.append(key)
    return built_in + added


def _one_epoch(target: FitTarget, views: Sequence[FitView], data: _EpochData, held: dict,
               active: np.ndarray, callbacks: Sequence[FitCallbacks], bar: Any,
               silent: np.ndarray, checkpoint: str | os.PathLike | None) -> None:
    """Train the active copies one epoch; record it and run their callbacks (and warn,
    once per fit and copy, when every gradient was zero: ``silent`` marks those warned)."""
    spec, ks = target.engine.spec, [int(k) for k in np.flatnonzero(active)]
    assert spec is not None  # fixed by check_data before the first epoch
    t0 = time.perf_counter()
    epoch = views[ks[0]].epoch
    lrs = target.engine.schedule.current(len(views))
    results = to_host(target._train_epoch(data.get(epoch), data.n, held, active))
    elapsed = (time.perf_counter() - t0) / len(ks)
    for k, (stats, finite, held_stats, n_steps) in zip(ks, results):
        finite = np.asarray(finite)
        if not finite.all():
            target._undo_epoch()
            who = "" if len(views) == 1 else f"copy {target.copies[k]}: "
            raise diverged(finite, views[k].epoch + 1, views[k].history, n_steps, who)
    records: dict[int, dict[str, Any]] = {}
    for k, (stats, _, held_stats, n_steps) in zip(ks, results):
        view = views[k]
        who = "" if len(views) == 1 else f"copy {target.copies[k]}: "
        silent[k] = warn_if_silent(stats, target.engine.grad_names, view.epoch + 1, who,
                                   warned=silent[k])
        past = view.history.records
        updates = (past[-1].get("updates", 0) if past else 0) + n_steps
        records[k] = {"epoch": view.epoch + 1, **spec.record(stats, held_stats, combine_stats),
                      "updates": int(updates), "lr": lrs[k], "time": elapsed}
        view._advance(records[k])
        for cb in callbacks[k][0]:
            cb.on_epoch_end(view, records[k])
            missing = [key for key in cb.adds if key not in records[k]]
            if missing:
                raise ValueError(f"{type(cb).__name__} declares it adds {missing} to the "
                                 f"record (Callback.adds) but did not add them at epoch "
                                 f"{records[k]['epoch']}.")
    if checkpoint is not None:
        target.save(checkpoint)
    stopped = [v.stop_training for v in views]
    for k in ks:
        for cb in callbacks[k][1]:
            cb.on_epoch_end(views[k], records[k])
    if checkpoint is not None and stopped != [v.stop_training for v in views]:
        target.save(checkpoint)  # a callback of the user stopped a copy: keep that too
    bar.update(1)
    if len(views) == 1:
        record = views[0].history.records[-1]
        bar.set_postfix({k: f"{record[k]:.3f}" for k in ("train_loss", "val_acc", "test_acc")
                         if k in record})
