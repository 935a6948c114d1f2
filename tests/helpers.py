"""Builders and comparisons shared by the tests."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import brainmass
import brainstate
import braintools
import jax
import numpy as np

import braintask


def helpers_env(**extra) -> dict:
    """This process's environment (with ``extra``) for a subprocess script that imports
    this module: this folder first on its PYTHONPATH."""
    path = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def import_file(path):
    """The module of the Python file ``path`` (a script of docs/, say), imported from
    the file under its stem's name and entered in sys.modules (dataclasses look their
    module up there), the import path left as it is."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_horn(seed=0, n_input=2, n_hidden=16, n_output=2):
    """A small HORN network; ``seed=None`` leaves brainstate's random state as it is
    (for ``MultiSeedTrainer``, which seeds before every build)."""
    if seed is not None:
        brainstate.random.seed(seed)
    return brainmass.HORNSeqNetwork(
        n_input=n_input, n_hidden=n_hidden, n_output=n_output, alpha=0.2, omega=2 * np.pi / 28
    )


def unseeded_horn(**kw):
    return make_horn(seed=None, **kw)


def trainer_for(net, **kwargs):
    """A quiet Trainer with Adam; ``lr=`` (default 1e-2) or ``optimizer=``."""
    kwargs = {"batch_size": 16, "seed": 0, "progress": False, **kwargs}
    lr = kwargs.pop("lr", 1e-2)
    optimizer = kwargs.pop("optimizer", None) or braintools.optim.Adam(lr=lr)
    return braintask.Trainer(net, optimizer, **kwargs)


def weights(net):
    """The model's weights as NumPy arrays, by name."""
    return {k: jax.tree.map(np.asarray, s.value) for k, s in net.states(brainstate.ParamState).items()}


def assert_same_weights(a, b, **tol):
    assert a.keys() == b.keys()
    for k in a:
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **tol), a[k], b[k])


def optimizer_leaves(trainer):
    """Every optimizer and schedule state of a Trainer, as NumPy arrays."""
    return [np.asarray(a) for s in trainer.engine.opt_states for a in jax.tree.leaves(s.value)]


TWO_DEVICES = textwrap.dedent("""
    import json
    import brainmass, brainstate, braintools, brainunit as u, jax, numpy as np
    import braintask

    brainstate.environ.set(dt=1.0 * u.ms)
    train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3,
                                               noise=0.05).split(64)

    def run(devices):
        brainstate.random.seed(0)
        net = {model}
        trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16,
                                    seed=0, progress=False, devices=devices)
        return trainer, trainer.fit(train, test, epochs=2)

    _, single = run(None)
    trainer, sharded = run("all")
    print(json.dumps({{"used": len(trainer.devices),
                      "agree": sharded.allclose(single, rtol=1e-4, atol=1e-5),
                      "single": single.test_loss, "sharded": sharded.test_loss}}))
""")


def two_device_run(model: str, tmp_path) -> dict:
    """Train the model built by the expression ``model`` for 2 epochs on one CPU device
    and data-parallel on two (forced host devices, in a subprocess); whether the two
    Histories agree, and how many devices the sharded run used."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    script = tmp_path / "two_devices.py"
    script.write_text(TWO_DEVICES.format(model=model))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_copy_equals_single(member, one, *, exact=False):
    """A MultiSeedTrainer copy (``member``, one of its ``trainers``) against the single
    Trainer run of its seed, as the MultiSeedTrainer docstring promises.

    ``exact`` (plain SGD): weights and training metrics bit for bit. The held-out
    metrics come from the copies' evaluation, which the compiler may round otherwise
    in the last bit even where the weights are identical (seen: a test loss 1 ulp
    apart, 1.2e-7), so they get ``rtol=3e-7``. Otherwise (Adam, or a gradient clip,
    whose stacked updates may round otherwise too) weights "to about 1e-7" and losses
    "to about 5e-8", read as a few float32 ulps: ``rtol=3e-7, atol=1e-7``.
    """
    a, b = member.history, one.history
    assert a.metrics == b.metrics and len(a) == len(b)
    close = dict(rtol=3e-7, atol=0) if exact else dict(rtol=3e-7, atol=1e-7)
    same = dict(rtol=0, atol=0) if exact else close
    for name in a.metrics:
        if name != "time":
            tol = same if name.startswith("train_") or name in ("epoch", "updates", "lr") \
                else close
            np.testing.assert_allclose(a[name], b[name], **tol, err_msg=name)
    assert a.initial.keys() == b.initial.keys()
    for name in a.initial:  # held-out metrics of the untrained copies
        np.testing.assert_allclose(a.initial[name], b.initial[name], **close, err_msg=name)
    assert_same_weights(weights(member.model), weights(one.model), **same)


def early_stop_epoch(values, patience, mode="min"):
    """Early stopping counted by hand on a metric's recorded values (strict
    improvement, ``mode`` "min" or "max"): ``(epoch it stops at or None, best epoch)``."""
    sign = 1.0 if mode == "min" else -1.0
    best, best_epoch, wait = np.inf, None, 0
    for epoch, value in enumerate(values, 1):
        if sign * value < best:
            best, best_epoch, wait = sign * value, epoch, 0
        else:
            wait += 1
            if wait == patience:
                return epoch, best_epoch
    return None, best_epoch


def records(history):
    """A History's records without the wall times (which differ between runs)."""
    return [{k: v for k, v in r.items() if k != "time"} for r in history.records]


def majority(data):
    """The majority-class rate of a dataset with one label per trial."""
    return float(np.bincount(np.asarray(data.targets)).max() / len(data.targets))


def leaky_rollout(cell, x, noise=None, alpha=None):
    """The cell's equation written out in NumPy: ``x`` (T, B, F); ``noise`` a list of
    (input noise, recurrent noise) per step, already scaled, or None."""
    alpha = cell.alpha if alpha is None else alpha
    w_in, w_rec = np.asarray(cell.w_in.value), np.asarray(cell.w_rec.value)
    if cell.signs is not None:
        w_in, w_rec = np.abs(w_in), np.abs(w_rec) * cell.signs[:, None]
    b = np.asarray(cell.b.value)
    r = np.zeros((x.shape[1], cell.num_out))
    out = []
    for t in range(x.shape[0]):
        n_in, n_rec = (0.0, 0.0) if noise is None else noise[t]
        pre = r @ w_rec + (x[t] + n_in) @ w_in + b + n_rec
        r = (1 - alpha) * r + alpha * np.maximum(pre, 0.0)
        out.append(r.copy())
    return np.stack(out)


def assert_trial_scores_recorded(trainer, data, record, name="val"):
    """``record``'s trial-level scores of the set ``name`` equal
    :func:`braintask.trial_performance` of the trainer's outputs on ``data``."""
    outputs = np.swapaxes(trainer.predict(data.inputs), 0, 1)
    batch = data.batch()
    perf, breaks = braintask.trial_performance(outputs, batch["y"], batch["mask"],
                                               batch["decision"])
    np.testing.assert_allclose(record[f"{name}_trial_perf"], float(perf), atol=1e-6)
    np.testing.assert_allclose(record[f"{name}_fix_break"], float(breaks), atol=1e-6)
