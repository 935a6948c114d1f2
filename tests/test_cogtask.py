"""from_cogtask: the decision period from the task's phases, labels checked against the
task's classes, and sampling under its own dt."""

import brainstate
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest
from braintools import cogtask

import braintask


def short_gonogo(go_prob=0.3, seed=0):
    # 40 steps at the global dt of 1 ms (tests/conftest.py); the last 10 are the response.
    return cogtask.GoNoGo(t_fixation=10 * u.ms, t_stimulus=10 * u.ms, t_delay=10 * u.ms,
                          t_response=10 * u.ms, go_prob=go_prob, seed=seed)


def constant_logits(data, label):
    """Time-major (T, N, C) logits whose argmax is ``label`` at every step of every trial."""
    return jnp.broadcast_to(jnp.eye(data.n_classes)[label], (data.seq_len, data.n_samples,
                                                             data.n_classes))


def decision_accuracy(data, logits):
    batch = data.batch()
    return float(braintask.accuracy(logits, batch["y"], batch["decision"]))


def test_gonogo_always_go_scores_the_go_share_not_one():
    task = short_gonogo()
    n = 400
    data = braintask.from_cogtask(task, n)
    # which trials are go trials, from the task's own trial metadata (not from the labels)
    _, _, meta = task.batch_sample(n, time_first=False, return_meta=True)
    is_go = np.asarray(meta["is_go"], dtype=bool)
    go_share = float(is_go.mean())
    assert 0.2 < go_share < 0.4  # go_prob=0.3: the go and no-go shares differ

    go_label = 1
    # a network that answers "go" on every step is right on the go trials only
    always_go = decision_accuracy(data, constant_logits(data, go_label))
    assert always_go == pytest.approx(go_share, abs=1e-6)
    always_withhold = decision_accuracy(data, constant_logits(data, 0))
    assert always_withhold == pytest.approx(1 - go_share, abs=1e-6)

    # the decision period is the response phase, the same 10 steps in every trial
    assert (data.decision.sum(axis=1) == 10).all()
    assert data.decision[:, -10:].all() and not data.decision[:, :-10].any()
    assert (data.targets[is_go][:, -10:] == go_label).all()
    assert (data.targets[~is_go] == 0).all()  # no-go trials keep fixating


def test_decision_period_follows_the_response_phase_in_variable_length_trials():
    task = cogtask.ReadySetGo(seed=0)  # its measured interval varies: phases move per trial
    data = braintask.from_cogtask(task, 64, dt=20 * u.ms, n_classes=3)
    assert data.info["decision_phases"] == ("production",)
    assert not data.mask.all()  # padded trials
    production = 1000 // 20
    steps = data.decision.sum(axis=1)
    first = data.decision.argmax(axis=1)
    assert (steps == production).all() and len(set(first.tolist())) > 10
    assert not (data.decision & ~data.mask).any()
    # contiguous, and every label of the answer (1: hold, 2: go) lies inside it
    for i in range(data.n_samples):
        np.testing.assert_array_equal(np.flatnonzero(data.decision[i]),
                                      np.arange(first[i], first[i] + production))
    assert (data.targets[~data.decision] == 0).all()
    assert set(np.unique(data.targets[data.decision]).tolist()) == {1, 2}


def test_decision_phase_overrides_the_rule():
    task = cogtask.DelayMatchSample(t_fixation=100 * u.ms, t_sample=100 * u.ms,
                                    t_delay=200 * u.ms, t_response=100 * u.ms, seed=0)
    default = braintask.from_cogtask(task, 8, dt=20 * u.ms)
    assert default.info["decision_phases"] == ("Response",)
    assert (np.flatnonzero(default.decision[0]) == np.arange(20, 25)).all()
    delay = braintask.from_cogtask(task, 8, dt=20 * u.ms, decision_phase="Delay")
    assert (np.flatnonzero(delay.decision[3]) == np.arange(10, 20)).all()
    both = braintask.from_cogtask(task, 8, dt=20 * u.ms, decision_phase=["Sample", "Response"])
    assert both.decision.sum(axis=1).tolist() == [10] * 8
    with pytest.raises(ValueError, match=r"decision_phase names \['Go'\].*'Fixation', 'Sample'"):
        braintask.from_cogtask(task, 8, dt=20 * u.ms, decision_phase="Go")
    with pytest.raises(TypeError, match="decision_phase must be a phase name"):
        braintask.from_cogtask(task, 8, dt=20 * u.ms, decision_phase=3)


def test_a_task_without_a_response_phase_needs_decision_phase():
    fix, stim = cogtask.Feature(1, "fixation"), cogtask.Feature(2, "stimulus")
    task = cogtask.Task(
        phases=cogtask.Fixation(100 * u.ms, name="wait", inputs={"fixation": 1.0},
                                outputs={"label": 0})
        >> cogtask.Stimulus(60 * u.ms, name="report", inputs={"stimulus": 1.0},
                            outputs={"label": cogtask.label("answer")}),
        input_features=fix + stim, output_features=fix + stim,
        trial_init=lambda ctx: ctx.update(answer=ctx.rng.choice(2) + 1), seed=0,
    )
    with pytest.raises(ValueError, match=r"Task has no response phase.*\['wait', 'report'\]"):
        braintask.from_cogtask(task, 4, dt=20 * u.ms)
    data = braintask.from_cogtask(task, 4, dt=20 * u.ms, decision_phase="report")
    assert (data.decision.sum(axis=1) == 3).all() and (data.targets[data.decision] > 0).all()


