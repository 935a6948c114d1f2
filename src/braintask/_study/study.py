"""Studies: units of work run once each, recorded with their provenance, resumable after a
kill, and re-checked against the code that made them."""

from __future__ import annotations

import datetime
import functools
import importlib
import importlib.util
import inspect
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from .._checks import check_int
from .compare import differences, gap
from .provenance import hardware, provenance, same_hardware, versions

if TYPE_CHECKING:
    import pandas

__all__ = ["Study"]


def _is_draft(made_by: dict) -> bool:
    """Whether a provenance names uncommitted code (a commit marked ``+changes``)."""
    return str(made_by.get("commit") or "").endswith("+changes")


def unit_key(unit: dict) -> str:
    """The key a unit is recorded under: its JSON with sorted keys."""
    try:
        return json.dumps(unit, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"a unit must be a dict of JSON values (str, int, float, bool, None, "
                        f"lists, dicts), got {unit!r}: {err}") from None


def _read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    entries, lines = [], path.read_text(encoding="utf8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # a run killed while writing its last line
                break
            raise ValueError(f"{path}:{number} is not a JSON line; the record is damaged. "
                             f"Delete the line (and its unit re-runs) or the file.") from None
    return entries


def _run_one(run_unit: Callable[[dict], dict],
             unit: dict) -> tuple[dict, dict, float]:  # in a worker process, or here
    start = time.perf_counter()
    result = run_unit(unit)
    return unit, result, time.perf_counter() - start


def _package(folder: Path) -> ModuleType:
    """The package whose folder is ``folder`` (it holds an ``__init__.py``), imported
    from there under the folder's name, the import path left as it is."""
    name = folder.name
    module = sys.modules.get(name)
    if module is not None:
        where = [Path(p).resolve() for p in getattr(module, "__path__", [])]
        if where != [folder]:
            found = where[0] if where else getattr(module, "__file__", "a module")
            raise ImportError(f"cannot import {folder} as the package {name!r}: another "
                              f"{name!r} is imported already, from {found}.")
        return module
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None  # a .py file always has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import_script(path: Path) -> ModuleType:
    """The module of the Python file ``path``, imported with the import path as it is:
    a file in a package folder (one with an ``__init__.py``, as the repository's
    ``studies/``) as a module of that package, so its imports of its neighbours
    (``from . import _rates``) work; any other file on its own."""
    path = path.resolve()
    folder = path.parent
    if (folder / "__init__.py").is_file() and folder.name.isidentifier():
        package = _package(folder)
        return importlib.import_module(f"{package.__name__}.{path.stem}")
    spec = importlib.util.spec_from_file_location(f"study_{path.stem}", path)
    assert spec is not None and spec.loader is not None  # a .py file always has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _names_braintask(pyproject: Path) -> bool:
    import tomllib

    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == "braintask"


class Study:
    """Units of work (one model on one task at one learning rate, say), each run once and
    recorded with its provenance in a JSON-lines file; resumable, and re-checkable.

    Each finished unit is appended to ``record`` as one line: the unit, its result,
    its wall time and :func:`braintask.provenance` (commit, versions, hardware,
    date). :meth:`run` skips the units already there, so a killed study resumes
    where it stopped. :meth:`recheck` re-runs part of one recorded unit with the
    current code and compares: a record the code can no longer produce is caught.

    Parameters
    ----------
    run_unit : callable
        ``run_unit(unit, **options) -> dict``: runs one unit (a dict of JSON
        values) and returns its result (JSON values: numbers, strings, lists,
        dicts). Must be deterministic given the unit. With ``recheck=True`` among
        ``options`` it may return a shorter result (e.g. the first epochs of each
        history), compared with the recorded one number by number, lists as prefixes.
    units : list of dict, or callable
        The units; or ``units(results) -> list of dict``, called with
        ``{key: result}`` of the units done so far, for studies whose units
        depend on earlier results (a learning-rate grid extended at its edge).
        :meth:`run` calls it until every unit it returns is done.
    record : str or Path
        The JSON-lines file.
    regenerate : str
        The command that re-makes the record, quoted in every mismatch message.

    Examples
    --------
    >>> import tempfile, pathlib, braintask
    >>> square = lambda unit, **options: {"square": unit["x"] ** 2}
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "squares.jsonl"
    >>> study = braintask.Study(square, [{"x": 1}, {"x": 2}], path,
    ...                         regenerate="make squares")
    >>> study.run(log=None).result.tolist()
    [{'square': 1}, {'square': 4}]
    >>> study.recheck({"x": 2})["matches"]
    True
    """

    #: The module of the script that defines the study (set by :meth:`from_script`).
    script: ModuleType

    def __init__(self, run_unit: Callable[..., dict],
                 units: list[dict] | Callable[[dict], list[dict]],
                 record: str | os.PathLike[str], *, regenerate: str) -> None:
        if not callable(run_unit):
            raise TypeError(f"run_unit must be callable, got {type(run_unit).__name__}.")
        if not callable(units):
            fixed = [dict(u) for u in units]
            for u in fixed:
                unit_key(u)
            units = lambda results, fixed=fixed: fixed  # noqa: E731
        self.run_unit, self._units, self.record = run_unit, units, Path(record)
        self.regenerate = regenerate
        try:  # the commit recorded is that of the code that runs the units
            source = inspect.getsourcefile(run_unit)
        except (TypeError, OSError):
            source = None
        # code typed at a prompt or in a notebook has no file: the record's folder stands in
        self._code_dir = Path(source).parent if source and Path(source).is_file() \
            else self.record.parent

    @staticmethod
    def from_script(path: str | os.PathLike[str], name: str = "study") -> "Study":
        """The Study that the script at ``path`` defines as ``name``; the script
        itself (its rules, its constants) is the study's ``script`` attribute.

        A script in a package folder (one with an ``__init__.py``, as the repository's
        ``studies/``) is imported as a module of that package, named after the folder
        (``studies.memory``), so that it imports its neighbours as package modules; any
        other script on its own. The import path is left as it is."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no study script at {path.resolve()}")
        module = _import_script(path)
        study = getattr(module, name, None)
        if not isinstance(study, Study):
            raise TypeError(f"{path} defines no Study named {name!r}.")
        study.script = module
        return study

    @classmethod
    def recorded(cls, script: str, name: str = "study") -> "Study":
        """The repository's recorded study ``studies/<script>.py`` (``"memory"``, say)
        with its record, from the clone of the braintask repository that holds the
        current directory (:meth:`repository`): :meth:`from_script` of that file.

        Its folder is then imported as the package ``studies``, so the study's helpers
        import from there (``from studies._verdicts import conclusions``). Outside a
        clone it raises FileNotFoundError, saying how to get one."""
        return cls.from_script(cls.repository() / "studies" / f"{script}.py", name)

    @staticmethod
    def repository(start: str | os.PathLike[str] | None = None) -> Path:
        """The root of the clone of the braintask repository that holds ``start``
        (default: the current directory): the nearest folder at or above it with a
        ``pyproject.toml`` naming the project braintask and a ``studies`` folder. The
        recorded studies (``studies/``) and benchmark runs (``benchmarks/records/``)
        are there; the installed package does not ship them.

        Raises
        ------
        FileNotFoundError
            When ``start`` is not inside such a clone; the message says how to get one.
        """
        start = Path.cwd() if start is None else Path(start).resolve()
        for folder in [start, *start.parents]:
            if (folder / "studies").is_dir() and _names_braintask(folder / "pyproject.toml"):
                return folder
        raise FileNotFoundError(
            f"{start} is not inside a clone of the braintask repository. This code reads "
            "the recorded studies and benchmark runs kept there (the installed package "
            "does not ship them): make a clone of the braintask repository (`git clone` "
            "its URL) and run this code from anywhere inside the clone (its root or any "
            "folder below it).")

    def entries(self) -> dict:
        """``{key: entry}`` of the recorded units (``entry``: unit, result, seconds,
        provenance), in the order they finished."""
        return {e["key"]: e for e in _read_lines(self.record) if "key" in e}

    def results(self) -> dict:
        """``{key: result}`` of the recorded units."""
        return {k: e["result"] for k, e in self.entries().items()}

    def drafts(self) -> list[str]:
        """The keys of recorded units made from uncommitted code (their commit is
        marked ``+changes``): results no commit can reproduce."""
        return [k for k, e in self.entries().items() if _is_draft(e["provenance"])]

    def pending(self) -> list[dict]:
        """The units still to run, given what the record holds."""
        done = self.results()
        return [u for u in self._units(done) if unit_key(u) not in done]

    def _append(self, unit: dict, result: dict, seconds: float, made_by: dict) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        entry = {"key": unit_key(unit), "unit": unit, "result": result,
                 "seconds": round(seconds, 3), "provenance": dict(made_by, date=now)}
        line = json.dumps(entry, sort_keys=True, allow_nan=True)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        text = self.record.read_text(encoding="utf8") if self.record.exists() else ""
        with open(self.record, "a", encoding="utf8") as f:
            if text and not text.endswith("\n"):  # drop a line cut short by a kill
                f.truncate(len(text.encode("utf8")) - len(text.rsplit("\n", 1)[-1].encode("utf8")))
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def run(self, *, jobs: int = 1, log: Callable[[str], Any] | None = print,
            drafts: bool = False) -> pandas.DataFrame:
        """Run every pending unit, appending each to the record as it finishes.

        The pending units are asked for again after every finished unit, so a unit
        that depends on results (a grid grown at its edge) starts as soon as they
        are recorded, and a stopped study has finished its first groups.

        A record names the code that made it: when the study's code (the folder of
        its ``run_unit``) or braintask's study code has uncommitted changes, the
        commit would name no code that exists, so the run is refused unless
        ``drafts=True``, which records such units as drafts (their commit marked
        ``+changes``; :meth:`drafts` lists them).

        Parameters
        ----------
        jobs : int
            Worker processes (spawned; ``run_unit`` must be importable, i.e.
            defined at the top level of a module). 1 runs here.
        log : callable or None
            Called with one line per finished unit.
        drafts : bool
            Record units made from uncommitted code, as drafts (default False: refuse).

        Returns
        -------
        pandas.DataFrame
            One row per recorded unit: its fields, ``result`` and ``seconds``.

        Raises
        ------
        RuntimeError
            When the code has uncommitted changes and ``drafts`` is False.
        """
        jobs = check_int("jobs", jobs, 1)
        # the code this run executes is the code as it starts: later commits do not count
        # and the changes that count are in the unit's script folder and in braintask
        watched = [self._code_dir, Path(__file__).parent]
        made_by = provenance(self._code_dir, watch=watched)
        if _is_draft(made_by) and not drafts and self.pending():
            raise RuntimeError(
                f"the code that runs this study has uncommitted changes (in "
                f"{', '.join(str(w) for w in watched)}): a unit recorded now would name a "
                f"commit ({made_by['commit']}) that is not the code that made it. Commit "
                f"the changes and run again, or run(drafts=True) to record draft units.")
        if jobs == 1:
            while todo := self.pending():
                self._finished(_run_one(self.run_unit, todo[0]), 0, log, made_by)
            return self.table()
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            running: dict[str, Future[tuple[dict, dict, float]]] = {}
            while True:
                todo = [u for u in self.pending() if unit_key(u) not in running]
                for unit in todo[:jobs - len(running)]:
                    running[unit_key(unit)] = pool.submit(_run_one, self.run_unit, unit)
                if not running:
                    return self.table()
                done, _ = wait(running.values(), return_when=FIRST_COMPLETED)
                for future in done:
                    finished = future.result()
                    del running[unit_key(finished[0])]
                    self._finished(finished, len(running), log, made_by)

    def _finished(self, finished: tuple, running: int, log: Callable[[str], Any] | None,
                  made_by: dict) -> None:
        unit, result, seconds = finished
        self._append(unit, result, seconds, made_by)
        if log is not None:
            left = len(self.pending()) - running
            log(f"{unit_key(unit)}: {seconds:.1f} s ({left} pending)")

    def table(self) -> pandas.DataFrame:
        """The record as a pandas DataFrame: one row per unit, its fields as columns,
        then ``result``, ``seconds`` and ``date``."""
        import pandas as pd

        rows = [{**e["unit"], "result": e["result"], "seconds": e["seconds"],
                 "date": e["provenance"]["date"]} for e in self.entries().values()]
        return pd.DataFrame(rows)

    def provenance(self) -> pandas.DataFrame:
        """Where the record was made: one row per (commit, machine, versions), with the
        units it ran, its first and last date and its wall hours (a DataFrame)."""
        import pandas as pd

        rows = [{"commit": e["provenance"]["commit"],
                 "machine": "; ".join(f"{k}: {v}" for k, v in e["provenance"]["hardware"].items()),
                 "versions": ", ".join(f"{k} {v}" for k, v in e["provenance"]["versions"].items()
                                       if v),
                 "date": e["provenance"]["date"], "seconds": e["seconds"]}
                for e in self.entries().values()]
        if not rows:
            return pd.DataFrame(columns=["commit", "machine", "versions", "units", "first",
                                         "last", "hours"])
        return (pd.DataFrame(rows).groupby(["commit", "machine", "versions"], sort=False)
                .agg(units=("date", "size"), first=("date", "min"), last=("date", "max"),
                     hours=("seconds", lambda s: round(s.sum() / 3600, 2))).reset_index())

    def unit_for_today(self, *, max_seconds: float | None = None,
                       day: datetime.date | None = None,
                       where: Callable[[dict], bool] | None = None) -> dict:
        """The unit a build re-checks: among the recorded units (that took at most
        ``max_seconds``, and for which ``where(unit)`` is true, if given) sorted by key,
        the one at ``day.toordinal() % count`` (``day``: today's UTC date), so a
        different unit every day, the same all day."""
        entries = [e for e in sorted(self.entries().values(), key=lambda e: e["key"])
                   if (max_seconds is None or e["seconds"] <= max_seconds)
                   and (where is None or where(e["unit"]))]
        if not entries:
            raise ValueError(f"{self.record} records no unit to re-check"
                             + (f" that took at most {max_seconds} s" if max_seconds else "")
                             + (" that passes `where`" if where else "")
                             + f"; make the record first: {self.regenerate}")
        day = day or datetime.datetime.now(datetime.timezone.utc).date()
        return entries[day.toordinal() % len(entries)]["unit"]

    def made_here(self, unit: dict) -> bool:
        """Whether ``unit`` was recorded on this hardware (:func:`braintask.same_hardware`)
        with these library versions: only then can a re-run match it bit for bit."""
        if (entry := self.entries().get(unit_key(unit))) is None:
            return False
        here, installed = self._machine
        return (same_hardware(here, entry["provenance"]["hardware"])
                and installed == entry["provenance"]["versions"])

    @functools.cached_property
    def _machine(self) -> tuple:  # this process's hardware and versions: read once
        return hardware(), versions()

    def recheck(self, unit: dict, *, tolerance: float = 0.0, **options: Any) -> dict:
        """Re-run ``unit`` with ``run_unit(unit, recheck=True, **options)`` and compare
        with its record.

        Bit for bit (difference 0) where the record was made on the same hardware
        with the same library versions; elsewhere within ``tolerance`` (absolute,
        on every number), since another CPU rounds differently.

        Returns
        -------
        dict
            ``unit``, ``same_machine``, ``compared`` (numbers compared),
            ``max_difference``, ``allowed``, ``matches`` and ``message``.
        """
        key = unit_key(unit)
        entry = self.entries().get(key)
        if entry is None:
            raise KeyError(f"{self.record} has no unit {key}; make the record first: "
                           f"{self.regenerate}")
        fresh = self.run_unit(unit, recheck=True, **options)
        same = self.made_here(unit)
        allowed = 0.0 if same else float(tolerance)
        gaps = [(where, gap(r, f)) for where, r, f in differences(entry["result"], fresh)]
        worst = max(gaps, key=lambda g: g[1], default=("", 0.0))
        matches = bool(gaps) and worst[1] <= allowed
        message = (f"the re-run of {key} matches its record ({len(gaps)} numbers, largest "
                   f"difference {worst[1]:.3g}, allowed {allowed:g})." if matches else
                   f"{self.record} no longer matches the code: the re-run of {key} differs "
                   f"from its record by {worst[1]:.3g} at {worst[0] or 'the result'} (allowed "
                   f"{allowed:g}). Regenerate the record: {self.regenerate}")
        return {"unit": unit, "same_machine": same, "compared": len(gaps),
                "max_difference": worst[1], "allowed": allowed, "matches": matches,
                "message": message}
