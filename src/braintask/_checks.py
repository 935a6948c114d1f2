"""Argument checks shared by the package: one message style for every bad input."""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any, TypeVar

_T = TypeVar("_T")

__all__ = ["check_int", "check_choice", "check_progress", "default_mode", "is_better"]


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as a Python int, or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}, got {value!r} "
            f"of type {type(value).__name__}."
        )
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return value


def check_choice(name: str, value: _T, allowed: Collection[Any]) -> _T:
    """Return ``value`` if it is one of ``allowed``, else raise naming the argument."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}.")
    return value


def check_progress(progress: Any) -> bool | None:
    if progress not in (None, True, False):
        raise TypeError(f"progress must be True, False or None (terminal only), got {progress!r}.")
    return progress


def default_mode(metric: str) -> str:
    """Whether a smaller (``"min"``) or larger (``"max"``) value of ``metric`` is better.

    The one place where the direction is guessed from a name: metrics whose name
    contains ``loss``, ``error``, ``break`` (``fix_break``) or ``penalty``
    (``rate_penalty``) are minimised, every other metric (accuracies) is maximised. Everything that compares epochs (``EarlyStopping``,
    ``StopAt``, ``Checkpoint(keep="best")``, :meth:`History.best`) takes a
    ``mode=`` that overrides this guess.

    Examples
    --------
    >>> from braintask import default_mode
    >>> default_mode("test_loss"), default_mode("test_acc"), default_mode("val_angle_error")
    ('min', 'max', 'min')
    """
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a metric name (str), got {metric!r}.")
    return "min" if any(word in metric for word in ("loss", "error", "break", "penalty")) else "max"


def resolve_mode(metric: str, mode: str | None) -> str:
    """``mode`` if given (checked), else :func:`default_mode` of ``metric``."""
    if mode is None:
        return default_mode(metric)
    return check_choice("mode", mode, ("min", "max"))


def is_better(new: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``new`` improves on ``best`` by more than ``min_delta`` in direction ``mode``."""
    if best is None:
        return True
    return new < best - min_delta if mode == "min" else new > best + min_delta
