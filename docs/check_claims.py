"""Check the claims the tutorials declare against the numbers their last run glued.

Each tutorial lists its claims in its front matter::

    claims:
      - key: final_test_acc            # a name passed to myst_nb.glue
        min: 0.98                      # and/or max:
        meaning: held-out accuracy after the last epoch
        seeds_key: final_test_acc_seeds  # optional: the same measure glued as a list,
        min_seed_rate: 0.75              # one value per seed; the fraction that must hold
        max_seed_rate: 0.875             # optional: the fraction that may hold at most

This script reads the executed notebooks (``*.ipynb``, whose metadata keep the
front matter) and the ``*.glue.json`` files beside them in the build folder
(``docs/_build/jupyter_execute``), prints a table of claim, bound and measured
value, and exits with status 1 if a claim fails, a declared key was never glued,
or no tutorial was found. With ``seeds_key``, the table also says how many
seeds satisfy the bound, and that rate is part of the claim: every seed must
hold unless the claim states a lower ``min_seed_rate`` (so a claim never passes
while its seeds hold less often than the page says); a ``max_seed_rate`` bounds
the rate from above (for prose that says a recipe fails on some seeds). A claim may give only a
``seeds_key`` (no ``key``): it is then a rate over seeds, measured as the
fraction of seeds within the bound. Standard library only.

The claim sets are pinned: ``docs/claims.json`` lists every page's claims by key
(``key``, or ``seeds_key`` for a rate over seeds). With ``--manifest``, a page
whose executed claims differ from its entry (a claim removed, renamed or added, a
page with claims gone) fails, so thinning a page's claims takes a change to the
manifest in the same commit. ``--write-manifest`` writes it from the pages' sources.

Usage: ``python docs/check_claims.py docs/_build/jupyter_execute [--manifest docs/claims.json]``
"""

from __future__ import annotations

import ast
import json
import math
import re
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
                most = math.floor(float(claim.get("max_seed_rate", 1.0)) * len(values) + 1e-9)
                seeds = f"{n_ok}/{len(values)} (need {need}" + (
                    f" to {most})" if most < len(values) else ")")
                if not key:
                    value = n_ok / len(values)
                if not need <= n_ok <= most and status == "pass":
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


def declared_claims(source: Path) -> list[str]:
    """The claim keys a page's source declares in its front matter (``key``, else
    ``seeds_key``), in order, read without a YAML parser."""
    text = source.read_text(encoding="utf8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    block = re.search(r"^claims:\n((?:[ \t]+.*\n?|\n)*)", match.group(1) + "\n", re.M) \
        if match else None
    if block is None:
        return []
    keys = []
    for item in re.split(r"^\s*- ", block.group(1), flags=re.M)[1:]:
        fields = dict(re.findall(r"^\s*(key|seeds_key):\s*(\S+)", item, re.M))
        keys.append(fields.get("key") or fields["seeds_key"])
    return keys


def source_manifest(docs: Path) -> dict[str, list[str]]:
    """``{page: claim keys}`` of every page under ``docs`` that declares claims."""
    pages = {}
    for source in sorted(docs.rglob("*.md")):
        if "_build" in source.parts:
            continue
        keys = declared_claims(source)
        if keys:
            pages[source.relative_to(docs).with_suffix("").as_posix()] = keys
    return pages


def manifest_problems(results: list[Result], manifest: dict[str, list[str]]) -> list[str]:
    """How the executed claims differ from the pinned ones (empty when they match)."""
    found: dict[str, list[str]] = {}
    for r in results:
        found.setdefault(r.page, []).append(r.key)
    problems = []
    for page in sorted(set(manifest) | set(found)):
        want, got = manifest.get(page, []), found.get(page, [])
        gone = [k for k in want if k not in got]
        new = [k for k in got if k not in want]
        if gone:
            problems.append(f"{page}: claims pinned in the manifest but not declared: {gone}")
        if new:
            problems.append(f"{page}: claims declared but not pinned in the manifest: {new}")
    return problems


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
    args = list(argv)
    manifest_path = None
    if "--write-manifest" in args:
        docs = Path(__file__).parent
        (docs / "claims.json").write_text(json.dumps(source_manifest(docs), indent=1) + "\n")
        return 0
    if "--manifest" in args:
        i = args.index("--manifest")
        manifest_path = Path(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    root = Path(args[0])
    results = check_folder(root) if root.is_dir() else []
    if not results:
        print(f"no claims found: no executed tutorial with claims under {root}", file=sys.stderr)
        return 1
    if manifest_path is not None:
        problems = manifest_problems(results, json.loads(manifest_path.read_text()))
        if problems:
            print(f"the claims differ from {manifest_path} (change it in the same commit "
                  f"as the pages, with a reason):", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
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
