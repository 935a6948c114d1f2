"""What a reader takes away from a notebook page: a notebook and a script that run
without the site's tooling, and a thumbnail for the front page.

For every executed notebook page (not the front page), at the end of an HTML build:

- ``<page>.ipynb``: the executed notebook without the cells tagged ``remove-cell``
  (the ones that glue numbers into the prose for this site), its outputs kept, and
  the glue roles in its text replaced by the values this build glued;
- ``<page>.py``: the code of the cells the page shows, in order, as one script.

Both are written next to the page's HTML and linked at the top of the page, with
what they need to run: braintask and matplotlib, and for a page whose code reads the
repository's recorded results (it calls ``braintask.Study.recorded`` or
``braintask.Study.repository``) a clone of the repository to run in. Pages
that set ``thumbnail: N`` in their front matter also get the N-th figure (from 1)
their run drew, saved as ``_static/thumbnails/<page>.png`` for the front page's cards.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path

HIDDEN_TAGS = {"remove-cell"}
GLUE_ROLE = re.compile(r"\{glue(?::text|:md|:any)?\}`([\w.-]+)(?::([^`]*))?`")
GLUE_BLOCK = re.compile(r"```\{glue(?::md|:figure|:math)?\}\s+([\w.-]+)\n(?::[^\n]*\n)*```", re.M)
PAGES_WITHOUT_DOWNLOADS = {"index"}
#: The calls that find the clone of the repository a page's code runs in: a page whose
#: code makes one reads records that only a clone holds.
CLONE_CALL = re.compile(r"\bStudy\.(?:recorded|repository)\(")
NEEDS = "braintask and matplotlib"
CLONE = "a clone of the braintask repository ({} the recorded results kept there)"
ANYWHERE = "run {} from anywhere inside the clone"


def _executed(app) -> Path:
    return Path(app.outdir).parent / "jupyter_execute"


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def shown_code(notebook: dict) -> list[str]:
    """The code of the cells a page shows, in order."""
    return [_source(c).strip("\n") for c in notebook["cells"]
            if c["cell_type"] == "code" and not _tags(c) & HIDDEN_TAGS]


def needs_clone(code) -> bool:
    """Whether code (the code cells of a page, in order) reads the repository's
    recorded results, and so runs only inside a clone of the repository."""
    return any(CLONE_CALL.search(cell) for cell in code)


def _glue_text(entry: dict, fmt: str | None) -> str:
    data = entry.get("data", entry)
    if "text/markdown" in data:
        md = data["text/markdown"]
        return "".join(md) if isinstance(md, list) else md
    text = data.get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    if fmt:
        try:
            return format(float(text), fmt)
        except ValueError:
            pass
    return text


def fill_glue(markdown: str, glued: dict) -> str:
    """Replace glue roles and blocks with the values a build glued."""
    def role(m):
        key, fmt = m.group(1), m.group(2)
        return _glue_text(glued[key], fmt) if key in glued else m.group(0)

    def block(m):
        key = m.group(1)
        return _glue_text(glued[key], None) if key in glued else m.group(0)

    return GLUE_ROLE.sub(role, GLUE_BLOCK.sub(block, markdown))


def reader_notebook(notebook: dict, glued: dict) -> dict:
    """The executed notebook as a reader gets it: hidden cells dropped, glue filled in."""
    cells = []
    for cell in notebook["cells"]:
        if _tags(cell) & HIDDEN_TAGS:
            continue
        cell = json.loads(json.dumps(cell))
        if cell["cell_type"] == "markdown":
            cell["source"] = fill_glue(_source(cell), glued)
        cells.append(cell)
    meta = {k: v for k, v in notebook.get("metadata", {}).items()
            if k in ("kernelspec", "language_info")}
    meta["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {**notebook, "cells": cells, "metadata": meta}


def reader_script(notebook: dict, title: str, page: str) -> str:
    code = shown_code(notebook)
    needs = (f"{NEEDS}, and {CLONE.format('it reads')}: {ANYWHERE.format('it')}"
             if needs_clone(code) else NEEDS)
    head = (f'"""{title}\n\nThe code of the page {page}.html of the braintask documentation,\n'
            + textwrap.fill(f"cell by cell. Needs {needs}.", 88) + '"""\n')
    return head + "".join(f"\n\n# %% cell {i}\n{cell}\n" for i, cell in enumerate(code, 1))


def _title(notebook: dict, fallback: str) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^# (.+)$", _source(cell), re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _figures(notebook: dict) -> list[bytes]:
    out = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                out.append(base64.b64decode("".join(png) if isinstance(png, list) else png))
    return out


def notebook_pages(app) -> list[tuple[str, Path]]:
    root = _executed(app)
    return [(p.relative_to(root).with_suffix("").as_posix(), p)
            for p in sorted(root.rglob("*.ipynb"))]


def add_download_links(app, doctree):
    from docutils import nodes  # here, so that the functions above need only the stdlib

    docname = app.env.docname
    is_notebook = any("cell" in n["classes"] for n in doctree.findall(nodes.container))
    if docname in PAGES_WITHOUT_DOWNLOADS or not is_notebook:
        return
    name = docname.split("/")[-1]
    code = [block.astext() for cell in doctree.findall(nodes.container)
            if "cell_input" in cell["classes"] for block in cell.findall(nodes.literal_block)]
    needs = (f"Both need {NEEDS} installed, and {CLONE.format('they read')}: "
             f"{ANYWHERE.format('them')}." if needs_clone(code)
             else f"Both run with {NEEDS} installed.")
    link = nodes.raw(
        "",
        f'<p class="nb-download">Download this page\'s code: '
        f'<a href="{name}.ipynb" download>Jupyter notebook ({name}.ipynb)</a> or '
        f'<a href="{name}.py" download>Python script ({name}.py)</a>. {needs}</p>',
        format="html",
    )
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        section.insert(1, link)


def write_copies(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    thumbs = outdir / "_static" / "thumbnails"
    for docname, ipynb in notebook_pages(app):
        notebook = json.loads(ipynb.read_text(encoding="utf8"))
        glue_file = ipynb.with_name(ipynb.stem + ".glue.json")
        glued = json.loads(glue_file.read_text(encoding="utf8")) if glue_file.exists() else {}
        target = outdir / docname
        target.parent.mkdir(parents=True, exist_ok=True)
        if docname not in PAGES_WITHOUT_DOWNLOADS:
            reader = reader_notebook(notebook, glued)
            target.with_suffix(".ipynb").write_text(json.dumps(reader, indent=1) + "\n",
                                                    encoding="utf8")
            target.with_suffix(".py").write_text(
                reader_script(notebook, _title(notebook, docname), docname), encoding="utf8")
        wanted = notebook.get("metadata", {}).get("thumbnail")
        figures = _figures(notebook)
        if wanted and figures:
            thumbs.mkdir(parents=True, exist_ok=True)
            figure = figures[min(int(wanted), len(figures)) - 1]
            (thumbs / f"{docname.split('/')[-1]}.png").write_bytes(figure)


def setup(app):
    app.connect("doctree-read", add_download_links)
    app.connect("build-finished", write_copies)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
