
import brainstate
import braintools
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import braintask
from helpers import assert_same_weights, early_stop_epoch, make_horn, trainer_for, weights


def test_case_study_reaches_full_heldout_accuracy_from_chance():
    """The reference configuration, with the seed the case study documents."""
    data = braintask.delayed_match_task(320, seq_len=8, n_symbols=2, seed=0)
    train, test = data.split(256)
    net = make_horn(seed=2, n_hidden=64)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=3e-2), batch_size=32, seed=2,
                                progress=False)
    history = trainer.fit(train, test, epochs=20)
    # Untrained: within the 99% band of a coin flip on 64 trials (0.5 +- 2.6 * 0.0625).
    assert 0.33 <= history.initial["test_acc"] <= 0.67
    assert history[-1]["test_acc"] == 1.0
    assert history[-1]["train_acc"] == 1.0
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert len(history) == 20 and trainer.epoch == 20


def test_fused_and_step_modes_agree(small_task):
    train, test = small_task
    fused = trainer_for(make_horn(), mode="fused").fit(train, test, epochs=4)
    net = make_horn()
    step = trainer_for(net, mode="step")
    hist = step.fit(train, test, epochs=4)
    assert hist.allclose(fused, rtol=1e-4, atol=1e-5)
    assert step.compilations["train_step"] == 1 and step.compilations["train_epoch"] == 0


def test_same_seed_same_history_bit_for_bit(small_task):
    train, test = small_task
    runs = []
    for _ in range(2):
        net = make_horn(seed=1)
        runs.append((trainer_for(net, seed=5).fit(train, test, epochs=3), weights(net)))
    assert runs[0][0] == runs[1][0]
    assert_same_weights(runs[0][1], runs[1][1], rtol=0, atol=0)
    other = trainer_for(make_horn(seed=1), seed=6).fit(train, test, epochs=3)
    assert other != runs[0][0]  # the shuffle seed matters


def test_one_compilation_per_function_whatever_the_epochs(small_task):
    train, test = small_task
    trainer = trainer_for(make_horn())
    trainer.fit(train, test, epochs=6)
    # the untrained evaluation runs the epoch program with its updates discarded:
    # one program for the whole fit
    assert trainer.compilations == {"train_epoch": 1, "train_step": 0, "evaluate": 0}
    trainer.fit(train, test, epochs=2)
    trainer.evaluate(test)  # evaluate on demand: its own program, once
    trainer.evaluate(test)
    assert trainer.compilations == {"train_epoch": 1, "train_step": 0, "evaluate": 1}


