"""MultiSeedTrainer: copies (seeds x learning rates) in one program, each equal to its single run."""

import subprocess
import sys
import textwrap

import brainmass
import brainstate
import braintools
import pytest

import braintask
from helpers import (assert_copy_equals_single, assert_same_weights, helpers_env, make_horn,
                     trainer_for, unseeded_horn, weights)


def grid(seeds, lrs=None, build_optimizer=None, **kw):
    if build_optimizer is None:
        build_optimizer = (lambda: braintools.optim.Adam(lr=1e-2)) if lrs is None else \
            (lambda lr: braintools.optim.Adam(lr=lr))
    return braintask.MultiSeedTrainer(unseeded_horn, build_optimizer, seeds=seeds, lrs=lrs,
                                      batch_size=kw.pop("batch_size", 16), progress=False, **kw)


def single(train, test, seed, epochs, lr=1e-2, optimizer=None, **fit_kw):
    trainer_kw = {k: fit_kw.pop(k) for k in ("drop_last", "batch_size") if k in fit_kw}
    trainer = trainer_for(make_horn(seed=seed), seed=seed, lr=lr, optimizer=optimizer, **trainer_kw)
    trainer.fit(train, test, epochs=epochs, **fit_kw)
    return trainer


def test_multi_seed_copies_match_single_runs(small_task):
    train, test = small_task
    seeds = [3, 0, 7]
    ensemble = grid(seeds)
    histories = ensemble.fit(train, test, epochs=3)
    traced = dict(ensemble.engine.compilations)  # vmap traces its function more than once
    assert len(histories) == 3
    for seed, hist, member in zip(seeds, histories, ensemble.trainers):
        one = single(train, test, seed, 3)
        # Adam: to about 1e-7 (a few float32 ulps), as the MultiSeedTrainer docstring says
        assert_copy_equals_single(member, one)
        # after the fit each copy is a usable Trainer on its own (evaluate, predict)
        assert member.evaluate(test)["acc"] == pytest.approx(hist[-1]["test_acc"], abs=1e-6)
        assert member.predict(train.inputs).shape == (train.n_samples, 2)
    # another fit continues each copy's History
    assert [len(h) for h in ensemble.fit(train, test, epochs=1)] == [4, 4, 4]
    assert histories[0] != histories[1]
    assert ensemble.engine.compilations == traced  # nothing re-traced by the second fit


@pytest.mark.slow
def test_seed_by_learning_rate_grid_equals_single_runs(small_task):
    train, test = small_task
    ensemble = grid([0, 1], lrs=[1e-2, 3e-3])
    assert ensemble.copies == [{"seed": 0, "lr": 1e-2}, {"seed": 1, "lr": 1e-2},
                               {"seed": 0, "lr": 3e-3}, {"seed": 1, "lr": 3e-3}]
    histories = ensemble.fit(train, test, epochs=3)
    for copy, hist in zip(ensemble.copies, histories):
        one = single(train, test, copy["seed"], 3, lr=copy["lr"])
        assert hist.lr == [copy["lr"]] * 3
        assert hist.allclose(one.history, rtol=1e-4, atol=1e-5), copy
    assert not histories[0].allclose(histories[2])  # the rate really differs per copy
    scores = ensemble.evaluate(test)  # every copy in one pass, after the fit
    assert [s["acc"] for s in scores] == pytest.approx([h[-1]["test_acc"] for h in histories],
                                                       abs=1e-6)


