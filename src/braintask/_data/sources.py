"""Sources of fresh training trials: a new set of trials for every epoch, as the field
trains recurrent networks on cognitive tasks (neurogym's ``Dataset``, PsychRNN's
generators, Yang et al. 2019 draw new trials for every update)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._checks import check_choice, check_int
from .convert import as_dataset
from .dataset import TaskDataset

if TYPE_CHECKING:
    import brainunit as u
    from braintools.cogtask import Task

__all__ = ["TrialSource", "delayed_match_source", "cogtask_source"]


def _layout(data: TaskDataset) -> tuple:
    return (data.seq_len, data.n_features, data.per_step, data.vector, data.n_classes,
            data.mask is not None, data.decision is not None, data.weights is not None)


class TrialSource:
    """Fresh training trials: epoch ``e`` trains on ``sample(e)``.

    Pass a source to :meth:`braintask.Trainer.fit` (or
    :meth:`braintask.MultiSeedTrainer.fit`) in place of a training set. The
    trials of an epoch must depend on the epoch number alone (seed your
    generator with it): then a run killed and resumed from a checkpoint trains
    on exactly the trials of a straight run. Every epoch must have
    ``n_trials`` trials of one layout (steps, features, target kind, classes,
    masks and weights present or not).

    Parameters
    ----------
    sample : callable
        ``sample(epoch) -> TaskDataset`` (or an ``(inputs, targets)`` pair).
    n_trials : int
        Trials per epoch.
    held_out : callable, optional
        ``held_out(n, **options) -> TaskDataset``: trials the source never
        trains on, behind :meth:`held_out`.
    info : dict, optional
        How the trials are made.

    Examples
    --------
    >>> import braintask
    >>> source = braintask.TrialSource(
    ...     lambda epoch: braintask.delayed_match_task(32, seq_len=5, noise=0.1,
    ...                                                seed=epoch), 32)
    >>> source.trials(0).n_samples, source.trials(0).count_in(source.trials(1))
    (32, 0)
    """

    def __init__(self, sample: Callable[[int], TaskDataset], n_trials: int, *,
                 held_out: Callable[..., Any] | None = None, info: dict | None = None) -> None:
        if not callable(sample):
            raise TypeError(f"sample must be a callable sample(epoch) -> TaskDataset, "
                            f"got {type(sample).__name__}.")
        self.sample, self._held_out = sample, held_out
        self.n_trials = check_int("n_trials", n_trials, 1)
        self.info = dict(info or {})
        self._first: tuple | None = None

    def __repr__(self) -> str:
        return f"TrialSource({self.info.get('task', 'trials')}, n_trials={self.n_trials})"

    def trials(self, epoch: int) -> TaskDataset:
        """The trials of ``epoch`` (>= 0), checked against the first epoch drawn."""
        epoch = check_int("epoch", epoch, 0)
        data = as_dataset(self.sample(epoch), f"the trials of epoch {epoch}")
        if data.n_samples != self.n_trials:
            raise ValueError(f"the source returned {data.n_samples} trials for epoch {epoch}; "
                             f"it promises n_trials={self.n_trials} per epoch.")
        layout = _layout(data)
        if self._first is None:
            self._first = (epoch, layout)
        elif layout != self._first[1]:
            names = ("seq_len", "n_features", "per_step", "vector", "n_classes", "mask",
                     "decision", "weights")
            diff = ", ".join(f"{n} {a!r} (epoch {self._first[0]}: {b!r})"
                             for n, a, b in zip(names, layout, self._first[1]) if a != b)
            raise ValueError(f"the trials of epoch {epoch} differ in layout from those of "
                             f"epoch {self._first[0]}: {diff}. Every epoch must have the "
                             f"same shape, target kind and masks.")
        return data

    def held_out(self, n: int, **options: Any) -> TaskDataset:
        """``n`` fixed trials the source never trains on (for validation and test)."""
        if self._held_out is None:
            raise TypeError("this TrialSource has no way to draw held-out trials; build it "
                            "with held_out=, or make a fixed dataset yourself.")
        return as_dataset(self._held_out(check_int("n", n, 1), **options), "held-out trials")

    def count_copies(self, held: TaskDataset, epochs: int | Iterable[int]) -> int:
        """How many trials of ``held`` copy, exactly, a training trial of any of
        ``epochs`` (an int: the first that many epochs, or an iterable of epochs)."""
        epochs = range(check_int("epochs", epochs, 0)) if isinstance(epochs, int) else epochs
        held = as_dataset(held, "held")
        rows = {row.tobytes() for e in epochs for row in self.trials(e)._rows()}
        return int(sum(row.tobytes() in rows for row in held._rows()))


def _derived_seed(*entropy: int) -> int:
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)[0])


def delayed_match_source(n_trials: int, *, seq_len: int | None = None, n_symbols: int = 4,
                         seed: int = 0, delay: int | None = None,
                         noise: float = 0.0) -> TrialSource:
    """Fresh delayed match-to-sample trials every epoch.

    Epoch ``e`` is ``delayed_match_task(n_trials, ..., seed=s_e)`` with ``s_e``
    derived from ``(seed, e)`` by ``numpy.random.SeedSequence``;
    ``held_out(n, split="val" | "test")`` uses seeds derived from
    ``(seed, split)``, which no epoch uses. Without ``noise`` there are only
    ``n_symbols ** 2`` distinct sequences (cue by probe), so held-out trials
    copy training ones: give ``noise=`` to make every trial new.

    Examples
    --------
    >>> import braintask
    >>> source = braintask.delayed_match_source(64, seq_len=6, n_symbols=2, noise=0.1)
    >>> val = source.held_out(32, split="val")
    >>> source.trials(1).n_samples, source.count_copies(val, 3)
    (64, 0)
    """
    from .delayed_match import delayed_match_task

    args: dict[str, Any] = dict(seq_len=seq_len, n_symbols=n_symbols, delay=delay, noise=noise)
    seed = check_int("seed", seed, 0)
    delayed_match_task(1, seed=seed, **args)  # checks the arguments now, not at epoch 0

    def sample(epoch: int) -> TaskDataset:
        return delayed_match_task(n_trials, seed=_derived_seed(seed, 0, epoch), **args)

    def held_out(n: int, split: str = "test") -> TaskDataset:
        tag = 1 + ["val", "test"].index(check_choice("split", split, ("val", "test")))
        return delayed_match_task(n, seed=_derived_seed(seed, tag), **args)

    info = dict(task="delayed_match_task", n_trials=n_trials, seed=seed, **args)
    return TrialSource(sample, n_trials, held_out=held_out, info=info)


def cogtask_source(task: Task, n_trials: int, *, dt: u.Quantity | None = None,
                   decision_phase: str | Iterable[str] | None = None,
                   n_classes: int | None = None, grace: u.Quantity | None = None,
                   response_weight: float | None = None,
                   first_index: int = 1_000_000) -> TrialSource:
    """Fresh trials of a ``braintools.cogtask`` task every epoch.

    Epoch ``e`` is ``from_cogtask(task, n_trials, start_index=first_index + e *
    n_trials, ...)``: a new block of trial indices per epoch. A seeded task
    (``Task(seed=...)``) draws each trial from its index, so training is
    reproducible and ``held_out(n, start_index=0)`` (indices below
    ``first_index``, checked) never shares a trial with training (rounding
    can make a trial differ with the size of the set it is drawn in, a label
    included, so the sets are always drawn whole). The other arguments are
    those of :func:`braintask.from_cogtask`; building the source draws epoch
    0's trials once (which checks the arguments and compiles the sampler for
    the epoch's size), so each epoch's draw costs milliseconds.

    Examples
    --------
    >>> import brainunit as u, braintask
    >>> from braintools import cogtask
    >>> task = cogtask.PerceptualDecisionMaking(seed=0)
    >>> source = braintask.cogtask_source(task, 64, dt=20 * u.ms)
    >>> val = source.held_out(32, start_index=0)
    >>> source.trials(0).info["start_index"], val.n_samples
    (1000000, 32)
    """
    from .cogtask import from_cogtask

    n_trials = check_int("n_trials", n_trials, 1)
    first_index = check_int("first_index", first_index, 1)
    options: dict[str, Any] = dict(dt=dt, decision_phase=decision_phase, n_classes=n_classes,
                                   grace=grace, response_weight=response_weight)
    # epoch 0's trials drawn now check the arguments, and compile the sampler for the set
    # size every epoch draws (sets are drawn whole: in ProbabilisticReasoning, drawing a
    # set in blocks of 128 trials changes labels on 50-200 of 512 trials' steps)
    from_cogtask(task, n_trials, start_index=first_index, **options)

    def sample(epoch: int) -> TaskDataset:
        return from_cogtask(task, n_trials, start_index=first_index + epoch * n_trials,
                            **options)

    def held_out(n: int, start_index: int = 0) -> TaskDataset:
        start_index = check_int("start_index", start_index, 0)
        if start_index + n > first_index:
            raise ValueError(f"held-out trials {start_index}..{start_index + n - 1} reach the "
                             f"training indices (from first_index={first_index}); draw fewer, "
                             f"or build the source with a larger first_index.")
        return from_cogtask(task, n, start_index=start_index, **options)

    info = dict(task=type(task).__name__, n_trials=n_trials, first_index=first_index,
                seed=getattr(task, "seed", None))
    return TrialSource(sample, n_trials, held_out=held_out, info=info)
