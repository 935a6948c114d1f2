"""Checks of a task dataset's arrays (shapes, dtypes, masks, step weights, trial
variables, split sizes)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .trialvars import check_trials

if TYPE_CHECKING:
    from .dataset import TaskDataset

__all__ = ["check_fields", "check_weights", "check_n_train"]


def check_fields(data: TaskDataset) -> dict[str, Any]:
    """The checked arrays of a :class:`TaskDataset` under construction, by field name."""
    fields: dict[str, Any] = {}
    inputs = np.asarray(data.inputs)
    targets = np.asarray(data.targets)
    if inputs.ndim != 3:
        raise ValueError(
            f"inputs must have shape (n_samples, seq_len, n_features), got shape {inputs.shape}."
        )
    if data.n_classes is None:
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
        value = getattr(data, name)
        if value is None:
            continue
        value = np.asarray(value)
        if targets.ndim < 2 or value.shape != targets.shape[:2] or value.dtype != bool:
            raise ValueError(
                f"{name} must be a boolean (n_samples, seq_len) = {inputs.shape[:2]} array and "
                f"needs per-step targets; got {value.dtype} of shape {value.shape}."
            )
        fields[name] = value
    if data.weights is not None:
        fields["weights"] = check_weights(data.weights, targets, inputs)
    fields.update(inputs=inputs, targets=targets,
                  trials=check_trials(data.trials, inputs.shape[0]))
    return fields


def check_weights(weights: ArrayLike, targets: np.ndarray, inputs: np.ndarray) -> np.ndarray:
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


def check_n_train(n_train: Any, n: int) -> int:
    """``n_train`` of :meth:`TaskDataset.split` as a trial count in ``[1, n - 1]``."""
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
    return n_train
