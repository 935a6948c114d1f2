"""Checkpoints of a :class:`braintask.MultiSeedTrainer`: every copy in one file."""

from __future__ import annotations

import jax

from .._checkpoint.format import named_params
from .._distributed import to_host
from .._checkpoint.copies import copy_snapshot, load_copies, save_copies

__all__ = ["EnsembleState"]


class EnsembleState:
    """Saving and restoring all copies at once (a base of :class:`braintask.MultiSeedTrainer`)."""

    # ------------------------------------------------------------------ checkpoints
    def _snapshots(self) -> list[dict]:
        """One snapshot per copy; while fit runs, sliced out of the stacked states
        (read to the host once)."""
        if not self._stacked:
            return [copy_snapshot(t, lr=c["lr"]) for c, t in zip(self.copies, self.trainers)]
        names = named_params(self.trainers[0].model)
        params = to_host({name: s.value for name, s in names.items()})
        opt = to_host([s.value for s in self.engine.opt_states])
        take = lambda v, k: jax.tree.map(lambda a: a[k], v)
        return [copy_snapshot(t, params=take(params, k), opt=take(opt, k), lr=c["lr"])
                for k, (c, t) in enumerate(zip(self.copies, self.trainers))]

    def save(self, path) -> str:
        """Save every copy (weights, optimizer and schedule states, epoch, History),
        which copies have stopped, and the RNG key, in one file, atomically."""
        stopped = [v.stop_training for v in self._current] if self._stacked else self.stopped
        return save_copies(path, self._snapshots(), extra={"stopped": stopped, "epoch": self.epoch})

    def load(self, path):
        """Restore a checkpoint written by :meth:`save` (or ``fit(checkpoint=...)``);
        the next :meth:`fit` continues exactly. Everything is checked first: on a
        :class:`CheckpointError` nothing changes.

        Returns
        -------
        MultiSeedTrainer
            This trainer, restored.
        """
        extra = load_copies(path, self.trainers, [c["lr"] for c in self.copies])
        self.stopped = [bool(s) for s in extra.get("stopped", self.stopped)]
        self.epoch = int(extra.get("epoch", 0))
        self._resumed = True
        return self
