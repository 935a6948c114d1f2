"""Study: which brain dynamics can learn a cognitive task? The model families of the BrainX
stack (an oscillator network, neural masses, a spiking network) beside GRU and vanilla
RNN baselines, on two braintools.cogtask tasks, trained the way the task atlas trains.

Every unit follows the task atlas's protocol (studies/atlas.py: fresh noisy trials every
epoch, the response weighted in the loss after a grace period, three seeds side by side,
a learning rate chosen on validation from a grid that grows at its edge, a criterion of
0.9 on the response steps in two consecutive epochs), with a cap of 150 epochs. Every
model has about as many trainable weights as the atlas's HORN on the same task.

Run it with ``nox -s study -- gallery``, or ``python -m studies.gallery`` from the repository's
root (``--quick --record PATH`` for a small check of the whole path; ``--jobs 2`` for
two worker processes). It resumes after a kill.
"""

from __future__ import annotations

from pathlib import Path

from . import _cli, _rates, atlas

RECORD = Path(__file__).parent / "records" / "gallery.jsonl"
REGENERATE = "nox -s study -- gallery"

TASKS = ["DelayMatchSample", "PerceptualDecisionMaking"]
MODELS = ["HORN", "Wilson-Cowan", "Stuart-Landau", "Wong-Wang", "LIF spiking", "GRU", "RNN"]
#: Each model's dynamical regime, in words, for the page.
REGIMES = {
    "HORN": "damped harmonic oscillators (alpha 0.2), natural periods 80-800 ms",
    "Wilson-Cowan": "E-I rate units, brainmass defaults (tau_E 1 ms), coupled through rE",
    "Stuart-Landau": "damped oscillators (a = -0.05), random initial states per trial",
    "Wong-Wang": "NMDA-gated decision units (tau_S 100 ms), 10 ms steps, input gain 30",
    "LIF spiking": "leaky integrate-and-fire (tau 10 ms), surrogate gradient",
    "GRU": "gated recurrent units",
    "RNN": "vanilla tanh units",
}
DT_MS = {"Wong-Wang": 10.0}  # integration step; 1 ms for every other model
SEEDS = [0, 1, 2]
START_RATES = atlas.START_RATES
MAX_EPOCHS = 150  # cap: 1,200 updates
RECHECK_EPOCHS = atlas.RECHECK_EPOCHS
QUICK = dict(tasks=["PerceptualDecisionMaking"], models=["Wilson-Cowan"], seeds=[0, 1],
             rates=[1e-2], max_epochs=2)
#: Models whose training does not amplify rounding. Re-run for two epochs on a second
#: x86 CPU (AMD Zen 3, not the recording one; 2026-12-03), every number of HORN's units
#: here and of the task atlas's HORN, GRU and RNN units moved by at most 2e-4, while
#: the losses of Wilson-Cowan's, Stuart-Landau's and Wong-Wang's units moved by 0.4-81%:
#: within a few updates, their training turns a rounding difference into another
#: trajectory.
ROUNDING_STABLE = ("HORN", "GRU", "RNN")


def build_node(name: str, n: int, n_input: int, n_output: int):
    """A model of the stack with ``n`` units, read out at every step."""
    import brainmass

    import braintask

    if name == "Wilson-Cowan":
        return braintask.NodeNetwork(brainmass.WilsonCowanStep(n), n_input, n_output,
                                     drive="rE_inp", couple_from="rE", per_step=True)
    if name == "Stuart-Landau":
        return braintask.NodeNetwork(brainmass.StuartLandauStep(n, a=-0.05), n_input,
                                     n_output, drive="x_inp", couple_from="x",
                                     read=("x", "y"), per_step=True)
    if name == "Wong-Wang":
        return braintask.NodeNetwork(brainmass.WongWangStep(n), n_input, n_output,
                                     drive="coherence", couple_from="S1",
                                     read=("S1", "S2"), input_gain=30.0, per_step=True)
    if name == "LIF spiking":
        return braintask.SpikingNetwork(n_input, n, n_output, per_step=True)
    raise ValueError(f"unknown model {name!r}; the study has {MODELS}")


def build_model(name: str, n_input: int, n_output: int):
    """HORN, GRU and RNN as in the task atlas; every other model with the number of
    units that brings its trainable weights closest to HORN's."""
    import braintask

    if name in atlas.MODELS:
        return atlas.build_model(name, n_input, n_output)
    target = braintask.count_parameters(atlas.build_model("HORN", n_input, n_output))
    size = lambda n: braintask.count_parameters(build_node(name, n, n_input, n_output))
    lo, hi = 2, 256  # weights grow with n: bisect for the last n at or below the target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if size(mid) <= target else (lo, mid - 1)
    n = min((lo, lo + 1), key=lambda m: abs(size(m) - target))
    return build_node(name, n, n_input, n_output)


def run_unit(unit: dict, recheck: bool = False) -> dict:
    """Train one model on one task at one learning rate, every seed, to criterion."""
    random_start = unit["model"] == "Stuart-Landau"  # random initial states
    options = dict(init_states="per_trial") if random_start else {}
    return atlas.train_unit(unit, build_model, recheck,
                            dt_ms=DT_MS.get(unit["model"], 1.0), **options)


def unit_to_recheck(study, day=None) -> dict:
    """The unit a build re-runs today (``study.unit_for_today``): any recorded unit
    on the machine and library versions that made it, where the re-run must match
    bit for bit; elsewhere a unit of a model in ``ROUNDING_STABLE``, whose re-run
    can be compared within a tolerance."""
    return study.unit_for_today(day=day, where=lambda unit: study.made_here(unit)
                                or unit["model"] in ROUNDING_STABLE)


def rate_score(result: dict) -> tuple:
    """How good a learning rate was, from validation only (see studies/_rates.py)."""
    return _rates.rate_score(result, atlas.cap_updates(MAX_EPOCHS), score="val_score")


def choose_rate(results_by_rate: dict) -> float:
    """The learning rate with the best :func:`rate_score`."""
    return _rates.choose_rate(results_by_rate, atlas.cap_updates(MAX_EPOCHS),
                              score="val_score")


def results_table(study):
    """One row per finished task-model pair at its chosen rate (see
    ``atlas.results_table``), with the model's trainable weights."""
    table = atlas.results_table(study, choose_rate)
    weights = {(row["task"], row["model"]): row["result"]["parameters"]
               for _, row in study.table().iterrows()}
    table.insert(2, "weights", [weights[t, m] for t, m in zip(table["task"], table["model"])])
    return table


def units(results: dict, quick: bool = False) -> list[dict]:
    """Every unit needed given the results so far (three rates per task and model, then
    one more beyond the edge while the chosen rate sits on it)."""
    plan = QUICK if quick else dict(tasks=TASKS, models=MODELS, seeds=SEEDS,
                                    rates=START_RATES, max_epochs=MAX_EPOCHS)
    return atlas.plan_units(results, plan, atlas.cap_updates(MAX_EPOCHS),
                            grow_grid=not quick)


study = _cli.make_study(__name__)

if __name__ == "__main__":
    _cli.main(__name__)
