"""JAX's persistent compilation cache, on by default for braintask's users.

Compiling the training programs is most of a short fit's time. JAX can keep the
compiled programs on disk and reuse them in the next process that compiles the same
program (same shapes, same code, same JAX version and backend: JAX keys every entry
by all of these, so entries of other versions are never used). When ``braintask`` is
imported it turns that cache on in the user's cache folder
(``platformdirs.user_cache_dir("braintask")/jax``, e.g. ``~/.cache/braintask/jax`` on
Linux) unless

- JAX already has a cache folder (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)``): the user's choice stands;
- the environment variable ``BRAINTASK_COMPILATION_CACHE`` is ``0``, ``off``,
  ``false`` or ``no`` (a folder path there moves the cache instead).

:func:`braintask.compilation_cache` turns it on, moves it, or off (``enabled=False``)
from Python, before the first compilation of the process.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["ENV", "compilation_cache", "default_cache_dir", "setup_default_cache"]

#: The environment variable that turns the default cache off (``0``) or moves it (a path).
ENV = "BRAINTASK_COMPILATION_CACHE"
_OFF = ("0", "off", "false", "no")


def default_cache_dir() -> Path:
    """Where braintask keeps JAX's compiled programs by default."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("braintask")) / "jax"


def compilation_cache(directory: str | os.PathLike[str] | None = None, *,
                      enabled: bool = True) -> Path | None:
    """Turn JAX's persistent compilation cache on (in ``directory``) or off.

    Every program braintask compiles (and every other JAX program of the process)
    is then kept on disk and reused by later processes that compile the same
    program, so a second run of the same fit skips its compilations. Entries are
    keyed by the program, JAX's version and the backend; each takes kilobytes to
    megabytes (a small GRU fit on a CPU leaves 61 programs in 0.4 MB). Delete the
    folder to clear the cache.

    braintask calls this when it is imported, unless JAX already has a cache
    folder or the environment variable ``BRAINTASK_COMPILATION_CACHE`` is ``0``
    (a path there moves the folder); a call later takes effect from the next
    compilation on.

    Parameters
    ----------
    directory : str or Path, optional
        The cache folder (default ``platformdirs.user_cache_dir("braintask")/jax``).
    enabled : bool
        False turns the cache off.

    Returns
    -------
    Path or None
        The cache folder in use, or None when off.

    Examples
    --------
    >>> import tempfile, braintask
    >>> folder = braintask.compilation_cache(tempfile.mkdtemp())
    >>> folder.is_dir()
    True
    >>> braintask.compilation_cache(enabled=False) is None
    True
    """
    from jax.experimental.compilation_cache import compilation_cache as jax_cache

    if not enabled:
        jax.config.update("jax_compilation_cache_dir", None)
        jax_cache.reset_cache()  # JAX decides at a compilation whether to use a cache
        return None
    folder = Path(directory).expanduser() if directory is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # braintask's programs compile in tenths of a second each: keep them all
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax_cache.reset_cache()
    return folder


def setup_default_cache() -> Path | None:
    """At import: the default cache, unless JAX has one already or the user opted out."""
    value = os.environ.get(ENV, "").strip()
    # read by name: jax's type stubs do not declare its config options as attributes
    if value.lower() in _OFF or getattr(jax.config, "jax_compilation_cache_dir"):
        return None
    try:
        return compilation_cache(value or None)
    except OSError:  # a read-only home, say: run without the cache
        return None
