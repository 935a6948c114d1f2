"""Many copies of a model (seeds x learning rates), trained in one compiled program."""

from __future__ import annotations

import copy
import itertools
import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from .._callbacks.base import Callback
from .._callbacks.criterion import Criterion
from .._callbacks.loggers import BraintoolsLogger, CSVLogger, JSONLinesLogger
from .._callbacks.order import fit_callbacks
from .._checkpoint.copies import copy_snapshot, load_copies, save_copies
from .._checkpoint.format import named_params
from .._checks import check_progress
from .._distributed import spans_processes, to_host
from .._engine.programs import Engine
from .._history import History, summary_table
from .._objective.penalties import Penalty
from .._models.rate import LeakyRNNCell
from .copies import (CopyView, check_copies_agree, check_lrs, check_same_structure, check_seeds,
                     epoch_plans)
from .fitloop import EpochResult, TrainData, Trials, run_fit
from .setup import check_metrics, checked_eval_data, make_mesh
from .trainer import Trainer

if TYPE_CHECKING:
    import pandas

#: ``fit(callbacks=...)`` of a MultiSeedTrainer: callbacks every copy gets its own
#: copy of, or a function of the copy (``{"seed": ..., "lr": ...}``) that builds them.
CopyCallbacks = Sequence[Callback | Callable[[Any, dict], None]] | Callable[[dict], Sequence]

__all__ = ["MultiSeedTrainer"]


