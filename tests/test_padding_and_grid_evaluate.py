"""TaskDataset.padded (tasks of different shapes through one program) and
MultiSeedTrainer.evaluate (every copy scored in one pass)."""

import brainstate
import braintools
import numpy as np
import pytest

import braintask
from helpers import trainer_for, unseeded_horn


def per_step_gru(n_input, n_output, hidden=8):
    return braintask.RecurrentClassifier(brainstate.nn.GRUCell(n_input, hidden), n_output,
                                         per_step=True)


def labelled(n=24, t=5, f=2, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((n, t), bool)
    mask[: n // 2, -1] = False  # some trials one step shorter
    decision = np.zeros((n, t), bool)
    decision[:, 2:] = True
    return braintask.TaskDataset(rng.normal(size=(n, t, f)), rng.integers(0, 3, (n, t)), 3,
                                 mask=mask, decision=decision)


def test_padded_keeps_every_real_step_and_masks_the_rest():
    data = labelled()
    big = data.padded(seq_len=8, n_features=4)
    assert big.inputs.shape == (24, 8, 4) and big.targets.shape == (24, 8)
    np.testing.assert_array_equal(big.inputs[:, :5, :2], data.inputs)
    assert not big.inputs[:, 5:].any() and not big.inputs[:, :, 2:].any()
    np.testing.assert_array_equal(big.mask[:, :5], data.mask)
    assert not big.mask[:, 5:].any() and not big.decision[:, 5:].any()
    np.testing.assert_array_equal(big.decision[:, :5], data.decision & data.mask)
    assert big.majority_rate == data.majority_rate
    vector = braintask.TaskDataset(data.inputs, np.ones((24, 5, 3)), None).padded(seq_len=7)
    assert vector.targets.shape == (24, 7, 3) and vector.vector


def test_padded_refuses_shrinking_and_per_trial_steps():
    data = labelled()
    with pytest.raises(ValueError, match="seq_len must be an integer >= 5"):
        data.padded(seq_len=4)
    with pytest.raises(ValueError, match="n_features must be an integer >= 2"):
        data.padded(n_features=1)
    trials = braintask.delayed_match_task(8, seq_len=4, n_symbols=2)
    with pytest.raises(ValueError, match="one label per trial"):
        trials.padded(seq_len=6)
    assert trials.padded(n_features=3).inputs.shape == (8, 4, 3)


@pytest.mark.slow
def test_a_padded_dataset_trains_to_the_same_numbers():
    # a forward-running per-step model: padding steps after the trial changes nothing
    data = labelled()
    records = []
    for d in (data, data.padded(seq_len=9, n_features=2)):
        brainstate.random.seed(0)
        trainer = trainer_for(per_step_gru(2, 3), batch_size=8)
        records.append(trainer.fit(d, d, epochs=3))
    assert records[0].allclose(records[1], rtol=1e-4, atol=1e-5)


def test_grid_evaluate_scores_every_copy_like_its_own_trainer(small_task):
    train, test = small_task
    grid = braintask.MultiSeedTrainer(unseeded_horn, lambda lr: braintools.optim.Adam(lr=lr),
                                      seeds=[0, 1], lrs=[1e-2, 3e-2], batch_size=16,
                                      progress=False)
    histories = grid.fit(train, test, epochs=3)
    scores = grid.evaluate(test)
    assert len(scores) == 4
    for k, (h, s) in enumerate(zip(histories, scores)):
        assert s["acc"] == pytest.approx(h[-1]["test_acc"], abs=1e-6), k
        assert s["loss"] == pytest.approx(h[-1]["test_loss"], rel=1e-5), k
        own = grid.trainers[k].evaluate(test)
        assert own["acc"] == pytest.approx(s["acc"], abs=1e-6)
    # the grid still trains after evaluating
    more = grid.fit(train, test, epochs=1)
    assert len(more[0]) == 4
