"""The leaky rate network against a GRU of the same size, side by side.

Trains each contender on the same fresh GoNoGo trials (braintools.cogtask, 20 ms
steps, 100 steps per trial, 256 trials per epoch, minibatches of 32, 64 units,
Adam) in one process, the contenders interleaved repeat by repeat so that
machine noise hits all alike, and prints per contender:

- updates per second in the steady state (median over epochs 2..E of an
  epoch's training updates divided by its wall time, all repeats), and its
  ratio to the GRU's;
- the wall time of a whole fresh fit (building, compiling, every epoch),
  median over repeats, and its ratio to the GRU's.

Contenders: ``LeakyRNNCell`` without noise, with Yang et al.'s recurrent noise
(sigma_rec 0.05, drawn every step), with a ``RatePenalty`` (which feeds the
model one step at a time to read its rates), and ``brainstate.nn.GRUCell``.

    python benchmarks/rate_network.py              # 3 repeats of 10 epochs, about 2 min
    python benchmarks/rate_network.py --repeats 5 --epochs 20
"""

from __future__ import annotations

import argparse
import time

import brainstate
import braintools
import brainunit as u
import numpy as np
import pandas as pd
from braintools import cogtask

import braintask

DT = 20 * u.ms


def contenders(n_in: int) -> dict:
    def leaky(**kw):
        return lambda: braintask.LeakyRNNCell(n_in, 64, tau=100 * u.ms, dt=DT, **kw)

    return {
        "leaky ReLU": (leaky(), None),
        "leaky ReLU, noise": (leaky(sigma_rec=0.05), None),
        "leaky ReLU, rate penalty": (leaky(), [braintask.RatePenalty(l2=0.1)]),
        "GRU": (lambda: brainstate.nn.GRUCell(n_in, 64), None),
    }


def one_fit(cell, penalties, source, epochs: int) -> tuple[float, list[float], int]:
    start = time.perf_counter()
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(cell(), n_output=3, per_step=True)
    trainer = braintask.Trainer(net, braintools.optim.Adam(lr=3e-3), batch_size=32,
                                progress=False, penalties=penalties)
    history = trainer.fit(source, epochs=epochs)
    wall = time.perf_counter() - start
    return wall, history.time[1:], int(history[0]["updates"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    source = braintask.cogtask_source(cogtask.GoNoGo(seed=0), 256, dt=DT,
                                      grace=100 * u.ms, response_weight=5.0)
    models = contenders(source.trials(0).n_features)
    walls: dict[str, list[float]] = {k: [] for k in models}
    epoch_s: dict[str, list[float]] = {k: [] for k in models}
    per_epoch = 0
    for repeat in range(args.repeats):
        order = list(models)[repeat % len(models):] + list(models)[:repeat % len(models)]
        for name in order:
            wall, times, per_epoch = one_fit(*models[name], source, args.epochs)
            walls[name].append(wall)
            epoch_s[name].extend(times)
    rows = []
    for name in models:
        rows.append({"contender": name,
                     "updates / s": per_epoch / float(np.median(epoch_s[name])),
                     "fit s (median)": float(np.median(walls[name]))})
    table = pd.DataFrame(rows).set_index("contender")
    gru = table.loc["GRU"]
    table["updates / s vs GRU"] = table["updates / s"] / gru["updates / s"]
    table["fit time vs GRU"] = table["fit s (median)"] / gru["fit s (median)"]
    print(f"{args.repeats} repeats of {args.epochs} epochs, {per_epoch} updates per epoch")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
