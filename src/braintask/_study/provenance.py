"""Where a result came from: code version, library versions, hardware and date."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

__all__ = ["provenance", "hardware", "same_hardware"]

_LIBRARIES = ("braintask", "jax", "jaxlib", "brainstate", "braintools", "brainmass",
              "brainunit", "numpy")


def _cpu() -> dict:
    """The CPU's name, its exact identity (vendor, family, model, stepping) and the
    vector instructions XLA compiles for: two CPUs sold under one name (e.g. "AMD
    EPYC") may differ in these, and then round differently."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    ident = " ".join(f"{k} {fields[k]}" for k in ("vendor_id", "cpu family", "model",
                                                   "stepping") if k in fields)
    isa = sorted(f for f in fields.get("flags", "").split()
                 if f.startswith(("sse4", "avx", "fma", "amx", "f16c")))
    return {"cpu": name, "cpu_id": ident or platform.machine(), "cpu_isa": " ".join(isa)}


def hardware() -> dict:
    """The machine JAX computes on: the CPU (name, identity, vector instructions) and
    its cores, the accelerators if any, and the operating system.

    Two results made on the same hardware (every field but ``platform``, see
    :func:`same_hardware`) with equal library versions can be compared bit for bit;
    otherwise only within a tolerance.

    Examples
    --------
    >>> import braintask
    >>> sorted(braintask.hardware())
    ['cpu', 'cpu_cores', 'cpu_id', 'cpu_isa', 'devices', 'platform']
    """
    import jax

    devices = sorted({f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()})
    return {**_cpu(), "cpu_cores": os.cpu_count(), "devices": devices,
            "platform": platform.platform()}


def same_hardware(a: dict, b: dict) -> bool:
    """Whether two :func:`hardware` records describe machines that compute alike: equal
    in every field but ``platform`` (the kernel build does not change the arithmetic).
    A record without a field (made before it was recorded) is not the same.

    Examples
    --------
    >>> import braintask
    >>> here = braintask.hardware()
    >>> braintask.same_hardware(here, {**here, "platform": "another kernel"})
    True
    >>> braintask.same_hardware(here, {**here, "cpu_isa": "sse4_1"})
    False
    """
    keys = (set(a) | set(b)) - {"platform"}
    return all(k in a and k in b and a[k] == b[k] for k in keys)


def versions() -> dict:
    """The installed versions of braintask and the stack (None where not installed)."""
    found: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance(path: str | os.PathLike[str] = ".",
               watch: Iterable[str | os.PathLike[str]] | None = None) -> dict:
    """What a recorded result needs to be trusted and re-made.

    Parameters
    ----------
    path : str or Path
        A path inside the git repository whose commit is recorded (default: the
        working directory). Outside a repository the commit is None.
    watch : list of str or Path, optional
        The files or folders whose uncommitted changes mark the commit with
        ``"+changes"`` (e.g. the code that made a result); default: the whole
        working tree. Paths outside the repository are left out (an installed
        package, say).

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
    watched: list[str] = []
    if watch is not None:  # only paths inside this repository (git refuses others)
        top = Path(_git("rev-parse", "--show-toplevel", cwd=cwd) or cwd).resolve()
        inside = [Path(w).resolve() for w in watch]
        watched = ["--", *(str(w) for w in inside if w == top or top in w.parents)]
    if commit is not None and len(watched) != 1 and _git(
            "status", "--porcelain", "--untracked-files=no", *watched, cwd=cwd):
        commit += "+changes"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "versions": versions(),
        "hardware": hardware(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
    }
