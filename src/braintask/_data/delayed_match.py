"""The delayed match-to-sample generator, identical to brainmass's and going further."""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_int
from .dataset import TaskDataset

__all__ = ["delayed_match_task"]


def delayed_match_task(
    n_samples: int = 128,
    *,
    seq_len: int | None = None,
    n_symbols: int = 4,
    seed: int = 0,
    delay: int | None = None,
    noise: float = 0.0,
) -> TaskDataset:
    """Delayed match-to-sample trials: cue, delay, probe; is the probe the cue?

    Each trial is a sequence of ``seq_len`` steps over an alphabet of
    ``n_symbols`` one-hot symbols: the cue at step 0, empty steps (the delay),
    and the probe at the last step. The label is 1 when the probe matches the
    cue and 0 otherwise; exactly ``n_samples // 2`` trials match.

    With the arguments that ``brainmass.datasets.delayed_match_task`` accepts
    (``n_samples``, ``seq_len``, ``n_symbols``, ``seed``) the arrays are
    identical to brainmass's, element by element.

    Parameters
    ----------
    n_samples : int
        Number of trials, >= 1. Default 128.
    seq_len : int, optional
        Steps per trial, >= 2: cue at ``t = 0``, probe at ``t = seq_len - 1``.
        Default 10, or ``delay + 2`` when ``delay`` is given.
    n_symbols : int
        Alphabet size, >= 2 (the last axis of the inputs). Default 4.
    seed : int
        Seed of the generator (NumPy ``default_rng``). Default 0.
    delay : int, optional
        Number of empty steps between cue and probe, >= 0; sets
        ``seq_len = delay + 2``. Giving both ``delay`` and a different
        ``seq_len`` is an error.
    noise : float
        Standard deviation of Gaussian noise added to every input element
        (cue, delay and probe steps alike), >= 0. The noise has its own stream
        seeded by ``seed``: labels and the clean one-hot pattern are the same
        as with ``noise=0``. Default 0.

    Returns
    -------
    TaskDataset
        ``inputs`` ``(n_samples, seq_len, n_symbols)`` float64 and
        ``targets`` ``(n_samples,)`` int64, with ``n_classes = 2``; the
        trial variables ``trials`` (see :meth:`braintask.TaskDataset.trial_table`)
        ``cue`` and ``probe`` (symbol indices) and ``match`` (1 when they are
        the same symbol).

    Examples
    --------
    >>> import braintask
    >>> inputs, targets = braintask.delayed_match_task(8, seq_len=6, seed=0)
    >>> inputs.shape, int(targets.sum())
    ((8, 6, 4), 4)
    >>> data = braintask.delayed_match_task(8, n_symbols=2, delay=20, noise=0.1)
    >>> data.seq_len
    22
    >>> data.trial_table().head(2).to_dict("list")  # one row per trial
    {'cue': [1, 1], 'probe': [0, 1], 'match': [0, 1]}
    """
    n_samples = check_int("n_samples", n_samples, 1)
    n_symbols = check_int("n_symbols", n_symbols, 2)
    seed = check_int("seed", seed, 0)
    if delay is not None:
        delay = check_int("delay", delay, 0)
        if seq_len is not None and check_int("seq_len", seq_len, 2) != delay + 2:
            raise ValueError(
                f"seq_len={seq_len} contradicts delay={delay}: a trial has seq_len = delay + 2 "
                f"steps (cue, delay, probe). Give one of them, or seq_len={delay + 2}."
            )
        seq_len = delay + 2
    elif seq_len is None:
        seq_len = 10
    seq_len = check_int("seq_len", seq_len, 2)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a real number >= 0 (a standard deviation), got {noise!r}.")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise}.")

    # Same draws, in the same order, as brainmass.datasets.delayed_match_task.
    rng = np.random.default_rng(seed)
    cues = rng.integers(0, n_symbols, size=n_samples)
    match = np.zeros(n_samples, dtype=np.int64)
    match[: n_samples // 2] = 1
    match = rng.permutation(match)
    probes = cues.copy()
    nonmatch = match == 0
    offsets = rng.integers(1, n_symbols, size=n_samples)
    probes[nonmatch] = (cues[nonmatch] + offsets[nonmatch]) % n_symbols

    inputs = np.zeros((n_samples, seq_len, n_symbols), dtype=np.float64)
    rows = np.arange(n_samples)
    inputs[rows, 0, cues] = 1.0
    inputs[rows, seq_len - 1, probes] = 1.0
    if noise > 0:
        # A separate stream, so that adding noise leaves the trials themselves unchanged.
        noise_rng = np.random.default_rng([seed, 1])
        inputs += noise * noise_rng.standard_normal(inputs.shape)

    info = dict(
        task="delayed_match_task", n_samples=n_samples, seq_len=seq_len, n_symbols=n_symbols,
        seed=seed, delay=seq_len - 2, noise=noise,
    )
    trials = dict(cue=cues, probe=probes, match=match)
    return TaskDataset(inputs, match, n_classes=2, info=info, trials=trials)
