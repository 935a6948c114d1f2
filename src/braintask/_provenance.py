"""Where a result came from: code version, library versions, hardware and date."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["provenance", "hardware"]

_LIBRARIES = ("braintask", "jax", "jaxlib", "brainstate", "braintools", "brainmass",
              "brainunit", "numpy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    """The machine JAX computes on: CPU model and cores, and the accelerators if any.

    Two results made on equal ``hardware()`` (and equal library versions) can be
    compared bit for bit; otherwise only within a tolerance.

    Examples
    --------
    >>> import braintask
    >>> sorted(braintask.hardware())
    ['cpu', 'cpu_cores', 'devices', 'platform']
    """
    import jax

    devices = sorted({f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()})
    return {"cpu": _cpu_model(), "cpu_cores": os.cpu_count(), "devices": devices,
            "platform": platform.platform()}


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance(path=".", watch=None) -> dict:
    """What a recorded result needs to be trusted and re-made.

    Parameters
    ----------
    path : str or Path
        A path inside the git repository whose commit is recorded (default: the
        working directory). Outside a repository the commit is None.
    watch : list of str or Path, optional
        The files or folders whose uncommitted changes mark the commit with
        ``"+changes"`` (e.g. the code that made a result); default: the whole
        working tree.

    Returns
    -------
    dict
        ``date`` (UTC, ISO 8601), ``commit`` (git HEAD, with ``"+changes"``
        appended when the working tree differs from it), ``python``,
        ``versions`` of braintask and the stack, ``hardware`` (see
        :func:`braintask.hardware`) and ``command`` (this process's argv).

    Examples
    --------
    >>> import braintask
    >>> record = braintask.provenance()
    >>> sorted(record)
    ['command', 'commit', 'date', 'hardware', 'python', 'versions']
    """
    cwd = Path(path)
    cwd = cwd if cwd.is_dir() else cwd.parent
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    watched = [] if watch is None else ["--", *(str(Path(w).resolve()) for w in watch)]
    if commit is not None and _git("status", "--porcelain", "--untracked-files=no", *watched,
                                   cwd=cwd):
        commit += "+changes"
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "versions": versions,
        "hardware": hardware(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
    }
