#!/usr/bin/env python
"""braintask against neurogym + PyTorch on fresh trials, in one run.

The task is PerceptualDecisionMaking at dt = 20 ms on both sides (fixation 100 ms,
stimulus 2000 ms, decision 100 ms: 110 steps; 3 inputs, 3 outputs; coherences 0, 6.4,
12.8, 25.6 and 51.2; input noise 1/sqrt(dt); the fixation input on during the fixation
period only, as in neurogym 2.3, so the network must time the stimulus), a GRU with 64
units and a linear readout at every step, minibatches of 64 trials, Adam, cross-entropy
over every step of the trial, and new trials for every update:

  neurogym + PyTorch  ``neurogym.Dataset(env, batch_size=64, seq_len=110)`` feeding a
                      ``torch.nn.GRU(3, 64)`` + ``torch.nn.Linear(64, 3)``, the loop of
                      neurogym's examples: ``inputs, labels = dataset()``, forward,
                      ``CrossEntropyLoss`` over all steps, ``backward``, ``Adam.step``,
                      ``loss.item()``. One trial is 110 steps, so every row of a batch is
                      exactly one trial.
  braintask           ``braintools.cogtask.PerceptualDecisionMaking(pop_per_choice=1)``,
                      its stimulus phase without the fixation input (cogtask keeps it on
                      until the response; see ``cogtask_task``), drawn through
                      ``braintask.cogtask_source(task, n_trials, dt=20 ms)`` (new trials
                      every epoch, drawn in the background while the previous epoch
                      trains), ``braintask.RecurrentClassifier(brainstate.nn.GRUCell(3,
                      64), n_output=3, per_step=True)`` (the cell unrolled with
                      ``brainstate.transform.for_loop``), ``braintask.Trainer`` (one compiled
                      program per epoch), ``braintools.optim.Adam``.

An "epoch" is ``--epoch-trials`` trials (default 640: 10 updates) on both sides: the
validation cadence of the criterion runs and the unit of timing.

Measured, in one process:

  1. updates/s      training only (no validation), steady state: both sides run in
                    rounds of ``--round-epochs`` epochs, taking turns in an order that
                    alternates every round, so machine noise hits both alike; the first
                    epoch of every turn is left out, the rest give updates / seconds.
     one-off s      building everything (source or Dataset, model, optimizer) and the
                    first epoch, minus one steady epoch: for braintask mostly tracing and
                    compiling, for PyTorch allocation and neurogym's first trials.
  2. to criterion   from nothing (no source, model or validation set built yet) to the
                    first epoch after which the decision-period accuracy on 512 fixed
                    held-out trials is >= ``--criterion``: wall seconds (compilation
                    included) and Adam updates; one fit per seed and side, sides
                    alternating first. The decision period is the response phase, which
                    on both sides is exactly the steps whose label is not fixation; both
                    models are scored there (argmax over the 3 outputs, fixation counts as
                    wrong). braintask's held-out trials come from ``source.held_out``;
                    neurogym's from a second environment with its own seed. At the end
                    each model is also scored on the other side's held-out trials (the
                    two generators make the same task if those scores match its own).
  3. fresh/fixed    braintask alone: ``trainer.fit(source, epochs=k)`` (new trials every
                    epoch) against ``trainer.fit(fixed, epochs=k)`` on one fixed dataset of
                    the same size, taking turns; steady seconds per epoch (the record's
                    ``time``, epochs 2..k of each fit) and the ratio fresh / fixed.

Threads (``--threads``, default 1): one compute thread per side.
``torch.set_num_threads(1)`` and ``set_num_interop_threads(1)``; JAX with
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` (XLA's matrix products on one thread).
On an idle 2-core machine neither side trains faster with 2 threads (this GRU's matrices
are too small to split), but PyTorch's 2 OpenMP threads spin-wait for each other, and when
other processes hold a core its updates slow down 10-60 fold, which would flatter
braintask. ``--threads 2`` gives PyTorch 2 threads and leaves JAX's pool as it is (sized
to the cores). Either way, braintask draws the next epoch's trials on a background thread
(its design), and neurogym draws trials in the training loop (its design).

The process is warmed up before anything is timed (one GRU built and run on both sides,
a few trials drawn), so the first contender pays no process-wide first-use costs; the
JAX persistent compilation cache is switched off.

The initial weights differ: each side uses its library's default initialisation
(PyTorch: uniform(+-1/sqrt(64)); brainstate's GRUCell: orthogonal weights, zero
biases), and the two GRU variants differ in where the reset gate acts (brainstate:
before the candidate's matrix product; PyTorch: after it). Updates to criterion
therefore differ for reasons other than speed; updates/s is the like-for-like speed
ratio, time to criterion is what a user of each stack sees.

Usage::

    python benchmarks/fresh_trials.py                # ~4-6 min on 2 CPU cores
    python benchmarks/fresh_trials.py --quick        # smoke test, well under a minute of timing
    nox -s bench_neurogym                            # in its own environment (neurogym, CPU torch)

Writes ``fresh_trials.json`` to ``--out`` (default ``benchmarks/results/``) and prints
the tables with the ratios braintask / (neurogym + PyTorch).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_IN, N_HIDDEN, N_OUT = 3, 64, 3
T_STEPS = 110  # 100 + 2000 + 100 ms at 20 ms
DT_MS = 20
VAL_TRIALS = 512
NG_VAL_SEED = 10_000
GOALS = {"speed": 3.0, "fresh_over_fixed": 1.15}
JAX_SECONDS = {"trace": 0.0, "lower": 0.0, "compile": 0.0}  # JAX's own compile events


def _on_jax_duration(event: str, seconds: float, **_) -> None:
    for key, name in (("trace", "jaxpr_trace_duration"), ("lower", "jaxpr_to_mlir_module_duration"),
                      ("compile", "backend_compile_duration")):
        if event.endswith(name):
            JAX_SECONDS[key] += seconds


def _jax_seconds() -> float:
    return sum(JAX_SECONDS.values())


# ---------------------------------------------------------------------------- neurogym + torch
def torch_gru():
    """torch.nn.GRU + Linear, read out at every step (time-major)."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(N_IN, N_HIDDEN)
            self.fc = torch.nn.Linear(N_HIDDEN, N_OUT)

        def forward(self, x):
            return self.fc(self.gru(x)[0])

    return Net()


