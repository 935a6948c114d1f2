"""Many seeds in one program: MultiSeedTrainer against one Trainer per seed.

Times, in one run, on the case-study workload (320 trials, T=8, 2 symbols, 64 HORN
units, batch 32, 20 epochs, Adam 3e-2):

- K seeds trained one after the other with ``braintask.Trainer`` (each fit builds,
  compiles and trains its own model), end to end;
- the same K seeds with ``braintask.MultiSeedTrainer`` (one compiled program per epoch
  for all copies), end to end;
- the steady-state epoch time per model of both (median over epochs 2..E).

for K = 1, 4, 8, 16, and prints the ratios (MultiSeedTrainer / sequential). Writes
``many_seeds.json`` into ``--out``.

Usage: ``python benchmarks/many_seeds.py [--ks 1,4,8,16] [--epochs 20] [--out DIR]``
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import brainstate
import braintools
import brainunit as u
import numpy as np

import brainmass
import braintask

HERE = Path(__file__).parent


def build():
    return brainmass.HORNSeqNetwork(n_input=2, n_hidden=64, n_output=2, alpha=0.2, omega=2 * np.pi / 28)


def steady(history):
    return statistics.median(r["time"] for r in history.records[1:])


def sequential(seeds, train, test, epochs):
    start = time.perf_counter()
    histories = []
    for seed in seeds:
        brainstate.random.seed(seed)
        trainer = braintask.Trainer(build(), braintools.optim.Adam(lr=3e-2), batch_size=32, seed=seed,
                                    progress=False)
        histories.append(trainer.fit(train, test, epochs=epochs))
    return time.perf_counter() - start, histories


def together(seeds, train, test, epochs):
    start = time.perf_counter()
    ensemble = braintask.MultiSeedTrainer(build, lambda: braintools.optim.Adam(lr=3e-2), seeds=seeds,
                                          batch_size=32, progress=False)
    histories = ensemble.fit(train, test, epochs=epochs)
    return time.perf_counter() - start, histories


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", default="1,4,8,16")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    brainstate.environ.set(dt=1.0 * u.ms)
    train, test = braintask.delayed_match_task(320, seq_len=8, n_symbols=2, seed=0).split(256)

    rows = []
    for k in [int(x) for x in args.ks.split(",")]:
        seeds = list(range(k))
        # alternate the order, so that neither contender always runs on a warmer machine
        runs = [("together", together), ("sequential", sequential)]
        if len(rows) % 2:
            runs.reverse()
        result = {"K": k}
        for name, fn in runs:
            wall, histories = fn(seeds, train, test, args.epochs)
            result[f"{name}_wall_s"] = wall
            steady_epoch = statistics.median(steady(h) for h in histories)
            # a MultiSeedTrainer History's time is the epoch's wall over K: per model already
            result[f"{name}_steady_epoch_per_model_s"] = steady_epoch
            result[f"{name}_final_test_acc"] = [h[-1]["test_acc"] for h in histories]
        result["wall_ratio"] = result["together_wall_s"] / result["sequential_wall_s"]
        result["steady_ratio"] = (result["together_steady_epoch_per_model_s"]
                                  / result["sequential_steady_epoch_per_model_s"])
        same = np.allclose(result["together_final_test_acc"], result["sequential_final_test_acc"])
        rows.append(result)
        print(f"K={k:2d}  end to end: together {result['together_wall_s']:6.2f} s, one by one "
              f"{result['sequential_wall_s']:6.2f} s, ratio {result['wall_ratio']:.2f}  |  steady epoch "
              f"per model ratio {result['steady_ratio']:.2f}  |  same final accuracies: {same}", flush=True)

    by_k = {r["K"]: r for r in rows}
    if 8 in by_k:
        r = by_k[8]
        print("\nGoals (K=8):")
        print(f"  [{'MET ' if r['wall_ratio'] <= 0.3 else 'MISS'}] end to end <= 0.3x of eight sequential fits: "
              f"{r['wall_ratio']:.2f}")
        print(f"  [{'MET ' if r['steady_ratio'] <= 0.75 else 'MISS'}] steady state <= 0.75x per model: "
              f"{r['steady_ratio']:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "many_seeds.json").write_text(json.dumps(rows, indent=1))
    print(f"wrote {out / 'many_seeds.json'}")


if __name__ == "__main__":
    main()
