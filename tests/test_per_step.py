"""Per-step targets: a label at every time step, with masks, and cogtask datasets."""

import brainstate
import braintools
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest
from braintools import cogtask

import brainmass
import braintask


class PerStepHORN(brainstate.nn.Module):
    """A HORN layer with a linear readout at every step: (T, B, F) -> (T, B, C)."""

    def __init__(self, n_input, n_hidden, n_output):
        super().__init__()
        self.horn = brainmass.HORNSeqLayer(n_input, n_hidden, alpha=0.2)
        self.readout = brainstate.nn.Linear(n_hidden, n_output)

    def update(self, x):
        return self.readout(self.horn(x))


def small_dms(seed=0):
    return cogtask.DelayMatchSample(t_fixation=3 * u.ms, t_sample=3 * u.ms, t_delay=4 * u.ms,
                                    t_response=3 * u.ms, num_stimuli=4, seed=seed)


def make_model(data, seed=0):
    brainstate.random.seed(seed)
    return PerStepHORN(data.n_features, 16, data.n_classes)


def trainer_for(model, **kw):
    return braintask.Trainer(model, braintools.optim.Adam(lr=2e-2), batch_size=16, seed=0,
                             progress=False, **kw)


def test_from_cogtask_keeps_labels_masks_and_decision_period():
    task = small_dms()
    data = braintask.from_cogtask(task, 12)
    x, y = task.batch_sample(12, time_first=False)
    np.testing.assert_allclose(data.inputs, np.asarray(x))
    np.testing.assert_array_equal(data.targets, np.asarray(y))
    assert data.per_step and data.n_classes == task.num_classes
    assert data.mask.all()
    np.testing.assert_array_equal(data.decision, data.targets != 0)
    assert data.decision[:, -3:].all() and not data.decision[:, :-3].any()
    later = braintask.from_cogtask(small_dms(), 12, start_index=12)
    assert not np.array_equal(later.inputs, data.inputs)
    np.testing.assert_array_equal(braintask.from_cogtask(small_dms(), 12).inputs, data.inputs)
    train, test = data.split(8)
    assert train.mask.shape == (8, 13) and test.decision.shape == (4, 13)


def test_from_cogtask_rejects_what_is_not_a_task():
    with pytest.raises(TypeError, match="cogtask task"):
        braintask.from_cogtask(object(), 4)
    with pytest.raises(ValueError, match="n_samples"):
        braintask.from_cogtask(small_dms(), 0)


@pytest.mark.slow
def test_per_step_training_learns_the_decision():
    train = braintask.from_cogtask(small_dms(), 256)
    test = braintask.from_cogtask(small_dms(), 64, start_index=256)
    trainer = trainer_for(make_model(train))
    history = trainer.fit(train, test, epochs=12)
    assert {"train_decision_acc", "test_decision_acc"} <= set(history.metrics)
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    # fixation is most steps: overall accuracy is high long before decisions are right
    assert history[-1]["test_acc"] > history[-1]["test_decision_acc"] - 1e-6
    assert history[-1]["test_decision_acc"] > history.initial["test_decision_acc"]


@pytest.mark.slow
def test_masked_steps_do_not_count():
    data = braintask.from_cogtask(small_dms(), 64)
    mask = data.mask.copy()
    mask[:, :5] = False
    kept = braintask.TaskDataset(data.inputs, data.targets, data.n_classes, mask=mask)
    relabelled = data.targets.copy()
    relabelled[:, :5] = 2  # other labels, but only where the mask is off
    changed = braintask.TaskDataset(data.inputs, relabelled, data.n_classes, mask=mask)
    a = trainer_for(make_model(data)).fit(kept, epochs=2)
    b = trainer_for(make_model(data)).fit(changed, epochs=2)
    assert a == b
    c = trainer_for(make_model(data)).fit(data, epochs=2)  # the full mask: another loss
    assert c != a


