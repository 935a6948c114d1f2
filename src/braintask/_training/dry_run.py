"""A dry run of a model on a task before training: state shapes, units, output
shape, and whether a gradient of the Trainer's loss reaches every weight."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, cast

import brainstate
import brainunit as u
import jax
import numpy as np

from .._data.convert import as_dataset
from .._checks import check_int
from .._engine.programs import Engine
from .._errors import ZeroGradientWarning
from .fitloop import TrainData
from .setup import check_model_and_optimizer
from .._data.sources import TrialSource
from .._data.dataset import TaskDataset
from .._engine.states import HiddenBatcher, module_states
from .._engine.task import TaskSpec, _probe, describe_task

if TYPE_CHECKING:  # pandas is imported where a table is made: it costs seconds at import
    import pandas as pd

__all__ = ["ModelCheck", "check_model"]

#: Stands in for an optimizer so that the Trainer's model and loss checks can run alone.
_NO_OPTIMIZER = SimpleNamespace(step=None, register_trainable_weights=None)


@dataclass(frozen=True, eq=False)
class ModelCheck:
    """What :func:`check_model` found (it raises on anything fatal).

    ``hidden`` has a row per hidden-state array (``name``, ``shape`` as
    ``init_state`` makes it, ``batched`` as a forward pass sees it, ``dtype``,
    ``unit``); ``weights`` a row per trainable array (``path``, ``shape``,
    ``grad_norm``, ``reached``: whether any gradient element is non-zero).
    """

    input_shape: tuple
    output_shape: tuple
    expected_output: str
    loss: float
    hidden: pd.DataFrame
    weights: pd.DataFrame
    random_init: bool = False

    @property
    def unreached(self) -> list[str]:
        """The weights that no gradient reaches (all-zero gradients)."""
        return list(self.weights.loc[~self.weights["reached"], "path"])

    @property
    def ok(self) -> bool:
        """Whether a gradient reaches every weight."""
        return not self.unreached

    def _summary(self) -> list[str]:
        n = len(self.weights)
        status = (f"ok: a gradient reaches all {n} weights" if self.ok else
                  f"{len(self.unreached)} of {n} weights get no gradient: "
                  + ", ".join(self.unreached))
        lines = [f"ModelCheck ({status})",
                 f"inputs (T, B, F) = {self.input_shape} -> outputs {self.output_shape}; "
                 f"the data needs {self.expected_output}; loss {self.loss:.4g}"]
        if self.random_init:
            lines.append("initial states are random: train with init_states='per_trial'")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._summary() + [
            "hidden states:", self.hidden.to_string(index=False) if len(self.hidden) else
            "  (none)", "weights:", self.weights.to_string(index=False)])

    def _repr_html_(self) -> str:
        head = "<br>".join(map(html.escape, self._summary()))
        return (f"<p>{head}</p><p>hidden states</p>{self.hidden.to_html(index=False)}"
                f"<p>weights</p>{self.weights.to_html(index=False)}")


def _key(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _leaves(name: str, value: Any) -> list[tuple[str, Any]]:
    """``(name, array)`` of every array in a state's value (Quantities kept whole)."""
    found = jax.tree_util.tree_flatten_with_path(
        value, is_leaf=lambda v: isinstance(v, u.Quantity))[0]
    return [("/".join([name, *map(_key, path)]), leaf) for path, leaf in found]


def _hidden_table(hidden: HiddenBatcher) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for name, init, state in zip(hidden.names, hidden.initial, hidden.states):
        for (path, a), (_, b) in zip(_leaves(name, init), _leaves(name, state.value)):
            unit = a.unit if isinstance(a, u.Quantity) else None
            rows.append({"name": path, "shape": tuple(np.shape(a)),
                         "batched": tuple(np.shape(b)), "dtype": str(u.math.asarray(a).dtype),
                         "unit": "" if unit is None or unit.is_unitless else str(unit)})
    return pd.DataFrame(rows, columns=["name", "shape", "batched", "dtype", "unit"])


def _weight_table(params: dict, grads: dict) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for key, state in params.items():
        name = "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
        for (path, w), (_, g) in zip(_leaves(name, state.value), _leaves(name, grads[key])):
            g = np.asarray(u.get_magnitude(g), dtype=np.float64)
            if not np.all(np.isfinite(g)):
                raise ValueError(
                    f"the gradient of the loss for weight {path} has "
                    f"{int(np.sum(~np.isfinite(g)))} NaN or infinite values of {g.size}; every "
                    f"gradient must be finite. Look for a division by zero, a log or sqrt of "
                    f"zero, or an exploding recurrence in the model's update.")
            rows.append({"path": path, "shape": tuple(np.shape(w)),
                         "grad_norm": float(np.linalg.norm(g.ravel())),
                         "reached": bool(np.any(g != 0))})
    return pd.DataFrame(rows, columns=["path", "shape", "grad_norm", "reached"])


def _sample(data: TrainData, batch_size: int) -> TaskDataset:
    """A few trials of ``data``: a dataset, an ``(inputs, targets)`` pair, or the
    first epoch's draw of a :class:`TrialSource`."""
    data = data.trials(0) if isinstance(data, TrialSource) else as_dataset(data, "data")
    return data.subset(np.arange(min(batch_size, data.n_samples)))


def _check_size(n_outputs: int, data: TaskDataset, per_step: bool) -> None:
    if data.vector or n_outputs == data.n_classes:
        return
    layout = "(T, B, C)" if per_step else "(B, C)"
    raise ValueError(
        f"the model returns C={n_outputs} outputs (the last axis of its {layout} logits), "
        f"but the data has n_classes={data.n_classes}: the model's readout must have "
        f"exactly {data.n_classes} outputs, one logit per class.")


