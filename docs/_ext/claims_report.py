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


COLUMNS = ["claim", "bound", "measured", "seeds holding", "status"]


def _table(results) -> nodes.table:
    """One page's claims: the claim (its key, then what it means), bound, value, status.
    Every cell carries its column's name as a class, so that on a narrow screen the CSS
    can show each row as a block of labelled lines."""
    table = nodes.table(classes=["claims"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    group.extend(nodes.colspec(colwidth=w) for w in (52, 13, 11, 14, 8))
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body

    def row(cells, status=None):
        tr = nodes.row()
        for name, content in zip(COLUMNS, cells):
            entry = nodes.entry(classes=["col-" + name.split()[0]])
            if status and name == "status":
                entry["classes"].append(f"claim-{status.lower()}")
            entry += content if isinstance(content, nodes.Node) else nodes.paragraph(text=content)
            tr += entry
        return tr

    head += row(COLUMNS)
    for r in results:
        measured = "never glued" if r.measured is None else f"{r.measured:.4g}"
        claim = nodes.paragraph()
        claim += nodes.literal(text=r.key)
        claim += nodes.Text(f": {r.meaning}" if r.meaning else "")
        body += row([claim, r.bound, measured, r.seeds or "-", r.status], r.status)
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
    content: list[nodes.Node] = [
        nodes.paragraph(text=f"{n_pass} of {len(results)} claims hold in this build.")]
    pages = list(dict.fromkeys(r.page for r in results))  # in site order
    for page in pages:
        title = app.env.titles[page].astext() if page in app.env.titles else page
        if page == app.config.root_doc:
            title = "Front page: the quickstart"
        heading = nodes.paragraph(classes=["claims-page"])
        link = nodes.reference(text=title, internal=True,
                               refuri=app.builder.get_relative_uri(docname, page))
        heading += nodes.strong("", "", link)
        box = nodes.container(classes=["table-scroll"])
        box += _table([r for r in results if r.page == page])
        content += [heading, box]
    if not results:
        content = [nodes.paragraph(text="No page declared a claim in this build.")]
    for node in placeholders:
        node.replace_self([n.deepcopy() for n in content])


def always_rebuild_report(app, env, added, changed, removed):
    # The table depends on the notebooks' outputs, not on its own source.
    return [REPORT_DOC] if REPORT_DOC in env.found_docs else []


def setup(app):
    app.add_node(claims_placeholder)
    app.add_directive("claims-report", ClaimsReport)
    app.connect("doctree-resolved", fill_report)
    app.connect("env-get-outdated", always_rebuild_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
