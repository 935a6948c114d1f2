import jax.numpy as jnp
import numpy as np
import pytest

import brainmass
import braintask


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_samples=320, seq_len=8, n_symbols=2, seed=0),
        dict(n_samples=128),
        dict(n_samples=7, seq_len=2, n_symbols=5, seed=11),
        dict(n_samples=501, seq_len=33, n_symbols=4, seed=123456),
        dict(n_samples=1, seq_len=3, n_symbols=3, seed=2),
    ],
)
def test_same_arrays_as_brainmass(kwargs):
    ref_inputs, ref_targets = brainmass.datasets.delayed_match_task(**kwargs)
    inputs, targets = braintask.delayed_match_task(**kwargs)
    assert inputs.dtype == ref_inputs.dtype and targets.dtype == ref_targets.dtype
    np.testing.assert_array_equal(inputs, ref_inputs)
    np.testing.assert_array_equal(targets, ref_targets)


def test_structure_of_a_trial():
    data = braintask.delayed_match_task(200, seq_len=9, n_symbols=3, seed=4)
    x, y = data
    assert (data.n_samples, data.seq_len, data.n_features, data.n_classes) == (200, 9, 3, 2)
    cue, probe = x[:, 0].argmax(-1), x[:, -1].argmax(-1)
    np.testing.assert_array_equal(y, (cue == probe).astype(int))
    assert np.all(x[:, 1:-1] == 0)  # the delay is empty
    assert y.sum() == 100
    np.testing.assert_allclose(data.class_balance, [0.5, 0.5])
    assert data.time_major().shape == (9, 200, 3)


def test_split_keeps_order_and_accepts_fraction():
    data = braintask.delayed_match_task(320, seq_len=8, n_symbols=2)
    train, test = data.split(256)
    np.testing.assert_array_equal(train.inputs, data.inputs[:256])
    np.testing.assert_array_equal(test.targets, data.targets[256:])
    train_f, test_f = data.split(0.8)
    assert (train_f.n_samples, test_f.n_samples) == (256, 64)
    np.testing.assert_array_equal(train_f.inputs, train.inputs)


@pytest.mark.parametrize(
    "n_train, exc, words",
    [(0, ValueError, "n_train=0"), (10, ValueError, "[1, 9]"), (1.0, ValueError, "(0, 1)"),
     (0.0, ValueError, "(0, 1)"), ("5", TypeError, "n_train"), (True, TypeError, "n_train")],
)
def test_impossible_split(n_train, exc, words):
    data = braintask.delayed_match_task(10)
    with pytest.raises(exc, match="n_train") as info:
        data.split(n_train)
    assert words in str(info.value)


def test_noise_changes_inputs_only_and_is_seeded():
    clean = braintask.delayed_match_task(2000, seq_len=6, n_symbols=3, seed=5)
    noisy = braintask.delayed_match_task(2000, seq_len=6, n_symbols=3, seed=5, noise=0.3)
    again = braintask.delayed_match_task(2000, seq_len=6, n_symbols=3, seed=5, noise=0.3)
    other = braintask.delayed_match_task(2000, seq_len=6, n_symbols=3, seed=6, noise=0.3)
    np.testing.assert_array_equal(noisy.targets, clean.targets)
    np.testing.assert_array_equal(noisy.inputs, again.inputs)
    residual = noisy.inputs - clean.inputs
    assert abs(residual.std() - 0.3) < 0.01
    assert abs(residual.mean()) < 0.01
    assert not np.allclose(other.inputs - braintask.delayed_match_task(
        2000, seq_len=6, n_symbols=3, seed=6).inputs, residual)
    # the noise is on every step, the delay included
    assert residual[:, 2].std() > 0.25


