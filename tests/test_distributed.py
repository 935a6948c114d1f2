"""Training across processes on JAX's distributed runtime: two processes on 127.0.0.1.

Each test starts ``distributed_worker.py`` twice as a 2-process run (gloo CPU
collectives, one device per process, so the global mesh has 2 devices) and once
alone as the reference, then compares what every process wrote.
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")
TIME_LIMIT = 240  # seconds for a whole run; every process is killed after it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(scenario: str, n: int, out) -> list[dict]:
    """Run ``n`` processes of ``scenario`` to the end; return what each wrote."""
    out.mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    procs = [subprocess.Popen([sys.executable, WORKER, scenario, str(i), str(n), str(port),
                               str(out)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(n)]
    errors = []
    for i, p in enumerate(procs):
        try:
            _, err = p.communicate(timeout=TIME_LIMIT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"{scenario}: process {i} of {n} did not finish in {TIME_LIMIT} s")
        if p.returncode:
            errors.append(f"process {i} exited with {p.returncode}:\n{err[-3000:]}")
    assert not errors, "\n".join(errors)
    return [{**json.loads((out / f"{scenario}-{i}.json").read_text()), "out": str(out)}
            for i in range(n)]


def largest_difference(a, b) -> float:
    """Largest absolute difference between two nested records (``time`` left out)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return max([largest_difference(a[k], b[k]) for k in a if k != "time"], default=0.0)
    if isinstance(a, list):
        assert len(a) == len(b)
        return max([largest_difference(x, y) for x, y in zip(a, b)], default=0.0)
    if isinstance(a, (int, float)):
        return abs(a - b)
    assert a == b
    return 0.0


@pytest.fixture(scope="module")
def trainer_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    return launch("trainer", 2, root / "two"), launch("trainer", 1, root / "one")[0]


def test_two_processes_form_one_two_device_mesh(trainer_runs):
    two, one = trainer_runs
    assert [r["process"] for r in two] == [0, 1]
    assert all(r["processes"] == 2 and r["devices"] == 2 and r["used"] == 2 for r in two)
    assert one["processes"] == 1 and one["used"] == 1


def test_trainer_history_is_the_same_in_both_processes_and_as_one_process(trainer_runs):
    (p0, p1), one = trainer_runs
    for key in ("straight", "resumed", "step", "predict"):
        assert largest_difference(p0[key], p1[key]) == 0.0, key  # one computation, replicated
        assert largest_difference(p0[key], one[key]) < 1e-5, key
    assert len(p0["straight"]) == 3 and len(p0["step"]) == 1
    # the last epoch's record changed: training happened
    assert p0["straight"][-1]["train_loss"] != p0["straight"][0]["train_loss"]


def test_checkpoint_written_by_process_0_resumes_exactly_in_every_process(trainer_runs):
    (p0, p1), _ = trainer_runs
    log = os.path.join(p0["out"], "log.csv")
    with open(log) as f:
        assert len(f.read().splitlines()) == 3  # a header and 2 epochs, written once
    # 2 epochs, a checkpoint, a new Trainer loading it, 1 more epoch == 3 epochs straight
    assert largest_difference(p0["resumed"], p0["straight"]) == 0.0
    assert largest_difference(p1["resumed"], p1["straight"]) == 0.0


def test_sweep_copies_spread_over_processes_match_one_process(tmp_path):
    two = launch("sweep", 2, tmp_path / "two")
    (one,) = launch("sweep", 1, tmp_path / "one")
    assert all(r["used"] == 2 for r in two) and one["used"] == 1
    assert len(one["straight"]) == 4  # 2 learning rates x 2 seeds
    for key in ("straight", "resumed", "evaluate", "scheduled"):
        assert largest_difference(two[0][key], two[1][key]) == 0.0, key
        assert largest_difference(two[0][key], one[key]) < 1e-5, key
    assert largest_difference(two[0]["resumed"], two[0]["straight"]) == 0.0


def test_processes_that_disagree_get_a_clear_error(tmp_path):
    runs = launch("disagree", 2, tmp_path)
    for r in runs:
        assert "2 processes disagree in Trainer on weights" in r["seed"]  # when built
        assert "disagree in Trainer.fit on train trials (process 0: 104, process 1: 96)" \
            in r["data"]
        assert "same seed" in r["data"]
        assert "disagree in Trainer.evaluate on data (process 0:" in r["evaluate"]
        assert "trials" not in r["evaluate"]  # 32 trials in both


def test_a_process_whose_peer_never_starts_ends_by_itself(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", "INIT_TIMEOUT": "5"}
    start = time.monotonic()
    # process 0 of 2, and no process 1
    done = subprocess.run([sys.executable, WORKER, "trainer", "0", "2", str(free_port()),
                           str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=TIME_LIMIT)
    assert done.returncode != 0
    assert time.monotonic() - start < 90
    assert not (tmp_path / "trainer-0.json").exists()