def test_hidden_states_are_batched_and_reset_between_batches():
    data = braintask.delayed_match_task(45, seq_len=5, n_symbols=3, seed=1)
    train, test = data.split(32)  # 13 held out, batch 7: nothing divides
    net = make_horn(n_input=3)
    trainer = trainer_for(net, batch_size=7)
    trainer.fit(train, test, epochs=2)
    together = trainer.predict(test.inputs)
    alone = np.concatenate([trainer.predict(test.inputs[i:i + 1]) for i in range(test.n_samples)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    assert together.shape == (13, 2)


@pytest.mark.slow
def test_accepts_numpy_and_jax_pairs(small_task):
    train, test = small_task
    ref = trainer_for(make_horn()).fit(train, test, epochs=2)
    as_numpy = trainer_for(make_horn()).fit(tuple(train), tuple(test), epochs=2)
    as_jax = trainer_for(make_horn()).fit(
        (jnp.asarray(train.inputs), jnp.asarray(train.targets)), (test.inputs, test.targets), epochs=2)
    assert as_numpy == ref and as_jax.allclose(ref)


@pytest.mark.slow
def test_last_partial_batch_dropped_or_used(small_task):
    train, test = small_task  # 64 trials, batch 24: 2 full batches and 16 left over
    count = {"n": lambda logits, labels: jnp.asarray(labels.shape[0], float)}
    dropped = trainer_for(make_horn(), batch_size=24, metrics=count).fit(train, test, epochs=1)
    assert dropped[-1]["train_n"] == 24.0
    kept_trainer = trainer_for(make_horn(), batch_size=24, metrics=count, drop_last=False)
    kept = kept_trainer.fit(train, test, epochs=1)
    # batch means weighted by batch size: (2 * 24 * 24 + 16 * 16) / 64
    assert kept[-1]["train_n"] == pytest.approx((2 * 24 * 24 + 16 * 16) / 64)
    # the smaller last minibatch runs inside the same compiled epoch
    assert kept_trainer.compilations == {"train_epoch": 1, "train_step": 0, "evaluate": 0}


def test_stop_at_target(small_task):
    train, test = small_task
    history = trainer_for(make_horn(), lr=3e-2).fit(train, test, epochs=40, stop_at={"train_loss": 0.6})
    assert len(history) < 40
    assert history[-1]["train_loss"] <= 0.6
    assert all(r["train_loss"] > 0.6 for r in history[:-1])
    assert "reached" in history.stop_reason


def test_patience_stops_where_a_hand_count_says_and_restores_the_best(small_task):
    train, test = small_task
    fit_set, val = train.split(48)
    trainer = trainer_for(make_horn(), lr=0.3)  # too large a step: val loss jumps around
    history = trainer.fit(fit_set, test, val=val, epochs=30, patience=2)  # watches val_loss
    stop, best = early_stop_epoch(history.val_loss, patience=2)
    assert stop is not None and stop < 30  # it stopped early, and not before the count did
    assert len(history) == stop and history.best_epoch == best
    assert history.stop_reason == f"val_loss did not improve for 2 epochs (best at epoch {best})"
    # the weights are put back to the best epoch's
    assert trainer.evaluate(val)["loss"] == pytest.approx(history[best - 1]["val_loss"], rel=1e-5)


def test_checkpoint_resume_equals_straight_run(small_task, tmp_path):
    train, test = small_task
    net = make_horn()
    straight = trainer_for(net).fit(train, test, epochs=6)
    straight_weights = weights(net)

    first = trainer_for(make_horn())
    first.fit(train, test, epochs=3, checkpoint=tmp_path / "ckpt.msgpack")
    net2 = make_horn(seed=99)  # other initial weights: the checkpoint must overwrite them
    resumed = trainer_for(net2).load(tmp_path / "ckpt.msgpack")
    assert resumed.epoch == 3
    history = resumed.fit(train, test, epochs=3)
    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert history == straight
    assert_same_weights(weights(net2), straight_weights, rtol=1e-6, atol=1e-7)


def test_bad_checkpoints_leave_the_model_untouched(small_task, tmp_path):
    train, test = small_task
    trainer = trainer_for(make_horn(n_hidden=16))
    trainer.fit(train, test, epochs=1)
    trainer.save(tmp_path / "ok.msgpack")
    net = make_horn(n_hidden=8, seed=4)
    other = trainer_for(net)
    before = weights(net)
    (tmp_path / "junk.msgpack").write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(braintask.CheckpointError, match="shapes"):
        other.load(tmp_path / "ok.msgpack")
    with pytest.raises(braintask.CheckpointError, match="unreadable|not a braintask"):
        other.load(tmp_path / "junk.msgpack")
    with pytest.raises(braintask.CheckpointError, match="does not exist"):
        other.load(tmp_path / "missing.msgpack")
    with pytest.raises(braintask.CheckpointError, match="seed"):
        trainer_for(make_horn(n_hidden=16), seed=1).load(tmp_path / "ok.msgpack")
    assert_same_weights(weights(net), before, rtol=0, atol=0)
    assert other.epoch == 0


@pytest.mark.slow
def test_non_finite_loss_stops_with_last_finite_weights(small_task):
    train, test = small_task  # 64 trials, batch 16: 4 steps per epoch

    def run(mode):
        net = make_horn()
        opt = braintools.optim.Adam(lr=1e-2)

        def loss(logits, labels):
            # finite for the first 5 updates, NaN from the 6th (epoch 2, minibatch 2)
            return braintask.cross_entropy(logits, labels) + jnp.where(
                opt.step_count.value >= 5, jnp.nan, 0.0)

        trainer = braintask.Trainer(net, opt, batch_size=16, loss=loss, mode=mode, progress=False)
        with pytest.raises(braintask.TrainingDiverged, match="epoch 2, minibatch 2 of 4") as info:
            trainer.fit(train, test, epochs=3)
        assert (info.value.epoch, info.value.step) == (2, 2)
        assert len(info.value.history) == 1 and trainer.epoch == 1
        return weights(net)

    fused, step = run("fused"), run("step")
    for w in fused.values():
        assert all(np.isfinite(a).all() for a in jax.tree.leaves(w))
    assert_same_weights(fused, step, rtol=1e-5, atol=1e-6)
    assert not all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(fused), jax.tree.leaves(weights(make_horn()))))


