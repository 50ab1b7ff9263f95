"""Export the lessons to reveal.js slide decks that open offline (no CDN, no network at all).

    python -m segcourse.tooling.slides                      # every lesson -> build/slides/NN_name.slides.html
    python -m segcourse.tooling.slides --out DIR 00 03      # only lessons 00 and 03, into DIR

Each deck is made from the lesson's executed ``lessons/NN_name.ipynb`` with its stored outputs
(nothing is re-executed) by nbconvert's ``SlidesExporter``. What makes it work offline:

* reveal.js 5 (``dist/`` and the speaker-notes plugin) is copied next to the decks, into
  ``DIR/_static/reveal``, from the ``sphinx-revealjs`` wheel, which bundles it (locked in uv.lock);
* MathJax 2.7 is copied into ``DIR/_static/mathjax`` from the ``jupyter-server-mathjax`` wheel;
* the template drops nbconvert's CDN scripts (jQuery, require.js, mermaid) and loads reveal.js and
  its notes plugin with plain ``<script>`` tags.

Interactive figures (``sc.FigureWidget``) show their static PNG: the exporter drops the
``application/vnd.jupyter.widget-view+json`` part of each output, so the ``image/png`` stored beside
it is rendered. Cells tagged ``solution`` are left out. Cells with slide type ``notes`` become
reveal.js speaker notes: press ``S`` in a deck to open the speaker view.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

from .._paths import LESSONS, ROOT, lesson_files

__all__ = ["export_lesson", "export_all", "copy_assets", "reveal_dir", "mathjax_dir"]

DEFAULT_OUT = ROOT / "build" / "slides"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
HIDDEN_TAGS = {"solution"}
STATIC = "_static"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

# Extends nbconvert's reveal template: no CDN scripts, reveal.js and its notes plugin from disk.
TEMPLATE_NAME = "segcourse_slides.html.j2"
TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/x-mathjax-config">
// the bundled MathJax (jupyter-server-mathjax) ships the STIX-Web fonts only
MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web",
                                 webFont: "STIX-Web", imageFont: null}});
</script>
<style>
/* The hidden MathML copy for screen readers (AssistiveMML) matches MathJax's native-MathML
   rules such as [mathvariant="double-struck"], whose @font-face points at TeX fonts the
   bundle does not ship; it is never seen, so a system font does. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: serif !important; }
</style>
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block footer_js %}
<script src="{{ reveal_url_prefix }}/dist/reveal.js"></script>
<script src="{{ reveal_url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({
    controls: true,
    progress: true,
    history: true,
    hash: true,
    transition: "{{ reveal_transition }}",
    slideNumber: "{{ reveal_number }}",
    plugins: [RevealNotes],
    width: {{ reveal_width }},
    height: {{ reveal_height }},
});
Reveal.on('slidechanged', function () {
    if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(["Rerender", MathJax.Hub, Reveal.getCurrentSlide()]); }
});
</script>
{% endblock footer_js %}
"""


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it (sphinx_revealjs imports Sphinx)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed: run ./course slides (it syncs the locked environment)")
    return Path(list(spec.submodule_search_locations)[0])


def reveal_dir() -> Path:
    """reveal.js as bundled in the sphinx-revealjs wheel (``dist/``, ``plugin/``)."""
    return _package_dir("sphinx_revealjs") / "_static" / "revealjs"


def mathjax_dir() -> Path:
    """MathJax 2.7 as bundled in the jupyter-server-mathjax wheel (``MathJax.js``, ``config/`` ...)."""
    return _package_dir("jupyter_server_mathjax") / "static"


def copy_assets(out: Path) -> Path:
    """Copy reveal.js (dist + notes plugin) and MathJax into ``out/_static``; returns that folder."""
    static = Path(out) / STATIC
    src = reveal_dir()
    for part in ("dist", "plugin/notes", "LICENSE"):
        s, d = src / part, static / "reveal" / part
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
        elif s.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)
    shutil.copytree(mathjax_dir(), static / "mathjax", dirs_exist_ok=True)
    return static


def _preprocessors():
    from nbconvert.preprocessors import Preprocessor

    class DropWidgetViews(Preprocessor):
        """Drop widget-view mime parts so the stored ``image/png`` fallback is shown."""

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type == "code":
                outputs = []
                for out in cell.get("outputs", []):
                    data = out.get("data")
                    if data is not None and WIDGET_MIME in data:
                        data.pop(WIDGET_MIME)
                        # a bare widget with no fallback would render as its text repr: drop it
                        if not set(data) - {"text/plain"}:
                            continue
                    outputs.append(out)
                cell.outputs = outputs
            return cell, resources

    class DropTaggedCells(Preprocessor):
        """Leave out cells tagged ``solution``."""

        def preprocess(self, nb, resources):
            nb.cells = [c for c in nb.cells
                        if not HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))]
            return nb, resources

    return [DropTaggedCells, DropWidgetViews]


def _exporter(static_prefix: str):
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(
        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
        template_file=TEMPLATE_NAME,
        reveal_url_prefix=f"{static_prefix}/reveal",
        reveal_theme="white",
        reveal_transition="none",
        reveal_number="c/t",
        mathjax_url=f"{static_prefix}/mathjax/MathJax.js?config={MATHJAX_CONFIG}",
        embed_images=True,
    )
    for pre in _preprocessors():
        exporter.register_preprocessor(pre, enabled=True)
    return exporter


def export_lesson(ipynb: Path, out: Path = DEFAULT_OUT, *, assets: bool = True) -> Path:
    """Export one executed notebook to ``out/<stem>.slides.html``; returns the deck's path."""
    import nbformat
    ipynb, out = Path(ipynb), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if assets:
        copy_assets(out)
    nb = nbformat.read(ipynb, as_version=4)
    body, _ = _exporter(STATIC).from_notebook_node(
        nb, resources={"metadata": {"name": ipynb.stem, "path": str(ipynb.parent)}})
    for bad in ("https://", "http://"):
        # every asset must be local: a remote <script>/<link> would break the deck offline
        for line in body.splitlines():
            if bad in line and ("<script" in line or "<link" in line or "import " in line):
                raise RuntimeError(f"{ipynb.name}: the deck still loads a remote asset: {line.strip()}")
    path = out / f"{ipynb.stem}.slides.html"
    path.write_text(body, encoding="utf-8")
    return path


def lesson_notebooks(selection=None, lessons: Path = LESSONS) -> list[Path]:
    """Executed lesson notebooks ``lessons/NN_*.ipynb`` in order, optionally only numbers given."""
    return lesson_files(lessons, ".ipynb", selection)


def export_all(selection=None, out: Path = DEFAULT_OUT, lessons: Path = LESSONS) -> list[Path]:
    """Export the selected lessons (all by default); returns the decks' paths."""
    out = Path(out)
    paths = lesson_notebooks(selection, lessons)
    if not paths:
        raise SystemExit(f"no executed lessons found in {lessons} (run ./course build first)")
    copy_assets(out)
    decks = [export_lesson(p, out, assets=False) for p in paths]
    return decks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segcourse.tooling.slides", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (build/slides)")
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    args = parser.parse_args(argv)
    for deck in export_all(args.lessons, args.out):
        print(deck)
    print("open one in a browser (works offline); press S for the speaker notes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
