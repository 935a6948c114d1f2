"""braintask.Study: resumable records with provenance, grown units, re-checks.

The units of most tests here are functions of this file, which may have uncommitted
edits while the suite runs: those tests record drafts (``drafts=True``), and one test
checks the refusal itself in a repository of its own."""

import datetime
import json

import pytest

import braintask


def poly(unit, recheck=False):
    """A deterministic unit: a 'history' of 6 numbers (3 when re-checking)."""
    values = [unit["a"] * t + unit.get("b", 0) for t in range(6)]
    return {"history": values[:3] if recheck else values, "final": values[-1]}


def units(n=3):
    return [{"a": a} for a in range(n)]


def test_run_records_every_unit_with_its_provenance(tmp_path):
    study = braintask.Study(poly, units(), tmp_path / "r.jsonl", regenerate="redo")
    table = study.run(log=None, drafts=True)
    assert list(table["a"]) == [0, 1, 2]
    assert [r["final"] for r in table["result"]] == [0, 5, 10]
    entry = next(iter(study.entries().values()))
    assert {"commit", "versions", "hardware", "date", "command"} <= set(entry["provenance"])
    assert entry["provenance"]["versions"]["braintask"] == braintask.__version__
    assert study.pending() == []


def test_a_killed_study_resumes_and_ends_with_the_straight_record(tmp_path):
    straight = braintask.Study(poly, units(4), tmp_path / "straight.jsonl", regenerate="redo")
    straight.run(log=None, drafts=True)

    calls = []

    def dies_on_third(unit, **options):
        calls.append(unit["a"])
        if len(calls) == 3:
            raise KeyboardInterrupt  # the kill
        return poly(unit, **options)

    path = tmp_path / "killed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        braintask.Study(dies_on_third, units(4), path, regenerate="redo").run(log=None,
                                                                            drafts=True)
    # a kill while writing leaves half a line: it is dropped, not read
    with open(path, "a") as f:
        f.write('{"key": "{\\"a\\": 2}", "res')
    resumed = braintask.Study(poly, units(4), path, regenerate="redo")
    assert [u["a"] for u in resumed.pending()] == [2, 3]
    resumed.run(log=None, drafts=True)
    assert resumed.results() == straight.results()
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_units_that_depend_on_results_grow_until_none_is_missing(tmp_path):
    def grid(results):  # extend while the largest 'final' is at the edge
        a = [json.loads(k)["a"] for k in results] or [0, 1]
        top = max(a)
        return [{"a": x} for x in sorted(set(a) | {0, 1})] + ([{"a": top + 1}] if top < 4 else [])

    study = braintask.Study(poly, grid, tmp_path / "g.jsonl", regenerate="redo")
    assert sorted(study.run(log=None, drafts=True)["a"]) == [0, 1, 2, 3, 4]


def test_recheck_matches_and_an_altered_record_fails_with_the_regenerate_command(tmp_path):
    path = tmp_path / "r.jsonl"
    study = braintask.Study(poly, units(), path, regenerate="nox -s study -- poly")
    study.run(log=None, drafts=True)
    check = study.recheck({"a": 2})
    assert check["matches"] and check["same_machine"] and check["compared"] == 4  # 3 of 6 history values, and final
    assert check["max_difference"] == 0.0

    lines = path.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["result"]["history"][1] += 1e-6  # a record the code no longer makes
    lines[2] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    check = study.recheck({"a": 2})
    assert not check["matches"]
    assert "nox -s study -- poly" in check["message"] and "history[1]" in check["message"]
    # another machine: within the stated tolerance
    entry["provenance"]["hardware"]["cpu"] = "another CPU"
    lines[2] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    assert study.recheck({"a": 2}, tolerance=1e-3)["matches"]
    assert not study.recheck({"a": 2}, tolerance=1e-9)["matches"]


def test_the_rechecked_unit_changes_by_day_and_respects_a_time_bound(tmp_path):
    study = braintask.Study(poly, units(3), tmp_path / "r.jsonl", regenerate="redo")
    study.run(log=None, drafts=True)
    day = datetime.date(2026, 12, 3)
    picks = {study.unit_for_today(day=day + datetime.timedelta(d))["a"] for d in range(3)}
    assert picks == {0, 1, 2}
    assert study.unit_for_today(day=day) == study.unit_for_today(day=day)
    with pytest.raises(ValueError, match="redo"):
        study.unit_for_today(max_seconds=-1)
    odd = {study.unit_for_today(day=day + datetime.timedelta(d), where=lambda u: u["a"] % 2)["a"]
           for d in range(4)}
    assert odd == {1}
    with pytest.raises(ValueError, match="passes `where`"):
        study.unit_for_today(where=lambda u: False)


