"""Exceptions raised by braintask."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._history import History

__all__ = ["TrainingDiverged", "CheckpointError", "ZeroGradientWarning"]


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN or inf during training.

    Training stops at the first such step and the model keeps the last finite
    weights (those before that step). ``epoch`` and ``step`` say where it
    happened (both counted from 1) and ``history`` holds the epochs completed
    before it.
    """

    def __init__(self, message: str, *, epoch: int, step: int,
                 history: History | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.history = history


class CheckpointError(ValueError):
    """A checkpoint file cannot be loaded into this trainer (unreadable, another
    format version, or weights of other names or shapes). Nothing was changed."""


class ZeroGradientWarning(UserWarning):
    """Every gradient of the trainable weights was exactly zero for a whole epoch:
    the model's output does not depend on its weights (e.g. a spiking network whose
    neurons never reach threshold), so training cannot change anything."""