def test_delay_sets_sequence_length():
    for delay in (0, 3, 30):
        data = braintask.delayed_match_task(50, n_symbols=2, delay=delay, seed=1)
        assert data.seq_len == delay + 2
        assert np.all(data.inputs[:, 0].sum(-1) == 1) and np.all(data.inputs[:, -1].sum(-1) == 1)
        assert np.all(data.inputs[:, 1:-1] == 0)
    # delay=d is the same task as seq_len=d+2
    np.testing.assert_array_equal(
        braintask.delayed_match_task(40, delay=5, seed=2).inputs,
        braintask.delayed_match_task(40, seq_len=7, seed=2).inputs,
    )
    with pytest.raises(ValueError, match="seq_len=9 contradicts delay=5"):
        braintask.delayed_match_task(40, delay=5, seq_len=9)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(seq_len=1), ValueError, "seq_len"),
        (dict(n_symbols=1), ValueError, "n_symbols"),
        (dict(n_samples=0), ValueError, "n_samples"),
        (dict(n_samples=-3), ValueError, "n_samples"),
        (dict(n_samples=10.0), TypeError, "n_samples"),
        (dict(n_samples="10"), TypeError, "n_samples"),
        (dict(seq_len=None, delay=-1), ValueError, "delay"),
        (dict(noise=-0.1), ValueError, "noise"),
        (dict(noise=float("nan")), ValueError, "noise"),
        (dict(noise="a lot"), TypeError, "noise"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(n_symbols=None), TypeError, "n_symbols"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, exc, name):
    kwargs = {"n_samples": 10, **kwargs}
    with pytest.raises(exc, match=name):
        braintask.delayed_match_task(**kwargs)


def test_numpy_integers_are_accepted():
    a = braintask.delayed_match_task(np.int64(12), seq_len=np.int32(5))
    b = braintask.delayed_match_task(12, seq_len=5)
    np.testing.assert_array_equal(a.inputs, b.inputs)


def test_as_dataset_checks_pairs():
    x = np.zeros((4, 3, 2))
    y = np.array([0, 1, 1, 0])
    data = braintask.as_dataset((jnp.asarray(x), jnp.asarray(y)))
    assert data.n_classes == 2 and data.n_samples == 4
    with pytest.raises(ValueError, match="NaN or inf"):
        braintask.as_dataset((np.full((4, 3, 2), np.nan), y))
    with pytest.raises(TypeError, match="integer class labels"):
        braintask.as_dataset((x, y.astype(float)))
    with pytest.raises(ValueError, match="shape"):
        braintask.as_dataset((x[0], y))
    with pytest.raises(ValueError, match="empty"):
        braintask.as_dataset((x[:0], y[:0]))
    with pytest.raises(TypeError, match="pair"):
        braintask.as_dataset(x)


def test_distinct_sequences_overlap_and_majority_baseline():
    clean = braintask.delayed_match_task(320, seq_len=8, n_symbols=2, seed=0)
    assert clean.n_distinct == 4  # 2 cues x 2 probes, no noise
    train, test = clean.split(256)
    assert test.count_in(train) == test.n_samples  # every held-out trial is a training copy
    noisy_train, noisy_test = braintask.delayed_match_task(320, seq_len=8, n_symbols=2, seed=0,
                                                           noise=0.05).split(256)
    assert noisy_train.n_distinct == 256 and noisy_test.count_in(noisy_train) == 0
    assert test.count_in(braintask.TaskDataset(test.inputs.astype(np.float32), test.targets, 2)) \
        == test.n_samples
    share = np.bincount(test.targets, minlength=2).max() / test.n_samples
    assert test.majority_rate == share and share >= 0.5
    # per step: the majority label over the decision steps only
    targets = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 2]])
    decision = np.array([[0, 0, 1]] * 3, bool)
    per_step = braintask.TaskDataset(np.zeros((3, 3, 1)), targets, 3, decision=decision)
    assert per_step.majority_rate == 2 / 3
    with pytest.raises(TypeError, match="TaskDataset"):
        test.count_in(test.inputs)
