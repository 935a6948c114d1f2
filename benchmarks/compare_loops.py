#!/usr/bin/env python
"""Time ways of training a brainmass HORN network on delayed match-to-sample, in one run.

Contenders (same data, same shuffles, same initial weights: every model is built
right after ``brainstate.random.seed(SEED)``):

  a       the reference loop as printed: one ``brainstate.transform.jit`` train step
          per minibatch from Python, hidden states reset only inside the jitted
          functions, ``float(loss)`` every step, held-out evaluation (another batch
          size) after each epoch, so the next train steps re-trace every epoch
  a'      the same loop written carefully: hidden states set to the training batch
          shape outside the jitted step before each call, weights cast to strong
          dtypes, so nothing re-traces (still ``float(loss)`` every step)
  b       braintools.trainer (Lightning-style) driving the HORN network through a
          LightningModule (states reset in ``__call__``)
  c       braintask.Trainer(mode="fused"): one compiled scan per epoch
  c-step  braintask.Trainer(mode="step"): one compiled call per minibatch
  d       pure JAX + optax: the same HORN equations and Adam, one jitted
          ``jax.lax.scan`` over the minibatches of an epoch

The fits run interleaved: every contender's fit runs in its own thread, and a
scheduler lets one contender at a time run a few epochs (train steps and held-out
evaluation; 4 for ``case``, 1 for ``large``), round robin in an order that rotates
every round and repeat, so machine noise hits all of them alike. Only a
contender's own turns are timed.

Metrics per contender and workload:

  step ms     steady-state wall time per minibatch step: the median over epochs
              2..E (of all repeats) of an epoch's wall time (shuffle, train steps,
              held-out evaluation, host read-backs) divided by the steps per epoch
  one-off s   fit wall minus epochs x steady epoch: building, tracing and compiling,
              split by JAX's compile events (jit tracing, lowering, XLA compilation)
  fit s       end-to-end wall time of a fresh fit (model, optimizer, jit, initial
              evaluation, all epochs), median over repeats
  peak MiB    growth of the peak resident set size (VmHWM, reset via
              /proc/self/clear_refs after the imports and the data) during a fresh
              fit of ``--memory-epochs`` epochs, in a subprocess per contender
  acc         held-out accuracy after the last epoch (same work for everyone)

Usage::

    python benchmarks/compare_loops.py                 # both workloads (~4-5 min on 2 cores)
    python benchmarks/compare_loops.py --quick         # ~1 min: 1 repeat, large shrunk, no memory probes
    python benchmarks/compare_loops.py --workload case --out /tmp/bench
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

SEED = 2
ALPHA, PERIOD = 0.2, 28
HERE = Path(__file__).resolve().parent

# turn_epochs: epochs a contender runs per turn of the round robin. case: 4 (epochs take a
# few ms; the first epoch of a turn starts with cold caches, which the median over epochs
# skips, and a round still takes well under a second, so all see the same noise);
# large: 1 (an epoch takes seconds).
WORKLOADS = {
    # The case study: docs/tutorials/horn_case_study.md.
    "case": dict(n_trials=320, seq_len=8, n_symbols=2, n_train=256, n_hidden=64,
                 batch_size=32, epochs=20, lr=3e-2, repeats=3, turn_epochs=4,
                 quick_repeats=1, quick_epochs=20, quick_trials=320),
    # 80% of 8192 trials train. lr 1e-3: at 3e-2 the 256-unit network diverges in the first
    # epoch and learns nothing in 5.
    "large": dict(n_trials=8192, seq_len=32, n_symbols=4, n_train=0.8, n_hidden=256,
                  batch_size=128, epochs=5, lr=1e-3, repeats=1, turn_epochs=1,
                  quick_repeats=1, quick_epochs=2, quick_trials=4096),
}
CONTENDERS = ["a", "a'", "b", "c", "c-step", "d"]
LABELS = {
    "a": "(a)  reference loop as printed",
    "a'": "(a') per-step loop, careful",
    "b": "(b)  braintools.trainer",
    "c": "(c)  braintask fused",
    "c-step": "(c-step) braintask step",
    "d": "(d)  pure JAX lax.scan",
}


# ---------------------------------------------------------------------------- data, model
def make_data(wl):
    import braintask

    full = braintask.delayed_match_task(wl["n_trials"], seq_len=wl["seq_len"], n_symbols=wl["n_symbols"], seed=0)
    train, test = full.split(wl["n_train"])
    return dict(
        train=train, test=test,
        x_train=np.asarray(train.inputs, np.float32),            # (N, T, F) batch-major
        y_train=np.asarray(train.targets, np.int32),
        x_test=np.asarray(test.inputs, np.float32),
        x_test_tm=np.ascontiguousarray(test.time_major(), np.float32),  # (T, N, F)
        y_test=np.asarray(test.targets, np.int32),
    )


def build_net(wl, data):
    """A fresh HORN network; identical weights for every contender."""
    import brainmass
    import brainstate

    brainstate.random.seed(SEED)
    return brainmass.HORNSeqNetwork(
        n_input=data["train"].n_features, n_hidden=wl["n_hidden"], n_output=2,
        alpha=ALPHA, omega=2 * np.pi / PERIOD,
    )


def permutation(epoch, n):
    # The shuffle of braintask.Trainer and of the case study's hand-written loop.
    return np.random.default_rng([SEED, epoch]).permutation(n)


# ---------------------------------------------------------------------------- contenders
# Each contender is fn(turn, wl, data) -> dict of extras; it calls
# turn.epoch_done(train_loss=, train_acc=, test_loss=, test_acc=) after every epoch's
# held-out evaluation (with the numbers already read back to the host).

def run_reference(turn, wl, data, careful=False):
    """(a) the case study's per-step loop; careful=True gives (a')."""
    import brainstate
    import braintools
    import jax
    import jax.numpy as jnp

    net = build_net(wl, data)
    brainstate.nn.init_all_states(net)
    params = net.states(brainstate.ParamState)
    if careful:  # strong dtypes: the first Adam update would otherwise re-trace once
        for s in params.values():
            s.value = jax.tree.map(lambda v: jnp.asarray(v, dtype=jnp.asarray(v).dtype), s.value)
    optimizer = braintools.optim.Adam(lr=wl["lr"])
    optimizer.register_trainable_weights(params)
    traces = {"train_step": 0, "evaluate": 0}

    def zero_hidden(batch):
        for layer in net.layers:
            n = layer.horn.x.value.shape[-1]
            layer.horn.x.value = jnp.zeros((batch, n))
            layer.horn.y.value = jnp.zeros((batch, n))

    def loss_and_accuracy(x, y):  # x: (T, B, F)
        zero_hidden(x.shape[1])
        logits = net(x)
        loss = braintools.metric.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)

    @brainstate.transform.jit
    def train_step(x, y):
        traces["train_step"] += 1
        grads, loss, acc = brainstate.transform.grad(
            lambda: loss_and_accuracy(x, y), params, has_aux=True, return_value=True
        )()
        optimizer.step(grads)
        return loss, acc

    @brainstate.transform.jit
    def evaluate(x, y):
        traces["evaluate"] += 1
        return loss_and_accuracy(x, y)

    x_train, y_train = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    x_test, y_test = jnp.asarray(data["x_test_tm"]), jnp.asarray(data["y_test"])
    n, b, n_test = len(data["y_train"]), wl["batch_size"], len(data["y_test"])

    if careful:
        zero_hidden(n_test)
    [float(v) for v in evaluate(x_test, y_test)]  # the untrained network
    for epoch in range(turn.epochs):
        order = permutation(epoch, n)
        losses, accs = [], []
        for start in range(0, n - b + 1, b):  # full minibatches only
            idx = order[start:start + b]
            if careful:
                zero_hidden(b)  # the compiled step expects the training batch shape
            loss, acc = train_step(jnp.transpose(x_train[idx], (1, 0, 2)), y_train[idx])
            losses.append(float(loss))
            accs.append(float(acc))
        if careful:
            zero_hidden(n_test)
        test_loss, test_acc = evaluate(x_test, y_test)
        turn.epoch_done(train_loss=float(np.mean(losses)), train_acc=float(np.mean(accs)),
                        test_loss=float(test_loss), test_acc=float(test_acc))
    return {"traces": traces}


def run_careful(turn, wl, data):
    return run_reference(turn, wl, data, careful=True)


def stack_collate(samples):
    """Stack each field with NumPy (the default collate leaves NumPy label scalars as a tuple)."""
    return tuple(np.stack(field) for field in zip(*samples))


def run_braintools(turn, wl, data):
    """(b) braintools.trainer.Trainer driving HORNSeqNetwork through a LightningModule."""
    import brainstate
    import braintools
    import braintools.trainer as bt
    import jax.numpy as jnp

    b, lr = wl["batch_size"], wl["lr"]
    traces = {"training_step": 0, "validation": 0}
    net = build_net(wl, data)  # seeded here: Trainer(seed=...) would seed only after the model exists

    class HornModule(bt.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net
            brainstate.nn.init_all_states(self.net)
            # The trainer runs validation_step eagerly; jit it ourselves.
            self.evaluate = brainstate.transform.jit(self._evaluate)

        def reset(self, batch):
            for layer in self.net.layers:
                n = layer.horn.x.value.shape[-1]
                layer.horn.x.value = jnp.zeros((batch, n))
                layer.horn.y.value = jnp.zeros((batch, n))

        def __call__(self, x):  # batch-major (B, T, F) from the DataLoader
            x = jnp.transpose(x, (1, 0, 2))
            self.reset(x.shape[1])
            return self.net(x)

        def loss_and_accuracy(self, x, y):
            logits = self(x)
            loss = braintools.metric.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)

        def _evaluate(self, x, y):
            traces["validation"] += 1
            return self.loss_and_accuracy(x, y)

        def training_step(self, batch, batch_idx):
            traces["training_step"] += 1  # runs only while the trainer's jit traces
            loss, acc = self.loss_and_accuracy(*batch)
            self.log("acc", acc)
            return {"loss": loss}

        def validation_step(self, batch, batch_idx):
            loss, acc = self.evaluate(*batch)
            return {"loss": loss, "acc": acc}

        def on_train_epoch_start(self):
            # Validation left the states at the held-out size; without this the
            # trainer's jitted step re-traces every epoch (like (a)).
            self.reset(b)

        def configure_optimizers(self):
            return braintools.optim.Adam(lr=lr)

    class EpochPermutation(bt.Sampler):
        """The same shuffles as the other contenders (DataLoader calls set_epoch)."""

        def __init__(self, n):
            self.n, self.epoch = n, 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __iter__(self):
            return iter(permutation(self.epoch, self.n).tolist())

        def __len__(self):
            return self.n

    class EpochEnd(bt.Callback):
        def on_validation_end(self, trainer, module):
            m = trainer.callback_metrics
            turn.epoch_done(train_loss=m.get("train_loss"), train_acc=m.get("train_acc"),
                            test_loss=m.get("val_loss"), test_acc=m.get("val_acc"))

    module = HornModule()
    train_loader = bt.DataLoader(bt.ArrayDataset(data["x_train"], data["y_train"]), batch_size=b,
                                 sampler=EpochPermutation(len(data["y_train"])), drop_last=True,
                                 collate_fn=stack_collate)
    val_loader = bt.DataLoader(bt.ArrayDataset(data["x_test"], data["y_test"]),
                               batch_size=len(data["y_test"]), collate_fn=stack_collate)
    with tempfile.TemporaryDirectory() as root:
        trainer = bt.Trainer(max_epochs=turn.epochs, callbacks=[EpochEnd()], logger=False,
                             enable_progress_bar=False, enable_checkpointing=False, default_root_dir=root)
        trainer.fit(module, train_loader, val_loader)
    return {"traces": traces}


def run_braintask(turn, wl, data, mode="fused"):
    """(c) braintask.Trainer."""
    import braintask
    import braintools

    net = build_net(wl, data)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=wl["lr"]), batch_size=wl["batch_size"],
                                seed=SEED, mode=mode, progress=False)

    def callback(tr, record):
        turn.epoch_done(**{k: record[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")})

    trainer.fit(data["train"], data["test"], epochs=turn.epochs, callbacks=[callback])
    return {"traces": dict(trainer.compilations)}


def run_braintask_step(turn, wl, data):
    return run_braintask(turn, wl, data, mode="step")


def run_pure_jax(turn, wl, data):
    """(d) HORNStep + AdditiveConn + Linear readout written in JAX, optax Adam, lax.scan per epoch.

    brainmass.horn (HORNSeqLayer.update, HORNStep.update, AdditiveConn.update):
        I_t   = x_in_t @ W_ih + b_ih + y @ W_hh + b_hh
        y'    = y + h (alpha tanh(I_t + v x) - omega^2 x - 2 gamma y)
        x'    = x + h y'
        logits = x_T @ W_ho + b_ho,   h = dt / 1 ms
    """
    import brainstate
    import brainunit as u
    import jax
    import jax.numpy as jnp
    import optax

    net = build_net(wl, data)  # only for its initial weights (identical to the others')
    layer = net.layers[0]
    if len(net.layers) != 1 or not hasattr(layer.h2h, "linear"):
        raise RuntimeError("pure-JAX reference covers one HORN layer without delays")
    w = lambda lin: {k: jnp.array(v, dtype=jnp.float32) for k, v in lin.weight.value.items()}  # copies
    params = {"ih": w(layer.i2h), "hh": w(layer.h2h.linear), "ho": w(net.h2o)}
    horn = layer.horn
    alpha, omega, gamma, v = (jnp.asarray(p.value(), jnp.float32) for p in (horn.alpha, horn.omega, horn.gamma, horn.v))
    h = float(brainstate.environ.get_dt() / u.ms)
    traces = {"epoch": 0, "evaluate": 0}

    def forward(p, x):  # x: (T, B, F) -> (B, 2)
        drive = x @ p["ih"]["weight"] + p["ih"]["bias"]
        zeros = jnp.zeros((x.shape[1], p["hh"]["weight"].shape[0]), jnp.float32)

        def step(carry, i_t):
            xs, ys = carry
            inp = i_t + ys @ p["hh"]["weight"] + p["hh"]["bias"]
            ys = ys + h * (alpha * jnp.tanh(inp + v * xs) - omega ** 2 * xs - 2.0 * gamma * ys)
            xs = xs + h * ys
            return (xs, ys), None

        (x_last, _), _ = jax.lax.scan(step, (zeros, zeros), drive)
        return x_last @ p["ho"]["weight"] + p["ho"]["bias"]

    def loss_and_accuracy(p, x, y):
        logits = forward(p, x)
        logp = jax.nn.log_softmax(logits)
        loss = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)

    tx = optax.adam(wl["lr"])  # = braintools.optim.Adam: scale_by_adam, then the learning rate

    def epoch_fn(p, opt_state, xs, ys):
        traces["epoch"] += 1

        def body(carry, batch):
            p, s = carry
            (loss, acc), g = jax.value_and_grad(loss_and_accuracy, has_aux=True)(p, *batch)
            updates, s = tx.update(g, s, p)
            return (optax.apply_updates(p, updates), s), (loss, acc)

        (p, opt_state), (losses, accs) = jax.lax.scan(body, (p, opt_state), (xs, ys))
        return p, opt_state, losses, accs

    def eval_fn(p, x, y):
        traces["evaluate"] += 1
        return loss_and_accuracy(p, x, y)

    run_epoch, evaluate = jax.jit(epoch_fn), jax.jit(eval_fn)
    opt_state = tx.init(params)
    x, y = data["x_train"], data["y_train"]
    n, b = len(y), wl["batch_size"]
    nb = n // b
    x_test, y_test = jnp.asarray(data["x_test_tm"]), jnp.asarray(data["y_test"])
    [float(v) for v in evaluate(params, x_test, y_test)]  # the untrained network
    for epoch in range(turn.epochs):
        full = permutation(epoch, n)[: nb * b]
        xs = x[full].reshape(nb, b, x.shape[1], x.shape[2]).transpose(0, 2, 1, 3)
        params, opt_state, losses, accs = run_epoch(params, opt_state, jnp.asarray(xs), jnp.asarray(y[full].reshape(nb, b)))
        test_loss, test_acc = evaluate(params, x_test, y_test)
        turn.epoch_done(train_loss=float(jnp.mean(losses)), train_acc=float(jnp.mean(accs)),
                        test_loss=float(test_loss), test_acc=float(test_acc))
    return {"traces": traces}


RUNNERS = {"a": run_reference, "a'": run_careful, "b": run_braintools, "c": run_braintask,
           "c-step": run_braintask_step, "d": run_pure_jax}


# ---------------------------------------------------------------------------- interleaving
_JAX_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",          # jax.jit tracing
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",  # jaxpr -> MLIR
    "/jax/core/compile/backend_compile_duration": "xla_s",         # XLA compilation
}
_ACTIVE = {"turn": None}  # the contender whose turn it is (one at a time)


def _on_jax_duration(event, duration, **kwargs):
    turn, key = _ACTIVE["turn"], _JAX_EVENTS.get(event)
    if turn is not None and key is not None:
        turn.jax[key] += duration
        if key == "xla_s":
            turn.jax["xla_compiles"] += 1


def _jax_zero():
    return {"trace_s": 0.0, "lower_s": 0.0, "xla_s": 0.0, "xla_compiles": 0}


class Turn:
    """One contender's fit in its own thread, turn_epochs epochs per turn; only its turns are timed."""

    def __init__(self, name, wl, data, epochs, turn_epochs=1):
        self.name, self.wl, self.data, self.epochs = name, wl, data, epochs
        self.turn_epochs = max(1, turn_epochs)
        self.go, self.back = threading.Semaphore(0), threading.Semaphore(0)
        self.active = self.mark = 0.0
        self.t = None
        self.epoch_walls, self.records = [], []
        self.extra, self.error, self.done = {}, None, False
        self.jax, self.jax_epochs = _jax_zero(), []  # compile work during this contender's turns
        self.thread = threading.Thread(target=self._main, name=f"fit-{name}", daemon=True)
        self.thread.start()

    def _main(self):
        self.go.acquire()
        try:
            import brainstate
            import brainunit as u

            brainstate.environ.set(dt=1.0 * u.ms)  # brainstate's environment is per thread
            _ACTIVE["turn"] = self
            self.t = time.perf_counter()
            self.extra = RUNNERS[self.name](self, self.wl, self.data) or {}
        except BaseException as err:  # report, don't hang the scheduler
            self.error = f"{type(err).__name__}: {err}"
            self.traceback = traceback.format_exc()
        finally:
            if self.t is not None:
                self.active += time.perf_counter() - self.t
            _ACTIVE["turn"] = None
            self.done = True
            self.back.release()

    def epoch_done(self, **metrics):
        self.active += time.perf_counter() - self.t
        _ACTIVE["turn"] = None
        self.epoch_walls.append(self.active - self.mark)
        self.mark = self.active
        self.jax_epochs.append(dict(self.jax))
        self.records.append({k: (None if v is None else float(v)) for k, v in metrics.items()})
        if len(self.epoch_walls) % self.turn_epochs == 0:  # hand the CPU to the next contender
            self.back.release()
            self.go.acquire()
        _ACTIVE["turn"] = self
        self.t = time.perf_counter()

    def run_turn(self):
        self.go.release()
        self.back.acquire()