def neurogym_dataset(batch_size: int, seed: int):
    """neurogym's Dataset over PerceptualDecisionMaking at dt 20 ms, seeded.

    ``Dataset`` seeds its environments with None when it is built and fills its cache
    right away; seeding it afterwards and refilling makes every trial come from the
    seeded generators.
    """
    import neurogym as ngym
    from neurogym.envs.native.perceptualdecisionmaking import PerceptualDecisionMaking

    env = PerceptualDecisionMaking(dt=DT_MS)
    dataset = ngym.Dataset(env, batch_size=batch_size, seq_len=T_STEPS)
    dataset.seed(seed)
    dataset._cache()
    return dataset


class NeurogymSide:
    """The loop of neurogym's supervised examples, one epoch = ``n_updates`` updates."""

    name = "neurogym + PyTorch"

    def __init__(self, seed: int, lr: float, batch_size: int):
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.dataset = neurogym_dataset(batch_size, seed)
        self.net = torch_gru()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.updates = 0

    def train(self, n_updates: int) -> float:
        torch = self.torch
        running = 0.0
        for _ in range(n_updates):
            inputs, labels = self.dataset()
            inputs = torch.from_numpy(inputs).type(torch.float)
            labels = torch.from_numpy(labels.flatten()).type(torch.long)
            self.optimizer.zero_grad()
            outputs = self.net(inputs)
            loss = self.loss_fn(outputs.view(-1, N_OUT), labels)
            loss.backward()
            self.optimizer.step()
            running += loss.item()
            self.updates += 1
        return running / n_updates

    def decision_acc(self, x_tm: np.ndarray, y_tm: np.ndarray) -> float:
        """Accuracy on the steps whose label is not fixation; (T, N, F) and (T, N)."""
        torch = self.torch
        with torch.no_grad():
            pred = self.net(torch.from_numpy(np.asarray(x_tm, np.float32))).argmax(-1).numpy()
        keep = y_tm != 0
        return float((pred[keep] == y_tm[keep]).mean())


