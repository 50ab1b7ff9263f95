"""Every lesson, run in a real JupyterLab driven by Debian's chromium (Playwright, headless).

* A session fixture starts ``jupyter lab`` from this environment on 127.0.0.1 (free port, random
  token, temporary settings/workspaces/runtime dirs) with a temporary COPY of ``lessons/`` as root,
  so tracked notebooks are never touched; it kills the server's process group at the end and checks
  nothing is left.
* For each lesson: open it, Run > Run All Cells (the menu), wait for an idle kernel and an execution
  count on every code cell, fail on error outputs / tracebacks and on browser console errors, and
  print the run-all-to-idle time. Every ``.segcourse-widget``: focus the slider handle, press
  ArrowRight, and require the readout text and the canvas pixels to change within a time bound;
  print the slider-to-new-figure latency.
* Lesson 00 in jupyterlab-slideshow's deck mode (command palette "Start Deck", ``deck:start``):
  go to the widget's slide with the arrow keys, move the slider, require a new figure.
* One static deck from ``python -m segcourse.tooling.slides``, opened from disk with every non-file
  request aborted (and none may be attempted).

Screenshots go to ``artifacts/browser/``. Development knob: ``SEGCOURSE_BROWSER_LESSONS=DIR`` runs
the notebooks ``DIR/NN_*.ipynb`` instead of the course's lessons.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from segcourse.tooling.notebooks import LESSONS, lesson_paths

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_ALL_TIMEOUT_S = float(os.environ.get("SEGCOURSE_RUN_ALL_TIMEOUT", 600))
SLIDER_TIMEOUT_S = 10.0  # slider key press -> new readout and new figure pixels
VIEWPORT = {"width": 1400, "height": 1000}

# Browser console errors that do not come from the course. Each one is documented:
CONSOLE_NOISE = (
    # chromium asks for /favicon.ico on file:// and some lab pages; not course code
    "favicon.ico",
)
# ... and in the static deck only: MathJax 2's HTML-CSS output declares a "MathJax_Blank" font
# whose src is about:blank (to time web-font loading); chromium reports that as a CORS error.
STATIC_DECK_NOISE = ("about:blank",)


def _lesson_notebooks() -> list[Path]:
    override = os.environ.get("SEGCOURSE_BROWSER_LESSONS")
    if override:
        return sorted(Path(override).glob("[0-9][0-9]_*.ipynb"))
    return [p.with_suffix(".ipynb") for p in lesson_paths()]


def _lessons_dir() -> Path:
    override = os.environ.get("SEGCOURSE_BROWSER_LESSONS")
    return Path(override) if override else LESSONS


LESSON_IDS = [p.stem for p in _lesson_notebooks()]


# ----------------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    # zombies still "exist" for killpg: look for live members only
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the lessons: dict(url, token, root, proc)."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "lessons"
    shutil.copytree(_lessons_dir(), root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = base / "settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    # render every cell (no virtual scrolling) so all outputs and widgets are in the DOM
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    # no "get notified about Jupyter news?" toast over the screenshots, and no news fetching
    notify = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notify.parent.mkdir(parents=True)
    notify.write_text(json.dumps({"fetchNews": "false"}))
    for d in ("workspaces", "runtime", "data"):
        (base / d).mkdir()
    port, token = _free_port(), secrets.token_hex(24)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_TOKEN=token,
               JUPYTER_PLATFORM_DIRS="1")
    log = open(base / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("jupyter lab did not start:\n" + (base / "lab.log").read_text()[-3000:])
        time.sleep(0.3)
    try:
        yield {"url": url, "token": token, "root": root, "proc": proc, "log": base / "lab.log", "settings": settings}
    finally:
        pgid = proc.pid  # start_new_session: the server leads its own group (kernels included)
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _process_group_alive(pgid):
                time.sleep(0.2)
            if not _process_group_alive(pgid):
                break
        proc.wait(timeout=5)
        log.close()
        assert not _process_group_alive(pgid), "jupyter lab or one of its kernels survived"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Console:
    """Console errors and uncaught page errors of one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _on_console(self, msg):
        if msg.type == "error":
            loc = msg.location or {}
            self.errors.append(f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")

    def course_errors(self) -> list[str]:
        return [e for e in self.errors if not any(n in e for n in CONSOLE_NOISE)]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.console = Console(pg)
    try:
        yield pg
    finally:
        context.close()


# ------------------------------------------------------------------------------------ helpers


def _open_notebook(page, lab, name: str):
    page.goto(f"{lab['url']}/lab/tree/{name}?reset&token={lab['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=60_000)
    # kernel started and ready (the execution indicator says idle)
    _wait_kernel_idle(page, 120)


JS_NOTEBOOK_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.model) return null;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = [];
  for (const c of w.content.model.cells) {
    if (c.type !== 'code') continue;
    const outs = [];
    for (let i = 0; i < c.outputs.length; i++) {
      const o = c.outputs.get(i).toJSON();
      outs.push({type: o.output_type, name: o.name || null, ename: o.ename || null,
                 text: o.output_type === 'stream' ? String(o.text).slice(0, 2000) : null,
                 evalue: o.evalue || null});
    }
    cells.push({count: c.executionCount, outputs: outs});
  }
  return {status: kernel ? kernel.status : 'none', cells};
}"""


def _state(page):
    return page.evaluate(JS_NOTEBOOK_STATE)


def _wait_kernel_idle(page, timeout):
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session
                             && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""", timeout=timeout * 1000, polling=100)


