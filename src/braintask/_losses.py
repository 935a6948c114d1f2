"""Default losses and metrics: cross-entropy and accuracy on integer labels; squared
error and angular error on continuous targets; trial-level performance, the field's
score of a trial as a whole."""

from __future__ import annotations

import braintools
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["cross_entropy", "masked_cross_entropy", "accuracy", "masked_mean_squared_error",
           "angular_error", "trial_performance"]


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
    oc, os_ = outputs[..., -2], outputs[..., -1]
    tc, ts = targets[..., -2], targets[..., -1]
    angle = jnp.abs(jnp.degrees(jnp.arctan2(os_ * tc - oc * ts, oc * tc + os_ * ts)))
    if mask is None:
        return jnp.mean(angle)
    return jnp.sum(angle * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def trial_performance(logits: ArrayLike, labels: ArrayLike, mask: ArrayLike,
                      decision: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Trial-level performance and fixation-break rate of per-step class outputs.

    A trial is correct when the output (the arg-max class) follows the target at
    every kept step outside the decision period (holding fixation: one wrong step
    is a *fixation break*) and equals the target at the last step of the decision
    period (the choice), as Yang et al. 2019 and neurogym score trials. A trial
    whose target in the decision period is to keep fixating (a no-go trial) is
    right when fixation is held throughout. Steps the ``mask`` drops (a grace
    period, padding) count in neither part.

    Parameters
    ----------
    logits : array
        ``(T, B, C)`` time-major outputs.
    labels, mask, decision : array
        ``(T, B)`` integer targets, kept steps and decision-period steps.

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
    """
    wrong = jnp.argmax(logits, axis=-1) != labels
    keep, choose = jnp.asarray(mask) > 0, jnp.asarray(decision) > 0
    broke = jnp.any(wrong & keep & ~choose, axis=0)
    steps = jnp.arange(wrong.shape[0])[:, None]
    last = jnp.max(jnp.where(choose & keep, steps, -1), axis=0)  # -1: no decision step
    chose_wrong = jnp.take_along_axis(wrong, jnp.maximum(last, 0)[None], axis=0)[0] & (last >= 0)
    return jnp.mean(~broke & ~chose_wrong), jnp.mean(broke)

