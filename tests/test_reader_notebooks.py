"""Every notebook the site offers for download is the code its page shows, and runs top
to bottom with only braintask, matplotlib and a Jupyter kernel: no myst-nb, no Sphinx.
Run by `nox -s notebooks` (marked `notebooks`, so `nox -s tests` leaves it out).

Each notebook's code cells must equal, cell by cell, the page's rendered code, which
`nox -s readers` (tests/test_rendered_code.py) runs as a script in an environment without
the site's tooling; so here one notebook runs in a kernel (the kernel's own part: the
notebook format, display, the inline backend), rather than every page's code a second
time."""

import importlib
import json
import os
from pathlib import Path

import pytest
from site_pages import rendered_cells

ROOT = Path(__file__).parents[1]
SITE = Path(os.environ.get("BRAINTASK_SITE", ROOT / "docs" / "_build" / "html"))
NOTEBOOKS = sorted(p for p in SITE.rglob("*.ipynb")
                   if not p.relative_to(SITE).parts[0].startswith("_")) if SITE.is_dir() else []

pytestmark = pytest.mark.notebooks


def nb_id(path: Path) -> str:
    return path.relative_to(SITE).with_suffix("").as_posix()


@pytest.mark.parametrize("module", ["myst_nb", "sphinx", "myst_parser"])
def test_no_documentation_tooling_here(module):
    with pytest.raises(ImportError):
        importlib.import_module(module)


def test_every_tutorial_has_a_notebook():
    assert {"tutorials/horn_case_study", "tutorials/memory_across_delays",
            "tutorials/cogtask_per_step"} <= {nb_id(p) for p in NOTEBOOKS}


# The notebook that runs in a kernel: a short page that trains, evaluates and plots.
KERNEL_RUN = "tutorials/your_own_task"


def read_notebook(path: Path):
    import nbformat

    notebook = nbformat.reads(path.read_text(encoding="utf8"), as_version=4)
    nbformat.validate(notebook)
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_id)
def test_downloaded_notebook_is_the_page_code(path):
    notebook = read_notebook(path)
    code = [c.source.strip("\n") for c in notebook.cells if c.cell_type == "code"]
    assert "myst_nb" not in "\n".join(code) and "glue(" not in "\n".join(code)
    assert "{glue" not in "\n".join(c.source for c in notebook.cells)  # values filled in
    page = path.with_suffix(".html")
    assert code == [c.strip("\n") for c in rendered_cells(page)], \
        f"{path.name} is not the code {page.name} shows"


def test_a_downloaded_notebook_runs_in_a_kernel(tmp_path):
    from nbclient import NotebookClient

    path = SITE / f"{KERNEL_RUN}.ipynb"
    assert path in NOTEBOOKS, f"no notebook {path} on the built site"
    notebook = read_notebook(path)
    client = NotebookClient(notebook, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, json.dumps(errors[0])[:2000]


# The pages rendered without executing them (`nox -s pages`), which the readers check
# may read instead of the executed site: they must show the same code, page by page.
PAGES = ROOT / "docs" / "_build" / "pages" / "html"


def test_pages_rendered_without_execution_show_the_sites_code():
    if not (PAGES / "index.html").is_file():
        pytest.skip(f"no pages rendered without execution in {PAGES} (`nox -s pages`)")
    pages = [p.relative_to(SITE) for p in sorted(SITE.rglob("*.html"))
             if not p.relative_to(SITE).parts[0].startswith("_")]
    assert pages and {p.relative_to(PAGES) for p in PAGES.rglob("*.html")} >= set(pages)
    shown = {str(p): rendered_cells(SITE / p) for p in pages}
    assert sum(map(len, shown.values())) > 50  # the tutorials' cells are there
    differ = [p for p in pages if rendered_cells(PAGES / p) != shown[str(p)]]
    assert not differ, f"these pages show other code without execution: {differ}"
    for py in PAGES.rglob("*.py"):  # the pages' .py downloads too
        assert py.read_bytes() == (SITE / py.relative_to(PAGES)).read_bytes(), py
