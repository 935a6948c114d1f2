"""Every notebook the site offers for download runs top to bottom with only braintask,
matplotlib and a Jupyter kernel: no myst-nb, no Sphinx. Run by `nox -s readers`
(marked `notebooks`, so `nox -s tests` leaves it out)."""

import importlib
import json
import os
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_id)
def test_downloaded_notebook_runs(path, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.reads(path.read_text(encoding="utf8"), as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "myst_nb" not in code and "glue(" not in code
    assert "{glue" not in "\n".join(c.source for c in notebook.cells)  # values filled in
    client = NotebookClient(notebook, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, json.dumps(errors[0])[:2000]