def test_made_here_is_false_for_another_machine_or_versions_and_for_no_record(tmp_path):
    path = tmp_path / "r.jsonl"
    study = braintask.Study(poly, units(2), path, regenerate="redo")
    study.run(log=None, drafts=True)
    assert study.made_here({"a": 0}) and study.made_here({"a": 1})
    assert not study.made_here({"a": 7})
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["provenance"]["versions"]["jax"] = "0.0.1"
    lines[0] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    assert not study.made_here({"a": 0}) and study.made_here({"a": 1})
    assert not study.recheck({"a": 0}, tolerance=0.0)["same_machine"]


def test_bad_study_input_is_named(tmp_path):
    with pytest.raises(TypeError, match="JSON values"):
        braintask.Study(poly, [{"a": object()}], tmp_path / "r.jsonl", regenerate="x")
    with pytest.raises(TypeError, match="callable"):
        braintask.Study("poly", units(), tmp_path / "r.jsonl", regenerate="x")
    study = braintask.Study(poly, units(), tmp_path / "r.jsonl", regenerate="make it")
    with pytest.raises(KeyError, match="make it"):
        study.recheck({"a": 0})
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n{}\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        braintask.Study(poly, units(), path, regenerate="x").entries()


def grown_groups(results):
    """Two groups; group 0's grid grows by one unit once its first two are recorded."""
    done = {json.loads(k)["a"] for k in results}
    grown = [{"a": 2}] if {0, 1} <= done else []
    return [{"a": 0}, {"a": 1}] + grown + [{"a": 10}]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_grown_unit_runs_before_the_next_group_starts(tmp_path, jobs):
    study = braintask.Study(poly, grown_groups, tmp_path / "o.jsonl", regenerate="x")
    lines = []
    study.run(jobs=jobs, log=lines.append, drafts=True)
    order = [json.loads(k)["a"] for k in study.entries()]
    assert sorted(order) == [0, 1, 2, 10]
    if jobs == 1:  # the grown unit is asked for as soon as its group's results are in
        assert order == [0, 1, 2, 10]
    else:  # a worker that is free takes the first unit pending then
        assert order[-1] in (2, 10) and set(order[:2]) <= {0, 1, 10}
    assert lines[-1].endswith("(0 pending)")


@pytest.mark.slow
def test_units_run_in_worker_processes_as_here(tmp_path):
    here = braintask.Study(poly, units(3), tmp_path / "here.jsonl", regenerate="x")
    here.run(log=None, drafts=True)
    pool = braintask.Study(poly, units(3), tmp_path / "pool.jsonl", regenerate="x")
    pool.run(jobs=2, log=None, drafts=True)
    assert pool.results() == here.results()


def test_a_study_script_is_loaded_with_its_rules(tmp_path):
    script = tmp_path / "squares.py"
    script.write_text(
        "import braintask\n"
        "def run(unit, recheck=False):\n    return {'square': unit['x'] ** 2}\n"
        "RULE = 'squares'\n"
        f"study = braintask.Study(run, [{{'x': 3}}], {str(tmp_path / 'sq.jsonl')!r}, "
        "regenerate='python squares.py')\n")
    study = braintask.Study.from_script(script)
    assert study.script.RULE == "squares"
    assert study.run(log=None, drafts=True)["result"][0] == {"square": 9}
    with pytest.raises(TypeError, match="no Study named 'other'"):
        braintask.Study.from_script(script, name="other")
    with pytest.raises(FileNotFoundError):
        braintask.Study.from_script(tmp_path / "missing.py")


def test_a_script_in_a_package_folder_is_loaded_as_a_module_of_that_package(tmp_path):
    import sys

    folder = tmp_path / "squares_package"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "_rule.py").write_text("RULE = 'squares'\n")
    (folder / "squares.py").write_text(
        "import braintask\n"
        "from . import _rule\n"
        "def run(unit, recheck=False):\n    return {'square': unit['x'] ** 2}\n"
        f"study = braintask.Study(run, [{{'x': 3}}], {str(tmp_path / 'sq.jsonl')!r}, "
        "regenerate='python -m squares_package.squares')\n")
    try:
        study = braintask.Study.from_script(folder / "squares.py")
        assert study.script.__name__ == "squares_package.squares"
        assert study.script._rule.RULE == "squares"
        assert sys.modules["squares_package"].__path__ == [str(folder.resolve())]
        assert braintask.Study.from_script(folder / "squares.py") is study  # imported once
        other = tmp_path / "elsewhere" / "squares_package"  # same name, another folder
        other.mkdir(parents=True)
        (other / "__init__.py").write_text("")
        (other / "squares.py").write_text("")
        with pytest.raises(ImportError, match="another 'squares_package' is imported"):
            braintask.Study.from_script(other / "squares.py")
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "squares_package"]:
            del sys.modules[name]


def test_the_repository_is_the_nearest_folder_with_braintask_and_its_studies(tmp_path):
    clone = tmp_path / "clone"
    (clone / "studies").mkdir(parents=True)
    (clone / "docs" / "tutorials").mkdir(parents=True)
    (clone / "pyproject.toml").write_text('[project]\nname = "braintask"\n')
    assert braintask.Study.repository(clone / "docs" / "tutorials") == clone.resolve()
    assert braintask.Study.repository(clone) == clone.resolve()
    (clone / "pyproject.toml").write_text('[project]\nname = "another"\n')
    with pytest.raises(FileNotFoundError, match="git clone") as error:
        braintask.Study.repository(clone / "docs")
    assert "not inside a clone of the braintask repository" in str(error.value)
    assert "from anywhere inside the clone" in str(error.value)


