import os

os.environ.setdefault("MPLBACKEND", "Agg")

import brainstate
import brainunit as u
import pytest

import braintask
from helpers import make_horn  # noqa: F401  (tests import it from here too)


brainstate.environ.set(dt=1.0 * u.ms)  # for module-scoped fixtures too

# a script that test_distributed.py starts as separate processes, not a test module
collect_ignore = ["distributed_worker.py"]


@pytest.fixture(autouse=True)
def dt_one_ms():
    """HORN reads dt from brainstate.environ; the case study uses 1 ms."""
    brainstate.environ.set(dt=1.0 * u.ms)
    yield
    brainstate.environ.set(dt=1.0 * u.ms)


@pytest.fixture
def small_task():
    """A quick task: 96 trials of 6 steps, 64 to train on; input noise makes every
    held-out trial new."""
    return braintask.delayed_match_task(96, seq_len=6, n_symbols=2, seed=3, noise=0.05).split(64)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (CI runs them; `nox -s tests` leaves "
                          "them out to stay quick)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(scope="module")
def dms():
    """Noisy 2-symbol delayed match-to-sample, 192 trials to train on and 64 held out:
    every held-out trial is new."""
    return braintask.delayed_match_task(256, seq_len=8, n_symbols=2, seed=5,
                                        noise=0.05).split(192)

