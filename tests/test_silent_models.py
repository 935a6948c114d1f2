"""A model whose output does not depend on its weights gets a warning, once per fit."""

import warnings

import brainstate
import braintools
import jax
import jax.numpy as jnp
import pytest

import braintask
from helpers import make_horn, trainer_for


class Silent(brainstate.nn.Module):
    """Like a spiking network whose input never reaches threshold: a ReLU of a large
    negative drive is zero, so the logits (and every gradient) are exactly zero."""

    def __init__(self):
        super().__init__()
        self.inp = brainstate.nn.Linear(2, 8)
        self.out = brainstate.nn.Linear(8, 2, b_init=None)

    def update(self, x):
        drive = self.inp(jnp.abs(x[-1])) - 1e4
        return self.out(jax.nn.relu(drive))


def test_a_model_with_zero_gradients_everywhere_warns_once_naming_its_weights(small_task):
    train, test = small_task
    brainstate.random.seed(0)
    trainer = trainer_for(Silent())
    with pytest.warns(braintask.ZeroGradientWarning) as caught:
        history = trainer.fit(train, test, epochs=3)
    assert len(caught) == 1  # once per fit, not once per epoch
    text = str(caught[0].message)
    assert "every gradient was exactly zero at all 4 minibatches of epoch 1" in text
    assert "inp/weight" in text and "out/weight" in text
    assert "threshold" in text and "surrogate gradient" in text and "input gain" in text
    assert {round(r["train_loss"], 4) for r in history.records} == {0.6931}  # flat at ln 2


def test_copies_with_zero_gradients_warn_per_copy(small_task):
    train, test = small_task
    grid = braintask.MultiSeedTrainer(Silent, lambda: braintools.optim.Adam(lr=1e-2),
                                      seeds=[0, 1], batch_size=16, progress=False)
    with pytest.warns(braintask.ZeroGradientWarning) as caught:
        grid.fit(train, test, epochs=2)
    assert sorted(str(w.message)[:30] for w in caught) == [
        "copy {'seed': 0, 'lr': None}: ", "copy {'seed': 1, 'lr': None}: "]


@pytest.mark.parametrize("mode", ["fused", "step"])
def test_a_model_that_learns_does_not_warn(small_task, mode):
    train, test = small_task
    with warnings.catch_warnings():
        warnings.simplefilter("error", braintask.ZeroGradientWarning)
        trainer_for(make_horn(), mode=mode).fit(train, test, epochs=2)