def _run_all(page) -> float:
    """Run > Run All Cells from the menu bar; returns seconds until idle with every count set."""
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                        has_text="Run All Cells").first
    item.wait_for(timeout=10_000)
    t0 = time.perf_counter()
    item.click()
    # the first cell goes busy quickly; then wait for idle + every cell has a count
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w.sessionContext.session.kernel;
                   if (!k || k.status !== 'idle') return false;
                   for (const c of w.content.model.cells)
                     if (c.type === 'code' && !c.executionCount) return false;
                   return !w.node.querySelector('.jp-InputPrompt') ||
                     ![...w.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
                 }""", timeout=RUN_ALL_TIMEOUT_S * 1000, polling=100)
    return time.perf_counter() - t0


def _assert_no_errors(page, name):
    state = _state(page)
    problems = []
    for k, cell in enumerate(state["cells"]):
        for o in cell["outputs"]:
            if o["type"] == "error":
                problems.append(f"code cell {k}: {o['ename']}: {o['evalue']}")
            if o["type"] == "stream" and o["name"] == "stderr" and "Traceback" in (o["text"] or ""):
                problems.append(f"code cell {k}: traceback on stderr: {o['text'][:500]}")
    shown = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    for i in range(shown.count()):
        text = shown.nth(i).inner_text()
        if "Traceback" in text:
            problems.append(f"stderr output shows: {text[:500]}")
    # widget callbacks print exceptions into the widget's Output
    widget_outputs = page.locator(".segcourse-widget .jp-OutputArea-output")
    for i in range(widget_outputs.count()):
        text = widget_outputs.nth(i).inner_text()
        if text.strip():  # an error, or a library warning a callback printed: the student sees it
            problems.append(f"widget error area shows: {text[:500]}")
    counts = [c["count"] for c in state["cells"]]
    assert all(counts), f"{name}: cells without execution count: {counts}"
    assert counts == sorted(counts), f"{name}: cells did not run in order: {counts}"
    assert not problems, f"{name}:\n" + "\n".join(problems)


JS_CANVAS_DIGEST = """(el) => {
  const c = el.querySelector('canvas');
  if (!c || !c.width) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;
  return h + ':' + c.width + 'x' + c.height;
}"""


def _readout(widget) -> str:
    return widget.locator(".widget-html-content, .widget-html").first.inner_text()


def _move_slider(page, widget, timeout=SLIDER_TIMEOUT_S) -> float:
    """Focus the slider handle, press ArrowRight; seconds until new readout AND new figure pixels."""
    widget.scroll_into_view_if_needed()
    canvas = widget.locator(".jupyter-matplotlib-canvas-div, canvas").first
    canvas.wait_for(timeout=30_000)
    page.wait_for_function(f"(el) => ({JS_CANVAS_DIGEST})(el) !== null", arg=widget.element_handle(),
                           timeout=30_000)
    readout0, digest0 = _readout(widget), widget.evaluate(JS_CANVAS_DIGEST)
    png0 = canvas.screenshot()
    handle = widget.locator(".widget-slider .noUi-handle").first
    value0 = widget.locator(".widget-readout").first.inner_text()
    handle.focus()
    t0 = time.perf_counter()
    page.keyboard.press("ArrowRight")
    readout_t = figure_t = None
    while time.perf_counter() - t0 < timeout:
        now = time.perf_counter() - t0
        if readout_t is None and _readout(widget) != readout0:
            readout_t = now
        if figure_t is None and widget.evaluate(JS_CANVAS_DIGEST) != digest0:
            figure_t = now
        if readout_t is not None and figure_t is not None:
            break
        time.sleep(0.01)
    value1 = widget.locator(".widget-readout").first.inner_text()
    assert value1 != value0, f"the slider did not move with ArrowRight ({value0!r})"
    assert readout_t is not None, f"readout did not change within {timeout} s: {readout0!r}"
    assert figure_t is not None, f"figure pixels did not change within {timeout} s"
    time.sleep(0.2)
    png1 = canvas.screenshot()
    assert png1 != png0, "canvas screenshot identical before and after the slider moved"
    return max(readout_t, figure_t)


def _shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


# -------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("notebook", _lesson_notebooks(), ids=LESSON_IDS)
def test_lesson_runs_in_jupyterlab(lab, page, notebook):
    assert notebook.exists(), f"{notebook.name} missing: run `./course build`"
    _open_notebook(page, lab, notebook.name)
    seconds = _run_all(page)
    print(f"\n{notebook.stem}: run all -> idle {seconds:.1f} s")
    _shot(page, f"{notebook.stem}_top.png")
    _assert_no_errors(page, notebook.name)
    widgets = page.locator(".segcourse-widget")
    for i in range(widgets.count()):
        latency = _move_slider(page, widgets.nth(i))
        print(f"{notebook.stem}: widget {i}: slider -> new readout and figure {latency * 1000:.0f} ms")
        widgets.nth(i).screenshot(path=str(ARTIFACTS / f"{notebook.stem}_widget{i}.png"))
    _shot(page, f"{notebook.stem}_end.png")
    _assert_no_errors(page, notebook.name)
    errors = page.console.course_errors()
    assert not errors, f"{notebook.name}: browser console errors:\n" + "\n".join(errors)


def _first_lesson_with_widget() -> Path:
    for nb in _lesson_notebooks():
        if nb.exists() and "iou_explorer" in nb.read_text(encoding="utf-8"):
            return nb
    pytest.skip("no lesson with a widget")


def test_slideshow_widget_works(lab, page):
    """Lesson 00 in jupyterlab-slideshow's deck mode: go to the widget's slide, move the slider."""
    notebook = _first_lesson_with_widget()
    # jupyterlab-slideshow 0.3.4 reads a missing or null slide_type as "continue the slide"; a
    # cell whose slide_type is "-" matches none of its cases and is never put on screen.
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    dash = [k for k, c in enumerate(cells) if c["cell_type"] == "code"
            and "iou_explorer" in "".join(c["source"])
            and c.get("metadata", {}).get("slideshow", {}).get("slide_type") == "-"]
    assert not dash, (f"{notebook.name}: the widget cell(s) {dash} have slide_type '-', which "
                      "jupyterlab-slideshow 0.3.4 never shows in deck mode; continuation cells carry "
                      "slide_type null (nbconvert reads it as '-' too)")
    _open_notebook(page, lab, notebook.name)
    _run_all(page)
    _assert_no_errors(page, notebook.name)
    # enter deck mode like a presenter: command palette (Ctrl+Shift+C) > "Start Deck" (deck:start)
    # the deck starts at the active cell: after Run All that is the last one, so select the first
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt, .jp-Cell-inputCollapser") \
        .first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    palette.wait_for(timeout=10_000)
    palette.fill("Start Deck")
    page.locator(".lm-CommandPalette-item", has_text="Start Deck").first.click()
    page.locator(".jp-Deck").first.wait_for(timeout=20_000)
    time.sleep(1)
    _shot(page, "slideshow_start.png")
    # navigate: the deck's keys (ArrowRight / Space = forward) with focus in the notebook
    onscreen_widget = ".jp-deck-mod-onscreen .segcourse-widget"
    for step in range(200):
        if page.locator(onscreen_widget).count():
            break
        page.keyboard.press("ArrowRight")
        time.sleep(0.15)
    else:
        _shot(page, "slideshow_lost.png")
        pytest.fail("never reached a slide showing the widget")
    print(f"\nslideshow: widget slide reached after {step} ArrowRight presses")
    widget = page.locator(onscreen_widget).first
    assert widget.is_visible()
    time.sleep(0.5)
    latency = _move_slider(page, widget)
    print(f"slideshow: slider -> new readout and figure {latency * 1000:.0f} ms")
    assert page.locator(onscreen_widget).count(), "moving the slider left the widget's slide"
    time.sleep(0.3)
    _shot(page, "slideshow_widget.png")
    _stop_deck(page)                 # deck mode is remembered: later tests must find the notebook view
    errors = page.console.course_errors()
    assert not errors, "browser console errors in deck mode:\n" + "\n".join(errors)


def test_static_slides_offline(browser, tmp_path):
    """An exported deck opens from disk with no network: every non-file request is aborted."""
    from segcourse.tooling.slides import export_all
    notebook = _first_lesson_with_widget()
    deck = export_all([notebook.name[:2]], out=tmp_path / "slides", lessons=notebook.parent)[0]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    blocked, files = [], []

    def route(r):
        if r.request.url.startswith("file://"):
            files.append(r.request.url)
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    console = Console(page)
    try:
        page.goto(deck.as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        # MathJax typesets from the local copy
        page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                               "&& document.querySelector('.MathJax, .MathJax_CHTML, .MathJax_SVG')",
                               timeout=60_000)
        time.sleep(0.5)
        _shot(page, "static_slide1.png")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Reveal.getIndices().h === 1", timeout=10_000)
        time.sleep(0.5)
        _shot(page, "static_slide2.png")
        # the widget's slide shows the stored PNG, not a dead widget
        assert page.locator("img[src^='data:image/png']").count() >= 1
        assert not page.locator("script[type='application/vnd.jupyter.widget-view+json']").count()
        total = page.evaluate("() => Reveal.getTotalSlides()")
        assert total >= 2
    finally:
        context.close()
    assert not blocked, f"the static deck tried to reach the network: {blocked}"
    assert any("reveal.js" in f for f in files)
    errors = [e for e in console.course_errors() if not any(n in e for n in STATIC_DECK_NOISE)]
    assert not errors, "console errors in the static deck:\n" + "\n".join(errors)


def _stop_deck(page):
    """Leave jupyterlab-slideshow's deck mode if it is on (it shows one slide of a notebook at a time)."""
    if page.locator(".jp-Deck").count():
        page.evaluate("() => window.jupyterapp.commands.execute('deck:stop')")
        page.wait_for_function("() => !document.querySelector('.jp-Deck')", timeout=20_000)