def interleaved_fits(names, wl, data, epochs, turn_epochs, round_offset=0):
    """Fresh fits of every contender, round robin (turn_epochs epochs per turn), rotating the order."""
    turns = [Turn(n, wl, data, epochs, turn_epochs) for n in names]
    rnd = round_offset
    while not all(t.done for t in turns):
        k = rnd % len(turns)
        for t in turns[k:] + turns[:k]:
            if not t.done:
                t.run_turn()
        rnd += 1
    for t in turns:
        t.thread.join()
    return {t.name: t for t in turns}


class NullTurn:
    """For the memory probe: a plain sequential fit."""

    def __init__(self, epochs):
        self.epochs, self.records = epochs, []

    def epoch_done(self, **metrics):
        self.records.append(metrics)


# ---------------------------------------------------------------------------- memory probe
def _status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def memory_probe_child(name, workload, epochs):
    """Run in a subprocess: one fresh fit; print JSON with the peak RSS growth."""
    import resource

    import brainstate
    import brainunit as u
    import jax.numpy as jnp

    wl = WORKLOADS[workload]
    data = make_data(wl)
    brainstate.environ.set(dt=1.0 * u.ms)
    jnp.zeros(8).block_until_ready()  # the XLA client exists before the baseline
    gc.collect()
    method = "VmHWM growth (clear_refs)"
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS to the current RSS
        base = _status_kib("VmRSS")
    except OSError:
        method = "ru_maxrss growth"
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    RUNNERS[name](NullTurn(epochs), wl, data)
    wall = time.perf_counter() - t0
    peak = _status_kib("VmHWM") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("MEMORY " + json.dumps({"baseline_mib": base / 1024, "peak_mib": peak / 1024,
                                  "growth_mib": (peak - base) / 1024, "method": method, "epochs": epochs,
                                  "wall_s_not_comparable": wall}))


