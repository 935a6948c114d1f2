"""Continuous per-step targets (cogtask output_mode="vector"): the dataset, the default
masked squared-error loss, the angular error over the decision period, and the checks."""

import brainstate
import braintools
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest
from braintools import cogtask

import braintask


def direction_task(n, start_index=0):
    # 10 steps at 20 ms: 5 of fixation, then 5 of response
    task = cogtask.ImmediateDirectionReproduction(
        t_fixation=100 * u.ms, t_go=100 * u.ms, seed=0)
    return braintask.from_cogtask(task, n, start_index=start_index, dt=20 * u.ms)


def gru(n_input, n_output, seed=0, hidden=24):
    """A per-step GRU; ``seed=None`` leaves brainstate's random state as it is."""
    if seed is not None:
        brainstate.random.seed(seed)
    return braintask.RecurrentClassifier(brainstate.nn.GRUCell(n_input, hidden), n_output,
                                         per_step=True)


@pytest.fixture(scope="module")
def vector_data():
    return direction_task(192), direction_task(64, start_index=192)


def test_from_cogtask_gives_float_targets_with_mask_and_decision(vector_data):
    train, _ = vector_data
    assert train.vector and train.per_step and train.n_classes is None
    assert train.targets.shape == (192, 10, 3) and train.targets.dtype == np.float32
    assert train.output_dim == 3
    assert train.info["decision_phases"] == ("Response",)
    # fixation: [1, 0, 0]; response: [0, cos, sin] of a unit direction
    assert (train.decision.sum(axis=1) == 5).all() and train.decision[:, 5:].all()
    np.testing.assert_allclose(train.targets[:, :5], np.broadcast_to([1, 0, 0], (192, 5, 3)),
                               atol=1e-6)
    norms = np.linalg.norm(train.targets[:, 5:, 1:], axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert np.isnan(train.majority_rate)
    assert 80 < train.baseline_angular_error < 100
    assert "output_dim=3" in repr(train)


def test_from_cogtask_refuses_n_classes_for_a_vector_task():
    task = cogtask.ImmediateDirectionReproduction(seed=0)
    with pytest.raises(ValueError, match="n_classes"):
        braintask.from_cogtask(task, 4, dt=20 * u.ms, n_classes=3)


@pytest.mark.slow
def test_a_vector_task_trains_loss_and_angular_error_fall(vector_data):
    train, test = vector_data
    trainer = braintask.Trainer(gru(train.n_features, 3), braintools.optim.Adam(lr=1e-2),
                                batch_size=32, seed=0, progress=False)
    history = trainer.fit(train, test, epochs=25)
    assert trainer.loss is braintask.masked_mean_squared_error
    assert history.metrics[1:] == [
        "train_loss", "train_decision_angular_error", "train_trial_perf", "train_fix_break",
        "test_loss", "test_decision_angular_error", "test_trial_perf", "test_fix_break",
        "updates", "lr", "time"]
    assert history.chance is None
    first_error = history.initial["test_decision_angular_error"]
    assert first_error > 60  # untrained: no better than ignoring the stimulus
    assert history[-1]["test_loss"] < 0.5 * history.initial["test_loss"]
    assert history[-1]["test_decision_angular_error"] < 20
    assert history[-1]["test_decision_angular_error"] < test.baseline_angular_error / 3
    # the recorded held-out numbers are the ones evaluate and predict give
    scores = trainer.evaluate(test)
    assert scores["decision_angular_error"] == pytest.approx(
        history[-1]["test_decision_angular_error"], rel=1e-5)
    outputs = trainer.predict(test.inputs)
    assert outputs.shape == test.targets.shape
    by_hand = braintask.angular_error(outputs, test.targets, test.decision)
    assert float(by_hand) == pytest.approx(scores["decision_angular_error"], rel=1e-4)
    assert braintask.default_mode("test_decision_angular_error") == "min"
    history.plot()  # the second panel shows the angular error


@pytest.mark.slow
def test_epoch_means_are_exact_over_kept_steps():
    # trials of different lengths: the per-step loss is weighted by kept steps
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 6, 2))
    y = rng.normal(size=(10, 6, 2))
    mask = np.ones((10, 6), bool)
    mask[:5, 3:] = False
    data = braintask.TaskDataset(x, y, None, mask=mask, decision=mask)
    trainer = braintask.Trainer(gru(2, 2), braintools.optim.Adam(lr=0.0), batch_size=5,
                                seed=0, progress=False, drop_last=False)
    history = trainer.fit(data, epochs=1)  # lr 0: every minibatch sees the same weights
    outputs = trainer.predict(x)
    per_step = ((outputs - y) ** 2).mean(-1)
    assert history[-1]["train_loss"] == pytest.approx(per_step[mask].mean(), rel=1e-5)


