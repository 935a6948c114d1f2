"""Many independently seeded copies of a model, trained in one compiled program."""

from __future__ import annotations

import sys
import time
from typing import Callable, Mapping, Sequence

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ._errors import TrainingDiverged
from ._history import History
from ._dataset import _check_int
from ._trainer import Trainer

__all__ = ["MultiSeedTrainer"]


class MultiSeedTrainer:
    """Train one copy of a model per seed, all in one compiled program per epoch.

    For every seed, ``build_model()`` and ``build_optimizer()`` are called right
    after ``brainstate.random.seed(seed)``, so copy ``k`` starts from exactly the
    weights a single run seeded with ``seeds[k]`` would start from, and it
    shuffles its minibatches with its own seed as :class:`Trainer` does. During
    :meth:`fit` the copies' states are stacked along a leading axis and one
    epoch of all copies runs as one program (``brainstate.transform.vmap2``
    around the Trainer's fused epoch, inside ``brainstate.transform.jit``):
    one compilation instead of one per seed. Each copy's History equals, to
    floating-point tolerance, a single :class:`Trainer` run with that seed.

    Parameters
    ----------
    build_model : callable
        ``build_model() -> brainstate.nn.Module``, mapping ``(T, B, F)`` to ``(B, C)``.
    build_optimizer : callable
        ``build_optimizer() -> braintools.optim.Optimizer``, a fresh optimizer per call.
    seeds : list of int
        One seed per copy; distinct, >= 0.
    batch_size, loss, metrics, drop_last
        As for :class:`Trainer` (``drop_last`` must stay True).
    progress : bool or None
        tqdm bar over epochs; None shows it only on a terminal.

    Attributes
    ----------
    trainers : list of Trainer
        One per seed; after :meth:`fit` each holds its own trained model, for
        ``evaluate``, ``predict`` or ``save``.

    Examples
    --------
    >>> import brainstate, braintools, brainmass, brainunit as u, braintask
    >>> brainstate.environ.set(dt=1.0 * u.ms)
    >>> train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2).split(64)
    >>> ensemble = braintask.MultiSeedTrainer(
    ...     lambda: brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2),
    ...     lambda: braintools.optim.Adam(lr=1e-2),
    ...     seeds=[0, 1, 2], batch_size=16)
    >>> histories = ensemble.fit(train, test, epochs=2)
    >>> len(histories), len(histories[0])
    (3, 2)
    """

    def __init__(
        self,
        build_model: Callable[[], brainstate.nn.Module],
        build_optimizer: Callable[[], object],
        *,
        seeds: Sequence[int],
        batch_size: int,
        loss: Callable | None = None,
        metrics: Mapping[str, Callable] | None = None,
        drop_last: bool = True,
        progress: bool | None = None,
    ):
        if not callable(build_model) or not callable(build_optimizer):
            raise TypeError(
                "build_model and build_optimizer must be callables that return a new model and "
                "a new optimizer, e.g. lambda: braintools.optim.Adam(lr=1e-3)."
            )
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not len(seeds):
            raise TypeError(f"seeds must be a non-empty sequence of ints, got {seeds!r}.")
        seeds = [_check_int("seeds[i]", s, 0) for s in seeds]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}.")
        if not drop_last:
            raise ValueError("drop_last=False is not supported by MultiSeedTrainer; use Trainer.")
        if progress not in (None, True, False):
            raise TypeError(f"progress must be True, False or None (terminal only), got {progress!r}.")
        self.seeds = seeds
        self.progress = progress
        self.trainers: list[Trainer] = []
        for seed in seeds:
            brainstate.random.seed(seed)
            model, optimizer = build_model(), build_optimizer()
            if any(model is t.model for t in self.trainers):
                raise ValueError("build_model must return a new model on every call.")
            self.trainers.append(Trainer(model, optimizer, batch_size=batch_size, seed=seed,
                                         loss=loss, metrics=metrics, progress=False))
        self.batch_size = self.trainers[0].batch_size
        # The first copy's states carry all copies' values, stacked, while fit runs.
        carrier = self.trainers[0]
        self._states = carrier._train_states + carrier._hidden.states
        axes = {0: self._states}
        # the data and the held-out set are shared; each copy has its own shuffle
        self._epoch_fn = brainstate.transform.jit(brainstate.transform.vmap2(
            carrier._epoch_impl, in_axes=(None, 0, None), state_in_axes=axes, state_out_axes=axes))
        self._eval_fn = brainstate.transform.jit(brainstate.transform.vmap2(
            carrier._eval_impl, in_axes=(None,), state_in_axes=axes, state_out_axes=axes))

    @property
    def histories(self) -> list[History]:
        """One History per seed."""
        return [t.history for t in self.trainers]

    def _stack(self):
        carrier = self.trainers[0]
        for i, state in enumerate(carrier._train_states):
            state.value = jax.tree.map(lambda *v: jnp.stack(v),
                                       *[t._train_states[i].value for t in self.trainers])

    def _unstack(self):
        stacked = [s.value for s in self.trainers[0]._train_states]
        for k, trainer in enumerate(self.trainers):
            for state, value in zip(trainer._train_states, stacked):
                state.value = jax.tree.map(lambda v: v[k], value)
        self.trainers[0]._hidden.reset(self.batch_size)

    def _set_hidden(self, batch: int):
        hidden = self.trainers[0]._hidden
        for state, init in zip(hidden.states, hidden.initial):
            state.value = jnp.broadcast_to(init, (len(self.seeds), batch) + init.shape)

    def _evaluate(self, batch) -> list[dict]:
        self._set_hidden(batch["x"].shape[1])
        loss, mets = self._eval_fn(batch)
        return [{"test_loss": float(loss[k]), **{f"test_{m}": float(v[k]) for m, v in mets.items()}}
                for k in range(len(self.seeds))]

    def fit(self, train, test=None, *, epochs: int) -> list[History]:
        """Train every copy for ``epochs`` more epochs; return one History per seed.

        ``train`` and ``test`` are as for :meth:`Trainer.fit`. Early stopping and
        checkpoints are per-model features: use each ``trainers[k]`` for those.

        Raises
        ------
        TrainingDiverged
            If any copy's loss or gradients become NaN or inf; the message names
            its seed, and every copy keeps its weights from before that epoch.
        """
        epochs = _check_int("epochs", epochs, 1)
        carrier = self.trainers[0]
        train = carrier._check_data(train, "train")
        if test is not None:
            test = carrier._check_data(test, "test")
        if self.batch_size > train.n_samples:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the training set "
                f"({train.n_samples} trials); use batch_size <= {train.n_samples}."
            )
        for t in self.trainers:
            t.n_classes = carrier.n_classes
            t.history.chance = 1.0 / carrier.n_classes
        train_data = carrier._on_device(train)
        test_data = None if test is None else carrier._on_device(test)

        self._stack()
        disable = None if self.progress is None else not self.progress
        if disable is None and not sys.stderr.isatty():
            disable = True
        bar = tqdm(total=epochs, desc=f"epochs ({len(self.seeds)} seeds)", unit="epoch",
                   disable=disable, leave=False)
        try:
            if test is not None and carrier.epoch == 0 and not carrier.history.initial:
                for t, rec in zip(self.trainers, self._evaluate(test_data)):
                    t.history.initial = rec
            self._set_hidden(self.batch_size)  # the compiled epoch keeps this shape
            for _ in range(epochs):
                t0 = time.perf_counter()
                epoch = carrier.epoch
                orders = jnp.asarray(np.stack([t._order(train.n_samples, epoch)[0] for t in self.trainers]))
                before = [s.value for s in carrier._train_states]
                (loss, mets, finite), test_out = self._epoch_fn(train_data, orders, test_data)
                loss, finite = np.asarray(loss), np.asarray(finite)
                if not finite.all():
                    k = int(np.argmin(finite.all(axis=1)))
                    step = int(np.argmin(finite[k])) + 1
                    for s, v in zip(carrier._train_states, before):
                        s.value = v
                    raise TrainingDiverged(
                        f"seed {self.seeds[k]}: the training loss or a gradient became NaN/inf at "
                        f"epoch {epoch + 1}, minibatch {step} of {finite.shape[1]}. Training "
                        f"stopped; every copy keeps its weights from before epoch {epoch + 1}.",
                        epoch=epoch + 1, step=step, history=self.trainers[k].history,
                    )
                tests = [{}] * len(self.seeds) if test_out is None else [
                    {"test_loss": float(test_out[0][k]),
                     **{f"test_{m}": float(v[k]) for m, v in test_out[1].items()}}
                    for k in range(len(self.seeds))]
                elapsed = (time.perf_counter() - t0) / len(self.seeds)
                for k, t in enumerate(self.trainers):
                    record = {"epoch": epoch + 1, "train_loss": float(loss[k].mean())}
                    record.update({f"train_{m}": float(np.mean(v[k])) for m, v in mets.items()})
                    record.update(tests[k])
                    record["time"] = elapsed
                    t.history.records.append(record)
                    t.epoch += 1
                bar.update(1)
        finally:
            bar.close()
            self._unstack()
        return self.histories
