"""Cold start: a first epoch in a fresh process, braintask against a hand-written JAX loop.

Every contender runs in a fresh Python process on the same trials
(``cogtask.PerceptualDecisionMaking`` at 20 ms, saved once to a file), the same network
shape (a GRU of 64 units read out at every step), the same minibatches of 64 and Adam,
and trains one epoch; the process reports its import time, its time from the end of
its imports to the end of the epoch (split into building the model's weights and
training: the optimizer, the programs, the epoch), the programs JAX built (compiled,
or read from the persistent cache) and the time it spent on them:

- ``hand``: pure JAX + optax, written for this task: a ``lax.scan`` over steps inside a
  ``lax.scan`` over minibatches, cross-entropy on the kept steps, one jitted epoch;
- ``braintask``: ``RecurrentClassifier(GRUCell)`` and ``Trainer.fit(data, epochs=1)``,
  the persistent compilation cache off;
- ``braintask warm``: the same in a process whose persistent cache a previous process
  filled (what a user sees when re-running a script or restarting a kernel).

The contenders take turns (the order rotates each repeat), so machine noise hits them
alike. Printed: the medians over repeats and the ratios to ``hand``.

    python benchmarks/cold_start.py              # 3 repeats, ~3 minutes on 2 CPU cores
    python benchmarks/cold_start.py --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

N_TRIALS, BATCH, HIDDEN, LR = 640, 64, 64, 1e-3

COMMON = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    import jax, numpy as np
    compiles, hits = [], []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: compiles.append(secs)
        if event == "/jax/core/compile/backend_compile_duration" else None)
    jax.monitoring.register_event_listener(
        lambda event, **kw: hits.append(1)
        if event == "/jax/compilation_cache/cache_hits" else None)
""")

HAND = COMMON + textwrap.dedent("""
    import jax.numpy as jnp, optax
    imported = time.perf_counter()
    d = np.load(sys.argv[1])
    x = jnp.asarray(d["inputs"].transpose(1, 0, 2))           # (T, N, F)
    y, m = jnp.asarray(d["targets"].T), jnp.asarray(d["mask"].T.astype(np.float32))
    F, H, C, B = x.shape[-1], {hidden}, {classes}, {batch}
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    glorot = jax.nn.initializers.glorot_normal()
    params = {{"w": glorot(keys[0], (F + H, 3 * H)), "b": jnp.zeros(3 * H),
              "out": glorot(keys[1], (H, C)), "out_b": jnp.zeros(C)}}
    jax.block_until_ready(params)
    built = time.perf_counter()

    def loss_fn(p, xb, yb, mb):
        def step(h, xt):
            zr = jnp.concatenate([xt, h], -1) @ p["w"][:, :2 * H] + p["b"][:2 * H]
            z, r = jnp.split(jax.nn.sigmoid(zr), 2, -1)
            c = jnp.tanh(jnp.concatenate([xt, r * h], -1) @ p["w"][:, 2 * H:] + p["b"][2 * H:])
            h = (1 - z) * h + z * c
            return h, h @ p["out"] + p["out_b"]
        _, logits = jax.lax.scan(step, jnp.zeros((xb.shape[1], H)), xb)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        return (ce * mb).sum() / mb.sum()

    opt = optax.adam({lr})

    @jax.jit
    def epoch(p, s, order):
        def one(carry, idx):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p, x[:, idx], y[:, idx], m[:, idx])
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss
        (p, s), losses = jax.lax.scan(one, (p, s), order)
        return p, s, losses

    order = jnp.asarray(np.random.default_rng(0).permutation(x.shape[1]).reshape(-1, B))
    params, state, losses = epoch(params, opt.init(params), order)
    losses.block_until_ready()
""")

BRAINTASK = COMMON + textwrap.dedent("""
    import brainstate, braintools, brainunit as u
    import braintask
    imported = time.perf_counter()
    d = np.load(sys.argv[1])
    data = braintask.TaskDataset(d["inputs"], d["targets"], {classes}, mask=d["mask"])
    brainstate.environ.set(dt=20 * u.ms)
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(data.n_features, {hidden}),
                                        n_output={classes}, per_step=True)
    built = time.perf_counter()
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr={lr}), batch_size={batch},
                                progress=False)
    trainer.fit(data, epochs=1)
""")

REPORT = textwrap.dedent("""
    done = time.perf_counter()
    print(json.dumps({"import_s": imported - start, "epoch_s": done - imported,
                      "build_s": built - imported, "train_s": done - built,
                      "programs": len(compiles), "cache_hits": len(hits),
                      "compile_s": sum(compiles)}))
""")


def make_trials(path: str) -> int:
    import brainunit as u
    import numpy as np
    from braintools import cogtask

    import braintask

    data = braintask.from_cogtask(cogtask.PerceptualDecisionMaking(seed=0), N_TRIALS,
                                  dt=20 * u.ms)
    np.savez(path, inputs=data.inputs, targets=data.targets, mask=data.mask)
    return int(data.n_classes)


def run(code: str, data: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code, data], env=env, capture_output=True,
                         text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    data = os.path.join(folder, "trials.npz")
    fill = dict(hidden=HIDDEN, classes=make_trials(data), batch=BATCH, lr=LR)
    codes = {"hand": HAND.format(**fill) + REPORT, "braintask": BRAINTASK.format(**fill) + REPORT}
    cold = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    cold["BRAINTASK_COMPILATION_CACHE"] = "0"
    warm = {**cold, "BRAINTASK_COMPILATION_CACHE": os.path.join(folder, "cache")}
    run(codes["braintask"], data, warm)  # fills the cache the warm runs read
    contenders = [("hand", codes["hand"], cold), ("braintask", codes["braintask"], cold),
                  ("braintask warm", codes["braintask"], warm)]
    results: dict[str, list[dict]] = {name: [] for name, _, _ in contenders}
    for r in range(args.repeats):
        turn = contenders[r % 3:] + contenders[:r % 3]
        for name, code, env in turn:
            results[name].append(run(code, data, env))
    hand = statistics.median(x["epoch_s"] for x in results["hand"])
    hand_train = statistics.median(x["train_s"] for x in results["hand"])
    print(f"{N_TRIALS} trials of PerceptualDecisionMaking, GRU {HIDDEN}, batch {BATCH}, "
          f"one epoch in a fresh process; medians of {args.repeats}")
    print(f"{'contender':16s} {'import s':>9s} {'epoch s':>8s} {'x hand':>7s} "
          f"{'of it: model':>13s} {'training':>9s} {'x hand':>7s} "
          f"{'programs':>9s} {'from cache':>11s} {'compile s':>10s}")
    for name, runs in results.items():
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        print(f"{name:16s} {med['import_s']:9.2f} {med['epoch_s']:8.2f} "
              f"{med['epoch_s'] / hand:7.2f} {med['build_s']:13.2f} {med['train_s']:9.2f} "
              f"{med['train_s'] / hand_train:7.2f} {med['programs']:9.0f} "
              f"{med['cache_hits']:11.0f} {med['compile_s']:10.2f}")


if __name__ == "__main__":
    main()
