"""The compiled programs of training, and the one rule for hidden states.

:class:`Engine` is shared by :class:`braintask.Trainer` (one model) and
:class:`braintask.MultiSeedTrainer` (many copies, the same programs under
``vmap``). It owns

- the states a training step writes (weights, optimizer moments, the learning
  rate schedule's states), with their dtypes fixed once so nothing re-traces;
- the programs: a guarded train step, a whole epoch as one scan (minibatches
  gathered on the device, or handed in by every process for its devices' share;
  an optional smaller last minibatch; the held-out evaluation), an evaluation
  pass, a forward pass and a forward pass that records the hidden states;
- the hidden-state rule: **outside a program the hidden states are at the
  training batch shape** (with a leading copy axis when vmapped); inside, every
  forward pass first resets them to its own batch, and every program ends by
  putting them back. So no state leaks between minibatches, and every call of
  a program sees the same input shapes (one compilation per program).

Where data lives and how a mesh splits it is :mod:`braintask._engine.feed`; the
learning rate is :mod:`braintask._engine.schedule`; the task's shape facts are a
:class:`braintask._engine.task.TaskSpec`, fixed by the first dataset.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from .._distributed import (check_agree, fingerprint, spans_processes, to_host,
                            warn_known_hang)
from .feed import Feeder, means, nonzero, psum_flat, weighted
from .._objective.losses import accuracy, angular_error, call_metric, trial_performance
from .._objective.penalties import PenaltyInputs, check_penalties
from .schedule import Schedule, scheduler_states, strict
from .silent import ZERO_GRADIENTS, zero_gradient_flags
from .states import HiddenBatcher, recorded, warn_shared_random
from .task import TaskSpec, describe_task
from .._data.convert import as_dataset
from .._data.dataset import TaskDataset

__all__ = ["Engine", "EpochOutput", "Stats"]

#: ``{name: (mean, weight)}`` of the loss and each metric over a batch or a set.
Stats = dict[str, tuple[jax.Array, jax.Array]]
#: An epoch program's output: per-minibatch stats, per-minibatch finite flags and
#: each held-out set's stats.
EpochOutput = tuple[Stats, jax.Array, dict[str, Stats]]


#: The built-in statistics' names (besides ``loss`` and the user's metrics).
STAT_NAMES = ("acc", "decision_acc", "decision_angular_error", "trial_perf", "fix_break")


def _unique(states: list[brainstate.State]) -> list[brainstate.State]:
    return list({id(s): s for s in states}.values())


def _scalar_loss(loss: Any, fn: Callable) -> jax.Array:
    """The loss, which must be one number: the mean over the batch (checked as the
    program is traced, before any gradient is asked of it)."""
    shape = jnp.shape(loss)
    if shape != ():
        name = getattr(fn, "__name__", type(fn).__name__)
        raise ValueError(
            f"the loss {name} returned an array of shape {shape}; it must return one "
            f"number, the mean over the batch (e.g. jnp.mean of the per-trial losses).")
    return loss


class Engine:
    """Compiled training programs and the hidden-state rule for one model.

    Parameters
    ----------
    model, optimizer
        The brainstate module and a braintools optimizer; the model's
        ``ParamState`` weights are registered with the optimizer if they are not.
    loss : callable or None
        The user's loss, or None for the task's default (see :class:`TaskSpec`).
    metrics : dict
        ``name -> metric(logits, labels[, mask])``; each a mean over its batch.
    train_batch : int
        The minibatch size: the hidden states' shape between programs.
    mesh : jax.sharding.Mesh, optional
        Data parallelism: minibatches split over the mesh's ``"batch"`` axis.
    hidden : HiddenBatcher, optional
        The hidden states of another engine on the same model, to share.
    init_states : str or None
        How forward passes start (see :class:`HiddenBatcher`); None is
        ``"shared"`` with a warning when the model's initial states are random.
    penalties : sequence of Penalty
        Terms added to the loss (:mod:`braintask._objective.penalties`), each recorded apart.
    """

    def __init__(self, model: brainstate.nn.Module, optimizer: Any, *, loss: Callable | None,
                 metrics: Mapping[str, Callable], train_batch: int,
                 mesh: jax.sharding.Mesh | None = None, hidden: HiddenBatcher | None = None,
                 init_states: str | None = None, penalties: Any = None) -> None:
        self.model, self.optimizer = model, optimizer
        self.user_loss, self.user_metrics = loss, dict(metrics)
        self.penalties = check_penalties(penalties, ["loss", *STAT_NAMES, *self.user_metrics])
        #: Whether a penalty reads the hidden states: forward passes feed steps one by one.
        self.reads_states = any(p.reads_states for p in self.penalties)
        self.spec: TaskSpec | None = None  # fixed by the first dataset seen
        self.train_batch = train_batch
        self.feeder = Feeder(mesh)
        self.copies: int | None = None  # the leading copy axis, when vmapped
        # Initialising states again would give the model new hidden-state objects:
        # a second engine on the same model shares the first one's.
        if hidden is None:
            hidden = HiddenBatcher(model, per_trial=init_states == "per_trial")
            if init_states is None and hidden.random:
                warn_shared_random(hidden, stacklevel=4)
        self.hidden = hidden
        if len(optimizer.param_states) == 0:
            params = model.states(brainstate.ParamState)
            if not params:
                raise ValueError("model has no brainstate.ParamState weights to train.")
            optimizer.register_trainable_weights(params)
        self.params = optimizer.param_states.to_pytree()
        self.param_states = jax.tree.leaves(
            self.params, is_leaf=lambda x: isinstance(x, brainstate.State))
        graph = list(brainstate.graph.states(optimizer).values())
        self.opt_states = _unique([s for s in graph if not isinstance(s, brainstate.ParamState)]
                                  + scheduler_states(optimizer))
        #: Every state a training step reads or writes, besides the hidden states.
        self.train_states = _unique(self.param_states + self.opt_states)
        small = _unique(scheduler_states(optimizer) + [
            s for s in graph if not isinstance(s, brainstate.ParamState)
            and all(np.ndim(v) == 0 for v in jax.tree.leaves(s.value))])
        self.schedule = Schedule(optimizer, small,
                                 None if mesh is None else lambda v: jax.device_put(v, self.replicated))
        for s in self.train_states:
            s.value = strict(s.value)
        if mesh is not None:
            if spans_processes(self.replicated):  # before jax's own, less specific check
                warn_known_hang(mesh)
                check_agree({"weights": fingerprint([s.value for s in self.param_states]),
                             "optimizer states": fingerprint([s.value for s in self.opt_states])},
                            "Trainer")
            for s in self.train_states:
                s.value = jax.device_put(s.value, self.replicated)
        #: How many times each program was traced (compiled).
        self.compilations = {"train_epoch": 0, "train_step": 0, "evaluate": 0}
        #: The trainable weights' names, in the order of a step's zero-gradient flags.
        self.grad_names: list[str] = []
        self.reset_hidden()
        self.compile()

    mesh = property(lambda self: self.feeder.mesh)
    replicated = property(lambda self: self.feeder.replicated)

    # ------------------------------------------------------------------ the task
    def check_data(self, data: Any, name: str) -> TaskDataset:
        """``data`` as a dataset this model can train on (the first one fixes the
        task's :class:`TaskSpec`), or a clear error."""
        if self.spec is None:
            try:
                self.spec = describe_task(data, self.forward, loss=self.user_loss,
                                          metrics=self.user_metrics, name=name,
                                          penalties=[p.name for p in self.penalties])
            finally:
                self.reset_hidden()
            self.feeder.vector = self.spec.vector
            if self.reads_states and self.record_fn is not None:
                self._check_stepping(as_dataset(data, name))
        return self.spec.check(data, name)

    def _check_stepping(self, data: TaskDataset) -> None:
        """A penalty reads the hidden states of every step, which training gets by
        feeding the model one step at a time: check, on two trials, that this gives
        the model's own outputs."""
        x = jnp.asarray(data.inputs[:2].transpose(1, 0, 2), dtype=float)
        try:
            logits, outs, traces = to_host(self.record_fn(x))
            recorded(logits, outs, traces, self.hidden.names)
        except ValueError as err:
            names = [p.name for p in self.penalties if p.reads_states]
            raise ValueError(f"the penalties {names} read the hidden states of every step, "
                             f"which training feeds one step at a time: {err}") from None

    # ------------------------------------------------------------------ hidden states
    def reset_hidden(self) -> None:
        """Put the hidden states at the training batch shape (the rule between programs)."""
        lead = (self.train_batch,) if self.copies is None else (self.copies, self.train_batch)
        own = self.copies is not None and self.hidden.stacked  # each copy its initial values

        def batched(v: jax.Array) -> jax.Array:
            return jnp.broadcast_to(v[:, None], lead + v.shape[1:]) if own else \
                jnp.broadcast_to(v, lead + v.shape)

        for state, init in zip(self.hidden.states, self.hidden.initial):
            state.value = jax.tree.map(batched, init)
            if self.feeder.copy_sharding is not None:
                state.value = jax.device_put(state.value, self.feeder.copy_sharding)

    def forward(self, x: jax.Array) -> jax.Array:
        """Inside a program: fresh hidden states at ``x``'s batch, then the model."""
        self.hidden.start(x.shape[1])
        return self.model(x)

    def forward_with_states(self, x: jax.Array) -> tuple[jax.Array, list]:
        """Inside a program: the outputs of ``x`` fed one step at a time from fresh
        hidden states, and every hidden state after every step (time-major)."""
        self.hidden.start(x.shape[1])
        outs, traces = self._stepped(x)
        assert self.spec is not None, "check_data fixes the task before any program runs"
        return (outs[:, 0] if self.spec.per_step else outs[-1]), traces

    def _stepped(self, x: jax.Array) -> tuple[jax.Array, list]:
        """The model fed ``x`` one step at a time from its current hidden states: each
        step's outputs and every hidden state after every step (time-major)."""
        def step(xt: jax.Array) -> tuple[jax.Array, list]:
            return self.model(xt[None]), [s.value for s in self.hidden.states]

        return brainstate.transform.for_loop(step, x)

    def weights_by_name(self) -> dict[str, jax.Array]:
        """Every trainable array by name (``"cell/w_rec"``, ``"readout/weight/bias"``)."""
        named = {}
        for key, state in self.params.items():
            base = "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
            leaves = jax.tree_util.tree_flatten_with_path(state.value)[0]
            for path, leaf in leaves:
                parts = [str(next((getattr(p, a) for a in ("key", "idx", "name")
                                   if hasattr(p, a)), p)) for p in path]
                named["/".join([base, *parts])] = leaf
        return named

    # ------------------------------------------------------------------ programs
    def loss_and_stats(self, batch: dict) -> tuple[jax.Array, Stats]:
        """The loss to minimise (the task loss plus any penalties), and ``{name:
        (mean, weight)}`` of the task loss, the metrics and the penalties on one batch."""
        spec, x, y = self.spec, batch["x"], batch["y"]
        assert spec is not None, "check_data fixes the task before any program runs"
        traces: list = []
        if self.reads_states:
            logits, traces = self.forward_with_states(x)
        else:
            logits = self.forward(x)
        real = jnp.result_type(float)
        if "mask" not in batch:  # one label per trial: weight = trials
            weight = jnp.asarray(y.shape[0], real)
            loss = _scalar_loss(spec.loss(logits, y), spec.loss)
            stats = {k: (call_metric(f, logits, y, batch), weight)
                     for k, f in spec.metrics.items()}
        else:
            # a label per step: the loss is weighted by the step weights (the mask
            # when there are none), metrics count the kept steps, decision_* the
            # kept steps of the decision period
            mask, decision = batch["mask"], batch["decision"]
            step_weight = batch.get("weight", mask)
            loss = _scalar_loss(spec.loss(logits, y, step_weight), spec.loss)
            weight = jnp.sum(step_weight).astype(real)
            kept = jnp.sum(mask).astype(real)
            stats = {k: (call_metric(f, logits, y, batch), kept) for k, f in spec.metrics.items()}
            score = angular_error if spec.vector else accuracy
            stats[spec.decision_metric] = (score(logits, y, decision),
                                           jnp.sum(decision).astype(real))
            # the field's score of whole trials, weighted by trials
            trials = jnp.asarray(y.shape[1], real)
            perf, breaks = trial_performance(logits, y, mask, decision)
            stats["trial_perf"], stats["fix_break"] = (perf, trials), (breaks, trials)
        stats = {"loss": (loss, weight), **stats}
        if not self.penalties:
            return loss, stats
        inputs = PenaltyInputs(states=dict(zip(self.hidden.names, traces)),
                               weights=self.weights_by_name(), mask=batch.get("mask"),
                               decision=batch.get("decision"))
        total = loss
        for p in self.penalties:
            value = _scalar_loss(p(inputs), p)
            stats[p.name] = (value, weight)
            total = total + value
        return total, stats

    def gradients(self, batch: dict) -> tuple[Any, jax.Array, Stats]:
        """``(grads, loss, stats)`` of one minibatch.

        With a mesh, each device differentiates its own share of the minibatch
        and one all-reduce per step combines the shares, weighted by their
        trials (or step weights): the gradient of the whole minibatch. Left to
        the compiler, a batch-sharded recurrent network would instead reduce the
        recurrent weights' gradient at every time step of the backward pass.
        """
        def local(batch: dict) -> tuple[Any, jax.Array, Stats]:  # a weight the loss never reads gets a zero gradient, no error
            return brainstate.transform.grad(lambda: self.loss_and_stats(batch), self.params,
                                             has_aux=True, return_value=True,
                                             check_states=False)()

        if not self.feeder.splits(batch):
            return local(batch)  # one device, or a last minibatch replicated on every device

        def share(batch: dict) -> tuple[Any, jax.Array, Stats]:
            grads, _, stats = local(batch)
            # every share's sums in one message: a step pays the latency once
            weight = stats["loss"][1]
            sums = psum_flat({"grads": jax.tree.map(lambda g: g * weight, grads),
                              "stats": weighted(stats)})
            total = sums["stats"]["loss"][1]
            stats = means(sums["stats"])
            return jax.tree.map(lambda g: g / nonzero(total), sums["grads"]), \
                stats["loss"][0], stats

        return self.feeder.on_shares(share, batch, self.hidden.states)

    def set_stats(self, batch: dict) -> Stats:
        """Loss and metrics of a whole set (evaluation: ``fit=False``, so models that
        draw noise while training do not); with a mesh, each device scores its share."""
        with brainstate.environ.context(fit=False):
            return self._set_stats(batch)

    def _set_stats(self, batch: dict) -> Stats:
        if not self.feeder.splits(batch):
            return self.loss_and_stats(batch)[1]
        return self.feeder.on_shares(
            lambda b: means(psum_flat(weighted(self.loss_and_stats(b)[1]))), batch,
            self.hidden.states)

    def train_step(self, ok: jax.Array, batch: dict) -> tuple[jax.Array, tuple[Stats, jax.Array]]:
        """One guarded update. ``ok`` false (an earlier non-finite step, or a copy
        that has stopped) discards the update, so the weights stay as they were."""
        with brainstate.environ.context(fit=True):  # training: noise, dropout on
            grads, loss, loss_stats = self.gradients(batch)
        # a step's stats also carry the per-weight zero-gradient flags (not a (mean, weight) pair)
        stats: dict[str, Any] = loss_stats
        self.grad_names, stats[ZERO_GRADIENTS] = zero_gradient_flags(grads)
        finite = jnp.isfinite(loss)
        for g in jax.tree.leaves(grads):
            finite &= jnp.all(jnp.isfinite(g))
        ok = ok & finite
        before = [s.value for s in self.train_states]
        self.optimizer.step(grads)
        for s, old in zip(self.train_states, before):
            s.value = jax.tree.map(lambda new, o: jnp.where(ok, new, o), s.value, old)
        return ok, (stats, finite)

    def epoch_program(self, data: dict, order: jax.Array, tail: jax.Array | None,
                      held: dict[str, dict], active: jax.Array) -> EpochOutput:
        """One epoch over the trials ``data`` holds on the device: the minibatches of
        trial indices ``order`` (n_batches, B), then the smaller minibatch ``tail``
        (indices, or None), then each held-out set of ``held`` (name -> data)."""
        return self.batches_epoch_program(
            self.feeder.take(data, order), None if tail is None else self.feeder.take(data, tail),
            held, active)

    def batches_epoch_program(self, batches: dict, tail: dict | None, held: dict[str, dict],
                              active: jax.Array) -> EpochOutput:
        """One epoch over minibatches already cut (stacked along a leading axis, as a
        process hands its devices their share of each), then the smaller minibatch
        ``tail`` (or None), then each held-out set. ``active`` false discards every
        update (the held-out metrics are then those of the current weights)."""
        self.compilations["train_epoch"] += 1
        ok, (stats, finite) = brainstate.transform.scan(self.train_step, active, batches)
        if tail is not None:
            ok, (t_stats, t_finite) = self.train_step(ok, tail)
            stats = jax.tree.map(lambda a, b: jnp.append(a, b[None]), stats, t_stats)
            finite = jnp.append(finite, t_finite[None])
        held_stats = {name: self.set_stats(d) for name, d in held.items()}
        self.hidden.reset(self.train_batch)
        return stats, finite, held_stats

    def step_program(self, ok: jax.Array, batch: dict) -> tuple[jax.Array, tuple[Stats, jax.Array]]:
        self.compilations["train_step"] += 1
        out = self.train_step(ok, batch)
        self.hidden.reset(self.train_batch)
        return out

    def eval_program(self, batch: dict) -> Stats:
        self.compilations["evaluate"] += 1
        stats = self.set_stats(batch)
        self.hidden.reset(self.train_batch)
        return stats

    def forward_program(self, x: jax.Array) -> jax.Array:
        with brainstate.environ.context(fit=False):
            logits = self.forward(x)
        self.hidden.reset(self.train_batch)
        return logits

    def record_program(self, x: jax.Array) -> tuple[jax.Array, jax.Array, list]:
        """The full forward pass, and the same inputs fed one step at a time with
        the hidden states carried over, recording them after every step."""
        with brainstate.environ.context(fit=False):
            return self._record(x)

    def _record(self, x: jax.Array) -> tuple[jax.Array, jax.Array, list]:
        self.hidden.start(x.shape[1])
        key = brainstate.random.DEFAULT.value  # after any draws of initial states
        logits = self.model(x)
        self.hidden.again()  # the same initial states (the same draws, per trial)
        next_key = brainstate.random.DEFAULT.value
        # a model that draws noise here (eval_noise) draws the same numbers again
        brainstate.random.DEFAULT.value = key
        outs, traces = self._stepped(x)
        brainstate.random.DEFAULT.value = next_key
        self.hidden.reset(self.train_batch)
        return logits, outs, traces

    def compile(self, copies: int | None = None) -> None:
        """Make the jitted programs; with ``copies``, vmapped over the training and
        hidden states stacked along a leading copy axis."""
        jit = brainstate.transform.jit
        if copies is None:
            self.copies = None
            self.epoch_fn, self.step_fn = jit(self.epoch_program), jit(self.step_program)
            self.batches_epoch_fn = jit(self.batches_epoch_program)
            self.eval_fn, self.forward_fn = jit(self.eval_program), jit(self.forward_program)
            self.record_fn = jit(self.record_program)
            return
        self.copies = copies
        axes = {0: self.train_states + self.hidden.states + self.hidden.initial_states}

        def vmap(fn: Callable, in_axes: tuple) -> Callable:
            return jit(brainstate.transform.vmap2(
                fn, in_axes=in_axes, state_in_axes=axes, state_out_axes=axes))

        # data and held-out set shared; each copy has its own order, tail and flag
        self.epoch_fn = vmap(self.epoch_program, (None, 0, 0, None, 0))
        self.eval_fn = vmap(self.eval_program, (None,))
        self.step_fn = self.forward_fn = self.record_fn = self.batches_epoch_fn = None
