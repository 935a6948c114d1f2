"""A model whose hidden states the user re-initialises (batch_hidden_states, init_state)
still evaluates, trains and predicts through its Trainer at any trial count."""

import brainstate
import braintools
import jax.numpy as jnp
import numpy as np
import pytest

import braintask
from helpers import make_horn


@pytest.mark.slow
def test_trainer_follows_hidden_states_the_user_replaced(small_task):
    train, test = small_task
    trainer = braintask.Trainer(make_horn(0), braintools.optim.Adam(lr=1e-2), batch_size=16,
                                seed=0, progress=False)
    trainer.fit(train, test, epochs=1)
    before = trainer.evaluate(train)
    braintask.batch_hidden_states(trainer.model, 7)  # new HiddenState objects, batch 7
    trainer.model(jnp.asarray(test.time_major()[:, :7], dtype=jnp.float32))
    other = braintask.delayed_match_task(50, seq_len=6, n_symbols=2, seed=9, noise=0.05)
    scores = trainer.evaluate(other)  # a trial count never compiled before
    assert np.isfinite(scores["loss"]) and 0 <= scores["acc"] <= 1
    assert trainer.evaluate(train) == before
    assert trainer.predict(other.inputs).shape == (50, 2)
    trainer.fit(train, test, epochs=1)  # and it still trains
