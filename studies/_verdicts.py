"""What a task-model result says, in words, from its seeds' scores (the task atlas's
and the gallery's tables)."""

from __future__ import annotations

import numpy as np


def verdict(learned: int, met: int, seeds: int, train_fits: bool,
            above_chance: bool) -> str:
    """What a task-model result says. A seed has learned the task when it met the
    criterion on validation and its test score meets the criterion too (the field's
    usage: >= 90% on the response steps of new trials); seeds that met it on validation
    only are named as such. Below that: fitted on training trials only, or within the
    cap not even there (the budget, not a limit); "above chance" when every seed's test
    score beats the baseline by two standard errors."""
    if learned == seeds:
        return "learned"
    if learned:
        return f"learned in {learned} of {seeds} seeds"
    if met:
        return f"criterion met on validation only ({met} of {seeds} seeds)"
    text = ("not learned: fits training trials only" if train_fits
            else "not learned within the cap")
    return text + (", above chance" if above_chance else "")


def above_chance(test, baseline: float, angle: bool, n_test: int) -> bool:
    """Every seed's test score better than the baseline by two standard errors of a
    proportion over the test trials (for direction tasks: an error below the baseline's
    by that share of it)."""
    margin = 2 * np.sqrt(0.25 / n_test)  # the largest standard error, at p = 0.5
    if angle:
        return bool((test < baseline * (1 - margin)).all())
    return bool((test > baseline + margin).all())


def conclusions(results, by: str, running=(), order=None) -> list[str]:
    """One Markdown line per ``by`` ("task" or "model") saying what each finished pair's
    verdict is, grouped by verdict, and which pairs are not finished yet (``running``:
    (task, model) pairs); ``order``: the groups to report, in order."""
    other = "model" if by == "task" else "task"
    word = "by" if by == "task" else "on"
    lines = []
    for key in order or list(dict.fromkeys(results[by])):
        mine = results[results[by] == key]
        verdict = mine["verdict"]

        def named(mask, counts=None):
            rows = mine[mask]
            if counts is None:  # the seed-less verdicts say whether they beat chance
                return ", ".join(n + (" (above chance)" if v.endswith("above chance")
                                      else "") for n, v in zip(rows[other], rows["verdict"]))
            return ", ".join(f"{n} ({k} of {s})" for n, k, s in
                             zip(rows[other], rows[counts], rows["of"]))

        parts = [f"learned in every seed {word} {named(verdict == 'learned')}"
                 if (verdict == "learned").any() else f"learned in every seed {word} no {other}"]
        if (some := verdict.str.startswith("learned in")).any():
            parts.append(f"in some seeds {word} {named(some, 'seeds learned')}")
        if (val_only := verdict.str.startswith("criterion met")).any():
            parts.append(f"at the criterion on validation but below it on test {word} "
                         f"{named(val_only, 'seeds at criterion')}")
        if (cap := verdict.str.startswith("not learned within")).any():
            parts.append(f"not within the cap {word} {named(cap)}, whose training score "
                         "stays below the criterion too (the budget, not a limit)")
        if (fits := verdict.str.startswith("not learned: fits")).any():
            parts.append(f"fitted on training trials only {word} {named(fits)}")
        waiting = [pair[1 if by == "task" else 0] for pair in running
                   if pair[0 if by == "task" else 1] == key]
        if waiting:
            parts.append(f"not finished yet {word} {', '.join(sorted(waiting))}")
        lines.append(f"- **{key}**: " + "; ".join(parts) + ".")
    return lines


def progress(finished: int, pairs: int, running: int, name: str) -> str:
    """How far the study ``name`` is, in a sentence: every pair finished, or how many
    are not yet and how to go on."""
    if not running:
        return f"all {pairs} task-model pairs are finished."
    return (f"{finished} of the {pairs} task-model pairs are finished, and {running} are "
            f"not yet (`nox -s study -- {name}` resumes the study where it stopped).")
