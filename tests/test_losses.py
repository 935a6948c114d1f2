import jax
import jax.numpy as jnp
import numpy as np

import braintask


def test_cross_entropy_is_mean_negative_log_softmax_at_the_label():
    logits = jax.random.normal(jax.random.PRNGKey(0), (6, 3))
    labels = jnp.array([0, 2, 1, 1, 0, 2])
    logp = np.asarray(jax.nn.log_softmax(logits))
    expected = -np.mean(logp[np.arange(6), np.asarray(labels)])
    np.testing.assert_allclose(float(braintask.cross_entropy(logits, labels)), expected, rtol=1e-6)


def test_accuracy_counts_argmax_hits():
    logits = jnp.array([[3.0, 1.0], [0.0, 2.0], [5.0, -1.0], [0.1, 0.2]])
    assert float(braintask.accuracy(logits, jnp.array([0, 1, 1, 0]))) == 0.5
