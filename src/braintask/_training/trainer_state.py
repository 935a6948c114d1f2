"""What a :class:`braintask.Trainer` offers callbacks and checkpoints: its weights,
its learning-rate schedule, and saving and restoring its whole training state."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._checkpoint.copies import copy_snapshot, load_copies, save_copies

__all__ = ["TrainerState"]


class TrainerState:
    """Weights, schedule and checkpoints of a trainer with an ``engine`` (a base of
    :class:`braintask.Trainer`)."""

    # ------------------------------------------------------------------ used by callbacks
    def get_weights(self) -> list:
        """A copy of the current weights (for :meth:`set_weights`)."""
        return [jax.tree.map(jnp.copy, s.value) for s in self.engine.param_states]

    def set_weights(self, weights: list) -> None:
        """Put back weights from :meth:`get_weights`."""
        for s, v in zip(self.engine.param_states, weights):
            s.value = v

    def step_schedule(self, metric: float | None = None) -> None:
        """Advance the optimizer's learning-rate schedule by one epoch."""
        self.engine.schedule.step(metric)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path) -> str:
        """Save weights, optimizer state (schedule included), epoch, RNG key and
        History to a msgpack file, atomically (write, then rename)."""
        return save_copies(path, [copy_snapshot(self)])

    def load(self, path):
        """Restore a checkpoint written by :meth:`save`, to continue training.

        Everything is checked before anything is assigned: on a
        :class:`CheckpointError` (unreadable file, other format version, other
        weight names or shapes, other seed) the trainer and model are unchanged.
        For the weights alone (inference, any seed) see :func:`braintask.save_weights`.

        Returns
        -------
        Trainer
            This trainer, restored.
        """
        load_copies(path, [self], [None])
        if self.engine.mesh is not None:
            for s in self.engine.train_states:
                s.value = jax.device_put(s.value, self.engine.replicated)
        return self
