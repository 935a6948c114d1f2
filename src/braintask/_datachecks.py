"""The checks a dataset passes before a model trains on it: target kind, label
range, shapes against the model (probed on two trials), held-out sets against
the training set."""

from __future__ import annotations

import brainstate
import jax.numpy as jnp

from ._dataset import TaskDataset, as_dataset
from ._losses import accuracy, masked_cross_entropy, masked_mean_squared_error

__all__ = ["DataChecks"]


class DataChecks:
    """Part of :class:`braintask._engine.Engine`: the first dataset seen fixes the
    target kind (per trial, per step, continuous), the loss that goes with it
    and the number of classes; every later dataset must agree."""

    def check_data(self, data, name: str) -> TaskDataset:
        """``data`` as a dataset this model can train on, or a clear error."""
        data = as_dataset(data, name)
        if self.per_step is None:
            self.per_step, self.vector = data.per_step, data.vector
            if self.per_step and self.default_loss:
                self.loss = masked_mean_squared_error if self.vector else masked_cross_entropy
            if self.vector and self.metrics.get("acc") is accuracy:
                del self.metrics["acc"]  # no classes: angular error on the decision period
        elif (data.per_step, data.vector) != (self.per_step, self.vector):
            kind = lambda p, v: "continuous per-step" if v else "per-step" if p else "per-trial"
            raise ValueError(f"{name} has {kind(data.per_step, data.vector)} targets, but this "
                             f"trainer was first used with {kind(self.per_step, self.vector)} "
                             f"targets.")
        if self.n_classes is None:
            self.n_classes = self._probe(data, name)
        if self.vector:  # no label range; the model's output size was checked by the probe
            if data.output_dim != self.n_classes:
                raise ValueError(f"{name} targets have output_dim {data.output_dim}, but the "
                                 f"model outputs {self.n_classes} values per step.")
            return data
        bad = (data.targets < 0) | (data.targets >= self.n_classes)
        if bad.any():
            raise ValueError(
                f"{name} targets must lie in [0, {self.n_classes}) for a model with "
                f"{self.n_classes} outputs; found {int(bad.sum())} outside, e.g. "
                f"{int(data.targets[bad][0])}."
            )
        return data

    def check_sets(self, train, held: dict, batch_size: int):
        """Checked ``train`` and held-out sets (name -> data, None entries dropped)."""
        train = self.check_data(train, "train")
        checked = {}
        for name, data in held.items():
            if data is None:
                continue
            data = checked[name] = self.check_data(data, name)
            if data.n_features != train.n_features or data.seq_len != train.seq_len:
                raise ValueError(
                    f"{name} trials have shape (T, F) = ({data.seq_len}, {data.n_features}), "
                    f"train trials ({train.seq_len}, {train.n_features}); they must match."
                )
        if batch_size > train.n_samples:
            raise ValueError(
                f"batch_size={batch_size} is larger than the training set "
                f"({train.n_samples} trials); use batch_size <= {train.n_samples}."
            )
        return train, checked

    def _probe(self, data, name: str) -> int:
        """Run the model on two trials (shapes only); return the number of classes."""
        x = jnp.asarray(data.inputs[:2].transpose(1, 0, 2), dtype=float)
        try:
            out = brainstate.transform.eval_shape(lambda: self.forward(x))
        except KeyError as err:
            if "dt" in str(err):
                raise RuntimeError(
                    "the model needs a time step, but brainstate.environ has no dt. Set it before "
                    "training, e.g. `brainstate.environ.set(dt=1.0 * u.ms)` with "
                    "`import brainunit as u` (HORN reads dt in milliseconds; 1 ms is one step)."
                ) from err
            raise
        except Exception as err:
            raise ValueError(
                f"the model failed on {name} inputs of shape (T, B, F) = {tuple(x.shape)}: "
                f"{data.n_features} input features per time step. Check that the model's input "
                f"size is {data.n_features}. The model raised {type(err).__name__}: {err}"
            ) from err
        finally:
            self.reset_hidden()
        shape = tuple(getattr(out, "shape", ()))
        want = (x.shape[0], x.shape[1]) if data.per_step else (x.shape[1],)
        if data.vector and shape != want + (data.output_dim,):
            raise ValueError(
                f"the model must map (T, B, F) inputs to (T, B, D) outputs for continuous "
                f"targets with D={data.output_dim} values per step; for T={x.shape[0]}, "
                f"B={x.shape[1]} it returned shape {shape}, not {want + (data.output_dim,)}."
            )
        if len(shape) != len(want) + 1 or shape[:-1] != want:
            kind = ("(T, B, C) logits, one per step, for per-step targets" if data.per_step
                    else "(B, C) logits for one label per trial")
            raise ValueError(
                f"the model must map (T, B, F) inputs to {kind}; for T={x.shape[0]}, "
                f"B={x.shape[1]} it returned shape {shape}."
            )
        return int(shape[-1])