@pytest.mark.slow
def test_grid_with_a_schedule_built_on_each_rate(small_task):
    train, test = small_task
    def build(lr):
        return braintools.optim.Adam(lr=braintools.optim.StepLR(base_lr=lr, step_size=1, gamma=0.5))
    histories = grid([2], lrs=[1e-2, 4e-3], build_optimizer=build).fit(train, test, epochs=3)
    assert histories[0].lr == [0.01, 0.005, 0.0025]
    assert histories[1].lr == [0.004, 0.002, 0.001]
    one = single(train, test, 2, 3, optimizer=build(4e-3))
    assert histories[1].allclose(one.history, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_copy_that_reaches_stop_at_stops_and_the_others_go_on(small_task):
    train, test = small_task
    seeds, epochs = [0, 1, 2], 8
    free = [single(train, test, s, epochs).history.train_loss for s in seeds]
    # a target the copies reach at different epochs (or never)
    first = lambda losses, v: next((i for i, x in enumerate(losses) if x <= v), None)
    target = next(v for v in sorted({x for losses in free for x in losses}, reverse=True)
                  if len({first(losses, v) for losses in free}) > 1)
    ensemble = grid(seeds)
    histories = ensemble.fit(train, test, epochs=epochs, stop_at={"train_loss": target})
    lengths = [len(h) for h in histories]
    assert len(set(lengths)) > 1, lengths
    for seed, hist, member in zip(seeds, histories, ensemble.trainers):
        one = single(train, test, seed, epochs, stop_at={"train_loss": target})
        assert len(hist) == len(one.history) and hist.allclose(one.history, rtol=1e-4, atol=1e-5)
        # no update after its stop: the weights are those of the single run that stopped there
        assert_same_weights(weights(member.model), weights(one.model), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_early_stopping_per_copy_restores_each_best(small_task):
    train, test = small_task
    seeds = [0, 4]
    ensemble = grid(seeds, lrs=[5e-2])
    histories = ensemble.fit(train, test, epochs=10, patience=2)
    for seed, hist, member in zip(seeds, histories, ensemble.trainers):
        one = single(train, test, seed, 10, lr=5e-2, patience=2)
        assert len(hist) == len(one.history) and hist.best_epoch == one.history.best_epoch
        assert_same_weights(weights(member.model), weights(one.model), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_checkpoint_and_resume_equal_a_straight_run(small_task, tmp_path):
    train, test = small_task
    seeds = [0, 1, 2]
    target = {"train_acc": 0.55}  # some copies stop early; they must stay stopped after resume
    straight = grid(seeds, lrs=[3e-2])
    straight.fit(train, test, epochs=6, stop_at=target)
    first = grid(seeds, lrs=[3e-2])
    first.fit(train, test, epochs=3, stop_at=target, checkpoint=tmp_path / "grid.msgpack")
    resumed = grid(seeds, lrs=[3e-2]).load(tmp_path / "grid.msgpack")
    assert resumed.stopped == first.stopped and resumed.epoch == 3
    resumed.fit(train, test, epochs=3, stop_at=target)
    for a, b, ta, tb in zip(resumed.histories, straight.histories, resumed.trainers,
                            straight.trainers):
        assert a == b
        assert_same_weights(weights(ta.model), weights(tb.model), rtol=0, atol=0)
    with pytest.raises(braintask.CheckpointError, match="lr=0.01"):
        grid(seeds, lrs=[1e-2]).load(tmp_path / "grid.msgpack")
    with pytest.raises(braintask.CheckpointError, match="3 copies"):
        grid([0, 1], lrs=[3e-2]).load(tmp_path / "grid.msgpack")


@pytest.mark.slow
def test_drop_last_false_matches_single_runs(small_task):
    train, test = small_task  # 64 trials, batch 24: two full minibatches and one of 16
    ensemble = grid([0, 1], batch_size=24, drop_last=False)
    histories = ensemble.fit(train, test, epochs=2)
    for seed, hist in zip([0, 1], histories):
        one = single(train, test, seed, 2, batch_size=24, drop_last=False)
        assert hist.allclose(one.history, rtol=1e-4, atol=1e-5)


def test_bad_learning_rates_are_refused():
    with pytest.raises(ValueError, match="lrs must hold positive numbers"):
        grid([0], lrs=[1e-2, -1.0])
    with pytest.raises(ValueError, match="lrs must be distinct"):
        grid([0], lrs=[1e-2, 1e-2])
    with pytest.raises(TypeError, match="lrs must be a non-empty sequence"):
        grid([0], lrs=1e-2)


def test_multi_seed_rejects_bad_seeds():
    opt = lambda: braintools.optim.Adam(lr=1e-2)
    with pytest.raises(ValueError, match="distinct"):
        braintask.MultiSeedTrainer(unseeded_horn, opt, seeds=[1, 1], batch_size=8)
    with pytest.raises(TypeError, match="seeds"):
        braintask.MultiSeedTrainer(unseeded_horn, opt, seeds=[], batch_size=8)
    with pytest.raises(TypeError, match="seeds"):
        braintask.MultiSeedTrainer(unseeded_horn, opt, seeds=[0.5], batch_size=8)
    sizes = iter([16, 12])
    with pytest.raises(ValueError, match="same architecture"):
        braintask.MultiSeedTrainer(lambda: make_horn(seed=None, n_hidden=next(sizes)), opt,
                                   seeds=[0, 1], batch_size=8)


TWO_DEVICES = """
import brainstate, braintools, brainunit as u, jax
brainstate.environ.set(dt=1.0 * u.ms)
import braintask
from helpers import unseeded_horn
assert len(jax.devices()) == 2
train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3).split(64)
def run(devices):
    return braintask.MultiSeedTrainer(unseeded_horn, lambda lr: braintools.optim.Adam(lr=lr),
        seeds=[0, 1], lrs=[1e-2], batch_size=16, progress=False, devices=devices)
spread = run("all")
hs = spread.fit(train, test, epochs=2)
sharding = spread.engine.param_states[0].value["weight"].sharding
assert len(sharding.device_set) == 2, sharding
for a, b in zip(hs, run(None).fit(train, test, epochs=2)):
    assert a.allclose(b, rtol=1e-5, atol=1e-6)
try:
    braintask.MultiSeedTrainer(unseeded_horn, lambda: braintools.optim.Adam(lr=1e-2),
                               seeds=[0, 1, 2], batch_size=16, devices="all")
except ValueError as err:
    assert "does not split evenly over 2 devices" in str(err), err
else:
    raise AssertionError("3 copies on 2 devices were accepted")
print("ok")
"""


@pytest.mark.slow
def test_copies_spread_over_two_devices_match_one_device(tmp_path):
    script = tmp_path / "two_devices.py"
    script.write_text(textwrap.dedent(TWO_DEVICES))
    env = helpers_env(XLA_FLAGS="--xla_force_host_platform_device_count=2",
                      JAX_PLATFORMS="cpu")  # the script imports helpers
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


class Oscillators(brainstate.nn.Module):
    """Damped Stuart-Landau nodes whose initial states brainmass draws at random
    (``init_x``, ``init_y``: uniform on [0, 0.05])."""

    def __init__(self):
        super().__init__()
        self.inp = brainstate.nn.Linear(2, 16)
        self.node = brainmass.StuartLandauStep(16, a=-0.05)
        self.out = brainstate.nn.Linear(16, 2)

    def update(self, x):
        def step(xt):
            self.node.update(self.inp(xt))
            return self.node.x.value

        return self.out(brainstate.transform.for_loop(step, x)[-1])


def gru():
    return braintask.RecurrentClassifier(brainstate.nn.GRUCell(2, 16), 2)


def copies_and_singles(small_task, build, build_optimizer, seeds, epochs):
    """Each copy of a MultiSeedTrainer beside the single Trainer run of its seed."""
    train, test = small_task
    ensemble = braintask.MultiSeedTrainer(build, build_optimizer, seeds=seeds, batch_size=16,
                                          progress=False, init_states="shared")
    ensemble.fit(train, test, epochs=epochs)
    for seed, member in zip(seeds, ensemble.trainers):
        brainstate.random.seed(seed)
        one = trainer_for(build(), seed=seed, optimizer=build_optimizer(), init_states="shared")
        one.fit(train, test, epochs=epochs)
        yield member, one


def without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history.records]


@pytest.mark.slow
def test_copies_with_random_initial_states_equal_single_runs_bit_for_bit_under_sgd(small_task):
    """Each copy starts from its own initial draw, not from the first copy's."""
    pairs = copies_and_singles(small_task, Oscillators, lambda: braintools.optim.SGD(lr=0.1),
                               seeds=[0, 1, 2], epochs=3)
    for member, one in pairs:
        assert without_time(member.history) == without_time(one.history), member.seed
        assert_same_weights(weights(member.model), weights(one.model), rtol=0, atol=0)


@pytest.mark.slow
def test_copies_under_adam_stay_within_rounding_of_single_runs(small_task):
    """The compiled Adam update of stacked copies may round otherwise in the last bit
    (measured: weights within 1e-7 after 5 epochs, losses within 5e-8)."""
    pairs = copies_and_singles(small_task, gru, lambda: braintools.optim.Adam(lr=1e-2),
                               seeds=[0, 1], epochs=5)
    for member, one in pairs:
        assert member.history.allclose(one.history, rtol=0, atol=1e-6)
        assert_same_weights(weights(member.model), weights(one.model), rtol=0, atol=1e-5)