def test_masked_loss_and_accuracy_by_hand():
    logits = jnp.array([[[2.0, 0.0]], [[0.0, 3.0]], [[1.0, 0.0]]])  # (T=3, B=1, C=2)
    labels = jnp.array([[0], [0], [1]])
    mask = jnp.array([[1.0], [0.0], [1.0]])
    assert float(braintask.accuracy(logits, labels, mask)) == 0.5
    ce = -np.log(np.exp(2) / (np.exp(2) + 1)) - np.log(1 / (np.e + 1))
    np.testing.assert_allclose(float(braintask.masked_cross_entropy(logits, labels, mask)), ce / 2,
                               rtol=1e-6)


def test_per_step_errors():
    data = braintask.from_cogtask(small_dms(), 32)
    bad = braintask.TaskDataset(data.inputs, np.where(data.targets == 2, 3, data.targets), 4)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\)"):
        trainer_for(make_model(data)).fit(bad, epochs=1)
    brainstate.random.seed(0)
    per_trial_model = brainmass.HORNSeqNetwork(n_input=data.n_features, n_hidden=8, n_output=3)
    with pytest.raises(ValueError, match=r"\(T, B, C\) logits, one per step"):
        trainer_for(per_trial_model).fit(data, epochs=1)
    trainer = trainer_for(make_model(data))
    trainer.fit(data, epochs=1)
    per_trial = braintask.delayed_match_task(32, seq_len=13, n_symbols=9)
    with pytest.raises(ValueError, match="per-trial targets, but this trainer was first used"):
        trainer.fit(per_trial, epochs=1)
    with pytest.raises(ValueError, match="boolean"):
        braintask.TaskDataset(data.inputs, data.targets, 3, mask=data.mask.astype(int))


def test_predict_is_batch_major_per_step():
    data = braintask.from_cogtask(small_dms(), 20)
    trainer = trainer_for(make_model(data))
    trainer.fit(data, epochs=1)
    logits = trainer.predict(data.inputs[:5])
    assert logits.shape == (5, data.seq_len, data.n_classes)
    alone = trainer.predict(data.inputs[3:4])
    np.testing.assert_allclose(logits[3:4], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_epoch_metrics_are_exact_over_trials_of_different_lengths():
    """Each minibatch's mean is weighted by its kept steps, so the epoch value is the
    fraction over every kept step of the epoch, not a mean of minibatch ratios."""
    rng = np.random.default_rng(0)
    n, T, F, C = 40, 10, 3, 3
    inputs = rng.normal(size=(n, T, F)).astype(np.float32)
    targets = rng.integers(0, C, size=(n, T))
    lengths = rng.integers(2, T + 1, size=n)  # trials of different lengths
    mask = np.arange(T)[None, :] < lengths[:, None]
    data = braintask.TaskDataset(inputs, targets, C, mask=mask)
    trainer = braintask.Trainer(make_model(data), braintools.optim.Adam(lr=0.0), batch_size=16,
                                drop_last=False, seed=0, progress=False)
    record = trainer.fit(data, epochs=1)[-1]  # lr 0: every minibatch sees the same weights
    logits = trainer.predict(inputs)
    hits = logits.argmax(-1) == targets
    exact_acc = hits[mask].mean()
    exact_loss = float(braintask.masked_cross_entropy(jnp.asarray(logits), jnp.asarray(targets),
                                                      jnp.asarray(mask, float)))
    assert record["train_acc"] == pytest.approx(exact_acc, abs=1e-6)
    assert record["train_decision_acc"] == pytest.approx(exact_acc, abs=1e-6)
    assert record["train_loss"] == pytest.approx(exact_loss, rel=1e-5)
    # the old rule, minibatch ratios weighted by trials, gives another number here
    order = np.random.default_rng([0, 0]).permutation(n)
    batches = [order[i:i + 16] for i in range(0, n, 16)]
    ratios = [hits[b][mask[b]].mean() for b in batches]
    assert abs(np.average(ratios, weights=[len(b) for b in batches]) - exact_acc) > 1e-3
    assert trainer.evaluate(data)["acc"] == pytest.approx(exact_acc, abs=1e-6)
