"""Check the claims the tutorials declare against the numbers their last run glued.

Each tutorial lists its claims in its front matter::

    claims:
      - key: final_test_acc            # a name passed to myst_nb.glue
        min: 0.98                      # and/or max:
        meaning: held-out accuracy after the last epoch
        seeds_key: final_test_acc_seeds  # optional: the same measure glued as a list,
        min_seed_rate: 0.75              # one value per seed; the fraction that must hold

This script reads the executed notebooks (``*.ipynb``, whose metadata keep the
front matter) and the ``*.glue.json`` files beside them in the build folder
(``docs/_build/jupyter_execute``), prints a table of claim, bound and measured
value, and exits with status 1 if a claim fails, a declared key was never glued,
or no tutorial was found. With ``seeds_key``, the table also says how many
seeds satisfy the bound, and that rate is part of the claim: every seed must
hold unless the claim states a lower ``min_seed_rate`` (so a claim never passes
while its seeds hold less often than the page says). A claim may give only a
``seeds_key`` (no ``key``): it is then a rate over seeds, measured as the
fraction of seeds within the bound. Standard library only.

Usage: ``python docs/check_claims.py docs/_build/jupyter_execute``
"""

from __future__ import annotations

import ast
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    page: str
    key: str
    bound: str
    measured: float | None
    status: str  # "pass", "FAIL" or "MISSING"
    meaning: str
    seeds: str = ""  # "k/n" seeds within the bound, when the claim has a seeds_key


def _bound_text(claim: dict) -> str:
    lo, hi = claim.get("min"), claim.get("max")
    if lo is not None and hi is not None:
        return f"= {lo:g}" if lo == hi else f"in [{lo:g}, {hi:g}]"
    return f">= {lo:g}" if lo is not None else f"<= {hi:g}"


def _glued_number(entry):
    """The float a glue entry holds (its text/plain repr), or None if it is not a number."""
    data = entry.get("data", entry) if isinstance(entry, dict) else {}
    text = data.get("text/plain") if isinstance(data, dict) else None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _glued_numbers(entry):
    """The list of floats a glue entry holds, or None."""
    data = entry.get("data", entry) if isinstance(entry, dict) else {}
    try:
        values = ast.literal_eval(data.get("text/plain", ""))
        return [float(v) for v in values]
    except (ValueError, TypeError, SyntaxError):
        return None


def _holds(value, lo, hi) -> bool:
    return not math.isnan(value) and (lo is None or value >= lo) and (hi is None or value <= hi)


def check_notebook(ipynb: Path, root: Path) -> list[Result]:
    """Evaluate one executed notebook's claims; [] if it declares none."""
    meta = json.loads(ipynb.read_text(encoding="utf8")).get("metadata", {})
    claims = meta.get("claims") or []
    page = ipynb.relative_to(root).with_suffix("").as_posix()
    glue_file = ipynb.with_name(ipynb.stem + ".glue.json")
    glued = json.loads(glue_file.read_text(encoding="utf8")) if glue_file.exists() else {}
    results = []
    for claim in claims:
        key, seeds_key = claim.get("key"), claim.get("seeds_key")
        lo, hi = claim.get("min"), claim.get("max")
        if not (key or seeds_key) or (lo is None and hi is None):
            raise ValueError(f"{page}: a claim needs a key (or a seeds_key) and a min and/or "
                             f"max bound, got {claim}.")
        if key:
            value = _glued_number(glued[key]) if key in glued else None
            status = "MISSING" if value is None else "pass" if _holds(value, lo, hi) else "FAIL"
        else:
            value, status = None, "pass"
        seeds = ""
        if seeds_key:
            rate = float(claim.get("min_seed_rate", 1.0))
            values = _glued_numbers(glued.get(seeds_key, {}))
            if not values:
                status, seeds = "MISSING", "never glued"
            else:
                n_ok = sum(_holds(v, lo, hi) for v in values)
                need = math.ceil(rate * len(values) - 1e-9)
                seeds = f"{n_ok}/{len(values)} (need {need})"
                if not key:
                    value = n_ok / len(values)
                if n_ok < need and status == "pass":
                    status = "FAIL"
        results.append(Result(page, key or seeds_key, _bound_text(claim), value, status,
                              claim.get("meaning", ""), seeds))
    return results


def check_folder(root: Path) -> list[Result]:
    """Evaluate every executed notebook under ``root``."""
    results = []
    for ipynb in sorted(root.rglob("*.ipynb")):
        results.extend(check_notebook(ipynb, root))
    return results


def format_table(results: list[Result]) -> str:
    rows = [("page", "claim", "bound", "measured", "seeds holding", "status")]
    for r in results:
        measured = "never glued" if r.measured is None else f"{r.measured:.6g}"
        rows.append((r.page, r.key, r.bound, measured, r.seeds or "-", r.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    root = Path(argv[0])
    results = check_folder(root) if root.is_dir() else []
    if not results:
        print(f"no claims found: no executed tutorial with claims under {root}", file=sys.stderr)
        return 1
    print(format_table(results))
    bad = [r for r in results if r.status != "pass"]
    if bad:
        print(f"\n{len(bad)} of {len(results)} claims do not hold:", file=sys.stderr)
        for r in bad:
            if r.status == "MISSING":
                what = "was never glued" if r.measured is None else "has no per-seed values glued"
            else:
                what = f"measured {r.measured:.6g}, bound {r.bound}, seeds holding {r.seeds or '-'}"
            print(f"  {r.page}: {r.key} {what} ({r.meaning})", file=sys.stderr)
        return 1
    print(f"\nall {len(results)} claims hold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
