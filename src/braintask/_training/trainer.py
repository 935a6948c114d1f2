"""The Trainer: minibatched, epoch-compiled training of a sequence model on a task."""

from __future__ import annotations

import os
from typing import Any, Callable, Literal, Mapping, Sequence, overload

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from .._callbacks.base import Callback
from .._callbacks.criterion import Criterion
from .._callbacks.order import fit_callbacks
from .._checkpoint.copies import copy_snapshot, load_copies, save_copies
from .._data.dataset import TaskDataset
from .._checks import check_choice, check_int, check_progress
from .._distributed import check_agree, data_facts, fingerprint, process_count, to_host
from .._engine.feed import epoch_order
from .._engine.programs import Engine
from .._engine.states import INIT_STATES, recorded
from .._history import History
from .._objective.penalties import Penalty
from .fitloop import EpochResult, TrainData, Trials, run_fit
from .setup import check_metrics, check_model_and_optimizer, checked_eval_data, make_mesh

__all__ = ["Trainer"]


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
    The Trainer resets the hidden states to the batch before every forward
    pass (models whose ``init_state`` ignores the batch size work), transposes
    the batch-major ``(N, T, F)`` data and registers the model's weights with
    the optimizer.

    The training data is a fixed dataset, or a :class:`braintask.TrialSource`
    that draws new trials every epoch (as neurogym, PsychRNN and Yang et al.
    2019 train): epoch ``e`` trains on ``source.trials(e)``, drawn on a
    background thread while epoch ``e - 1`` trains, so a resumed run sees the
    same trials as a straight one.

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
        Extra ``metric(logits, labels) -> scalar`` means to track. With
        per-step targets a metric is called as ``metric(logits, labels, mask)``
        with the ``(T, B)`` kept steps, plus the masks it names as keyword
        parameters: ``decision`` (the decision period), ``fixation`` (kept steps
        outside it) and ``weight`` (the loss's step weights); its epoch value is
        the mean of its minibatch values weighted by their kept steps.
        Accuracy (``acc``) is always tracked; per-step targets add
        ``decision_acc`` (``decision_angular_error`` for ring outputs) and the
        trial-level ``trial_perf`` and ``fix_break`` of
        :func:`braintask.trial_performance`.
    mode : str
        ``"fused"``: one compiled loop per epoch (default); ``"step"``: one
        compiled call per minibatch.
    drop_last : bool
        If True (default), trials left over after the last full minibatch wait
        for another epoch's shuffle; if False they form one smaller last
        minibatch (inside the same compiled epoch).
    progress : bool or None
        A tqdm bar over epochs (``tqdm.auto``); None (default) shows it on a
        terminal and in Jupyter notebooks, False turns it off.
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
    init_states : str or None
        Where every trial's hidden states start. ``"shared"``: the model's
        ``init_state`` runs once, unbatched, when the Trainer is built, and
        every trial of every minibatch starts from that state. ``"per_trial"``:
        ``init_state(batch_size)`` runs again before every forward pass, so a
        random initialisation (e.g. brainmass's ``StuartLandauStep``, whose
        ``init_x`` is ``braintools.init.Uniform``) gives each trial its own
        draw, new every minibatch and epoch, reproducible from ``seed`` (the
        draws use brainstate's random key, which a checkpoint saves); each
        ``evaluate`` or ``predict`` call draws anew. None (default): ``"shared"``,
        with a ``UserWarning`` when the model's initial states are random (two
        initialisations under different random keys differ).
    penalties : list, optional
        Regularisers added to the loss: :class:`braintask.RatePenalty` (L1/L2 on
        the hidden states of every step), :class:`braintask.WeightPenalty`
        (L1/L2 on weights), or any :class:`braintask.Penalty`. The History
        records the task loss as ``<set>_loss`` and each penalty apart, as
        ``<set>_<name>``; training minimises their sum. A penalty that reads
        hidden states makes every forward pass feed the model one step at a
        time (as ``predict(states=True)``), which the model must allow (the
        first fit checks it).

    Examples
    --------
    >>> import brainstate, braintools, brainmass, brainunit as u, braintask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> brainstate.random.seed(0)
    >>> train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2,
    ...                                            noise=0.05).split(64)
    >>> net = brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2)
    >>> trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16)
    >>> history = trainer.fit(train, test, epochs=2)
    >>> len(history), history.metrics[:3]
    (2, ['epoch', 'train_loss', 'train_acc'])
    """

    def __init__(self, model: brainstate.nn.Module, optimizer: Any, *, batch_size: int,
                 seed: int = 0, loss: Callable | None = None,
                 metrics: Mapping[str, Callable] | None = None, mode: str = "fused",
                 drop_last: bool = True, progress: bool | None = None,
                 devices: str | Sequence[jax.Device] | None = None,
                 init_states: str | None = None,
                 penalties: Sequence[Penalty] | None = None) -> None:
        check_model_and_optimizer(model, optimizer, loss)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        self.mode = check_choice("mode", mode, ("fused", "step"))
        self.drop_last = bool(drop_last)
        self.progress = check_progress(progress)
        mesh: jax.sharding.Mesh | None = None
        self.devices: list[jax.Device] | None = None
        if devices is not None:
            mesh, self.devices = make_mesh(devices, self.batch_size, "batch", "batch_size")
        self.init_states = None if init_states is None else check_choice(
            "init_states", init_states, INIT_STATES)
        self.engine = Engine(model, optimizer, loss=loss, metrics=check_metrics(metrics),
                             train_batch=self.batch_size, mesh=mesh, init_states=self.init_states,
                             penalties=penalties)
        self.epoch = 0
        self.history = History()
        #: Set by a callback to end :meth:`fit` after the current epoch.
        self.stop_training = False
        #: The record keys of the current fit (set when :meth:`fit` starts).
        self.metric_names: list[str] = []

    model = property(lambda self: self.engine.model)
    optimizer = property(lambda self: self.engine.optimizer)
    loss = property(lambda self: self.engine.spec.loss if self.engine.spec else self.engine.user_loss)
    metrics = property(lambda self: self.engine.spec.metrics if self.engine.spec
                       else self.engine.user_metrics)
    n_classes = property(lambda self: self.engine.spec.n_outputs if self.engine.spec else None)
    #: How many times each compiled program was traced.
    compilations = property(lambda self: self.engine.compilations)

    # ------------------------------------------------------------------ training
    def _advance(self, record: dict) -> None:
        self.epoch += 1
        self.history.records.append(record)

    def fit(self, train: TrainData, test: Trials | None = None, *, epochs: int,
            val: Trials | None = None, stop_at: Mapping[str, float] | None = None,
            patience: int | None = None, monitor: str | None = None, mode: str | None = None,
            restore_best: bool = True, criterion: Criterion | None = None,
            checkpoint: str | os.PathLike | None = None,
            callbacks: Sequence[Callback | Callable[[Any, dict], None]] = ()) -> History:
        """Train for ``epochs`` more epochs, evaluating ``val`` and ``test`` after each.

        Parameters
        ----------
        train : TaskDataset, tuple or TrialSource
            A dataset, or an ``(inputs, targets)`` pair: batch-major ``(N, T, F)``
            inputs and ``(N,)`` (or ``(N, T)``) integer labels; or a
            :class:`braintask.TrialSource`: fresh trials every epoch.
        test : TaskDataset or tuple, optional
            Held-out trials, recorded as ``test_*``. A warning names every
            held-out set some of whose trials copy a training trial exactly.
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
        criterion : Criterion, optional
            Train to a criterion: stop once a validation metric meets a bound
            (e.g. ``braintask.Criterion("val_decision_acc", at_least=0.9)``);
            ``epochs`` is then the cap. ``history.criterion`` records the epoch
            and the number of updates at which it was met (``None`` if never).
        checkpoint : str or path, optional
            Save after every epoch (as ``Checkpoint(checkpoint)``), once the
            schedule, early stopping, ``stop_at`` and the criterion have acted
            and before the user's callbacks run.
        callbacks : list
            :class:`braintask.Callback` objects, or callables
            ``fn(trainer, record)`` run after every epoch, after the built-in
            ones (the order is the same in both trainers: the learning-rate
            schedule, early stopping, ``stop_at``, the criterion, the
            checkpoint, then these). An exception raised by one stops
            training; :meth:`load` of the last checkpoint then resumes exactly
            where it stopped.

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
        order = fit_callbacks(callbacks, stop_at=stop_at, patience=patience, monitor=monitor,
                              mode=mode, restore_best=restore_best, criterion=criterion,
                              schedule=self.engine.schedule.changes)
        self.stop_training = False
        run_fit(self, train, {"val": val, "test": test}, epochs=epochs, callbacks=[order],
                checkpoint=checkpoint)
        return self.history

    def evaluate(self, data: Trials) -> dict[str, float]:
        """Loss and metrics of the current model on a dataset, in one pass.

        Returns
        -------
        dict
            ``{"loss": float, "acc": float, ...}`` (and ``decision_acc`` for
            per-step targets; ``loss`` and ``decision_angular_error`` for
            continuous targets), exact over every trial (or kept step).
        """
        data = checked_eval_data(self.engine, data, "Trainer.evaluate", self.engine.mesh is not None)
        stats = self.engine.eval_fn(self.engine.feeder.to_device(data))
        spec = self.engine.spec
        assert spec is not None  # fixed by checked_eval_data
        return {k: float(stats[k][0]) for k in spec.stat_names()}

    @overload
    def predict(self, inputs: ArrayLike, *, states: Literal[False] = False) -> np.ndarray: ...

    @overload
    def predict(self, inputs: ArrayLike, *,
                states: Literal[True]) -> tuple[np.ndarray, dict[str, Any]]: ...

    @overload
    def predict(self, inputs: ArrayLike, *,
                states: bool) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]: ...

    def predict(self, inputs: ArrayLike, *,
                states: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
        """Outputs of the current model for batch-major ``(N, T, F)`` inputs, and
        optionally its hidden states at every step.

        Parameters
        ----------
        inputs : array
            Batch-major ``(N, T, F)`` inputs.
        states : bool
            Also return the hidden states (every ``brainstate.HiddenState`` of
            the model, e.g. HORN's positions ``x`` and velocities ``y``, or a
            GRU cell's ``h``) after every step, from one compiled pass that
            feeds the inputs one step at a time.

        Returns
        -------
        logits : numpy.ndarray
            ``(N, C)``, or ``(N, T, C)`` for a model with a readout at every
            step (batch-major, like the inputs).
        states : dict, only with ``states=True``
            ``{path: (T, N, ...) array}``, time-major, keyed by the state's path
            in the model (e.g. ``"layers/0/h2h/model/x"``).

        A model whose outputs differ when fed one step at a time (it resets its
        own state inside each call) raises a ValueError with ``states=True``.
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 3:
            raise ValueError(f"inputs must be batch-major (N, T, F), got shape {inputs.shape}.")
        if self.engine.mesh is not None:
            check_agree({"inputs": fingerprint(inputs)}, "Trainer.predict")
        x = jnp.asarray(inputs.transpose(1, 0, 2), dtype=float)
        if not states:
            logits = to_host(self.engine.forward_fn(x))
            return logits.swapaxes(0, 1) if logits.ndim == 3 else logits
        logits, outs, traces = to_host(self.engine.record_fn(x))
        return recorded(logits, outs, traces, self.engine.hidden.names)

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
        self.engine.schedule.step(metric)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike) -> str:
        """Save weights, optimizer state (schedule included), epoch, RNG key and
        History to a msgpack file, atomically (write, then rename)."""
        return save_copies(path, [copy_snapshot(self)])

    def load(self, path: str | os.PathLike) -> Trainer:
        """Restore a checkpoint written by :meth:`save`, to continue training.

        Everything is checked before anything is assigned: on a
        :class:`CheckpointError` (unreadable file, other format version, other
        weight names or shapes, other seed) the trainer and model are unchanged.
        For the weights alone (inference, any seed) see :func:`braintask.save_weights`.

        Returns
        -------
        Trainer
            This trainer, restored.
        """
        load_copies(path, [self], [None])
        if self.engine.mesh is not None:
            for s in self.engine.train_states:
                s.value = jax.device_put(s.value, self.engine.replicated)
        return self

    # ------------------------------------------------------------------ for the fit loop
    @property
    def copies(self) -> list[dict]:
        """The one copy this trainer trains (the fit loop's view of it)."""
        return [{"seed": self.seed, "lr": None}]

    def _views(self) -> list[Trainer]:
        return [self]

    def _place(self, data: TaskDataset) -> dict:
        # one device: the data sits on it and the program gathers each minibatch; a
        # mesh: each process hands its devices their share of every minibatch
        feeder = self.engine.feeder
        return feeder.to_host(data) if feeder.mesh is not None else feeder.to_device(data)

    def _undo_epoch(self) -> None:
        """Nothing to undo: the guarded steps kept the weights of the last finite one."""

    def _begin(self) -> None:
        """Nothing to prepare: the model's states are the ones the programs train."""

    def _end(self) -> None:
        """Nothing to put back."""

    def _run_epoch(self, data: dict, n: int, held: dict, update: bool = True) -> EpochResult:
        """One epoch: ``(stats, finite, held_stats, n_steps)``. With ``update=False``
        (fused mode) every update is discarded: the held-out metrics are those of
        the current weights, from the same program."""
        e = self.engine
        order, tail = epoch_order(self.seed, self.epoch, n, self.batch_size)
        tail_index = tail if len(tail) and not self.drop_last else None
        n_steps = len(order) + (tail_index is not None)
        flag = jnp.asarray(update)
        if self.mode == "fused":
            if e.mesh is None:
                out = e.epoch_fn(data, jnp.asarray(order), None if tail_index is None
                                 else jnp.asarray(tail_index), held, flag)
            else:  # each process hands its devices their share of every minibatch
                out = e.batches_epoch_fn(e.feeder.feed(data, order), None if tail_index is None
                                         else e.feeder.feed(data, tail_index), held, flag)
            return (*out, n_steps)
        steps, ok = [], jnp.asarray(True)
        for index in list(order) + ([] if tail_index is None else [tail_index]):
            batch = e.feeder.feed(data, index) if e.mesh is not None \
                else e.feeder.take(data, jnp.asarray(index))
            ok, out = e.step_fn(ok, batch)
            steps.append(out)
            if not bool(out[1]):
                break
        stats, finite = jax.tree.map(lambda *a: jnp.stack(a), *steps)
        held_stats = {k: e.eval_fn(d) for k, d in held.items()} if bool(np.all(finite)) else {}
        return stats, finite, held_stats, n_steps

    def _train_epoch(self, data: dict, n: int, held: dict, active: np.ndarray) -> list[EpochResult]:
        return [self._run_epoch(data, n, held)]

    def _initial(self, data: dict, n: int, held: dict) -> list[dict]:
        """At the first fit: seed brainstate's RNG; the untrained held-out metrics."""
        if self.epoch != 0 or self.history.initial:
            return [{}]
        brainstate.random.seed(self.seed)
        if not held:
            return [{}]
        if self.mode == "step":
            return [{name: self.engine.eval_fn(d) for name, d in held.items()}]
        # The epoch program with every update discarded evaluates the untrained
        # model: no second program to compile. The random key is put back.
        key = brainstate.random.DEFAULT.value
        held_stats = self._run_epoch(data, n, held, update=False)[2]
        brainstate.random.DEFAULT.value = key
        return [held_stats]

    def _check_processes_agree(self, train: TaskDataset, held: dict) -> None:
        """With a mesh over several processes: each process must hold the same
        run, or the global minibatches would mix different data (a clear error
        in every process, before any program runs)."""
        if self.engine.mesh is None or process_count() == 1:
            return
        facts = {"seed": self.seed, "batch_size": self.batch_size, "epoch": self.epoch,
                 "mode": ["fused", "step"].index(self.mode), "drop_last": self.drop_last,
                 "weights": fingerprint(*[s.value for s in self.engine.param_states]),
                 "optimizer states": fingerprint(*jax.tree.leaves(
                     [s.value for s in self.engine.opt_states]))}
        facts.update(data_facts(train, held))
        check_agree(facts, "Trainer.fit")
