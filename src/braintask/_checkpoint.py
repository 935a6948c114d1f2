"""Checkpoint files, both ways: what a trainer's state becomes on disk, and back.

One msgpack file holds, for one model or for each copy of a
:class:`braintask.MultiSeedTrainer`: the weights by name, the optimizer's
states (moments, step counter, learning-rate schedule) as an ordered list of
arrays, the epoch, the seed, brainstate's RNG key and the History.
``braintools.file.msgpack_save`` writes a temporary file and renames it, so an
interrupted save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os

import brainstate
import braintools
import jax
import jax.numpy as jnp
import numpy as np

from ._distributed import barrier, is_main, to_host
from ._errors import CheckpointError
from ._history import History

__all__ = ["FORMAT", "VERSION", "snapshot", "write_checkpoint", "read_checkpoint", "restorer"]

FORMAT = "braintask.checkpoint"
VERSION = 2


def _path_key(path) -> str:
    return "/".join(str(p) for p in path)


def named_params(model) -> dict:
    """The model's weight states keyed by their path in the model."""
    states = brainstate.graph.states(model).filter(brainstate.ParamState)
    return {_path_key(k): s for k, s in states.items()}


def snapshot(*, params: dict, opt_values: list, epoch: int, seed: int, history: History,
             lr: float | None = None) -> dict:
    """One model's state as plain arrays and JSON (``params``: name -> value)."""
    return {
        "epoch": int(epoch),
        "seed": int(seed),
        "lr": lr,
        "params": {k: to_host(v) for k, v in params.items()},
        # Optimizer states are optax named tuples and lists; store their leaves in order.
        "optimizer": {f"{i:06d}": to_host(leaf)
                      for i, leaf in enumerate(jax.tree.leaves(opt_values))},
        # msgpack turns lists into index-keyed dicts; JSON keeps the history as it is.
        "history": json.dumps(history.to_state()),
    }


def write_checkpoint(path, copies: list[dict], *, extra: dict | None = None) -> str:
    """Write one file holding ``copies`` (one :func:`snapshot` per model) and the RNG key."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "copies": {f"{k:04d}": c for k, c in enumerate(copies)},
        "rng": np.asarray(jax.random.key_data(brainstate.random.DEFAULT.value)),
        "extra": json.dumps(extra or {}),
    }
    path = written = os.fspath(path)
    # Of several processes (one training spread over them), process 0 writes and
    # the others wait for it, so every process can read the file afterwards.
    if is_main():
        written = braintools.file.msgpack_save(path, payload)
    barrier(f"braintask checkpoint {path}")
    return written


def read_checkpoint(path) -> dict:
    """Read and check a checkpoint file; raise :class:`CheckpointError` if it is not one.

    Returns ``{"copies": [snapshot, ...], "rng": array, "extra": dict}`` with each
    snapshot's optimizer leaves as a list and its History rebuilt.
    """
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
    for key in ("copies", "rng", "extra"):
        if key not in raw:
            raise CheckpointError(f"checkpoint {path!r} lacks its {key!r} field.")
    copies = []
    for name in sorted(raw["copies"]):
        c = dict(raw["copies"][name])
        for key in ("epoch", "seed", "params", "optimizer", "history"):
            if key not in c:
                raise CheckpointError(f"checkpoint {path!r} lacks its {key!r} field.")
        c["optimizer"] = [c["optimizer"][k] for k in sorted(c["optimizer"])]
        c["history"] = History.from_state(json.loads(c["history"]))
        copies.append(c)
    return {"copies": copies, "rng": raw["rng"], "extra": json.loads(raw["extra"])}


def restorer(path, saved: dict, *, params: dict, opt_states: list, seed: int):
    """Check one saved model against the live states; return a function that assigns it.

    Everything is checked before anything is assigned, so a
    :class:`CheckpointError` leaves the trainer and model unchanged.
    """
    path = os.fspath(path)
    if set(saved["params"]) != set(params):
        raise CheckpointError(
            f"checkpoint {path!r} holds weights {sorted(saved['params'])}, but the model has "
            f"{sorted(params)}."
        )
    assign = []
    for key, state in params.items():
        new, old = saved["params"][key], state.value
        if jax.tree.structure(new) != jax.tree.structure(old) or any(
            np.shape(a) != np.shape(b) for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old))
        ):
            raise CheckpointError(
                f"checkpoint weight {key!r} has shapes "
                f"{jax.tree.map(np.shape, new)}, the model's are {jax.tree.map(np.shape, old)}."
            )
        assign.append((state, new))
    leaves, treedef = jax.tree.flatten([s.value for s in opt_states])
    if len(leaves) != len(saved["optimizer"]) or any(
        np.shape(a) != np.shape(b) for a, b in zip(leaves, saved["optimizer"])
    ):
        raise CheckpointError(
            f"checkpoint {path!r} holds an optimizer state of another structure "
            f"({len(saved['optimizer'])} arrays, this optimizer has {len(leaves)})."
        )
    if int(saved["seed"]) != seed:
        raise CheckpointError(
            f"checkpoint {path!r} was trained with seed={saved['seed']}, this trainer has "
            f"seed={seed}; resuming would change the shuffling."
        )

    def apply():
        for state, new in assign:
            state.value = jax.tree.map(lambda n, o: jnp.asarray(n, dtype=o.dtype), new, state.value)
        restored = jax.tree.unflatten(
            treedef, [jnp.asarray(n, dtype=jnp.asarray(o).dtype)
                      for n, o in zip(saved["optimizer"], leaves)])
        for state, value in zip(opt_states, restored):
            state.value = value

    return apply


def restore_rng(raw: dict) -> None:
    brainstate.random.DEFAULT.value = jax.random.wrap_key_data(jnp.asarray(raw["rng"]))
