"""Callbacks: schedules that step, early stopping with an explicit direction,
checkpoints, loggers that survive a kill, and the hook contract."""

import csv
import json
import signal
import subprocess
import sys
import textwrap

import brainstate
import braintools
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import braintask
from braintask._callbacks.base import MonitoredCallback, TrainerLike
from fake_trainer import FakeTrainer
from helpers import (assert_same_weights, early_stop_epoch, helpers_env, make_horn, trainer_for,
                     weights)


def hand_loop_with_schedule(train, seed, epochs, batch_size=16):
    """The Trainer's recipe written out: same shuffles, fresh hidden states per
    minibatch, Adam on a StepLR schedule stepped after every epoch."""
    net = make_horn()
    scheduler = braintools.optim.StepLR(base_lr=1e-2, step_size=1, gamma=0.5)
    opt = braintools.optim.Adam(lr=scheduler)
    params = net.states(brainstate.ParamState)
    opt.register_trainable_weights(params)
    brainstate.random.seed(seed)
    losses, lrs = [], []
    for epoch in range(epochs):
        perm = np.random.default_rng([seed, epoch]).permutation(train.n_samples)
        lrs.append(float(scheduler.current_lrs.value[0]))
        batch_losses = []
        for i in range(train.n_samples // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            x = jnp.asarray(train.inputs[idx].transpose(1, 0, 2), dtype=float)
            y = jnp.asarray(train.targets[idx])

            def loss_fn():
                braintask.batch_hidden_states(net, batch_size)
                return braintask.cross_entropy(net(x), y)

            grads, loss = brainstate.transform.grad(loss_fn, params, return_value=True)()
            opt.step(grads)
            batch_losses.append(float(loss))
        losses.append(float(np.mean(batch_losses)))
        scheduler.step()
    return losses, lrs, net


@pytest.mark.slow
def test_step_lr_lowers_the_rate_each_epoch_like_a_hand_loop(small_task):
    train, test = small_task
    schedule = braintools.optim.StepLR(base_lr=1e-2, step_size=1, gamma=0.5)
    trainer = trainer_for(make_horn(), optimizer=braintools.optim.Adam(lr=schedule))
    history = trainer.fit(train, test, epochs=3)
    assert history.lr == [0.01, 0.005, 0.0025]
    losses, lrs, net = hand_loop_with_schedule(train, seed=0, epochs=3)
    assert lrs == pytest.approx(history.lr)
    np.testing.assert_allclose(history.train_loss, losses, rtol=1e-5)
    assert_same_weights(weights(trainer.model), weights(net), rtol=1e-4, atol=1e-6)
    # the schedule would otherwise be a no-op: a constant rate gives other weights
    constant = trainer_for(make_horn(), lr=1e-2)
    constant.fit(train, test, epochs=3)
    assert constant.history.lr == [0.01] * 3
    assert not np.allclose(constant.history.train_loss[-1], history.train_loss[-1], rtol=1e-6)
    assert trainer.compilations["train_epoch"] == 1  # stepping the rate re-traces nothing


def test_reduce_lr_on_plateau_is_fed_the_monitored_metric(small_task):
    train, test = small_task
    flat = {"flat": lambda logits, labels: jnp.asarray(0.0)}  # never improves after epoch 1
    plateau = braintools.optim.ReduceLROnPlateau(base_lr=1e-2, mode="min", factor=0.5, patience=0)
    trainer = trainer_for(make_horn(), optimizer=braintools.optim.Adam(lr=plateau), metrics=flat)
    history = trainer.fit(train, test, epochs=4,
                          callbacks=[braintask.LearningRateScheduler("test_flat")])
    assert history.lr == [0.01, 0.01, 0.005, 0.0025]
    with pytest.raises(ValueError, match="monitor='val_loss' is not a recorded metric"):
        trainer.fit(train, test, epochs=1, callbacks=[braintask.LearningRateScheduler("val_loss")])


def test_early_stopping_mode_max_on_a_custom_metric(small_task):
    train, test = small_task
    fit_set, val = train.split(48)  # stop on validation, not on the reported test set
    # higher is better, but the name holds "loss": the guess would be wrong
    neg = {"neg_loss": lambda logits, labels: -braintask.cross_entropy(logits, labels)}
    stop = braintask.EarlyStopping("val_neg_loss", mode="max", patience=2, restore_best=False)
    history = trainer_for(make_horn(), metrics=neg, lr=3e-2).fit(
        fit_set, test, val=val, epochs=12, callbacks=[stop])
    values = history.val_neg_loss
    epoch, best = early_stop_epoch(values, patience=2, mode="max")  # counted by hand
    assert epoch is not None and epoch < 12  # it stops, and where the count says
    assert len(history) == epoch == best + 2 and history.best_epoch == best
    assert values[best - 1] == max(values)
    assert history.stop_reason == \
        f"val_neg_loss did not improve for 2 epochs (best at epoch {best})"
    guessed = braintask.EarlyStopping("val_neg_loss", patience=50, restore_best=False)
    other = trainer_for(make_horn(), metrics=neg, lr=3e-2).fit(
        fit_set, test, val=val, epochs=len(history), callbacks=[guessed])
    assert other.val_neg_loss == values  # the same run: only the direction differs
    assert other.best_epoch == int(np.argmin(values)) + 1 != best


def test_hooks_run_in_order_and_stop_training_ends_the_fit(small_task):
    train, test = small_task
    calls = []

    class Spy(braintask.Callback):
        def on_fit_start(self, trainer):
            calls.append(("start", list(trainer.metric_names)))

        def on_epoch_end(self, trainer, record):
            calls.append(("epoch", record["epoch"]))
            if record["epoch"] == 2:
                trainer.stop_training = True

        def on_fit_end(self, trainer):
            calls.append(("end", trainer.epoch))

    history = trainer_for(make_horn()).fit(train, test, epochs=5, callbacks=[Spy()])
    assert len(history) == 2
    assert calls[0] == ("start", ["train_loss", "train_acc", "test_loss", "test_acc"])
    assert calls[1:] == [("epoch", 1), ("epoch", 2), ("end", 2)]
    with pytest.raises(TypeError, match="Callback objects or callables"):
        trainer_for(make_horn()).fit(train, test, epochs=1, callbacks=[42])


def test_checkpoint_keep_best_holds_the_best_epoch(small_task, tmp_path):
    train, test = small_task
    fit_set, val = train.split(48)  # the best epoch is chosen on validation
    path = tmp_path / "best.msgpack"
    trainer = trainer_for(make_horn(), lr=3e-2)
    history = trainer.fit(fit_set, test, val=val, epochs=6, callbacks=[
        braintask.Checkpoint(path, keep="best", monitor="val_acc")])
    accs = history.val_acc
    best = int(np.argmax(accs)) + 1  # the first epoch with the highest accuracy
    restored = trainer_for(make_horn(seed=5), lr=3e-2).load(path)
    assert restored.epoch == best and len(restored.history) == best
    every = tmp_path / "every2.msgpack"
    trainer_for(make_horn()).fit(train, test, epochs=5,
                                 callbacks=[braintask.Checkpoint(every, every=2)])
    assert trainer_for(make_horn(seed=5)).load(every).epoch == 4


def test_checkpoint_keep_best_starts_from_the_best_of_the_history(tmp_path):
    """A second fit, or one on a History loaded from a file, saves only epochs
    better than every earlier one."""
    path = tmp_path / "best.txt"
    trainer = FakeTrainer(["train_loss", "test_acc"])
    fit = lambda accs: trainer.fit(
        [braintask.Checkpoint(path, keep="best", monitor="test_acc")],
        [{"train_loss": 1.0, "test_acc": a} for a in accs])
    fit([0.6, 0.8, 0.7])
    assert trainer.saves == [1, 2] and path.read_text() == "epoch 2"
    fit([0.75, 0.8])  # not better than epoch 2: the file keeps epoch 2
    assert trainer.saves == [1, 2] and path.read_text() == "epoch 2"
    fit([0.85, 0.9])
    assert trainer.saves == [1, 2, 6, 7] and path.read_text() == "epoch 7"
    resumed = FakeTrainer(["train_loss", "test_acc"],
                          braintask.History.from_state(trainer.history.to_state()))
    resumed.fit([braintask.Checkpoint(path, keep="best")],  # monitor: train_loss, all 1.0
                [{"train_loss": 1.0, "test_acc": 0.99}])
    assert resumed.saves == [] and path.read_text() == "epoch 7"


def test_checkpoint_keep_best_over_two_real_fits(small_task, tmp_path):
    train, test = small_task
    path = tmp_path / "best.msgpack"
    trainer = trainer_for(make_horn(), lr=3e-2)
    for fit in range(2):
        trainer.fit(train, test, epochs=3, callbacks=[
            braintask.Checkpoint(path, keep="best", monitor="test_loss")])
        if fit == 0:  # the second fit starts from zero weights: worse than the first's best
            trainer.set_weights([jax.tree.map(jnp.zeros_like, w) for w in trainer.get_weights()])
    losses = trainer.history.test_loss
    assert min(losses[3:]) > min(losses[:3])
    assert trainer_for(make_horn(seed=5), lr=3e-2).load(path).epoch == int(np.argmin(losses)) + 1


def test_monitored_callback_resolves_monitor_mode_and_best():
    cb = MonitoredCallback(min_delta=0.05)
    trainer = FakeTrainer(["train_loss", "test_loss", "test_acc"])
    cb.on_fit_start(trainer)
    assert (cb._monitor, cb._mode, cb.best) == ("test_loss", "min", None)
    records = [{"epoch": e, "test_loss": v} for e, v in [(1, 0.5), (2, 0.47), (3, 0.4), (4, 0.3)]]
    assert cb.best_in(records) == (0.3, 4)
    assert cb.best_in(records[:3]) == (0.4, 3)  # 0.47 is not 0.05 better than 0.5
    assert cb.best_in([{"epoch": 1, "train_loss": 0.1}]) == (None, None)
    cb.best = 0.4
    assert cb.is_better(0.34) and not cb.is_better(0.36)
    up = MonitoredCallback("test_loss", mode="max")
    up.on_fit_start(trainer)
    assert up.resolve_mode() == "max" and up.best_in(records) == (0.5, 1)
    with pytest.raises(TypeError, match="monitor must be a metric name"):
        MonitoredCallback(monitor=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        MonitoredCallback(mode="up")


def test_schedule_is_fed_the_default_monitor_and_trainers_are_trainer_like(small_task):
    trainer = FakeTrainer(["train_loss", "test_loss"])
    trainer.fit([braintask.LearningRateScheduler()],
                [{"train_loss": 1.0, "test_loss": 0.7}, {"train_loss": 0.9, "test_loss": 0.6}])
    assert trainer.stepped == [0.7, 0.6]
    assert isinstance(trainer, TrainerLike)
    assert isinstance(trainer_for(make_horn()), TrainerLike)
    assert not isinstance(object(), TrainerLike)


def test_early_stopping_on_a_fake_trainer_restores_the_best_weights():
    trainer = FakeTrainer(["val_loss"])

    class Moves(braintask.Callback):  # the weights follow the epoch
        def on_epoch_end(self, t, record):
            t.weights = [float(record["epoch"])]

    losses = [0.9, 0.5, 0.52, 0.6, 0.4]
    history = trainer.fit([Moves(), braintask.EarlyStopping(patience=2)],
                          [{"val_loss": v} for v in losses])
    assert len(history) == 4 and history.best_epoch == 2 and trainer.weights == [2.0]
    assert history.stop_reason == "val_loss did not improve for 2 epochs (best at epoch 2)"


KILLED_RUN = """
import os, signal
import brainstate, brainunit as u
brainstate.environ.set(dt=1.0 * u.ms)
import braintask
from helpers import make_horn, trainer_for

train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3).split(64)

def kill(trainer, record):
    if record["epoch"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)

trainer_for(make_horn()).fit(train, test, epochs=6, checkpoint={ckpt!r}, callbacks=[
    braintask.CSVLogger({csv!r}), braintask.JSONLinesLogger({jsonl!r}), kill])
"""


@pytest.mark.slow
def test_csv_and_json_logs_survive_a_kill_and_continue_after_resume(small_task, tmp_path):
    paths = {"ckpt": str(tmp_path / "run.msgpack"), "csv": str(tmp_path / "log.csv"),
             "jsonl": str(tmp_path / "log.jsonl")}
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED_RUN.format(**paths)))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env=helpers_env())  # the script imports helpers
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    lines = [json.loads(line) for line in open(paths["jsonl"])]
    assert [r["epoch"] for r in lines] == [1, 2, 3]

    train, test = small_task
    resumed = trainer_for(make_horn(seed=9)).load(paths["ckpt"])
    history = resumed.fit(train, test, epochs=3, callbacks=[braintask.CSVLogger(paths["csv"])])
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    for row, record in zip(rows, history):  # every value as the History holds it
        assert {k: float(v) for k, v in row.items()} == pytest.approx(record, rel=0, abs=0)


