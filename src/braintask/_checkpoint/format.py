"""Checkpoint files, both ways: what a trainer's state becomes on disk, and back.

One msgpack file holds, for one model or for each copy of a
:class:`braintask.MultiSeedTrainer`: the weights by name, the optimizer's
states (moments, step counter, learning-rate schedule) as an ordered list of
arrays, the epoch, the seed, brainstate's RNG key and the History, with the
versions of the libraries that wrote it. A weight with units (a
``brainunit.Quantity``) is stored as its mantissa and its unit.
``braintools.file.msgpack_save`` writes a temporary file and renames it, so an
interrupted save leaves the previous file intact.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import warnings
from collections.abc import Callable
from typing import Any

import brainstate
import braintools
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._distributed import barrier, is_main, to_host
from .._errors import CheckpointError
from .._history import History

__all__ = ["FORMAT", "VERSION", "snapshot", "write_checkpoint", "read_checkpoint", "restorer",
           "library_versions", "host_weights", "restored_weight", "read_file", "write_file"]

FORMAT = "braintask.checkpoint"
VERSION = 2
_PACKAGES = ("braintask", "brainstate", "braintools", "jax")
_SI = ("m", "kg", "s", "A", "K", "mol", "cd")  # the order of a unit's dimension exponents


def library_versions() -> dict:
    """The installed versions of braintask, brainstate, braintools, jax and Python."""
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return {**found, "python": platform.python_version()}


def check_versions(path: str, raw: dict) -> None:
    """Warn, naming each library, when a file was written with other versions than
    those installed (files without versions are not checked)."""
    saved, now = raw.get("versions"), library_versions()
    if not isinstance(saved, dict):
        return
    differ = [f"{k} {saved[k]} (installed: {now.get(k, 'unknown')})"
              for k in sorted(saved) if saved[k] != now.get(k)]
    if differ:
        warnings.warn(f"{path!r} was written with other library versions: {', '.join(differ)}; "
                      "results computed from it may differ slightly.", UserWarning, stacklevel=3)


def _is_quantity(x: Any) -> bool:
    return isinstance(x, u.Quantity)


def _is_saved_quantity(x: Any) -> bool:
    # also the form braintools' msgpack serializer gives a Quantity
    return isinstance(x, dict) and {"mantissa", "dim", "scale", "base", "factor"} <= set(x)


def host_weights(value: Any) -> Any:
    """One weight as host arrays, a ``Quantity`` as its mantissa and unit."""
    def one(x: Any) -> Any:
        if not _is_quantity(x):
            return to_host(x)
        unit = x.unit
        return {"mantissa": to_host(x.mantissa), "unit": str(unit),
                "dim": np.array([unit.dim.get_dimension(d) for d in _SI], dtype=float),
                "scale": unit.scale, "base": unit.base, "factor": unit.factor}
    return jax.tree.map(one, value, is_leaf=_is_quantity)


def _saved_unit(saved: dict) -> u.Unit:
    return u.Unit(dim=u.get_or_create_dimension(np.asarray(saved["dim"], dtype=float)),
                  scale=saved["scale"], base=saved["base"], factor=saved["factor"])


def _describe(tree: Any) -> str:
    """Shapes (and units) of a weight, live or as read."""
    def one(x: Any) -> str:
        if _is_saved_quantity(x):
            return f"{np.shape(x['mantissa'])} {x.get('unit') or _saved_unit(x)}"
        return f"{np.shape(x)} {x.unit}" if _is_quantity(x) else str(np.shape(x))
    leaves = jax.tree.leaves(jax.tree.map(
        one, tree, is_leaf=lambda x: _is_quantity(x) or _is_saved_quantity(x)))
    return leaves[0] if len(leaves) == 1 else "[" + ", ".join(leaves) + "]"


def _like(saved: Any, live: Any) -> np.ndarray | jax.Array:
    """``saved`` as an array of the live one's kind (NumPy or JAX) and dtype."""
    if isinstance(live, np.ndarray):
        return np.asarray(saved, dtype=live.dtype)
    return jnp.asarray(saved, dtype=jnp.asarray(live).dtype)


def _leaf(saved: Any, live: Any) -> Any:
    """``saved`` as one live leaf (its dtype and unit), or None if it does not fit."""
    if _is_quantity(live):
        if not _is_saved_quantity(saved) or _saved_unit(saved) != live.unit:
            return None
        if np.shape(saved["mantissa"]) != np.shape(live.mantissa):
            return None
        return u.Quantity(_like(saved["mantissa"], live.mantissa), unit=live.unit)
    if isinstance(saved, dict) or np.shape(saved) != np.shape(live):
        return None
    return _like(saved, live)


