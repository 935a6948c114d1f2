"""What a task asks of a model, fixed once: the target kind, the number of classes or
outputs, the loss and the metrics; and the checks every later dataset must pass."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._data.convert import as_dataset
from .._data.dataset import TaskDataset
from .._objective.losses import accuracy, masked_cross_entropy, masked_mean_squared_error

__all__ = ["TaskSpec", "describe_task", "check_held_out_copies"]


def _kind(per_step: bool, vector: bool) -> str:
    return "continuous per-step" if vector else "per-step" if per_step else "per-trial"


@dataclass(frozen=True)
class TaskSpec:
    """The shape facts of a task as a trainer sees them, computed from the first
    dataset (and a probe of the model on two of its trials).

    ``n_outputs`` is the number of classes, or ``D`` for continuous targets.
    ``loss`` is called as ``loss(logits, labels)`` per trial, or
    ``loss(logits, labels, weight)`` per step; ``metrics`` likewise with the
    kept-step mask (and the masks they name, see ``call_metric``).
    ``penalties`` are the names of the penalties added to the loss.
    """

    per_step: bool
    vector: bool
    n_outputs: int
    loss: Callable
    metrics: dict = field(default_factory=dict)
    penalties: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int | None:
        return None if self.vector else self.n_outputs

    @property
    def chance(self) -> float | None:
        """``1 / n_classes`` (None for continuous targets)."""
        return None if self.vector else 1.0 / self.n_outputs

    @property
    def decision_metric(self) -> str:
        """The metric over the decision period: accuracy, or angular error (degrees)
        for continuous targets."""
        return "decision_angular_error" if self.vector else "decision_acc"

    @property
    def trial_level(self) -> bool:
        """Per-step targets are also scored by trials (``trial_perf``, ``fix_break``)."""
        return self.per_step

    def stat_names(self) -> list[str]:
        """Loss, metric and penalty names, in record order."""
        return ["loss", *self.metrics] + ([self.decision_metric] if self.per_step else []) \
            + (["trial_perf", "fix_break"] if self.trial_level else []) + list(self.penalties)

    def metric_names(self, held: list[str]) -> list[str]:
        """The record keys of a fit's metrics (besides ``epoch``, ``updates``, ``lr``, ``time``)."""
        return [f"{prefix}_{k}" for prefix in ["train", *held] for k in self.stat_names()]

    def check(self, data: Any, name: str) -> TaskDataset:
        """``data`` as a dataset of this task, or a clear error (kind, label range)."""
        data = as_dataset(data, name)
        if (data.per_step, data.vector) != (self.per_step, self.vector):
            raise ValueError(f"{name} has {_kind(data.per_step, data.vector)} targets, but this "
                             f"trainer was first used with {_kind(self.per_step, self.vector)} "
                             f"targets.")
        if self.vector:
            if data.output_dim != self.n_outputs:
                raise ValueError(f"{name} targets have output_dim {data.output_dim}, but the "
                                 f"model outputs {self.n_outputs} values per step.")
            return data
        bad = (data.targets < 0) | (data.targets >= self.n_outputs)
        if bad.any():
            raise ValueError(
                f"{name} targets must lie in [0, {self.n_outputs}) for a model with "
                f"{self.n_outputs} outputs; found {int(bad.sum())} outside, e.g. "
                f"{int(data.targets[bad][0])}.")
        return data

    def check_sets(self, train: TaskDataset, held: dict, batch_size: int) -> dict:
        """Checked held-out sets (name -> data, None entries dropped) of ``train``'s shape."""
        checked = {}
        for name, data in held.items():
            if data is None:
                continue
            data = checked[name] = self.check(data, name)
            if data.n_features != train.n_features or data.seq_len != train.seq_len:
                raise ValueError(
                    f"{name} trials have shape (T, F) = ({data.seq_len}, {data.n_features}), "
                    f"train trials ({train.seq_len}, {train.n_features}); they must match.")
        if batch_size > train.n_samples:
            raise ValueError(
                f"batch_size={batch_size} is larger than the training set "
                f"({train.n_samples} trials); use batch_size <= {train.n_samples}.")
        return checked

    def record(self, stats: dict, held_stats: dict,
               combine: Callable[[dict], dict]) -> dict:
        """``train_<m>`` (exact over the epoch, by ``combine``) and ``<set>_<m>`` floats."""
        train = combine(stats)
        record = {f"train_{k}": float(train[k]) for k in self.stat_names()}
        # compiled outputs come back with sorted keys: put validation before test
        for name in sorted(held_stats, key=lambda n: (n != "val", n)):
            values = held_stats[name]
            record.update({f"{name}_{k}": float(np.asarray(values[k][0]))
                           for k in self.stat_names()})
        return record


def describe_task(data: Any, forward: Callable[[jax.Array], Any], *, loss: Callable | None,
                  metrics: dict, name: str = "train", n_outputs: int | None = None,
                  penalties: Sequence[str] = ()) -> TaskSpec:
    """The :class:`TaskSpec` of ``data`` for the model run by ``forward(x)`` (a
    time-major batch in, outputs out), probed on two trials (shapes only) unless
    ``n_outputs`` gives what a probe already found."""
    data = as_dataset(data, name)
    metrics = dict(metrics)
    if loss is None:
        loss = (masked_mean_squared_error if data.vector else masked_cross_entropy) \
            if data.per_step else None
    if data.vector and metrics.get("acc") is accuracy:
        del metrics["acc"]  # no classes: angular error on the decision period
    n_outputs = _probe(data, forward, name) if n_outputs is None else n_outputs
    if loss is None:
        from .._objective.losses import cross_entropy
        loss = cross_entropy
    spec = TaskSpec(per_step=data.per_step, vector=data.vector, n_outputs=n_outputs,
                    loss=loss, metrics=metrics, penalties=tuple(penalties))
    spec.check(data, name)
    return spec


