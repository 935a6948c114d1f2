"""Many copies of a model (seeds x learning rates), trained in one compiled program."""

from __future__ import annotations

import itertools
import time
from typing import Callable, Mapping, Sequence

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from ._callbacks import as_callbacks
from ._checkpoint import named_params, read_checkpoint, restore_rng, restorer, snapshot, write_checkpoint
from ._checks import check_int, check_progress
from ._distributed import check_agree, data_facts, fingerprint, spans_processes, to_host
from ._engine import Engine, epoch_order
from ._errors import CheckpointError
from ._history import History
from ._trainer import Trainer, check_metrics, diverged, make_mesh, progress_bar

__all__ = ["MultiSeedTrainer"]


def _check_lrs(lrs):
    if lrs is None:
        return [None]
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not len(lrs):
        raise TypeError(f"lrs must be a non-empty sequence of learning rates, got {lrs!r}.")
    out = []
    for lr in lrs:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lrs must hold positive numbers, got {lr!r}.")
        out.append(float(lr))
    if len(set(out)) != len(out):
        raise ValueError(f"lrs must be distinct, got {out}.")
    return out


class _CopyView:
    """One copy as its callbacks see it, while the states of all copies are stacked."""

    def __init__(self, owner: "MultiSeedTrainer", k: int):
        self.owner, self.k = owner, k
        self.trainer = owner.trainers[k]
        self.stop_training = False

    history = property(lambda self: self.trainer.history)
    epoch = property(lambda self: self.trainer.epoch)
    metric_names = property(lambda self: self.owner.metric_names)

    def get_weights(self):
        return [jax.tree.map(lambda v: jnp.copy(v[self.k]), s.value)
                for s in self.owner.engine.param_states]

    def set_weights(self, weights):
        for s, w in zip(self.owner.engine.param_states, weights):
            s.value = jax.tree.map(lambda v, x: v.at[self.k].set(x), s.value, w)

    def step_schedule(self, metric=None):
        # The copy's own scheduler steps on its slice of the stacked schedule states.
        carrier = self.owner.engine.schedule_states
        own = self.trainer.engine.schedule_states
        stacked = [s.value for s in carrier]
        for s, v in zip(own, stacked):
            s.value = jax.tree.map(lambda a: a[self.k], v)
        self.trainer.engine.step_schedule(metric)
        new = [s.value for s in own]
        for s, v, n in zip(carrier, stacked, new):
            s.value = jax.tree.map(lambda a, b: a.at[self.k].set(b), v, n)

    def save(self, path):
        raise TypeError("a MultiSeedTrainer saves all copies at once: "
                        "fit(..., checkpoint=path) or MultiSeedTrainer.save(path).")


