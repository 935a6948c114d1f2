"""The repository's recorded studies (the package studies/): their shared learning-rate
rule, and each study's quick mode, which runs the whole path of a unit and its re-check."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import braintask

ROOT = Path(__file__).parents[1]
STUDIES = ROOT / "studies"
# Loading a study imports its folder as the package studies, whose modules then import.
braintask.Study.from_script(STUDIES / "memory.py")

from studies import _cli, _rates  # noqa: E402


def result(met, updates, val):
    return {"seeds": {str(i): {"met": m, "criterion_updates": u, "val_acc": v}
                      for i, (m, u, v) in enumerate(zip(met, updates, val))}}


def grow_grid(run):
    """Results of ``run(lr)`` for every unit the grid rule asks for, starting from
    [1e-3, 3e-3, 1e-2], until it asks for nothing more."""
    results = {}
    while todo := [u for u in _rates.grid_units(results, [{"m": 1}], [1e-3, 3e-3, 1e-2],
                                                1200, {})
                   if json.dumps(u, sort_keys=True) not in results]:
        for unit in todo:
            results[json.dumps(unit, sort_keys=True)] = run(unit["lr"])
    return results


def test_the_rate_rule_counts_seeds_then_speed_then_validation():
    slow = result([True, True], [400, 600], [0.95, 0.95])
    fast = result([True, True], [100, 300], [0.91, 0.92])
    fewer = result([True, False], [50, None], [0.99, 0.5])
    assert _rates.choose_rate({1e-3: slow, 3e-3: fast, 1e-2: fewer}, 1200) == 3e-3
    # a seed that never met the criterion counts as the cap
    assert _rates.rate_score(fewer, 1200)[1] == -(50 + 1200) / 2


def test_the_grid_grows_past_its_edge_until_the_choice_is_inside():
    def run(lr):  # the best rate is 3e-2: learning gets faster up to it, slower after
        return result([True], [abs(round(1e4 * (lr - 3e-2))) + 10], [0.95])

    results = {}
    while True:
        needed = _rates.grid_units(results, [{"model": "m"}], [1e-3, 3e-3, 1e-2], 1200,
                                   {"seeds": [0]})
        todo = [u for u in needed if json.dumps(u, sort_keys=True) not in results]
        if not todo:
            break
        for unit in todo:
            results[json.dumps(unit, sort_keys=True)] = run(unit["lr"])
    rates = sorted(json.loads(k)["lr"] for k in results)
    assert rates == [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    chosen = _rates.choose_rate({json.loads(k)["lr"]: r for k, r in results.items()}, 1200)
    assert chosen == 3e-2 and not _rates.on_edge(rates, chosen)


def run_study(*args, timeout=600):
    """``python -m studies.NAME ARGS`` from the repository's root, as `nox -s study` runs it."""
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "MPLBACKEND": "Agg"})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["memory", "atlas", "gallery"])
def test_quick_study_runs_and_its_record_rechecks_bit_for_bit(name, tmp_path):
    record = tmp_path / f"{name}.jsonl"
    done = run_study(f"studies.{name}", "--quick", "--record", str(record))
    assert done.returncode == 0, done.stderr[-3000:]
    study = braintask.Study.from_script(STUDIES / f"{name}.py")
    quick = _cli.make_study(study.script, record, quick=True)
    assert quick.pending() == [] and len(quick.entries()) == 1
    check = quick.recheck(quick.unit_for_today())
    assert check["matches"] and check["same_machine"], check["message"]


@pytest.mark.slow
def test_quick_mode_refuses_to_write_the_studys_record():
    done = run_study("studies.memory", "--quick", timeout=300)
    assert done.returncode != 0 and "--quick needs --record" in done.stderr


def test_a_study_is_a_module_of_the_package_studies():
    study = braintask.Study.from_script(STUDIES / "gallery.py")
    gallery = study.script
    assert gallery.__name__ == "studies.gallery" and study.record == gallery.RECORD
    assert gallery.atlas is sys.modules["studies.atlas"]  # its neighbour, imported once
    assert study.regenerate == "nox -s study -- gallery"
    # the shared command line: the study's own record, or --quick into another
    assert _cli.make_study(gallery).record == gallery.RECORD
    assert _cli.make_study("studies.gallery", Path("q.jsonl"), quick=True).record.name == "q.jsonl"
    with pytest.raises(SystemExit):
        _cli.main(gallery, ["--quick"])  # --quick needs --record


def test_a_recorded_study_is_found_from_anywhere_inside_the_clone(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT / "docs" / "tutorials")
    study = braintask.Study.recorded("memory")
    assert study.script is sys.modules["studies.memory"] and study.entries()
    assert braintask.Study.repository() == ROOT
    monkeypatch.chdir(tmp_path)  # outside a clone: it says how to get one
    with pytest.raises(FileNotFoundError, match="not inside a clone of the braintask"):
        braintask.Study.recorded("memory")


def test_when_no_rate_meets_the_criterion_the_grid_grows_at_both_ends():
    def run(lr):  # only the highest rate of the ladder learns
        ok = lr >= 1e-1
        return result([ok], [100 if ok else None], [0.95 if ok else 0.5 + lr])

    results = grow_grid(run)
    rates = sorted(json.loads(k)["lr"] for k in results)
    assert 1e-1 in rates and 3e-4 in rates  # it searched both ways until one rate worked