def _run(model: brainstate.nn.Module, hidden: HiddenBatcher, spec: TaskSpec, batch: dict,
         params: dict) -> tuple[Any, jax.Array, jax.Array]:
    """The Trainer's loss on ``batch`` (:meth:`Engine.loss_and_stats`) and its
    gradient for every weight: ``(grads, loss, logits)``."""
    outputs: list[jax.Array] = []

    def forward(x: jax.Array) -> jax.Array:
        hidden.start(x.shape[1])
        outputs.append(model(x))
        return outputs[-1]

    engine = SimpleNamespace(spec=spec, forward=forward, penalties=(), reads_states=False)

    def objective() -> tuple[jax.Array, jax.Array]:
        # loss_and_stats reads only .spec and .forward of its engine: the namespace has both
        loss, _ = Engine.loss_and_stats(cast(Engine, engine), batch)
        return loss, outputs[-1]

    try:
        # a weight the loss never reads gets no gradient: reported, not refused
        return brainstate.transform.grad(objective, params, has_aux=True, return_value=True,
                                         check_states=False)()
    except Exception as err:
        raise ValueError(
            f"the model ran on inputs of shape (T, B, F) = {batch['x'].shape} when only "
            f"shapes were traced, but computing the loss and its gradient failed: "
            f"{type(err).__name__}: {err}") from err


def _check_finite(loss: jax.Array, logits: jax.Array, shape: tuple) -> None:
    values = np.asarray(logits, dtype=np.float64)
    bad = int(np.sum(~np.isfinite(values)))
    if bad or not np.isfinite(float(loss)):
        raise ValueError(
            f"on inputs of shape (T, B, F) = {shape} the model's outputs have {bad} NaN or "
            f"infinite values of {values.size} and the loss is {float(loss)}; outputs and "
            f"loss must be finite. Check the initial weights' scale, the time step "
            f"(brainstate.environ dt) and any division or log inside the model.")


def check_model(model: brainstate.nn.Module, data: TrainData, *, batch_size: int = 4,
                loss: Callable | None = None) -> ModelCheck:
    """Run ``model`` once on a few trials of ``data`` as the Trainer would, and check it.

    The hidden states are initialised and given a batch axis by the Trainer's
    own rule, the time-major ``(T, B, F)`` inputs go through the model once,
    and the Trainer's loss is differentiated with respect to every
    ``brainstate.ParamState``. Fatal problems raise a ``ValueError`` that says
    what was wrong and what is allowed: the model fails on the inputs, returns
    logits with units, of the wrong shape or number of classes, NaN or inf
    outputs or gradients, or has no weights. A weight that no gradient reaches
    (all zeros) is not an error: it is reported (``reached=False``) and a
    :class:`braintask.ZeroGradientWarning` (a ``UserWarning``) names it.

    Parameters
    ----------
    model : brainstate.nn.Module
        The model to check; its weights are not changed.
    data : TaskDataset, ``(inputs, targets)`` or TrialSource
        The task; a source gives its first epoch's trials.
    batch_size : int
        Trials in the batch (at most the data's).
    loss : callable, optional
        The loss the Trainer would be given (its default when None).

    Returns
    -------
    ModelCheck
        Tables of the hidden states and weights, the output shape and what the
        data needs; shown as tables in a notebook.

    Examples
    --------
    >>> import brainstate, braintask
    >>> brainstate.random.seed(0)
    >>> data = braintask.delayed_match_task(8, seq_len=5, n_symbols=2, seed=0)
    >>> net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(2, 4), n_output=2)
    >>> check = braintask.check_model(net, data)
    >>> check.ok, check.output_shape, check.expected_output
    (True, (4, 2), '(B, C) = (4, 2)')
    >>> check.hidden[["name", "shape", "batched"]].values.tolist()
    [['cell/h', (4,), (4, 4)]]
    """
    check_model_and_optimizer(model, _NO_OPTIMIZER, loss)
    sample = _sample(data, check_int("batch_size", batch_size, 1))
    params = module_states(model, brainstate.ParamState)
    if not params:
        raise ValueError("model has no brainstate.ParamState weights to train: wrap what "
                         "should learn in brainstate.ParamState (e.g. use brainstate.nn."
                         "Linear, or brainstate.nn.Param for a constant).")
    hidden = HiddenBatcher(model)

    def forward(x: jax.Array) -> Any:
        hidden.start(x.shape[1])
        return model(x)

    n_outputs = _probe(sample, forward, "data")  # the Trainer's first-call messages
    _check_size(n_outputs, sample, sample.per_step)
    spec = describe_task(sample, forward, loss=loss, metrics={}, name="data",
                         n_outputs=n_outputs)
    batch = sample.batch()
    grads, value, logits = _run(model, hidden, spec, batch, params)
    _check_finite(value, logits, batch["x"].shape)
    weights = _weight_table(params, grads)
    hidden.start(sample.n_samples)
    T, B = batch["x"].shape[:2]
    C = spec.n_outputs
    result = ModelCheck(
        input_shape=tuple(batch["x"].shape), output_shape=tuple(np.shape(logits)),
        expected_output=(f"(T, B, C) = {(T, B, C)}" if spec.per_step else
                         f"(B, C) = {(B, C)}"),
        loss=float(value), hidden=_hidden_table(hidden), weights=weights,
        random_init=bool(hidden.random))
    if result.unreached:
        warnings.warn(
            f"no gradient reaches {len(result.unreached)} of {len(weights)} weights "
            f"({', '.join(result.unreached)}): their gradients are all zero on this batch, "
            f"so training will not change them. Check that they feed the output, that inputs reach the network and "
            f"that spiking neurons cross threshold.",
            ZeroGradientWarning, stacklevel=2)
    return result