def neurogym_val():
    """512 held-out neurogym trials, time-major, from an environment of their own."""
    from neurogym.envs.native.perceptualdecisionmaking import PerceptualDecisionMaking

    env = PerceptualDecisionMaking(dt=DT_MS)
    env.seed(NG_VAL_SEED)
    x, y = [], []
    for _ in range(VAL_TRIALS):
        env.new_trial()
        x.append(env.ob)
        y.append(env.gt)
    return (np.ascontiguousarray(np.stack(x, 1), np.float32),
            np.ascontiguousarray(np.stack(y, 1), np.int64))


# ---------------------------------------------------------------------------- braintask
def cogtask_task(seed: int):
    """cogtask's PerceptualDecisionMaking in neurogym 2.3's form.

    ``pop_per_choice=1``: one input per choice (3 inputs in all). cogtask keeps the
    fixation input on through the stimulus, so that its fall is the cue to answer;
    neurogym 2.3's environment shows it during the fixation period only, so the network
    has to time the 2000 ms stimulus itself. The phases below are cogtask's own, with
    the fixation input left off during the stimulus, as in neurogym.
    """
    from braintools import cogtask

    class NeurogymPerceptualDecisionMaking(cogtask.PerceptualDecisionMaking):
        def define_phases(self):
            stimulus = cogtask.circular("stimulus_direction", "coherence", base_value=0.5,
                                        max_coherence=100.0)
            return cogtask.concat([
                cogtask.Fixation(duration=self.t_fixation, name="fixation",
                                 inputs={"fixation": 1.0}, outputs={"label": 0}),
                cogtask.Stimulus(duration=self.t_stimulus, name="stimulus",
                                 inputs={"stimulus": stimulus}, outputs={"label": 0},
                                 noise={"stimulus": self.noise_sigma}),
                cogtask.Response(duration=self.t_response, name="response",
                                 inputs={"fixation": 0.0},
                                 outputs={"label": lambda ctx, f: ctx["ground_truth"] + 1}),
            ])

    return NeurogymPerceptualDecisionMaking(pop_per_choice=1, seed=seed)


def fresh_source(task, n_trials: int):
    import brainunit as u

    import braintask

    return braintask.cogtask_source(task, n_trials, dt=DT_MS * u.ms)


def braintask_model(seed: int):
    import brainstate

    import braintask

    brainstate.random.seed(seed)
    return braintask.RecurrentClassifier(brainstate.nn.GRUCell(N_IN, N_HIDDEN), n_output=N_OUT,
                                         per_step=True)


def braintask_trainer(seed: int, lr: float, batch_size: int):
    import braintools

    import braintask

    return braintask.Trainer(braintask_model(seed), braintools.optim.Adam(lr=lr), batch_size=batch_size,
                             seed=seed, progress=False)


def criterion_met(history):
    """``(epoch, updates)`` at which the criterion was met, or ``(None, None)``."""
    met = history.criterion or {}
    return met.get("epoch"), met.get("updates")


