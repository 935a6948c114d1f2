"""Recurrent spiking networks trained through a surrogate gradient (braintask.SpikingNetwork)."""

import brainstate
import braintools
import brainunit as u
import numpy as np
import pytest

import braintask
from helpers import assert_same_weights, majority, records, two_device_run, weights


def spiking(n=32, **kw):
    return braintask.SpikingNetwork(2, n, 2, **kw)


def trainer(seed=0, build=spiking, **kw):
    brainstate.random.seed(seed)
    return braintask.Trainer(build(), braintools.optim.Adam(lr=1e-2, grad_clip_norm=1.0),
                             batch_size=16, seed=seed, progress=False, **kw)


@pytest.mark.parametrize("seed", [0, 1])
def test_it_learns_delayed_match_above_the_majority_baseline(dms, seed):
    # Defaults (32 LIF units, tau 10 ms, dt 1 ms, input_gain 10, trace readout), Adam 1e-2:
    # 6 seeds tried when written: seeds 0-5 reached 0.98-1.00 held out after 6 epochs and
    # 1.00 after 8 (majority 0.58). input_gain 5 and 20 learned too (0.95-1.00 after 8);
    # with input_gain 1 hardly a unit reaches threshold: 0.42 for seeds 0-1 after 10.
    train, test = dms
    t = trainer(seed)
    t.fit(train, test, epochs=6)
    assert t.history[-1]["test_acc"] >= max(0.8, majority(test) + 0.2)


def test_the_membrane_readout_learns_too(dms):
    # seeds 0-3 reached 1.00 held out after 6 epochs when written
    train, test = dms
    t = trainer(1, lambda: spiking(readout="membrane"))
    t.fit(train, test, epochs=6)
    assert t.history[-1]["test_acc"] >= max(0.8, majority(test) + 0.2)


def test_gradients_reach_the_input_and_recurrent_weights(dms):
    train, _ = dms
    brainstate.random.seed(0)
    check = braintask.check_model(spiking(16), train)
    assert check.ok and check.output_shape == (4, 2)
    reached = dict(check.weights[["path", "reached"]].values.tolist())
    assert reached["encoder/weight/weight"] and reached["recurrent/weight/weight"]
    assert check.hidden["name"].tolist() == ["V", "spike", "trace"]
    assert braintask.count_parameters(spiking(16)) == 2 * 16 + 16 + 16 * 16 + 16 * 2 + 2


@pytest.mark.parametrize("readout, state", [("trace", "trace"), ("membrane", "V")])
def test_per_step_readout_reads_every_recorded_step(readout, state):
    def build(**kw):
        return spiking(8, readout=readout, tau=15 * u.ms, tau_syn=3.0, **kw)

    x = 1.0 + np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32)
    t = trainer(0, lambda: build(per_step=True))
    logits, states = t.predict(x, states=True)
    assert logits.shape == (4, 6, 2) and not isinstance(logits, u.Quantity)
    assert states["spike"].sum() > 0  # units fire: the trace is not all zeros
    # step t's logits are the readout of the trace (or membrane) recorded after step t
    w = t.model.readout.weight.value
    hand = states[state] @ np.asarray(w["weight"]) + np.asarray(w["bias"])
    np.testing.assert_allclose(logits, hand.swapaxes(0, 1), rtol=1e-5, atol=1e-6)
    assert np.ptp(logits, axis=1).max() > 1e-3  # the steps differ: no step is read twice
    # and the last step's are what the same network without per_step returns
    last = trainer(0, build)
    assert_same_weights(weights(last.model), weights(t.model), rtol=0, atol=0)
    np.testing.assert_allclose(last.predict(x), logits[:, -1], rtol=1e-5, atol=1e-6)


def test_a_silent_network_is_reported(dms):
    """A threshold no unit reaches: no spike, no surrogate gradient, nothing learns."""
    train, _ = dms
    brainstate.random.seed(0)
    with pytest.warns(braintask.ZeroGradientWarning, match="spiking neurons cross threshold"):
        check = braintask.check_model(spiking(8, v_threshold=1e6), train)
    assert {"encoder/weight/weight", "recurrent/weight/weight",
            "readout/weight/weight"} <= set(check.unreached)


@pytest.mark.slow
def test_a_checkpoint_resumes_bit_for_bit(dms, tmp_path):
    train, test = dms
    straight = trainer(0, lambda: spiking(16))
    straight.fit(train, test, epochs=2)
    straight.save(tmp_path / "c.msgpack")
    straight.fit(train, test, epochs=2)
    resumed = trainer(0, lambda: spiking(16)).load(tmp_path / "c.msgpack")
    resumed.fit(train, test, epochs=2)
    assert len(resumed.history) == 4
    assert_same_weights(weights(resumed.model), weights(straight.model), rtol=0, atol=0)
    assert records(resumed.history) == records(straight.history)


