"""Analysis helpers against hand computations: trajectories and their phases, PCA,
decoding, fixed points, psychometric curves, decision times and ablation."""

import brainmass
import brainstate
import braintools
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

import braintask


@pytest.fixture(scope="module")
def dms():
    return braintask.delayed_match_task(24, seq_len=5, n_symbols=3, seed=1, noise=0.1)


@pytest.fixture(scope="module")
def gru():
    """An untrained GRU classifier with 8 units on 3 inputs."""
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(3, 8), n_output=2)
    return braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=8, progress=False)


@pytest.fixture(scope="module")
def horn():
    """An untrained HORN network with 6 oscillators on 3 inputs (dt = 1 ms, conftest)."""
    brainstate.random.seed(0)
    net = brainmass.HORNSeqNetwork(n_input=3, n_hidden=6, n_output=2, alpha=0.2)
    return braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=8, progress=False)


# ---------------------------------------------------------------- trajectories, PCA
def test_trajectories_are_the_recorded_states_batch_major(gru, dms):
    traj = braintask.trajectories(gru, dms)
    logits, states = gru.predict(dms.inputs, states=True)
    np.testing.assert_array_equal(traj.states, states["cell/h"].swapaxes(0, 1))
    np.testing.assert_array_equal(traj.outputs, logits)
    assert traj.phases == {"cue": (0, 1), "delay": (1, 4), "probe": (4, 5)}
    assert traj.units("cell/h") == slice(0, 8)


def test_trajectories_choose_and_flatten_paths(horn, dms):
    everything = braintask.trajectories(horn, dms)
    assert everything.states.shape == (24, 5, 12) and everything.sizes == (6, 6)
    x_path = [p for p in everything.paths if p.endswith("x")][0]
    only_x = braintask.trajectories(horn, dms, paths=x_path)
    np.testing.assert_array_equal(only_x.states, everything.states[..., everything.units(x_path)])
    with pytest.raises(ValueError, match="hidden states are"):
        braintask.trajectories(horn, dms, paths="nope")
    with pytest.raises(TypeError, match="must be a braintask.Trainer"):
        braintask.trajectories(horn.model, dms)


def test_phases_from_a_decision_mask():
    from braintask._analysis.trajectories import task_phases

    decision = np.array([[0, 0, 1, 1]] * 3, bool)
    data = braintask.TaskDataset(np.zeros((3, 4, 1)), np.zeros((3, 4), int), 2,
                                 decision=decision)
    assert task_phases(data) == {"before_decision": (0, 2), "decision": (2, 4)}
    moved = decision.copy()
    moved[1] = [0, 1, 1, 0]
    assert task_phases(data.__class__(data.inputs, data.targets, 2, decision=moved)) == {}


def test_pca_matches_an_svd_by_hand():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(6, 5, 4)) * np.array([3.0, 1.0, 0.5, 0.1])
    flat = states.reshape(-1, 4)
    centred = flat - flat.mean(axis=0)
    _, sing, axes = np.linalg.svd(centred, full_matrices=False)
    pcs, explained = braintask.pca_projection(states, k=2)
    hand = (centred @ axes[:2].T).reshape(6, 5, 2)
    np.testing.assert_allclose(np.abs(pcs), np.abs(hand), atol=1e-10)
    np.testing.assert_allclose(explained, (sing**2 / np.sum(sing**2))[:2], rtol=1e-10)
    result = braintask.pca_projection(states, k=2)
    np.testing.assert_allclose(result.transform(states), result.projected, atol=1e-12)


@pytest.mark.parametrize("states, k, message", [
    (np.zeros((3, 4)), 1, "N trials, T steps, U units"),
    (np.full((2, 3, 4), np.nan), 1, "NaN"),
    (np.zeros((2, 3, 4)), 5, "at most min"),
    (np.zeros((2, 3, 4)), 0, ">= 1"),
])
def test_pca_bad_input(states, k, message):
    with pytest.raises(ValueError, match=message):
        braintask.pca_projection(states, k=k)


