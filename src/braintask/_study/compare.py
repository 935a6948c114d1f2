"""Comparing a re-run's numbers with a recorded result, number by number."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

__all__ = ["differences", "gap"]


def differences(recorded: Any, fresh: Any, where: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, recorded, fresh) for every number in ``fresh``; lists compare as prefixes."""
    if isinstance(fresh, dict):
        if not isinstance(recorded, dict):
            yield where, recorded, fresh
            return
        for k, v in fresh.items():
            yield from differences(recorded.get(k), v, f"{where}/{k}")
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(recorded, (list, tuple)) or len(recorded) < len(fresh):
            yield where, recorded, fresh
            return
        for i, v in enumerate(fresh):
            yield from differences(recorded[i], v, f"{where}[{i}]")
    else:
        yield where, recorded, fresh


def gap(recorded: Any, fresh: Any) -> float:
    """How far apart two recorded values are: 0 if equal (NaN equals NaN), the absolute
    difference of numbers, infinity when they differ otherwise (None, text, lists)."""
    if not all(isinstance(v, (int, float)) for v in (recorded, fresh)):  # None, str, list
        return 0.0 if recorded == fresh else math.inf
    r, f = float(recorded), float(fresh)
    if math.isnan(r) or math.isnan(f):
        return 0.0 if math.isnan(r) and math.isnan(f) else math.inf
    return abs(r - f)
