"""Sessions: `nox -s tests` (the test suite), `nox -s docs` (build and check the site),
`nox -s claims` (execute the tutorials and check their claims, no HTML), and, not run by
default, `nox -s bench` (benchmarks/compare_loops.py; e.g. `nox -s bench -- --quick`)."""

import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
BUILD = ROOT / "docs" / "_build"
nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"
# Run on the interpreter that runs nox: CI sets CI=true, and nox then fails on a
# missing interpreter rather than skipping it.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def install(session, group):
    """Install braintask and one of its [dependency-groups] from pyproject.toml."""
    groups = nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), group)
    session.install("-e", ".", *groups)


@nox.session(python=PYTHON)
def tests(session):
    """Unit tests and doctests (pytest)."""
    install(session, "test")
    session.run("pytest", *session.posargs, env={"MPLBACKEND": "Agg"})


def sphinx(session, builder, out):
    # Start from no executed notebooks, so the checker can only read this run's outputs.
    shutil.rmtree(BUILD / "jupyter_execute", ignore_errors=True)
    # Persistent JAX compilation cache: rebuilds reuse compiled programs.
    env = {"MPLBACKEND": "Agg", "JAX_COMPILATION_CACHE_DIR": str(BUILD / ".jax_cache")}
    session.run(
        "sphinx-build", "-E", "-W", "-n", "--keep-going", "-b", builder,
        "-d", str(BUILD / "doctrees"), "docs", str(out), *session.posargs, env=env,
    )
    session.run("python", "docs/check_claims.py", str(BUILD / "jupyter_execute"))


@nox.session(python=PYTHON)
def docs(session):
    """Build the HTML site (notebooks executed) and check every claim."""
    install(session, "docs")
    sphinx(session, "html", BUILD / "html")
    session.log(f"site written to {BUILD / 'html' / 'index.html'}")


@nox.session(python=PYTHON)
def claims(session):
    """Execute the tutorials with the dummy builder and check their claims (no HTML)."""
    install(session, "docs")
    sphinx(session, "dummy", BUILD / "dummy")


@nox.session(python=PYTHON, default=False)
def bench(session):
    """Time the training loops against each other (benchmarks/compare_loops.py); not a default session.

    Arguments after `--` go to the script, e.g. `nox -s bench -- --quick --workload case`.
    """
    install(session, "test")
    session.run("python", "benchmarks/compare_loops.py", *session.posargs, env={"MPLBACKEND": "Agg"})