# ---------------------------------------------------------------------------- 1. updates per second
def throughput(args) -> dict:
    """Both sides train in turns; steady updates/s and one-off seconds."""
    ups = args.epoch_trials // args.batch_size
    out = {}

    # braintask: building and the first epoch, timed as one.
    t0, j0 = time.perf_counter(), _jax_seconds()
    source = fresh_source(cogtask_task(args.seed), args.epoch_trials)
    trainer = braintask_trainer(args.seed, args.lr, args.batch_size)
    trainer.fit(source, epochs=1)
    bt_first = time.perf_counter() - t0
    bt_jax = _jax_seconds() - j0

    t0 = time.perf_counter()
    ng = NeurogymSide(args.seed, args.lr, args.batch_size)
    ng.train(ups)
    ng_first = time.perf_counter() - t0

    bt_epochs, ng_epochs = [], []
    for r in range(args.rounds):
        order = ["bt", "ng"] if r % 2 == 0 else ["ng", "bt"]
        for side in order:
            if side == "bt":
                history = trainer.fit(source, epochs=args.round_epochs)
                bt_epochs += [rec["time"] for rec in history.records[-args.round_epochs + 1:]]
            else:
                times = []
                for _ in range(args.round_epochs):
                    t = time.perf_counter()
                    ng.train(ups)
                    times.append(time.perf_counter() - t)
                ng_epochs += times[1:]
        gc.collect()

    for key, first, epochs, compilations in (
            ("braintask", bt_first, bt_epochs, dict(trainer.compilations)),
            ("neurogym", ng_first, ng_epochs, None)):
        steady = sum(epochs) / len(epochs)
        out[key] = {
            "updates_per_s": ups / steady,
            "epoch_s_mean": steady,
            "epoch_s_median": statistics.median(epochs),
            "epoch_s_iqr": _iqr(epochs),
            "epochs_timed": len(epochs),
            "first_epoch_with_build_s": first,
            "one_off_s": first - steady,
        }
        if compilations is not None:
            out[key]["compilations"] = compilations
            out[key]["one_off_jax_compile_s"] = bt_jax  # tracing, lowering, XLA compilation
    out["updates_per_epoch"] = ups
    return out


def _iqr(values):
    q = np.percentile(values, [25, 75])
    return [float(q[0]), float(q[1])]


# ---------------------------------------------------------------------------- 2. time to criterion
def to_criterion_braintask(args, seed: int) -> dict:
    import braintask

    cap = args.max_updates // (args.epoch_trials // args.batch_size)
    criterion = braintask.Criterion("val_decision_acc", at_least=args.criterion)
    t0, j0 = time.perf_counter(), _jax_seconds()
    source = fresh_source(cogtask_task(seed), args.epoch_trials)
    val = source.held_out(VAL_TRIALS, start_index=0)
    trainer = braintask_trainer(seed, args.lr, args.batch_size)
    history = trainer.fit(source, val=val, epochs=cap, callbacks=[criterion])
    wall = time.perf_counter() - t0
    epoch, updates = criterion_met(history)
    return {"seed": seed, "wall_s": wall if epoch is not None else None, "updates": updates,
            "epochs": epoch, "wall_all_s": wall, "jax_compile_s": _jax_seconds() - j0,
            "last_val_decision_acc": history[-1]["val_decision_acc"],
            "val_curve": [round(r["val_decision_acc"], 4) for r in history.records],
            "_trainer": trainer, "_val": val}


def to_criterion_neurogym(args, seed: int) -> dict:
    ups = args.epoch_trials // args.batch_size
    t0 = time.perf_counter()
    vx, vy = neurogym_val()
    side = NeurogymSide(seed, args.lr, args.batch_size)
    curve, met = [], None
    while side.updates < args.max_updates:
        side.train(ups)
        acc = side.decision_acc(vx, vy)
        curve.append(round(acc, 4))
        if acc >= args.criterion:
            met = side.updates
            break
    wall = time.perf_counter() - t0
    return {"seed": seed, "wall_s": wall if met is not None else None, "updates": met,
            "epochs": len(curve) if met is not None else None, "wall_all_s": wall,
            "last_val_decision_acc": curve[-1], "val_curve": curve, "_side": side, "_val": (vx, vy)}


