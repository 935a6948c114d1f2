"""Default losses and metrics: cross-entropy and accuracy on integer labels; squared
error and angular error on continuous targets; trial-level performance, the field's
score of a trial as a whole."""

from __future__ import annotations

import inspect
from typing import Callable

import braintools
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["cross_entropy", "masked_cross_entropy", "accuracy", "masked_mean_squared_error",
           "angular_error", "trial_performance", "call_metric", "metric_keywords"]


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Mean softmax cross-entropy of ``(B, C)`` logits against ``(B,)`` integer labels.

    Uses ``braintools.metric.softmax_cross_entropy_with_integer_labels``.

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> round(float(braintask.cross_entropy(jnp.zeros((4, 2)), jnp.array([0, 1, 0, 1]))), 4)
    0.6931
    """
    return jnp.mean(braintools.metric.softmax_cross_entropy_with_integer_labels(logits, labels))


def masked_cross_entropy(logits: ArrayLike, labels: ArrayLike, mask: ArrayLike) -> jax.Array:
    """Softmax cross-entropy averaged over the steps where ``mask`` is 1.

    For per-step targets: ``(T, B, C)`` logits, ``(T, B)`` integer labels and a
    ``(T, B)`` mask of 0/1 (or weights).

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> logits, labels = jnp.zeros((3, 2, 4)), jnp.zeros((3, 2), int)
    >>> mask = jnp.ones((3, 2))
    >>> round(float(braintask.masked_cross_entropy(logits, labels, mask)), 4)
    1.3863
    """
    ce = braintools.metric.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def accuracy(logits: ArrayLike, labels: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Fraction of rows whose largest logit is at the label (over ``mask`` if given).

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> float(braintask.accuracy(jnp.array([[2., 0.], [0., 1.]]), jnp.array([0, 0])))
    0.5
    """
    hits = jnp.argmax(logits, axis=-1) == labels
    if mask is None:
        return jnp.mean(hits)
    return jnp.sum(hits * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def masked_mean_squared_error(outputs: jax.Array | np.ndarray, targets: jax.Array | np.ndarray,
                              mask: ArrayLike) -> jax.Array:
    """Squared error averaged over the output components and the steps where ``mask`` is 1.

    The default loss for continuous per-step targets (``output_mode="vector"``
    cogtask tasks): ``(T, B, D)`` outputs and targets and a ``(T, B)`` mask of
    0/1 (or weights). Each kept step counts once, whatever ``D``.

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> outputs, targets = jnp.zeros((2, 1, 2)), jnp.array([[[1., 1.]], [[3., 3.]]])
    >>> mask = jnp.array([[1.], [0.]])  # the second step does not count
    >>> float(braintask.masked_mean_squared_error(outputs, targets, mask))
    1.0
    """
    error = jnp.mean((outputs - targets) ** 2, axis=-1)
    return jnp.sum(error * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def angular_error(outputs: jax.Array | np.ndarray, targets: jax.Array | np.ndarray,
                  mask: ArrayLike | None = None) -> jax.Array:
    """Mean absolute angle, in degrees, between the output and target directions.

    A direction is read from the **last two components** of the last axis as
    ``[cos(theta), sin(theta)]``, the layout of cogtask's direction-reproduction
    tasks (whose targets are ``[fixation, cos, sin]``); only the angle counts,
    not the length. Averaged over the rows where ``mask`` is 1 (all rows if
    None). An answer that ignores the stimulus scores 90 degrees on average
    when the target directions are spread evenly around the circle.

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> targets = jnp.array([[0., 1., 0.], [0., 0., 1.]])   # 0 and 90 degrees
    >>> outputs = jnp.array([[0., 2., 2.], [1., 0., 1.]])   # 45 and 90 degrees
    >>> round(float(braintask.angular_error(outputs, targets)), 3)
    22.5
    >>> round(float(braintask.angular_error(outputs, targets, jnp.array([1., 0.]))), 3)
    45.0
    """
    angle = jnp.degrees(_angle(outputs, targets))
    if mask is None:
        return jnp.mean(angle)
    return jnp.sum(angle * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _angle(outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Per row, the absolute angle in radians between the directions ``[cos, sin]``
    held in the last two components."""
    outputs, targets = jnp.asarray(outputs), jnp.asarray(targets)
    oc, os_ = outputs[..., -2], outputs[..., -1]
    tc, ts = targets[..., -2], targets[..., -1]
    return jnp.abs(jnp.arctan2(os_ * tc - oc * ts, oc * tc + os_ * ts))


def trial_performance(logits: ArrayLike, labels: ArrayLike, mask: ArrayLike,
                      decision: ArrayLike, tolerance: float = 0.2 * np.pi
                      ) -> tuple[jax.Array, jax.Array]:
    """Trial-level performance and fixation-break rate of per-step outputs.

    **Class outputs** (integer ``labels``): a trial is correct when the output
    (the arg-max class) follows the target at every kept step outside the
    decision period (holding fixation: one wrong step is a *fixation break*)
    and equals the target at the last step of the decision period (the
    choice), as Yang et al. 2019 and neurogym score trials. A trial whose
    target in the decision period is to keep fixating (a no-go trial) is right
    when fixation is held throughout.

    **Ring outputs** (``(T, B, D)`` float targets ``[fixation, cos, sin]``, as
    braintools.cogtask's direction tasks; ``D = 2`` without the fixation
    value): the network fixates where its fixation output exceeds 0.5 (Yang et
    al. 2019). A fixation break is a kept step outside the decision period where
    it fixates and the target does not, or the reverse. At the last decision
    step it must respond (not fixate) with a direction within ``tolerance``
    radians of the target's (default 0.2 pi, i.e. 36 degrees, as Yang et al.
    2019), or keep fixating where the target does.

    Steps the ``mask`` drops (a grace period, padding) count in neither part.

    Parameters
    ----------
    logits : array
        ``(T, B, C)`` time-major outputs (``(T, B, D)`` for ring outputs).
    labels : array
        ``(T, B)`` integer targets, or ``(T, B, D)`` ring targets.
    mask, decision : array
        ``(T, B)`` kept steps and decision-period steps.
    tolerance : float
        Ring outputs: the largest angular error of a correct answer, in radians.

    Returns
    -------
    performance, fixation_breaks : jax.Array
        Fractions of the ``B`` trials: correct, and with a fixation break.

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> labels = jnp.array([[0, 0], [0, 0], [1, 2]])  # fixate twice, then choose
    >>> decision = jnp.array([[0, 0], [0, 0], [1, 1]])
    >>> answers = jnp.array([[0, 0], [0, 1], [1, 2]])  # trial 2 breaks fixation at step 2
    >>> logits = jnp.eye(3)[answers]
    >>> mask = jnp.ones((3, 2))
    >>> perf, breaks = braintask.trial_performance(logits, labels, mask, decision)
    >>> float(perf), float(breaks)
    (0.5, 0.5)

    A ring answer 30 degrees off is correct, one 40 degrees off is not:

    >>> def ring(fix, degrees):
    ...     a = jnp.radians(jnp.asarray(degrees))
    ...     return jnp.stack([jnp.full_like(a, fix), jnp.cos(a), jnp.sin(a)], -1)
    >>> targets = jnp.stack([ring(1.0, [0.0, 0.0]), ring(0.0, [90.0, 90.0])])  # (2, 2, 3)
    >>> outputs = jnp.stack([ring(0.9, [0.0, 0.0]), ring(0.1, [120.0, 130.0])])
    >>> perf, breaks = braintask.trial_performance(outputs, targets, jnp.ones((2, 2)),
    ...                                            jnp.array([[0, 0], [1, 1]]))
    >>> float(perf), float(breaks)
    (0.5, 0.0)
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    keep, choose = jnp.asarray(mask) > 0, jnp.asarray(decision) > 0
    if labels.ndim == logits.ndim:  # ring outputs
        wrong_fix, wrong_answer = _ring_errors(logits, labels, tolerance)
    else:
        wrong_fix = wrong_answer = jnp.argmax(logits, axis=-1) != labels
    broke = jnp.any(wrong_fix & keep & ~choose, axis=0)
    steps = jnp.arange(wrong_answer.shape[0])[:, None]
    last = jnp.max(jnp.where(choose & keep, steps, -1), axis=0)  # -1: no decision step
    at_last = jnp.take_along_axis(wrong_answer, jnp.maximum(last, 0)[None], axis=0)[0]
    chose_wrong = at_last & (last >= 0)
    return jnp.mean(~broke & ~chose_wrong), jnp.mean(broke)


def _ring_errors(outputs: jax.Array, targets: jax.Array,
                 tolerance: float) -> tuple[jax.Array, jax.Array]:
    """Per step: the fixation output disagrees with the target's; the answer is
    wrong (fixation disagrees, or, where the target responds, the direction is
    off by ``tolerance`` radians or more)."""
    angle = _angle(outputs, targets)
    if targets.shape[-1] < 3:  # no fixation value: only the direction is scored
        return jnp.zeros(angle.shape, bool), angle >= tolerance
    fixating, should_fix = outputs[..., 0] > 0.5, targets[..., 0] > 0.5
    wrong_fix = fixating != should_fix
    return wrong_fix, wrong_fix | (~should_fix & (angle >= tolerance))


def call_metric(fn: Callable, logits: jax.Array, labels: jax.Array, batch: dict) -> jax.Array:
    """``fn(logits, labels)`` for one label per trial; ``fn(logits, labels, mask)`` per
    step, with the keyword arguments among ``decision``, ``weight`` and
    ``fixation`` (kept steps outside the decision period) that ``fn`` names."""
    if "mask" not in batch:
        return fn(logits, labels)
    mask = batch["mask"]
    wanted = metric_keywords(fn)
    extra = {"decision": batch["decision"], "weight": batch.get("weight", mask),
             "fixation": mask * (1 - batch["decision"])}
    return fn(logits, labels, mask, **{k: extra[k] for k in wanted})


def metric_keywords(fn: Callable) -> list[str]:
    """The masks a metric asks for by name: ``decision``, ``weight``, ``fixation``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: none asked for
        return []
    return [k for k in ("decision", "weight", "fixation") if k in params]