def test_bad_shapes_are_refused(vector_data):
    train, _ = vector_data
    # the model must output (T, B, D) with D = 3
    trainer = braintask.Trainer(gru(train.n_features, 2), braintools.optim.Adam(lr=1e-2),
                                batch_size=32, progress=False)
    with pytest.raises(ValueError, match=r"\(T, B, D\) outputs.*D=3"):
        trainer.fit(train, epochs=1)
    # one output per trial is not a per-step output
    brainstate.random.seed(0)
    last_step = braintask.RecurrentClassifier(brainstate.nn.GRUCell(train.n_features, 8), 3)
    trainer = braintask.Trainer(last_step, braintools.optim.Adam(lr=1e-2), batch_size=32,
                                progress=False)
    with pytest.raises(ValueError, match=r"\(T, B, D\) outputs"):
        trainer.fit(train, epochs=1)
    # targets of another width than the first dataset's
    trainer = braintask.Trainer(gru(train.n_features, 3), braintools.optim.Adam(lr=1e-2),
                                batch_size=32, progress=False)
    trainer.fit(train, epochs=1)
    narrow = braintask.TaskDataset(train.inputs, train.targets[..., :2], None)
    with pytest.raises(ValueError, match="output_dim 2"):
        trainer.evaluate(narrow)
    # labels after continuous targets
    labels = braintask.TaskDataset(train.inputs, np.zeros(train.targets.shape[:2], int), 3)
    with pytest.raises(ValueError, match="continuous per-step targets"):
        trainer.evaluate(labels)


def test_dataset_refuses_mixed_up_targets():
    x = np.zeros((4, 5, 2))
    with pytest.raises(ValueError, match="n_classes=None"):
        braintask.TaskDataset(x, np.zeros((4, 5, 3)), 3)  # float (N, T, D) with classes
    with pytest.raises(ValueError, match="continuous targets"):
        braintask.TaskDataset(x, np.zeros((4, 5), int), None)  # labels without classes
    with pytest.raises(TypeError, match="must be floats"):
        braintask.as_dataset((x, np.zeros((4, 5, 3), int)))
    with pytest.raises(ValueError, match="NaN or inf"):
        braintask.as_dataset((x, np.full((4, 5, 3), np.nan)))
    with pytest.raises(ValueError, match="output_dim"):
        braintask.as_dataset((x, np.zeros((4, 6, 3))))  # wrong T: no shape fits
    data = braintask.as_dataset((x, np.zeros((4, 5, 3))))
    assert data.vector and data.output_dim == 3 and data.n_classes is None
    with pytest.raises(ValueError, match="class_balance needs class labels"):
        data.class_balance


@pytest.mark.slow
def test_multi_seed_trainer_with_vector_targets(vector_data):
    train, test = vector_data
    grid = braintask.MultiSeedTrainer(
        lambda: gru(train.n_features, 3, seed=None),
        lambda lr: braintools.optim.Adam(lr=lr),
        seeds=[0, 1], lrs=[1e-2, 1e-3], batch_size=32, progress=False)
    histories = grid.fit(train, test, epochs=8)
    assert len(histories) == 4
    for h in histories:
        assert "test_decision_angular_error" in h.metrics and "train_acc" not in h.metrics
        assert h.chance is None
        assert h[-1]["test_loss"] < h.initial["test_loss"]
    # each copy matches a single Trainer run with its seed and rate
    single = braintask.Trainer(gru(train.n_features, 3, seed=1), braintools.optim.Adam(lr=1e-3),
                               batch_size=32, seed=1, progress=False)
    alone = single.fit(train, test, epochs=8)
    copy = histories[3]

    def tolerance(name):
        # trial scores threshold the fixation output at 0.5: where an output sits at the
        # threshold, rounding 1e-7 apart may flip that one trial, no more
        if name.endswith(("trial_perf", "fix_break")):
            return 1 / (test if name.startswith("test") else train).n_samples + 1e-9
        return None

    assert copy.metrics == alone.metrics
    for name in alone.metrics:
        if name == "time":
            continue
        if tolerance(name) is not None:
            assert np.abs(np.subtract(copy[name], alone[name])).max() <= tolerance(name), name
        else:
            np.testing.assert_allclose(copy[name], alone[name], rtol=1e-4, atol=1e-4,
                                       err_msg=name)
    assert copy.initial.keys() == alone.initial.keys()
    for name, value in alone.initial.items():  # the untrained held-out metrics
        assert abs(copy.initial[name] - value) <= (tolerance(name) or 1e-4), name
    # after fit each copy evaluates on its own, with the same metric names
    scores = grid.trainers[0].evaluate(test)
    assert set(scores) == {"loss", "decision_angular_error", "trial_perf", "fix_break"}
    assert scores["decision_angular_error"] == pytest.approx(
        histories[0][-1]["test_decision_angular_error"], rel=1e-4)


def test_angular_error_and_mse_by_hand():
    t = jnp.array([[[0.0, 1.0, 0.0]], [[0.0, -1.0, 0.0]]])  # 0 and 180 degrees
    o = jnp.array([[[5.0, 0.0, 3.0]], [[0.0, 1.0, -0.0]]])  # 90 and 0 degrees
    assert float(braintask.angular_error(o, t)) == pytest.approx(135.0)
    mask = jnp.array([[1.0], [0.0]])
    assert float(braintask.angular_error(o, t, mask)) == pytest.approx(90.0)
    mse = float(braintask.masked_mean_squared_error(o, t, mask))
    assert mse == pytest.approx((25 + 1 + 9) / 3)
