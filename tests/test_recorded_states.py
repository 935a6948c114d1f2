"""Trainer.predict(..., states=True): the hidden states at every step, from one pass."""

import brainstate
import braintools
import jax.numpy as jnp
import numpy as np
import pytest

import braintask
from helpers import make_horn, trainer_for


@pytest.mark.slow
def test_gru_states_equal_a_hand_written_rollout(small_task):
    train, test = small_task
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(2, 8), n_output=2)
    trainer = trainer_for(net)
    trainer.fit(train, epochs=2)
    logits, states = trainer.predict(test.inputs, states=True)
    assert list(states) == ["cell/h"]
    trace = states["cell/h"]
    assert trace.shape == (test.seq_len, test.n_samples, 8)
    # by hand: the cell called step by step from zeros, then the readout
    net.cell.h.value = jnp.zeros((test.n_samples, 8))
    hand = []
    for t in range(test.seq_len):
        hand.append(np.asarray(net.cell(jnp.asarray(test.inputs[:, t], float))))
    np.testing.assert_allclose(trace, np.stack(hand), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, np.asarray(net.readout(jnp.asarray(hand[-1]))),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, trainer.predict(test.inputs), rtol=1e-5, atol=1e-6)


def test_horn_positions_and_velocities_end_where_a_full_pass_ends(small_task):
    train, test = small_task
    net = make_horn()
    trainer = trainer_for(net)
    trainer.fit(train, epochs=1)
    logits, states = trainer.predict(test.inputs, states=True)
    assert sorted(states) == ["layers/0/h2h/model/x", "layers/0/h2h/model/y"]
    braintask.batch_hidden_states(net, test.n_samples)
    net(jnp.asarray(test.time_major(), float))  # the whole sequence in one call
    horn = net.layers[0].h2h.model
    np.testing.assert_allclose(states["layers/0/h2h/model/x"][-1], np.asarray(horn.x.value),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(states["layers/0/h2h/model/y"][-1], np.asarray(horn.y.value),
                               rtol=1e-5, atol=1e-6)
    assert trainer.compilations["train_epoch"] == 1  # recording compiled its own program


class _Resetting(brainstate.nn.Module):
    """Puts its state back to zero at every call: stepping it one step at a time
    differs from one whole pass."""

    def __init__(self):
        super().__init__()
        self.cell = brainstate.nn.ValinaRNNCell(2, 4)
        self.readout = brainstate.nn.Linear(4, 2)

    def update(self, x):
        self.cell.h.value = jnp.zeros_like(self.cell.h.value)
        return self.readout(brainstate.transform.for_loop(self.cell, x)[-1])


def test_a_model_that_resets_itself_cannot_be_recorded(small_task):
    train, test = small_task
    brainstate.random.seed(0)
    trainer = braintask.Trainer(_Resetting(), braintools.optim.Adam(lr=1e-2), batch_size=16,
                                progress=False)
    trainer.fit(train, epochs=1)
    with pytest.raises(ValueError, match="one step at a time"):
        trainer.predict(test.inputs, states=True)
