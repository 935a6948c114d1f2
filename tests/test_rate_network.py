"""The leaky rate network (LeakyRNNCell) against hand-written rollouts, Dale's law
through training, and noise that is drawn while training only."""

import brainstate
import braintools
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import braintask
from helpers import assert_trial_scores_recorded, leaky_rollout as rollout


@pytest.mark.parametrize("dale", [False, True])
def test_the_cell_is_its_equation(dale):
    brainstate.random.seed(1)
    cell = braintask.LeakyRNNCell(3, 10, alpha=0.25, dale=dale, sigma_rec=0.3, sigma_in=0.2)
    x = np.random.default_rng(0).normal(size=(6, 4, 3))
    cell.init_state(4)
    got = np.stack([np.asarray(cell(jnp.asarray(xt))) for xt in x])  # no fit flag: no noise
    want = rollout(cell, x)
    np.testing.assert_allclose(got, want if not dale else want[..., :8], rtol=1e-5, atol=1e-6)


def test_noise_follows_yang_scaling_with_a_fixed_key():
    brainstate.random.seed(1)
    cell = braintask.LeakyRNNCell(3, 10, alpha=0.2, sigma_rec=0.05, sigma_in=0.01)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    cell.init_state(2)
    brainstate.random.seed(7)
    with brainstate.environ.context(fit=True):
        got = np.stack([np.asarray(cell(jnp.asarray(xt))) for xt in x])
    brainstate.random.seed(7)  # the same draws, in the cell's order: input, then recurrent
    scale = np.sqrt(2 / 0.2)
    noise = [(scale * 0.01 * np.asarray(brainstate.random.randn(2, 3)),
              scale * 0.05 * np.asarray(brainstate.random.randn(2, 10))) for _ in range(5)]
    np.testing.assert_allclose(got, rollout(cell, x, noise), rtol=1e-5, atol=1e-6)
    assert np.abs(got - rollout(cell, x)).max() > 1e-3  # the noise is there


def test_alpha_from_tau_and_dt():
    cell = braintask.LeakyRNNCell(2, 4, tau=100 * u.ms, dt=20 * u.ms)
    assert cell.alpha == pytest.approx(0.2)
    with pytest.raises(ValueError, match="alpha"):
        braintask.LeakyRNNCell(2, 4, tau=10 * u.ms, dt=20 * u.ms)  # alpha 2
    with pytest.raises(ValueError, match="unitless"):
        braintask.LeakyRNNCell(2, 4, tau=100 * u.ms, dt=1.0)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="activation"):
        braintask.LeakyRNNCell(2, 4, activation="sigmoidal")
    with pytest.raises(ValueError, match="rec_init"):
        braintask.LeakyRNNCell(2, 4, rec_init="random")
    with pytest.raises(ValueError, match="sigma_rec"):
        braintask.LeakyRNNCell(2, 4, sigma_rec=-0.1)
    with pytest.raises(ValueError, match="excitatory and inhibitory"):
        braintask.LeakyRNNCell(2, 3, dale=True, exc_fraction=0.9)
    cell = braintask.LeakyRNNCell(2, 4)
    with pytest.raises(AttributeError, match="build a new cell"):
        cell.alpha = 0.5
    with pytest.raises(AttributeError, match="build a new cell"):
        cell.sigma_rec = 0.1


def test_recurrent_inits():
    brainstate.random.seed(0)
    q = np.asarray(braintask.LeakyRNNCell(2, 6, rec_init="orthogonal", rec_gain=0.5).w_rec.value)
    np.testing.assert_allclose(q @ q.T, 0.25 * np.eye(6), atol=1e-5)
    i = np.asarray(braintask.LeakyRNNCell(2, 6, rec_init="identity", rec_gain=0.9).w_rec.value)
    np.testing.assert_allclose(i, 0.9 * np.eye(6))
    dale = braintask.LeakyRNNCell(2, 50, dale=True, rec_gain=1.5)
    w = np.asarray(dale.recurrent_weights())
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(1.5, rel=1e-4)
    np.testing.assert_allclose(w.sum(axis=0), 0.0, atol=1e-4 * np.abs(w).sum())  # balanced


def _dale_net(seed=0, **kw):
    brainstate.random.seed(seed)
    cell = braintask.LeakyRNNCell(4, 20, alpha=0.2, dale=True, **kw)
    return braintask.RecurrentClassifier(cell, n_output=2)


def test_dale_signs_hold_through_training_at_a_high_rate(dt_one_ms):
    train = braintask.delayed_match_task(128, delay=4, noise=0.05, seed=0)
    net = _dale_net()
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=0.5), batch_size=16,
                                progress=False)
    before = np.asarray(net.cell.w_rec.value).copy()
    trainer.fit(train, epochs=7)  # 56 updates
    assert trainer.history[-1]["updates"] >= 50
    w = np.asarray(net.cell.recurrent_weights())
    assert np.abs(np.asarray(net.cell.w_rec.value) - before).max() > 0.1  # it did move
    assert (w[:16] >= 0).all() and (w[16:] <= 0).all()
    assert (np.asarray(net.cell.input_weights()) >= 0).all()
    assert net.readout.in_size == (16,)


