"""The compiled programs of training, and the one rule for hidden states.

:class:`Engine` is shared by :class:`braintask.Trainer` (one model) and
:class:`braintask.MultiSeedTrainer` (many copies, the same programs under
``vmap``). It owns

- the states a training step writes (weights, optimizer moments, the learning
  rate schedule's states), with their dtypes fixed once so nothing re-traces;
- the programs: a guarded train step, a whole epoch as one scan (minibatches
  gathered on the device, or with a mesh handed in by every process, its
  devices' share; an optional smaller last minibatch; the held-out
  evaluation), an evaluation pass and a forward pass;
- with a mesh, the data-parallel gradient: each device's share differentiated
  on its own, combined by one all-reduce per step;
- the hidden-state rule: **outside a program the hidden states are at the
  training batch shape** (with a leading copy axis when vmapped); inside, every
  forward pass first resets them to its own batch, and every program ends by
  putting them back. So no state leaks between minibatches, and every call of
  a program sees the same input shapes (one compilation per program).
"""

from __future__ import annotations

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from ._datachecks import DataChecks
from ._distributed import check_agree, fingerprint, global_array, spans_processes, to_host
from ._losses import accuracy, angular_error, cross_entropy
from ._states import HiddenBatcher

__all__ = ["Engine", "combine_stats", "epoch_order"]


def _strict(value):
    # A weak-typed leaf (a bias from Constant(0.0), a Python-float learning rate)
    # becomes strong after its first update, which would re-trace a program once.
    return jax.tree.map(lambda v: jnp.asarray(v, dtype=jnp.asarray(v).dtype), value)


def _unique(states):
    seen = {}
    for s in states:
        seen.setdefault(id(s), s)
    return list(seen.values())


def _scheduler_states(optimizer) -> list:
    """States held by the optimizer's learning-rate scheduler (epoch counter,
    current rate, plateau bookkeeping): not graph nodes, so listed by hand."""
    scheduler = getattr(optimizer, "lr_scheduler", None)
    if scheduler is None:
        return []
    return [v for v in vars(scheduler).values() if isinstance(v, brainstate.State)]


def combine_stats(stats: dict, axis: int = -1) -> dict:
    """Exact epoch values from per-minibatch ``{name: (value, weight)}`` arrays.

    Each value is a mean over its minibatch's weight (trials, or kept steps for
    masked targets), so ``sum(value * weight) / sum(weight)`` is the mean over
    every trial (or kept step) of the epoch. NaN where the weight is zero.
    """
    out = {}
    for name, (value, weight) in stats.items():
        value, weight = np.asarray(value, float), np.asarray(weight, float)
        total = weight.sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(total > 0, (value * weight).sum(axis=axis) / total, np.nan)
    return out


