"""brainmass node models as trainable recurrent networks (braintask.NodeNetwork)."""

import brainmass
import brainstate
import braintools
import brainunit as u
import jax
import numpy as np
import pytest

import braintask
from helpers import assert_copy_equals_single, majority, records, two_device_run


def wilson_cowan(n=16, **kw):
    return braintask.NodeNetwork(brainmass.WilsonCowanStep(n), 2, 2, drive="rE_inp",
                                 couple_from="rE", **kw)


def trainer(seed=0, build=wilson_cowan, **kw):
    brainstate.random.seed(seed)
    return braintask.Trainer(build(), braintools.optim.Adam(lr=1e-2, grad_clip_norm=1.0),
                             batch_size=16, seed=seed, progress=False, **kw)


def weights(model):
    return {k: [np.asarray(u.get_magnitude(v)).tobytes() for v in jax.tree.leaves(s.value)]
            for k, s in model.states(brainstate.ParamState).items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_wilson_cowan_learns_delayed_match_above_the_majority_baseline(dms, seed):
    train, test = dms
    t = trainer(seed)
    assert braintask.count_parameters(brainmass.WilsonCowanStep(16)) == 0
    assert braintask.count_parameters(t.model) == 2 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2
    t.fit(train, test, epochs=10)
    # seeds 0-5 reached 0.98-1.00 held out in 10 epochs when written; 0.8 leaves room
    assert t.history[-1]["test_acc"] >= max(0.8, majority(test) + 0.2)


def test_damped_stuart_landau_learns_too(dms):
    def build():
        return braintask.NodeNetwork(brainmass.StuartLandauStep(16, a=-0.05), 2, 2,
                                     drive="x_inp", couple_from="x", read=("x", "y"))
    train, test = dms
    t = trainer(1, build, init_states="per_trial")  # its initial states are random
    t.fit(train, test, epochs=10)
    assert t.history[-1]["test_acc"] >= max(0.8, majority(test) + 0.2)


def test_wong_wang_learns_with_a_large_gain_and_a_10_ms_step(dms):
    """Its gating variables have a 100 ms time constant: at dt = 1 ms the 8 steps
    barely move them (chance after 15 epochs when written); at 10 ms with gain 30,
    seeds 0-3 all reached 1.00 held out at some epoch within 10, though not always
    at the last. The epoch is chosen on a validation split carved from the training
    trials, and the test accuracy reported at that epoch (seed 0, when rewritten so:
    validation 1.00 first at epoch 9, test 1.00 there)."""
    def build():
        return braintask.NodeNetwork(brainmass.WongWangStep(16), 2, 2, drive="coherence",
                                     couple_from="S1", read=("S1", "S2"), input_gain=30.0)
    brainstate.environ.set(dt=10.0 * u.ms)
    train, test = dms
    fit_set, val = train.split(144)
    t = trainer(0, build)
    t.fit(fit_set, test, val=val, epochs=10)
    chosen = t.history.best("val_acc", mode="max")  # the first epoch of best validation
    assert chosen["test_acc"] >= max(0.75, majority(test) + 0.2), chosen


def test_the_readout_has_no_units_even_for_states_with_units(dms):
    train, _ = dms
    net = braintask.NodeNetwork(brainmass.JansenRitStep(4), 2, 2, drive="M_inp",
                                couple_from="M", read=("M", "E"), input_gain=0.0)
    assert net.input_unit == u.mV  # from the default of JansenRitStep.update's M_inp
    braintask.batch_hidden_states(net, 3)
    assert isinstance(net.node.M.value, u.Quantity)
    logits = net(np.asarray(train.inputs[:3]).swapaxes(0, 1))
    assert not isinstance(logits, u.Quantity) and logits.shape == (3, 2)
    t = trainer(0)
    logits, states = t.predict(train.inputs[:5], states=True)
    assert logits.shape == (5, 2) and not isinstance(logits, u.Quantity)
    assert states["node/rE"].shape == (8, 5, 16)


def readout_of(model, features):
    """The model's linear readout applied by hand to ``(..., n)`` features."""
    w = model.readout.weight.value
    return np.asarray(features) @ np.asarray(w["weight"]) + np.asarray(w["bias"])


def test_per_step_readout_reads_every_recorded_step(dms):
    train, _ = dms
    x = train.inputs[:4]
    t = trainer(0, lambda: wilson_cowan(per_step=True))
    logits, states = t.predict(x, states=True)
    assert logits.shape == (4, 8, 2) and states["node/rE"].shape == (8, 4, 16)
    # step t's logits are the readout of the rates recorded after step t
    hand = readout_of(t.model, states["node/rE"]).swapaxes(0, 1)
    np.testing.assert_allclose(logits, hand, rtol=1e-5, atol=1e-6)
    assert np.ptp(logits, axis=1).max() > 1e-3  # the steps differ: no step is read twice
    # and the last step's are what the same network without per_step returns
    last = trainer(0)
    assert weights(last.model) == weights(t.model)
    np.testing.assert_allclose(last.predict(x), logits[:, -1], rtol=1e-5, atol=1e-6)


def test_named_node_constants_become_trainable_per_unit(dms):
    train, test = dms
    t = trainer(0, lambda: wilson_cowan(trainable=("wEE", "tau_E")))
    wee = np.asarray(t.model.node.wEE.value())
    assert wee.shape == (16,) and np.all(wee == 12.0)
    assert u.get_unit(t.model.node.tau_E.value()) == u.ms
    t.fit(train, test, epochs=1)
    assert not np.all(np.asarray(t.model.node.wEE.value()) == 12.0)


@pytest.mark.slow
def test_a_checkpoint_resumes_bit_for_bit(dms, tmp_path):
    train, test = dms
    straight = trainer(0, lambda: wilson_cowan(trainable=("wEE",)))
    straight.fit(train, test, epochs=2)
    straight.save(tmp_path / "c.msgpack")
    straight.fit(train, test, epochs=2)
    resumed = trainer(0, lambda: wilson_cowan(trainable=("wEE",))).load(tmp_path / "c.msgpack")
    resumed.fit(train, test, epochs=2)
    assert weights(resumed.model) == weights(straight.model)
    assert records(resumed.history) == records(straight.history)


def test_two_seeds_at_once_equal_their_single_runs_bit_for_bit_under_sgd(dms):
    """SGD, where the MultiSeedTrainer promises bit for bit. (With Adam and a gradient
    clip, as the other tests here train, the copies' last-bit differences grew to 7e-5
    in the weights and 8e-6 in the test loss within 2 epochs when written.)"""
    train, test = dms
    sgd = lambda: braintools.optim.SGD(lr=0.1)  # noqa: E731
    grid = braintask.MultiSeedTrainer(wilson_cowan, sgd, seeds=[0, 1], batch_size=16,
                                      progress=False)
    histories = grid.fit(train, test, epochs=2)
    for seed, member in zip([0, 1], grid.trainers):
        brainstate.random.seed(seed)
        one = braintask.Trainer(wilson_cowan(), sgd(), batch_size=16, seed=seed, progress=False)
        one.fit(train, test, epochs=2)
        assert_copy_equals_single(member, one, exact=True)
    assert histories[0][-1]["train_loss"] != histories[1][-1]["train_loss"]


@pytest.mark.parametrize("kw, words", [
    (dict(drive="x_inp"), r"drive 'x_inp' is not one of WilsonCowanStep's inputs: "
                          r"\['rE_inp', 'rI_inp'\]"),
    (dict(drive="rE_inp", couple_from="x"),
     r"couple_from state 'x' is not one of WilsonCowanStep's names: \['rE', 'rI'\]"),
    (dict(drive="rE_inp", read=("rE", "V")), r"read state 'V' is not one of"),
    (dict(drive="rE_inp", trainable=("wXX",)), r"trainable constant 'wXX' is not one of "
                                                r"WilsonCowanStep's names: \[.*'wEE'"),
])
def test_bad_names_are_refused_with_the_allowed_ones(kw, words):
    with pytest.raises(ValueError, match=words):
        braintask.NodeNetwork(brainmass.WilsonCowanStep(4), 2, 2, **kw)


def test_a_node_without_a_1d_size_is_refused():
    with pytest.raises(ValueError, match=r"node must have a 1-D size .* \(2, 3\)"):
        braintask.NodeNetwork(brainmass.WilsonCowanStep((2, 3)), 2, 2, drive="rE_inp")


@pytest.mark.slow
def test_two_devices_give_the_single_device_history(tmp_path):
    model = ('braintask.NodeNetwork(brainmass.WilsonCowanStep(16), 2, 2, drive="rE_inp", '
             'couple_from="rE")')
    result = two_device_run(model, tmp_path)
    assert result["used"] == 2 and result["agree"], result
