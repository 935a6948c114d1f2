"""The learning-rate rule the studies share: score a rate on validation only, choose the
best, and grow the grid while the choice sits on its edge."""

from __future__ import annotations

import json

import numpy as np

#: The rates a grid can grow to, about a factor of 3 apart.
LADDER = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def rate_score(result: dict, cap_updates: int, score: str = "val_acc") -> tuple:
    """How good a learning rate was, from validation only: seeds that met the criterion,
    then fewer median updates to it (a seed that never met it counts as the cap), then
    the mean last validation ``score`` (higher is better). A rate whose training
    diverged (NaN or inf) ranks below every rate that did not."""
    if result.get("diverged"):
        return (-1, -float(cap_updates), -np.inf)
    seeds = list(result["seeds"].values())
    updates = [s["criterion_updates"] if s["met"] else cap_updates for s in seeds]
    return (sum(s["met"] for s in seeds), -float(np.median(updates)),
            float(np.mean([s[score] for s in seeds])))


def choose_rate(results_by_rate: dict, cap_updates: int, score: str = "val_acc") -> float:
    """The learning rate with the best :func:`rate_score`; of rates tied on the whole
    score, the smallest (the more cautious step), whatever order they were recorded in."""
    return max(sorted(results_by_rate),  # max keeps the first of tied rates: the smallest
               key=lambda lr: rate_score(results_by_rate[lr], cap_updates, score))


def grow(rates: list, chosen: float) -> float | None:
    """The next rate of LADDER beyond the grid's edge, if ``chosen`` is on that edge."""
    i = LADDER.index(chosen)
    if chosen == min(rates) and i > 0:
        return LADDER[i - 1]
    if chosen == max(rates) and i + 1 < len(LADDER):
        return LADDER[i + 1]
    return None


def beyond(rates: list) -> list:
    """The next rates of LADDER below and above the grid, where the ladder has them."""
    lo, hi = LADDER.index(min(rates)), LADDER.index(max(rates))
    return [LADDER[i] for i in (lo - 1, hi + 1) if 0 <= i < len(LADDER)]


def on_edge(rates, chosen: float) -> bool:
    """Whether ``chosen`` is the lowest or highest of ``rates`` without being an end of
    the ladder: the grid should have grown there."""
    return chosen in (min(rates), max(rates)) and chosen not in (LADDER[0], LADDER[-1])


def grid_units(results: dict, groups: list[dict], start_rates: list, cap_updates: int,
               extra: dict, grow_grid: bool = True, score: str = "val_acc") -> list[dict]:
    """Every unit needed given the results so far: ``start_rates`` for each group (a dict
    of the unit's other fields, e.g. model and task), then one rate more beyond the edge
    while the chosen rate sits on it; while no rate tried has a seed that met the
    criterion, one rate more at both ends. ``extra`` fields are added to every unit."""
    done = {}
    for key, result in results.items():
        unit = json.loads(key)
        group = json.dumps({k: unit[k] for k in groups[0]}, sort_keys=True) if groups else ""
        done.setdefault(group, {})[unit["lr"]] = result
    needed = []
    for group in groups:
        tried = done.get(json.dumps(group, sort_keys=True), {})
        rates = sorted(set(start_rates) | set(tried))
        if grow_grid and set(rates) <= set(tried):
            best = choose_rate(tried, cap_updates, score)
            if rate_score(tried[best], cap_updates, score)[0] <= 0:  # none met it anywhere
                rates += beyond(rates)
            else:
                rates += [r for r in [grow(rates, best)] if r is not None]
        needed += [dict(group, lr=lr, **extra) for lr in rates]
    return needed
