"""Datasets in the shape training needs: what users pass (a dataset, or an ``(inputs,
targets)`` pair) as a checked dataset."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dataset import TaskDataset

__all__ = ["as_dataset"]


def as_dataset(data: Any, name: str = "data") -> TaskDataset:
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
        extra: dict[str, Any] = dict(info=data.info, mask=data.mask, decision=data.decision,
                                     weights=data.weights, trials=data.trials)
    else:
        extra = {}
        if isinstance(data, (list, tuple)) and any(
                isinstance(d, TaskDataset) or hasattr(d, "held_out") for d in data):
            raise TypeError(
                f"{name} must be one set of trials (a braintask.TaskDataset or an (inputs, "
                f"targets) pair), got a {type(data).__name__} of {len(data)} datasets; pass "
                f"one, or join them first.")
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