def test_labels_outside_the_declared_classes_are_refused():
    task = cogtask.ReadySetGo(seed=0)
    assert task.num_classes == 2 and task.output_mode == "categorical"
    full = braintask.from_cogtask(task, 64, dt=20 * u.ms, n_classes=3)
    n_twos = int((full.targets[full.mask] == 2).sum())
    assert n_twos > 100
    with pytest.raises(ValueError, match=rf"ReadySetGo emits labels outside its num_classes=2 "
                                         rf".*label 2 on {n_twos} steps.*pass n_classes=3"):
        braintask.from_cogtask(task, 64, dt=20 * u.ms)
    with pytest.raises(ValueError, match=rf"outside n_classes=2 .*label 2 on {n_twos} steps"):
        braintask.from_cogtask(task, 64, dt=20 * u.ms, n_classes=2)
    assert full.n_classes == 3 and full.targets.max() == 2
    # a task whose labels fit keeps its declared classes
    assert braintask.from_cogtask(short_gonogo(), 8).n_classes == 3
    with pytest.raises(TypeError, match="n_classes must be an integer"):
        braintask.from_cogtask(task, 8, dt=20 * u.ms, n_classes="3")
    with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
        braintask.from_cogtask(task, 8, dt=20 * u.ms, n_classes=0)


def gonogo_default():
    return cogtask.GoNoGo(seed=1)  # four phases of 500 ms


@pytest.mark.slow
def test_dt_samples_under_its_own_step_and_leaves_the_global_one_alone():
    assert brainstate.environ.get_dt() == 1.0 * u.ms  # tests/conftest.py
    data = braintask.from_cogtask(gonogo_default(), 16, dt=20 * u.ms)
    assert data.seq_len == 2000 // 20
    assert data.info["dt"] == 20 * u.ms
    assert brainstate.environ.get_dt() == 1.0 * u.ms
    with brainstate.environ.context(dt=20 * u.ms):
        x, y = gonogo_default().batch_sample(16, time_first=False)
    np.testing.assert_array_equal(data.inputs, np.asarray(x))
    np.testing.assert_array_equal(data.targets, np.asarray(y))
    # another unit, the same step
    again = braintask.from_cogtask(gonogo_default(), 16, dt=0.02 * u.second)
    np.testing.assert_array_equal(again.inputs, data.inputs)
    # an error while sampling leaves it alone too
    with pytest.raises(ValueError, match="num_classes"):
        braintask.from_cogtask(cogtask.ReadySetGo(seed=0), 8, dt=20 * u.ms)
    assert brainstate.environ.get_dt() == 1.0 * u.ms


def test_dt_works_without_a_global_dt_and_does_not_set_one():
    brainstate.environ.pop("dt")
    try:
        data = braintask.from_cogtask(gonogo_default(), 4, dt=25 * u.ms)
        assert data.seq_len == 80 and data.info["dt"] == 25 * u.ms
        with pytest.raises(KeyError):
            brainstate.environ.get_dt()
        with pytest.raises(RuntimeError, match=r"dt=20 \* u\.ms.*brainstate\.environ\.set\(dt="):
            braintask.from_cogtask(gonogo_default(), 4)
    finally:
        brainstate.environ.set(dt=1.0 * u.ms)


def test_without_dt_the_global_or_the_tasks_own_dt_is_used():
    old_style = braintask.from_cogtask(short_gonogo(), 8)  # the global 1 ms
    assert old_style.seq_len == 40 and old_style.info["dt"] == 1.0 * u.ms
    own = cogtask.GoNoGo(seed=1, dt=50 * u.ms)
    assert braintask.from_cogtask(own, 4).seq_len == 40
    assert braintask.from_cogtask(own, 4, dt=50 * u.ms).info["dt"] == 50 * u.ms
    with pytest.raises(ValueError, match=r"built with its own dt=50 ms.*dt=20 ms"):
        braintask.from_cogtask(own, 4, dt=20 * u.ms)


@pytest.mark.parametrize("dt, error, message", [
    (20, TypeError, r"dt must be a brainunit time quantity, e\.g\. dt=20 \* u\.ms.*got 20 of type int"),
    (0.02, TypeError, r"dt=20 \* u\.ms.*got 0\.02 of type float"),
    (5 * u.mV, ValueError, r"dt must be a time"),
    (0 * u.ms, ValueError, r"dt must be one finite time step > 0"),
    (jnp.array([1.0, 2.0]) * u.ms, ValueError, r"dt must be one finite time step"),
])
def test_bad_dt_is_refused(dt, error, message):
    with pytest.raises(error, match=message):
        braintask.from_cogtask(short_gonogo(), 4, dt=dt)
    assert brainstate.environ.get_dt() == 1.0 * u.ms
