"""Trial variables: what the task says about each trial, kept beside the trials."""

import brainunit as u
import numpy as np
import pandas as pd
import pytest
from braintools import cogtask

import braintask
from braintask._data import cogsample as _cogsample

COHERENCES = (6.4, 12.8, 25.6, 51.2)


@pytest.fixture(scope="module")
def decision_task():
    return cogtask.PerceptualDecisionMaking(coherences=COHERENCES, seed=0)


def test_delayed_match_variables_agree_with_inputs_and_labels():
    data = braintask.delayed_match_task(64, seq_len=7, n_symbols=4, seed=3)
    trials = data.trials
    assert list(trials) == ["cue", "probe", "match"]
    np.testing.assert_array_equal(trials["cue"], data.inputs[:, 0].argmax(axis=1))
    np.testing.assert_array_equal(trials["probe"], data.inputs[:, -1].argmax(axis=1))
    np.testing.assert_array_equal(trials["match"], data.targets)
    np.testing.assert_array_equal(trials["match"], trials["cue"] == trials["probe"])
    # the noise leaves the trials themselves unchanged
    noisy = braintask.delayed_match_task(64, seq_len=7, n_symbols=4, seed=3, noise=0.2)
    np.testing.assert_array_equal(noisy.trials["cue"], trials["cue"])


def test_trial_table_has_one_row_per_trial():
    data = braintask.delayed_match_task(5, seq_len=4, n_symbols=3, seed=0)
    table = data.trial_table()
    assert isinstance(table, pd.DataFrame)
    assert table.shape == (5, 3) and table.index.name == "trial"
    assert table["cue"].tolist() == data.trials["cue"].tolist()
    empty = braintask.TaskDataset(np.zeros((3, 2, 1)), np.zeros(3, int), 2)
    assert empty.trials == {} and empty.trial_table().shape == (3, 0)


def test_subset_split_padded_and_as_dataset_keep_alignment():
    data = braintask.delayed_match_task(20, seq_len=5, n_symbols=4, seed=1)
    pick = np.array([7, 2, 19])
    part = data.subset(pick)
    np.testing.assert_array_equal(part.trials["cue"], part.inputs[:, 0].argmax(axis=1))
    np.testing.assert_array_equal(part.trials["cue"], data.trials["cue"][pick])
    chosen = data.subset(data.trials["match"] == 1)
    assert np.all(chosen.targets == 1) and np.all(chosen.trials["match"] == 1)
    train, test = data.split(15)
    np.testing.assert_array_equal(test.trials["probe"], data.trials["probe"][15:])
    np.testing.assert_array_equal(train.trials["probe"], data.trials["probe"][:15])
    wide = data.padded(n_features=6)
    np.testing.assert_array_equal(wide.trials["cue"], data.trials["cue"])
    again = braintask.as_dataset(data)
    np.testing.assert_array_equal(again.trials["match"], data.trials["match"])


def test_padded_in_time_keeps_variables():
    data = braintask.TaskDataset(np.ones((3, 2, 1)), np.zeros((3, 2), int), 2,
                                 trials={"level": [0.5, 1.0, 2.0], "kind": ["a", "b", "a"]})
    longer = data.padded(seq_len=4)
    assert longer.seq_len == 4
    assert longer.trials["level"].tolist() == [0.5, 1.0, 2.0]
    assert longer.trials["kind"].tolist() == ["a", "b", "a"]


@pytest.mark.parametrize("trials, error, words", [
    ({"cue": [0, 1]}, ValueError, "(3,)"),
    ({"cue": np.zeros((3, 2))}, ValueError, "one value per trial"),
    ({"level": [0.1, np.nan, 0.3]}, ValueError, "finite"),
    ({"z": np.array([1j, 2j, 3j])}, TypeError, "real numbers, booleans or strings"),
    ({"o": np.array([None, 1, "a"], dtype=object)}, TypeError, "dtype object"),
    ({3: [0, 1, 2]}, TypeError, "names"),
    ([("cue", [0, 1, 2])], TypeError, "dict"),
])
def test_bad_trial_variables_raise(trials, error, words):
    with pytest.raises(error, match="trial") as info:
        braintask.TaskDataset(np.zeros((3, 2, 1)), np.zeros(3, int), 2, trials=trials)
    assert words in str(info.value)


@pytest.mark.slow
def test_cogtask_variables_come_from_the_trial_state(decision_task):
    data = braintask.from_cogtask(decision_task, 48, start_index=5, dt=20 * u.ms)
    trials = data.trials
    assert list(trials) == ["trial_index", "ground_truth", "coherence",
                            "stimulus_direction"]  # output_mode (text) left out
    np.testing.assert_array_equal(trials["trial_index"], np.arange(5, 53))
    assert set(np.unique(trials["coherence"])) <= set(COHERENCES)
    assert trials["coherence"].dtype == np.float64
    # the answer in the response window is ground truth + 1 (class 0 is fixation)
    answer = data.targets[:, -1]
    np.testing.assert_array_equal(answer, trials["ground_truth"] + 1)
    # each trial's variables are those of cogtask's own sample_trial for that index
    import brainstate

    with brainstate.environ.context(dt=20 * u.ms):
        _, _, info = decision_task.sample_trial(11)
    state = info["trial_state"]
    assert trials["coherence"][6] == pytest.approx(float(state["coherence"]), rel=1e-6)
    assert trials["ground_truth"][6] == int(state["ground_truth"])


@pytest.mark.slow
def test_cogtask_source_carries_variables_and_reuses_the_sampler(decision_task):
    source = braintask.cogtask_source(decision_task, 32, dt=20 * u.ms)
    first = source.trials(0)
    cached = dict(_cogsample._SAMPLERS)
    second = source.trials(1)
    assert dict(_cogsample._SAMPLERS) == cached  # no new compiled sampler
    np.testing.assert_array_equal(first.trials["trial_index"], 1_000_000 + np.arange(32))
    np.testing.assert_array_equal(second.trials["trial_index"], 1_000_032 + np.arange(32))
    held = source.held_out(16, start_index=0)
    assert set(held.trial_table()["coherence"]) <= set(COHERENCES)


def test_delayed_match_source_carries_variables():
    source = braintask.delayed_match_source(16, seq_len=5, n_symbols=3, noise=0.1)
    data = source.trials(2)
    np.testing.assert_array_equal(data.trials["match"], data.targets)
    clean = data.inputs[:, 0].argmax(axis=1)
    assert np.mean(clean == data.trials["cue"]) > 0.9  # noise 0.1 rarely moves the argmax
