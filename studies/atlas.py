"""Study: which braintools.cogtask tasks can each network learn, trained the way the field
trains? Every task that builds with its defaults, fresh trials every epoch, the response
weighted in the loss (Yang et al., 2019), each network trained to a criterion at its own
learning rate.

A unit is one model on one task at one learning rate, with three seeds trained side by
side (``braintask.MultiSeedTrainer``). The learning-rate grid starts at three rates and
grows at its edge (studies/_rates.py). Every task gets the same input noise (standard
deviation 0.1 on every input of every step, on top of the task's own), so that held-out
trials are new in every task and the families are compared under one policy.

Run it with ``nox -s study -- atlas``, or ``python -m studies.atlas`` from the repository's
root (``--quick --record PATH`` for a small check of the whole path; ``--jobs 2`` for
two worker processes). It resumes after a kill.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import brainstate
import numpy as np
import pandas as pd

from . import _cli, _rates, _verdicts
from ._unit_record import summarise

RECORD = Path(__file__).parent / "records" / "atlas.jsonl"
REGENERATE = "nox -s study -- atlas"

MODELS = ["HORN", "GRU", "RNN"]
SEEDS = [0, 1, 2]
START_RATES = [1e-3, 3e-3, 1e-2]
DT_MS, GRACE_MS, RESPONSE_WEIGHT = 20, 100, 5.0  # Yang et al. 2019's conventions;
# the grace period is shortened to half the decision period where that is under 100 ms
NOISE = 0.1  # on every input of every step, in every task
TRIALS_PER_EPOCH, BATCH_SIZE, N_VAL, N_TEST = 512, 64, 512, 1024
CRITERION, FOR_EPOCHS, MAX_EPOCHS = 0.9, 2, 300  # cap: 2,400 updates (20x the old atlas)
ANGLE_CRITERION = 10.0  # degrees, for the tasks that answer with a direction
N_HIDDEN = 64  # HORN oscillators and RNN units; the GRU gets as many weights
PERIODS = (4, 40)  # HORN natural periods, in 20 ms steps: 80-800 ms, log-spaced
EXTRA = {  # tasks whose defaults need a word (see docs/tutorials/task_atlas.md)
    "ReadySetGo": dict(n_classes=3),
    "OneTwoThreeGo": dict(decision_phase=["interval3", "response"]),
}
QUICK = dict(tasks=["PerceptualDecisionMaking"], models=["GRU"], seeds=[0, 1],
             rates=[1e-2], max_epochs=2)
RECHECK_EPOCHS = 2
LADDER, on_edge = _rates.LADDER, _rates.on_edge  # the rates a grid may grow to; its edge


def task_names() -> list[str]:
    """Every cogtask task class, by name, that builds and samples with its defaults."""
    from braintools import cogtask

    return sorted(name for name, cls in vars(cogtask).items()
                  if inspect.isclass(cls) and issubclass(cls, cogtask.Task)
                  and cls is not cogtask.Task)


def noisy(data, seed: int):
    """The same trials with Gaussian noise on every real step's inputs, scored on the
    decision steps after the grace period (the steps the loss trains)."""
    import braintask

    noise = np.random.default_rng(seed).standard_normal(data.inputs.shape)
    inputs = (data.inputs + NOISE * noise * data.mask[..., None]).astype(np.float32)
    decision = data.decision & (data.weights > 0)
    return braintask.TaskDataset(inputs, data.targets, data.n_classes, data.info,
                                 mask=data.mask, decision=decision, weights=data.weights)


def source(name: str):
    """Fresh noisy trials of task ``name`` every epoch; held-out trials from the lowest
    trial indices, which training never uses."""
    import brainunit as u
    from braintools import cogtask

    import braintask

    task = getattr(cogtask, name)(seed=0)
    plain = braintask.cogtask_source(task, 64, dt=DT_MS * u.ms, **EXTRA.get(name, {}))
    # the grace period: 100 ms, or half the shortest decision period where that is shorter
    shortest = int(plain.held_out(64).decision.sum(axis=1).min())
    grace = min(GRACE_MS, DT_MS * (shortest // 2))
    base = braintask.cogtask_source(task, TRIALS_PER_EPOCH, dt=DT_MS * u.ms,
                                    grace=grace * u.ms, response_weight=RESPONSE_WEIGHT,
                                    **EXTRA.get(name, {}))
    return braintask.TrialSource(
        lambda epoch: noisy(base.trials(epoch), seed=1 + epoch), TRIALS_PER_EPOCH,
        held_out=lambda n, start_index=0: noisy(base.held_out(n, start_index=start_index),
                                                seed=10**6 + start_index),
        info=dict(base.info, noise=NOISE))


def build_model(name: str, n_input: int, n_output: int):
    """HORN (oscillators with log-spaced natural periods), a GRU with about HORN's
    number of weights, or a vanilla RNN of as many units as HORN; all read out at
    every step."""
    import brainmass

    import braintask

    if name == "HORN":
        periods = np.geomspace(*PERIODS, N_HIDDEN)
        layer = brainmass.HORNSeqLayer(n_input, N_HIDDEN, alpha=0.2, omega=2 * np.pi / periods)
        return _PerStep(layer, brainstate.nn.Linear(N_HIDDEN, n_output))
    if name == "GRU":
        target = braintask.count_parameters(build_model("HORN", n_input, n_output))
        size = lambda h: 3 * (n_input + h + 1) * h + (h + 1) * n_output
        hidden = min(range(8, 256), key=lambda h: abs(size(h) - target))
        return braintask.RecurrentClassifier(brainstate.nn.GRUCell(n_input, hidden),
                                             n_output, per_step=True)
    if name == "RNN":
        cell = brainstate.nn.ValinaRNNCell(n_input, N_HIDDEN, activation="tanh")
        return braintask.RecurrentClassifier(cell, n_output, per_step=True)
    raise ValueError(f"unknown model {name!r}; the study has {MODELS}")


class _PerStep(brainstate.nn.Module):
    """A sequence layer and a linear readout at every step: (T, B, F) -> (T, B, C)."""

    def __init__(self, layer, readout):
        super().__init__()
        self.layer, self.readout = layer, readout

    def update(self, inputs):
        return self.readout(self.layer(inputs))


def run_unit(unit: dict, recheck: bool = False) -> dict:
    """Train one model on one task at one learning rate, every seed, to criterion."""
    return train_unit(unit, build_model, recheck)


def train_unit(unit: dict, build, recheck: bool = False, dt_ms: float = 1.0,
               **options) -> dict:
    """Train ``build(unit["model"], F, C)`` on ``unit["task"]`` at ``unit["lr"]``, every
    seed side by side, to the criterion; ``dt_ms`` is the integration step and
    ``options`` go to ``braintask.MultiSeedTrainer``."""
    import braintools
    import brainunit as u

    import braintask

    brainstate.environ.set(dt=dt_ms * u.ms)  # HORN at 1 ms: h = 1 per task step
    trials = source(unit["task"])
    first = trials.trials(0)
    val, test = trials.held_out(N_VAL), trials.held_out(N_TEST, start_index=N_VAL)
    grid = braintask.MultiSeedTrainer(
        lambda: build(unit["model"], first.n_features, first.output_dim),
        lambda: braintools.optim.Adam(lr=unit["lr"], grad_clip_norm=1.0),
        seeds=unit["seeds"], batch_size=BATCH_SIZE, progress=False, **options)
    metric = "val_decision_angular_error" if first.vector else "val_decision_acc"
    bound = (dict(at_most=ANGLE_CRITERION) if first.vector
             else dict(at_least=CRITERION))
    criterion = braintask.Criterion(metric, for_epochs=FOR_EPOCHS, **bound)
    epochs = RECHECK_EPOCHS if recheck else unit["max_epochs"]
    try:
        grid.fit(trials, val=val, epochs=epochs, criterion=criterion)
        diverged = {}
    except braintask.TrainingDiverged as error:  # a rate too high: a result to record
        diverged = {"diverged": str(error)}  # every copy keeps its last finite weights
    keys = ["train_loss", metric.replace("val_", "train_"), "val_loss", metric]
    history = {str(s): {k: [float(v) for v in h.to_pandas()[k]] for k in keys}
               for s, h in zip(unit["seeds"], grid.histories)}
    if recheck:
        return {"history": history, **diverged}
    return {**summarise(unit, grid, first, test, trials, metric, history), **diverged}


def cap_updates(max_epochs: int = MAX_EPOCHS) -> int:
    return max_epochs * TRIALS_PER_EPOCH // BATCH_SIZE


def rate_score(result: dict) -> tuple:
    """How good a learning rate was, from validation only (see studies/_rates.py)."""
    return _rates.rate_score(result, cap_updates(), score="val_score")


def choose_rate(results_by_rate: dict) -> float:
    """The learning rate with the best :func:`rate_score`."""
    return _rates.choose_rate(results_by_rate, cap_updates(), score="val_score")


def chosen_outcomes(runs, task: str, model: str, choose=None):
    """:func:`seed_outcomes` of ``model`` on ``task`` at its chosen learning rate
    (``choose``, default :func:`choose_rate`); ``runs``: the study's table."""
    mine = runs[(runs["task"] == task) & (runs["model"] == model)]
    by_rate = dict(zip(mine["lr"], mine["result"]))
    return seed_outcomes(by_rate[(choose or choose_rate)(by_rate)])


