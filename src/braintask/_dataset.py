"""Task datasets: trials as a batch-major ``(N, T, F)`` input array and integer labels."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ._checks import check_int

__all__ = ["TaskDataset", "delayed_match_task", "as_dataset"]


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
    n_classes: int
    info: dict = field(default_factory=dict)
    mask: np.ndarray | None = None
    decision: np.ndarray | None = None
    weights: np.ndarray | None = None

    def __post_init__(self):
        inputs = np.asarray(self.inputs)
        targets = np.asarray(self.targets)
        if inputs.ndim != 3:
            raise ValueError(
                f"inputs must have shape (n_samples, seq_len, n_features), got shape {inputs.shape}."
            )
        if self.n_classes is None:
            if targets.ndim != 3 or targets.shape[:2] != inputs.shape[:2] \
                    or not np.issubdtype(targets.dtype, np.floating):
                raise ValueError(
                    f"n_classes=None means continuous targets: float targets of shape "
                    f"(n_samples, seq_len, output_dim) = {inputs.shape[:2] + ('D',)}; got "
                    f"{targets.dtype} targets of shape {targets.shape}. For class labels pass "
                    f"n_classes."
                )
        elif targets.shape not in ((inputs.shape[0],), inputs.shape[:2]):
            extra = (" (continuous (N, T, D) targets need n_classes=None)"
                     if targets.ndim == 3 else "")
            raise ValueError(
                f"targets must have shape (n_samples,) = ({inputs.shape[0]},) or, with a label per "
                f"step, (n_samples, seq_len) = {inputs.shape[:2]}; got shape {targets.shape}"
                f"{extra}."
            )
        for name in ("mask", "decision"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value)
            if targets.ndim < 2 or value.shape != targets.shape[:2] or value.dtype != bool:
                raise ValueError(
                    f"{name} must be a boolean (n_samples, seq_len) = {inputs.shape[:2]} array and "
                    f"needs per-step targets; got {value.dtype} of shape {value.shape}."
                )
            object.__setattr__(self, name, value)
        if self.weights is not None:
            object.__setattr__(self, "weights", _check_weights(self.weights, targets, inputs))
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "targets", targets)

    def __iter__(self) -> Iterator[np.ndarray]:
        # ``inputs, targets = dataset``, as with the brainmass generator.
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
        return int(self.targets.shape[2]) if self.vector else int(self.n_classes)

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
        from ._losses import angular_error

        targets = self.targets[steps].astype(np.float64)
        answer = np.broadcast_to(targets.mean(axis=0), targets.shape)
        return float(angular_error(answer, targets))

    @property
    def class_balance(self) -> np.ndarray:
        """Fraction of trials in each class, shape ``(n_classes,)``."""
        if self.vector:
            raise ValueError("class_balance needs class labels; these targets are continuous "
                             "(n_classes=None).")
        counts = np.bincount(self.targets.astype(np.int64), minlength=self.n_classes)
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
        return float(np.bincount(labels.astype(np.int64), minlength=self.n_classes).max() / labels.size)

    def _rows(self) -> np.ndarray:
        # one row of float64 bytes per trial, so float32 and float64 copies compare equal
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

    def subset(self, index) -> "TaskDataset":
        """The trials selected by ``index`` (a slice, integer array or boolean mask)."""
        pick = lambda a: None if a is None else a[index]
        return TaskDataset(self.inputs[index], self.targets[index], self.n_classes, dict(self.info),
                           pick(self.mask), pick(self.decision), pick(self.weights))

    def batch(self, index=None, dtype=np.float32) -> dict:
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
            return TaskDataset(inputs, self.targets, self.n_classes, dict(self.info))
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
                           weights)

    def split(self, n_train) -> tuple["TaskDataset", "TaskDataset"]:
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
        if isinstance(n_train, bool):
            raise TypeError(f"n_train must be an int or a float fraction, got {n_train!r}.")
        if isinstance(n_train, numbers.Integral):
            n_train = int(n_train)
        elif isinstance(n_train, numbers.Real):
            frac = float(n_train)
            if not 0.0 < frac < 1.0:
                raise ValueError(f"n_train as a fraction must lie in (0, 1), got {frac}.")
            n_train = int(round(frac * n))
        else:
            raise TypeError(
                f"n_train must be an int (trial count) or a float in (0, 1) (fraction), "
                f"got {n_train!r} of type {type(n_train).__name__}."
            )
        if not 1 <= n_train <= n - 1:
            raise ValueError(
                f"n_train={n_train} leaves an empty split: with {n} trials it must lie in [1, {n - 1}]."
            )
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, n))


def _check_weights(weights, targets: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights)
    if targets.ndim < 2 or weights.shape != targets.shape[:2]:
        raise ValueError(f"weights must be an (n_samples, seq_len) = {inputs.shape[:2]} array "
                         f"of step weights and needs per-step targets; got shape {weights.shape}.")
    if not np.issubdtype(weights.dtype, np.number) or np.iscomplexobj(weights):
        raise TypeError(f"weights must be real numbers, got dtype {weights.dtype}.")
    weights = weights.astype(np.float64 if weights.dtype == np.float64 else np.float32)
    if not np.all(np.isfinite(weights)) or (weights < 0).any():
        bad = int(np.sum(~np.isfinite(weights) | (weights < 0)))
        raise ValueError(f"weights must be finite and >= 0 (a step's weight in the loss); "
                         f"{bad} are negative, NaN or inf.")
    return weights


def as_dataset(data, name: str = "data") -> TaskDataset:
    """Turn a :class:`TaskDataset` or an ``(inputs, targets)`` pair into a dataset.

    ``inputs`` must be batch-major ``(N, T, F)`` floats without NaN or inf;
    ``targets`` must be ``(N,)`` (or ``(N, T)``) integers >= 0, or finite
    ``(N, T, D)`` floats for continuous targets. NumPy and JAX arrays are accepted.

    Examples
    --------
    >>> import numpy as np, braintask
    >>> braintask.as_dataset((np.zeros((4, 6, 2)), np.array([0, 1, 2, 1])))
    TaskDataset(n_samples=4, seq_len=6, n_features=2, n_classes=3)
    >>> braintask.as_dataset((np.zeros((4, 6, 2)), np.zeros((4, 6, 3))))
    TaskDataset(n_samples=4, seq_len=6, n_features=2, output_dim=3)
    """
    if isinstance(data, TaskDataset):
        inputs, targets, n_classes = data.inputs, data.targets, data.n_classes
        extra = dict(info=data.info, mask=data.mask, decision=data.decision,
                     weights=data.weights)
    else:
        extra = {}
        try:
            inputs, targets = data
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a braintask.TaskDataset or an (inputs, targets) pair, "
                f"got {type(data).__name__}."
            ) from None
        n_classes = None
    inputs = np.asarray(inputs)
    targets = np.asarray(targets)
    if inputs.ndim != 3:
        raise ValueError(
            f"{name} inputs must be batch-major (n_samples, seq_len, n_features), got shape {inputs.shape}."
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 trials.")
    if not np.issubdtype(inputs.dtype, np.floating) and not np.issubdtype(inputs.dtype, np.integer):
        raise TypeError(f"{name} inputs must be numeric, got dtype {inputs.dtype}.")
    if not np.all(np.isfinite(inputs)):
        bad = int(np.size(inputs) - np.count_nonzero(np.isfinite(inputs)))
        raise ValueError(f"{name} inputs contain {bad} NaN or inf values.")
    if targets.ndim == 3 and targets.shape[:2] == inputs.shape[:2]:
        if not np.issubdtype(targets.dtype, np.floating):
            raise TypeError(f"{name} targets of shape (n_samples, seq_len, output_dim) are "
                            f"continuous and must be floats, got dtype {targets.dtype}.")
        if not np.all(np.isfinite(targets)):
            raise ValueError(f"{name} targets contain NaN or inf values.")
        if targets.shape[2] == 0:
            raise ValueError(f"{name} targets have output_dim 0: shape {targets.shape}.")
        return TaskDataset(inputs, targets, None, **extra)
    if targets.shape not in ((inputs.shape[0],), inputs.shape[:2]):
        raise ValueError(
            f"{name} targets must have shape (n_samples,) = ({inputs.shape[0]},), "
            f"(n_samples, seq_len) = {inputs.shape[:2]} for a label per step, or "
            f"(n_samples, seq_len, output_dim) = {inputs.shape[:2] + ('D',)} floats for a "
            f"continuous target per step; got {targets.shape}."
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(
            f"{name} targets must be integer class labels, got dtype {targets.dtype}."
        )
    if targets.min() < 0:
        raise ValueError(f"{name} targets must be >= 0, got a minimum of {int(targets.min())}.")
    if n_classes is None:
        n_classes = int(targets.max()) + 1
    return TaskDataset(inputs, targets, n_classes, **extra)


def delayed_match_task(
    n_samples: int = 128,
    *,
    seq_len: int | None = None,
    n_symbols: int = 4,
    seed: int = 0,
    delay: int | None = None,
    noise: float = 0.0,
) -> TaskDataset:
    """Delayed match-to-sample trials: cue, delay, probe; is the probe the cue?

    Each trial is a sequence of ``seq_len`` steps over an alphabet of
    ``n_symbols`` one-hot symbols: the cue at step 0, empty steps (the delay),
    and the probe at the last step. The label is 1 when the probe matches the
    cue and 0 otherwise; exactly ``n_samples // 2`` trials match.

    With the arguments that ``brainmass.datasets.delayed_match_task`` accepts
    (``n_samples``, ``seq_len``, ``n_symbols``, ``seed``) the arrays are
    identical to brainmass's, element by element.

    Parameters
    ----------
    n_samples : int
        Number of trials, >= 1. Default 128.
    seq_len : int, optional
        Steps per trial, >= 2: cue at ``t = 0``, probe at ``t = seq_len - 1``.
        Default 10, or ``delay + 2`` when ``delay`` is given.
    n_symbols : int
        Alphabet size, >= 2 (the last axis of the inputs). Default 4.
    seed : int
        Seed of the generator (NumPy ``default_rng``). Default 0.
    delay : int, optional
        Number of empty steps between cue and probe, >= 0; sets
        ``seq_len = delay + 2``. Giving both ``delay`` and a different
        ``seq_len`` is an error.
    noise : float
        Standard deviation of Gaussian noise added to every input element
        (cue, delay and probe steps alike), >= 0. The noise has its own stream
        seeded by ``seed``: labels and the clean one-hot pattern are the same
        as with ``noise=0``. Default 0.

    Returns
    -------
    TaskDataset
        ``inputs`` ``(n_samples, seq_len, n_symbols)`` float64 and
        ``targets`` ``(n_samples,)`` int64, with ``n_classes = 2``.

    Examples
    --------
    >>> import braintask
    >>> inputs, targets = braintask.delayed_match_task(8, seq_len=6, seed=0)
    >>> inputs.shape, int(targets.sum())
    ((8, 6, 4), 4)
    >>> data = braintask.delayed_match_task(8, n_symbols=2, delay=20, noise=0.1)
    >>> data.seq_len
    22
    """
    n_samples = check_int("n_samples", n_samples, 1)
    n_symbols = check_int("n_symbols", n_symbols, 2)
    seed = check_int("seed", seed, 0)
    if delay is not None:
        delay = check_int("delay", delay, 0)
        if seq_len is not None and check_int("seq_len", seq_len, 2) != delay + 2:
            raise ValueError(
                f"seq_len={seq_len} contradicts delay={delay}: a trial has seq_len = delay + 2 "
                f"steps (cue, delay, probe). Give one of them, or seq_len={delay + 2}."
            )
        seq_len = delay + 2
    elif seq_len is None:
        seq_len = 10
    seq_len = check_int("seq_len", seq_len, 2)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a real number >= 0 (a standard deviation), got {noise!r}.")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise}.")

    # Same draws, in the same order, as brainmass.datasets.delayed_match_task.
    rng = np.random.default_rng(seed)
    cues = rng.integers(0, n_symbols, size=n_samples)
    match = np.zeros(n_samples, dtype=np.int64)
    match[: n_samples // 2] = 1
    match = rng.permutation(match)
    probes = cues.copy()
    nonmatch = match == 0
    offsets = rng.integers(1, n_symbols, size=n_samples)
    probes[nonmatch] = (cues[nonmatch] + offsets[nonmatch]) % n_symbols

    inputs = np.zeros((n_samples, seq_len, n_symbols), dtype=np.float64)
    rows = np.arange(n_samples)
    inputs[rows, 0, cues] = 1.0
    inputs[rows, seq_len - 1, probes] = 1.0
    if noise > 0:
        # A separate stream, so that adding noise leaves the trials themselves unchanged.
        noise_rng = np.random.default_rng([seed, 1])
        inputs += noise * noise_rng.standard_normal(inputs.shape)

    info = dict(
        task="delayed_match_task", n_samples=n_samples, seq_len=seq_len, n_symbols=n_symbols,
        seed=seed, delay=seq_len - 2, noise=noise,
    )
    return TaskDataset(inputs, match, n_classes=2, info=info)