def _solution_lines(prefix: str) -> list[str]:
    """The distinctive lines (30+ characters, not a ``def`` line) of every solution of one lesson."""
    import segcourse as sc
    from segcourse.exercises import EXERCISES
    lines = []
    for key in EXERCISES:
        if key.startswith(prefix + "."):
            lines += [ln.strip() for ln in sc.solution(key).splitlines()
                      if len(ln.strip()) >= 30 and not ln.strip().startswith("def ")]
    return lines


@pytest.mark.parametrize("notebook", [p for p in _lesson_notebooks() if p.name[:2] <= "04"],
                         ids=lambda p: p.stem)
def test_fresh_lesson_shows_no_pass_and_no_solution(lab, page, notebook):
    """Lessons 00-04 opened as a new student opens them, nothing run: no "[PASSED]" and no line of
    any of the lesson's solutions anywhere on the page (solutions open only on request)."""
    # a pristine copy under a new name: the lesson tests above run (and JupyterLab autosaves) the
    # lab's own copies, and reopening one restores that state
    fresh = f"fresh_{notebook.name}"
    shutil.copy(notebook, Path(lab["root"]) / fresh)
    _open_notebook(page, lab, fresh)
    _stop_deck(page)
    text = page.locator(".jp-NotebookPanel .jp-Notebook").first.inner_text()
    assert "[NOT YET]" in text, "the stored check outputs show the not-attempted state"
    assert "[PASSED]" not in text
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    stubs = {ln.strip() for c in nb["cells"] if c["cell_type"] == "code" and "NotImplementedError" in "".join(c["source"])
             for ln in "".join(c["source"]).splitlines()}           # the scaffold a stub gives the student
    shown = [ln for ln in _solution_lines(notebook.name[:2]) if ln in text and ln not in stubs]
    assert not shown, f"{notebook.name}: solution lines visible before anything is run: {shown[:3]}"


