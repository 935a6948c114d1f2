"""Saving and restoring trainers: one or many copies, one checkpoint format."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .format import named_params, read_checkpoint, restore_rng, restorer, snapshot, write_checkpoint
from .._errors import CheckpointError

if TYPE_CHECKING:
    from .._training.trainer import Trainer

__all__ = ["copy_snapshot", "save_copies", "load_copies"]


def copy_snapshot(trainer: Trainer, *, params: dict | None = None, opt: list | None = None,
                  lr: float | None = None) -> dict:
    """One trainer's snapshot; ``params``/``opt`` override its states' values (a
    copy's slice of stacked states)."""
    if params is None:
        params = {name: s.value for name, s in named_params(trainer.model).items()}
    if opt is None:
        opt = [s.value for s in trainer.engine.opt_states]
    return snapshot(params=params, opt_values=opt, epoch=trainer.epoch, seed=trainer.seed,
                    history=trainer.history, lr=lr)


def save_copies(path: str | os.PathLike[str], snapshots: list[dict],
                extra: dict | None = None) -> str:
    return write_checkpoint(path, snapshots, extra=extra)


def load_copies(path: str | os.PathLike[str], trainers: list[Trainer],
                lrs: list[float | None]) -> dict:
    """Restore every trainer from ``path`` (one saved copy each, in order), after
    checking them all: on a :class:`CheckpointError` nothing changes. Returns the
    checkpoint's ``extra`` fields."""
    raw = read_checkpoint(path)
    n = len(raw["copies"])
    if n != len(trainers):
        hint = ("(a MultiSeedTrainer's); load it with MultiSeedTrainer.load"
                if len(trainers) == 1 else f"; this MultiSeedTrainer has {len(trainers)}")
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} holds {n} "
                              f"{'models' if len(trainers) == 1 else 'copies'} {hint}.")
    applies = []
    for t, lr, saved in zip(trainers, lrs, raw["copies"]):
        if saved.get("lr") != lr:
            raise CheckpointError(f"checkpoint {os.fspath(path)!r} has a copy with lr="
                                  f"{saved.get('lr')}, this one has lr={lr}.")
        applies.append(restorer(path, saved, params=named_params(t.model),
                                opt_states=t.engine.opt_states, seed=t.seed))
    for apply, t, saved in zip(applies, trainers, raw["copies"]):
        apply()
        chance = t.history.chance
        t.epoch = int(saved["epoch"])
        t.history = saved["history"]
        t.history.chance = t.history.chance if chance is None else chance
    restore_rng(raw)
    return raw["extra"]