def test_noise_trains_but_analysis_sees_the_deterministic_network(dt_one_ms):
    train, test = braintask.delayed_match_task(96, delay=3, noise=0.05, seed=1).split(64)

    def fit(sigma):
        brainstate.random.seed(3)
        net = braintask.RecurrentClassifier(
            braintask.LeakyRNNCell(4, 16, alpha=0.2, sigma_rec=sigma), n_output=2)
        trainer = braintask.Trainer(net, braintools.optim.SGD(lr=0.1), batch_size=16,
                                    progress=False)
        trainer.fit(train, test, epochs=1)
        return trainer

    noisy, quiet = fit(0.3), fit(0.0)
    assert noisy.history[-1]["train_loss"] != quiet.history[-1]["train_loss"]
    # evaluation and recording run with fit=False: no draws, so they agree exactly
    # with each other and with the equation written out
    first, again = noisy.evaluate(test), noisy.evaluate(test)
    assert first == again
    logits, states = noisy.predict(test.inputs, states=True)
    (name,) = states
    want = rollout(noisy.model.cell, test.time_major())
    np.testing.assert_allclose(states[name], want, rtol=1e-4, atol=1e-5)


def test_noise_in_evaluation_when_asked_and_settings_fixed(dt_one_ms):
    data = braintask.delayed_match_task(32, delay=3, noise=0.05, seed=1)
    brainstate.random.seed(0)
    cell = braintask.LeakyRNNCell(4, 16, sigma_rec=0.5, eval_noise=True)
    trainer = braintask.Trainer(braintask.RecurrentClassifier(cell, n_output=2),
                                braintools.optim.Adam(lr=1e-2), batch_size=16, progress=False)
    assert trainer.evaluate(data) != trainer.evaluate(data)  # noisy evaluations differ
    assert trainer.compilations["evaluate"] == 1
    # predict(states=True) draws the noise once for both of its passes: the states are
    # those of the equation with the noise that brainstate's key gives, step by step
    x = data.time_major()[:, :4]
    brainstate.random.seed(7)
    _, states = trainer.predict(data.inputs[:4], states=True)
    brainstate.random.seed(7)
    scale = np.sqrt(2 / cell.alpha)
    noise = [(0.0, scale * 0.5 * np.asarray(brainstate.random.randn(4, 16)))
             for _ in range(x.shape[0])]
    want = rollout(cell, np.asarray(x), noise)
    np.testing.assert_allclose(states["cell/r"], want, rtol=1e-4, atol=1e-5)
    assert np.abs(want - rollout(cell, np.asarray(x))).max() > 0.1  # the noise is there
    with pytest.raises(AttributeError, match="build a new cell"):
        cell.sigma_rec = 0.0  # a compiled program has it baked in: it cannot change


# ---------------------------------------------------------------- trial-level performance
def test_trial_performance_against_a_hand_count():
    """Five trials of 5 steps, fixation label 0; decision period the last two steps, the
    first decision step of trial 4 a grace step (masked out)."""
    labels = np.array([[0, 0, 0, 0, 0]] * 3 + [[1, 2, 0, 1, 1]] * 2).T  # (T, B)
    decision = np.zeros((5, 5), int)
    decision[3:] = 1
    mask = np.ones((5, 5), int)
    mask[3, 4] = 0
    answers = labels.copy()
    answers[1, 0] = 2  # trial 0: a fixation break, right choice
    answers[4, 1] = 1  # trial 1: fixation held, wrong choice
    answers[3, 2] = 1  # trial 2: right at the last decision step, wrong at the one before
    # trial 3: a no-go trial (fixate through the decision period), right
    answers[3, 4] = 2  # trial 4: wrong only on its grace step
    logits = np.eye(3)[answers]
    perf, breaks = braintask.trial_performance(logits, labels, mask, decision)
    correct = [False, False, True, True, True]  # by hand
    assert float(perf) == pytest.approx(np.mean(correct))
    assert float(breaks) == pytest.approx(1 / 5)


def test_the_record_scores_trials_and_a_criterion_watches_it(dt_one_ms):
    from braintools import cogtask

    task = cogtask.GoNoGo(seed=0)
    source = braintask.cogtask_source(task, 64, dt=20 * u.ms)
    val = source.held_out(64, start_index=0)
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(braintask.LeakyRNNCell(val.n_features, 32),
                                        n_output=int(val.targets.max()) + 1, per_step=True)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=32,
                                progress=False)
    history = trainer.fit(source, val=val, epochs=2,
                          criterion=braintask.Criterion("val_trial_perf", at_least=1.01))
    record = history[-1]
    assert {"val_trial_perf", "val_fix_break", "train_trial_perf"} <= set(record)
    assert_trial_scores_recorded(trainer, val, record)
    assert braintask.default_mode("val_fix_break") == "min"


def test_copies_of_a_noisy_network_warn_that_they_are_not_single_runs(dt_one_ms):
    train = braintask.delayed_match_task(64, delay=3, noise=0.05, seed=1)

    def grid(sigma):
        return braintask.MultiSeedTrainer(
            lambda: braintask.RecurrentClassifier(
                braintask.LeakyRNNCell(4, 8, sigma_rec=sigma), n_output=2),
            lambda: braintools.optim.SGD(lr=0.1), seeds=[0, 1], batch_size=16, progress=False)

    with pytest.warns(UserWarning, match="one random stream"):
        grid(0.3).fit(train, epochs=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no noise, no random numbers, no warning
        grid(0.0).fit(train, epochs=1)
