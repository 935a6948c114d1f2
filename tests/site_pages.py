"""Reading the built site's pages: the code of their input cells, as rendered."""

import html
from html.parser import HTMLParser
from pathlib import Path


class InputCells(HTMLParser):
    """Text of the <pre> inside each div.cell_input, in page order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self._div_depth = 0  # open <div>s inside the current cell_input
        self._in_pre = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            if self._div_depth:
                self._div_depth += 1
            elif "cell_input" in classes:
                self._div_depth = 1
        elif tag == "pre" and self._div_depth:
            self._in_pre, self._text = True, []

    def handle_endtag(self, tag):
        if tag == "pre" and self._in_pre:
            self._in_pre = False
            self.cells.append("".join(self._text))
        elif tag == "div" and self._div_depth:
            self._div_depth -= 1

    def handle_data(self, data):
        if self._in_pre:
            self._text.append(data)


def rendered_cells(page: Path) -> list[str]:
    parser = InputCells()
    parser.feed(page.read_text(encoding="utf8"))
    return [html.unescape(c).rstrip("\n") for c in parser.cells]
