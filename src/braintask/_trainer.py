"""The Trainer: minibatched, epoch-compiled training of a sequence classifier."""

from __future__ import annotations

import sys
import time
from typing import Callable, Mapping

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ._checkpoint import read_checkpoint, write_checkpoint
from ._dataset import TaskDataset, _check_int, as_dataset
from ._errors import CheckpointError, TrainingDiverged
from ._history import History
from ._losses import accuracy, cross_entropy, masked_cross_entropy
from ._states import HiddenBatcher

__all__ = ["Trainer"]

_MODES = ("fused", "step")


def _path_key(path) -> str:
    return "/".join(str(p) for p in path)


def _strict_dtype(tree):
    # A weak-typed leaf (e.g. a bias from Constant(0.0)) becomes strong after the
    # first update, which would re-trace the compiled epoch once. Fix the types now.
    return jax.tree.map(lambda v: jnp.asarray(v, dtype=jnp.asarray(v).dtype), tree)


class Trainer:
    """Train a sequence classifier on a task dataset, one compiled loop per epoch.

    The model is any brainstate module that maps a time-major ``(T, B, F)``
    sequence to ``(B, C)`` logits, such as ``brainmass.HORNSeqNetwork``; for
    tasks with a label at every step (``(N, T)`` targets, e.g. from
    :func:`braintask.from_cogtask`), it maps ``(T, B, F)`` to ``(T, B, C)``,
    and loss and accuracy are averaged over the steps the dataset's mask keeps. The
    Trainer gives its hidden states the batch shape before every forward pass
    (so no state carries over between minibatches, and models whose
    ``init_state`` ignores the batch size work), transposes the batch-major
    ``(N, T, F)`` data itself, and registers the model's ``ParamState`` weights
    with the optimizer if that has not been done.

    Each epoch shuffles the training trials with a generator seeded by
    ``(seed, epoch)``, cuts them into ``N // batch_size`` full minibatches,
    and runs all of them inside one jitted loop (``mode="fused"``); with
    ``mode="step"`` each minibatch is one jitted call from Python, which gives
    the same numbers and is easier to step through. After every epoch the
    held-out set is evaluated in one pass.

    Parameters
    ----------
    model : brainstate.nn.Module
        Maps ``(T, B, F)`` inputs to ``(B, C)`` logits.
    optimizer : braintools.optim.Optimizer
        E.g. ``braintools.optim.Adam(lr=3e-2)``.
    batch_size : int
        Trials per minibatch, at most the training set's size.
    seed : int
        Seeds the shuffling of every epoch and brainstate's random key at the
        start of training. Default 0.
    loss : callable, optional
        ``loss(logits, labels) -> scalar``. Default :func:`braintask.cross_entropy`
        (softmax cross-entropy on integer labels, from ``braintools.metric``).
        With per-step targets it is called as ``loss(logits, labels, mask)``;
        the default is then :func:`braintask.masked_cross_entropy`.
    metrics : dict, optional
        Extra ``metric(logits, labels) -> scalar`` to track (``metric(logits,
        labels, mask)`` for per-step targets); accuracy (``acc``) is always
        tracked, and ``decision_acc`` (accuracy over the decision period) for
        per-step targets.
    mode : str
        ``"fused"`` or ``"step"``: one compiled loop per epoch (default), or one compiled call per minibatch.
    drop_last : bool
        If True (default), the trials left over after the last full minibatch
        are skipped this epoch (another shuffle uses them next epoch). If False
        they form one smaller minibatch at the end of the epoch, run by its own
        compiled step.
    progress : bool or None
        Show a tqdm bar over epochs. None (default) shows it only when the
        output is a terminal.
    devices : str or list, optional
        Train data-parallel over these devices: each minibatch is split along
        its batch axis over a ``jax.sharding.Mesh`` (``NamedSharding``), the
        weights and optimizer state are replicated, and XLA inserts the
        gradient all-reduce. ``batch_size`` must be a multiple of the number of
        devices. Default None: the default device only.

    Examples
    --------
    >>> import brainstate, braintools, brainmass, brainunit as u, braintask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> brainstate.random.seed(0)
    >>> train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2).split(64)
    >>> net = brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2)
    >>> trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16)
    >>> history = trainer.fit(train, test, epochs=2)
    >>> len(history), sorted(history[-1])[:3]
    (2, ['epoch', 'test_acc', 'test_loss'])
    """

    def __init__(
        self,
        model: brainstate.nn.Module,
        optimizer,
        *,
        batch_size: int,
        seed: int = 0,
        loss: Callable | None = None,
        metrics: Mapping[str, Callable] | None = None,
        mode: str = "fused",
        drop_last: bool = True,
        progress: bool | None = None,
        devices=None,
    ):
        if not isinstance(model, brainstate.nn.Module):
            raise TypeError(f"model must be a brainstate.nn.Module, got {type(model).__name__}.")
        if not hasattr(optimizer, "step") or not hasattr(optimizer, "register_trainable_weights"):
            raise TypeError(
                f"optimizer must be a braintools.optim optimizer (e.g. braintools.optim.Adam(lr=1e-3)), "
                f"got {type(optimizer).__name__}."
            )
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.seed = _check_int("seed", seed, 0)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
        if loss is not None and not callable(loss):
            raise TypeError(f"loss must be a callable loss(logits, labels), got {type(loss).__name__}.")
        metrics = dict(metrics or {})
        for name, fn in metrics.items():
            if not isinstance(name, str) or not name.isidentifier() or not callable(fn):
                raise TypeError(f"metrics must map identifier names to callables, got {name!r}: {fn!r}.")
            if name in ("loss", "acc"):
                raise ValueError(f"metric name {name!r} is taken by the built-in loss/accuracy.")
        if progress not in (None, True, False):
            raise TypeError(f"progress must be True, False or None (terminal only), got {progress!r}.")

        self.model = model
        self.optimizer = optimizer
        self.mode = mode
        self.drop_last = bool(drop_last)
        self.progress = progress
        self._default_loss = loss is None
        self.loss = cross_entropy if loss is None else loss
        self._per_step: bool | None = None  # set by the first dataset seen
        self.metrics = {"acc": accuracy, **metrics}
        self.devices = None

        self._hidden = HiddenBatcher(model)
        if len(optimizer.param_states) == 0:
            params = model.states(brainstate.ParamState)
            if not params:
                raise ValueError("model has no brainstate.ParamState weights to train.")
            optimizer.register_trainable_weights(params)
        self._params = optimizer.param_states.to_pytree()
        # Every state a training step writes: weights and optimizer moments, counters, lr.
        unique = {}
        for s in list(jax.tree.leaves(self._params, is_leaf=lambda x: isinstance(x, brainstate.State))) + \
                list(brainstate.graph.states(optimizer).values()):
            unique.setdefault(id(s), s)
        self._train_states = list(unique.values())
        self._opt_states = [s for s in brainstate.graph.states(optimizer).values()
                            if not isinstance(s, brainstate.ParamState)]
        for s in self._train_states:
            s.value = _strict_dtype(s.value)
        self._mesh = self._replicated = None
        if devices is not None:
            self._use_devices(devices)

        self.epoch = 0
        self.history = History()
        self.n_classes: int | None = None
        #: How many times each compiled function was traced (compiled).
        self.compilations = {"train_epoch": 0, "train_step": 0, "evaluate": 0}
        self._epoch_fn = brainstate.transform.jit(self._epoch_impl)
        self._step_fn = brainstate.transform.jit(self._step_impl)
        self._eval_fn = brainstate.transform.jit(self._eval_impl)
        # compiled once per input shape, not once per predict() call
        self._forward_fn = brainstate.transform.jit(lambda x: self.model(x))

    def _use_devices(self, devices):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        if isinstance(devices, str):
            if devices != "all":
                raise ValueError(f'devices must be "all" or a sequence of jax devices, got {devices!r}.')
            devices = jax.devices()
        devices = list(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise TypeError(f'devices must be "all" or a non-empty sequence of jax.Device, got {devices!r}.')
        if self.batch_size % len(devices):
            raise ValueError(
                f"batch_size={self.batch_size} does not split evenly over {len(devices)} devices; "
                f"use a multiple of {len(devices)}."
            )
        self._mesh = Mesh(np.array(devices), ("batch",))
        self._replicated = NamedSharding(self._mesh, P())
        for s in self._train_states:
            s.value = jax.device_put(s.value, self._replicated)
        self.devices = devices

    # ------------------------------------------------------------------ compiled parts
    def _loss_and_metrics(self, batch):
        x, y = batch["x"], batch["y"]
        self._hidden.reset(x.shape[1])  # fresh, batched hidden states for every minibatch
        logits = self.model(x)
        if "mask" not in batch:
            return self.loss(logits, y), {k: f(logits, y) for k, f in self.metrics.items()}
        mask = batch["mask"]
        mets = {k: f(logits, y, mask) for k, f in self.metrics.items()}
        mets["decision_acc"] = accuracy(logits, y, batch["decision"])
        return self.loss(logits, y, mask), mets

    def _train_step(self, ok, batch):
        grads, loss, mets = brainstate.transform.grad(
            lambda: self._loss_and_metrics(batch), self._params, has_aux=True, return_value=True
        )()
        finite = jnp.isfinite(loss)
        for g in jax.tree.leaves(grads):
            finite &= jnp.all(jnp.isfinite(g))
        ok = ok & finite
        before = [s.value for s in self._train_states]
        self.optimizer.step(grads)
        # Once a step is not finite, that update and all later ones in the epoch are
        # discarded, so the weights stay the last finite ones.
        for s, old in zip(self._train_states, before):
            s.value = jax.tree.map(lambda new, o: jnp.where(ok, new, o), s.value, old)
        return ok, (loss, mets, finite)

    def _take(self, data, index):
        """Trials ``index`` ((B,) or (n_batches, B)) of time-major data, minibatch-major."""
        def take(a):
            if a.ndim == 1:  # per-trial labels (N,)
                return a[index]
            out = jnp.take(a, index, axis=1)  # trials are axis 1 of time-major arrays
            return jnp.moveaxis(out, 1, 0) if index.ndim == 2 else out

        batch = {k: take(v) for k, v in data.items()}
        if self._mesh is not None:
            batch = {k: jax.lax.with_sharding_constraint(v, self._batch_sharding(k, v.ndim))
                     for k, v in batch.items()}
        return batch

    def _batch_sharding(self, key, ndim):
        """Split the minibatch axis over the devices: x is (..., T, B, F), labels and
        masks (..., B) or (..., T, B)."""
        from jax.sharding import NamedSharding, PartitionSpec as P

        axis = ndim - 2 if key == "x" else ndim - 1
        return NamedSharding(self._mesh, P(*("batch" if i == axis else None for i in range(ndim))))

    def _epoch_impl(self, data, order, test):
        """One epoch in one program: gather the minibatches of ``order`` (n_batches, B)
        from the training data on the device, train on each, then evaluate ``test``."""
        self.compilations["train_epoch"] += 1
        batches = self._take(data, order)
        _, out = brainstate.transform.scan(self._train_step, jnp.asarray(True), batches)
        test_out = None if test is None else self._loss_and_metrics(test)
        # Leave the states at the training batch shape, so every call sees the same shapes.
        self._hidden.reset(order.shape[1])
        return out, test_out

    def _step_impl(self, ok, batch):
        self.compilations["train_step"] += 1
        return self._train_step(ok, batch)

    def _eval_impl(self, batch):
        self.compilations["evaluate"] += 1
        return self._loss_and_metrics(batch)

    # ------------------------------------------------------------------ checks
    def _probe(self, data: TaskDataset, name: str) -> int:
        """Run the model on two trials (shapes only); return the number of classes."""
        x = jnp.asarray(data.inputs[:2].transpose(1, 0, 2), dtype=float)

        def forward():
            self._hidden.reset(x.shape[1])
            return self.model(x)

        try:
            out = brainstate.transform.eval_shape(forward)
        except KeyError as err:
            if "dt" in str(err):
                raise RuntimeError(
                    "the model needs a time step, but brainstate.environ has no dt. Set it before "
                    "training, e.g. `brainstate.environ.set(dt=1.0 * u.ms)` with "
                    "`import brainunit as u` (HORN reads dt in milliseconds; 1 ms is one step)."
                ) from err
            raise
        except Exception as err:
            raise ValueError(
                f"the model failed on {name} inputs of shape (T, B, F) = {tuple(x.shape)}: "
                f"{data.n_features} input features per time step. Check that the model's input "
                f"size is {data.n_features}. The model raised {type(err).__name__}: {err}"
            ) from err
        finally:
            self._hidden.reset(x.shape[1])
        shape = tuple(getattr(out, "shape", ()))
        want = (x.shape[0], x.shape[1]) if data.per_step else (x.shape[1],)
        if len(shape) != len(want) + 1 or shape[:-1] != want:
            kind = ("(T, B, C) logits, one per step, for per-step targets" if data.per_step
                    else "(B, C) logits for one label per trial")
            raise ValueError(
                f"the model must map (T, B, F) inputs to {kind}; for T={x.shape[0]}, "
                f"B={x.shape[1]} it returned shape {shape}."
            )
        return int(shape[-1])

    def _check_data(self, data, name: str) -> TaskDataset:
        data = as_dataset(data, name)
        if self._per_step is None:
            self._per_step = data.per_step
            if self._per_step:
                self.loss = masked_cross_entropy if self._default_loss else self.loss
                self.metrics["acc"] = accuracy
        elif data.per_step != self._per_step:
            raise ValueError(
                f"{name} has {'per-step' if data.per_step else 'per-trial'} targets, but this "
                f"trainer was first used with {'per-step' if self._per_step else 'per-trial'} targets."
            )
        if self.n_classes is None:
            self.n_classes = self._probe(data, name)
        bad = (data.targets < 0) | (data.targets >= self.n_classes)
        if bad.any():
            raise ValueError(
                f"{name} targets must lie in [0, {self.n_classes}) for a model with "
                f"{self.n_classes} outputs; found {int(bad.sum())} outside, e.g. "
                f"{int(data.targets[bad][0])}."
            )
        return data

    # ------------------------------------------------------------------ training
    def _on_device(self, data: TaskDataset) -> dict:
        """The whole dataset as a time-major batch dict on the device(s), moved once per fit."""
        batch = jax.tree.map(jnp.asarray, data.batch(dtype=jnp.result_type(float)))
        return batch if self._replicated is None else jax.device_put(batch, self._replicated)

    def _order(self, n: int, epoch: int):
        """This epoch's shuffle: full minibatches (n_batches, B) and the trials left over."""
        perm = np.random.default_rng([self.seed, epoch]).permutation(n).astype(np.int32)
        nb, b = n // self.batch_size, self.batch_size
        return perm[: nb * b].reshape(nb, b), perm[nb * b:]

    def _run_epoch(self, data, order, rest, test):
        """Train one epoch; return per-step loss, metrics, finiteness, weights, steps and test metrics."""
        tail = len(rest) > 0 and not self.drop_last
        n_full = order.shape[0]
        test_out = None
        if self.mode == "fused":
            # the held-out set is evaluated inside the same program, unless a tail step follows
            (loss, mets, finite), test_out = self._epoch_fn(data, jnp.asarray(order),
                                                           None if tail else test)
        else:
            outs, ok = [], jnp.asarray(True)
            self._hidden.reset(self.batch_size)
            for i in range(n_full):
                ok, out = self._step_fn(ok, self._take(data, jnp.asarray(order[i])))
                outs.append(out)
                if not bool(out[2]):
                    break
            loss, mets, finite = jax.tree.map(lambda *a: jnp.stack(a), *outs)
        loss, finite = np.asarray(loss), np.asarray(finite)
        mets = {k: np.asarray(v) for k, v in mets.items()}
        weights = np.full(len(loss), float(self.batch_size))
        if tail and finite.all():
            self._hidden.reset(len(rest))
            _, (tl, tm, tf) = self._step_fn(jnp.asarray(True), self._take(data, jnp.asarray(rest)))
            loss, finite = np.append(loss, tl), np.append(finite, tf)
            mets = {k: np.append(v, tm[k]) for k, v in mets.items()}
            weights = np.append(weights, len(rest))
        if test is not None and test_out is None and finite.all():
            test_out = self._evaluate_on_device(test)
        return loss, mets, finite, weights, n_full + tail, test_out

    def _evaluate_on_device(self, batch):
        self._hidden.reset(batch["x"].shape[1])
        out = self._eval_fn(batch)
        self._hidden.reset(self.batch_size)  # the shape the training programs expect
        return out

    def evaluate(self, data) -> dict:
        """Loss and metrics of the current model on a dataset, in one pass.

        Returns
        -------
        dict
            ``{"loss": float, "acc": float, ...}`` (and ``decision_acc`` for
            per-step targets).
        """
        data = self._check_data(data, "data")
        loss, mets = self._evaluate_on_device(self._on_device(data))
        return {"loss": float(loss), **{k: float(v) for k, v in mets.items()}}

    def predict(self, inputs) -> np.ndarray:
        """Logits of the current model for batch-major ``(N, T, F)`` inputs.

        Returns ``(N, C)``, or ``(N, T, C)`` for a model with a readout at every
        step (batch-major, like the inputs).
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 3:
            raise ValueError(f"inputs must be batch-major (N, T, F), got shape {inputs.shape}.")
        self._hidden.reset(inputs.shape[0])
        logits = np.asarray(self._forward_fn(jnp.asarray(inputs.transpose(1, 0, 2), dtype=float)))
        self._hidden.reset(self.batch_size)  # the shape the training programs expect
        return logits.swapaxes(0, 1) if logits.ndim == 3 else logits

    def fit(
        self,
        train,
        test=None,
        *,
        epochs: int,
        stop_at: Mapping[str, float] | None = None,
        patience: int | None = None,
        monitor: str | None = None,
        restore_best: bool = True,
        checkpoint=None,
        callbacks=(),
    ) -> History:
        """Train for ``epochs`` more epochs, evaluating ``test`` after each.

        Parameters
        ----------
        train, test : TaskDataset or tuple
            A dataset, or an ``(inputs, targets)`` pair of arrays:
            Batch-major ``(N, T, F)`` inputs and ``(N,)`` integer labels.
            ``test`` may be None (then only training metrics are recorded).
        epochs : int
            Epochs to run in this call, >= 1. A later call (or one after
            :meth:`load`) continues the epoch count and the History.
        stop_at : dict, optional
            Stop once every listed metric reaches its target, e.g.
            ``{"test_acc": 1.0}`` (losses must fall to, others rise to, the value).
        patience : int, optional
            Stop when ``monitor`` has not improved for this many epochs.
        monitor : str, optional
            Metric watched by ``patience``; default ``"test_loss"``
            (``"train_loss"`` without a test set).
        restore_best : bool
            With ``patience``, put back the weights of the best epoch at the end.
        checkpoint : str or path, optional
            Save a checkpoint there after every epoch (see :meth:`save`), before
            the callbacks run.
        callbacks : list
            ``callback(trainer, record)`` after every epoch; an exception raised
            by one stops training, and :meth:`load` of the last checkpoint then
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
        epochs = _check_int("epochs", epochs, 1)
        train = self._check_data(train, "train")
        if test is not None:
            test = self._check_data(test, "test")
            if test.n_features != train.n_features or test.seq_len != train.seq_len:
                raise ValueError(
                    f"test trials have shape (T, F) = ({test.seq_len}, {test.n_features}), "
                    f"train trials ({train.seq_len}, {train.n_features}); they must match."
                )
        if self.batch_size > train.n_samples:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the training set "
                f"({train.n_samples} trials); use batch_size <= {train.n_samples}."
            )
        metric_names = list(self.metrics) + (["decision_acc"] if self._per_step else [])
        names = ["train_loss"] + [f"train_{k}" for k in metric_names]
        if test is not None:
            names += ["test_loss"] + [f"test_{k}" for k in metric_names]
        stop_at = dict(stop_at or {})
        for key in stop_at:
            if key not in names:
                raise ValueError(f"stop_at key {key!r} is not a recorded metric; choose from {names}.")
        if patience is not None:
            patience = _check_int("patience", patience, 1)
        monitor = monitor or ("test_loss" if test is not None else "train_loss")
        if monitor not in names:
            raise ValueError(f"monitor={monitor!r} is not a recorded metric; choose from {names}.")
        callbacks = list(callbacks)
        if not all(callable(c) for c in callbacks):
            raise TypeError("callbacks must be callables callback(trainer, record).")

        self.history.chance = 1.0 / self.n_classes
        train_data = self._on_device(train)
        test_data = None if test is None else self._on_device(test)
        if self.epoch == 0 and not self.history.initial:
            brainstate.random.seed(self.seed)
            if test is not None:
                loss, mets = self._evaluate_on_device(test_data)
                self.history.initial = {"test_loss": float(loss),
                                        **{f"test_{k}": float(v) for k, v in mets.items()}}
        self._hidden.reset(self.batch_size)

        better = (lambda a, b: a < b) if "loss" in monitor else (lambda a, b: a > b)
        best_value, best_weights, waited = None, None, 0
        if patience is not None and self.history.best_epoch is not None:
            best_value = self.history.records[self.history.best_epoch - 1][monitor]
        self.history.stop_reason = ""
        disable = None if self.progress is None else not self.progress
        if disable is None and not sys.stderr.isatty():
            disable = True
        bar = tqdm(total=epochs, desc="epochs", unit="epoch", disable=disable, leave=False)
        try:
            for _ in range(epochs):
                t0 = time.perf_counter()
                order, rest = self._order(train.n_samples, self.epoch)
                loss, mets, finite, weights, n_steps, test_out = self._run_epoch(
                    train_data, order, rest, test_data)
                if not finite.all():
                    step = int(np.argmin(finite)) + 1
                    raise TrainingDiverged(
                        f"the training loss or a gradient became NaN/inf at epoch {self.epoch + 1}, "
                        f"minibatch {step} of {n_steps}. Training stopped; the model keeps the "
                        f"weights from before that minibatch. Lower the learning rate, clip "
                        f"gradients, or check the inputs.",
                        epoch=self.epoch + 1, step=step, history=self.history,
                    )
                record = {"epoch": self.epoch + 1,
                          "train_loss": float(np.average(loss, weights=weights))}
                record.update({f"train_{k}": float(np.average(v, weights=weights)) for k, v in mets.items()})
                if test_out is not None:
                    record["test_loss"] = float(test_out[0])
                    record.update({f"test_{k}": float(v) for k, v in test_out[1].items()})
                record["time"] = time.perf_counter() - t0
                self.epoch += 1
                self.history.records.append(record)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k in ("train_loss", "test_acc")})

                if patience is not None:
                    if best_value is None or better(record[monitor], best_value):
                        best_value, waited = record[monitor], 0
                        self.history.best_epoch = self.epoch
                        if restore_best:
                            best_weights = [jax.tree.map(jnp.copy, s.value) for s in self._param_states()]
                    else:
                        waited += 1
                if checkpoint is not None:  # before callbacks: a failing callback loses nothing
                    self.save(checkpoint)
                for cb in callbacks:
                    cb(self, record)
                if stop_at and all(
                    record[k] <= v if "loss" in k else record[k] >= v for k, v in stop_at.items()
                ):
                    self.history.stop_reason = f"reached {stop_at} at epoch {self.epoch}"
                    break
                if patience is not None and waited >= patience:
                    self.history.stop_reason = (
                        f"{monitor} did not improve for {patience} epochs (best at epoch "
                        f"{self.history.best_epoch})"
                    )
                    break
        finally:
            bar.close()
        if best_weights is not None:
            for s, v in zip(self._param_states(), best_weights):
                s.value = v
        return self.history

    def _param_states(self):
        return jax.tree.leaves(self._params, is_leaf=lambda x: isinstance(x, brainstate.State))

    # ------------------------------------------------------------------ checkpoints
    def save(self, path) -> str:
        """Save weights, optimizer state, epoch, RNG key and History to a msgpack file.

        Uses ``braintools.file.msgpack_save``, which writes a temporary file and
        renames it, so a crash mid-save leaves any earlier checkpoint intact.
        """
        params = {_path_key(k): s.value for k, s in
                  brainstate.graph.states(self.model).filter(brainstate.ParamState).items()}
        return write_checkpoint(
            path,
            params=params,
            optimizer_leaves=jax.tree.leaves([s.value for s in self._opt_states]),
            epoch=self.epoch,
            seed=self.seed,
            rng_key_data=jax.random.key_data(brainstate.random.DEFAULT.value),
            history={"records": self.history.records, "initial": self.history.initial,
                     "best_epoch": self.history.best_epoch},
        )

    def load(self, path) -> "Trainer":
        """Restore a checkpoint written by :meth:`save`, to continue training.

        Everything is checked before anything is assigned: on a
        :class:`CheckpointError` (unreadable file, other format version, other
        weight names or shapes, other seed) the trainer and model are unchanged.
        """
        raw = read_checkpoint(path)
        states = brainstate.graph.states(self.model).filter(brainstate.ParamState)
        current = {_path_key(k): s for k, s in states.items()}
        if set(raw["params"]) != set(current):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds weights {sorted(raw['params'])}, but the model has "
                f"{sorted(current)}."
            )
        assign = []
        for key, state in current.items():
            new, old = raw["params"][key], state.value
            if jax.tree.structure(new) != jax.tree.structure(old) or any(
                np.shape(a) != np.shape(b) for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old))
            ):
                raise CheckpointError(
                    f"checkpoint weight {key!r} has shapes "
                    f"{jax.tree.map(np.shape, new)}, the model's are {jax.tree.map(np.shape, old)}."
                )
            assign.append((state, new))
        opt_values = [s.value for s in self._opt_states]
        leaves, treedef = jax.tree.flatten(opt_values)
        if len(leaves) != len(raw["optimizer"]) or any(
            np.shape(a) != np.shape(b) for a, b in zip(leaves, raw["optimizer"])
        ):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds an optimizer state of another structure "
                f"({len(raw['optimizer'])} arrays, this optimizer has {len(leaves)})."
            )
        if int(raw["seed"]) != self.seed:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was trained with seed={raw['seed']}, this trainer has "
                f"seed={self.seed}; resuming would change the shuffling."
            )
        for state, new in assign:
            state.value = jax.tree.map(lambda n, o: jnp.asarray(n, dtype=o.dtype), new, state.value)
        restored = jax.tree.unflatten(
            treedef, [jnp.asarray(n, dtype=o.dtype) for n, o in zip(raw["optimizer"], leaves)])
        for state, value in zip(self._opt_states, restored):
            state.value = value
        brainstate.random.DEFAULT.value = jax.random.wrap_key_data(jnp.asarray(raw["rng"]))
        self.epoch = int(raw["epoch"])
        hist = raw["history"]
        self.history = History(records=hist["records"], initial=hist["initial"],
                               best_epoch=hist["best_epoch"], chance=self.history.chance)
        return self
