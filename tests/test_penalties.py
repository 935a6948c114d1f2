"""Regularisers against hand computations; trial-level scores of ring outputs against a
hand count; metrics that ask for the task's masks."""

import brainstate
import braintools
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest
from braintools import cogtask

import braintask
from helpers import assert_copy_equals_single, assert_trial_scores_recorded, leaky_rollout


@pytest.fixture(scope="module")
def gonogo():
    return braintask.from_cogtask(cogtask.GoNoGo(seed=0), 16, dt=20 * u.ms)


def _leaky(data, seed=0, n=12):
    if seed is not None:  # None: seeded by the caller (a MultiSeedTrainer)
        brainstate.random.seed(seed)
    cell = braintask.LeakyRNNCell(data.n_features, n, alpha=0.2)
    return braintask.RecurrentClassifier(cell, n_output=data.n_classes, per_step=True)


def _trainer(net, lr=0.1, **kw):
    return braintask.Trainer(net, braintools.optim.SGD(lr=lr), batch_size=16, progress=False,
                             **kw)


def test_the_rate_penalty_is_the_hand_computed_mean_over_chosen_steps(gonogo):
    net = _leaky(gonogo)
    penalty = braintask.RatePenalty(l1=0.3, l2=0.7, steps="decision", name="rate_reg")
    stats = _trainer(net, penalties=[penalty]).evaluate(gonogo)
    r = leaky_rollout(net.cell, gonogo.inputs.transpose(1, 0, 2))  # (T, B, n)
    chosen = r[gonogo.decision.T > 0]  # (steps kept, n)
    want = 0.3 * np.abs(chosen).mean() + 0.7 * np.square(chosen).mean()
    assert stats["rate_reg"] == pytest.approx(want, rel=1e-5)
    every = _trainer(_leaky(gonogo), penalties=[braintask.RatePenalty(l2=1.0)]).evaluate(gonogo)
    assert every["rate_penalty"] == pytest.approx(np.square(r).mean(), rel=1e-5)
    assert stats["rate_reg"] != pytest.approx(0.7 * np.square(r).mean() + 0.3 * np.abs(r).mean(),
                                              rel=1e-3)  # the step choice matters here


def _leaves(model):
    """Every trainable array of ``model``, by its state's path and its key in the state."""
    out = {}
    for path, state in model.states(brainstate.ParamState).items():
        value = state.value
        for key, leaf in (value.items() if isinstance(value, dict) else [("", value)]):
            out["/".join([*map(str, path), key]).rstrip("/")] = np.asarray(leaf)
    return out


def test_a_weight_penalty_adds_its_own_gradient_and_the_record_keeps_the_task_loss(gonogo):
    plain, penalised = _trainer(_leaky(gonogo)), _trainer(
        _leaky(gonogo), penalties=[braintask.WeightPenalty(l2=0.5)])
    before = _leaves(penalised.model)
    a = plain.fit(gonogo, epochs=1)  # one minibatch: one SGD step from the same weights
    b = penalised.fit(gonogo, epochs=1)
    assert b[0]["train_loss"] == a[0]["train_loss"]  # the task loss alone
    matrices = [k for k, v in before.items() if v.ndim >= 2]
    assert sorted(matrices) == ["cell/w_in", "cell/w_rec", "readout/weight/weight"]  # no biases
    want = 0.5 * sum(np.square(before[k]).mean() for k in matrices)
    assert b[0]["train_weight_penalty"] == pytest.approx(want, rel=1e-5)
    after_a, after_b = _leaves(plain.model), _leaves(penalised.model)
    for k, w0 in before.items():  # d/dW of 0.5 * mean(W^2) is W / size; SGD lr 0.1
        extra = -0.1 * w0 / w0.size if k in matrices else 0.0
        np.testing.assert_allclose(np.asarray(after_b[k]) - np.asarray(after_a[k]), extra,
                                   rtol=1e-3, atol=1e-7, err_msg=k)


def test_a_rate_penalty_lowers_the_rates_it_penalises(gonogo):
    source = braintask.cogtask_source(cogtask.GoNoGo(seed=0), 32, dt=20 * u.ms)
    means = []
    for penalties in (None, [braintask.RatePenalty(l2=10.0)]):
        trainer = braintask.Trainer(_leaky(gonogo), braintools.optim.Adam(lr=1e-2),
                                    batch_size=16, progress=False, penalties=penalties)
        trainer.fit(source, epochs=4)
        _, states = trainer.predict(gonogo.inputs, states=True)
        means.append(float(np.mean(states["cell/r"])))
    assert means[1] < 0.7 * means[0]


def test_copies_with_penalties_equal_their_single_runs(gonogo):
    grid = braintask.MultiSeedTrainer(lambda: _leaky(gonogo, seed=None),
                                      lambda: braintools.optim.SGD(lr=0.1), seeds=[0, 1],
                                      batch_size=8, progress=False,
                                      penalties=[braintask.RatePenalty(l2=0.1)])
    histories = grid.fit(gonogo, epochs=2)
    for seed, member in zip([0, 1], grid.trainers):
        one = braintask.Trainer(_leaky(gonogo, seed=seed), braintools.optim.SGD(lr=0.1),
                                batch_size=8, seed=seed, progress=False,
                                penalties=[braintask.RatePenalty(l2=0.1)])
        one.fit(gonogo, epochs=2)
        assert_copy_equals_single(member, one)  # a few ulps, as documented for leaky networks
    assert histories[0]["train_rate_penalty"] != histories[1]["train_rate_penalty"]


