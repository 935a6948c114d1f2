"""Trial variables: the task's own description of each trial (a cue, a coherence, the
right answer), kept beside the trials as ``(N,)`` arrays and read as a table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas

    from .dataset import TaskDataset

__all__ = ["check_trials", "pick_trials", "trial_table"]


def _check_variable(name: str, value: ArrayLike, n: int) -> np.ndarray:
    """One trial variable as an ``(n,)`` array of finite numbers, booleans or strings."""
    array = np.asarray(value)
    if array.dtype == object and all(isinstance(v, str) for v in array.ravel()):
        array = array.astype(str)
    if array.shape != (n,):
        raise ValueError(f"trials[{name!r}] must be an (n_samples,) = ({n},) array, one value "
                         f"per trial; got shape {array.shape}.")
    if array.dtype.kind not in "biufU":
        raise TypeError(f"trials[{name!r}] must hold real numbers, booleans or strings, got "
                        f"dtype {array.dtype}.")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"trials[{name!r}] must be finite; {bad} of its {n} values are NaN "
                         f"or inf.")
    return array


def check_trials(trials: Any, n: int) -> dict[str, np.ndarray]:
    """``trials`` checked: a new dict of ``(n,)`` arrays under string names.

    Examples
    --------
    >>> check_trials({"cue": [0, 2, 1]}, 3)["cue"]
    array([0, 2, 1])
    >>> check_trials({"cue": [0, 2]}, 3)
    Traceback (most recent call last):
    ...
    ValueError: trials['cue'] must be an (n_samples,) = (3,) array, one value per trial; got shape (2,).
    """
    if trials is None:
        return {}
    if not isinstance(trials, Mapping):
        raise TypeError(f"trials must be a dict {{name: (n_samples,) array}} of trial "
                        f"variables, got {type(trials).__name__}.")
    checked = {}
    for name, value in trials.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"trial variable names must be non-empty strings, got {name!r}.")
        checked[name] = _check_variable(name, value, n)
    return checked


def pick_trials(trials: dict, index: Any) -> dict:
    """The trial variables of the trials selected by ``index``."""
    return {name: value[index] for name, value in trials.items()}


def trial_table(data: TaskDataset) -> pandas.DataFrame:
    """The trial variables of ``data`` as a DataFrame, one row per trial."""
    import pandas as pd

    index = pd.RangeIndex(data.n_samples, name="trial")
    return pd.DataFrame({name: value for name, value in data.trials.items()}, index=index)
