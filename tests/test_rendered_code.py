"""The code a reader sees on the built site runs where the reader pastes it.

For every page of docs/_build/html with notebook cells, the code of its input cells,
read from the HTML as rendered (not the sources, not the hidden cells, not the
outputs), runs in order as one script, in this environment: braintask and its
dependencies, without the site's tooling. The page's `.py` download must be that same
code. Run by `nox -s readers` after a docs build; marked `rendered`, so `nox -s tests`
leaves it out.
"""

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from site_pages import InputCells, rendered_cells

ROOT = Path(__file__).parents[1]
SITE = Path(os.environ.get("BRAINTASK_SITE", ROOT / "docs" / "_build" / "html"))
TOOLING = ("myst_nb", "IPython", "sphinx", "myst_parser", "ipykernel")
PHONE_PX, SMALLEST_PX = 368, 7  # a figure's width on a 400 px screen; the text it must keep

# Appended to each page's script (after the page's own code, so it changes nothing the
# page computes): draws every figure the page left open with Agg, recording the size of
# each text drawn, and writes, per figure, the smallest text in pixels once the figure is
# shown PHONE_PX wide (its tight bounding box, as the notebook saves it, scaled down).
MEASURE_FIGURES = f"""
import json as _json
import matplotlib.pyplot as _plt
from matplotlib.backends.backend_agg import RendererAgg as _Renderer

_drawn, _draw_text = [], _Renderer.draw_text


def _recording(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
    if str(s).strip():
        _drawn.append((prop.get_size_in_points(), str(s)[:40]))
    return _draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)


_Renderer.draw_text = _recording
_report = []
for _n in _plt.get_fignums():
    _fig, _drawn[:] = _plt.figure(_n), []
    _fig.canvas.draw()
    _inches = _fig.get_tightbbox(_fig.canvas.get_renderer()).width
    _points, _text = min(_drawn, default=(99.0, ""))
    _shown = _points / 72 * min(_fig.dpi, {PHONE_PX} / _inches)
    _report.append(dict(figure=_n, inches=round(_inches, 2), points=_points, text=_text,
                        pixels=round(_shown, 2)))
with open("figure_text.json", "w") as _f:
    _json.dump(_report, _f)
"""

pytestmark = pytest.mark.rendered


def pages_with_code() -> list[Path]:
    if not SITE.is_dir():
        return []
    pages = [p for p in sorted(SITE.rglob("*.html"))
             if not p.relative_to(SITE).parts[0].startswith("_")]
    return [p for p in pages if rendered_cells(p)]


PAGES = pages_with_code()


def page_id(page: Path) -> str:
    return page.relative_to(SITE).with_suffix("").as_posix()


def test_site_was_built():
    assert (SITE / "index.html").is_file(), f"no site at {SITE}: run `nox -s docs` first"
    ids = {page_id(p) for p in PAGES}
    assert {"index", "tutorials/horn_case_study", "tutorials/memory_across_delays",
            "tutorials/cogtask_per_step"} <= ids, ids


@pytest.mark.parametrize("module", TOOLING)
def test_no_documentation_tooling_here(module):
    with pytest.raises(ImportError):
        importlib.import_module(module)


def test_cell_parser_reads_code_not_outputs():
    page = ("<div class='cell docutils container'><div class='cell_input docutils container'>"
            "<div class='highlight-ipython3 notranslate'><div class='highlight'><pre>"
            "<span class='n'>x</span> <span class='o'>=</span> <span class='mi'>1</span>"
            "&lt;2\n</pre></div></div></div><div class='cell_output docutils container'>"
            "<div class='output text_plain highlight-myst-ansi'><div class='highlight'>"
            "<pre>1</pre></div></div></div></div>")
    parser = InputCells()
    parser.feed(page)
    assert parser.cells == ["x = 1<2\n"]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_rendered_code_runs_as_one_script(page, tmp_path):
    cells = rendered_cells(page)
    script = tmp_path / f"{page.stem}.py"
    script.write_text("\n\n".join(cells) + "\n" + MEASURE_FIGURES, encoding="utf8")
    download = page.with_suffix(".py")
    if download.exists():  # the page's script download is the code it shows
        shown = [c.strip("\n") for c in cells]
        body = download.read_text(encoding="utf8")
        downloaded = [c.split("\n", 1)[1].strip("\n") for c in re.split(r"\n\n# %% ", body)[1:]]
        assert downloaded == shown, f"{download.name} is not the code {page.name} shows"
    # Run where the build runs the page (its folder under docs/), in a scratch copy of the
    # tree that holds only the repository's recorded studies and benchmark runs, which
    # pages may read.
    cwd = tmp_path / "docs" / page.relative_to(SITE).parent
    cwd.mkdir(parents=True, exist_ok=True)
    for recorded in ("studies", "benchmarks"):
        (tmp_path / recorded).symlink_to(ROOT / recorded, target_is_directory=True)
    (tmp_path / "pyproject.toml").symlink_to(ROOT / "pyproject.toml")  # marks a clone
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{page_id(page)} fails as a script:\n{done.stderr[-4000:]}"
    small = [f for f in json.loads((cwd / "figure_text.json").read_text())
             if f["pixels"] < SMALLEST_PX]
    assert not small, (f"{page_id(page)}: figure text under {SMALLEST_PX} px when the figure "
                       f"is {PHONE_PX} px wide (a phone): {small}; make the figure narrower "
                       f"or its text larger")