class MultiSeedTrainer:
    """Train one copy of a model per seed (and per learning rate) in one compiled program.

    For every copy, ``build_model()`` and ``build_optimizer()`` (called as
    ``build_optimizer(lr)`` when ``lrs`` is given) run right after
    ``brainstate.random.seed(seed)``, so copy ``k`` starts from exactly the
    weights a single :class:`Trainer` run seeded that way starts from, and it
    shuffles its minibatches with its own seed. During :meth:`fit` the copies'
    states are stacked along a leading axis and one epoch of every copy runs
    as one program (``brainstate.transform.vmap2`` around the shared fused
    epoch): one compilation instead of one per copy. Each copy's History
    equals, to floating-point tolerance, a single :class:`Trainer` run.

    Copies may differ in seed and learning rate, because the rate lives in the
    optimizer's schedule states, which are stacked like the weights. Other
    optimizer settings (weight decay, betas, clipping norm) are Python
    constants baked into the optax transformation when the optimizer is built,
    so one program cannot vary them: use one MultiSeedTrainer per setting.

    Parameters
    ----------
    build_model : callable
        ``build_model() -> brainstate.nn.Module``; the same architecture on every call.
    build_optimizer : callable
        ``build_optimizer()`` (or ``build_optimizer(lr)`` with ``lrs``) returning
        a new braintools optimizer; a schedule built on ``lr`` works too.
    seeds : list of int
        Seeds, distinct, >= 0.
    lrs : list of float, optional
        Learning rates: one copy per ``(lr, seed)`` pair, in that order.
    batch_size, loss, metrics, drop_last
        As for :class:`Trainer`.
    progress : bool or None
        tqdm bar over epochs; None shows it only on a terminal.
    devices : str or list of jax.Device, optional
        ``"all"`` or a list: spread the copies over these devices (the copy
        axis is sharded), those of every process after
        ``jax.distributed.initialize``; the number of copies must be a multiple
        of the number of devices. Across processes, each process must build the
        same copies on the same data (checked), and process 0 alone writes
        checkpoints.

    Attributes
    ----------
    trainers : list of Trainer
        One per copy; outside :meth:`fit` each holds its own model, for
        ``evaluate``, ``predict`` or ``save``.
    copies : list of dict
        ``{"seed": ..., "lr": ...}`` per copy (``lr`` None without ``lrs``).

    Examples
    --------
    >>> import brainstate, braintools, brainmass, brainunit as u, braintask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2).split(64)
    >>> grid = braintask.MultiSeedTrainer(
    ...     lambda: brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2),
    ...     lambda lr: braintools.optim.Adam(lr=lr),
    ...     seeds=[0, 1], lrs=[1e-2, 3e-3], batch_size=16)
    >>> histories = grid.fit(train, test, epochs=2)
    >>> len(histories), grid.copies[2], histories[2][0]["lr"]
    (4, {'seed': 0, 'lr': 0.003}, 0.003)
    """

    def __init__(self, build_model: Callable[[], brainstate.nn.Module], build_optimizer: Callable,
                 *, seeds: Sequence[int], lrs: Sequence[float] | None = None, batch_size: int,
                 loss: Callable | None = None, metrics: Mapping[str, Callable] | None = None,
                 drop_last: bool = True, progress: bool | None = None, devices=None):
        if not callable(build_model) or not callable(build_optimizer):
            raise TypeError(
                "build_model and build_optimizer must be callables that return a new model and "
                "a new optimizer, e.g. lambda: braintools.optim.Adam(lr=1e-3)."
            )
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not len(seeds):
            raise TypeError(f"seeds must be a non-empty sequence of ints, got {seeds!r}.")
        seeds = [check_int("seeds[i]", s, 0) for s in seeds]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}.")
        self.copies = [{"seed": s, "lr": lr} for lr, s in itertools.product(_check_lrs(lrs), seeds)]
        self.seeds = [c["seed"] for c in self.copies]
        self.progress = check_progress(progress)
        self.trainers: list[Trainer] = []
        for c in self.copies:
            brainstate.random.seed(c["seed"])
            model = build_model()
            optimizer = build_optimizer() if c["lr"] is None else build_optimizer(c["lr"])
            if any(model is t.model for t in self.trainers):
                raise ValueError("build_model must return a new model on every call.")
            self.trainers.append(Trainer(model, optimizer, batch_size=batch_size, seed=c["seed"],
                                         loss=loss, metrics=metrics, drop_last=drop_last,
                                         progress=False))
        first = self.trainers[0]
        self.batch_size, self.drop_last = first.batch_size, first.drop_last
        self._check_same_structure()
        # A second engine on copy 0's states runs every copy: its states carry all
        # copies' values, stacked, while fit runs.
        self.engine = Engine(first.model, first.optimizer, loss=loss,
                             metrics=check_metrics(metrics), train_batch=self.batch_size,
                             hidden=first.engine.hidden)
        self.devices = None
        if devices is not None:
            from jax.sharding import NamedSharding, PartitionSpec as P

            mesh, self.devices = make_mesh(devices, len(self.copies), "copies",
                                           "the number of copies")
            self.engine.copy_sharding = NamedSharding(mesh, P("copies"))
        self.engine.compile(copies=len(self.copies))
        first.engine.reset_hidden()
        self.epoch = 0  # epochs run by fit (copies that stopped early have fewer)
        self.stopped = [False] * len(self.copies)
        self._resumed = self._stacked = False
        self.metric_names: list[str] = []

    def _local(self, tree):
        """Stacked values that every process can index: gathered to the host when
        the copies are spread over the devices of several processes."""
        return to_host(tree) if spans_processes(self.engine.copy_sharding) else tree

    def _check_processes_agree(self, train, held: dict) -> None:
        """With copies spread over several processes, each process must build the
        same copies on the same data (a clear error in every process otherwise)."""
        if not spans_processes(self.engine.copy_sharding):
            return
        facts = {"copies": fingerprint(np.array([c["seed"] for c in self.copies]),
                                       np.array([c["lr"] or 0.0 for c in self.copies])),
                 "batch_size": self.batch_size, "drop_last": self.drop_last,
                 "epochs": fingerprint(np.array([t.epoch for t in self.trainers])),
                 "stopped": fingerprint(np.array(self.stopped)),
                 "weights": fingerprint(*[s.value for t in self.trainers
                                          for s in t.engine.param_states])}
        facts.update(data_facts(train, held))
        check_agree(facts, "MultiSeedTrainer.fit")

    def _check_same_structure(self):
        def shapes(t):
            return [jax.tree.map(np.shape, s.value) for s in t.engine.train_states]
        ref = shapes(self.trainers[0])
        for c, t in zip(self.copies[1:], self.trainers[1:]):
            if shapes(t) != ref:
                raise ValueError(f"the copy {c} has weights or optimizer states of other shapes "
                                 "than the first: build_model and build_optimizer must build the "
                                 "same architecture on every call.")

    def _share_checks(self):
        """Every copy's engine learns what the shared engine's data checks found."""
        for t in self.trainers:
            t.engine.per_step, t.engine.n_classes = self.engine.per_step, self.engine.n_classes
            t.engine.loss, t.engine.vector = self.engine.loss, self.engine.vector
            t.engine.metrics = dict(self.engine.metrics)

    @property
    def histories(self) -> list[History]:
        """One History per copy, in the order of :attr:`copies`."""
        return [t.history for t in self.trainers]

    # ------------------------------------------------------------------ stacking
    def _stack(self):
        for i, state in enumerate(self.engine.train_states):
            state.value = jax.tree.map(lambda *v: jnp.stack(v),
                                       *[t.engine.train_states[i].value for t in self.trainers])
            if self.engine.copy_sharding is not None:
                state.value = jax.device_put(state.value, self.engine.copy_sharding)
        self.engine.reset_hidden()
        self._stacked = True

    def _unstack(self):
        stacked = self._local([s.value for s in self.engine.train_states])
        for k, trainer in enumerate(self.trainers):
            for state, value in zip(trainer.engine.train_states, stacked):
                state.value = jax.tree.map(lambda v: jnp.asarray(v[k]), value)
        self.trainers[0].engine.reset_hidden()
        self._stacked = False

    # ------------------------------------------------------------------ training
    def fit(self, train, test=None, *, epochs: int, val=None,
            stop_at: Mapping[str, float] | None = None,
            patience: int | None = None, monitor: str | None = None, mode: str | None = None,
            restore_best: bool = True, checkpoint=None) -> list[History]:
        """Train every copy for up to ``epochs`` more epochs; return one History per copy.

        ``train``, ``test``, ``val`` and the stopping arguments are as for :meth:`Trainer.fit`,
        applied to each copy on its own: a copy that reaches ``stop_at`` or runs
        out of ``patience`` stops updating while the others go on (its History
        ends there, and a learning-rate schedule steps per copy). ``checkpoint``
        saves all copies after every epoch; :meth:`load` resumes exactly, copies
        that had stopped included.

        Raises
        ------
        TrainingDiverged
            If any copy's loss or gradients become NaN or inf; the message names
            the copy, and every copy keeps its weights from before that epoch.
        """
        epochs = check_int("epochs", epochs, 1)
        train, held = self.engine.check_sets(train, {"val": val, "test": test}, self.batch_size)
        self._share_checks()
        for t in self.trainers:
            t.history.chance = None if self.engine.vector else 1.0 / self.engine.n_classes
        self.metric_names = self.engine.metric_names(list(held))
        views = [_CopyView(self, k) for k in range(len(self.copies))]
        callbacks = [as_callbacks([], stop_at=stop_at, patience=patience, monitor=monitor,
                                  mode=mode, restore_best=restore_best,
                                  schedule=t.engine.has_schedule) for t in self.trainers]
        if not self._resumed:
            self.stopped = [False] * len(self.copies)
        self._resumed = False
        self._check_processes_agree(train, held)
        train_data = self.engine.to_device(train)
        held = {k: self.engine.to_device(d) for k, d in held.items()}
        self._stack()
        try:
            if held and not any(t.history.initial for t in self.trainers) \
                    and all(t.epoch == 0 for t in self.trainers):
                # the epoch program with every copy inactive evaluates the untrained
                # copies: no second program to compile
                orders, tails = self._plans(train.n_samples)
                inactive = np.zeros(len(self.copies), bool)
                held_stats = to_host(
                    self.engine.epoch_fn(train_data, orders, tails, held, inactive)[2])
                for name, stats in held_stats.items():
                    for k, t in enumerate(self.trainers):
                        t.history.initial.update({f"{name}_{m}": float(stats[m][0][k])
                                                  for m in self.engine.stat_names()})
            for view, cbs in zip(views, callbacks):
                view.trainer.history.stop_reason = ""
                for cb in cbs:
                    cb.on_fit_start(view)
            with progress_bar(self.progress, epochs, f"epochs ({len(self.copies)} copies)") as bar:
                for _ in range(epochs):
                    if all(self.stopped):
                        break
                    self._epoch(train_data, train.n_samples, held, views, callbacks)
                    if checkpoint is not None:
                        self.save(checkpoint)
                    bar.update(1)
            for view, cbs in zip(views, callbacks):
                for cb in cbs:
                    cb.on_fit_end(view)
        finally:
            self._unstack()
        return self.histories

    def evaluate(self, data) -> list[dict]:
        """Loss and metrics of every copy on a dataset, in one compiled pass.

        Returns one ``{"loss": ..., "acc": ...}`` dict per copy, in the order
        of :attr:`copies`: e.g. score the test set once, after choosing on
        the validation set.
        """
        data = self.engine.check_data(data, "data")
        if spans_processes(self.engine.copy_sharding):
            check_agree({"trials": data.n_samples, "data": fingerprint(data.inputs, data.targets)},
                        "MultiSeedTrainer.evaluate")
        self._share_checks()
        self._stack()
        try:
            stats = to_host(self.engine.eval_fn(self.engine.to_device(data)))
        finally:
            self._unstack()
        return [{m: float(stats[m][0][k]) for m in self.engine.stat_names()}
                for k in range(len(self.copies))]

    def _plans(self, n: int):
        """Every copy's shuffle for its next epoch: orders (K, n_batches, B) and tails."""
        plans = [epoch_order(t.seed, t.epoch, n, self.batch_size) for t in self.trainers]
        orders = np.stack([p[0] for p in plans])
        tails = None if self.drop_last or not len(plans[0][1]) else np.stack([p[1] for p in plans])
        return orders, tails

    def _epoch(self, train_data, n, held, views, callbacks):
        t0 = time.perf_counter()
        orders, tails = self._plans(n)
        active = np.array([not s for s in self.stopped])
        lrs = self.engine.current_lrs(len(self.copies))
        before = [s.value for s in self.engine.train_states]
        out = self.engine.epoch_fn(train_data, orders, tails, held, active)
        stats, finite, held_stats = to_host(out)  # to the host, once
        for k in np.flatnonzero(active):
            if not finite[k].all():
                for s, v in zip(self.engine.train_states, before):
                    s.value = v
                raise diverged(finite[k], self.trainers[k].epoch + 1, self.trainers[k].history,
                               finite.shape[1], who=f"copy {self.copies[k]}: ")
        elapsed = (time.perf_counter() - t0) / max(int(active.sum()), 1)
        self.epoch += 1
        for k in np.flatnonzero(active):
            trainer, view = self.trainers[k], views[k]
            pick = lambda tree: jax.tree.map(lambda a: a[k], tree)
            record = {"epoch": trainer.epoch + 1,
                      **self.engine.record(pick(stats), pick(held_stats)),
                      "lr": lrs[k], "time": elapsed}
            trainer.epoch += 1
            trainer.history.records.append(record)
            for cb in callbacks[k]:
                cb.on_epoch_end(view, record)
            self.stopped[k] = view.stop_training

    # ------------------------------------------------------------------ checkpoints
    def _snapshots(self, stacked: bool) -> list[dict]:
        """One snapshot per copy; while fit runs, sliced out of the stacked states
        (read to the host once)."""
        if stacked:
            names = named_params(self.trainers[0].model)
            params = to_host({name: s.value for name, s in names.items()})
            opt = to_host([s.value for s in self.engine.opt_states])
        out = []
        for k, (c, t) in enumerate(zip(self.copies, self.trainers)):
            if stacked:
                take = lambda v: jax.tree.map(lambda a: a[k], v)
                copy_params, copy_opt = take(params), take(opt)
            else:
                copy_params = {name: s.value for name, s in named_params(t.model).items()}
                copy_opt = [s.value for s in t.engine.opt_states]
            out.append(snapshot(params=copy_params, opt_values=copy_opt, epoch=t.epoch,
                                seed=c["seed"], history=t.history, lr=c["lr"]))
        return out

    def save(self, path) -> str:
        """Save every copy (weights, optimizer and schedule states, epoch, History),
        which copies have stopped, and the RNG key, in one file, atomically."""
        return write_checkpoint(path, self._snapshots(self._stacked),
                                extra={"stopped": self.stopped, "epoch": self.epoch})

    def load(self, path) -> "MultiSeedTrainer":
        """Restore a checkpoint written by :meth:`save` (or ``fit(checkpoint=...)``);
        the next :meth:`fit` continues exactly. Everything is checked first: on a
        :class:`CheckpointError` nothing changes."""
        raw = read_checkpoint(path)
        if len(raw["copies"]) != len(self.copies):
            raise CheckpointError(f"checkpoint {str(path)!r} holds {len(raw['copies'])} copies, "
                                  f"this MultiSeedTrainer has {len(self.copies)}.")
        applies = []
        for c, t, saved in zip(self.copies, self.trainers, raw["copies"]):
            if saved.get("lr") != c["lr"]:
                raise CheckpointError(f"checkpoint {str(path)!r} has a copy with lr="
                                      f"{saved.get('lr')}, this one has lr={c['lr']}.")
            applies.append(restorer(path, saved, params=named_params(t.model),
                                    opt_states=t.engine.opt_states, seed=c["seed"]))
        for apply, t, saved in zip(applies, self.trainers, raw["copies"]):
            apply()
            t.epoch = int(saved["epoch"])
            t.history = saved["history"]
        restore_rng(raw)
        self.stopped = [bool(s) for s in raw["extra"].get("stopped", self.stopped)]
        self.epoch = int(raw["extra"].get("epoch", 0))
        self._resumed = True
        return self
