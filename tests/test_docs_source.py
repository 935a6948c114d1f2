"""The site's sources, checked without building it: every public name is documented,
no code line a reader sees is wider than the column, epoch axes count in whole epochs."""

import ast
import re
from pathlib import Path

import pytest

import braintask
from helpers import import_file

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
reader_copies = import_file(DOCS / "_ext" / "reader_copies.py")
site_check = import_file(DOCS / "site_check.py")
MAX_LINE, WIDE_LINES_ALLOWED = site_check.MAX_CODE_LINE, site_check.WIDE_LINES_ALLOWED

PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FENCE = re.compile(r"^(`{3,}|~{3,})\s*\{?([\w-]*)\}?[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
CODE_KINDS = {"code-cell", "python", "py", "bash", "sh", "console", "text", "pycon", ""}


def code_blocks(path: Path):
    """(first line number, kind, code lines) of every code fence of a MyST page that
    the rendered page shows (cells tagged remove-cell or remove-input are not shown)."""
    text = path.read_text(encoding="utf8")
    for m in FENCE.finditer(text):
        kind, body = m.group(2), m.group(3)
        if kind not in CODE_KINDS:
            continue  # directives (toctree, eval-rst, glue:md, ...) are not code
        lines = body.splitlines()
        options = []
        if kind == "code-cell" and lines and lines[0] == "---":  # a YAML block of options
            end = lines.index("---", 1)
            options, lines = lines[:end + 1], lines[end + 1:]
        while kind == "code-cell" and lines and lines[0].startswith(":"):
            options.append(lines.pop(0))  # the cell's own options
        if any(tag in o for o in options for tag in ("remove-cell", "remove-input")):
            continue
        yield text[:m.start()].count("\n") + 2 + len(options), kind, lines


def docstring_examples():
    """(module, line, text) of every line of a docstring example in the package."""
    for path in sorted((ROOT / "src" / "braintask").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node, clean=True) or ""
                for line in doc.splitlines():
                    if line.lstrip().startswith((">>> ", "... ")):
                        yield path.name, getattr(node, "name", "module"), line.strip()


def test_pages_found():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "api.md", "tutorials/horn_case_study.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_no_code_line_wider_than_the_column(page):
    wide = [f"{page.name}:{start + i} ({len(line)} chars): {line}"
            for start, _, lines in code_blocks(page)
            for i, line in enumerate(lines) if len(line) > MAX_LINE]
    assert not wide, "\n".join(wide)


REFERENCE_FREE = {"index.md", "api.md", "claims.md"}  # the front page and reference pages
AUTHORS = r"([A-Z][\w-]+)(?:\s+(?:&|and)\s+[A-Z][\w-]+|\s+et\s+al\.)?"
CITATION = re.compile(rf"{AUTHORS},\s+(\d{{4}})|{AUTHORS}\s+\((\d{{4}})\)")


def citations(text: str) -> set:
    """(first author, year) of every author-year citation in ``text``: "(Yang et al.,
    2019)", "Kingma & Ba, 2015" or "Yang et al. (2019)"."""
    return {(m[0] or m[2], m[1] or m[3]) for m in CITATION.findall(text)}


def references(page: Path) -> list[str]:
    """The entries of the page's closing "## References" section ([] if it has none)."""
    text = page.read_text(encoding="utf8")
    heads = list(re.finditer(r"^## .*$", text, re.M))
    if not heads or heads[-1].group(0).strip() != "## References":
        return []
    return re.split(r"^- ", text[heads[-1].end():], flags=re.M)[1:]


def unlisted(page: Path) -> list[str]:
    """Citations in the page's text that no entry of its References lists."""
    entries, text = references(page), page.read_text(encoding="utf8")
    body = text[:text.rindex("## References")] if entries else text
    return sorted(f"{name}, {year}" for name, year in citations(body)
                  if not any(e.startswith(name) and f"({year})" in e for e in entries))


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in REFERENCE_FREE],
                         ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_page_ends_with_the_references_its_text_cites(page):
    assert references(page), f"{page.name} does not end with a '## References' section"
    assert not unlisted(page), f"{page.name} cites {unlisted(page)} but does not list them"