def memory_probes(names, workload, epochs, quick, parallel=2):
    """One subprocess per contender (``parallel`` at a time: peak RSS is per process)."""
    env = dict(os.environ, TQDM_DISABLE="1")
    pending, running, out = list(names), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-probe", name,
                   "--workload", workload, "--memory-epochs", str(epochs)] + (["--quick"] if quick else [])
            running[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for name, proc in list(running.items()):
            if proc.poll() is None:
                continue
            stdout, stderr = proc.communicate()
            del running[name]
            line = next((ln for ln in stdout.splitlines() if ln.startswith("MEMORY ")), None)
            out[name] = json.loads(line[7:]) if line else {
                "error": ((stderr or stdout).strip().splitlines() or ["no output"])[-1]}
        time.sleep(0.05)
    return {n: out[n] for n in names}


# ---------------------------------------------------------------------------- braintools checks
def braintools_findings(data):
    """What braintools.trainer cannot do for HORN as shipped; each is worked around in (b)."""
    import braintools
    import jax.numpy as jnp
    from braintools.trainer import ArrayDataset
    from braintools.trainer._dataloader import default_collate_fn

    notes = []
    ds = ArrayDataset(data["train"].inputs[:4], data["train"].targets[:4])  # int64 labels, as generated
    batch = default_collate_fn([ds[i] for i in range(4)])
    labels = batch[1]
    try:
        braintools.metric.softmax_cross_entropy_with_integer_labels(jnp.zeros((4, 2)), labels)
        notes.append("default collate_fn: labels came back usable (no workaround needed)")
    except Exception as err:
        notes.append(
            f"default collate_fn returns the NumPy label scalars as {type(labels).__name__} of "
            f"{type(labels[0]).__name__} (not an array); the loss then raises {type(err).__name__}: "
            f"{str(err)[:90]} -> worked around: collate_fn=np.stack per field")
    notes.append("Trainer(seed=...) seeds brainstate in Trainer.__init__, after the LightningModule and its "
                 "weights exist -> worked around: brainstate.random.seed(SEED) before building the network")
    notes.append("validation_step runs eagerly (not jitted) -> worked around: the module jits its own "
                 "evaluation")
    notes.append("no hidden-state batching: states reset in __call__ (inside the jitted step) and, to avoid a "
                 "re-trace after each validation at another batch size, in on_train_epoch_start")
    notes.append("shuffle order differs from braintask's -> custom Sampler with the same per-epoch permutations")
    return notes


# ---------------------------------------------------------------------------- summary
def summarize(fits_by_repeat, wl, epochs):
    steps = len_steps(wl)
    out = {}
    for name in CONTENDERS:
        fits = [r[name] for r in fits_by_repeat if name in r]
        if not fits:
            continue
        errors = [f.error for f in fits if f.error]
        ok = [f for f in fits if not f.error and len(f.epoch_walls) == epochs]
        if not ok:
            out[name] = {"error": errors[0] if errors else "no complete fit",
                         "partial_epochs": [len(f.epoch_walls) for f in fits]}
            continue
        steady = [w for f in ok for w in f.epoch_walls[1:]] or [f.epoch_walls[0] for f in ok]
        steady_epoch = statistics.median(steady)
        fit_walls = [f.active for f in ok]
        last = ok[-1].records[-1]
        out[name] = {
            "steady_epoch_s": steady_epoch,
            "step_ms": 1e3 * steady_epoch / steps,
            "step_ms_iqr": [1e3 * q / steps for q in np.percentile(steady, [25, 75])],
            "step_ms_min": 1e3 * min(steady) / steps,
            "n_steady_epochs": len(steady),
            "first_epoch_s": statistics.median(f.epoch_walls[0] for f in ok),
            "fit_s": statistics.median(fit_walls),
            "fit_s_all": fit_walls,
            "one_off_s": statistics.median(f.active - epochs * steady_epoch for f in ok),
            "test_acc": last["test_acc"],
            "test_acc_all": [f.records[-1]["test_acc"] for f in ok],
            "train_loss_epoch1": ok[-1].records[0]["train_loss"],
            "train_loss_last": last["train_loss"],
            "traces": ok[-1].extra.get("traces"),
            # JAX's own compile events during this contender's turns: whole fit, and per steady
            # epoch of the last repeat (re-tracing / re-compiling inside the loop)
            "jax_fit": {k: statistics.median(f.jax[k] for f in ok) for k in ok[-1].jax},  # median over repeats
            "jax_per_steady_epoch": {  # median over epochs 2..E of the last repeat
                k: statistics.median(b[k] - a[k] for a, b in zip(ok[-1].jax_epochs, ok[-1].jax_epochs[1:]))
                for k in ok[-1].jax} if epochs > 1 else None,
            "epoch_walls_s": [f.epoch_walls for f in ok],
            "errors": errors,
        }
    return out


def len_steps(wl):
    n_train = wl["n_train"] if isinstance(wl["n_train"], int) else int(round(wl["n_train"] * wl["n_trials"]))
    return n_train // wl["batch_size"]


def ratio(res, x, y, key):
    try:
        return res[x][key] / res[y][key]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def print_table(name, wl, res, mem, epochs, repeats):
    steps = len_steps(wl)
    print(f"\n=== workload {name}: {wl['n_trials']} trials, T={wl['seq_len']}, {wl['n_symbols']} symbols, "
          f"{wl['n_hidden']} units, batch {wl['batch_size']}, {steps} steps/epoch, {epochs} epochs, "
          f"Adam lr {wl['lr']}, {repeats} interleaved repeat(s)")
    head = (f"{'contender':31} {'step ms':>9} {'(IQR)':>15} {'x(c)':>7} {'one-off s':>9} {'fit s':>7} {'x(c)':>6} "
            f"{'peak MiB':>8} {'acc':>6}  traces")
    print(head)
    print("-" * len(head))
    for c in CONTENDERS:
        r = res.get(c, {})
        if "error" in r:
            print(f"{LABELS[c]:31} FAILED: {r['error']}")
            continue
        m = mem.get(c, {}) if mem else {}
        traces = ",".join(f"{k}={v}" for k, v in (r.get("traces") or {}).items())
        iqr = "({:.3g}-{:.3g})".format(*r["step_ms_iqr"])
        print(f"{LABELS[c]:31} {r['step_ms']:9.3f} {iqr:>15} {fmt(ratio(res, c, 'c', 'step_ms'), '6.1f')}x "
              f"{r['one_off_s']:9.2f} {r['fit_s']:7.2f} {fmt(ratio(res, c, 'c', 'fit_s'), '5.2f')}x "
              f"{fmt(m.get('growth_mib'), '8.0f')} {r['test_acc']:6.3f}  {traces}")
    print(f"{'where the one-off time goes':31} {'one-off s':>9} {'jax trace':>9} {'lower':>7} {'XLA':>7} "
          f"{'#XLA':>5} | median steady epoch: {'trace+lower+XLA ms':>18} {'#XLA':>5}")
    for c in CONTENDERS:
        r = res.get(c)
        if not r or "error" in r:
            continue
        j, e = r["jax_fit"], r.get("jax_per_steady_epoch") or {}
        print(f"{LABELS[c]:31} {r['one_off_s']:9.2f} {j['trace_s']:9.2f} {j['lower_s']:7.2f} {j['xla_s']:7.2f} "
              f"{j['xla_compiles']:5.0f} |                      "
              f"{fmt(1e3 * (e.get('trace_s', 0) + e.get('lower_s', 0) + e.get('xla_s', 0)) if e else None, '18.1f')} "
              f"{fmt(e.get('xla_compiles'), '5.1f')}")
    print("ratios to (c), steady-state per step:  " + "   ".join(
        f"{c}/c = {fmt(ratio(res, c, 'c', 'step_ms'), '.1f')}x" for c in CONTENDERS if c != "c"))
    print("ratios to (c), end-to-end fit wall:    " + "   ".join(
        f"{c}/c = {fmt(ratio(res, c, 'c', 'fit_s'), '.2f')}x" for c in CONTENDERS if c != "c"))
    if "c" in res and "d" in res and "error" not in res["c"] and "error" not in res["d"]:
        print(f"check: first-epoch train loss (c) {res['c']['train_loss_epoch1']:.6f}  (d) "
              f"{res['d']['train_loss_epoch1']:.6f}  |diff| = "
              f"{abs(res['c']['train_loss_epoch1'] - res['d']['train_loss_epoch1']):.1e}")


def goals(results):
    g = []

    def add(text, value, ok):
        g.append({"goal": text, "value": value, "met": bool(ok) if value is not None else None})

    case, large = results.get("case"), results.get("large")
    if case:
        for other, need in (("a", 20.0), ("a'", 4.0), ("b", 2.5)):
            v = ratio(case, other, "c", "step_ms")
            add(f"case steady-state: (c) >= {need:g}x faster than ({other})", v, v is not None and v >= need)
        v = ratio(case, "c", "a", "fit_s")
        add("case end-to-end fit: (c) <= 0.5 x (a)", v, v is not None and v <= 0.5)
        v = ratio(case, "c", "d", "one_off_s")
        add("case one-off (compile) cost: (c) <= 1.15 x (d)", v, v is not None and v <= 1.15)
    if large:
        v = ratio(large, "c", "d", "step_ms")
        add("large steady-state: (c) within 1.5x of (d)", v, v is not None and v <= 1.5)
        others = [ratio(large, o, "c", "step_ms") for o in CONTENDERS if o not in ("c", "d")]
        v = min((o for o in others if o is not None), default=None)
        add("large steady-state: (c) faster than (a), (a'), (b), (c-step) [min of x/c]", v, v is not None and v > 1.0)
        v = ratio(large, "d", "c", "step_ms")
        add("large steady-state: (c) faster than (d) too [d/c] (not required)", v, v is not None and v > 1.0)
    return g


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    for ax, wname in zip(axes[0], names):
        res = results[wname]["contenders"]
        cs = [c for c in CONTENDERS if c in res and "error" not in res[c]]
        vals = [res[c]["step_ms"] for c in cs]
        colors = ["tab:red" if c in ("a", "a'") else "tab:orange" if c == "b" else
                  "tab:green" if c.startswith("c") else "tab:blue" for c in cs]
        iqr = np.array([res[c]["step_ms_iqr"] for c in cs]).T
        err = np.clip(np.abs(iqr - np.array(vals)), 0, None)
        bars = ax.bar(cs, vals, color=colors, yerr=err, capsize=3, ecolor="0.3")
        log = max(vals) / min(vals) > 5
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        for bar, c, v, top in zip(bars, cs, vals, iqr[1]):
            r = ratio(res, c, "c", "step_ms")
            ax.annotate(f"{v:.3g} ms\n{r:.2g}x (c)" if r else f"{v:.3g} ms",
                        (bar.get_x() + bar.get_width() / 2, max(v, top)), ha="center", va="bottom", fontsize=8)
        ax.set_ylabel(f"steady-state wall time per minibatch step (ms{', log' if log else ''})\n"
                      "median; error bars: interquartile range")
        ax.set_title(f"{wname}: {results[wname]['steps_per_epoch']} steps/epoch, batch "
                     f"{results[wname]['config']['batch_size']}, {results[wname]['config']['n_hidden']} units")
        ax.margins(y=0.25)
    fig.suptitle("HORN training loops, interleaved in one run (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=["case", "large", "all"], default="all")
    p.add_argument("--quick", action="store_true",
                   help="one repeat per workload; large shrunk to 4096 trials and 2 epochs; no memory probes")
    p.add_argument("--repeats", type=int, default=None, help="override the repeats of every workload")
    p.add_argument("--turn-epochs", type=int, default=None,
                   help="epochs per round-robin turn (default: case 4, large 1)")
    p.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    p.add_argument("--memory", dest="memory", action="store_true", default=None,
                   help="run the memory probes (default: on, off with --quick)")
    p.add_argument("--no-memory", dest="memory", action="store_false")
    p.add_argument("--memory-epochs", type=int, default=2, help="epochs of each memory-probe fit (default 2)")
    p.add_argument("--out", default=str(HERE / "results"), help="where results.json and the chart go")
    p.add_argument("--_memory-probe", dest="memory_probe", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.memory_probe:
        if args.quick:
            WORKLOADS[args.workload]["n_trials"] = WORKLOADS[args.workload]["quick_trials"]
        memory_probe_child(args.memory_probe, args.workload, args.memory_epochs)
        return 0

    names = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        p.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")
    workloads = ["case", "large"] if args.workload == "all" else [args.workload]
    memory = (not args.quick) if args.memory is None else args.memory
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        print("note: JAX_COMPILATION_CACHE_DIR is set; unsetting it for this run (compile times would be cached)")
        os.environ.pop("JAX_COMPILATION_CACHE_DIR")
    t_start = time.perf_counter()
    load_before = os.getloadavg()

    import brainmass
    import brainstate
    import braintools
    import brainunit
    import jax

    import braintask

    jax.monitoring.register_event_duration_secs_listener(_on_jax_duration)
    plan = {}
    for w in workloads:
        if args.quick:
            WORKLOADS[w]["n_trials"] = WORKLOADS[w]["quick_trials"]
        wl = WORKLOADS[w]
        repeats = args.repeats or (wl["quick_repeats"] if args.quick else wl["repeats"])
        epochs = wl["quick_epochs"] if args.quick else wl["epochs"]
        plan[w] = (repeats, epochs)

    results = {}
    for w in workloads:
        wl = WORKLOADS[w]
        repeats, epochs = plan[w]
        data = make_data(wl)
        mem = {}
        if memory:
            me = min(args.memory_epochs, epochs)
            print(f"[{w}] memory probes: one subprocess per contender, {me}-epoch fit ...", flush=True)
            t0 = time.perf_counter()
            mem = memory_probes(names, w, me, args.quick)
            print(f"[{w}]   memory probes: {time.perf_counter() - t0:.1f} s", flush=True)
        turn_epochs = min(args.turn_epochs or wl["turn_epochs"], epochs)
        print(f"[{w}] timing: {repeats} repeat(s) x {len(names)} contenders x {epochs} epochs, round robin "
              f"with {turn_epochs} epoch(s) per turn ...", flush=True)
        # Warm the process up outside the timed turns: the first network built in a process
        # compiles its initialisers (~2 s), which would be charged to whichever contender goes first.
        brainstate.environ.set(dt=1.0 * brainunit.ms)
        brainstate.nn.init_all_states(build_net(wl, data))
        fits_by_repeat = []
        for r in range(repeats):
            t0 = time.perf_counter()
            fits_by_repeat.append(interleaved_fits(names, wl, data, epochs, turn_epochs, round_offset=r))
            gc.collect()
            print(f"[{w}]   repeat {r + 1}/{repeats}: {time.perf_counter() - t0:.1f} s", flush=True)
        res = summarize(fits_by_repeat, wl, epochs)
        for c, r in res.items():
            if "error" in r:
                tb = next((getattr(f[c], "traceback", "") for f in fits_by_repeat if c in f and f[c].error), "")
                r["traceback"] = tb
        results[w] = {
            "config": {k: v for k, v in wl.items() if not k.startswith("quick")} | {"epochs": epochs, "repeats": repeats},
            "steps_per_epoch": len_steps(wl), "n_train": int(data["train"].n_samples),
            "n_test": int(data["test"].n_samples),
            "contenders": res, "memory": mem,
            "braintools_findings": braintools_findings(data) if "b" in names else [],
        }
        print_table(w, wl, res, mem, epochs, repeats)
        for note in results[w]["braintools_findings"]:
            print(f"  (b) {note}")

    summary = {w: results[w]["contenders"] for w in results}
    goal_list = goals(summary)
    print("\nGoals:")
    for g in goal_list:
        state = "n/a " if g["met"] is None else ("MET " if g["met"] else "MISS")
        print(f"  [{state}] {g['goal']}: {fmt(g['value'], '.2f')}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "script": "benchmarks/compare_loops.py",
        "argv": sys.argv[1:],
        "quick": args.quick,
        "seed": SEED,
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "brainstate": brainstate.__version__, "braintools": braintools.__version__,
            "brainmass": getattr(brainmass, "__version__", "?"), "braintask": braintask.__version__,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        },
        "definitions": {
            "step_ms": "median over epochs 2..E of all repeats of (epoch wall incl. held-out evaluation) / steps",
            "one_off_s": "fit_s - epochs * steady epoch (build, trace, compile, initial evaluation)",
            "fit_s": "end-to-end wall of a fresh fit, only this contender's interleaved turns, median over repeats",
            "memory.growth_mib": "peak RSS growth during a fresh fit of --memory-epochs epochs, own subprocess",
        },
        "results": results,
        "goals": goal_list,
        "total_wall_s": time.perf_counter() - t_start,
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1, default=str))
    plot(results, out / "compare_loops.png")
    print(f"\nwrote {out / 'results.json'} and {out / 'compare_loops.png'} "
          f"(total {time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
