"""Sessions: `nox -s tests` (the test suite), `nox -s docs` (build and check the site),
`nox -s claims` (execute the tutorials and check their claims, no HTML), `nox -s package`
(sdist and wheel, `twine check --strict`), and, not run by default, `nox -s site` (the
built site in Chromium), `nox -s readers` / `nox -s notebooks` (the built site's code
and notebooks run without the site's tooling), `nox -s bench` (benchmarks/compare_loops.py;
e.g. `nox -s bench -- --quick`), `nox -s bench_neurogym` (benchmarks/fresh_trials.py:
braintask against neurogym + PyTorch on fresh trials; e.g. `nox -s bench_neurogym -- --quick`),
`nox -s typecheck` (mypy on src/braintask, configured in pyproject.toml's [tool.mypy]),
`nox -s lowest` (the tests with every dependency at its lowest allowed version; needs uv)."""

import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
BUILD = ROOT / "docs" / "_build"
PAGES = BUILD / "pages"  # the pages rendered without executing them (`nox -s pages`)
nox.options.sessions = ["tests"]
# uv makes each environment in seconds (pip takes about 1.5 minutes for the test one);
# without uv on PATH (`pip install uv`), nox falls back to venv and pip.
nox.options.default_venv_backend = "uv|venv"
# Run on the interpreter that runs nox: CI sets CI=true, and nox then fails on a
# missing interpreter rather than skipping it.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def install(session, group, extras=""):
    """Install braintask (with ``extras``, e.g. "[spiking]") and one of its
    [dependency-groups] from pyproject.toml."""
    groups = nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), group)
    session.install("-e", f".{extras}", *groups)


# JAX's persistent compilation cache, one for every session: a test that compiles a
# program another test (or another Python's run of the suite) compiled before reads it
# from disk, and so do a rebuild of the site and the tutorials run as scripts after the
# notebooks. Training programs here compile in well under JAX's default 1 s threshold,
# so cache all. The tests count traces, not compilations, so a cached program changes
# nothing they check.
JAX_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": str(ROOT / ".jax_cache"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}


@nox.session(python=PYTHON)
def tests(session):
    """Unit tests and doctests (pytest), on every core (pytest-xdist: `-n auto`, a test
    module per worker; `-- -n 0` for one process). The tests marked slow run with
    `-- --slow`. The optional spiking extra (brainpy.state neurons) is installed, so its
    tests run."""
    install(session, "test", extras="[spiking]")
    session.run("pytest", "-n", "auto", "--dist", "loadscope", *session.posargs,
                env={"MPLBACKEND": "Agg", **JAX_CACHE})


@nox.session(python=PYTHON, default=False, venv_backend="uv")
def lowest(session):
    """The quick test suite with every dependency of braintask (and of its spiking extra)
    at the lowest version pyproject.toml allows: uv's `--resolution lowest-direct` pins
    them (the transitive ones at their newest compatible; jax pins its own jaxlib), the
    test group resolves as usual. Wheels only: where a Python has no wheel of a lower
    bound (matplotlib 3.8.0 on 3.13), the lowest version with one. Needs uv; not a default
    session. `.ci/run` checks the bounds on Python 3.11 (brainstate 0.5 / braintools 0.3);
    with `--force-python 3.12` it is brainstate 0.6 / braintools 0.4. Arguments after
    `--` go to pytest, e.g. `nox -s lowest -- -n 0`."""
    # in the environment, not session.create_tmp(): that would point TMPDIR, and so the
    # tests' tmp_path, inside this clone, where Study.repository() finds the clone
    pins = Path(session.virtualenv.location) / "lowest.txt"
    session.run_install("uv", "pip", "compile", "--quiet", "--resolution", "lowest-direct",
                        "--only-binary", ":all:", "--python", str(Path(session.bin) / "python"),
                        "--extra", "spiking", "--no-header", "--no-annotate",
                        "pyproject.toml", "-o", str(pins))
    session.log("lowest direct versions:\n" + pins.read_text())
    session.install("-c", str(pins), "-e", ".[spiking]",  # braintask's dependencies as pinned
                    *nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "test"))
    session.run("pytest", "-n", "auto", "--dist", "loadscope", *session.posargs,
                env={"MPLBACKEND": "Agg", **JAX_CACHE})