class Engine(DataChecks):
    """Compiled training programs and the hidden-state rule for one model.

    Parameters
    ----------
    model, optimizer
        The brainstate module and a braintools optimizer; the model's
        ``ParamState`` weights are registered with the optimizer if they are not.
    loss : callable or None
        ``loss(logits, labels)``, or ``loss(logits, labels, mask)`` per step;
        None for cross-entropy (masked for per-step targets).
    metrics : dict
        ``name -> metric(logits, labels[, mask])``; each a mean over its batch.
    train_batch : int
        The minibatch size: the hidden states' shape between programs.
    mesh : jax.sharding.Mesh, optional
        Data parallelism: minibatches split over the mesh's ``"batch"`` axis.
    hidden : HiddenBatcher, optional
        The hidden states of another engine on the same model, to share.
    """

    def __init__(self, model, optimizer, *, loss, metrics, train_batch: int, mesh=None,
                 hidden: HiddenBatcher | None = None):
        self.model = model
        self.optimizer = optimizer
        self.default_loss = loss is None
        self.loss = cross_entropy if loss is None else loss
        self.per_step: bool | None = None  # set by the first dataset seen
        self.vector = False  # continuous (T, B, D) targets, set with per_step
        self.n_classes: int | None = None
        self.metrics = dict(metrics)
        self.train_batch = train_batch
        self.mesh = mesh
        self.copies: int | None = None  # the leading copy axis, when vmapped
        # Initialising states again would give the model new hidden-state objects:
        # a second engine on the same model shares the first one's.
        self.hidden = HiddenBatcher(model) if hidden is None else hidden
        if len(optimizer.param_states) == 0:
            params = model.states(brainstate.ParamState)
            if not params:
                raise ValueError("model has no brainstate.ParamState weights to train.")
            optimizer.register_trainable_weights(params)
        self.params = optimizer.param_states.to_pytree()
        self.param_states = jax.tree.leaves(
            self.params, is_leaf=lambda x: isinstance(x, brainstate.State))
        graph = list(brainstate.graph.states(optimizer).values())
        self.opt_states = _unique(
            [s for s in graph if not isinstance(s, brainstate.ParamState)]
            + _scheduler_states(optimizer))
        #: Every state a training step reads or writes, besides the hidden states.
        self.train_states = _unique(self.param_states + self.opt_states)
        #: The small states a schedule step changes (scheduler states, scalar optimizer states).
        self.schedule_states = _unique(_scheduler_states(optimizer) + [
            s for s in graph if not isinstance(s, brainstate.ParamState)
            and all(np.ndim(v) == 0 for v in jax.tree.leaves(s.value))])
        self.copy_sharding = None  # set when copies are spread over devices
        for s in self.train_states:
            s.value = _strict(s.value)
        if mesh is not None:
            if spans_processes(self.replicated):  # before jax's own, less specific check
                check_agree({"weights": fingerprint([s.value for s in self.param_states]),
                             "optimizer states": fingerprint([s.value for s in self.opt_states])},
                            "Trainer")
            for s in self.train_states:
                s.value = jax.device_put(s.value, self.replicated)
        #: How many times each program was traced (compiled).
        self.compilations = {"train_epoch": 0, "train_step": 0, "evaluate": 0}
        self.reset_hidden()
        self.compile()

    # ------------------------------------------------------------------ hidden states
    @property
    def replicated(self):
        from jax.sharding import NamedSharding, PartitionSpec as P

        return NamedSharding(self.mesh, P())

    def reset_hidden(self) -> None:
        """Put the hidden states at the training batch shape (the rule between programs)."""
        lead = (self.train_batch,) if self.copies is None else (self.copies, self.train_batch)
        for state, init in zip(self.hidden.states, self.hidden.initial):
            state.value = jax.tree.map(lambda v: jnp.broadcast_to(v, lead + v.shape), init)
            if self.copy_sharding is not None:
                state.value = jax.device_put(state.value, self.copy_sharding)

    def forward(self, x):
        """Inside a program: fresh hidden states at ``x``'s batch, then the model."""
        self.hidden.reset(x.shape[1])
        return self.model(x)

    # ------------------------------------------------------------------ programs
    def loss_and_stats(self, batch):
        """The loss, and ``{name: (mean, weight)}`` of loss and metrics on one batch."""
        x, y = batch["x"], batch["y"]
        logits = self.forward(x)
        real = jnp.result_type(float)
        if "mask" not in batch:  # one label per trial: weight = trials
            weight = jnp.asarray(y.shape[0], real)
            loss = self.loss(logits, y)
            stats = {k: (f(logits, y), weight) for k, f in self.metrics.items()}
        else:  # a label per step: weight = kept steps (decision steps for decision_acc)
            mask, decision = batch["mask"], batch["decision"]
            weight = jnp.sum(mask).astype(real)
            loss = self.loss(logits, y, mask)
            stats = {k: (f(logits, y, mask), weight) for k, f in self.metrics.items()}
            score = angular_error if self.vector else accuracy
            stats[self.decision_metric] = (score(logits, y, decision),
                                           jnp.sum(decision).astype(real))
        return loss, {"loss": (loss, weight), **stats}

    def gradients(self, batch):
        """``(grads, loss, stats)`` of one minibatch.

        With a mesh, each device differentiates its own share of the minibatch
        and one all-reduce per step combines the shares, weighted by their
        trials (or kept steps): the gradient of the whole minibatch. Left to the
        compiler, a batch-sharded recurrent network would instead reduce the
        recurrent weights' gradient at every time step of the backward pass.
        """
        def local(batch):
            return brainstate.transform.grad(lambda: self.loss_and_stats(batch), self.params,
                                             has_aux=True, return_value=True)()

        if not self._splits(batch):
            return local(batch)  # one device, or a last minibatch replicated on every device

        def share(batch):
            grads, _, stats = local(batch)
            # every share's sums in one message: a step pays the latency once
            weight = stats["loss"][1]
            sums = _psum_flat({"grads": jax.tree.map(lambda g: g * weight, grads),
                               "stats": _weighted(stats)})
            total = sums["stats"]["loss"][1]
            stats = _means(sums["stats"])
            return jax.tree.map(lambda g: g / _nonzero(total), sums["grads"]), \
                stats["loss"][0], stats

        return self._on_shares(share, batch)

    def set_stats(self, batch):
        """Loss and metrics of a whole set; with a mesh, each device scores its share."""
        if not self._splits(batch):
            return self.loss_and_stats(batch)[1]
        return self._on_shares(
            lambda b: _means(_psum_flat(_weighted(self.loss_and_stats(b)[1]))), batch)

    def _splits(self, batch) -> bool:
        return self.mesh is not None and batch["x"].shape[1] % self.mesh.size == 0

    def _on_shares(self, fn, batch):
        """Inside a program: ``fn`` on each device's share of ``batch``
        (``shard_map``); ``fn`` sums over the devices, so its result is the same
        on all of them. The hidden states are left as they came in."""
        from jax.sharding import PartitionSpec as P

        keys = list(batch)

        def share(*arrays):
            hidden = [s.value for s in self.hidden.states]
            out = fn(dict(zip(keys, arrays)))
            for s, v in zip(self.hidden.states, hidden):
                s.value = v
            return out

        specs = tuple(self._batch_spec(k, batch[k].ndim) for k in keys)
        return brainstate.transform.shard_map(share, self.mesh, in_specs=specs,
                                              out_specs=P(), check_vma=False)(*batch.values())

    def train_step(self, ok, batch):
        """One guarded update. ``ok`` false (an earlier non-finite step, or a copy
        that has stopped) discards the update, so the weights stay as they were."""
        grads, loss, stats = self.gradients(batch)
        finite = jnp.isfinite(loss)
        for g in jax.tree.leaves(grads):
            finite &= jnp.all(jnp.isfinite(g))
        ok = ok & finite
        before = [s.value for s in self.train_states]
        self.optimizer.step(grads)
        for s, old in zip(self.train_states, before):
            s.value = jax.tree.map(lambda new, o: jnp.where(ok, new, o), s.value, old)
        return ok, (stats, finite)

    def take(self, data, index):
        """Trials ``index`` ((B,) or (n_batches, B)) of time-major data, minibatch-major
        (NumPy arrays on the host, or arrays on the device)."""
        return {k: _take(v, index) for k, v in data.items()}

    def feed(self, host_data: dict, index: np.ndarray) -> dict:
        """With a mesh: the minibatches ``index`` of host data (every process
        computes the same ``index``), placed by :meth:`place`."""
        return self.place(self.take(host_data, index))

    def place(self, batch: dict) -> dict:
        """With a mesh: host arrays as global arrays split along the batch axis,
        each process copying only its own devices' share; a batch that does not
        split evenly over the devices is replicated."""
        even = batch["x"].shape[-2] % self.mesh.size == 0
        return {k: global_array(v, self._batch_sharding(k, v.ndim) if even else self.replicated)
                for k, v in batch.items()}

    def _batch_spec(self, key, ndim):
        from jax.sharding import PartitionSpec as P

        # x and vector targets are (..., T, B, D); labels and masks (..., B) or (..., T, B)
        axis = ndim - 2 if key == "x" or (key == "y" and self.vector) else ndim - 1
        return P(*("batch" if i == axis else None for i in range(ndim)))

    def _batch_sharding(self, key, ndim):
        from jax.sharding import NamedSharding

        return NamedSharding(self.mesh, self._batch_spec(key, ndim))

    def epoch_program(self, data, order, tail, held, active):
        """One epoch: minibatches ``order`` (n_batches, B), then the smaller ``tail``
        minibatch (or None), then each held-out set of ``held`` (name -> data).
        With ``order`` None, ``data`` holds the minibatches and ``tail`` the last one."""
        self.compilations["train_epoch"] += 1
        # order None: ``data`` is the epoch's minibatches already gathered (see feed)
        batches = data if order is None else self.take(data, order)
        ok, (stats, finite) = brainstate.transform.scan(self.train_step, active, batches)
        if tail is not None:
            tail = tail if isinstance(tail, dict) else self.take(data, tail)
            ok, (t_stats, t_finite) = self.train_step(ok, tail)
            stats = jax.tree.map(lambda a, b: jnp.append(a, b[None]), stats, t_stats)
            finite = jnp.append(finite, t_finite[None])
        held_stats = {name: self.set_stats(d) for name, d in held.items()}
        self.hidden.reset(self.train_batch)
        return stats, finite, held_stats

    def step_program(self, ok, batch):
        self.compilations["train_step"] += 1
        out = self.train_step(ok, batch)
        self.hidden.reset(self.train_batch)
        return out

    def eval_program(self, batch):
        self.compilations["evaluate"] += 1
        stats = self.set_stats(batch)
        self.hidden.reset(self.train_batch)
        return stats

    def forward_program(self, x):
        logits = self.forward(x)
        self.hidden.reset(self.train_batch)
        return logits

    def compile(self, copies: int | None = None) -> None:
        """Make the jitted programs; with ``copies``, vmapped over the training and
        hidden states stacked along a leading copy axis."""
        jit = brainstate.transform.jit
        if copies is None:
            self.copies = None
            self.epoch_fn = jit(self.epoch_program)
            self.step_fn = jit(self.step_program)
            self.eval_fn = jit(self.eval_program)
            self.forward_fn = jit(self.forward_program)
            return
        self.copies = copies
        states = self.train_states + self.hidden.states
        axes = {0: states}

        def vmap(fn, in_axes):
            return jit(brainstate.transform.vmap2(
                fn, in_axes=in_axes, state_in_axes=axes, state_out_axes=axes))

        # data and held-out set shared; each copy has its own order, tail and flag
        self.epoch_fn = vmap(self.epoch_program, (None, 0, 0, None, 0))
        self.eval_fn = vmap(self.eval_program, (None,))
        self.step_fn = self.forward_fn = None

    @property
    def decision_metric(self) -> str:
        """The metric over the decision period: accuracy, or angular error (degrees)
        for continuous targets."""
        return "decision_angular_error" if self.vector else "decision_acc"

    def stat_names(self) -> list[str]:
        """Loss and metric names, in record order."""
        return ["loss", *self.metrics] + ([self.decision_metric] if self.per_step else [])

    def record(self, stats: dict, held_stats: dict) -> dict:
        """``train_<m>`` (exact over the epoch) and ``<set>_<m>`` floats, loss first."""
        train = combine_stats(stats)
        record = {f"train_{k}": float(train[k]) for k in self.stat_names()}
        # compiled outputs come back with sorted keys: put validation before test
        for name in sorted(held_stats, key=lambda n: (n != "val", n)):
            values = held_stats[name]
            record.update({f"{name}_{k}": float(np.asarray(values[k][0])) for k in self.stat_names()})
        return record

    def metric_names(self, held: list[str]) -> list[str]:
        """The record keys a fit produces (besides ``epoch``, ``lr`` and ``time``)."""
        return [f"{prefix}_{k}" for prefix in ["train", *held] for k in self.stat_names()]

    # ------------------------------------------------------------------ data and schedule
    def to_device(self, data) -> dict:
        """A dataset as a time-major batch dict on the device(s), moved once per fit
        (split over the devices of a mesh)."""
        batch = self.to_host(data)
        if self.mesh is not None:  # split over the devices, to be scored by shares
            return self.place(batch)
        if self.copy_sharding is not None:  # every copy reads all of it
            from jax.sharding import NamedSharding, PartitionSpec as P

            sharding = NamedSharding(self.copy_sharding.mesh, P())
            return {k: global_array(v, sharding) for k, v in batch.items()}
        return jax.tree.map(jnp.asarray, batch)

    @staticmethod
    def to_host(data) -> dict:
        """A dataset as a time-major batch dict of NumPy arrays."""
        return data.batch(dtype=jnp.result_type(float))

    @property
    def scheduler(self):
        return getattr(self.optimizer, "lr_scheduler", None)

    def current_lr(self) -> float:
        """The learning rate the next update uses."""
        return self.current_lrs(1)[0]

    @property
    def has_schedule(self) -> bool:
        """Whether the learning rate can change from epoch to epoch (a constant rate,
        braintools' ``ConstantLR`` with factor 1, needs no stepping)."""
        scheduler = self.scheduler
        if scheduler is None:
            return False
        constant = type(scheduler).__name__ == "ConstantLR" and (
            getattr(scheduler, "factor", 1.0) == 1.0 or getattr(scheduler, "total_iters", 0) == 0)
        return not constant

    def current_lrs(self, copies: int) -> list[float]:
        """Every copy's learning rate, read from the stacked states in one transfer."""
        scheduler = self.scheduler
        values = jax.tree.leaves(scheduler.current_lrs.value) if scheduler is not None and \
            hasattr(scheduler, "current_lrs") else []
        rates = np.ravel(to_host(values[0] if values else self.optimizer.current_lr))
        rates = np.broadcast_to(rates, (copies,))
        return [_shortest(r) for r in rates]

    def step_schedule(self, metric: float | None = None) -> None:
        """Advance the learning-rate schedule by one epoch (``ReduceLROnPlateau``
        gets ``metric``), keeping every state's dtype so no program re-traces."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        before = {id(s): jax.tree.map(lambda v: jnp.asarray(v).dtype, s.value)
                  for s in self.schedule_states}
        if _takes_metric(scheduler):
            scheduler.step(metric)
        else:
            scheduler.step()
        for s in self.schedule_states:
            dtypes = before[id(s)]
            try:
                s.value = jax.tree.map(lambda v, d: jnp.asarray(v, dtype=d), s.value, dtypes)
            except ValueError:  # the schedule changed a structure: keep its new value
                s.value = _strict(s.value)
            if self.mesh is not None:
                s.value = jax.device_put(s.value, self.replicated)


def _shortest(value) -> float:
    # 1e-2 held in float32 reads 0.009999999776; report the number the user wrote.
    return float(str(np.asarray(value).item() if np.asarray(value).dtype == np.float64
                     else np.float32(value)))


def _takes_metric(scheduler) -> bool:
    import inspect

    try:
        params = inspect.signature(scheduler.step).parameters
    except (TypeError, ValueError):
        return False
    first = next(iter(params.values()), None)
    return first is not None and first.name == "metric"


def _psum_flat(tree):
    """Inside ``shard_map``: ``tree`` summed over the mesh's ``"batch"`` axis, as
    one flat vector (one all-reduce, whatever the number of arrays)."""
    from jax.flatten_util import ravel_pytree

    flat, unflatten = ravel_pytree(tree)
    return unflatten(jax.lax.psum(flat, "batch"))


def _weighted(stats: dict) -> dict:
    return {k: (v * w, w) for k, (v, w) in stats.items()}


def _means(sums: dict) -> dict:
    return {k: (v / _nonzero(w), w) for k, (v, w) in sums.items()}


def _nonzero(total):
    return jnp.where(total > 0, total, 1)  # a weight of 0 leaves a sum of 0


def _take(a, index):
    xp = np if isinstance(a, np.ndarray) else jnp
    if a.ndim == 1:  # per-trial labels (N,)
        return a[index]
    out = xp.take(a, index, axis=1)  # trials are axis 1 of time-major arrays
    return xp.moveaxis(out, 1, 0) if index.ndim == 2 else out


def epoch_order(seed: int, epoch: int, n: int, batch: int):
    """An epoch's shuffle, seeded by ``(seed, epoch)``: full minibatches
    ``(n // batch, batch)`` and the trials left over."""
    perm = np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)
    nb = n // batch
    return perm[: nb * batch].reshape(nb, batch), perm[nb * batch:]