def test_a_rate_whose_training_diverged_ranks_last_and_the_grid_finishes():
    def run(lr):  # nothing learns; validation creeps up with the rate, 1e-1 blows up
        if lr >= 1e-1:
            return dict(result([False], [None], [float("nan")]), diverged="NaN at epoch 3")
        return result([False], [None], [0.5 + lr])

    results = grow_grid(run)
    by_rate = {json.loads(k)["lr"]: r for k, r in results.items()}
    assert sorted(by_rate) == _rates.LADDER  # searched both ways to the ladder's ends
    assert _rates.choose_rate(by_rate, 1200) == 3e-2  # the best that did not diverge
    assert _rates.rate_score(by_rate[1e-1], 1200) < _rates.rate_score(by_rate[1e-4], 1200)


def test_learned_needs_the_test_score_at_criterion_not_only_validation():
    import numpy as np
    import pandas as pd

    from studies import _verdicts, atlas

    class Recorded:  # a study's record: one finished task-model pair at one rate
        def __init__(self, tests):
            seeds = {str(i): {"met": True, "criterion_updates": 100, "val_score": 0.92,
                              "train": 0.93, "test": t} for i, t in enumerate(tests)}
            self.result = {"seeds": seeds, "test_metric": "decision_acc",
                           "baseline": 0.515, "test_copies": 0}

        def table(self):  # and a higher rate whose training diverged
            diverged = dict(self.result, diverged="NaN in epoch 3")
            return pd.DataFrame([dict(task="T", model="M", lr=1e-2, result=self.result),
                                 dict(task="T", model="M", lr=1e-1, result=diverged)])

        def pending(self):
            return []

    # every seed met the criterion on validation; the test scores decide
    verdict = atlas.results_table(Recorded([0.93, 0.91, 0.88]))["verdict"][0]
    assert verdict == "learned in 2 of 3 seeds"
    verdict = atlas.results_table(Recorded([0.89, 0.88, 0.88]))["verdict"][0]
    assert verdict == "criterion met on validation only (3 of 3 seeds)"
    table = atlas.results_table(Recorded([0.9, 0.95, 0.99]))
    assert table["verdict"][0] == "learned"
    assert (table["rate"][0], table["rates diverged"][0]) == ("0.01", "0.1")
    # 1024 test trials: two standard errors at p = 0.5 are 0.031
    assert _verdicts.above_chance(np.array([0.56, 0.6]), 0.515, False, 1024)
    assert not _verdicts.above_chance(np.array([0.56, 0.54]), 0.515, False, 1024)
    assert _verdicts.verdict(0, 0, 3, False, True) == (
        "not learned within the cap, above chance")
    assert _verdicts.verdict(0, 0, 3, True, False) == "not learned: fits training trials only"
    assert not _verdicts.above_chance(np.array([40.0]), 41.0, True, 1024)  # angle errors
    assert _verdicts.above_chance(np.array([30.0]), 41.0, True, 1024)


def test_the_summing_observer_reads_the_evidence_and_only_the_evidence():
    from types import SimpleNamespace

    import numpy as np
    from scipy.stats import norm

    from studies import _observer

    def trials(seed, signal, n=512, steps=20):
        """Channel 0 carries +-signal per step by the answer (1 or 2), under unit noise;
        the answer is due on the last 5 steps, whose inputs must not be summed."""
        rng = np.random.default_rng(seed)
        answer = rng.integers(1, 3, n)
        inputs = rng.standard_normal((n, steps, 2))
        inputs[:, :, 0] += signal * np.where(answer == 1, -1.0, 1.0)[:, None]
        inputs[:, -5:] = 100.0 * (answer == 2)[:, None, None]  # the answer itself
        decision = np.zeros((n, steps), bool)
        decision[:, -5:] = True
        targets = np.where(decision, answer[:, None], 0)
        return SimpleNamespace(inputs=inputs, targets=targets, decision=decision)

    evidence, answer = _observer.summed_evidence(trials(0, 0.0, n=4, steps=20))
    assert evidence.shape == (4, 2) and set(answer) <= {1, 2}
    assert np.all(np.abs(evidence) < 100)  # the scored steps are not in the sum
    for signal in [0.0, 0.1, 0.3]:  # the best possible: Phi(signal * sqrt(15 steps))
        source = SimpleNamespace(trials=lambda epoch: trials(epoch, signal))
        accuracy = _observer.observer_accuracy(source, trials(99, signal, n=2048))
        best = norm.cdf(signal * np.sqrt(15))
        assert abs(accuracy - best) < 0.03, (signal, accuracy, best)


def test_progress_says_how_to_go_on_only_while_pairs_are_unfinished():
    from studies import _verdicts

    assert _verdicts.progress(69, 69, 0, "atlas") == "all 69 task-model pairs are finished."
    text = _verdicts.progress(50, 69, 19, "atlas")
    assert text.startswith("50 of the 69 task-model pairs are finished, and 19 are not yet")
    assert "`nox -s study -- atlas`" in text