# ---------------------------------------------------------------- decoding
def coded_states(seed=0, n=60, steps=4, units=5, at=2, strength=6.0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    states = rng.normal(size=(n, steps, units))
    states[:, at, 0] += strength * labels
    return states, labels


def hand_cross_validation(states, labels, folds, seed, make, cross=False):
    """Held-out accuracy of sklearn decoders fitted step by step on z-scored states."""
    z = (states - states.mean(axis=(0, 1))) / states.std(axis=(0, 1))
    n, steps, _ = states.shape
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n), labels)
    hits = np.zeros((steps, steps))
    for train, test in splits:
        for t in range(steps):
            model = make().fit(z[train, t], labels[train])
            for s in range(steps):
                hits[t, s] += np.sum(model.predict(z[test, s]) == labels[test])
    return hits / n if cross else np.diag(hits) / n


@pytest.mark.parametrize("n_classes", [2, 3])
def test_default_decoder_is_sklearn_ridge_classifier_by_hand(n_classes):
    from sklearn.linear_model import RidgeClassifier

    rng = np.random.default_rng(n_classes)
    labels = np.arange(60) % n_classes
    states = rng.normal(size=(60, 4, 5))
    states[:, 1:, :n_classes] += 0.8 * np.eye(n_classes)[labels][:, None]
    result = braintask.decode_over_time(states, labels, folds=4, shuffles=0, seed=3,
                                        alpha=2.0)
    hand = hand_cross_validation(states, labels, 4, 3, lambda: RidgeClassifier(alpha=2.0))
    np.testing.assert_allclose(result.accuracy, hand)
    matrix = braintask.cross_temporal_decoding(states, labels, folds=4, seed=3, alpha=2.0)
    np.testing.assert_allclose(matrix, hand_cross_validation(
        states, labels, 4, 3, lambda: RidgeClassifier(alpha=2.0), cross=True))


def test_an_sklearn_decoder_is_fitted_step_by_step():
    states, labels = coded_states()
    result = braintask.decode_over_time(states, labels, folds=4, shuffles=0, seed=3,
                                        decoder=LogisticRegression(max_iter=1000))
    hand = hand_cross_validation(states, labels, 4, 3,
                                 lambda: LogisticRegression(max_iter=1000))
    np.testing.assert_allclose(result.accuracy, hand)
    assert result.accuracy[2] == 1.0 and result.null.shape == (0, 4)
    with pytest.raises(TypeError, match="scikit-learn classifier"):
        braintask.decode_over_time(states, labels, decoder="logistic")
    with pytest.raises(ValueError, match="alpha must be"):
        braintask.cross_temporal_decoding(states, labels, alpha=0.0)


def test_decoding_chance_from_shuffles():
    states, labels = coded_states(n=80, steps=6)
    result = braintask.decode_over_time(states, labels, shuffles=8)
    assert result.null.shape == (8, 6)
    assert abs(result.chance_mean - 0.5) < 0.08
    assert result.chance_upper == pytest.approx(np.quantile(result.null, 0.95))
    assert result.above_chance.tolist() == [False, False, True, False, False, False]


def test_cross_temporal_diagonal_and_generalisation():
    states, labels = coded_states()
    matrix = braintask.cross_temporal_decoding(states, labels, folds=4, seed=1)
    diagonal = braintask.decode_over_time(states, labels, folds=4, shuffles=0, seed=1)
    np.testing.assert_allclose(np.diag(matrix), diagonal.accuracy)
    assert matrix[2, 2] == 1.0 and matrix[2, [0, 1, 3]].max() < 0.8  # a code at step 2 only
    stable, _ = coded_states(strength=0.0)
    stable[:, :, 1] += 6.0 * labels[:, None]
    assert braintask.cross_temporal_decoding(stable, labels).min() > 0.95  # generalises