def test_reference_check_sees_an_unlisted_citation(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("As shown (Smith et al., 2001) and by Jones (2003).\n\n"
                    "## References\n\n- Jones, A. (2003). A title.\n- Smith, B. (2002). B.\n")
    assert citations(page.read_text()) == {("Smith", "2001"), ("Jones", "2003")}
    assert unlisted(page) == ["Smith, 2001"]


def test_no_docstring_example_wider_than_the_column():
    examples = list(docstring_examples())
    assert examples  # the scan does see the examples
    wide = [f"{mod} {obj}: {line}" for mod, obj, line in examples
            if len(line) > MAX_LINE and line not in WIDE_LINES_ALLOWED]
    assert not wide, "\n".join(wide)
    # The exceptions are still in the sources and still wide: the list only shrinks.
    lines = {line for _, _, line in examples}
    stale = [w for w in WIDE_LINES_ALLOWED if w not in lines or len(w) <= MAX_LINE]
    assert not stale, f"remove from site_check.WIDE_LINES_ALLOWED: {stale}"


def test_line_check_catches_a_wide_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```{code-cell} ipython3\n:tags: [x]\nok = 1\n"
                    + "x = " + "1 + " * 30 + "1\n```\n\n```{code-cell} ipython3\n"
                    + ":tags: [remove-cell]\nhidden = 1\n```\n", encoding="utf8")
    (_, kind, lines), = code_blocks(page)
    assert kind == "code-cell" and lines[0] == "ok = 1" and len(lines[1]) > MAX_LINE


def documented_names(text: str) -> set[str]:
    return set(re.findall(r"^\.\. auto(?:function|class|exception|data)::\s+braintask\.(\w+)",
                          text, re.M))


def test_api_page_documents_every_public_name():
    documented = documented_names((DOCS / "api.md").read_text(encoding="utf8"))
    public = set(braintask.__all__)
    assert not public - documented, f"public but not on docs/api.md: {sorted(public - documented)}"
    assert not documented - public, f"on docs/api.md but not public: {sorted(documented - public)}"


def test_api_check_sees_a_missing_name():
    text = (DOCS / "api.md").read_text(encoding="utf8")
    dropped = text.replace(".. autofunction:: braintask.count_parameters", "")
    assert "count_parameters" in documented_names(text)
    assert "count_parameters" not in documented_names(dropped)


def test_history_plot_ticks_whole_epochs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5 + 0.1 * e,
                "test_loss": 1 / e, "test_acc": 0.5 + 0.1 * e, "time": 0.1} for e in (1, 2, 3)]
    history = braintask.History(records=records, initial={"test_loss": 1.2, "test_acc": 0.5},
                                chance=0.5)
    fig = history.plot()
    try:
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
    finally:
        plt.close(fig)


def test_reader_copies_drop_hidden_cells_and_fill_in_glue():
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"claims": []}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
        {"cell_type": "code", "metadata": {}, "source": "x = 0.123456", "outputs": []},
        {"cell_type": "code", "metadata": {"tags": ["remove-cell"]},
         "source": "from myst_nb import glue\nglue('x', x, display=False)", "outputs": []},
        {"cell_type": "markdown", "metadata": {},
         "source": "x is {glue:text}`x:.1%`, {glue:md}`word`, {glue:text}`unknown`."},
    ]}
    glued = {"x": {"data": {"text/plain": "0.123456"}},
             "word": {"data": {"text/markdown": "**once**", "text/plain": "<Markdown>"}}}
    reader = reader_copies.reader_notebook(notebook, glued)
    assert [c["source"] for c in reader["cells"]] == [
        "# Title", "x = 0.123456", "x is 12.3%, **once**, {glue:text}`unknown`."]
    assert "claims" not in reader["metadata"] and reader["metadata"]["kernelspec"]["name"] == "python3"
    script = reader_copies.reader_script(notebook, "Title", "page")
    assert "x = 0.123456" in script and "myst_nb" not in script
    assert "Needs braintask and matplotlib." in script and "clone" not in script
    compile(script, "page.py", "exec")
    assert reader_copies.fill_glue("```{glue:md} word\n:format: myst\n```", glued) == "**once**"


def page_code(page: Path) -> list[str]:
    """The code of the cells a page shows, cell by cell."""
    return ["\n".join(lines) for _, kind, lines in code_blocks(page) if kind == "code-cell"]


def test_the_pages_that_read_records_say_they_need_a_clone():
    """A page whose code reads the repository's records (studies/records,
    benchmarks/records) finds them from anywhere inside a clone, never by a path
    relative to the page's folder, and its downloads say they need the clone."""
    relative = [p.relative_to(DOCS).as_posix() for p in PAGES
                if any(re.search(r"""["']\.\./""", code) for code in page_code(p))]
    assert not relative, f"pages whose code reads a path relative to their folder: {relative}"
    needing = {p.relative_to(DOCS).as_posix() for p in PAGES
               if reader_copies.needs_clone(page_code(p))}
    assert needing == {"performance.md", "tutorials/memory_across_delays.md",
                       "tutorials/model_gallery.md", "tutorials/task_atlas.md"}
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                           "source": 'study = braintask.Study.recorded("memory")'}]}
    script = reader_copies.reader_script(notebook, "Title", "page")
    assert "a clone of the braintask repository" in script
    assert "from anywhere inside the clone" in script


def test_a_cells_yaml_options_are_not_its_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```{code-cell} ipython3\n---\nmystnb:\n  image:\n    alt: \""
                    + "a long description " * 8 + "\"\n---\nplot = 1\n```\n", encoding="utf8")
    (_, kind, lines), = code_blocks(page)
    assert lines == ["plot = 1"]