@pytest.mark.slow
def test_two_seeds_at_once_equal_the_single_runs(dms):
    train, test = dms
    grid = braintask.MultiSeedTrainer(
        lambda: spiking(16), lambda: braintools.optim.Adam(lr=1e-2, grad_clip_norm=1.0),
        seeds=[0, 1], batch_size=16, progress=False)
    histories = grid.fit(train, test, epochs=2)
    for seed, hist, member in zip([0, 1], histories, grid.trainers):
        one = trainer(seed, lambda: spiking(16))
        one.fit(train, test, epochs=2)
        assert hist.allclose(one.history, rtol=1e-4, atol=1e-5), seed
        assert_same_weights(weights(member.model), weights(one.model), rtol=1e-4, atol=1e-5)
    assert histories[0][-1]["train_loss"] != histories[1][-1]["train_loss"]


@pytest.mark.parametrize("kw, words", [
    (dict(tau=-5 * u.ms), r"tau must be a positive time, e.g. 20 \* u.ms, got -5"),
    (dict(tau_syn=0.0), r"tau_syn must be a positive time"),
    (dict(tau=3 * u.mV), r"tau must be a time"),
    (dict(readout="rate"), r"readout must be one of \['trace', 'membrane'\], got 'rate'"),
    (dict(v_reset=1.0), r"v_reset must be below v_threshold"),
    (dict(surrogate=3), r"surrogate must be a spike function"),
    (dict(neuron=brainstate.nn.Linear(4, 4)), r"neuron must have n_hidden = 8 units"),
    (dict(neuron=object()), r"neuron must be a spiking neuron module"),
])
def test_bad_arguments_are_refused_with_what_is_allowed(kw, words):
    with pytest.raises(ValueError, match=words):
        spiking(8, **kw)


def test_without_a_time_step_it_says_how_to_set_one():
    net = spiking(4)
    braintask.batch_hidden_states(net, 2)
    dt = brainstate.environ.pop("dt")
    try:
        with pytest.raises(KeyError, match=r"brainstate.environ.set\(dt=1.0 \* u.ms\)"):
            net(np.zeros((3, 2, 2), np.float32))
    finally:
        brainstate.environ.set(dt=dt)


# -- brainpy.state neurons: the optional extra braintask[spiking] -------------------------

def brainpy_state():
    pytest.importorskip("brainpy", reason="brainpy is not installed: the optional extra "
                                          "braintask[spiking] (pip install 'braintask[spiking]')")
    return pytest.importorskip("brainpy.state", reason="this brainpy has no brainpy.state "
                                                        "neurons (brainpy >= 2.8 has them)")


def test_a_brainpy_lif_learns_delayed_match(dms):
    # brainpy.state.LIF (tau 5 ms, V_th 1 mV, R 1 ohm), input in mA, input_gain 5: seeds 0-3
    # reached 1.00 held out after 8 epochs when written (brainpy 2.8.2, brainpy_state 0.1.0);
    # at the default gain 10 seed 0 did too but seed 1 stayed at 0.42-0.69.
    bp = brainpy_state()
    train, test = dms
    t = trainer(1, lambda: spiking(neuron=bp.LIF, input_gain=5.0))
    assert t.model.input_unit == u.mA
    t.fit(train, test, epochs=8)
    assert t.history[-1]["test_acc"] >= max(0.8, majority(test) + 0.2)


def test_a_brainpy_neuron_has_its_membrane_read_without_units(dms):
    bp = brainpy_state()
    train, _ = dms
    brainstate.random.seed(0)
    net = spiking(8, neuron=bp.LIF(8, tau=8 * u.ms), readout="membrane")
    check = braintask.check_model(net, train)
    assert check.ok and check.output_shape == (4, 2)
    assert "neuron/V" in check.hidden["name"].tolist()
    with pytest.raises(ValueError, match=r"neuron must have n_hidden = 4 units, got LIF"):
        spiking(4, neuron=bp.LIF(8))


# -- data parallelism: two CPU devices, in a fresh interpreter ---------------------------

@pytest.mark.slow
def test_two_devices_give_the_single_device_history(tmp_path):
    result = two_device_run("braintask.SpikingNetwork(2, 16, 2)", tmp_path)
    assert result["used"] == 2 and result["agree"], result