def to_criterion(args) -> dict:
    runs = {"braintask": [], "neurogym": []}
    for i, seed in enumerate(args.seeds):
        order = ["braintask", "neurogym"] if i % 2 == 0 else ["neurogym", "braintask"]
        for side in order:
            fn = to_criterion_braintask if side == "braintask" else to_criterion_neurogym
            run = fn(args, seed)
            runs[side].append(run)
            state = (f"met after {run['updates']} updates, {run['wall_s']:.1f} s" if run["updates"]
                     else f"not met in {args.max_updates} updates ({run['wall_all_s']:.1f} s)")
            print(f"  seed {seed} {side:9s}: {state}; last val decision acc "
                  f"{run['last_val_decision_acc']:.3f}", flush=True)
            gc.collect()
    # Each model on the other side's held-out trials: the two generators make the same task.
    for bt, ng in zip(runs["braintask"], runs["neurogym"]):
        val = bt["_val"]
        x_tm = np.ascontiguousarray(np.asarray(val.inputs, np.float32).transpose(1, 0, 2))
        y_tm = np.asarray(val.targets).T
        ng["acc_on_other_val"] = ng["_side"].decision_acc(x_tm, y_tm)
        vx, vy = ng["_val"]
        logits = bt["_trainer"].predict(vx.transpose(1, 0, 2))  # (N, T, C)
        pred = np.asarray(logits).argmax(-1).T
        keep = vy != 0
        bt["acc_on_other_val"] = float((pred[keep] == vy[keep]).mean())
    for side in runs.values():
        for run in side:
            for key in [k for k in run if k.startswith("_")]:
                del run[key]
    return runs


# ---------------------------------------------------------------------------- 3. fresh vs fixed
def fresh_vs_fixed(args) -> dict:
    source = fresh_source(cogtask_task(args.seed), args.epoch_trials)
    fixed = source.trials(0)
    t = time.perf_counter()
    source.trials(1)
    draw_s = time.perf_counter() - t
    t = time.perf_counter()
    source.trials(2)
    draw_s = min(draw_s, time.perf_counter() - t)
    trainers = {"fresh": (braintask_trainer(args.seed, args.lr, args.batch_size), source),
                "fixed": (braintask_trainer(args.seed, args.lr, args.batch_size), fixed)}
    for trainer, data in trainers.values():  # compile outside the timed turns
        trainer.fit(data, epochs=1)
    epochs = {"fresh": [], "fixed": []}
    walls = {"fresh": [], "fixed": []}
    for r in range(args.rounds):
        order = ["fresh", "fixed"] if r % 2 == 0 else ["fixed", "fresh"]
        for name in order:
            trainer, data = trainers[name]
            t = time.perf_counter()
            history = trainer.fit(data, epochs=args.fresh_epochs)
            walls[name].append((time.perf_counter() - t) / args.fresh_epochs)
            epochs[name] += [rec["time"] for rec in history.records[-args.fresh_epochs + 1:]]
        gc.collect()
    out = {name: {"epoch_s_mean": sum(v) / len(v), "epoch_s_median": statistics.median(v),
                  "epoch_s_iqr": _iqr(v), "epochs_timed": len(v),
                  "fit_wall_per_epoch_s": statistics.median(walls[name])}
           for name, v in epochs.items()}
    out["draw_s"] = draw_s
    out["ratio_fresh_over_fixed"] = out["fresh"]["epoch_s_mean"] / out["fixed"]["epoch_s_mean"]
    out["ratio_fit_wall"] = out["fresh"]["fit_wall_per_epoch_s"] / out["fixed"]["fit_wall_per_epoch_s"]
    return out


# ---------------------------------------------------------------------------- report
def warm_up(args):
    """Process-wide first-use costs, paid before anything is timed: JAX's initialisers
    and sampler, torch's GRU kernels."""
    import jax.numpy as jnp
    import torch

    import braintask

    model = braintask_model(0)
    braintask.batch_hidden_states(model, 2)
    model(jnp.zeros((3, 2, N_IN)))
    fresh_source(cogtask_task(0), 4).trials(0)
    torch_gru()(torch.zeros(3, 2, N_IN))
    neurogym_dataset(2, 0)()


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec=".2f"):
    if v is None:
        width = spec.split(".")[0]
        return "-".rjust(int(width)) if width.isdigit() else "-"
    return format(v, spec)