class MultiSeedTrainer:
    """Train one copy of a model per seed (and per learning rate) in one compiled program.

    For every copy, ``build_model()`` and ``build_optimizer()`` (called as
    ``build_optimizer(lr)`` when ``lrs`` is given) run right after
    ``brainstate.random.seed(seed)``, so copy ``k`` starts from exactly the
    weights a single :class:`Trainer` run seeded that way starts from, and it
    shuffles its minibatches with its own seed. During :meth:`fit` the copies'
    states are stacked along a leading axis and one epoch of every copy runs
    as one program (``brainstate.transform.vmap2`` around the shared fused
    epoch): one compilation instead of one per copy. Each copy starts from
    its own model's initial hidden states (its own draw, for a random
    ``init_state``), so it equals the single :class:`Trainer` run of its seed:
    under plain SGD its weights and training metrics bit for bit (its held-out
    metrics, computed inside the stacked program, to the last bit or two;
    :class:`braintask.LeakyRNNCell` networks, whose stacked matrix products
    may round otherwise, to a few 1e-8 in the losses);
    with gradient clipping, or under Adam (and other optimizers that divide by
    a running root mean square), the compiled update of stacked copies may
    round otherwise in the last bit, so weights agree to a few 1e-7 and losses
    to about 1e-7 over a few epochs (vanilla RNN, HORN and GRU networks); in
    oscillator networks and other sensitive dynamics such differences grow
    with training (Wilson-Cowan networks under clipped Adam: 7e-5 in the
    weights after two epochs).

    Copies may differ in seed and learning rate, because the rate lives in the
    optimizer's schedule states, which are stacked like the weights. Other
    optimizer settings (weight decay, betas, clipping norm) are Python
    constants baked into the optax transformation when the optimizer is built,
    so one program cannot vary them: use one MultiSeedTrainer per setting.

    A model that draws random numbers while it trains (the noise of a
    :class:`braintask.LeakyRNNCell`, dropout, ``init_states="per_trial"``)
    draws them for all copies from brainstate's one random stream: each copy
    still starts from its seed's weights, but it no longer trains to its single
    :class:`Trainer` run's weights, and the first fit warns so.

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
    batch_size, loss, metrics, drop_last, init_states, penalties
        As for :class:`Trainer`. With ``init_states="per_trial"`` the copies draw
        their initial states from brainstate's one random key (not one per copy):
        reproducible, but unlike its weights a copy's draws are not those of its
        single :class:`Trainer` run.
    progress : bool or None
        tqdm bar over epochs; None shows it on a terminal and in notebooks.
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
    >>> train, test = braintask.delayed_match_task(96, delay=4, noise=0.05).split(64)
    >>> grid = braintask.MultiSeedTrainer(
    ...     lambda: brainmass.HORNSeqNetwork(n_input=4, n_hidden=16, n_output=2, alpha=0.2),
    ...     lambda lr: braintools.optim.Adam(lr=lr),
    ...     seeds=[0, 1], lrs=[1e-2, 3e-3], batch_size=16)
    >>> histories = grid.fit(train, test, epochs=2)
    >>> len(histories), grid.copies[2], histories[2][0]["lr"]
    (4, {'seed': 0, 'lr': 0.003}, 0.003)
    """

    def __init__(self, build_model: Callable[[], brainstate.nn.Module], build_optimizer: Callable,
                 *, seeds: Sequence[int], lrs: Sequence[float] | None = None, batch_size: int,
                 loss: Callable | None = None, metrics: Mapping[str, Callable] | None = None,
                 drop_last: bool = True, progress: bool | None = None,
                 devices: str | Sequence[jax.Device] | None = None,
                 init_states: str | None = None,
                 penalties: Sequence[Penalty] | None = None) -> None:
        if not callable(build_model) or not callable(build_optimizer):
            raise TypeError(
                "build_model and build_optimizer must be callables that return a new model and "
                "a new optimizer, e.g. lambda: braintools.optim.Adam(lr=1e-3).")
        self.copies: list[dict[str, Any]] = [
            {"seed": s, "lr": lr}
            for lr, s in itertools.product(check_lrs(lrs), check_seeds(seeds))]
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
                                         progress=False, init_states=init_states,
                                         penalties=penalties))
        first = self.trainers[0]
        self.batch_size, self.drop_last = first.batch_size, first.drop_last
        check_same_structure(self.copies, self.trainers)
        # A second engine on copy 0's states runs every copy: its states carry all
        # copies' values, stacked, while fit runs.
        self.engine = Engine(first.model, first.optimizer, loss=loss,
                             metrics=check_metrics(metrics), train_batch=self.batch_size,
                             hidden=first.engine.hidden, penalties=penalties)
        self.devices: list[jax.Device] | None = None
        if devices is not None:
            from jax.sharding import NamedSharding, PartitionSpec as P

            mesh, self.devices = make_mesh(devices, len(self.copies), "copies",
                                           "the number of copies")
            self.engine.feeder.copy_sharding = NamedSharding(mesh, P("copies"))
        self.engine.compile(copies=len(self.copies))
        first.engine.reset_hidden()
        self.epoch = 0  # epochs run by fit (copies that stopped early have fewer)
        self.stopped = [False] * len(self.copies)
        self._resumed = self._stacked = self._warned_random = False
        self._current: list[CopyView] = []
        self.metric_names: list[str] = []

    @property
    def histories(self) -> list[History]:
        """One History per copy, in the order of :attr:`copies`."""
        return [t.history for t in self.trainers]

    def summary(self, metrics: Sequence[str] | None = None) -> pandas.DataFrame:
        """One row per copy (seed, learning rate, epochs, last metrics, criterion):
        a ``pandas.DataFrame``."""
        return summary_table(self.copies, self.histories, metrics)

    # ------------------------------------------------------------------ checkpoints
    def _snapshots(self) -> list[dict]:
        """One snapshot per copy; while fit runs, sliced out of the stacked states
        (read to the host once)."""
        if not self._stacked:
            return [copy_snapshot(t, lr=c["lr"]) for c, t in zip(self.copies, self.trainers)]
        names = named_params(self.trainers[0].model)
        params = to_host({name: s.value for name, s in names.items()})
        opt = to_host([s.value for s in self.engine.opt_states])
        take = lambda v, k: jax.tree.map(lambda a: a[k], v)
        return [copy_snapshot(t, params=take(params, k), opt=take(opt, k), lr=c["lr"])
                for k, (c, t) in enumerate(zip(self.copies, self.trainers))]

    def save(self, path: str | os.PathLike) -> str:
        """Save every copy (weights, optimizer and schedule states, epoch, History),
        which copies have stopped, and the RNG key, in one file, atomically."""
        stopped = [v.stop_training for v in self._current] if self._stacked else self.stopped
        return save_copies(path, self._snapshots(), extra={"stopped": stopped, "epoch": self.epoch})

    def load(self, path: str | os.PathLike) -> MultiSeedTrainer:
        """Restore a checkpoint written by :meth:`save` (or ``fit(checkpoint=...)``);
        the next :meth:`fit` continues exactly. Everything is checked first: on a
        :class:`CheckpointError` nothing changes.

        Returns
        -------
        MultiSeedTrainer
            This trainer, restored.
        """
        extra = load_copies(path, self.trainers, [c["lr"] for c in self.copies])
        self.stopped = [bool(s) for s in extra.get("stopped", self.stopped)]
        self.epoch = int(extra.get("epoch", 0))
        self._resumed = True
        return self

    # ------------------------------------------------------------------ stacking
    def _stack(self) -> None:
        for i, state in enumerate(self.engine.train_states):
            state.value = jax.tree.map(lambda *v: jnp.stack(v),
                                       *[t.engine.train_states[i].value for t in self.trainers])
            if self.engine.feeder.copy_sharding is not None:
                state.value = jax.device_put(state.value, self.engine.feeder.copy_sharding)
        sharding = self.engine.feeder.copy_sharding
        self.engine.hidden.stack([t.engine.hidden.initial for t in self.trainers],
                                 None if sharding is None else lambda v: jax.device_put(v, sharding))
        self.engine.reset_hidden()
        self._stacked = True

    def _unstack(self) -> None:
        stacked = [s.value for s in self.engine.train_states]
        if spans_processes(self.engine.feeder.copy_sharding):  # every process indexes all
            stacked = to_host(stacked)
        for k, trainer in enumerate(self.trainers):
            for state, value in zip(trainer.engine.train_states, stacked):
                state.value = jax.tree.map(lambda v: jnp.asarray(v[k]), value)
            trainer.engine.spec = self.engine.spec
        self.engine.hidden.unstack()
        self.trainers[0].engine.reset_hidden()
        self._stacked = False

    # ------------------------------------------------------------------ for the fit loop
    def _views(self) -> list[CopyView]:
        if not self._resumed:
            self.stopped = [False] * len(self.copies)
        self._resumed = False
        self._current = [CopyView(self, k) for k in range(len(self.copies))]
        for view, stopped in zip(self._current, self.stopped):
            view.stop_training = stopped
        return self._current

    def _place(self, data: Any) -> dict:
        return self.engine.feeder.to_device(data)

    _begin = _stack

    def _end(self) -> None:
        self.stopped = [v.stop_training for v in self._current]
        self._unstack()

    def _plans(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        return epoch_plans(self.trainers, n, self.batch_size, self.drop_last)

    def _initial(self, data: dict, n: int, held: dict) -> list[dict]:
        """The untrained copies' held-out metrics (first fit only): the epoch program
        with every copy inactive, so no second program to compile."""
        if not held or any(t.history.initial for t in self.trainers) \
                or any(t.epoch for t in self.trainers):
            return [{} for _ in self.trainers]
        orders, tails = self._plans(n)
        inactive = np.zeros(len(self.copies), bool)
        stats = to_host(self.engine.epoch_fn(data, orders, tails, held, inactive)[2])
        return [jax.tree.map(lambda a: a[k], stats) for k in range(len(self.copies))]

    def _train_epoch(self, data: dict, n: int, held: dict,
                     active: np.ndarray) -> list[EpochResult]:
        orders, tails = self._plans(n)
        self._before = [s.value for s in self.engine.train_states]
        out = self.engine.epoch_fn(data, orders, tails, held, active)
        if not self._warned_random and self._draws_random():
            self._warned_random = True
            warnings.warn(
                "the model draws random numbers while it trains (noise, dropout, random "
                "initial states): the copies draw them from one random stream, so a copy "
                "starts from the weights of its single Trainer run but does not train to "
                "them (without random draws it does). Compare copies with each other, or "
                "train one Trainer per seed to reproduce a single run.", UserWarning,
                stacklevel=5)
        stats, finite, held_stats = to_host(out)  # to the host, once
        self.epoch += 1
        n_steps = finite.shape[1]
        return [(jax.tree.map(lambda a: a[k], stats), finite[k],
                 jax.tree.map(lambda a: a[k], held_stats), n_steps)
                for k in np.flatnonzero(active)]

    def _draws_random(self) -> bool:
        """Whether training draws random numbers: a noisy :class:`LeakyRNNCell`,
        dropout, or initial states drawn per trial."""
        if self.trainers[0].init_states == "per_trial":
            return True
        for _, module in self.trainers[0].model.nodes(brainstate.nn.Module).items():
            if isinstance(module, LeakyRNNCell) and (module.sigma_rec or module.sigma_in):
                return True
            if isinstance(module, brainstate.nn.Dropout) and getattr(module, "prob", 1.0) < 1:
                return True
        return False

    def _undo_epoch(self) -> None:
        """Every copy back to its weights from before the failed epoch."""
        for s, v in zip(self.engine.train_states, self._before):
            s.value = v
        self.epoch -= 1

    def _check_processes_agree(self, train: Any, held: dict) -> None:
        check_copies_agree(self, train, held)

    # ------------------------------------------------------------------ training
    def fit(self, train: TrainData, test: Trials | None = None, *, epochs: int,
            val: Trials | None = None, stop_at: Mapping[str, float] | None = None,
            patience: int | None = None, monitor: str | None = None, mode: str | None = None,
            restore_best: bool = True, criterion: Criterion | None = None,
            checkpoint: str | os.PathLike | None = None,
            callbacks: CopyCallbacks = ()) -> list[History]:
        """Train every copy for up to ``epochs`` more epochs; return one History per copy.

        ``train`` (a dataset or a :class:`braintask.TrialSource`: every copy
        trains on the same trials of an epoch), ``test``, ``val`` and the
        stopping arguments are as for :meth:`Trainer.fit`, applied to each copy
        on its own: a copy that reaches ``stop_at`` or its ``criterion``, or runs
        out of ``patience``, stops updating while the others go on (its History
        ends there, and a learning-rate schedule steps per copy); each copy gets
        its own copy of ``criterion``. ``checkpoint`` saves all copies after
        every epoch; :meth:`load` resumes exactly, copies that had stopped included.

        ``callbacks`` run for each copy, after the built-in ones and in the same
        order as in :meth:`Trainer.fit`; each sees its copy (``trainer.history``,
        ``trainer.stop_training``, weights). Either a list, of which every copy
        gets its own deep copy (callables are shared), or a function
        ``callbacks(copy) -> list`` called once per copy with ``{"seed": ...,
        "lr": ...}``, for callbacks that need a place of their own per copy
        (loggers: ``lambda c: [braintask.CSVLogger(f"seed{c['seed']}.csv")]``).

        Raises
        ------
        TrainingDiverged
            If any copy's loss or gradients become NaN or inf; the message names
            the copy, and every copy keeps its weights from before that epoch.
        """
        orders = [fit_callbacks(self._copy_callbacks(callbacks, c), stop_at=stop_at,
                                patience=patience, monitor=monitor, mode=mode,
                                restore_best=restore_best,
                                criterion=None if criterion is None else copy.deepcopy(criterion),
                                schedule=t.engine.schedule.changes)
                  for c, t in zip(self.copies, self.trainers)]
        run_fit(self, train, {"val": val, "test": test}, epochs=epochs, callbacks=orders,
                checkpoint=checkpoint, desc=f"epochs ({len(self.copies)} copies)")
        return self.histories

    @staticmethod
    def _copy_callbacks(callbacks: CopyCallbacks, copy_: dict) -> Sequence:
        """One copy's own callbacks (see :meth:`fit`)."""
        if callable(callbacks) and not isinstance(callbacks, Callback):
            made = callbacks(dict(copy_))
            if isinstance(made, (Callback, str, bytes)) or not isinstance(made, Sequence):
                raise TypeError("callbacks(copy) must return a list of callbacks, got "
                                f"{type(made).__name__}.")
            return made
        if isinstance(callbacks, Sequence) and not isinstance(callbacks, (str, bytes)):
            for cb in callbacks:
                if isinstance(cb, (CSVLogger, JSONLinesLogger, BraintoolsLogger)):
                    raise TypeError(
                        f"a {type(cb).__name__} in MultiSeedTrainer.fit(callbacks=[...]) would "
                        "be shared by every copy: pass a function of the copy instead, e.g. "
                        "callbacks=lambda c: [braintask.CSVLogger(f\"seed{c['seed']}.csv\")].")
            return copy.deepcopy(list(callbacks))
        return callbacks  # fit_callbacks names what is wrong

    def evaluate(self, data: Trials) -> list[dict[str, float]]:
        """Loss and metrics of every copy on a dataset, in one compiled pass: one
        ``{"loss": ..., "acc": ...}`` dict per copy, in the order of :attr:`copies`
        (e.g. score the test set once, after choosing on the validation set)."""
        data = checked_eval_data(self.engine, data, "MultiSeedTrainer.evaluate",
                                 spans_processes(self.engine.feeder.copy_sharding))
        self._stack()
        try:
            stats = to_host(self.engine.eval_fn(self.engine.feeder.to_device(data)))
        finally:
            self._unstack()
        spec = self.engine.spec
        assert spec is not None  # fixed by checked_eval_data
        names = spec.stat_names()
        return [{m: float(stats[m][0][k]) for m in names} for k in range(len(self.copies))]

    def predict(self, inputs: Any, *, states: bool = False) -> list:
        """:meth:`Trainer.predict` of every copy, in the order of :attr:`copies`."""
        return [t.predict(inputs, states=states) for t in self.trainers]
