"""Training that spans several processes, on JAX's own multi-controller runtime.

After ``jax.distributed.initialize(...)`` every process runs the same script:
``jax.devices()`` lists the devices of all processes, and a ``Mesh`` over them
spans the processes. The rules braintask follows then are few:

- every process builds the same data, model and seed (checked by
  :func:`check_agree` before the first compiled program runs);
- a global array is made from the slices that the process's own devices hold
  (:func:`global_array`), and read back to the host with
  :func:`to_host` (gathered from every process when it is not all local);
- files are written by process 0 only, and every process waits for the
  write (:func:`is_main`, :func:`barrier`).

With one process all of this reduces to the usual single-process calls.
"""

from __future__ import annotations

import warnings
import zlib
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

if TYPE_CHECKING:
    from ._data.dataset import TaskDataset

__all__ = ["process_count", "is_main", "spans_processes", "barrier", "to_host",
           "global_array", "check_agree", "data_facts", "fingerprint", "warn_known_hang"]


def process_count() -> int:
    return jax.process_count()


def is_main() -> bool:
    """Whether this is the process that writes files and shows progress (process 0)."""
    return jax.process_index() == 0


def spans_processes(sharding: jax.sharding.Sharding | None) -> bool:
    """Whether a sharding places data on devices of more than one process."""
    if sharding is None:
        return False
    devices: set[Any] = sharding.device_set  # jaxlib's compiled Device: no stub mypy reads
    return len({d.process_index for d in devices}) > 1


def barrier(name: str) -> None:
    """Wait until every process reaches this point (nothing with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def to_host(tree: Any) -> Any:
    """Every array of ``tree`` as a NumPy array; an array spread over the devices
    of several processes is gathered from all of them (a collective: every
    process must call it)."""
    def get(a: Any) -> np.ndarray:
        if isinstance(a, jax.Array) and not a.is_fully_addressable and not a.is_fully_replicated:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree.map(get, tree)


def global_array(value: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """``value`` (the same on every process) placed by ``sharding``: each process
    copies only the slices its own devices hold."""
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def fingerprint(*trees: Any) -> int:
    """A 31-bit checksum of the shapes, dtypes and bytes of every array in ``trees``."""
    crc = 0
    for a in jax.tree.leaves(trees):
        a = to_host(a)
        crc = zlib.crc32(f"{a.shape}{a.dtype}".encode(), crc)
        crc = zlib.crc32(a.tobytes(), crc)
    return crc & 0x7FFFFFFF


def data_facts(train: TaskDataset, held: dict) -> dict:
    """The sizes and checksums of a fit's training and held-out sets, for :func:`check_agree`."""
    facts = {}
    for name, data in {"train": train, **held}.items():
        facts[f"{name} trials"] = data.n_samples
        facts[f"{name} data"] = fingerprint(data.inputs, data.targets)
    for name in ("val", "test"):  # the same names in every process, present or not
        facts.setdefault(f"{name} trials", 0)
        facts.setdefault(f"{name} data", 0)
    return facts


def check_agree(facts: dict, what: str) -> None:
    """Raise a ValueError naming every fact (``name -> int``) on which the
    processes differ. A collective: every process must call it, with the same
    names; all of them raise the same error."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    names = list(facts)
    mine = np.array([int(facts[n]) & 0x7FFFFFFF for n in names], np.int32)
    every = np.asarray(multihost_utils.process_allgather(mine))  # (processes, facts)
    differ = [i for i in range(len(names)) if len(set(every[:, i].tolist())) > 1]
    if differ:
        lines = []
        for i in differ:
            values = every[:, i].tolist()
            shown = ", ".join(f"process {p}: {v}" for p, v in enumerate(values))
            lines.append(f"{names[i]} ({shown})")
        raise ValueError(
            f"the {jax.process_count()} processes disagree in {what} on "
            + "; ".join(lines) + ". Every process must build the same data, the same model "
            "and optimizer, and use the same seed (checksums are shown for arrays)."
        )


def warn_known_hang(mesh: Any) -> None:
    """Warn where training across processes is known to hang: CPU devices with jax 0.12
    (with jax 0.12.1 every process waits in the same gloo all-reduce, for ever)."""
    if jax.__version__.startswith("0.12.") and \
            any(d.platform == "cpu" for d in np.ravel(mesh.devices)):
        warnings.warn(
            f"training across processes on CPU devices hangs with jax {jax.__version__} "
            f"(the processes wait in one collective of the first program, for ever); "
            f"braintask asks for jax < 0.12: install it with pip install 'jax<0.12'.",
            RuntimeWarning, stacklevel=4)