@pytest.mark.parametrize("labels, folds, message", [
    (np.r_[np.zeros(57), np.ones(3)], 5, r"labels \{1.0: 3\} have fewer"),
    (np.zeros(60), 5, "at least 2 values"),
    (np.zeros(59), 5, r"shape \(60,\)"),
    (np.r_[np.zeros(30), np.full(30, np.nan)], 5, "NaN"),
    (np.repeat([0, 1], 30), 1, ">= 2"),
])
def test_decoding_bad_labels(labels, folds, message):
    states, _ = coded_states()
    with pytest.raises(ValueError, match=message):
        braintask.decode_over_time(states, labels, folds=folds)


def test_decoding_bad_states():
    states, labels = coded_states()
    states[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        braintask.cross_temporal_decoding(states, labels)
    with pytest.raises(ValueError, match="N trials, T steps"):
        braintask.decode_over_time(states[:, 0], labels)


# ---------------------------------------------------------------- fixed points
@pytest.mark.parametrize("scale", [0.9, 1.6])  # a stable and an unstable fixed point
def test_fixed_point_of_a_linear_map(scale):
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a = q @ np.diag([scale, 0.5, -0.3, 0.1]) @ q.T
    b = rng.normal(size=4)
    found = braintask.find_fixed_points(lambda h, x: jnp.asarray(a, h.dtype) @ h + b,
                                        rng.normal(size=(16, 4)) * 3)
    exact = np.linalg.solve(np.eye(4) - a, b)
    np.testing.assert_allclose(found.points, np.broadcast_to(exact, (16, 4)), atol=1e-4)
    assert len(found.unique) == 1 and found.speeds.max() < 1e-9
    np.testing.assert_allclose(found.unique_eigenvalues[0].real, [scale, 0.5, -0.3, 0.1],
                               atol=1e-5)
    assert bool(found.stable[0]) is (scale < 1)


def test_fixed_points_of_a_two_unit_tanh_network():
    a = 0.9575040240772687  # a = tanh(2 a)
    assert a == pytest.approx(np.tanh(2 * a), abs=1e-12)
    grid = np.stack(np.meshgrid(*[np.linspace(-1.5, 1.5, 7)] * 2), -1).reshape(-1, 2) + 0.01
    found = braintask.find_fixed_points(lambda h, x: jnp.tanh(2.0 * h), grid, max_speed=1e-10)
    points = found.unique_points
    expected = {(i, j) for i in (-a, 0.0, a) for j in (-a, 0.0, a)}
    assert len(points) == 9
    for p in expected:
        assert np.min(np.linalg.norm(points - np.array(p), axis=1)) < 1e-4
    for p, eig in zip(points, found.unique_eigenvalues):  # dF/dh = diag(2 (1 - h^2))
        np.testing.assert_allclose(np.sort(eig.real), np.sort(2 * (1 - p**2)), atol=1e-4)
    assert found.stable[found.unique].sum() == 4  # the corners (+-a, +-a)


def test_step_function_of_a_gru_is_the_gru_update_by_hand(gru):
    trainer = gru
    cell = trainer.model.cell
    step = braintask.step_function(trainer.model)
    rng = np.random.default_rng(0)
    h, x = rng.normal(size=8).astype(np.float32), rng.normal(size=3).astype(np.float32)
    wrz, wh = cell.Wrz.weight.value, cell.Wh.weight.value
    rz = expit(np.r_[x, h] @ wrz["weight"] + wrz["bias"])
    r, z = rz[:8], rz[8:]
    cand = np.tanh(np.r_[x, r * h] @ wh["weight"] + wh["bias"])
    np.testing.assert_allclose(step(h, x), (1 - z) * h + z * cand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(step(h), step(h, np.zeros(3)))
    before = trainer.predict(np.zeros((2, 4, 3)))
    found = braintask.find_fixed_points(step, rng.normal(size=(5, 8)) * 0.5)
    for p in found.points[found.speeds < 1e-10]:
        np.testing.assert_allclose(step(p), p, atol=1e-4)
    np.testing.assert_array_equal(trainer.predict(np.zeros((2, 4, 3))), before)


def test_fixed_points_follow_weights_changed_between_calls(gru):
    step = braintask.step_function(gru.model)
    starts = np.random.default_rng(1).normal(size=(4, 8)) * 0.3
    first = braintask.find_fixed_points(step, starts)
    saved = gru.get_weights()
    wh = gru.model.cell.Wh.weight
    wh.value = {**wh.value, "bias": wh.value["bias"] + 0.5}
    try:
        second = braintask.find_fixed_points(step, starts)
        assert np.abs(second.points - first.points).max() > 0.1
        for p in second.points:
            np.testing.assert_allclose(step(p), p, atol=1e-4)
    finally:
        gru.set_weights(saved)


def test_step_function_of_horn_is_one_oscillator_step_by_hand(horn, dms):
    net = horn.model
    horn.predict(dms.inputs)  # leaves the hidden states batched
    shape = net.layers[0].horn.x.value.shape
    step = braintask.step_function(net)
    assert step.n_state == 12 and step.n_input == 3
    layer = net.layers[0]
    rng = np.random.default_rng(0)
    h, inp = rng.normal(size=12).astype(np.float32), rng.normal(size=3).astype(np.float32)
    parts = step.split(h)
    xs, ys = (parts[n] for n in step.names)  # positions then velocities
    w_in, w_rec = layer.i2h.weight.value, layer.h2h.linear.weight.value
    drive = inp @ w_in["weight"] + w_in["bias"] + ys @ w_rec["weight"] + w_rec["bias"]
    omega = 2 * np.pi / 28
    y_new = ys + (0.2 * np.tanh(drive) - omega**2 * xs - 2 * 0.01 * ys)
    np.testing.assert_allclose(step(h, inp), np.r_[xs + y_new, y_new], rtol=1e-5, atol=1e-6)
    assert layer.horn.x.value.shape == shape == (8, 6)  # the batched states are kept


def test_slow_point_without_a_fixed_point():
    # h -> h + 0.01 + h^2 never stands still; it is slowest at h = 0, q = 0.5 * 0.01^2
    found = braintask.find_fixed_points(lambda h, x: h + 0.01 + h**2,
                                        np.array([[-1.0], [-0.5], [0.3], [1.0]]))
    np.testing.assert_allclose(found.points, 0.0, atol=1e-3)
    np.testing.assert_allclose(found.speeds, 5e-5, rtol=1e-3)
    assert len(found.unique) == 1
    fixed_only = braintask.find_fixed_points(lambda h, x: h + 0.01 + h**2, np.ones((2, 1)),
                                             max_speed=1e-8)
    assert fixed_only.unique_points.shape == (0, 1)


def test_starts_drawn_from_trajectories(gru, dms):
    traj = braintask.trajectories(gru, dms)
    step = braintask.step_function(gru.model)
    assert traj.states.shape[-1] == step.n_state
    found = braintask.find_fixed_points(step, traj.states, n_starts=6, noise=0.0, seed=4)
    rows = traj.states.reshape(-1, 8)
    assert found.initial.shape == (6, 8)
    assert all(np.any(np.all(np.isclose(rows, s), axis=1)) for s in found.initial)
    noisy = braintask.find_fixed_points(step, traj.states, n_starts=6, noise=0.1, seed=4)
    np.testing.assert_allclose(noisy.initial, found.initial, atol=0.6)
    assert not np.allclose(noisy.initial, found.initial)
    with pytest.raises(ValueError, match="exceeds the 120 candidate"):
        braintask.find_fixed_points(step, traj.states, n_starts=121)


def test_fixed_point_bad_input(gru):
    with pytest.raises(ValueError, match="same shape as h"):
        braintask.find_fixed_points(lambda h, x: h[:1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        braintask.find_fixed_points(lambda h, x: h, np.full((2, 3), np.nan))
    with pytest.raises(TypeError, match="callable"):
        braintask.find_fixed_points("tanh", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape \\(8,\\)"):
        braintask.step_function(gru.model)(np.zeros(3))


# ---------------------------------------------------------------- psychometric, times
def test_logistic_fit_recovers_slope_and_threshold():
    rng = np.random.default_rng(0)
    levels = np.arange(-20.0, 21.0, 4.0)
    x = np.repeat(levels, 3000)
    right = rng.random(x.size) < expit(0.3 * (x - 2.0))
    result = braintask.psychometric(x, right)
    assert result.slope == pytest.approx(0.3, rel=0.05)
    assert result.threshold == pytest.approx(2.0, abs=0.3)
    assert result.slope_se < 0.02 and result.threshold_se < 0.2
    accuracy = rng.random(x.size) < 0.5 + 0.5 * expit(0.25 * (np.abs(x) - 6.0))
    fitted = braintask.psychometric(np.abs(x), accuracy, floor=0.5)
    assert fitted.slope == pytest.approx(0.25, rel=0.1)
    assert fitted.threshold == pytest.approx(6.0, abs=0.5)


def test_wilson_interval_and_chronometric_columns_by_hand():
    x = np.repeat([1.0, 2.0, 3.0], [10, 20, 5])
    outcome = np.r_[np.ones(3), np.zeros(7), np.ones(15), np.zeros(5), np.ones(5)]
    times = np.r_[np.arange(10.0), np.full(20, 4.0), [1.0, np.nan, 3.0, np.nan, 8.0]]
    table = braintask.psychometric(x, outcome, times=times).table
    z = 1.959963984540054
    for level, k, n in [(1.0, 3, 10), (2.0, 15, 20), (3.0, 5, 5)]:
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        assert table.loc[level, "rate"] == p and table.loc[level, "n"] == n
        assert table.loc[level, "lower"] == pytest.approx(centre - half, abs=1e-12)
        assert table.loc[level, "upper"] == pytest.approx(centre + half, abs=1e-12)
    assert table["mean_time"].tolist() == [4.5, 4.0, 4.0]
    assert table["n_timed"].tolist() == [10, 20, 3]


@pytest.mark.parametrize("x, y, message", [
    (np.array([1.0, 2.0, 3.0]), np.array([0, 1, 2]), "0/1"),
    (np.array([1.0, 1.0, 2.0]), np.array([0, 1, 1]), "at least 3 difficulty levels"),
    (np.array([1.0, 2.0, 3.0]), np.array([0, 1]), "outcome has 2 trials"),
    (np.array([1.0, np.nan, 3.0]), np.array([0, 1, 1]), "NaN"),
])
def test_psychometric_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        braintask.psychometric(x, y)


def test_decision_times_by_hand():
    out = np.zeros((3, 6, 3))
    out[:, :, 0] = 1.0  # fixation everywhere...
    out[0, 2:, 1] = 2.0  # trial 0: class 1 from step 2
    out[1, 2, 2] = 2.0
    out[1, 3:, 1] = 2.0  # trial 1: a detour to 2, then 1 from step 3
    decision = np.zeros((3, 6), bool)
    decision[:, 2:] = True  # trial 2 keeps fixating: no choice
    choice, time = braintask.decision_times(out, decision, no_choice=0)
    assert choice.tolist() == [1, 1, -1]
    assert time[:2].tolist() == [0.0, 1.0] and np.isnan(time[2])
    with pytest.raises(ValueError, match="no decision step"):
        braintask.decision_times(out, np.zeros((3, 6), bool))
    with pytest.raises(ValueError, match=r"\(N, T\) = \(3, 6\)"):
        braintask.decision_times(out, decision[:, :4])


# ---------------------------------------------------------------- ablation
def weights_of(trainer):
    return [np.asarray(leaf) for w in trainer.get_weights() for leaf in jax.tree.leaves(w)]


def assert_bit_identical(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


def test_ablation_matches_zeroed_weights_by_hand_and_restores_them(gru, dms):
    original = weights_of(gru)
    result = braintask.ablate_units(gru, dms, [1, 4], controls=4, seed=2)
    assert_bit_identical(weights_of(gru), original)
    assert result.before == gru.evaluate(dms)["acc"]
    cell, readout = gru.model.cell, gru.model.readout
    saved = gru.get_weights()
    for linear, first in [(cell.Wrz, 3), (cell.Wh, 3), (readout, 0)]:
        value = dict(linear.weight.value)
        value["weight"] = value["weight"].at[np.array([1, 4]) + first].set(0)
        linear.weight.value = value
    assert result.after == gru.evaluate(dms)["acc"]
    gru.set_weights(saved)
    assert all(len(d) == 2 and not {1, 4} & set(d) for d in result.control_units)
    again = braintask.ablate_units(gru, dms, [1, 4], controls=4, seed=2)
    assert again.control_units == result.control_units
    np.testing.assert_array_equal(again.control, result.control)


@pytest.mark.parametrize("model", ["gru", "horn"])
def test_silencing_every_unit_leaves_the_readout_bias(model, request, dms):
    trainer = request.getfixturevalue(model)
    readout = trainer.model.readout if model == "gru" else trainer.model.h2o
    saved = trainer.get_weights()
    bias = np.array([0.0, 1.0], np.float32) if model == "gru" else np.array([1.0, 0.0])
    readout.weight.value = {**readout.weight.value, "bias": jnp.asarray(bias, jnp.float32)}
    try:
        original = weights_of(trainer)
        result = braintask.ablate_units(trainer, dms, range(8 if model == "gru" else 6),
                                        controls=0)
        assert result.after == np.mean(dms.targets == bias.argmax())
        assert result.control.shape == (0,)
        assert_bit_identical(weights_of(trainer), original)
    finally:
        trainer.set_weights(saved)


def test_ablation_restores_weights_when_scoring_fails(gru, dms, monkeypatch):
    original = weights_of(gru)
    calls = []
    real = gru.evaluate

    def failing(data):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("interrupted")
        return real(data)

    monkeypatch.setattr(gru, "evaluate", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        braintask.ablate_units(gru, dms, [0])
    assert_bit_identical(weights_of(gru), original)


@pytest.mark.parametrize("units, kwargs, message", [
    ([8], {}, r"distinct integers in \[0, 8\)"),
    ([1, 1], {}, "distinct"),
    ([], {}, "at least one"),
    ([0], {"metric": "f1"}, "not one of the trainer's scores"),
    (list(range(5)), {}, "only 3 of 8 are left"),
])
def test_ablation_bad_input(gru, dms, units, kwargs, message):
    with pytest.raises(ValueError, match=message):
        braintask.ablate_units(gru, dms, units, **kwargs)


def test_psychometric_standard_errors_are_the_binomial_fisher_information():
    # rates exactly on the curve: the errors must still be those n trials per level allow
    slope, threshold, n = 0.8, 2.0, 400
    levels = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 7.0])
    p = 1 / (1 + np.exp(-slope * (levels - threshold)))
    counts = np.round(p * n).astype(int)
    difficulty = np.repeat(levels, n)
    outcome = np.concatenate([np.arange(n) < k for k in counts])
    fit = braintask.psychometric(difficulty, outcome)
    rates = counts / n
    p_hat = 1 / (1 + np.exp(-fit.slope * (levels - fit.threshold)))
    grad = np.stack([p_hat * (1 - p_hat) * (levels - fit.threshold),
                     -fit.slope * p_hat * (1 - p_hat)], axis=1)
    info = (grad.T * (n / (p_hat * (1 - p_hat)))) @ grad  # sum of n_i/(p(1-p)) g g^T
    expected = np.sqrt(np.diag(np.linalg.inv(info)))
    assert np.allclose([fit.slope_se, fit.threshold_se], expected, rtol=0.05)
    assert abs(fit.slope - slope) < 0.05 and abs(fit.threshold - threshold) < 0.05
    assert np.allclose(rates, counts / n)
