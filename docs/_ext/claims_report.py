"""Sphinx glue for the tutorials: the claims report table and notebook downloads.

- ``.. claims-report::`` (``{claims-report}`` in MyST) becomes a table of every
  claim of every executed tutorial: bound, value measured in this build, status.
  It is filled in after all notebooks have run, and rebuilt on every build.
- Every page under ``tutorials/`` gets a link to its executed notebook, which is
  copied next to the HTML page.
"""

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from check_claims import check_folder

REPORT_DOC = "claims"


class claims_placeholder(nodes.General, nodes.Element):
    pass


class ClaimsReport(SphinxDirective):
    def run(self):
        return [claims_placeholder()]


def _executed_folder(app) -> Path:
    return Path(app.outdir).parent / "jupyter_execute"


def _table(results) -> nodes.table:
    headers = ["page", "claim", "meaning", "bound", "measured", "seeds holding", "status"]
    table = nodes.table(classes=["claims"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    group.extend(nodes.colspec(colwidth=w) for w in (14, 16, 36, 10, 9, 9, 7))
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body

    def row(cells, status=None):
        tr = nodes.row()
        for i, text in enumerate(cells):
            entry = nodes.entry()
            if status and i == len(cells) - 1:
                entry["classes"].append(f"claim-{status.lower()}")
            entry += nodes.paragraph(text=text)
            tr += entry
        return tr

    head += row(headers)
    for r in results:
        measured = "never glued" if r.measured is None else f"{r.measured:.4g}"
        body += row([r.page, r.key, r.meaning, r.bound, measured, r.seeds or "-", r.status], r.status)
    return table


def fill_report(app, doctree, docname):
    placeholders = list(doctree.findall(claims_placeholder))
    if not placeholders:
        return
    results = check_folder(_executed_folder(app))
    n_pass = sum(r.status == "pass" for r in results)
    summary = nodes.paragraph(text=f"{n_pass} of {len(results)} claims hold in this build.")
    for node in placeholders:
        node.replace_self([summary.deepcopy(), _table(results)] if results else
                          [nodes.paragraph(text="No tutorial declared a claim in this build.")])


def always_rebuild_report(app, env, added, changed, removed):
    # The table depends on the notebooks' outputs, not on its own source.
    return [REPORT_DOC] if REPORT_DOC in env.found_docs else []


def add_download_link(app, doctree):
    docname = app.env.docname
    if not docname.startswith("tutorials/"):
        return
    name = docname.split("/")[-1]
    link = nodes.raw(
        "",
        f'<p class="nb-download"><a href="{name}.ipynb" download>'
        f"Download this tutorial as a Jupyter notebook ({name}.ipynb)</a></p>",
        format="html",
    )
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        section.insert(1, link)


def copy_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = _executed_folder(app) / "tutorials"
    target = Path(app.outdir) / "tutorials"
    for ipynb in source.glob("*.ipynb"):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ipynb, target / ipynb.name)


def setup(app):
    app.add_node(claims_placeholder)
    app.add_directive("claims-report", ClaimsReport)
    app.connect("doctree-resolved", fill_report)
    app.connect("env-get-outdated", always_rebuild_report)
    app.connect("doctree-read", add_download_link)
    app.connect("build-finished", copy_notebooks)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
