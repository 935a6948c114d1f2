"""The code a reader sees on the built site runs where the reader pastes it.

For every page of docs/_build/html with notebook cells, the code of its input cells,
read from the HTML as rendered (not the sources, not the hidden cells, not the
outputs), runs in order as one script, in this environment: braintask and its
dependencies, without the site's tooling. The page's `.py` download must be that same
code. Run by `nox -s readers` after a docs build; marked `rendered`, so `nox -s tests`
leaves it out.
"""

import importlib
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
    script.write_text("\n\n".join(cells) + "\n", encoding="utf8")
    download = page.with_suffix(".py")
    if download.exists():  # the page's script download is the code it shows
        shown = [c.strip("\n") for c in cells]
        body = download.read_text(encoding="utf8")
        downloaded = [c.split("\n", 1)[1].strip("\n") for c in re.split(r"\n\n# %% ", body)[1:]]
        assert downloaded == shown, f"{download.name} is not the code {page.name} shows"
    # Run where the build runs the page (its folder under docs/), in a scratch copy of the
    # tree that holds only the repository's recorded studies, which pages may read.
    cwd = tmp_path / "docs" / page.relative_to(SITE).parent
    cwd.mkdir(parents=True, exist_ok=True)
    (tmp_path / "studies").symlink_to(ROOT / "studies", target_is_directory=True)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{page_id(page)} fails as a script:\n{done.stderr[-4000:]}"
