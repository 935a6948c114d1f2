"""Data-parallel training over several devices, on CPU devices forced by XLA_FLAGS.

JAX fixes its device count at start-up, so the check runs in a fresh interpreter."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json
    import jax, numpy as np, brainstate, braintools, brainmass, brainunit as u
    import braintask

    brainstate.environ.set(dt=1.0 * u.ms)
    train, test = braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3).split(64)

    def run(devices):
        brainstate.random.seed(0)
        net = brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2, alpha=0.2)
        trainer = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16,
                                    seed=0, progress=False, devices=devices)
        history = trainer.fit(train, test, epochs=3)
        w = net.h2o.weight.value["weight"]
        return trainer, history, w

    _, single, w1 = run(None)
    trainer, sharded, w2 = run("all")

    # per-step targets whose masks keep a different number of steps in each trial:
    # the devices' shares carry different weights in the combined gradient
    class PerStep(brainstate.nn.Module):
        def __init__(self):
            super().__init__()
            self.horn = brainmass.HORNSeqLayer(3, 16, alpha=0.2)
            self.readout = brainstate.nn.Linear(16, 3)

        def update(self, x):
            return self.readout(self.horn(x))

    rng = np.random.default_rng(0)
    kept = rng.random((96, 7)) < np.linspace(0.2, 0.9, 96)[:, None]
    kept[:, -1] = True
    steps = braintask.TaskDataset(rng.normal(size=(96, 7, 3)).astype("float32"),
                                  rng.integers(0, 3, (96, 7)), 3, mask=kept)
    steps_train, steps_test = steps.split(64)

    def run_steps(devices):
        brainstate.random.seed(0)
        trainer = braintask.Trainer(PerStep(), braintools.optim.Adam(lr=1e-2), batch_size=16,
                                    seed=0, progress=False, devices=devices)
        return trainer.fit(steps_train, steps_test, epochs=2)

    steps_agree = run_steps("all").allclose(run_steps(None), rtol=1e-4, atol=1e-5)
    errors = {}
    try:
        brainstate.random.seed(0)
        braintask.Trainer(brainmass.HORNSeqNetwork(n_input=2, n_hidden=16, n_output=2),
                          braintools.optim.Adam(lr=1e-2), batch_size=15, devices="all")
    except ValueError as err:
        errors["indivisible"] = str(err)
    print(json.dumps({
        "n_devices": len(jax.devices()),
        "used": len(trainer.devices),
        "sharding": str(w2.sharding),
        "agree": sharded.allclose(single, rtol=1e-4, atol=1e-5),
        "steps_agree": steps_agree,
        "max_weight_diff": float(np.abs(np.asarray(w1) - np.asarray(w2)).max()),
        "single": single.test_loss, "sharded": sharded.test_loss,
        "errors": errors,
    }))
""")


@pytest.mark.slow
def test_two_devices_give_the_single_device_history(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    script = tmp_path / "sharded.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n_devices"] == 2 and result["used"] == 2
    assert "'batch': 2" in result["sharding"]  # weights replicated over a 2-device mesh
    assert result["agree"], (result["single"], result["sharded"])
    assert result["steps_agree"]  # masked per-step targets, shares of unequal weight
    assert result["max_weight_diff"] < 1e-4
    assert "batch_size=15 does not split evenly over 2 devices" in result["errors"]["indivisible"]