def test_provenance_table_counts_units_and_hours(tmp_path):
    study = braintask.Study(poly, units(3), tmp_path / "r.jsonl", regenerate="x")
    assert len(study.provenance()) == 0
    study.run(log=None, drafts=True)
    table = study.provenance()
    assert len(table) == 1 and table["units"][0] == 3
    assert table["hours"][0] == round(sum(e["seconds"] for e in study.entries().values()) / 3600, 2)
    assert "cpu_cores" in table["machine"][0] and "braintask" in table["versions"][0]


def test_provenance_marks_changes_only_in_the_watched_code(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("notes\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    (tmp_path / "notes.md").write_text("other notes\n")
    clean = braintask.provenance(tmp_path, watch=[tmp_path / "code"])
    assert not clean["commit"].endswith("+changes")
    assert braintask.provenance(tmp_path)["commit"].endswith("+changes")
    (tmp_path / "code" / "a.py").write_text("x = 2\n")
    assert braintask.provenance(tmp_path, watch=[tmp_path / "code"])["commit"].endswith("+changes")


def test_the_provenance_is_taken_when_a_run_starts(tmp_path, monkeypatch):
    import braintask._study.study as study_module

    calls = []
    real = study_module.provenance

    def counted(*args, **kwargs):
        calls.append(1)
        return dict(real(*args, **kwargs), commit=f"commit-{len(calls)}")

    monkeypatch.setattr(study_module, "provenance", counted)
    study = braintask.Study(poly, units(3), tmp_path / "r.jsonl", regenerate="x")
    study.run(log=None, drafts=True)
    commits = {e["provenance"]["commit"] for e in study.entries().values()}
    assert commits == {"commit-1"} and len(calls) == 1  # once per run, not per unit
    dates = [e["provenance"]["date"] for e in study.entries().values()]
    assert dates == sorted(dates)


def test_same_hardware_ignores_the_kernel_build_but_not_the_cpu():
    here = braintask.hardware()
    assert here["cpu_id"] and here["cpu_cores"] >= 1
    assert braintask.same_hardware(here, dict(here, platform="Linux-another-build"))
    for field, other in [("cpu_id", "vendor other family 1"), ("cpu_isa", "sse4_1"),
                         ("cpu_cores", here["cpu_cores"] + 1), ("devices", ["gpu:H200"])]:
        assert not braintask.same_hardware(here, dict(here, **{field: other})), field
    # a record made before the CPU's identity was recorded: not comparable bit for bit
    old = {k: v for k, v in here.items() if k not in ("cpu_id", "cpu_isa")}
    assert not braintask.same_hardware(old, here)


def test_a_study_refuses_to_record_units_from_uncommitted_code(tmp_path):
    import subprocess

    from helpers import import_file

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    code = tmp_path / "code"
    code.mkdir()
    (code / "unit.py").write_text("def run_unit(unit, **options):\n    return {'y': unit['x']}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    run_unit = import_file(code / "unit.py").run_unit
    record = tmp_path / "records" / "r.jsonl"
    study = braintask.Study(run_unit, [{"x": 1}], record, regenerate="redo")
    assert study.run(log=None)["result"].tolist() == [{"y": 1}]  # committed: recorded
    (code / "unit.py").write_text("def run_unit(unit, **options):\n    return {'y': 2}\n")
    study = braintask.Study(run_unit, [{"x": 1}, {"x": 2}], record, regenerate="redo")
    with pytest.raises(RuntimeError, match="uncommitted changes.*run\\(drafts=True\\)"):
        study.run(log=None)
    assert len(study.entries()) == 1 and study.drafts() == []  # nothing appended
    study.run(log=None, drafts=True)
    assert study.drafts() == [braintask._study.study.unit_key({"x": 2})]
    assert study.entries()[study.drafts()[0]]["provenance"]["commit"].endswith("+changes")


def test_a_watched_path_outside_the_repository_does_not_hide_changes(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path / "repo", check=True, capture_output=True)

    (tmp_path / "repo" / "code").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    git("init", "-q")
    (tmp_path / "repo" / "code" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    watch = [tmp_path / "repo" / "code", tmp_path / "elsewhere"]
    assert not braintask.provenance(tmp_path / "repo", watch=watch)["commit"].endswith("+changes")
    (tmp_path / "repo" / "code" / "a.py").write_text("x = 2\n")
    assert braintask.provenance(tmp_path / "repo", watch=watch)["commit"].endswith("+changes")
    assert not braintask.provenance(tmp_path / "repo", watch=[tmp_path / "elsewhere"])[
        "commit"].endswith("+changes")  # nothing of this repository watched
