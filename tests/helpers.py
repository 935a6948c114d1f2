"""Builders and comparisons shared by the tests."""

import brainmass
import brainstate
import braintools
import jax
import numpy as np

import braintask


def make_horn(seed=0, n_input=2, n_hidden=16, n_output=2):
    """A small HORN network; ``seed=None`` leaves brainstate's random state as it is
    (for ``MultiSeedTrainer``, which seeds before every build)."""
    if seed is not None:
        brainstate.random.seed(seed)
    return brainmass.HORNSeqNetwork(
        n_input=n_input, n_hidden=n_hidden, n_output=n_output, alpha=0.2, omega=2 * np.pi / 28
    )


def unseeded_horn(**kw):
    return make_horn(seed=None, **kw)


def trainer_for(net, **kwargs):
    """A quiet Trainer with Adam; ``lr=`` (default 1e-2) or ``optimizer=``."""
    kwargs = {"batch_size": 16, "seed": 0, "progress": False, **kwargs}
    lr = kwargs.pop("lr", 1e-2)
    optimizer = kwargs.pop("optimizer", None) or braintools.optim.Adam(lr=lr)
    return braintask.Trainer(net, optimizer, **kwargs)


def weights(net):
    """The model's weights as NumPy arrays, by name."""
    return {k: jax.tree.map(np.asarray, s.value) for k, s in net.states(brainstate.ParamState).items()}


def assert_same_weights(a, b, **tol):
    assert a.keys() == b.keys()
    for k in a:
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **tol), a[k], b[k])


def optimizer_leaves(trainer):
    """Every optimizer and schedule state of a Trainer, as NumPy arrays."""
    return [np.asarray(a) for s in trainer.engine.opt_states for a in jax.tree.leaves(s.value)]
