"""Models with units: trainable parameters with units resume exactly from a
checkpoint, and unit errors inside a model are reported as unit errors."""

import brainmass
import brainstate
import braintools
import brainunit as u
import jax
import numpy as np
import pytest

import braintask
from helpers import records
from braintask._checkpoint.format import named_params


class Rates(brainstate.nn.Module):
    """A Wong-Wang node with a trainable coupling in ``unit``; rates (Hz) read out
    as unitless logits (``rates_in_hz=True`` returns them with their unit)."""

    def __init__(self, unit=u.nA, rates_in_hz=False):
        super().__init__()
        self.rates_in_hz = rates_in_hz
        self.inp = brainstate.nn.Linear(2, 4)
        self.node = brainmass.WongWangStep(4, J_N11=brainstate.nn.Param(0.26 * unit))
        self.out = brainstate.nn.Linear(8, 2)

    def update(self, x):
        def step(xt):
            r1, r2 = self.node.update(self.inp(xt))
            return u.math.concatenate([r1, r2], -1)

        rates = brainstate.transform.for_loop(step, x)[-1]
        return rates[..., :2] if self.rates_in_hz else self.out(rates / u.Hz / 50.0)


def trainer(seed=0, **kw):
    brainstate.random.seed(seed)
    return braintask.Trainer(Rates(**kw), braintools.optim.Adam(lr=1e-2), batch_size=16,
                             seed=seed, progress=False)


def grid(**kw):
    return braintask.MultiSeedTrainer(lambda: Rates(**kw), lambda: braintools.optim.Adam(lr=1e-2),
                                      seeds=[0, 1], batch_size=16, progress=False)


def exact(model):
    """Every weight as (mantissa bytes, unit) by name."""
    def one(x):
        return (np.asarray(u.get_mantissa(x)).tobytes(), str(u.get_unit(x)))
    return {k: jax.tree.map(one, s.value, is_leaf=lambda v: isinstance(v, u.Quantity))
            for k, s in named_params(model).items()}


@pytest.mark.slow
def test_a_trainer_with_a_parameter_in_nanoamperes_resumes_bit_for_bit(small_task, tmp_path):
    train, test = small_task
    straight = trainer()
    straight.fit(train, test, epochs=2)
    straight.save(tmp_path / "c.msgpack")
    straight.fit(train, test, epochs=2)
    resumed = trainer().load(tmp_path / "c.msgpack")
    resumed.fit(train, test, epochs=2)
    assert exact(resumed.model) == exact(straight.model)
    assert exact(straight.model)["node/J_N11/val"][1] == "nA"
    assert records(resumed.history) == records(straight.history)
    net = braintask.load_weights(Rates(), tmp_path / "c.msgpack")
    assert exact(net)["node/J_N11/val"] != exact(straight.model)["node/J_N11/val"]  # 2 epochs earlier
    braintask.load_weights(net, braintask.save_weights(straight.model, tmp_path / "w.msgpack"))
    assert exact(net) == exact(straight.model)


@pytest.mark.slow
def test_copies_with_a_parameter_in_nanoamperes_train_save_and_resume(small_task, tmp_path):
    train, test = small_task
    straight = grid()
    straight.fit(train, test, epochs=1)
    straight.save(tmp_path / "g.msgpack")
    straight.fit(train, test, epochs=1)
    resumed = grid()
    resumed.load(tmp_path / "g.msgpack")
    resumed.fit(train, test, epochs=1)
    for a, b in zip(straight.trainers, resumed.trainers):
        assert exact(a.model) == exact(b.model)
        assert records(a.history) == records(b.history)
    net = braintask.load_weights(Rates(), tmp_path / "g.msgpack", copy=1)
    assert exact(net)["node/J_N11/val"][1] == "nA"


@pytest.mark.slow
def test_a_checkpoint_in_nanoamperes_does_not_load_into_millivolts(small_task, tmp_path):
    train, test = small_task
    source = trainer()
    source.fit(train, test, epochs=1)
    source.save(tmp_path / "c.msgpack")
    target = trainer(unit=u.mV)
    before = exact(target.model)
    words = r"weight 'node/J_N11/val' .* the units differ \(nA in the file, mV in the model\)"
    with pytest.raises(braintask.CheckpointError, match=words):
        target.load(tmp_path / "c.msgpack")
    with pytest.raises(braintask.CheckpointError, match=words):
        braintask.load_weights(target.model, tmp_path / "c.msgpack")
    assert exact(target.model) == before


class AddsMillivolts(brainstate.nn.Module):
    """Adds a voltage to its unitless inputs: brainunit refuses."""

    def __init__(self):
        super().__init__()
        self.out = brainstate.nn.Linear(2, 2)

    def update(self, x):
        return self.out(x[-1] + 1.0 * u.mV)


def fit_error(model, small_task) -> str:
    train, test = small_task
    t = braintask.Trainer(model, braintools.optim.Adam(lr=1e-2), batch_size=16, progress=False)
    with pytest.raises(ValueError) as info:
        t.fit(train, test, epochs=1)
    return str(info.value)


def test_a_unit_mismatch_inside_the_model_is_reported_as_one(small_task):
    text = fit_error(AddsMillivolts(), small_task)
    assert "the model raised a unit error on train inputs" in text
    assert "UnitMismatchError" in text and "units do not match" in text  # brainunit's own words
    assert "input size" not in text


def test_a_time_step_without_a_unit_is_reported_as_a_unit_error(small_task):
    brainstate.environ.set(dt=1.0)  # no unit: the Wong-Wang node's exp-Euler step refuses it
    text = fit_error(Rates(), small_task)
    assert "unit error" in text and "a time step needs a time unit" in text
    assert "input size" not in text


def test_logits_with_units_are_refused(small_task):
    text = fit_error(Rates(rates_in_hz=True), small_task)
    assert "the model returns logits with units (Hz); logits must be unitless" in text
    assert "`rates / u.Hz`" in text and "u.get_magnitude" in text


def test_a_wrong_input_size_is_still_reported_as_one(small_task):
    text = fit_error(brainstate.nn.Linear(3, 2), small_task)
    assert "Check that the model's input size is 2" in text and "unit error" not in text