def sphinx(session, builder, root):
    """Execute every page and build with ``builder`` into ``root`` (doctrees, executed
    notebooks and output under it, so two builds can run side by side), then check the
    claims of this run's notebooks."""
    # Start from no executed notebooks, so the checker can only read this run's outputs.
    shutil.rmtree(root / "jupyter_execute", ignore_errors=True)
    # No MPLBACKEND here: the notebook kernels must use their inline backend to show figures.
    env = dict(JAX_CACHE)
    # -j auto: the pages are read, and so executed, two at a time on two cores (each
    # notebook's kernel mostly keeps one core busy).
    session.run(
        "sphinx-build", "-E", "-W", "-n", "--keep-going", "-j", "auto", "-b", builder,
        "-d", str(root / "doctrees"), "docs", str(root / builder), *session.posargs, env=env,
    )
    session.run("python", "docs/check_claims.py", str(root / "jupyter_execute"),
                "--manifest", "docs/claims.json")


@nox.session(python=PYTHON)
def docs(session):
    """Build the HTML site (notebooks executed) and check every claim."""
    install(session, "docs")
    sphinx(session, "html", BUILD)
    session.log(f"site written to {BUILD / 'html' / 'index.html'}")


@nox.session(python=PYTHON)
def claims(session):
    """Execute every page with the dummy builder and check its claims (no HTML). The
    copy-paste promise is checked on the built site by `nox -s readers` and `notebooks`."""
    install(session, "docs")
    sphinx(session, "dummy", BUILD / "claims")  # beside a site build, not in its way


@nox.session(python=PYTHON, default=False)
def bench(session):
    """Time the training loops against each other (benchmarks/compare_loops.py); not a default session.

    Arguments after `--` go to the script, e.g. `nox -s bench -- --quick --workload case`.
    """
    install(session, "test")
    session.run("python", "benchmarks/compare_loops.py", *session.posargs, env={"MPLBACKEND": "Agg"})


# venv and pip: pip finds the CPU build of torch that the machine's wheel folder holds,
# where uv would fetch the default (CUDA) build from PyPI.
@nox.session(python=PYTHON, default=False, venv_backend="venv")
def bench_neurogym(session):
    """braintask against neurogym + PyTorch on fresh PerceptualDecisionMaking trials
    (benchmarks/fresh_trials.py): updates per second, time to a held-out criterion, fresh
    against fixed epochs; not a default session. Installs neurogym and a CPU torch.

    Arguments after `--` go to the script, e.g. `nox -s bench_neurogym -- --quick`.
    """
    install(session, "bench-neurogym")
    session.run("python", "benchmarks/fresh_trials.py", *session.posargs, env={"MPLBACKEND": "Agg"})


@nox.session(python=PYTHON, default=False)
def site(session):
    """Build the HTML site as `docs` does, then check it in headless Chromium
    (docs/site_check.py: every page, copy buttons, images, claims, downloads); not a
    default session. Needs Chromium at /usr/bin/chromium: `apt-get install -y chromium`.
    """
    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file():
        session.error(f"{chromium} not found: the site check drives the system Chromium. "
                      "Install it first: `apt-get install -y chromium` (Debian/Ubuntu).")
    install(session, "docs")
    session.install("playwright")  # the check's only extra; it uses the system Chromium
    sphinx(session, "html", BUILD)
    session.run("python", "docs/site_check.py", "docs/_build/html", "--chromium", str(chromium))


@nox.session(python=PYTHON, default=False)
def study(session):
    """Run a recorded study, studies/<name>.py, as the module studies.<name>: `nox -s
    study -- memory` (resumes where a killed run stopped; `--jobs 2` for two worker
    processes; `--quick --record PATH` for a small run of the whole path, written to
    PATH). Not a default session."""
    names = [p.stem for p in sorted((ROOT / "studies").glob("[a-z]*.py"))]
    if not session.posargs or session.posargs[0] not in names:
        session.error("name the study: `nox -s study -- memory`; the studies are "
                      + ", ".join(names))
    name, *args = session.posargs
    install(session, "test")
    session.chdir(ROOT)  # where the package studies imports from
    session.run("python", "-m", f"studies.{name}", *args,
                env={"MPLBACKEND": "Agg", **JAX_CACHE})