def test_csv_log_takes_a_new_column_such_as_updates_mid_history(tmp_path):
    """Epochs read from an older file lack ``updates``; the log gains the column,
    leaves it empty for them, and goes on appending."""
    old = [{"epoch": e, "train_loss": 1.0 / e, "lr": 0.01} for e in (1, 2)]
    trainer = FakeTrainer(["train_loss"], braintask.History(records=old))
    path = tmp_path / "log.csv"
    trainer.fit([braintask.CSVLogger(path)], [{"train_loss": 0.3, "updates": 12, "lr": 0.01},
                                              {"train_loss": 0.2, "updates": 16, "lr": 0.01}])
    lines = path.read_text().splitlines()
    assert lines == ["epoch,train_loss,lr,updates", "1,1.0,0.01,", "2,0.5,0.01,",
                     "3,0.3,0.01,12", "4,0.2,0.01,16"]
    assert trainer.history.updates == [None, None, 12, 16]
    assert trainer.history.metrics == ["epoch", "train_loss", "lr", "updates"]
    assert trainer.history.to_pandas()["updates"].isna().tolist() == [True, True, False, False]


def test_records_reach_a_braintools_logger(small_task, tmp_path):
    train, test = small_task
    logger = braintools.trainer.CSVLogger(str(tmp_path), name="run", version="v0")
    history = trainer_for(make_horn()).fit(train, test, epochs=3,
                                           callbacks=[braintask.BraintoolsLogger(logger)])
    files = list(tmp_path.rglob("*.csv"))
    assert len(files) == 1
    with open(files[0]) as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["step"])) for r in rows] == [1, 2, 3]
    assert [float(r["test_acc"]) for r in rows] == pytest.approx(history.test_acc)
    with pytest.raises(TypeError, match="braintools.trainer logger"):
        braintask.BraintoolsLogger(print)
