"""Check the built HTML site in a real browser (headless Chromium, driven by Playwright).

    python docs/site_check.py [docs/_build/html] [--chromium /usr/bin/chromium] [--network]
                              [--copy-check {auto,target-text}]

The folder is served on 127.0.0.1 (a random free port) and every page is opened,
except genindex.html and search.html. On each page:

- it loads with HTTP 200, with no console error and no uncaught JavaScript error, and
  no local resource (CSS, JS, image) answers with an error status;
- every <img> has loaded (naturalWidth > 0), and every notebook cell that calls
  plt.show() / fig.show() displays a figure; every figure a cell drew has alt text
  that says what it shows (set with the cell's ``mystnb: image: alt:`` metadata, not
  a file name) and opens at full size when clicked (docs/_static/enlarge.js);
- every code block has a copy button (sphinx-copybutton): notebook input cells
  (div.cell_input) and prose code blocks, i.e. every div whose class contains
  "highlight-" outside notebook cells (this includes docstring examples, whose class
  is "doctest highlight-default"); no notebook output (div.cell_output) has one;
- pressing each copy button puts the code on the clipboard without prompts: the
  copied text is the block's code lines with ">>> ", "... " and "$ " stripped, and
  never contains ">>> "; lines of a prompted block without a prompt are output, not code;
- no Python traceback and no error output (div.output.error, .output.traceback,
  a stderr output containing "Error");
- no line of code a reader sees (notebook inputs, code blocks, docstring examples) is
  wider than MAX_CODE_LINE characters (WIDE_LINES_ALLOWED lists known exceptions);
- claims.html: at least one claim, every status cell (td.claim-pass / td.claim-fail) is pass;
- every notebook page but the front page links its .ipynb and .py downloads, which
  answer 200 (the notebook with JSON cells);
- the page requests nothing from another host (it reads the same offline);
- a full-page screenshot is written to <build>/screenshots/<page>-1280.png.

Then every page again in a 400 px wide viewport (a phone): the page body must not be
wider than the viewport (document.documentElement.scrollWidth <= innerWidth; wide
code, tables and figures scroll or shrink inside their own box), and a screenshot
goes to <build>/screenshots/<page>-400.png.

Requests to other hosts are answered with an empty stub and count as failures,
unless --network is given; the check needs no network and is the same on every machine.
One line per page; exit status 1 with the list of failures if any check fails,
2 if the browser or the site folder is missing. Standard library + playwright only.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

DEFAULT_BUILD = Path(__file__).parent / "_build" / "html"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
SKIP_PAGES = {"genindex.html", "search.html"}
# No line of code a reader sees (notebook input, code block, docstring example) may be
# wider than this many characters: the content column shows about 88 without scrolling.
MAX_CODE_LINE = 88
NARROW = 400  # px: the viewport of the second pass (a phone)
# Docstring examples that are wider for now (tests/test_docs_source.py checks that
# each is still in the sources, so this list can only shrink).
WIDE_LINES_ALLOWED = ()
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# The prompts conf.py tells sphinx-copybutton to strip (copybutton_prompt_text).
PROMPT = re.compile(r"^(>>> |\.\.\. |\$ )(.*)$")
SENTINEL = "\u2063site-check-sentinel\u2063"
# Records where uncaught errors come from (file and line), which "pageerror" does not
# tell for a script that fails to parse.
WHERE_ERRORS_JS = """
window.__siteCheckErrors = [];
window.addEventListener("error", e => window.__siteCheckErrors.push(
  [String(e.message), e.filename || "", e.lineno || 0]), true);
