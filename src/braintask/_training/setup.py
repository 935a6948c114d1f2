"""Checks of what a trainer is built from (model, optimizer, loss, metrics, devices)
and the data a fit or an evaluation is given, shared by both trainers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import brainstate
import jax
import numpy as np

from .._distributed import check_agree, fingerprint
from .._objective.losses import accuracy

if TYPE_CHECKING:
    from .._data.dataset import TaskDataset
    from .._engine.programs import Engine

__all__ = ["check_metrics", "check_model_and_optimizer", "make_mesh", "checked_eval_data"]


def check_metrics(metrics: Mapping[str, Callable] | None) -> dict[str, Callable]:
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        if not isinstance(name, str) or not name.isidentifier() or not callable(fn):
            raise TypeError(f"metrics must map identifier names to callables, got {name!r}: {fn!r}.")
        if name in ("loss", "acc", "decision_acc", "decision_angular_error", "trial_perf",
                    "fix_break"):
            raise ValueError(f"metric name {name!r} is taken by the built-in loss/accuracy.")
    return {"acc": accuracy, **metrics}


def check_model_and_optimizer(model: Any, optimizer: Any, loss: Any) -> None:
    if not isinstance(model, brainstate.nn.Module):
        raise TypeError(f"model must be a brainstate.nn.Module, got {type(model).__name__}.")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "register_trainable_weights"):
        raise TypeError(
            f"optimizer must be a braintools.optim optimizer (e.g. braintools.optim.Adam(lr=1e-3)), "
            f"got {type(optimizer).__name__}.")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a callable loss(logits, labels), got {type(loss).__name__}.")


def make_mesh(devices: str | Sequence[jax.Device], size: int, axis: str,
              what: str) -> tuple[jax.sharding.Mesh, list[jax.Device]]:
    """A one-axis ``jax.sharding.Mesh`` over ``devices`` ("all" or a list), which
    must divide ``size`` (the ``what``)."""
    from jax.sharding import Mesh

    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(f'devices must be "all" or a sequence of jax devices, got {devices!r}.')
        devices = jax.devices()
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise TypeError(f'devices must be "all" or a non-empty sequence of jax.Device, got {devices!r}.')
    if size % len(devices):
        raise ValueError(f"{what}={size} does not split evenly over {len(devices)} devices; "
                         f"use a multiple of {len(devices)}.")
    return Mesh(np.array(devices), (axis,)), devices


def checked_eval_data(engine: Engine, data: Any, who: str, spans: bool) -> TaskDataset:
    """``data`` checked for ``engine``'s task; across processes (``spans``), every
    process must pass the same trials."""
    data = engine.check_data(data, "data")
    if spans:
        check_agree({"trials": data.n_samples, "data": fingerprint(data.inputs, data.targets)}, who)
    return data
