"""Default loss and metric: cross-entropy on integer labels, and accuracy."""

import braintools
import jax.numpy as jnp

__all__ = ["cross_entropy", "masked_cross_entropy", "accuracy"]


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of ``(B, C)`` logits against ``(B,)`` integer labels.

    Uses ``braintools.metric.softmax_cross_entropy_with_integer_labels``.

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> round(float(braintask.cross_entropy(jnp.zeros((4, 2)), jnp.array([0, 1, 0, 1]))), 4)
    0.6931
    """
    return jnp.mean(braintools.metric.softmax_cross_entropy_with_integer_labels(logits, labels))


def masked_cross_entropy(logits, labels, mask):
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


def accuracy(logits, labels, mask=None):
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
