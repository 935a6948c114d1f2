"""A model's weights alone, for inference: saved by name, loaded into any model of
the same architecture (no trainer, seed or optimizer needed)."""

from __future__ import annotations

import os
from typing import Any, TypeVar

import brainstate

from .format import (FORMAT, host_weights, library_versions, named_params, read_checkpoint,
                          read_file, restored_weight, write_file)
from .._errors import CheckpointError

__all__ = ["save_weights", "load_weights", "WEIGHTS_FORMAT"]

WEIGHTS_FORMAT = "braintask.weights"
WEIGHTS_VERSION = 1

_Model = TypeVar("_Model", bound=brainstate.nn.Module)


def _weights_of(model: Any) -> dict[str, brainstate.State]:
    if not isinstance(model, brainstate.nn.Module):
        raise TypeError(f"model must be a brainstate.nn.Module, got {type(model).__name__}.")
    params = named_params(model)
    if not params:
        raise ValueError(f"model has no weights (no brainstate.ParamState) to save or load: "
                         f"{type(model).__name__}.")
    return params


def save_weights(model: brainstate.nn.Module, path: str | os.PathLike[str]) -> str:
    """Save a model's weights alone, by name, to a msgpack file (for inference).

    Every ``brainstate.ParamState`` of the model is stored under its path in the
    model (weights with units as mantissa and unit), with the versions of the
    libraries that wrote them. Unlike a trainer's checkpoint there is no
    optimizer state, epoch, seed or History: :func:`braintask.load_weights` puts the
    weights into any model of the same architecture. The file is written to a
    temporary name and renamed, so an interrupted save keeps the previous file.

    Parameters
    ----------
    model : brainstate.nn.Module
        The model whose weights to save.
    path : str or path
        The file to write.

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> import brainstate, braintask, tempfile, os
    >>> brainstate.random.seed(0)
    >>> net = brainstate.nn.Linear(3, 2)
    >>> path = braintask.save_weights(net, os.path.join(tempfile.mkdtemp(), "net.msgpack"))
    >>> other = braintask.load_weights(brainstate.nn.Linear(3, 2), path)
    >>> bool((other.weight.value["weight"] == net.weight.value["weight"]).all())
    True
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}.")
    params = _weights_of(model)
    return write_file(path, {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION,
                             "versions": library_versions(),
                             "params": {k: host_weights(s.value) for k, s in params.items()}})


def load_weights(model: _Model, path: str | os.PathLike[str], *,
                 copy: int | None = None) -> _Model:
    """Put weights saved by :func:`braintask.save_weights` (or those of a trainer's
    checkpoint) into ``model``, a model of the same architecture.

    The names, shapes and units of every weight are checked before any is
    assigned: on a :class:`braintask.CheckpointError` (naming the weight) the model is
    unchanged. The weights take the model's dtypes. A ``UserWarning`` names
    each library whose version differs from the one that wrote the file.

    Parameters
    ----------
    model : brainstate.nn.Module
        Receives the weights.
    path : str or path
        A file from :func:`braintask.save_weights`, ``Trainer.save`` or
        ``MultiSeedTrainer.save``.
    copy : int, optional
        For a checkpoint of several copies (a ``MultiSeedTrainer``'s), which
        one, as an index into its ``copies``.

    Returns
    -------
    brainstate.nn.Module
        ``model``, holding the loaded weights.
    """
    params = _weights_of(model)
    path = os.fspath(path)
    saved = _saved_params(path, copy)
    if set(saved) != set(params):
        raise CheckpointError(f"weights file {path!r} holds weights {sorted(saved)}, but the "
                              f"model has {sorted(params)}.")
    new = {k: restored_weight(path, k, saved[k], s.value, "weights file")
           for k, s in params.items()}
    for key, state in params.items():
        state.value = new[key]
    return model


def _saved_params(path: str, copy: Any) -> dict:
    raw = read_file(path, (WEIGHTS_FORMAT, FORMAT), "weights file")
    if raw["format"] == FORMAT:
        copies = read_checkpoint(path, raw)["copies"]
        if copy is None and len(copies) > 1:
            raise CheckpointError(f"checkpoint {path!r} holds {len(copies)} copies; choose "
                                  f"one with copy=0..{len(copies) - 1}.")
        if copy is not None and (isinstance(copy, bool) or not isinstance(copy, int)
                                 or not 0 <= copy < len(copies)):
            raise ValueError(f"copy must be an index 0..{len(copies) - 1} into the "
                             f"checkpoint's copies, got {copy!r}.")
        return copies[0 if copy is None else copy]["params"]
    if copy is not None:
        raise ValueError(f"copy= chooses among the copies of a checkpoint; {path!r} is a "
                         f"weights file of one model, got copy={copy!r}.")
    if raw.get("version") != WEIGHTS_VERSION or not isinstance(raw.get("params"), dict):
        raise CheckpointError(f"weights file {path!r} has format version "
                              f"{raw.get('version')!r}; this braintask reads version "
                              f"{WEIGHTS_VERSION}.")
    return raw["params"]