def summarize(results, args) -> dict:
    tp, crit = results["throughput"], results["criterion"]
    s = {}
    s["updates_per_s"] = {k: tp[k]["updates_per_s"] for k in ("braintask", "neurogym")}
    s["one_off_s"] = {k: tp[k]["one_off_s"] for k in ("braintask", "neurogym")}
    s["speed_ratio"] = s["updates_per_s"]["braintask"] / s["updates_per_s"]["neurogym"]
    met = {k: sum(r["updates"] is not None for r in crit[k]) for k in crit}
    s["criterion_met"] = met
    s["criterion_wall_s"] = {k: _median([r["wall_s"] for r in crit[k]]) for k in crit}
    s["criterion_updates"] = {k: _median([r["updates"] for r in crit[k]]) for k in crit}
    w, u = s["criterion_wall_s"], s["criterion_updates"]
    s["criterion_speedup"] = (w["neurogym"] / w["braintask"]) if None not in w.values() else None
    s["criterion_update_ratio"] = (u["neurogym"] / u["braintask"]) if None not in u.values() else None
    # Same updates to criterion, time at each side's steady rate plus its one-off: what the
    # wall ratio would be if both needed neurogym's number of updates.
    if u["neurogym"] is not None:
        n = u["neurogym"]
        s["criterion_speedup_same_updates"] = (
            (s["one_off_s"]["neurogym"] + n / s["updates_per_s"]["neurogym"])
            / (s["one_off_s"]["braintask"] + n / s["updates_per_s"]["braintask"]))
    else:
        s["criterion_speedup_same_updates"] = None
    if "fresh_fixed" in results:
        s["fresh_over_fixed"] = results["fresh_fixed"]["ratio_fresh_over_fixed"]
    return s


