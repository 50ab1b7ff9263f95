"""Static reveal.js export (segcourse.tooling.slides): local reveal.js + MathJax, PNG fallback, no solutions.

The in-browser offline check (file://, network aborted) is in test_browser.py.
"""
import json
import re

import nbformat
import pytest

from segcourse.tooling import slides

WIDGET = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                        "version_minor": 0},
          "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
          "text/plain": "<iou_explorer: image=5>"}


def _fake_lesson(folder):
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell
    code = nbformat.v4.new_code_cell

    def cell(c, slide_type, **meta):
        c.metadata.update({"slideshow": {"slide_type": slide_type}, **meta})
        return c

    out = nbformat.v4.new_output("display_data", data=WIDGET)
    nb.cells = [cell(md("# Title\n$x^2$"), "slide"),
                cell(md("SPEAKER NOTE TEXT"), "notes"),
                cell(code("sc.iou_explorer(...)", outputs=[out], execution_count=1), "-"),
                cell(code("SECRET_SOLUTION = 1", execution_count=2), "skip", tags=["solution"]),
                cell(md("## Two"), "slide")]
    path = folder / "00_fake.ipynb"
    nbformat.write(nb, path)
    return path


def test_assets_are_bundled():
    assert (slides.reveal_dir() / "dist" / "reveal.js").exists()
    assert (slides.reveal_dir() / "plugin" / "notes" / "notes.js").exists()
    assert (slides.mathjax_dir() / "MathJax.js").exists()


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    src = tmp_path_factory.mktemp("lessons")
    _fake_lesson(src)
    out = tmp_path_factory.mktemp("slides")
    return slides.export_all(None, out=out, lessons=src)[0]


def test_export_is_local_only(deck):
    html = deck.read_text(encoding="utf-8")
    refs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert refs, "no scripts/stylesheets found"
    assert not [r for r in refs if "://" in r or r.startswith("//")], refs
    for ref in refs:
        assert (deck.parent / ref.split("?")[0]).exists(), ref
    assert "require.js" not in html and "jquery" not in html.lower().split("</head>")[0].split("<style")[0]


def test_widget_falls_back_to_png(deck):
    html = deck.read_text(encoding="utf-8")
    assert "widget-view+json" not in html
    assert f'data:image/png;base64,{WIDGET["image/png"]}' in html


def test_solutions_hidden_notes_kept(deck):
    html = deck.read_text(encoding="utf-8")
    assert "SECRET_SOLUTION" not in html
    assert re.search(r'<aside class="notes">.*SPEAKER NOTE TEXT', html, re.S)


def test_cli_exports_selection(tmp_path, capsys):
    src = tmp_path / "lessons"
    src.mkdir()
    _fake_lesson(src)
    (src / "01_other.ipynb").write_text(json.dumps(nbformat.v4.new_notebook()))
    out = tmp_path / "out"
    slides.export_all(["0"], out=out, lessons=src)
    assert [p.name for p in out.glob("*.html")] == ["00_fake.slides.html"]
    with pytest.raises(SystemExit):
        slides.export_all(["9"], out=out, lessons=src)
