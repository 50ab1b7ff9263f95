"""The notebook pipeline: pairs agree, every lesson has the lesson skeleton, lessons run offline."""
import re
import subprocess
import sys

import jupytext
import nbformat
import pytest

from segcourse.tooling.notebooks import SLIDE_TYPES, check, clean, lesson_paths, metadata_problems

LESSONS = lesson_paths()


def test_there_are_lessons():
    assert LESSONS and LESSONS[0].name.startswith("00_")


def test_pairs_agree_and_are_clean_and_executed():
    problems = check()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_stored_exercise_outputs_are_not_attempted(path):
    """A student who opens a lesson sees no pass they did not earn and no solution."""
    nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "sc.check(" not in cell.source:
            continue
        text = "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                       for o in cell.get("outputs", []))
        assert "[PASSED]" not in text and "[NOT YET]" in text, cell.source[:80]
    for cell in nb.cells:
        if cell.cell_type == "code" and "sc.solution(" in cell.source:
            raise AssertionError(f"{path.name}: a code cell runs sc.solution(): solutions open only on request")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_the_skeleton(path):
    nb = jupytext.read(path)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Learning objectives" in md
    assert "## Summary" in md
    assert re.search(r"arXiv:\d{4}\.\d{4,5}", md), "the summary cites papers by arXiv id"
    assert "import segcourse as sc" in code
    checks = re.findall(r"sc\.check\(\"(\d\d\.[a-z_]+)\"", code)
    assert len(set(checks)) >= 2, "at least two auto-checked exercises"
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions), \
        "solution cells are hidden"
    from segcourse.exercises import EXERCISES
    for key in set(checks):
        assert key in EXERCISES, f"sc.check({key!r}) names no exercise"
        assert EXERCISES[key].solution is not None, f"{key}: its solution lives in the library"
    assert any("nav" in c.metadata.get("tags", []) for c in nb.cells)
    assert not metadata_problems(nb, path.name)
    slides = sum(c.metadata["slideshow"]["slide_type"] in ("slide", "subslide") for c in nb.cells)
    assert slides >= 8, "the lesson presents as several slides, not one"


def test_metadata_check_catches_a_cell_without_slideshow():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# t", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_code_cell("1")])
    problems = metadata_problems(nb, "x")
    assert len(problems) == 1 and "cell 1" in problems[0]
    assert None in SLIDE_TYPES and "-" not in SLIDE_TYPES


def test_clean_keeps_slides_tags_and_drops_widget_state():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "1", metadata={"slideshow": {"slide_type": None}, "tags": ["x"], "collapsed": False,
                       "execution": {"iopub.status.busy": "2026"}})])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    out = clean(nb)
    assert "widgets" not in out.metadata
    assert out.cells[0].metadata == {"slideshow": {"slide_type": None}, "tags": ["x"]}


def test_the_network_is_blocked_in_lesson_kernels(tmp_path, root):
    """A kernel started like the lessons' (IPYTHONDIR=tests/ipython) cannot reach the network."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import urllib.request\n"
                                  "urllib.request.urlopen('http://example.com', timeout=5)"),
    ])
    path = tmp_path / "net.ipynb"
    nbformat.write(nb, path)
    code = ("import nbformat, sys\nfrom segcourse.tooling.notebooks import execute\n"
            f"nb = nbformat.read({str(path)!r}, 4)\n"
            "try:\n    execute(nb, __import__('pathlib').Path('.'))\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert "NetworkBlocked" in res.stdout + res.stderr


def test_loopback_stays_open_under_the_guard():
    code = ("import socket, segcourse.tooling.netguard as g; g.block_network()\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
            "c = socket.socket(); c.connect(s.getsockname()); print('ok')\n"
            "try:\n    socket.getaddrinfo('example.com', 80)\nexcept g.NetworkBlocked:\n    print('blocked')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["ok", "blocked"]


def test_roadmap_links_the_lessons_present_and_marks_the_rest_coming(tmp_path):
    from segcourse.tooling.notebooks import PLAN, roadmap_source
    for name in ("00_a.py", "03_b.py"):
        (tmp_path / name).write_text("")
    text = roadmap_source(sorted(tmp_path.glob("*.py")))
    assert "| [03](03_b.ipynb) |" in text and "| 04 (coming) |" in text and "| 01 (coming) |" in text
    assert len([ln for ln in text.splitlines() if ln.startswith("| ") and "---" not in ln]) == len(PLAN) + 1


#: Every lesson's notes cells follow the instructor-notes convention.
NOTES_CONVENTION = LESSONS
NOTES_HEAD = "> **Instructor notes** · "


@pytest.mark.parametrize("path", NOTES_CONVENTION, ids=lambda p: p.stem)
def test_notes_cells_read_as_instructor_notes(path):
    """A student reading the notebook sees notes cells as notes for the presenter: each starts with
    the same bold label and is a block quote, so it is set apart from the lesson's text."""
    nb = jupytext.read(path)
    notes = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "notes"]
    assert notes, "the lesson has speaker notes"
    for c in notes:
        lines = c.source.splitlines()
        assert lines[0].startswith(NOTES_HEAD), lines[0][:80]
        assert all(line.startswith(">") for line in lines), c.source[:80]


def test_instructor_notes_rewrites_notes_cells_only_and_is_idempotent():
    from segcourse.tooling.notebooks import NOTES_HEAD, instructor_notes
    src = ('# %% [markdown] slideshow={"slide_type": "slide"}\n# Speaker notes: not a notes cell\n\n'
           '# %% [markdown] slideshow={"slide_type": "notes"}\n# Speaker notes: say this\n#\n# and that\n\n'
           '# %% slideshow={"slide_type": null}\nx = 1\n')
    out = instructor_notes(src)
    assert out.count(NOTES_HEAD) == 1 and "# Speaker notes: not a notes cell" in out
    assert f"# {NOTES_HEAD}\n# >\n# > Say this\n# >\n# > and that\n\n# %% slideshow" in out
    assert instructor_notes(out) == out
    plain = '# %% [markdown] slideshow={"slide_type": "notes"}\n# A note on the slides: x\n'
    assert instructor_notes(plain).endswith("# >\n# > A note on the slides: x\n")
    for path in NOTES_CONVENTION:
        assert instructor_notes(path.read_text(encoding="utf-8")) == path.read_text(encoding="utf-8")