def print_report(results, summary, args):
    tp, crit = results["throughput"], results["criterion"]
    print()
    print(f"PerceptualDecisionMaking dt {DT_MS} ms ({T_STEPS} steps), GRU {N_HIDDEN}, batch {args.batch_size}, "
          f"Adam lr {args.lr:g}, epoch = {args.epoch_trials} trials ({tp['updates_per_epoch']} updates)")
    print()
    head = f"{'':24s}{'braintask':>12s}{'neurogym+torch':>16s}{'ratio bt/ng':>14s}"
    print(head)
    print("-" * len(head))
    up = summary["updates_per_s"]
    print(f"{'updates/s (steady)':24s}{up['braintask']:12.1f}{up['neurogym']:16.1f}{summary['speed_ratio']:13.2f}x")
    bt, ng = tp["braintask"], tp["neurogym"]
    print(f"{'  epoch ms, median':24s}{1e3 * bt['epoch_s_median']:12.0f}{1e3 * ng['epoch_s_median']:16.0f}")
    iqr = [f"{1e3 * v['epoch_s_iqr'][0]:.0f}-{1e3 * v['epoch_s_iqr'][1]:.0f}" for v in (bt, ng)]
    print(f"{'  epoch ms, IQR':24s}{iqr[0]:>12s}{iqr[1]:>16s}")
    oo = summary["one_off_s"]
    print(f"{'one-off s (build+warm)':24s}{oo['braintask']:12.2f}{oo['neurogym']:16.2f}"
          f"{oo['braintask'] / oo['neurogym'] if oo['neurogym'] > 0 else float('nan'):13.2f}x (lower is better)")
    print(f"{'  of which JAX compile s':24s}{bt['one_off_jax_compile_s']:12.2f}")
    w, u = summary["criterion_wall_s"], summary["criterion_updates"]
    n = len(args.seeds)
    print(f"{'to criterion: wall s':24s}{_fmt(w['braintask'], '12.1f')}{_fmt(w['neurogym'], '16.1f')}"
          f"{_fmt(summary['criterion_speedup'], '13.2f')}x (speed-up, ng/bt)")
    jc = _median([r["jax_compile_s"] for r in crit["braintask"]])
    print(f"{'  of which JAX compile s':24s}{_fmt(jc, '12.1f')}")
    print(f"{'to criterion: updates':24s}{_fmt(u['braintask'], '12.0f')}{_fmt(u['neurogym'], '16.0f')}"
          f"{_fmt(summary['criterion_update_ratio'], '13.2f')}x (ng/bt)")
    print(f"{'  runs that met it':24s}{summary['criterion_met']['braintask']:>9d}/{n}"
          f"{summary['criterion_met']['neurogym']:>13d}/{n}")
    print(f"{'  estimate, equal updates':24s}{'':28s}{_fmt(summary['criterion_speedup_same_updates'], '13.2f')}x "
          f"(one-off + neurogym's updates at each side's steady rate)")
    print(f"criterion: val decision-period accuracy >= {args.criterion} on {VAL_TRIALS} held-out trials, "
          f"checked every epoch; medians over seeds {args.seeds}")
    for side in ("braintask", "neurogym"):
        for r in crit[side]:
            other = r.get("acc_on_other_val")
            print(f"  {side:9s} seed {r['seed']}: updates {_fmt(r['updates'], '.0f')}, wall "
                  f"{_fmt(r['wall_s'], '.1f')} s, last val acc {r['last_val_decision_acc']:.3f}, "
                  f"on the other side's held-out trials {_fmt(other, '.3f')}")
    if "fresh_fixed" in results:
        ff = results["fresh_fixed"]
        print()
        head = f"{'braintask Trainer':24s}{'fresh':>12s}{'fixed':>12s}{'fresh/fixed':>14s}"
        print(head)
        print("-" * len(head))
        print(f"{'epoch ms (record, mean)':24s}{1e3 * ff['fresh']['epoch_s_mean']:12.0f}"
              f"{1e3 * ff['fixed']['epoch_s_mean']:12.0f}{ff['ratio_fresh_over_fixed']:13.2f}x")
        print(f"{'epoch ms (fit wall)':24s}{1e3 * ff['fresh']['fit_wall_per_epoch_s']:12.0f}"
              f"{1e3 * ff['fixed']['fit_wall_per_epoch_s']:12.0f}{ff['ratio_fit_wall']:13.2f}x")
        print(f"one draw of {args.epoch_trials} trials alone: {1e3 * ff['draw_s']:.0f} ms; "
              f"{ff['fresh']['epochs_timed']} epochs timed per side")
    print()
    print("goals:")
    for g in results["goals"]:
        state = "n/a" if g["met"] is None else ("met" if g["met"] else "NOT MET")
        print(f"  [{state}] {g['goal']}: {_fmt(g['value'])}")