def restored_weight(path: str, key: str, saved: Any, live: Any,
                    what: str = "checkpoint") -> Any:
    """The saved weight in the structure, dtypes and units of the live one; a
    :class:`CheckpointError` naming the weight if they differ."""
    treedef: Any  # jaxlib's compiled PyTreeDef, which has no stub mypy reads
    leaves, treedef = jax.tree.flatten(live, is_leaf=_is_quantity)
    try:
        pieces = treedef.flatten_up_to(saved)
    except (ValueError, TypeError):
        pieces = None
    values = None if pieces is None else [_leaf(s, o) for s, o in zip(pieces, leaves)]
    if values is None or any(v is None for v in values):
        units = "" if pieces is None else _unit_clash(pieces, leaves)
        raise CheckpointError(f"{what} {path!r}: weight {key!r} has shapes {_describe(saved)}, "
                              f"the model's are {_describe(live)}{units}.")
    return jax.tree.unflatten(treedef, values)


def _unit_of_saved(x: Any) -> str:
    if _is_saved_quantity(x):
        return str(x.get("unit") or _saved_unit(x))
    return "no unit" if not isinstance(x, dict) else "?"


def _unit_clash(pieces: list, leaves: list) -> str:
    """``": the units differ (...)"`` when a saved weight and the model's differ in unit."""
    for saved, live in zip(pieces, leaves):
        mine = str(live.unit) if _is_quantity(live) else "no unit"
        theirs = _unit_of_saved(saved)
        if _is_quantity(live) != _is_saved_quantity(saved) or (
                _is_quantity(live) and _saved_unit(saved) != live.unit):
            return (f": the units differ ({theirs} in the file, {mine} in the model); a weight "
                    f"loads only into a model whose weight has the same unit")
    return ""


def write_file(path: str | os.PathLike[str], payload: dict) -> str:
    """Write ``payload`` to ``path`` (process 0 writes, the others wait for it)."""
    path = written = os.fspath(path)
    if is_main():
        written = braintools.file.msgpack_save(path, payload)
    barrier(f"braintask checkpoint {path}")
    return written


def _path_key(path: tuple) -> str:
    return "/".join(str(p) for p in path)


def named_params(model: brainstate.nn.Module) -> dict[str, brainstate.State]:
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
        "params": {k: host_weights(v) for k, v in params.items()},
        # Optimizer states are optax named tuples and lists; store their leaves in order.
        "optimizer": {f"{i:06d}": to_host(leaf)
                      for i, leaf in enumerate(jax.tree.leaves(opt_values))},
        # msgpack turns lists into index-keyed dicts; JSON keeps the history as it is.
        "history": json.dumps(history.to_state()),
    }


def write_checkpoint(path: str | os.PathLike[str], copies: list[dict], *,
                     extra: dict | None = None) -> str:
    """Write one file holding ``copies`` (one :func:`snapshot` per model) and the RNG key."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "versions": library_versions(),
        "copies": {f"{k:04d}": c for k, c in enumerate(copies)},
        "rng": np.asarray(jax.random.key_data(brainstate.random.DEFAULT.value)),
        "extra": json.dumps(extra or {}),
    }
    return write_file(path, payload)


def read_file(path: str | os.PathLike[str], fmt: str | tuple[str, ...], what: str) -> dict:
    """The msgpack dict of a braintask file of format ``fmt`` (one, or a tuple), or a
    :class:`CheckpointError` saying why not; warns about other library versions."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{what} {path!r} does not exist.")
    try:
        raw: Any = braintools.file.msgpack_load(path)
    except Exception as err:  # msgpack raises many types for damaged bytes
        raise CheckpointError(
            f"{what} {path!r} is unreadable (damaged or not a msgpack file): "
            f"{type(err).__name__}: {err}"
        ) from err
    formats = (fmt,) if isinstance(fmt, str) else tuple(fmt)
    if not isinstance(raw, dict) or raw.get("format") not in formats:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise CheckpointError(f"{path!r} is not a braintask {what} (format={found!r}, "
                              f"expected {' or '.join(map(repr, formats))}).")
    check_versions(path, raw)
    return raw


def read_checkpoint(path: str | os.PathLike[str], raw: dict | None = None) -> dict:
    """Read and check a checkpoint file; raise :class:`CheckpointError` if it is not one.

    Returns ``{"copies": [snapshot, ...], "rng": array, "extra": dict}`` with each
    snapshot's optimizer leaves as a list and its History rebuilt. ``raw``: the
    file's contents if already read (by :func:`read_file`).
    """
    path = os.fspath(path)
    raw = read_file(path, FORMAT, "checkpoint") if raw is None else raw
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


def restorer(path: str | os.PathLike[str], saved: dict, *, params: dict,
             opt_states: list[brainstate.State], seed: int) -> Callable[[], None]:
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
    assign = [(state, restored_weight(path, key, saved["params"][key], state.value))
              for key, state in params.items()]
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

    def apply() -> None:
        for state, new in assign:
            state.value = new
        restored = jax.tree.unflatten(
            treedef, [jnp.asarray(n, dtype=jnp.asarray(o).dtype)
                      for n, o in zip(saved["optimizer"], leaves)])
        for state, value in zip(opt_states, restored):
            state.value = value

    return apply


def restore_rng(raw: dict) -> None:
    brainstate.random.DEFAULT.value = jax.random.wrap_key_data(jnp.asarray(raw["rng"]))
