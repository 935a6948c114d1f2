"""Checkpoint files: weights, optimizer state, epoch, RNG and history in one msgpack file."""

from __future__ import annotations

import json
import os

import braintools
import jax
import numpy as np

from ._errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "write_checkpoint", "read_checkpoint"]

FORMAT = "braintask.checkpoint"
VERSION = 1


def write_checkpoint(path, *, params: dict, optimizer_leaves: list, epoch: int, seed: int,
                     rng_key_data, history: dict) -> str:
    """Write one checkpoint file; ``braintools.file.msgpack_save`` writes a temporary
    file and renames it, so an interrupted save leaves the previous file intact."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "seed": int(seed),
        "params": {k: jax.tree.map(np.asarray, v) for k, v in params.items()},
        # Optimizer states are optax named tuples; store their leaves in order.
        "optimizer": {f"{i:06d}": np.asarray(leaf) for i, leaf in enumerate(optimizer_leaves)},
        "rng": np.asarray(rng_key_data),
        # msgpack turns lists into index-keyed dicts; JSON keeps the history as it is.
        "history": json.dumps(history),
    }
    return braintools.file.msgpack_save(os.fspath(path), payload)


def read_checkpoint(path) -> dict:
    """Read and check a checkpoint file; raise :class:`CheckpointError` if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist.")
    try:
        raw = braintools.file.msgpack_load(path)
    except Exception as err:  # msgpack raises many types for damaged bytes
        raise CheckpointError(
            f"checkpoint {path!r} is unreadable (damaged or not a msgpack file): "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is not a braintask checkpoint (no format={FORMAT!r} field).")
    if raw.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {raw.get('version')!r}; this braintask "
            f"reads version {VERSION}."
        )
    for key in ("epoch", "seed", "params", "optimizer", "rng", "history"):
        if key not in raw:
            raise CheckpointError(f"checkpoint {path!r} lacks its {key!r} field.")
    raw["history"] = json.loads(raw["history"])
    raw["optimizer"] = [raw["optimizer"][k] for k in sorted(raw["optimizer"])]
    return raw
