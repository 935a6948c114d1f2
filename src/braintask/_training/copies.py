"""The copies of a :class:`braintask.MultiSeedTrainer`: their arguments, and each
copy as its callbacks see it while the states of all copies are stacked."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int
from .._distributed import check_agree, data_facts, fingerprint, spans_processes
from .._engine.feed import epoch_order

if TYPE_CHECKING:
    from .._data.dataset import TaskDataset
    from .multiseed import MultiSeedTrainer
    from .trainer import Trainer

__all__ = ["CopyView", "check_lrs", "check_seeds", "check_same_structure", "check_copies_agree", "epoch_plans"]


def check_lrs(lrs: Sequence[float] | None) -> list[float | None]:
    if lrs is None:
        return [None]
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not len(lrs):
        raise TypeError(f"lrs must be a non-empty sequence of learning rates, got {lrs!r}.")
    out: list[float | None] = []
    for lr in lrs:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lrs must hold positive numbers, got {lr!r}.")
        out.append(float(lr))
    if len(set(out)) != len(out):
        raise ValueError(f"lrs must be distinct, got {out}.")
    return out


def check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not len(seeds):
        raise TypeError(f"seeds must be a non-empty sequence of ints, got {seeds!r}.")
    seeds = [check_int("seeds[i]", s, 0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}.")
    return seeds


class CopyView:
    """One copy as its callbacks see it (a ``TrainerLike``), while the states of
    all copies are stacked."""

    def __init__(self, owner: MultiSeedTrainer, k: int) -> None:
        self.owner, self.k = owner, k
        self.trainer = owner.trainers[k]
        self.stop_training = False

    history = property(lambda self: self.trainer.history)
    epoch = property(lambda self: self.trainer.epoch)
    metric_names = property(lambda self: self.owner.metric_names)

    def _advance(self, record: dict) -> None:
        self.trainer._advance(record)

    def get_weights(self) -> list:
        return [jax.tree.map(lambda v: jnp.copy(v[self.k]), s.value)
                for s in self.owner.engine.param_states]

    def set_weights(self, weights: list) -> None:
        for s, w in zip(self.owner.engine.param_states, weights):
            s.value = jax.tree.map(lambda v, x: v.at[self.k].set(x), s.value, w)

    def step_schedule(self, metric: float | None = None) -> None:
        # The copy's own scheduler steps on its slice of the stacked schedule states.
        carrier = self.owner.engine.schedule.states
        own = self.trainer.engine.schedule.states
        stacked = [s.value for s in carrier]
        for s, v in zip(own, stacked):
            s.value = jax.tree.map(lambda a: a[self.k], v)
        self.trainer.engine.schedule.step(metric)
        for s, v, n in zip(carrier, stacked, [s.value for s in own]):
            s.value = jax.tree.map(lambda a, b: a.at[self.k].set(b), v, n)

    def save(self, path: str | os.PathLike[str]) -> NoReturn:
        raise TypeError("a MultiSeedTrainer saves all copies at once: "
                        "fit(..., checkpoint=path) or MultiSeedTrainer.save(path).")


def check_same_structure(copies: list[dict], trainers: list[Trainer]) -> None:
    """Every copy must have the weights and optimizer states of the first."""
    def shapes(t: Trainer) -> list[list[Any]]:  # a weight with units: its shape and its unit
        return [jax.tree.leaves(jax.tree.map(
            lambda v: (np.shape(v), str(u.get_unit(v))), s.value,
            is_leaf=lambda v: isinstance(v, u.Quantity))) for s in t.engine.train_states]
    ref = shapes(trainers[0])
    for c, t in zip(copies[1:], trainers[1:]):
        if shapes(t) != ref:
            raise ValueError(f"the copy {c} has weights or optimizer states of other shapes "
                             "than the first: build_model and build_optimizer must build the "
                             "same architecture on every call.")


def check_copies_agree(owner: MultiSeedTrainer, train: TaskDataset, held: dict) -> None:
    """With copies spread over several processes, each process must build the
    same copies on the same data (a clear error in every process otherwise)."""
    if not spans_processes(owner.engine.feeder.copy_sharding):
        return
    facts = {"copies": fingerprint(np.array([c["seed"] for c in owner.copies]),
                                   np.array([c["lr"] or 0.0 for c in owner.copies])),
             "batch_size": owner.batch_size, "drop_last": owner.drop_last,
             "epochs": fingerprint(np.array([t.epoch for t in owner.trainers])),
             "stopped": fingerprint(np.array(owner.stopped)),
             "weights": fingerprint(*[s.value for t in owner.trainers
                                      for s in t.engine.param_states])}
    facts.update(data_facts(train, held))
    check_agree(facts, "MultiSeedTrainer.fit")


def epoch_plans(trainers: Sequence[Trainer], n: int, batch_size: int,
                drop_last: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Every copy's shuffle for its next epoch: orders (K, n_batches, B) and tails."""
    plans = [epoch_order(t.seed, t.epoch, n, batch_size) for t in trainers]
    orders = np.stack([p[0] for p in plans])
    tails = None if drop_last or not len(plans[0][1]) else np.stack([p[1] for p in plans])
    return orders, tails
