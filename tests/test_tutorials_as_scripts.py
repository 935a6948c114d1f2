"""The copy-paste promise: each tutorial's code cells, pasted in order into a
fresh Python, run without error. Slow (each tutorial trains its models), so
marked `tutorials` and run by `nox -s claims` rather than `nox -s tests`."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).parents[1] / "docs" / "tutorials").glob("*.md"))
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def code_cells(path: Path) -> list[str]:
    cells = []
    for body in CELL.findall(path.read_text(encoding="utf8")):
        # drop the cell's own option lines (":tags: [...]")
        lines = body.splitlines()
        while lines and lines[0].startswith(":"):
            lines.pop(0)
        cells.append("\n".join(lines))
    return cells


def test_every_tutorial_has_code():
    assert TUTORIALS and all(code_cells(p) for p in TUTORIALS)


@pytest.mark.tutorials
@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_as_a_script(tutorial, tmp_path):
    script = tmp_path / f"{tutorial.stem}.py"
    script.write_text("\n\n".join(code_cells(tutorial)) + "\n", encoding="utf8")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