def goals(summary) -> list:
    out = []

    def add(text, value, ok):
        out.append({"goal": text, "value": value, "met": None if value is None else bool(ok(value))})

    add(f"updates/s braintask / neurogym+torch >= {GOALS['speed']}", summary["speed_ratio"],
        lambda v: v >= GOALS["speed"])
    add(f"time to criterion neurogym+torch / braintask >= {GOALS['speed']}", summary["criterion_speedup"],
        lambda v: v >= GOALS["speed"])
    if "fresh_over_fixed" in summary:
        add(f"fresh epoch / fixed epoch <= {GOALS['fresh_over_fixed']}", summary["fresh_over_fixed"],
            lambda v: v <= GOALS["fresh_over_fixed"])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: small epochs, few rounds, one seed, a low update cap")
    p.add_argument("--seeds", default=None, help="comma-separated seeds of the criterion runs (default 0,1,2)")
    p.add_argument("--criterion", type=float, default=0.8,
                   help="held-out decision-period accuracy to reach (default 0.8)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate, both sides (default 1e-2)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epoch-trials", type=int, default=None, help="trials per epoch (default 640)")
    p.add_argument("--max-updates", type=int, default=None, help="cap of a criterion run (default 3000)")
    p.add_argument("--rounds", type=int, default=None, help="turns per side in the timed parts (default 8)")
    p.add_argument("--round-epochs", type=int, default=None, help="epochs per turn, updates/s (default 5)")
    p.add_argument("--fresh-epochs", type=int, default=None, help="epochs per turn, fresh vs fixed (default 5)")
    p.add_argument("--no-fresh-fixed", dest="fresh_fixed", action="store_false",
                   help="skip the fresh-vs-fixed comparison")
    p.add_argument("--threads", type=int, choices=[1, 2], default=1,
                   help="compute threads per side (default 1; see the module docstring)")
    p.add_argument("--seed", type=int, default=0, help="seed of the timed parts 1 and 3")
    p.add_argument("--out", default=str(HERE / "results"), help="where fresh_trials.json goes")
    args = p.parse_args(argv)
    q = args.quick
    args.seeds = [int(s) for s in (args.seeds or ("0" if q else "0,1,2")).split(",")]
    args.epoch_trials = args.epoch_trials or (320 if q else 640)
    args.max_updates = args.max_updates or (40 if q else 3000)
    args.rounds = args.rounds or (2 if q else 8)
    args.round_epochs = args.round_epochs or (3 if q else 5)
    args.fresh_epochs = args.fresh_epochs or (3 if q else 5)
    if args.epoch_trials % args.batch_size:
        p.error("--epoch-trials must be a multiple of --batch-size")
    if min(args.round_epochs, args.fresh_epochs) < 2:
        p.error("--round-epochs and --fresh-epochs must be >= 2 (the first epoch of a turn is not timed)")

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        print("note: JAX_COMPILATION_CACHE_DIR is set; unsetting it (compile times would be cached)")
        os.environ.pop("JAX_COMPILATION_CACHE_DIR")
    if args.threads == 1:  # before JAX is imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
    t_start = time.perf_counter()
    load_before = os.getloadavg()

    import brainstate
    import braintools
    import jax
    import neurogym
    import torch

    import braintask

    jax.monitoring.register_event_duration_secs_listener(_on_jax_duration)
    torch.set_num_threads(args.threads)
    if args.threads == 1:
        torch.set_num_interop_threads(1)
    results = {}
    print("warming up ...", flush=True)
    warm_up(args)

    t0 = time.perf_counter()
    print(f"1. updates/s: {args.rounds} turns x {args.round_epochs} epochs per side ...", flush=True)
    results["throughput"] = throughput(args)
    print(f"   {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    print(f"2. to criterion (val decision acc >= {args.criterion}), seeds {args.seeds}, "
          f"cap {args.max_updates} updates ...", flush=True)
    results["criterion"] = to_criterion(args)
    print(f"   {time.perf_counter() - t0:.1f} s", flush=True)

    if args.fresh_fixed:
        t0 = time.perf_counter()
        print(f"3. fresh vs fixed: {args.rounds} turns x {args.fresh_epochs} epochs each ...", flush=True)
        results["fresh_fixed"] = fresh_vs_fixed(args)
        print(f"   {time.perf_counter() - t0:.1f} s", flush=True)

    summary = summarize(results, args)
    results["summary"] = summary
    results["goals"] = goals(summary)
    print_report(results, summary, args)

    results["config"] = {k: v for k, v in vars(args).items()}
    results["machine"] = {
        "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "load_before": load_before, "load_after": os.getloadavg(),
        "torch_threads": torch.get_num_threads(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": {"braintask": braintask.__version__, "brainstate": brainstate.__version__,
                     "braintools": braintools.__version__, "jax": jax.__version__,
                     "torch": torch.__version__, "neurogym": getattr(neurogym, "__version__", "?")},
    }
    results["date"] = time.strftime("%Y-%m-%d")
    # where the result came from: commit (+changes if this script or the library differ
    # from it), versions, CPU; the load average tells how busy the machine was
    prov = braintask.provenance(HERE, watch=[Path(__file__).resolve(), HERE.parent / "src"])
    prov["versions"].update(torch=torch.__version__,
                            neurogym=getattr(neurogym, "__version__", "?"))
    prov["load_average_before"], prov["load_average_after"] = load_before, os.getloadavg()
    results["provenance"] = prov
    results["total_s"] = time.perf_counter() - t_start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "fresh_trials.json"
    path.write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {path} (total {results['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
