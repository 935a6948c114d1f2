"""Task datasets: trials as a batch-major ``(N, T, F)`` input array and integer labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Union

import numpy as np
from numpy.typing import DTypeLike

from .._checks import check_int
from .._objective.losses import angular_error
from .fields import check_fields, check_n_train
from .trialvars import pick_trials, trial_table

if TYPE_CHECKING:
    import pandas

__all__ = ["TaskDataset"]

#: What selects trials: a slice, an integer array (or list) or a boolean mask.
TrialIndex = Union[slice, np.ndarray, Sequence[int]]


@dataclass(frozen=True)
class TaskDataset:
    """Trials of a cognitive task, with their labels.

    The layout is **batch-major**: ``inputs`` has shape ``(N, T, F)`` (trials,
    time steps, input features) and ``targets`` has shape ``(N,)`` with integer
    class labels in ``[0, n_classes)``. Models in the BrainX stack read
    **time-major** ``(T, B, F)`` sequences; :class:`braintask.Trainer` does that
    transposition itself.

    A dataset unpacks like the pair that ``brainmass.datasets`` returns, so
    ``inputs, targets = dataset`` works.

    Tasks with a label at every time step (such as ``braintools.cogtask``
    tasks, see :func:`from_cogtask`) have ``(N, T)`` targets, and may carry a
    ``mask`` (steps that count in the loss and accuracy) and a ``decision``
    mask (the steps of the decision period, for ``decision_acc``).

    Tasks with a continuous answer (cogtask's ``output_mode="vector"`` tasks,
    such as ``DelayDirectionReproduction``) have float ``(N, T, D)`` targets
    and ``n_classes=None``: :attr:`vector` is True, :attr:`output_dim` is
    ``D``, and the Trainer fits them with
    :func:`braintask.masked_mean_squared_error` and reports
    :func:`braintask.angular_error` over the decision period.

    Parameters
    ----------
    inputs : numpy.ndarray
        ``(N, T, F)`` input sequences.
    targets : numpy.ndarray
        ``(N,)`` integer labels, ``(N, T)`` labels per step, or ``(N, T, D)``
        float targets per step (continuous outputs).
    n_classes : int or None
        Number of classes; labels lie in ``[0, n_classes)``. None for
        continuous ``(N, T, D)`` targets (and only for them).
    info : dict, optional
        How the trials were made (generator name and arguments).
    mask, decision : numpy.ndarray, optional
        ``(N, T)`` booleans, for per-step targets only. ``mask`` defaults to
        all steps, ``decision`` to the masked steps.
    weights : numpy.ndarray, optional
        ``(N, T)`` finite weights >= 0 of each step in the loss, for per-step
        targets only (e.g. :func:`braintask.from_cogtask`'s ``grace`` and
        ``response_weight``). Accuracies still count the kept steps alike.
    trials : dict, optional
        Trial variables, ``{name: (N,) array}`` of finite numbers, booleans or
        strings: what the task says about each trial (the cue of a delayed
        match-to-sample trial, the coherence of a perceptual decision). They
        follow the trials through :meth:`subset`, :meth:`split` and
        :meth:`padded`; :meth:`trial_table` shows them. Default: none.

    Examples
    --------
    >>> import braintask
    >>> data = braintask.delayed_match_task(10, seq_len=5, n_symbols=3, seed=1)
    >>> inputs, targets = data
    >>> inputs.shape, targets.shape
    ((10, 5, 3), (10,))
    >>> train, test = data.split(8)
    >>> train.n_samples, test.n_samples
    (8, 2)
    """

    inputs: np.ndarray
    targets: np.ndarray
    n_classes: int | None
    info: dict = field(default_factory=dict)
    mask: np.ndarray | None = None
    decision: np.ndarray | None = None
    weights: np.ndarray | None = None
    trials: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in check_fields(self).items():
            object.__setattr__(self, name, value)

    def __iter__(self) -> Iterator[np.ndarray]:  # ``inputs, targets = dataset``, as in brainmass
        yield self.inputs
        yield self.targets

    def __repr__(self) -> str:
        name = self.info.get("task", "TaskDataset")
        return (
            f"{name}(n_samples={self.n_samples}, seq_len={self.seq_len}, "
            f"n_features={self.n_features}, "
            + (f"output_dim={self.output_dim})" if self.vector else f"n_classes={self.n_classes})")
        )

    @property
    def n_samples(self) -> int:
        """Number of trials ``N``."""
        return int(self.inputs.shape[0])

    @property
    def seq_len(self) -> int:
        """Number of time steps ``T`` per trial."""
        return int(self.inputs.shape[1])

    @property
    def n_features(self) -> int:
        """Input features ``F`` per time step."""
        return int(self.inputs.shape[2])

    @property
    def per_step(self) -> bool:
        """Whether there is a target at every time step (targets ``(N, T)`` or ``(N, T, D)``)."""
        return self.targets.ndim >= 2

    @property
    def vector(self) -> bool:
        """Whether the targets are continuous ``(N, T, D)`` vectors (``n_classes`` is None)."""
        return self.targets.ndim == 3

    @property
    def output_dim(self) -> int:
        """The number of outputs a model needs, ``D`` for continuous targets, else
        ``n_classes``."""
        if self.vector:
            return int(self.targets.shape[2])
        assert self.n_classes is not None  # check_fields: only continuous targets lack it
        return int(self.n_classes)

    def _decision_steps(self) -> np.ndarray:
        """``(N, T)`` booleans: the kept steps of the decision period."""
        keep = np.ones(self.targets.shape[:2], bool) if self.mask is None else self.mask.astype(bool)
        return keep if self.decision is None else keep & self.decision.astype(bool)

    @property
    def baseline_angular_error(self) -> float:
        """For continuous targets, the :func:`braintask.angular_error` (degrees) over
        the decision steps of always answering the mean decision-period target: the
        error any trained model must beat, the analogue of :attr:`majority_rate`.
        About 90 when the target directions are spread evenly. NaN for class labels.

        Examples
        --------
        >>> import numpy as np, braintask
        >>> angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        >>> targets = np.stack([np.cos(angles), np.sin(angles)], -1)[:, None, :]
        >>> data = braintask.TaskDataset(np.zeros((8, 1, 2)), targets, None)
        >>> round(data.baseline_angular_error)
        90
        """
        if not self.vector:
            return float("nan")
        steps = self._decision_steps()
        if not steps.any() or self.output_dim < 2:
            return float("nan")
        
        targets = self.targets[steps].astype(np.float64)
        answer = np.broadcast_to(targets.mean(axis=0), targets.shape)
        return float(angular_error(answer, targets))

    @property
    def class_balance(self) -> np.ndarray:
        """Fraction of trials in each class, shape ``(n_classes,)``."""
        if self.vector:
            raise ValueError("class_balance needs class labels; these targets are continuous "
                             "(n_classes=None).")
        counts = np.bincount(self.targets.astype(np.int64), minlength=self.output_dim)
        return counts / max(self.n_samples, 1)

    @property
    def majority_rate(self) -> float:
        """The accuracy of always giving the most common label, which any accuracy
        on this set must beat. For per-step targets it is taken over the decision
        steps (the steps ``decision_acc`` scores). NaN for continuous targets,
        which have no labels: see :attr:`baseline_angular_error`.

        Examples
        --------
        >>> import braintask
        >>> data = braintask.delayed_match_task(64, seq_len=6, n_symbols=2, seed=0)
        >>> train, test = data.split(40)
        >>> test.majority_rate >= 0.5
        True
        """
        if self.vector:
            return float("nan")
        if self.per_step:
            labels = self.targets[self._decision_steps()]
        else:
            labels = self.targets
        if labels.size == 0:
            return float("nan")
        counts = np.bincount(labels.astype(np.int64), minlength=self.output_dim)
        return float(counts.max() / labels.size)

    def _rows(self) -> np.ndarray:  # float64 bytes per trial: float32 and float64 copies match
        return np.ascontiguousarray(self.inputs, dtype=np.float64).reshape(self.n_samples, -1)

    def _keys(self) -> set:
        return {row.tobytes() for row in self._rows()}

    @property
    def n_distinct(self) -> int:
        """Number of distinct input sequences among the trials."""
        return len(self._keys())

    def count_in(self, other: "TaskDataset") -> int:
        """How many of these trials have an input sequence that also occurs, exactly,
        in ``other``: held-out trials should be new, so ``test.count_in(train)``
        should be 0.

        Examples
        --------
        >>> import braintask
        >>> train, test = braintask.delayed_match_task(64, seq_len=6, n_symbols=2).split(48)
        >>> test.count_in(train), test.n_samples  # noise-free: only 4 distinct sequences
        (16, 16)
        >>> train, test = braintask.delayed_match_task(64, seq_len=6, n_symbols=2,
        ...                                            noise=0.1).split(48)
        >>> test.count_in(train)
        0
        """
        if not isinstance(other, TaskDataset):
            raise TypeError(f"other must be a TaskDataset, got {type(other).__name__}.")
        seen = other._keys()
        return int(sum(row.tobytes() in seen for row in self._rows()))

    def time_major(self) -> np.ndarray:
        """The inputs as a time-major ``(T, N, F)`` array, the layout models read."""
        return np.transpose(self.inputs, (1, 0, 2))

    def subset(self, index: TrialIndex) -> "TaskDataset":
        """The trials selected by ``index`` (a slice, integer array or boolean mask)."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return TaskDataset(self.inputs[index], self.targets[index], self.n_classes, dict(self.info),
                           pick(self.mask), pick(self.decision), pick(self.weights),
                           pick_trials(self.trials, index))

    def trial_table(self) -> pandas.DataFrame:
        """The trial variables (``trials``) as a pandas DataFrame, one row per trial.

        Examples
        --------
        >>> import braintask
        >>> data = braintask.delayed_match_task(4, seq_len=5, n_symbols=3, seed=1)
        >>> list(data.trial_table().columns), len(data.trial_table())
        (['cue', 'probe', 'match'], 4)
        """
        return trial_table(self)

    def batch(self, index: TrialIndex | None = None,
              dtype: DTypeLike = np.float32) -> dict[str, np.ndarray]:
        """Trials as a time-major minibatch: the dict a Trainer's compiled step reads.

        ``{"x": (T, B, F)}`` and ``{"y": (B,)}``, or for per-step targets
        ``"y"``, ``"mask"`` and ``"decision"`` of shape ``(T, B)`` (``"y"``
        ``(T, B, D)`` floats for continuous targets); ``index`` selects trials
        (all by default).
        """
        index = slice(None) if index is None else index
        out = {"x": np.asarray(self.inputs[index], dtype=dtype).swapaxes(0, 1)}
        y = np.asarray(self.targets[index], dtype=dtype if self.vector else np.int32)
        if not self.per_step:
            out["y"] = y
            return out
        mask = np.ones(y.shape[:2], bool) if self.mask is None else self.mask[index]
        decision = mask if self.decision is None else self.decision[index] & mask
        out["y"] = y.swapaxes(0, 1)
        out["mask"] = mask.swapaxes(0, 1).astype(dtype)
        out["decision"] = decision.swapaxes(0, 1).astype(dtype)
        if self.weights is not None:  # the loss's step weights, zero where masked out
            out["weight"] = (self.weights[index] * mask).swapaxes(0, 1).astype(dtype)
        return out

    def padded(self, seq_len: int | None = None, n_features: int | None = None) -> "TaskDataset":
        """The same trials, padded to ``seq_len`` steps and ``n_features`` inputs.

        Added steps come at the end of each trial and are masked out (they
        count in no loss or metric; a model that reads out at every step and
        runs forward in time gives the same outputs on the real steps); added
        input features are zero. Datasets of different tasks padded to one
        shape run through one compiled program, instead of one compilation
        per shape. Only per-step targets can gain steps (one label per trial
        is read at the last step, which padding would move).

        Examples
        --------
        >>> import numpy as np, braintask
        >>> data = braintask.TaskDataset(np.ones((2, 3, 1)), np.zeros((2, 3), int), 2)
        >>> big = data.padded(seq_len=5, n_features=2)
        >>> big.inputs.shape, big.mask[0].astype(int), big.majority_rate
        ((2, 5, 2), array([1, 1, 1, 0, 0]), 1.0)
        """
        T = self.seq_len if seq_len is None else check_int("seq_len", seq_len, self.seq_len)
        F = self.n_features if n_features is None else check_int("n_features", n_features,
                                                                 self.n_features)
        if T > self.seq_len and not self.per_step:
            raise ValueError(f"seq_len={T}: only per-step targets can be padded in time; "
                             f"these have one label per trial (read at the last step).")
        n, t = self.n_samples, self.seq_len
        inputs = np.zeros((n, T, F), self.inputs.dtype)
        inputs[:, :t, :self.n_features] = self.inputs
        if not self.per_step:
            return TaskDataset(inputs, self.targets, self.n_classes, dict(self.info),
                               trials=self.trials)
        targets = np.zeros((n, T) + self.targets.shape[2:], self.targets.dtype)
        targets[:, :t] = self.targets
        mask = np.zeros((n, T), bool)
        mask[:, :t] = True if self.mask is None else self.mask
        decision = np.zeros((n, T), bool)
        decision[:, :t] = self._decision_steps()
        weights = None
        if self.weights is not None:  # added steps weigh nothing
            weights = np.zeros((n, T), self.weights.dtype)
            weights[:, :t] = self.weights
        return TaskDataset(inputs, targets, self.n_classes, dict(self.info), mask, decision,
                           weights, self.trials)

    def split(self, n_train: int | float) -> tuple["TaskDataset", "TaskDataset"]:
        """Split into a training set and a held-out set, keeping the trial order.

        The first ``n_train`` trials train, the rest are held out (the order the
        trials were generated in, so a split is reproducible and the generator's
        class balancing carries over).

        Parameters
        ----------
        n_train : int or float
            Number of training trials (an integer in ``[1, N - 1]``), or the
            fraction of trials used for training (a float in ``(0, 1)``).

        Returns
        -------
        train, test : TaskDataset
        """
        n = self.n_samples
        n_train = check_n_train(n_train, n)
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, n))