def test_bad_penalties_are_named(gonogo, small_task):
    with pytest.raises(ValueError, match="l1 > 0 or l2 > 0"):
        braintask.RatePenalty()
    with pytest.raises(ValueError, match="steps must be one of"):
        braintask.RatePenalty(l2=1.0, steps="response")
    with pytest.raises(TypeError, match="list of penalties"):
        _trainer(_leaky(gonogo), penalties=[lambda inputs: 0.0])
    with pytest.raises(ValueError, match="'acc' is taken"):
        _trainer(_leaky(gonogo), penalties=[braintask.WeightPenalty(l2=1.0, name="acc")])
    with pytest.raises(ValueError, match="no hidden state \\['cell/h'\\].*'cell/r'"):
        _trainer(_leaky(gonogo), penalties=[braintask.RatePenalty(l2=1.0, states=["cell/h"])]
                 ).fit(gonogo, epochs=1)
    with pytest.raises(ValueError, match="no trainable weight"):
        _trainer(_leaky(gonogo), penalties=[braintask.WeightPenalty(l2=1.0, weights=["w"])]
                 ).fit(gonogo, epochs=1)
    train, _ = small_task  # one label per trial: no decision period
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(braintask.LeakyRNNCell(2, 8), n_output=2)
    with pytest.raises(ValueError, match="one label per trial: use steps='all'"):
        _trainer(net, penalties=[braintask.RatePenalty(l2=1.0, steps="kept")]).fit(train,
                                                                                    epochs=1)


def test_a_penalty_on_states_needs_a_model_that_can_be_stepped(small_task):
    from test_recorded_states import _Resetting

    train, _ = small_task
    brainstate.random.seed(0)
    with pytest.raises(ValueError, match="read the hidden states of every step"):
        _trainer(_Resetting(), penalties=[braintask.RatePenalty(l2=1.0)]).fit(train, epochs=1)


# ---------------------------------------------------------------- ring outputs
def _ring(fix, degrees):
    a = np.radians(np.asarray(degrees, float))
    return np.stack([np.full_like(a, fix), np.cos(a), np.sin(a)], -1)


def test_trial_performance_of_ring_outputs_against_a_hand_count():
    """Six trials of 3 steps: fixate twice, then answer (trial 5: a no-go trial that
    keeps fixating). Tolerance 0.2 pi = 36 degrees."""
    target = np.stack([_ring(1.0, [0] * 6), _ring(1.0, [0] * 6),
                       _ring(0.0, [90, 90, 90, 90, 90, 0])])
    target[2, 5, 0] = 1.0  # trial 5: no go
    out = target.copy()
    out[2, 0] = _ring(0.1, 120)  # 30 degrees off: right
    out[2, 1] = _ring(0.1, 130)  # 40 degrees off: wrong
    out[1, 2, 0] = 0.3  # stops fixating a step early: a break (its answer is right)
    out[2, 3, 0] = 0.8  # keeps fixating when it should answer: wrong, not a break
    out[2, 4] = _ring(0.2, 60)  # 30 degrees off the other way: right
    # trial 5 keeps fixating through the no-go response: right
    decision = np.zeros((3, 6))
    decision[2] = 1
    perf, breaks = braintask.trial_performance(out, target, np.ones((3, 6)), decision)
    assert float(perf) == pytest.approx(3 / 6)  # trials 0, 4, 5
    assert float(breaks) == pytest.approx(1 / 6)
    perf, _ = braintask.trial_performance(out, target, np.ones((3, 6)), decision,
                                          tolerance=np.radians(45))
    assert float(perf) == pytest.approx(4 / 6)  # trial 1 too
    perf, breaks = braintask.trial_performance(out[..., 1:], target[..., 1:], np.ones((3, 6)),
                                               decision)  # no fixation value: angles only
    assert float(perf) == pytest.approx(5 / 6) and float(breaks) == 0.0  # all but trial 1


def test_a_ring_task_records_trial_scores(dt_one_ms):
    task = cogtask.ImmediateDirectionReproduction(seed=0)
    data = braintask.from_cogtask(task, 32, dt=20 * u.ms)
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(braintask.LeakyRNNCell(data.n_features, 16),
                                        n_output=data.output_dim, per_step=True)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16,
                                progress=False)
    record = trainer.fit(data, val=data, epochs=1)[-1]
    assert_trial_scores_recorded(trainer, data, record)


# ---------------------------------------------------------------- metrics and masks
def test_a_metric_asks_for_the_masks_it_needs_by_name(gonogo):
    seen = {}

    def late_acc(logits, labels, mask, decision):
        return braintask.accuracy(logits, labels, decision)

    def fixation_steps(logits, labels, mask, fixation, weight):
        seen["weight"] = weight.shape
        return jnp.sum(fixation) / jnp.sum(mask)

    brainstate.random.seed(0)
    trainer = braintask.Trainer(_leaky(gonogo), braintools.optim.Adam(lr=1e-2),
                                batch_size=16, progress=False,
                                metrics={"late_acc": late_acc, "fix_share": fixation_steps})
    stats = trainer.evaluate(gonogo)
    assert stats["late_acc"] == pytest.approx(stats["decision_acc"], abs=1e-6)
    kept, decision = gonogo.mask.astype(bool), gonogo.decision.astype(bool)
    assert stats["fix_share"] == pytest.approx((kept & ~decision).sum() / kept.sum(), rel=1e-6)
    assert seen["weight"] == gonogo.mask.T.shape
