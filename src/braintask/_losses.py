"""Default loss and metric: cross-entropy on integer labels, and accuracy."""

import braintools
import jax.numpy as jnp

__all__ = ["cross_entropy", "accuracy"]


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


def accuracy(logits, labels):
    """Fraction of rows whose largest logit is at the label.

    Examples
    --------
    >>> import jax.numpy as jnp, braintask
    >>> float(braintask.accuracy(jnp.array([[2., 0.], [0., 1.]]), jnp.array([0, 0])))
    0.5
    """
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