def seed_outcomes(result: dict):
    """One row per seed of a recorded unit: its ``train`` and ``test`` scores, whether
    it ``met`` the criterion on validation, ``fits`` its training trials at the
    criterion, and has ``learned`` (met it, and its test score is at the criterion)."""
    seeds = pd.DataFrame(result["seeds"]).T
    angle = result["test_metric"].endswith("angular_error")
    at = (lambda s: s <= ANGLE_CRITERION) if angle else (lambda s: s >= CRITERION)
    train, test = seeds["train"].astype(float), seeds["test"].astype(float)
    met = seeds["met"].astype(bool)
    return pd.DataFrame({"train": train, "test": test, "met": met, "fits": at(train),
                         "learned": met & at(test), "updates": seeds["criterion_updates"]})


def results_table(study, choose=None):
    """One row per finished task-model pair (its learning-rate grid complete) at its
    chosen rate (``choose``, default :func:`choose_rate`): seeds at the criterion,
    training and test scores beside the test baseline, and the verdict."""
    choose = choose or choose_rate
    runs, running = study.table(), {(u["task"], u["model"]) for u in study.pending()}
    rows = []
    for (task, model), group in runs.groupby(["task", "model"], sort=False):
        if (task, model) in running:
            continue  # its grid is not finished: no verdict yet
        by_rate = dict(zip(group["lr"], group["result"]))
        lr = choose(by_rate)
        result = by_rate[lr]
        seeds = seed_outcomes(result)
        angle = result["test_metric"].endswith("angular_error")
        met, learned, test = int(seeds["met"].sum()), int(seeds["learned"].sum()), seeds["test"]
        rows.append({
            "task": task, "model": model, "rate": f"{lr:g}", "rates tried": len(by_rate),
            "rates diverged": ", ".join(f"{r:g}" for r in sorted(by_rate)
                                        if "diverged" in by_rate[r]),
            "on grid edge": on_edge(list(by_rate), lr),
            "seeds at criterion": met, "seeds learned": learned, "of": len(seeds),
            "median updates to criterion": seeds.loc[seeds["met"], "updates"].median(),
            "score": "error (deg)" if angle else "accuracy",
            "train (mean)": seeds["train"].mean(), "test (mean)": test.mean(),
            "test (min)": test.min(), "test (max)": test.max(),
            "baseline": result["baseline"], "test copies": result["test_copies"],
            "verdict": _verdicts.verdict(
                learned, met, len(seeds), bool(seeds["fits"].all()),
                _verdicts.above_chance(test, result["baseline"], angle, N_TEST))})
    return pd.DataFrame(rows)


def units(results: dict, quick: bool = False) -> list[dict]:
    """Every unit needed given the results so far (three rates per task and model, then
    one more beyond the edge while the chosen rate sits on it)."""
    plan = QUICK if quick else dict(tasks=task_names(), models=MODELS, seeds=SEEDS,
                                    rates=START_RATES, max_epochs=MAX_EPOCHS)
    return plan_units(results, plan, cap_updates(), grow_grid=not quick)


def plan_units(results: dict, plan: dict, cap: int, grow_grid: bool = True) -> list[dict]:
    """The units of a plan (tasks, models, seeds, first rates, max_epochs) given the
    results so far, scored by ``val_score`` with a cap of ``cap`` updates."""
    groups = [dict(task=t, model=m) for t in plan["tasks"] for m in plan["models"]]
    return _rates.grid_units(results, groups, plan["rates"], cap,
                             dict(seeds=plan["seeds"], max_epochs=plan["max_epochs"]),
                             grow_grid=grow_grid, score="val_score")


study = _cli.make_study(__name__)

if __name__ == "__main__":
    _cli.main(__name__)