def test_unset_dt_says_how_to_set_it(small_task):
    train, test = small_task
    brainstate.environ.pop("dt")
    with pytest.raises(RuntimeError, match=r"brainstate\.environ\.set\(dt=1\.0 \* u\.ms\)"):
        trainer_for(make_horn()).fit(train, test, epochs=1)


def test_clear_errors_for_bad_data_and_settings(small_task):
    train, test = small_task
    with pytest.raises(ValueError, match="3 input features"):
        wide = braintask.delayed_match_task(40, seq_len=6, n_symbols=3).split(32)
        trainer_for(make_horn(n_input=2)).fit(*wide, epochs=1)
    bad_labels = (train.inputs, np.where(train.targets == 1, 2, 0))
    with pytest.raises(ValueError, match=r"train targets must lie in \[0, 2\)"):
        trainer_for(make_horn()).fit(bad_labels, test, epochs=1)
    with pytest.raises(ValueError, match="batch_size=65 is larger than the training set"):
        trainer_for(make_horn(), batch_size=65).fit(train, test, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        trainer_for(make_horn()).fit(train, test, epochs=0)
    with pytest.raises(ValueError, match="stop_at key 'val_acc'"):
        trainer_for(make_horn()).fit(train, test, epochs=1, stop_at={"val_acc": 1.0})
    with pytest.raises(ValueError, match="batch_size"):
        trainer_for(make_horn(), batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        trainer_for(make_horn(), batch_size=8.0)
    with pytest.raises(ValueError, match="mode"):
        trainer_for(make_horn(), mode="fast")


def test_model_output_must_be_batch_by_classes(small_task):
    class Last(brainstate.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = brainstate.ParamState(jnp.ones((2, 2)))

        def update(self, x):
            return x @ self.w.value  # (T, B, C): not reduced over time

    train, test = small_task
    with pytest.raises(ValueError, match=r"\(B, C\) logits"):
        trainer_for(Last()).fit(train, test, epochs=1)


@pytest.mark.slow
def test_progress_bar_only_when_asked_or_on_a_terminal(small_task, capsys):
    train, test = small_task
    trainer_for(make_horn(), progress=None).fit(train, test, epochs=2)
    assert "epochs" not in capsys.readouterr().err  # pytest's stderr is not a terminal
    trainer_for(make_horn(), progress=True).fit(train, test, epochs=2)
    assert "epochs" in capsys.readouterr().err


def test_a_validation_set_is_recorded_and_watched_by_default(small_task):
    train, test = small_task
    fit_set, val = train.split(48)
    trainer = trainer_for(make_horn(), lr=5e-2)
    history = trainer.fit(fit_set, test, val=val, epochs=6, patience=2)
    assert history.metrics == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                "test_loss", "test_acc", "updates", "lr", "time"]
    assert history.updates == [3 * e for e in range(1, len(history) + 1)]  # 48 trials, batch 16
    assert set(history.initial) == {"val_loss", "val_acc", "test_loss", "test_acc"}
    # early stopping watched val_loss, not the test set
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1
    # the best epoch's weights are back
    assert trainer.evaluate(val)["loss"] == pytest.approx(min(history.val_loss), abs=1e-6)
    assert trainer.compilations["train_epoch"] == 1


def test_progress_shows_by_default_in_a_jupyter_kernel_that_draws_widgets(monkeypatch):
    import importlib.util
    import sys
    import types

    from braintask._training import fitloop as _fitloop

    assert not _fitloop._show_progress()  # pytest: no terminal, no kernel
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "ipywidgets" else real(name, *a))
    assert _fitloop._show_progress()
    bar = _fitloop.progress_bar(False, 3, "epochs")  # off by the argument, kernel or not
    assert bar.disable
    bar.close()
    shell.config = {}  # a plain IPython terminal without a kernel
    assert not _fitloop._show_progress()
