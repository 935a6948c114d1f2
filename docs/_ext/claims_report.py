"""The claims report: ``.. claims-report::`` (``{claims-report}`` in MyST) becomes a
table of every claim of every executed page (bound, value measured in this build,
status), in the order of the site's table of contents. It is filled in after all
notebooks have run, and rebuilt on every build. The table scrolls sideways inside
its own box on narrow screens.
"""

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


def site_order(env, root: str) -> list[str]:
    """Documents in the order the table of contents lists them (depth first)."""
    order: list[str] = []

    def walk(doc):
        if doc in order:
            return
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(root)
    return order


def fill_report(app, doctree, docname):
    placeholders = list(doctree.findall(claims_placeholder))
    if not placeholders:
        return
    order = site_order(app.env, app.config.root_doc)
    results = sorted(check_folder(_executed_folder(app)),
                     key=lambda r: order.index(r.page) if r.page in order else len(order))
    n_pass = sum(r.status == "pass" for r in results)
    summary = nodes.paragraph(text=f"{n_pass} of {len(results)} claims hold in this build.")
    for node in placeholders:
        box = nodes.container(classes=["table-scroll"])
        box += _table(results)
        node.replace_self([summary.deepcopy(), box] if results else
                          [nodes.paragraph(text="No tutorial declared a claim in this build.")])


def always_rebuild_report(app, env, added, changed, removed):
    # The table depends on the notebooks' outputs, not on its own source.
    return [REPORT_DOC] if REPORT_DOC in env.found_docs else []


def setup(app):
    app.add_node(claims_placeholder)
    app.add_directive("claims-report", ClaimsReport)
    app.connect("doctree-resolved", fill_report)
    app.connect("env-get-outdated", always_rebuild_report)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
