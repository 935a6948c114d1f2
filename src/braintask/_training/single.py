"""The fit loop's view of a :class:`braintask.Trainer`: one model, whose states
the compiled programs train in place."""

from __future__ import annotations

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from .._distributed import check_agree, data_facts, fingerprint, process_count
from .._engine.feed import epoch_order

__all__ = ["SingleRun"]


class SingleRun:
    """What :func:`braintask._training.fitloop.run_fit` asks of a trainer, for one model."""

    def __init__(self, trainer):
        self.t = trainer

    engine = property(lambda self: self.t.engine)
    progress = property(lambda self: self.t.progress)
    copies = property(lambda self: [{"seed": self.t.seed, "lr": None}])

    @property
    def metric_names(self):
        return self.t.metric_names

    @metric_names.setter
    def metric_names(self, names):
        self.t.metric_names = names

    def save(self, path):
        return self.t.save(path)

    def _views(self) -> list:
        return [self.t]

    def _place(self, data) -> dict:
        # one device: the data sits on it and the program gathers each minibatch; a
        # mesh: each process hands its devices their share of every minibatch
        feeder = self.t.engine.feeder
        return feeder.to_host(data) if feeder.mesh is not None else feeder.to_device(data)

    def _undo_epoch(self) -> None:
        """Nothing to undo: the guarded steps kept the weights of the last finite one."""

    def _begin(self) -> None:
        """Nothing to prepare: the model's states are the ones the programs train."""

    _end = _begin

    def _run_epoch(self, data, n: int, held: dict, update: bool = True):
        """One epoch: ``(stats, finite, held_stats, n_steps)``. With ``update=False``
        (fused mode) every update is discarded: the held-out metrics are those of
        the current weights, from the same program."""
        e = self.t.engine
        order, tail = epoch_order(self.t.seed, self.t.epoch, n, self.t.batch_size)
        tail = tail if len(tail) and not self.t.drop_last else None
        n_steps = len(order) + (tail is not None)
        gather = (lambda index: e.feeder.feed(data, index)) if e.mesh is not None else None
        if self.t.mode == "fused":
            if gather is None:
                out = e.epoch_fn(data, jnp.asarray(order), None if tail is None
                                 else jnp.asarray(tail), held, jnp.asarray(update))
            else:
                out = e.epoch_fn(gather(order), None, None if tail is None else gather(tail),
                                 held, jnp.asarray(update))
            return (*out, n_steps)
        steps, ok = [], jnp.asarray(True)
        for index in list(order) + ([] if tail is None else [tail]):
            batch = gather(index) if gather else e.feeder.take(data, jnp.asarray(index))
            ok, out = e.step_fn(ok, batch)
            steps.append(out)
            if not bool(out[1]):
                break
        stats, finite = jax.tree.map(lambda *a: jnp.stack(a), *steps)
        held_stats = {k: e.eval_fn(d) for k, d in held.items()} if bool(np.all(finite)) else {}
        return stats, finite, held_stats, n_steps

    def _train_epoch(self, data, n: int, held: dict, active) -> list:
        return [self._run_epoch(data, n, held)]

    def _initial(self, data, n: int, held: dict) -> list[dict]:
        """At the first fit: seed brainstate's RNG; the untrained held-out metrics."""
        if self.t.epoch != 0 or self.t.history.initial:
            return [{}]
        brainstate.random.seed(self.t.seed)
        if not held:
            return [{}]
        if self.t.mode == "step":
            return [{name: self.t.engine.eval_fn(d) for name, d in held.items()}]
        # The epoch program with every update discarded evaluates the untrained
        # model: no second program to compile. The random key is put back.
        key = brainstate.random.DEFAULT.value
        held_stats = self._run_epoch(data, n, held, update=False)[2]
        brainstate.random.DEFAULT.value = key
        return [held_stats]

    def _check_processes_agree(self, train, held: dict) -> None:
        """With a mesh over several processes: each process must hold the same
        run, or the global minibatches would mix different data (a clear error
        in every process, before any program runs)."""
        if self.t.engine.mesh is None or process_count() == 1:
            return
        facts = {"seed": self.t.seed, "batch_size": self.t.batch_size, "epoch": self.t.epoch,
                 "mode": ["fused", "step"].index(self.t.mode), "drop_last": self.t.drop_last,
                 "weights": fingerprint(*[s.value for s in self.t.engine.param_states]),
                 "optimizer states": fingerprint(*jax.tree.leaves(
                     [s.value for s in self.t.engine.opt_states]))}
        facts.update(data_facts(train, held))
        check_agree(facts, "Trainer.fit")

