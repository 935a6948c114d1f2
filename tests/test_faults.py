"""Faults: interrupted training resumes exactly; a crash while saving never
damages the last good checkpoint."""

import os
import subprocess
import sys
import textwrap

import brainstate
import jax
import numpy as np
import pytest

import braintask
from helpers import helpers_env, make_horn, optimizer_leaves, trainer_for

TRAIN, TEST = braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3).split(64)


def new_trainer(seed_weights=0):
    return trainer_for(make_horn(seed=seed_weights))


def weights(trainer):
    return [np.asarray(a) for s in trainer.model.states(brainstate.ParamState).values()
            for a in jax.tree.leaves(s.value)]


@pytest.fixture(scope="module")
def straight():
    trainer = new_trainer()
    trainer.fit(TRAIN, TEST, epochs=6)
    return trainer


class Stop(Exception):
    pass


def test_exception_in_a_callback_then_resume(tmp_path, straight):
    def interrupt(trainer, record):
        if record["epoch"] == 3:
            raise Stop("power cut")

    first = new_trainer()
    with pytest.raises(Stop):
        first.fit(TRAIN, TEST, epochs=6, checkpoint=tmp_path / "run.msgpack", callbacks=[interrupt])
    resumed = new_trainer(seed_weights=9).load(tmp_path / "run.msgpack")
    assert resumed.epoch == 3
    history = resumed.fit(TRAIN, TEST, epochs=3)
    assert history == straight.history
    for a, b in zip(weights(resumed), weights(straight)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(optimizer_leaves(resumed), optimizer_leaves(straight)):
        np.testing.assert_array_equal(a, b)


KILLED = textwrap.dedent("""
    import os, signal
    import braintask, braintools, brainstate, brainunit as u
    from helpers import make_horn, optimizer_leaves, trainer_for
    brainstate.environ.set(dt=1.0 * u.ms)
    train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3).split(64)
    trainer = braintask.Trainer(make_horn(seed=0), braintools.optim.Adam(lr=1e-2),
                                batch_size=16, seed=0, progress=False)

    def kill(trainer, record):
        if record["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception handlers

    trainer.fit(train, test, epochs=6, checkpoint={path!r}, callbacks=[kill])
""")


@pytest.mark.slow
def test_process_killed_between_epochs_then_resume(tmp_path, straight):
    path = str(tmp_path / "killed.msgpack")
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(path=path))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env=helpers_env(MPLBACKEND="Agg"))  # the script imports helpers
    assert done.returncode == -9, done.stderr[-2000:]
    assert [p for p in os.listdir(tmp_path) if ".tmp-" in p] == []
    resumed = new_trainer(seed_weights=7).load(path)
    assert resumed.epoch == 2
    history = resumed.fit(TRAIN, TEST, epochs=4)
    assert history.allclose(straight.history, rtol=1e-6, atol=1e-7)
    for a, b in zip(weights(resumed), weights(straight)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("where", ["while writing", "while renaming"])
def test_crash_while_saving_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, where):
    from braintools.file import _msg_checkpoint

    path = tmp_path / "ckpt.msgpack"
    trainer = new_trainer()
    trainer.fit(TRAIN, TEST, epochs=1)
    trainer.save(path)
    good = path.read_bytes()
    trainer.fit(TRAIN, TEST, epochs=1)

    if where == "while writing":
        real_open = open

        class HalfWriter:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                raise OSError("disk full")

        monkeypatch.setattr(_msg_checkpoint, "open", lambda *a, **k: HalfWriter(real_open(*a, **k)),
                            raising=False)
    else:
        def no_rename(*args, **kwargs):
            raise OSError("killed before rename")

        monkeypatch.setattr(_msg_checkpoint, "_rename_fn", no_rename)
    with pytest.raises(OSError):
        trainer.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.msgpack"]  # no temporary file left
    assert new_trainer().load(path).epoch == 1
