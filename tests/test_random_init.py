"""Random initial hidden states: one shared draw (with a warning), or a draw per trial."""

import warnings

import brainmass
import brainstate
import braintools
import jax
import numpy as np
import pytest

from braintask._engine.states import random_hidden_states
from helpers import make_horn, trainer_for


class Oscillators(brainstate.nn.Module):
    """Damped Stuart-Landau nodes starting from a uniform random draw."""

    def __init__(self):
        super().__init__()
        self.inp = brainstate.nn.Linear(2, 8)
        self.node = brainmass.StuartLandauStep(8, a=-0.05, init_x=braintools.init.Uniform(0.0, 0.5),
                                               init_y=braintools.init.Uniform(0.0, 0.5))
        self.out = brainstate.nn.Linear(8, 2)

    def update(self, x):
        def step(xt):
            self.node.update(self.inp(xt))
            return self.node.x.value

        return self.out(brainstate.transform.for_loop(step, x)[-1])


def build(init_states=None, seed=0):
    brainstate.random.seed(seed)
    return trainer_for(Oscillators(), seed=seed, init_states=init_states)


def first_states(trainer, inputs):
    """Each trial's hidden state after the first step, for every state."""
    return trainer.predict(inputs, states=True)[1]


def test_random_initial_states_are_detected_and_the_rng_is_left_alone():
    brainstate.random.seed(0)
    net = Oscillators()
    key = np.asarray(jax.random.key_data(brainstate.random.DEFAULT.value))
    assert random_hidden_states(net)
    assert np.array_equal(np.asarray(jax.random.key_data(brainstate.random.DEFAULT.value)), key)
    assert not random_hidden_states(make_horn())


def test_by_default_one_draw_is_shared_by_every_trial_with_a_warning(small_task):
    train, test = small_task
    with pytest.warns(UserWarning, match=r"initial hidden states are random .*node/x.*one draw"
                                         r".*init_states='per_trial'"):
        trainer = build()
    states = first_states(trainer, test.inputs[:4])["node/y"][0]  # y: no input, only dynamics
    assert np.allclose(states, states[:1])  # every trial started from the same draw
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("shared")  # chosen: silent
        trainer_for(make_horn())  # deterministic initial states: silent


@pytest.mark.slow
def test_per_trial_draws_differ_between_trials_and_calls_and_follow_the_seed(small_task, tmp_path):
    train, test = small_task
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = build("per_trial")
    first = first_states(trainer, test.inputs[:4])["node/y"][0]
    assert not np.allclose(first, first[:1])  # each trial its own draw
    again = first_states(trainer, test.inputs[:4])["node/y"][0]
    assert not np.allclose(first, again)  # a new draw per call
    trainer.fit(train, test, epochs=2)
    trainer.save(tmp_path / "c.msgpack")
    trainer.fit(train, test, epochs=2)
    other = build("per_trial")
    other.fit(train, test, epochs=2)
    other.load(tmp_path / "c.msgpack")
    other.fit(train, test, epochs=2)  # resumed: same draws, same numbers
    strip = lambda h: [{k: v for k, v in r.items() if k != "time"} for r in h.records]
    assert strip(other.history) == strip(trainer.history)
    shared = build("shared")
    shared.fit(train, test, epochs=4)
    assert strip(shared.history) != strip(trainer.history)


def test_init_states_is_checked():
    with pytest.raises(ValueError, match=r"init_states must be one of \('shared', 'per_trial'\), "
                                         r"got 'trial'"):
        trainer_for(make_horn(), init_states="trial")