def test_deck_left_open_does_not_come_back(lab, browser):
    """A slideshow left open must not come back in deck mode (no menu bar, no file browser) the next
    time the course is opened. jupyterlab-slideshow keeps "presentation mode on" in the user
    settings, so ``/lab?reset`` alone brings the deck back (the control, asserted: else this test
    proves nothing); ``./course open`` first runs ``labsettings close-deck``, then prints
    ``/lab?reset``: the menu bar and the file browser must show, no deck."""
    from segcourse.tooling.labsettings import close_deck

    def open_course_url(shot):
        ctx = browser.new_context(viewport=VIEWPORT)
        pg = ctx.new_page()
        pg.console = Console(pg)
        pg.goto(f"{lab['url']}/lab?reset&token={lab['token']}")            # what ./course open prints
        pg.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
        pg.wait_for_function("() => window.jupyterapp.shell.node.querySelector('.lm-TabBar')", timeout=60_000)
        time.sleep(3)                    # the deck, if on, takes over the shell
        _shot(pg, shot)
        state = {"menu": pg.locator("#jp-menu-panel").is_visible(),
                 "files": pg.locator(".jp-FileBrowser").first.is_visible(),
                 "errors": pg.console.course_errors()}
        ctx.close()
        return state

    def leave_deck_on():
        ctx = browser.new_context(viewport=VIEWPORT)
        pg = ctx.new_page()
        _open_notebook(pg, lab, _lesson_notebooks()[0].name)
        pg.evaluate("() => window.jupyterapp.commands.execute('deck:start')")
        pg.locator(".jp-Deck").first.wait_for(timeout=20_000)
        time.sleep(3)                    # the setting is saved
        ctx.close()                      # the tab is closed with the deck on

    leave_deck_on()
    control = open_course_url("deck_reopen_without_close.png")
    assert not control["menu"], "control failed: /lab?reset alone did not bring the deck back"
    assert close_deck(lab["settings"]) is True           # ./course open's first step: it was still on
    fixed = open_course_url("deck_course_open.png")
    assert fixed["menu"], "no menu bar after ./course open"
    assert fixed["files"], "no file browser after ./course open"
    assert not fixed["errors"], "console errors:\n" + "\n".join(fixed["errors"])
