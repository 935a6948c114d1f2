"""The Trainer: minibatched, epoch-compiled training of a sequence model on a task."""

from __future__ import annotations

import sys
import time
from typing import Callable, Mapping

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ._callbacks import as_callbacks
from ._checkpoint import named_params, read_checkpoint, restore_rng, restorer, snapshot, write_checkpoint
from ._checks import check_choice, check_int, check_progress
from ._distributed import check_agree, data_facts, fingerprint, is_main, process_count, to_host
from ._engine import Engine, epoch_order
from ._errors import CheckpointError, TrainingDiverged
from ._history import History
from ._losses import accuracy

__all__ = ["Trainer", "progress_bar", "diverged"]


def progress_bar(progress, total: int, desc: str):
    """A tqdm bar over epochs; ``progress=None`` shows it only on a terminal. Of
    several processes, only process 0 shows it."""
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    disable = disable or not is_main()
    return tqdm(total=total, desc=desc, unit="epoch", disable=disable, leave=False)


def diverged(finite, epoch: int, history, n_steps: int, who: str = "") -> TrainingDiverged:
    step = int(np.argmin(finite)) + 1
    return TrainingDiverged(
        f"{who}the training loss or a gradient became NaN/inf at epoch {epoch}, minibatch "
        f"{step} of {n_steps}. Training stopped; the model keeps the weights from before "
        f"that minibatch. Lower the learning rate, clip gradients (e.g. "
        f"braintools.optim.Adam(lr=..., grad_clip_norm=1.0)), or check the inputs.",
        epoch=epoch, step=step, history=history,
    )


def check_metrics(metrics) -> dict:
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        if not isinstance(name, str) or not name.isidentifier() or not callable(fn):
            raise TypeError(f"metrics must map identifier names to callables, got {name!r}: {fn!r}.")
        if name in ("loss", "acc", "decision_acc"):
            raise ValueError(f"metric name {name!r} is taken by the built-in loss/accuracy.")
    return {"acc": accuracy, **metrics}


def check_model_and_optimizer(model, optimizer, loss):
    if not isinstance(model, brainstate.nn.Module):
        raise TypeError(f"model must be a brainstate.nn.Module, got {type(model).__name__}.")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "register_trainable_weights"):
        raise TypeError(
            f"optimizer must be a braintools.optim optimizer (e.g. braintools.optim.Adam(lr=1e-3)), "
            f"got {type(optimizer).__name__}."
        )
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a callable loss(logits, labels), got {type(loss).__name__}.")


def make_mesh(devices, size: int, axis: str, what: str):
    """A one-axis ``jax.sharding.Mesh`` over ``devices`` ("all" or a list), which
    must divide ``size`` (the ``what``)."""
    from jax.sharding import Mesh

    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(f'devices must be "all" or a sequence of jax devices, got {devices!r}.')
        devices = jax.devices()
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise TypeError(f'devices must be "all" or a non-empty sequence of jax.Device, got {devices!r}.')
    if size % len(devices):
        raise ValueError(f"{what}={size} does not split evenly over {len(devices)} devices; "
                         f"use a multiple of {len(devices)}.")
    return Mesh(np.array(devices), (axis,)), devices


