"""Checks of the arrays that the analysis helpers read: shape, length and finiteness."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_array", "check_labels"]


def check_array(name: str, value: Any, ndim: int | tuple[int, ...], what: str, *,
                finite: bool = True) -> np.ndarray:
    """``value`` as a float array with ``ndim`` axes (an int or a tuple of allowed
    ones), or a ValueError naming the argument, its shape and the layout wanted."""
    array = np.asarray(value)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed:
        raise ValueError(f"{name} must be {what}, got an array of shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} must be {what} with at least one element, got shape "
                         f"{array.shape}.")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise TypeError(f"{name} must be numeric ({what}), got dtype {array.dtype}.")
    array = array.astype(np.float64) if not np.issubdtype(array.dtype, np.floating) else array
    if finite and not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"{name} has {bad} NaN or infinite values of {array.size}; every "
                         f"value must be finite.")
    return array


def check_labels(name: str, value: Any, n: int, what: str) -> np.ndarray:
    """``value`` as ``(n,)`` labels (any hashable scalars; floats must be whole and
    finite), or a ValueError naming the argument."""
    labels = np.asarray(value)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must be {what}: one label per trial, shape ({n},), got "
                         f"shape {labels.shape}.")
    if np.issubdtype(labels.dtype, np.floating) and not np.all(np.isfinite(labels)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(labels)))} NaN or infinite "
                         f"labels; every trial needs a label.")
    return labels
