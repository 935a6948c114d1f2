"""Trial sources and step weights: what each epoch draws, and what the loss weighs."""

import brainstate
import braintools
import brainunit as u
import numpy as np
import pytest
from braintools import cogtask

import braintask


def test_delayed_match_source_epochs_are_the_generator_with_derived_seeds():
    source = braintask.delayed_match_source(16, seq_len=5, n_symbols=3, noise=0.1, seed=7)
    seed = int(np.random.SeedSequence([7, 0, 2]).generate_state(1, np.uint64)[0])
    expected = braintask.delayed_match_task(16, seq_len=5, n_symbols=3, noise=0.1, seed=seed)
    np.testing.assert_array_equal(source.trials(2).inputs, expected.inputs)
    np.testing.assert_array_equal(source.trials(2).targets, expected.targets)
    np.testing.assert_array_equal(source.trials(2).inputs, source.trials(2).inputs)
    val, test = source.held_out(16, split="val"), source.held_out(16, split="test")
    assert val.count_in(test) == 0 and source.count_copies(val, 5) == 0
    with pytest.raises(ValueError, match="split"):
        source.held_out(4, split="train")


@pytest.mark.slow
def test_cogtask_source_draws_new_index_blocks_and_holds_out_lower_indices():
    task = cogtask.PerceptualDecisionMaking(seed=0)
    source = braintask.cogtask_source(task, 32, dt=20 * u.ms, first_index=100)
    assert [source.trials(e).info["start_index"] for e in (0, 1, 3)] == [100, 132, 196]
    direct = braintask.from_cogtask(task, 32, start_index=132, dt=20 * u.ms)
    np.testing.assert_array_equal(source.trials(1).inputs, direct.inputs)
    val = source.held_out(64, start_index=0)
    assert source.count_copies(val, 3) == 0
    with pytest.raises(ValueError, match="first_index=100"):
        source.held_out(64, start_index=50)


def test_a_source_must_keep_its_size():
    source = braintask.TrialSource(
        lambda e: braintask.delayed_match_task(8 + e, seq_len=4, seed=e), 8)
    source.trials(0)
    with pytest.raises(ValueError, match="9 trials for epoch 1"):
        source.trials(1)


def test_grace_and_response_weight_follow_each_trials_decision_period():
    task = cogtask.DelayMatchSample(t_fixation=100 * u.ms, t_sample=100 * u.ms,
                                    t_delay=200 * u.ms, t_response=100 * u.ms, seed=0)
    data = braintask.from_cogtask(task, 4, dt=20 * u.ms, grace=30 * u.ms, response_weight=5)
    expected = np.ones(25)
    expected[20:22] = 0  # 30 ms rounds up to 2 steps of 20 ms
    expected[22:] = 5
    np.testing.assert_array_equal(data.weights, np.broadcast_to(expected, (4, 25)))
    assert data.info["grace_steps"] == 2
    with pytest.raises(ValueError, match="covers the whole decision period of 4 of 4"):
        braintask.from_cogtask(task, 4, dt=20 * u.ms, grace=100 * u.ms)
    with pytest.raises(ValueError, match="response_weight"):
        braintask.from_cogtask(task, 4, dt=20 * u.ms, response_weight=-1.0)
    with pytest.raises(TypeError, match="grace"):
        braintask.from_cogtask(task, 4, dt=20 * u.ms, grace=30)


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_step_weights_change_the_loss_as_a_hand_computation_says():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(12, 6, 3)).astype(np.float32)
    targets = rng.integers(0, 2, size=(12, 6))
    mask = np.ones((12, 6), bool)
    mask[:, 0] = False
    weights = rng.uniform(0, 4, size=(12, 6))
    data = braintask.TaskDataset(inputs, targets, 2, mask=mask, weights=weights)
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(3, 5), n_output=2, per_step=True)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=4,
                                progress=False)
    scores = trainer.evaluate(data)
    logits = trainer.predict(inputs)  # (N, T, C)
    nll = -np.take_along_axis(_log_softmax(logits.astype(np.float64)), targets[..., None],
                              axis=-1)[..., 0]
    w = weights * mask
    assert scores["loss"] == pytest.approx(float((nll * w).sum() / w.sum()), rel=1e-5)
    hits = logits.argmax(-1) == targets  # accuracy counts the kept steps alike
    assert scores["acc"] == pytest.approx(float(hits[mask].mean()), rel=1e-6)
    unweighted = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=4,
                                   progress=False).evaluate(
        braintask.TaskDataset(inputs, targets, 2, mask=mask))
    assert unweighted["loss"] == pytest.approx(float(nll[mask].mean()), rel=1e-5)
    assert not np.isclose(unweighted["loss"], scores["loss"])