"""

# Collects, in the page, what the checks need; one round trip per page.
PAGE_FACTS_JS = r"""
() => {
  const text = el => (el ? el.innerText : "");
  const inputs = [...document.querySelectorAll("div.cell_input")];
  const prose = [...document.querySelectorAll("div[class*='highlight-']")]
    .filter(d => !d.closest("div.cell_input, div.cell_output") && !d.matches(".output"));
  const blocks = [
    ...inputs.map(d => ["cell input", d]),
    ...prose.map(d => [d.className.split(" ").find(c => c.startsWith("highlight-")) +
                       (d.classList.contains("doctest") ? " (doctest)" : ""), d]),
  ];
  blocks.forEach(([, d], i) => d.setAttribute("data-site-check", String(i)));
  const stderr = [...document.querySelectorAll("div.output.stderr")];
  // Input cells that draw a figure must show one: a figure that was never rendered
  // (say, a non-inline matplotlib backend in the kernel) leaves no <img> to check.
  const figureCells = [...document.querySelectorAll("div.cell")]
    .filter(c => /\b(plt|fig|figure)\.show\(\)/.test(text(c.querySelector("div.cell_input pre"))))
    .map(c => ({head: text(c.querySelector("div.cell_input pre")).split("\n")[0].slice(0, 60),
                shown: c.querySelectorAll("div.cell_output img").length}));
  // Every figure a cell drew: its alt text, and whether a click opens it full size.
  const figures = [...document.querySelectorAll("div.cell_output img")].map(img => ({
    src: img.getAttribute("src"), alt: img.getAttribute("alt") || "",
    linked: !!(img.closest("a") && img.closest("a").getAttribute("href") === img.getAttribute("src"))}));
  return {
    figures,
    images: [...document.querySelectorAll("img")].map(img => ({
      src: img.getAttribute("src"), ok: img.complete && img.naturalWidth > 0})),
    blocks: blocks.map(([kind, d], i) => ({
      index: i, kind,
      buttons: d.querySelectorAll("button.copybtn").length,
      code: text(d.querySelector("pre")),
      head: text(d.querySelector("pre")).split("\n")[0].slice(0, 60)})),
    outputs: [...document.querySelectorAll("div.cell_output")].map(d => ({
      buttons: d.querySelectorAll("button.copybtn").length,
      head: d.innerText.split("\n")[0].slice(0, 60)})),
    figureCells,
    traceback: document.body.innerText.includes("Traceback (most recent call last)"),
    errorOutputs: [...document.querySelectorAll("div.output.error, .output.traceback")]
      .map(d => d.innerText.split("\n")[0].slice(0, 80)),
    stderr: stderr.map(d => d.innerText),
    claims: [...document.querySelectorAll("td.claim-pass, td.claim-fail")].map(td => ({
      status: td.classList.contains("claim-pass") ? "pass" : "fail",
      text: td.innerText.trim(),
      row: [...td.parentElement.children].slice(0, 2).map(c => c.innerText.trim()).join(" / ")})),
    downloads: [...document.querySelectorAll("a[href$='.ipynb'], a[href$='.py']")]
      .map(a => a.getAttribute("href")),
    isNotebook: document.querySelectorAll("div.cell").length > 0,
  };
}
"""


# The narrow pass: does the page fit, and if not, which elements stick out (those not
# inside a box that scrolls or clips them)?
NARROW_FACTS_JS = r"""
() => {
  const width = window.innerWidth;
  const clipped = el => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") return true;
    }
    return false;
  };
  const culprits = [...document.body.querySelectorAll("*")]
    .filter(el => el.getBoundingClientRect().right > width + 1 && !clipped(el))
    .slice(0, 3)
    .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}` +
               ` (${Math.round(el.getBoundingClientRect().right)} px)`);
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, culprits};
}
"""


def expected_copy(code: str) -> list[str]:
    """The lines a copy button should put on the clipboard: for a block with prompts,
    its prompted lines without the prompt (other lines are output); otherwise every line."""
    lines = code.rstrip("\n").split("\n")
    if any(PROMPT.match(line) for line in lines):
        lines = [m.group(2) for m in map(PROMPT.match, lines) if m]
    return [line.rstrip() for line in lines if line.strip()]


def copied_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip("\n").split("\n") if line.strip()]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".ipynb": "application/json", ".js": "text/javascript"}

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def serve(folder: Path):
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def find_pages(folder: Path) -> list[str]:
    pages = []
    for path in sorted(folder.rglob("*.html")):
        rel = path.relative_to(folder)
        if rel.parts[0].startswith("_") or rel.parts[0] == "screenshots":
            continue  # _static, _sources, _images: not pages of the site
        if rel.as_posix() in SKIP_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


class Checker:
    def __init__(self, context, base: str, build: Path, network: bool, forced_mode: str | None = None):
        self.context, self.base, self.build, self.network = context, base, build, network
        self.forced_mode = forced_mode  # --copy-check target-text: skip the clipboard
        self.clipboard_mode = None  # "clipboard" or "target-text", decided on the first page
        self._current = ""  # the page being checked, for the external-request log
        self.failures: list[str] = []
        self.external: dict[str, list[str]] = {}
        context.add_init_script(WHERE_ERRORS_JS)
        if not network:
            context.route(lambda url: not url.startswith(base), self._stub_external)

    def _stub_external(self, route):
        url = route.request.url
        self.external.setdefault(self._current, []).append(url)
        kind = route.request.resource_type
        content_type = {"script": "text/javascript", "stylesheet": "text/css"}.get(kind, "text/plain")
        route.fulfill(status=200, body="", content_type=content_type)

    def _where(self, error, located) -> str:
        """Where an uncaught error comes from: the script and line, from the window's error
        events (a syntax error's stack names no script) or else from the stack."""
        for message, source, line in located:
            if str(error.message) in message and source:
                return f"{source.replace(self.base, '')}:{line}"
        found = re.findall(re.escape(self.base) + r"([^\s)]+)", getattr(error, "stack", "") or "")
        return found[0] if found else "script not known"

    def _decide_clipboard(self, page) -> str:
        if self.forced_mode:
            return self.forced_mode
        try:
            page.evaluate("t => navigator.clipboard.writeText(t)", SENTINEL)
            if page.evaluate("() => navigator.clipboard.readText()") == SENTINEL:
                return "clipboard"
        except Exception as exc:  # permission refused, no clipboard in this browser
            print(f"  (clipboard not readable headless: {str(exc).splitlines()[0]}; "
                  "checking data-clipboard-target text instead)")
        return "target-text"

    def check(self, rel: str) -> str:
        self._current = rel
        fails: list[str] = []
        notes: list[str] = []
        console: list[str] = []
        page = self.context.new_page()
        page.on("console", lambda m: m.type == "error" and console.append(
            f"console error: {m.text} ({m.location.get('url', '')}:{m.location.get('lineNumber', '')})"))
        page_errors = []
        page.on("pageerror", lambda e: page_errors.append(e))
        bad_local: list[str] = []
        page.on("response", lambda r: r.url.startswith(self.base) and r.status >= 400
                and bad_local.append(f"{r.status} {r.url[len(self.base):]}"))
        try:
            response = page.goto(self.base + rel, wait_until="load")
            status = response.status if response else None
            if status != 200:
                fails.append(f"HTTP status {status}")
            if self.clipboard_mode is None:
                self.clipboard_mode = self._decide_clipboard(page)
            facts = page.evaluate(PAGE_FACTS_JS)
            n_code = len(facts["blocks"])
            if n_code:  # copybutton.js adds its buttons once clipboard.min.js has loaded
                try:
                    page.wait_for_function(
                        "n => document.querySelectorAll('[data-site-check] button.copybtn').length >= n",
                        arg=n_code, timeout=3000)
                except Exception:
                    pass
                facts = page.evaluate(PAGE_FACTS_JS)
            notes.append(f"HTTP {status}")

            # a Python object's repr where a value belongs (e.g. {glue:text} given Markdown)
            text = page.inner_text("article") if page.query_selector("article") else ""
            for shown in sorted(set(re.findall(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>", text))):
                fails.append(f"the page shows {shown!r} instead of a value: glue a Markdown "
                             "object with {glue:md}, a number with {glue:text}")

            # images
            bad_img = [i["src"] for i in facts["images"] if not i["ok"]]
            notes.append(f"img {len(facts['images']) - len(bad_img)}/{len(facts['images'])}")
            fails += [f"image not loaded: {src}" for src in bad_img]
            for fig in facts["figures"]:  # alt text that says what it shows; click to enlarge
                name = fig["src"].rsplit("/", 1)[-1]
                if len(fig["alt"]) < 15 or name in fig["alt"] or fig["alt"].endswith(".png"):
                    fails.append(f"figure {name} has no alt text saying what it shows "
                                 f"(alt={fig['alt']!r}): give its cell `mystnb: image: alt:`")
                if not fig["linked"]:
                    fails.append(f"figure {name} does not open at full size on a click")
            figure_cells = facts["figureCells"]
            blank = [c for c in figure_cells if not c["shown"]]
            fails += [f"cell calling .show() displays no figure: {c['head']!r}" for c in blank]
            if figure_cells:
                notes.append(f"figure cells {len(figure_cells) - len(blank)}/{len(figure_cells)} show a figure")

            # copy buttons on code, none on outputs
            blocks, outputs = facts["blocks"], facts["outputs"]
            no_btn = [b for b in blocks if b["buttons"] == 0]
            fails += [f"no copy button on code block #{b['index']} [{b['kind']}]: {b['head']!r}" for b in no_btn]
            out_btn = [o for o in outputs if o["buttons"]]
            fails += [f"copy button on a cell output: {o['head']!r}" for o in out_btn]
            kinds = sorted({b["kind"] for b in blocks})
            notes.append(f"code blocks {n_code - len(no_btn)}/{n_code} with button"
                         + (f" [{', '.join(kinds)}]" if kinds else ""))
            notes.append(f"outputs {len(outputs)}, {len(out_btn)} with button")

            # what the copy buttons copy
            copied_ok = n_tried = 0
            for b in blocks:
                if not b["buttons"]:
                    continue
                n_tried += 1
                problem = self._check_copy(page, b)
                if problem:
                    fails.append(f"copy button of code block #{b['index']} [{b['kind']}] {b['head']!r}: {problem}")
                else:
                    copied_ok += 1
            if n_tried:
                notes.append(f"copy {copied_ok}/{n_tried} ok via {self.clipboard_mode}")

            # tracebacks and error outputs
            if facts["traceback"]:
                fails.append("page shows 'Traceback (most recent call last)'")
            fails += [f"error output: {t!r}" for t in facts["errorOutputs"]]
            err_stderr = [s for s in facts["stderr"] if "Error" in s]
            fails += [f"stderr output with an error: {s.strip().splitlines()[0][:100]!r}" for s in err_stderr]
            notes.append("no traceback" if not (facts["traceback"] or facts["errorOutputs"] or err_stderr)
                         else "TRACEBACK/ERROR OUTPUT")
            if len(facts["stderr"]) > len(err_stderr):
                first = next(s for s in facts["stderr"] if "Error" not in s).strip().splitlines()[0]
                notes.append(f"note: {len(facts['stderr']) - len(err_stderr)} stderr output(s) without "
                             f"'Error': {first[:110]!r}")

            # claims report
            if rel == "claims.html":
                claims = facts["claims"]
                failing = [c for c in claims if c["status"] != "pass" or c["text"] != "pass"]
                if not claims:
                    fails.append("claims report shows no claim status cell (td.claim-pass / td.claim-fail)")
                fails += [f"claim not passing: {c['row']} -> {c['text']!r}" for c in failing]
                notes.append(f"claims {len(claims) - len(failing)}/{len(claims)} pass")

            # code lines within the column
            wide = [(b, line) for b in blocks for line in b["code"].split("\n")
                    if len(line.rstrip()) > MAX_CODE_LINE and line.strip() not in WIDE_LINES_ALLOWED]
            fails += [f"code line of {len(line.rstrip())} characters (over {MAX_CODE_LINE}) in block "
                      f"#{b['index']} [{b['kind']}]: {line.strip()[:70]!r}..." for b, line in wide]
            longest = max((len(line.rstrip()) for b in blocks for line in b["code"].split("\n")),
                          default=0)
            notes.append(f"longest code line {longest}")

            # notebook pages: the notebook and script downloads
            links = facts["downloads"]
            if facts["isNotebook"] and rel != "index.html":
                for suffix in (".ipynb", ".py"):
                    if not any(h.endswith(suffix) for h in links):
                        fails.append(f"no link to the {suffix} download")
            for href in links:
                url = urljoin(self.base + rel, href)
                reply = self.context.request.get(url)
                detail = f"{reply.status}"
                if reply.status != 200:
                    fails.append(f"download {href} answers HTTP {reply.status}")
                elif href.endswith(".ipynb"):
                    try:
                        cells = len(json.loads(reply.body())["cells"])
                        detail += f", {cells} cells"
                    except Exception:
                        fails.append(f"notebook download {href} is not a notebook (no JSON 'cells')")
                else:
                    detail += f", {len(reply.text().splitlines())} lines"
                notes.append(f"{href} {detail}")
            notes.append(f"screenshot {self._screenshot(page, rel, 1280)}")
        except Exception as exc:
            fails.append(f"could not check the page: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            page.wait_for_timeout(100)  # let late console messages arrive
            try:
                located = page.evaluate("() => window.__siteCheckErrors || []")
            except Exception:
                located = []
            page.close()
        console += [f"uncaught JS error: {e.message} ({self._where(e, located)})" for e in page_errors]

        if self.external.get(rel) and not self.network:
            hosts = sorted({urlparse(u).netloc for u in self.external[rel]})
            fails.append(f"requests other hosts (not readable offline): {', '.join(hosts)}")
        fails += [f"local resource failed: {b}" for b in bad_local]
        fails += console
        notes.insert(1, f"console errors {len(console)}")
        self.failures += [f"{rel}: {f}" for f in fails]
        return f"{'FAIL' if fails else 'ok  '} {rel}: " + " | ".join(notes)

    def _screenshot(self, page, rel: str, width: int) -> str:
        shot = self.build / "screenshots" / f"{Path(rel).with_suffix('').as_posix().replace('/', '-')}-{width}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        return shot.relative_to(self.build).as_posix()

    def check_narrow(self, rel: str, width: int) -> str:
        """The page in a narrow viewport: nothing makes the page body wider than it."""
        self._current = rel
        page = self.context.new_page()
        fails: list[str] = []
        try:
            page.goto(self.base + rel, wait_until="load")
            fit = page.evaluate(NARROW_FACTS_JS)
            if fit["scrollWidth"] > fit["innerWidth"]:
                fails.append(f"page body {fit['scrollWidth']} px wide in a {fit['innerWidth']} px "
                             f"viewport; widest: {'; '.join(fit['culprits']) or 'not found'}")
            shot = self._screenshot(page, rel, width)
        except Exception as exc:
            fails.append(f"could not check the page: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            shot, fit = "-", {"scrollWidth": "?", "innerWidth": width}
        finally:
            page.close()
        self.failures += [f"{rel} at {width} px: {f}" for f in fails]
        return (f"{'FAIL' if fails else 'ok  '} {rel} at {width} px: body {fit['scrollWidth']} px "
                f"in {fit['innerWidth']} px | screenshot {shot}")

    def _check_copy(self, page, block) -> str | None:
        """Press the block's copy button; compare what is copied with the block's code."""
        selector = f"[data-site-check='{block['index']}'] button.copybtn"
        if self.clipboard_mode == "clipboard":
            page.evaluate("t => navigator.clipboard.writeText(t)", SENTINEL)
        button = page.locator(selector).first
        button.scroll_into_view_if_needed()
        page.locator(f"[data-site-check='{block['index']}']").hover()
        button.click()
        if self.clipboard_mode == "clipboard":
            text = SENTINEL
            for _ in range(20):  # clipboard.js copies synchronously; allow a moment anyway
                text = page.evaluate("() => navigator.clipboard.readText()")
                if text != SENTINEL:
                    break
                page.wait_for_timeout(50)
            if text == SENTINEL:
                return "clicking it put nothing on the clipboard"
        else:
            text = page.evaluate(
                "s => { const b = document.querySelector(s);"
                " const t = document.querySelector(b.getAttribute('data-clipboard-target'));"
                " return t ? t.innerText : null; }", selector)
            if text is None:
                return "its data-clipboard-target matches no element"
            if copied_lines(text) != copied_lines(block["code"]):
                return "its data-clipboard-target is not this block's code"
            # This path sees only the target, not copybutton.js's prompt stripping: it checks
            # that the button copies this block, and what stripping the prompts leaves.
            text = "\n".join(expected_copy(text))
        got, want = copied_lines(text), expected_copy(block["code"])
        if not got:
            return "copied text is empty"
        if any(line.startswith((">>> ", "... ", "$ ")) for line in got) or ">>> " in text:
            bad = next((line for line in got if line.startswith((">>> ", "... ", "$ ")) or ">>> " in line),
                       ">>> ")
            return f"copied text keeps a prompt: {bad!r}"
        if got != want:
            extra = [line for line in got if line not in want]
            missing = [line for line in want if line not in got]
            detail = []
            if extra:
                detail.append(f"{len(extra)} line(s) that are not code (output), e.g. {extra[0]!r}")
            if missing:
                detail.append(f"{len(missing)} code line(s) missing, e.g. {missing[0]!r}")
            return "copied text differs from the code: " + ("; ".join(detail) or "lines reordered")
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", type=Path, default=DEFAULT_BUILD,
                        help="built HTML folder (default: docs/_build/html)")
    parser.add_argument("--chromium", default=DEFAULT_CHROMIUM, help="Chromium binary (default: %(default)s)")
    parser.add_argument("--network", action="store_true",
                        help="let pages fetch from other hosts (default: answer them with an empty stub)")
    parser.add_argument("--copy-check", choices=["auto", "target-text"], default="auto",
                        help="auto: read the clipboard, falling back to the data-clipboard-target "
                             "text when it is unreadable; target-text: only that fallback")
    args = parser.parse_args(argv)

    build = args.build.resolve()
    if not (build / "index.html").is_file():
        print(f"site_check: no built site at {build} (no index.html); build it with `nox -s docs`")
        return 2
    if not Path(args.chromium).is_file():
        print(f"site_check: Chromium not found at {args.chromium}; "
              "install it with `apt-get install -y chromium` (Debian/Ubuntu)")
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("site_check: playwright is not installed (`pip install playwright`)")
        return 2

    pages = find_pages(build)
    print(f"site_check: {len(pages)} pages in {build} (skipping {', '.join(sorted(SKIP_PAGES))})")
    server, base = serve(build)
    start = time.perf_counter()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
            checker = Checker(context, base, build, args.network,
                              "target-text" if args.copy_check == "target-text" else None)
            for rel in pages:
                print(checker.check(rel), flush=True)
            context.close()
            narrow = browser.new_context(viewport={"width": NARROW, "height": 800})
            checker.context = narrow
            if not args.network:
                narrow.route(lambda url: not url.startswith(base), checker._stub_external)
            for rel in pages:
                print(checker.check_narrow(rel, NARROW), flush=True)
            narrow.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    elapsed = time.perf_counter() - start
    print(f"site_check: browser part {elapsed:.1f} s; copy buttons read via "
          f"{checker.clipboard_mode or 'n/a'}"
          + ("" if checker.clipboard_mode != "target-text" else
             " (forced by --copy-check)" if checker.forced_mode else " (clipboard unreadable headless)"))
    if checker.failures:
        print(f"\nsite_check: {len(checker.failures)} failure(s):")
        for failure in checker.failures:
            print(f"  - {failure}")
        return 1
    print("site_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