@nox.session(python=PYTHON)
def package(session):
    """Build the sdist and the wheel, check their metadata (`twine check --strict`) and
    what they ship: LICENSE and py.typed in, CI files and build outputs out."""
    groups = nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "package")
    session.install(*groups)
    out = Path(session.create_tmp()) / "dist"
    shutil.rmtree(out, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(out), ".")
    dists = sorted(str(p) for p in out.iterdir())
    session.run("twine", "check", "--strict", *dists)
    session.run("python", "tests/check_dists.py", *dists)


@nox.session(python=PYTHON)
def typecheck(session):
    """mypy on the whole package, src/braintask (pyproject.toml's [tool.mypy]), with
    braintask installed so that the types jax, numpy, brainstate and braintools ship are
    checked against. Arguments after `--` replace the path, e.g. `nox -s
    typecheck -- src/braintask/_data`."""
    install(session, "typecheck")
    # Checked as the session's Python: the stubs installed for it may need it (numpy 2.5's,
    # installed on 3.12+, use 3.12 syntax). pyproject's python_version, 3.11, is the floor
    # that CI checks (its typecheck runs on 3.11).
    session.run("mypy", "--python-version", str(session.python),
                *(session.posargs or ["src/braintask"]))


@nox.session(python=PYTHON, default=False)
def pages(session):
    """The site's HTML without executing any page (docs/_build/pages/html), in seconds:
    the code cells and downloads a reader sees are the executed site's, without outputs
    (tests/test_reader_notebooks.py compares the two builds cell by cell). For
    `BRAINTASK_SITE=docs/_build/pages/html nox -s readers`, which then need not wait for
    an executed build. Not a default session."""
    install(session, "docs")
    session.run("sphinx-build", "-E", "-q", "-j", "auto", "-b", "html",
                "-D", "nb_execution_mode=off", "-d", str(PAGES / "doctrees"), "docs",
                str(PAGES / "html"), *session.posargs,
                silent=True)  # without outputs, every glue value and lexer is missing


@nox.session(python=PYTHON, default=False)
def readers(session):
    """The built site's code as readers run it, in an environment with braintask (and
    so matplotlib) and pytest only: no myst-nb, IPython or Sphinx. Runs each page's
    rendered code cells in order as one script (tests/test_rendered_code.py), and checks
    that each page's .py download is that code. Needs a built site: `nox -s docs` first,
    or `nox -s pages` and BRAINTASK_SITE=docs/_build/pages/html."""
    site = Path(os.environ.get("BRAINTASK_SITE", BUILD / "html"))
    if not (site / "index.html").is_file():
        session.error(f"no built site in {site}: run `nox -s docs` first (or `nox -s "
                      "pages` and set BRAINTASK_SITE=docs/_build/pages/html)")
    session.install("-e", ".")
    session.install(*nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "test"))
    # two pages at a time (pytest-xdist): each page's script mostly keeps one core busy
    session.run("pytest", "-m", "rendered", "-n", "2", "tests/test_rendered_code.py",
                *session.posargs, env={"MPLBACKEND": "Agg", **JAX_CACHE})


@nox.session(python=PYTHON, default=False)
def notebooks(session):
    """Every notebook the built site offers for download, run top to bottom by a Jupyter
    kernel in an environment with braintask and the kernel only (no myst-nb, no Sphinx):
    tests/test_reader_notebooks.py. Needs a built site: `nox -s docs` first."""
    if not (BUILD / "html" / "index.html").is_file():
        session.error("no built site in docs/_build/html: run `nox -s docs` first")
    install(session, "test")
    session.install(*nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "notebook"))
    session.run("pytest", "-m", "notebooks", "tests/test_reader_notebooks.py", *session.posargs,
                env={"MPLBACKEND": "Agg", **JAX_CACHE})
