"""Feeding data to the compiled programs: time-major batch dicts, minibatches taken
by index, and, with a mesh, arrays split along the batch axis over the devices (of
every process), with each device's share of a computation combined by one message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from .._distributed import global_array

if TYPE_CHECKING:
    from .._data.dataset import TaskDataset

__all__ = ["Feeder", "take", "epoch_order", "combine_stats"]


def take(a: np.ndarray | jax.Array, index: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Trials ``index`` ((B,) or (n_batches, B)) of one time-major array,
    minibatch-major (NumPy on the host, or JAX on the device)."""
    xp = np if isinstance(a, np.ndarray) else jnp
    if a.ndim == 1:  # per-trial labels (N,)
        return a[index]
    out = xp.take(a, index, axis=1)  # trials are axis 1 of time-major arrays
    return xp.moveaxis(out, 1, 0) if index.ndim == 2 else out


def epoch_order(seed: int, epoch: int, n: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """An epoch's shuffle, seeded by ``(seed, epoch)``: full minibatches
    ``(n // batch, batch)`` and the trials left over."""
    perm = np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)
    nb = n // batch
    return perm[: nb * batch].reshape(nb, batch), perm[nb * batch:]


def combine_stats(stats: dict, axis: int = -1) -> dict:
    """Exact epoch values from per-minibatch ``{name: (value, weight)}`` arrays.

    Each value is a mean over its minibatch's weight (trials, kept steps, or
    step weights for the loss), so ``sum(value * weight) / sum(weight)`` is the
    mean over the whole epoch. NaN where the weight is zero.
    """
    out = {}
    for name, (value, weight) in stats.items():
        value, weight = np.asarray(value, float), np.asarray(weight, float)
        total = weight.sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(total > 0, (value * weight).sum(axis=axis) / total, np.nan)
    return out


class Feeder:
    """Where a program's data lives: on the one device, split over ``mesh``'s
    ``"batch"`` axis, or (``copy_sharding``) read whole by copies spread over devices."""

    def __init__(self, mesh: jax.sharding.Mesh | None = None,
                 copy_sharding: jax.sharding.NamedSharding | None = None) -> None:
        self.mesh, self.copy_sharding = mesh, copy_sharding

    @property
    def replicated(self) -> jax.sharding.NamedSharding:
        from jax.sharding import NamedSharding, PartitionSpec as P

        assert self.mesh is not None, "only with a mesh"
        return NamedSharding(self.mesh, P())

    @staticmethod
    def to_host(data: TaskDataset) -> dict:
        """A dataset as a time-major batch dict of NumPy arrays."""
        return data.batch(dtype=jnp.result_type(float))

    def to_device(self, data: TaskDataset) -> dict:
        """A dataset as a time-major batch dict on the device(s), moved once."""
        batch = self.to_host(data)
        if self.mesh is not None:  # split over the devices, to be scored by shares
            return self.place(batch)
        if self.copy_sharding is not None:  # every copy reads all of it
            from jax.sharding import NamedSharding, PartitionSpec as P

            sharding = NamedSharding(self.copy_sharding.mesh, P())
            return {k: global_array(v, sharding) for k, v in batch.items()}
        return jax.tree.map(jnp.asarray, batch)

    def take(self, data: dict, index: np.ndarray | jax.Array) -> dict:
        return {k: take(v, index) for k, v in data.items()}

    def feed(self, host_data: dict, index: np.ndarray) -> dict:
        """With a mesh: the minibatches ``index`` of host data (every process
        computes the same ``index``), placed by :meth:`place`."""
        return self.place(self.take(host_data, index))

    def place(self, batch: dict) -> dict:
        """Host arrays as global arrays split along the batch axis, each process
        copying only its own devices' share; a batch that does not split evenly
        over the devices is replicated."""
        assert self.mesh is not None, "only with a mesh"
        even = batch["x"].shape[-2] % self.mesh.size == 0
        return {k: global_array(v, self._sharding(k, v.ndim) if even else self.replicated)
                for k, v in batch.items()}

    def splits(self, batch: dict) -> bool:
        """Whether a program computes ``batch`` in shares, one per device."""
        return self.mesh is not None and batch["x"].shape[1] % self.mesh.size == 0

    def _spec(self, key: str, ndim: int) -> jax.sharding.PartitionSpec:
        from jax.sharding import PartitionSpec as P

        # x and vector targets are (..., T, B, D); labels, masks, weights (..., B) or (..., T, B)
        axis = ndim - 2 if key == "x" or (key == "y" and self.vector) else ndim - 1
        return P(*("batch" if i == axis else None for i in range(ndim)))

    #: Continuous (..., T, B, D) targets; set once the task is known.
    vector = False

    def _sharding(self, key: str, ndim: int) -> jax.sharding.NamedSharding:
        from jax.sharding import NamedSharding

        assert self.mesh is not None, "only with a mesh"
        return NamedSharding(self.mesh, self._spec(key, ndim))

    def on_shares(self, fn: Callable[[dict], Any], batch: dict,
                  hidden_states: list[brainstate.State]) -> Any:
        """Inside a program: ``fn`` on each device's share of ``batch``
        (``shard_map``); ``fn`` sums over the devices, so its result is the same
        on all of them. The hidden states are left as they came in."""
        from jax.sharding import PartitionSpec as P

        keys = list(batch)

        def share(*arrays: jax.Array) -> Any:
            hidden = [s.value for s in hidden_states]
            out = fn(dict(zip(keys, arrays)))
            for s, v in zip(hidden_states, hidden):
                s.value = v
            return out

        specs = tuple(self._spec(k, batch[k].ndim) for k in keys)
        return brainstate.transform.shard_map(share, self.mesh, in_specs=specs,
                                              out_specs=P(), check_vma=False)(*batch.values())


def psum_flat(tree: Any) -> Any:
    """Inside ``shard_map``: ``tree`` summed over the mesh's ``"batch"`` axis, as
    one flat vector (one all-reduce, whatever the number of arrays)."""
    from jax.flatten_util import ravel_pytree

    flat, unflatten = ravel_pytree(tree)
    return unflatten(jax.lax.psum(flat, "batch"))


def weighted(stats: dict) -> dict:
    return {k: (v * w, w) for k, (v, w) in stats.items()}


def means(sums: dict) -> dict:
    return {k: (v / nonzero(w), w) for k, (v, w) in sums.items()}


def nonzero(total: jax.Array) -> jax.Array:
    return jnp.where(total > 0, total, 1)  # a weight of 0 leaves a sum of 0