def _probe(data: TaskDataset, forward: Callable[[jax.Array], Any], name: str) -> int:
    """Run the model on two trials (shapes only); return its number of outputs."""
    x = jnp.asarray(data.inputs[:2].transpose(1, 0, 2), dtype=float)
    try:
        out = brainstate.transform.eval_shape(lambda: forward(x))
    except KeyError as err:
        if "dt" in str(err):
            raise RuntimeError(
                "the model needs a time step, but brainstate.environ has no dt. Set it before "
                "training, e.g. `brainstate.environ.set(dt=1.0 * u.ms)` with "
                "`import brainunit as u` (HORN reads dt in milliseconds; 1 ms is one step)."
            ) from err
        raise
    except Exception as err:
        raise _model_error(err, name, tuple(x.shape), data.n_features) from err
    _check_unitless(out)
    shape = tuple(getattr(out, "shape", ()))
    want = (x.shape[0], x.shape[1]) if data.per_step else (x.shape[1],)
    if data.vector and shape != want + (data.output_dim,):
        raise ValueError(
            f"the model must map (T, B, F) inputs to (T, B, D) outputs for continuous "
            f"targets with D={data.output_dim} values per step; for T={x.shape[0]}, "
            f"B={x.shape[1]} it returned shape {shape}, not {want + (data.output_dim,)}.")
    if len(shape) != len(want) + 1 or shape[:-1] != want:
        kind = ("(T, B, C) logits, one per step, for per-step targets" if data.per_step
                else "(B, C) logits for one label per trial")
        raise ValueError(
            f"the model must map (T, B, F) inputs to {kind}; for T={x.shape[0]}, "
            f"B={x.shape[1]} it returned shape {shape}.")
    return int(shape[-1])


#: The errors brainunit raises when units do not fit together.
UNIT_ERRORS = (u.UnitMismatchError, u.DimensionMismatchError)
_UNIT_WORDS = ("quantity", "unit", "dimensionless")


def is_unit_error(err: Exception) -> bool:
    """Whether ``err`` comes from units that do not fit: one of brainunit's unit
    errors, or a JAX/NumPy function that was handed a ``Quantity`` (a TypeError
    or ValueError whose message speaks of quantities, units or dimensions)."""
    if isinstance(err, UNIT_ERRORS):
        return True
    text = str(err).lower()
    return isinstance(err, (TypeError, ValueError)) and any(w in text for w in _UNIT_WORDS)


def _check_unitless(out: Any) -> None:
    """Refuse outputs that carry units: losses and metrics take plain arrays."""
    found = [q for q in jax.tree.leaves(out, is_leaf=lambda v: isinstance(v, u.Quantity))
             if isinstance(q, u.Quantity)]
    if found:
        unit = found[0].unit
        raise ValueError(
            f"the model returns logits with units ({unit}); logits must be unitless plain "
            f"arrays. Divide them by their unit (e.g. `rates / u.{unit}` for rates in {unit}) "
            f"or take the magnitude with `u.get_magnitude(...)` in the model's last step.")


def _model_error(err: Exception, name: str, shape: tuple, n_features: int) -> Exception:
    """The error to raise when the model fails on its first inputs: a unit error is
    named as one, with brainunit's message; anything else most often means a wrong
    input size."""
    text = f"{type(err).__name__}: {err}"
    if is_unit_error(err):
        return ValueError(
            f"the model raised a unit error on {name} inputs of shape (T, B, F) = {shape}, "
            f"so its units do not fit together (the inputs' shape is not the cause). The "
            f"model raised {text}\nCheck the units inside the model: a time step needs a time "
            f"unit (e.g. `brainstate.environ.set(dt=1.0 * u.ms)`), quantities added together "
            f"need the same unit, and logits must be unitless (divide a rate by its unit, "
            f"e.g. `rate / u.Hz`).")
    return ValueError(
        f"the model failed on {name} inputs of shape (T, B, F) = {shape}: {n_features} input "
        f"features per time step. Check that the model's input size is {n_features}. The "
        f"model raised {text}")


def check_held_out_copies(train: TaskDataset, held: dict, stacklevel: int = 3) -> dict:
    """How many trials of each held-out set copy a training trial exactly (a warning
    names every set with copies: scoring them measures recall, not generalisation)."""
    counts = {name: data.count_in(train) for name, data in held.items()}
    copied = {name: n for name, n in counts.items() if n}
    if copied:
        sets = ", ".join(f"{n} of {held[name].n_samples} {name} trials" for name, n in copied.items())
        if "decision_phases" in train.info:  # a braintools.cogtask task's trials
            advice = ("Draw held-out trials from trial indices training never uses: "
                      "cogtask_source(task, n).held_out(m, start_index=...) or "
                      "from_cogtask(task, m, start_index=...) past the training trials.")
        else:
            advice = ("Add input noise (e.g. delayed_match_task(..., noise=0.05)) or draw "
                      "held-out trials the training set cannot contain.")
        warnings.warn(
            f"{sets} copy a training trial exactly: accuracy on them measures recall, not "
            f"generalisation to new trials. {advice}", UserWarning, stacklevel=stacklevel)
    return counts