class Trainer:
    """Train a sequence model on a task dataset, one compiled loop per epoch.

    The model is any brainstate module that maps a time-major ``(T, B, F)``
    sequence to ``(B, C)`` logits, such as ``brainmass.HORNSeqNetwork``; for
    tasks with a label at every step (``(N, T)`` targets, e.g. from
    :func:`braintask.from_cogtask`), it maps ``(T, B, F)`` to ``(T, B, C)``,
    and loss and metrics are averaged over the steps the dataset's mask keeps.
    Continuous per-step targets ``(N, T, D)`` (``n_classes=None``, e.g. a
    cogtask ``output_mode="vector"`` task) need ``(T, B, D)`` outputs; they are
    fitted with :func:`braintask.masked_mean_squared_error`, and the record's
    ``decision_angular_error`` is :func:`braintask.angular_error` over the
    decision period (lower is better; no ``acc``).
    The Trainer gives the hidden states the batch shape before every forward
    pass (no state carries over between minibatches, and models whose
    ``init_state`` ignores the batch size work), transposes the batch-major
    ``(N, T, F)`` data itself, and registers the model's ``ParamState`` weights
    with the optimizer if that has not been done.

    Each epoch shuffles the training trials with a generator seeded by
    ``(seed, epoch)`` and runs all its minibatches, then the held-out
    evaluation, inside one jitted program (``mode="fused"``); ``mode="step"``
    runs one jitted call per minibatch and gives the same numbers. Epoch
    metrics are exact: each minibatch's mean is weighted by its trials (or kept
    steps). A braintools learning-rate scheduler inside the optimizer steps
    once per epoch; each record's ``lr`` is the rate used in that epoch.

    Parameters
    ----------
    model : brainstate.nn.Module
        Maps ``(T, B, F)`` inputs to ``(B, C)`` logits (``(T, B, C)`` per step).
    optimizer : braintools.optim.Optimizer
        E.g. ``braintools.optim.Adam(lr=3e-2)``, or with a schedule
        ``Adam(lr=braintools.optim.StepLR(base_lr=1e-2, step_size=10, gamma=0.5))``.
    batch_size : int
        Trials per minibatch, at most the training set's size.
    seed : int
        Seeds the shuffling of every epoch and brainstate's random key at the
        start of training. Default 0. Seed the initial weights yourself with
        ``brainstate.random.seed(...)`` before building the model.
    loss : callable, optional
        ``loss(logits, labels) -> scalar``, a mean over the batch. Default
        :func:`braintask.cross_entropy`; with per-step targets it is called as
        ``loss(logits, labels, mask)`` and defaults to
        :func:`braintask.masked_cross_entropy` (for continuous targets
        :func:`braintask.masked_mean_squared_error`).
    metrics : dict, optional
        Extra ``metric(logits, labels) -> scalar`` means to track
        (``metric(logits, labels, mask)`` per step); accuracy (``acc``) is
        always tracked, and ``decision_acc`` for per-step targets.
    mode : str
        ``"fused"``: one compiled loop per epoch (default); ``"step"``: one
        compiled call per minibatch.
    drop_last : bool
        If True (default), trials left over after the last full minibatch wait
        for another epoch's shuffle; if False they form one smaller last
        minibatch (inside the same compiled epoch).
    progress : bool or None
        A tqdm bar over epochs; None (default) shows it only on a terminal.
    devices : str or list of jax.Device, optional
        Data-parallel training: each minibatch is split along its batch axis over
        a ``jax.sharding.Mesh`` (``"all"``: every device JAX sees, those of every
        process after ``jax.distributed.initialize``); weights and optimizer
        state are replicated, each device differentiates its share and one
        all-reduce per step combines them; held-out sets are split too.
        ``batch_size`` must be a multiple of the number of devices. Across processes, each process must build the
        same data, model and seed (checked: a ``ValueError`` names what
        differs); it feeds its own devices their share of every minibatch, and
        process 0 alone writes checkpoints and logs.

    Examples
    --------
    >>> import brainstate, braintools, brainmass, brainunit as u, braintask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> brainstate.random.seed(0)
    >>> train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2).split(64)
    >>> net = brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2)
    >>> trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16)
    >>> history = trainer.fit(train, test, epochs=2)
    >>> len(history), history.metrics[:3]
    (2, ['epoch', 'train_loss', 'train_acc'])
    """

    def __init__(self, model: brainstate.nn.Module, optimizer, *, batch_size: int,
                 seed: int = 0, loss: Callable | None = None,
                 metrics: Mapping[str, Callable] | None = None, mode: str = "fused",
                 drop_last: bool = True, progress: bool | None = None, devices=None):
        check_model_and_optimizer(model, optimizer, loss)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        self.mode = check_choice("mode", mode, ("fused", "step"))
        self.drop_last = bool(drop_last)
        self.progress = check_progress(progress)
        mesh, self.devices = (None, None) if devices is None else make_mesh(
            devices, self.batch_size, "batch", "batch_size")
        self.engine = Engine(model, optimizer, loss=loss, metrics=check_metrics(metrics),
                             train_batch=self.batch_size, mesh=mesh)
        self.epoch = 0
        self.history = History()
        #: Set by a callback to end :meth:`fit` after the current epoch.
        self.stop_training = False
        #: The record keys of the current fit (set when :meth:`fit` starts).
        self.metric_names: list[str] = []

    model = property(lambda self: self.engine.model)
    optimizer = property(lambda self: self.engine.optimizer)
    loss = property(lambda self: self.engine.loss)
    metrics = property(lambda self: self.engine.metrics)
    n_classes = property(lambda self: self.engine.n_classes)
    #: How many times each compiled program was traced.
    compilations = property(lambda self: self.engine.compilations)

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self, train_data, n: int, held: dict, update: bool = True):
        """Train one epoch; return ``(stats, finite, held_stats)`` as arrays. With
        ``update=False`` (fused mode) the epoch's updates are all discarded: the
        held-out metrics are those of the current weights, from the same program."""
        e = self.engine
        order, tail = epoch_order(self.seed, self.epoch, n, self.batch_size)
        tail = tail if len(tail) and not self.drop_last else None
        self._n_steps = len(order) + (tail is not None)
        # one device: the data sits on it and the program gathers each minibatch; a
        # mesh: each process hands its devices their share of every minibatch
        gather = (lambda index: e.feed(train_data, index)) if e.mesh is not None else None
        if self.mode == "fused":
            if gather is None:
                return e.epoch_fn(train_data, jnp.asarray(order),
                                  None if tail is None else jnp.asarray(tail), held,
                                  jnp.asarray(update))
            return e.epoch_fn(gather(order), None, None if tail is None else gather(tail),
                              held, jnp.asarray(update))
        steps, ok = [], jnp.asarray(True)
        for index in list(order) + ([] if tail is None else [tail]):
            batch = gather(index) if gather else e.take(train_data, jnp.asarray(index))
            ok, out = e.step_fn(ok, batch)
            steps.append(out)
            if not bool(out[1]):
                break
        stats, finite = jax.tree.map(lambda *a: jnp.stack(a), *steps)
        held_stats = {k: e.eval_fn(d) for k, d in held.items()} if bool(np.all(finite)) else {}
        return stats, finite, held_stats

    def _epoch_record(self, train_data, n: int, held: dict) -> dict:
        t0, lr = time.perf_counter(), self.engine.current_lr()
        stats, finite, held_stats = self._run_epoch(train_data, n, held)
        finite = np.asarray(finite)
        if not finite.all():
            raise diverged(finite, self.epoch + 1, self.history, self._n_steps)
        record = {"epoch": self.epoch + 1, **self.engine.record(stats, held_stats), "lr": lr}
        record["time"] = time.perf_counter() - t0
        return record

    # ------------------------------------------------------------------ training
    def fit(self, train, test=None, *, epochs: int, val=None,
            stop_at: Mapping[str, float] | None = None,
            patience: int | None = None, monitor: str | None = None, mode: str | None = None,
            restore_best: bool = True, checkpoint=None, callbacks=()) -> History:
        """Train for ``epochs`` more epochs, evaluating ``val`` and ``test`` after each.

        Parameters
        ----------
        train, test : TaskDataset or tuple
            A dataset, or an ``(inputs, targets)`` pair: batch-major ``(N, T, F)``
            inputs and ``(N,)`` (or ``(N, T)``) integer labels. ``test`` may be
            None; its metrics are recorded as ``test_*``.
        epochs : int
            Epochs to run in this call, >= 1. A later call (or one after
            :meth:`load`) continues the epoch count and the History.
        val : TaskDataset or tuple, optional
            A validation set carved from the training data (e.g.
            ``fit_set, val = train.split(0.8)``), recorded as ``val_*`` and
            watched by default by early stopping and ``ReduceLROnPlateau``:
            choose on it, report on ``test``.
        stop_at : dict, optional
            Shortcut for ``StopAt(stop_at)``: stop once every listed metric
            reaches its target, e.g. ``{"test_acc": 1.0}``.
        patience, monitor, mode, restore_best
            Shortcut for ``EarlyStopping(monitor, mode=mode, patience=patience,
            restore_best=restore_best)``. ``monitor`` (default ``val_loss``,
            else ``test_loss``, else ``train_loss``) is also the metric that a
            ``ReduceLROnPlateau`` schedule watches.
        checkpoint : str or path, optional
            Shortcut for ``Checkpoint(checkpoint)``: save after every epoch,
            before the user's callbacks run.
        callbacks : list
            :class:`braintask.Callback` objects, or callables
            ``fn(trainer, record)`` run after every epoch. An exception raised
            by one stops training; :meth:`load` of the last checkpoint then
            resumes exactly where it stopped.

        Returns
        -------
        History
            All epochs trained by this Trainer so far.

        Raises
        ------
        TrainingDiverged
            If the loss or a gradient becomes NaN or inf; the weights are the
            last finite ones.
        """
        epochs = check_int("epochs", epochs, 1)
        train, held = self.engine.check_sets(train, {"val": val, "test": test}, self.batch_size)
        callbacks = as_callbacks(callbacks, stop_at=stop_at, patience=patience, monitor=monitor,
                                 mode=mode, restore_best=restore_best, checkpoint=checkpoint,
                                 schedule=self.engine.has_schedule)
        self.metric_names = self.engine.metric_names(list(held))
        if self.engine.mesh is not None:  # fed per epoch, a share to each process
            self._check_processes_agree(train, held)
            train_data = self.engine.to_host(train)
        else:
            train_data = self.engine.to_device(train)
        held = {k: self.engine.to_device(d) for k, d in held.items()}
        self._start(train_data, train.n_samples, held)
        for cb in callbacks:
            cb.on_fit_start(self)
        with progress_bar(self.progress, epochs, "epochs") as bar:
            for _ in range(epochs):
                record = self._epoch_record(train_data, train.n_samples, held)
                self.epoch += 1
                self.history.records.append(record)
                bar.update(1)
                bar.set_postfix({k: f"{record[k]:.3f}" for k in ("train_loss", "test_acc")
                                 if k in record})
                for cb in callbacks:
                    cb.on_epoch_end(self, record)
                if self.stop_training:
                    break
        for cb in callbacks:
            cb.on_fit_end(self)
        return self.history

    def _check_processes_agree(self, train, held: dict) -> None:
        """With a mesh over several processes: each process must hold the same
        run, or the global minibatches would mix different data (a clear error
        in every process, before any program runs)."""
        if process_count() == 1:
            return
        facts = {"seed": self.seed, "batch_size": self.batch_size, "epoch": self.epoch,
                 "mode": ["fused", "step"].index(self.mode), "drop_last": self.drop_last,
                 "weights": fingerprint(*[s.value for s in self.engine.param_states]),
                 "optimizer states": fingerprint(*jax.tree.leaves(
                     [s.value for s in self.engine.opt_states]))}
        facts.update(data_facts(train, held))
        check_agree(facts, "Trainer.fit")

    def _start(self, train_data, n: int, held: dict) -> None:
        """Per fit: chance level, brainstate's RNG (first fit), the untrained held-out metrics."""
        self.stop_training = False
        self.history.stop_reason = ""
        self.history.chance = None if self.engine.vector else 1.0 / self.engine.n_classes
        if self.epoch == 0 and not self.history.initial:
            brainstate.random.seed(self.seed)
            if not held:
                return
            if self.mode == "fused":
                # The epoch program with every update discarded evaluates the untrained
                # model: no second program to compile. The random key is put back.
                key = brainstate.random.DEFAULT.value
                held_stats = self._run_epoch(train_data, n, held, update=False)[2]
                brainstate.random.DEFAULT.value = key
            else:
                held_stats = {name: self.engine.eval_fn(data) for name, data in held.items()}
            for name, stats in held_stats.items():
                self.history.initial.update(
                    {f"{name}_{k}": float(stats[k][0]) for k in self.engine.stat_names()})

    def evaluate(self, data) -> dict:
        """Loss and metrics of the current model on a dataset, in one pass.

        Returns
        -------
        dict
            ``{"loss": float, "acc": float, ...}`` (and ``decision_acc`` for
            per-step targets; ``loss`` and ``decision_angular_error`` for
            continuous targets), exact over every trial (or kept step).
        """
        data = self.engine.check_data(data, "data")
        if self.engine.mesh is not None:
            check_agree({"trials": data.n_samples,
                         "data": fingerprint(data.inputs, data.targets)}, "Trainer.evaluate")
        stats = self.engine.eval_fn(self.engine.to_device(data))
        return {k: float(stats[k][0]) for k in self.engine.stat_names()}

    def predict(self, inputs) -> np.ndarray:
        """Logits of the current model for batch-major ``(N, T, F)`` inputs.

        Returns ``(N, C)``, or ``(N, T, C)`` for a model with a readout at every
        step (batch-major, like the inputs).
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 3:
            raise ValueError(f"inputs must be batch-major (N, T, F), got shape {inputs.shape}.")
        if self.engine.mesh is not None:
            check_agree({"inputs": fingerprint(inputs)}, "Trainer.predict")
        x = jnp.asarray(inputs.transpose(1, 0, 2), dtype=float)
        logits = to_host(self.engine.forward_fn(x))
        return logits.swapaxes(0, 1) if logits.ndim == 3 else logits

    # ------------------------------------------------------------------ used by callbacks
    def get_weights(self) -> list:
        """A copy of the current weights (for :meth:`set_weights`)."""
        return [jax.tree.map(jnp.copy, s.value) for s in self.engine.param_states]

    def set_weights(self, weights: list) -> None:
        """Put back weights from :meth:`get_weights`."""
        for s, v in zip(self.engine.param_states, weights):
            s.value = v

    def step_schedule(self, metric: float | None = None) -> None:
        """Advance the optimizer's learning-rate schedule by one epoch."""
        self.engine.step_schedule(metric)

    # ------------------------------------------------------------------ checkpoints
    def _snapshot(self) -> dict:
        return snapshot(params={k: s.value for k, s in named_params(self.model).items()},
                        opt_values=[s.value for s in self.engine.opt_states], epoch=self.epoch,
                        seed=self.seed, history=self.history)

    def save(self, path) -> str:
        """Save weights, optimizer state (schedule included), epoch, RNG key and
        History to a msgpack file, atomically (write, then rename)."""
        return write_checkpoint(path, [self._snapshot()])

    def load(self, path) -> "Trainer":
        """Restore a checkpoint written by :meth:`save`, to continue training.

        Everything is checked before anything is assigned: on a
        :class:`CheckpointError` (unreadable file, other format version, other
        weight names or shapes, other seed) the trainer and model are unchanged.
        """
        raw = read_checkpoint(path)
        if len(raw["copies"]) != 1:
            raise CheckpointError(f"checkpoint {str(path)!r} holds {len(raw['copies'])} models "
                                  "(a MultiSeedTrainer's); load it with MultiSeedTrainer.load.")
        saved = raw["copies"][0]
        apply = restorer(path, saved, params=named_params(self.model),
                         opt_states=self.engine.opt_states, seed=self.seed)
        apply()
        if self.engine.mesh is not None:
            for s in self.engine.train_states:
                s.value = jax.device_put(s.value, self.engine.replicated)
        restore_rng(raw)
        self.epoch = int(saved["epoch"])
        chance = self.history.chance
        self.history = saved["history"]
        self.history.chance = self.history.chance if chance is None else chance
        return self
