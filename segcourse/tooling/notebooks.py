"""The notebook pipeline: text pairs are the source, executed notebooks are built from them.

    python -m segcourse.tooling.notebooks build [00 03 ...]   # sync .py -> .ipynb, execute top to bottom
    python -m segcourse.tooling.notebooks check               # pairs agree, metadata clean, runs complete
    python -m segcourse.tooling.notebooks new 05 "CRF" "条件随机场 conditional random field"

Each lesson is ``lessons/NN_name.py`` (jupytext ``py:percent``) paired with ``NN_name.ipynb``.
``build`` refreshes the navigation cell, executes the notebook in a fresh kernel of this
environment with the network blocked, keeps only the metadata that matters (``slideshow``,
``tags``, ``jupyter.source_hidden``), and records each lesson's run time in the README table.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
from pathlib import Path

from .._paths import LESSONS, ROOT, lesson_files

__all__ = ["ROOT", "LESSONS", "lesson_paths", "build", "check", "clean", "SLIDE_TYPES", "NOTES_HEAD",
           "instructor_notes"]

TEMPLATE = Path(__file__).with_name("templates") / "lesson.py"
NETGUARD_DIR = ROOT / "tests" / "ipython"  # IPython profile whose startup file blocks the network
#: Allowed slide types. A continuation cell (stays on the current slide) carries an explicit
#: ``null``: jupyterlab-slideshow hides cells marked "-" in deck mode, while nbconvert and RISE read
#: ``null`` as "-" too, so ``null`` works in every presenter.
SLIDE_TYPES = {"slide", "subslide", "fragment", None, "skip", "notes"}
CELL_KEYS = {"slideshow", "tags", "jupyter"}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
FORMATS = "ipynb,py:percent"
NAV_TAG = "nav"
ROADMAP_TAG = "roadmap"
#: The course's plan, one row per lesson of the lecture (shared/OUTLINE.md): number, idea (slide
#: term), papers. The road map in lesson 00 (a cell tagged ``roadmap``) is generated from it by
#: ``build``: lessons that exist are linked, the others are marked as coming.
PLAN = (
    ("01", "VGG-16 and convolutionalization (全卷积 fully convolutional)", "Long, Shelhamer, Darrell, arXiv:1411.4038"),
    ("02", "heat maps from a convolutionalized classifier", "arXiv:1411.4038"),
    ("03", "transposed convolution and bilinear upsampling", "arXiv:1411.4038; Odena et al. 2016"),
    ("04", "skip architecture (多层feature跳接结构): FCN-32s/16s/8s", "arXiv:1411.4038"),
    ("05", "fully connected CRF (条件随机场) after the network", "Chen et al., DeepLab v1, arXiv:1412.7062"),
    ("06", "atrous convolution (多孔卷积)", "arXiv:1412.7062; Yu & Koltun, arXiv:1511.07122"),
    ("07", "ASPP and multi-scale context (多尺度信息结合)", "DeepLab v2 arXiv:1606.00915; v3 arXiv:1706.05587"),
    ("08", "large kernels (大内核): GCN and boundary refinement", "Peng et al., arXiv:1703.02719"),
    ("09", "position-sensitive inside/outside scores (FCIS)", "Li et al., arXiv:1611.07709"),
    ("10", "RoI pooling vs RoIAlign (双线性插值)", "He et al., Mask R-CNN, arXiv:1703.06870"),
    ("11", "Mask R-CNN = Faster R-CNN + FCN", "arXiv:1703.06870"),
    ("12", "learning to segment every thing (迁移学习, 学习一个映射)", "Hu et al., arXiv:1711.10370"),
)
README_START, README_END = "<!-- lessons:start -->", "<!-- lessons:end -->"


def lesson_paths(selection=None) -> list[Path]:
    """The lessons' text files ``lessons/NN_*.py`` in order, optionally only numbers in selection."""
    return lesson_files(LESSONS, ".py", selection)


def _read(path: Path):
    import jupytext
    return jupytext.read(path)


def lesson_info(path: Path) -> dict:
    """The ``segcourse`` block of a lesson's notebook metadata: title, terms (English/中文)."""
    meta = _read(path).metadata.get("segcourse", {})
    return {"number": path.name[:2], "stem": path.stem, "title": meta.get("title", path.stem),
            "terms": meta.get("terms", ""), "seconds": meta.get("seconds")}


def _nav_source(paths: list[Path], path: Path) -> str:
    i = [p.name for p in paths].index(path.name)
    parts = []
    if i > 0:
        parts.append(f"[← {lesson_info(paths[i - 1])['title']}]({paths[i - 1].stem}.ipynb)")
    parts.append(f"[contents]({paths[0].stem}.ipynb#Road-map)")
    if i + 1 < len(paths):
        parts.append(f"[{lesson_info(paths[i + 1])['title']} →]({paths[i + 1].stem}.ipynb)")
    return " · ".join(parts)


def roadmap_source(paths: list[Path]) -> str:
    """Lesson 00's road map: :data:`PLAN` with the lessons present linked and the rest marked coming."""
    present = {p.name[:2]: p for p in paths}
    rows = []
    for number, idea, papers in PLAN:
        p = present.get(number)
        cell = f"[{number}]({p.stem}.ipynb)" if p else f"{number} (coming)"
        rows.append(f"| {cell} | {idea} | {papers} |")
    return "\n".join(["## Road map", "",
                      "The lecture (分割 Segmentation) has three parts: 介绍 introduction (this lesson), 发展 development,",
                      "前沿 frontier. Each later lesson implements one idea from scratch, checks it against a reference,",
                      "and makes it visible. Lessons marked *coming* are not written yet.", "",
                      "| lesson | idea (slide term) | paper |", "|---|---|---|", *rows])


def refresh_nav(path: Path, paths: list[Path]) -> bool:
    """Rewrite the lesson's cells tagged ``nav`` to link previous / contents / next, and a cell tagged
    ``roadmap`` to :func:`roadmap_source`. Returns changed."""
    import jupytext
    nb = _read(path)
    src = _nav_source(paths, path)
    changed = False
    roadmap = roadmap_source(paths)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if NAV_TAG in tags and cell.source != src:
            cell.source = src
            changed = True
        if ROADMAP_TAG in tags and cell.source != roadmap:
            cell.source = roadmap
            changed = True
    if changed:
        jupytext.write(nb, path, fmt="py:percent")
    return changed


def refresh_nav_pair(path: Path, paths: list[Path]) -> bool:
    """:func:`refresh_nav` on the lesson's .py, then copy its ``nav`` / ``roadmap`` cells into the
    executed .ipynb (markdown cells have no outputs: nothing is re-executed). For a lesson added or
    removed next to lessons already built. Returns changed."""
    changed = refresh_nav(path, paths)
    ipynb = path.with_suffix(".ipynb")
    if not ipynb.exists():
        return changed
    text_nb = _read(path)
    wanted = {tag: c.source for c in text_nb.cells for tag in (NAV_TAG, ROADMAP_TAG)
              if tag in c.metadata.get("tags", [])}
    raw = json.loads(ipynb.read_text(encoding="utf-8"))
    touched = False
    for cell in raw["cells"]:
        for tag, source in wanted.items():
            if tag in cell.get("metadata", {}).get("tags", []) and "".join(cell["source"]) != source:
                cell["source"] = source.splitlines(keepends=True)
                touched = True
    if touched:
        ipynb.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed or touched


def metadata_problems(nb, name: str) -> list[str]:
    """Cells without slideshow metadata or with unknown slide types, and stray metadata."""
    problems = []
    for k, cell in enumerate(nb.cells):
        show = cell.metadata.get("slideshow")
        if not isinstance(show, dict) or "slide_type" not in show:
            problems.append(f"{name}: cell {k} has no slideshow.slide_type")
        elif show["slide_type"] not in SLIDE_TYPES:
            hint = " (use null for a continuation cell: jupyterlab-slideshow hides \"-\")" \
                if show["slide_type"] == "-" else ""
            problems.append(f"{name}: cell {k} has slide_type {show['slide_type']!r}; expected one of "
                            f"{sorted(SLIDE_TYPES, key=str)}{hint}")
    if nb.cells and nb.cells[0].metadata.get("slideshow", {}).get("slide_type") != "slide":
        problems.append(f"{name}: the first cell must start a slide")
    if "widgets" in nb.metadata:
        problems.append(f"{name}: notebook metadata holds widget state")
    return problems


def clean(nb):
    """Keep only metadata that matters: slideshow, tags, jupyter (source_hidden), kernelspec."""
    nb = copy.deepcopy(nb)
    keep = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"},
            "jupytext": {"formats": FORMATS}}
    if "segcourse" in nb.metadata:
        keep["segcourse"] = nb.metadata["segcourse"]
    nb.metadata = keep
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in CELL_KEYS}
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
    return nb


def _kernel_env() -> dict:
    env = dict(os.environ)
    env["IPYTHONDIR"] = str(NETGUARD_DIR)
    env.setdefault("PYTHONHASHSEED", "0")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


def execute(nb, cwd: Path, timeout: int = 600):
    """Execute ``nb`` top to bottom in a fresh kernel of this environment (network blocked)."""
    from nbclient import NotebookClient
    old = dict(os.environ)
    os.environ.update(_kernel_env())
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def build(selection=None, *, execute_cells: bool = True) -> dict:
    """Sync each selected lesson .py -> .ipynb and execute it; returns {stem: seconds}."""
    import jupytext
    paths = lesson_paths()
    chosen = lesson_paths(selection)
    times = {}
    for path in chosen:
        refresh_nav(path, paths)
        nb = _read(path)
        problems = metadata_problems(nb, path.name)
        if problems:
            raise SystemExit("\n".join(problems))
        start = time.perf_counter()
        if execute_cells:
            execute(nb, LESSONS)
        times[path.stem] = round(time.perf_counter() - start, 1)
        nb.metadata.setdefault("segcourse", {})["seconds"] = times[path.stem]
        jupytext.write(clean(nb), path.with_suffix(".ipynb"), fmt="ipynb")
        _write_seconds(path, times[path.stem])
        print(f"{path.stem}: {times[path.stem]:.1f} s", flush=True)
    update_readme()
    return times


def _write_seconds(path: Path, seconds: float) -> None:
    """Record the run time in the .py header too, so the pair stays identical."""
    import jupytext
    nb = _read(path)
    nb.metadata.setdefault("segcourse", {})["seconds"] = seconds
    jupytext.write(nb, path, fmt="py:percent")


def lesson_table() -> str:
    rows = ["| # | lesson | key terms | run time |", "|---|---|---|---|"]
    for p in lesson_paths():
        info = lesson_info(p)
        secs = f"{info['seconds']:.0f} s" if info["seconds"] is not None else "?"
        rows.append(f"| {info['number']} | [{info['title']}](lessons/{p.stem}.ipynb) | "
                    f"{info['terms']} | {secs} |")
    return "\n".join(rows)


def update_readme() -> bool:
    """Rewrite the lesson table between the README's markers. Returns changed."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if README_START not in text:
        return False
    new = re.sub(re.escape(README_START) + ".*?" + re.escape(README_END),
                 README_START + "\n" + lesson_table() + "\n" + README_END, text, flags=re.S)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def _cells_signature(nb) -> list:
    return [(c.cell_type, c.source.strip(), json.dumps({k: v for k, v in c.metadata.items()
                                                        if k in CELL_KEYS}, sort_keys=True))
            for c in nb.cells]


def pair_problems(path: Path) -> list[str]:
    """Differences between a lesson's .py and .ipynb, and problems in the executed notebook."""
    ipynb = path.with_suffix(".ipynb")
    if not ipynb.exists():
        return [f"{path.name}: no paired {ipynb.name}; run `python -m segcourse.tooling.notebooks build`"]
    text_nb, run_nb = _read(path), _read(ipynb)
    problems = metadata_problems(text_nb, path.name)
    a, b = _cells_signature(text_nb), _cells_signature(run_nb)
    if len(a) != len(b):
        problems.append(f"{path.name}: {len(a)} cells but {ipynb.name} has {len(b)}")
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            problems.append(f"{path.name}: cell {k} differs from {ipynb.name} (rebuild the notebook)")
            break
    if text_nb.metadata.get("segcourse") != run_nb.metadata.get("segcourse"):
        problems.append(f"{path.name}: segcourse metadata differs from {ipynb.name}")
    counts = [c.get("execution_count") for c in run_nb.cells if c.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        problems.append(f"{ipynb.name}: not executed top to bottom in one run (counts {counts[:8]}...)")
    for c in run_nb.cells:
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{ipynb.name}: a stored output is an error: {out.get('ename')}")
    raw = json.loads(ipynb.read_text(encoding="utf-8"))
    if "widgets" in raw.get("metadata", {}):
        problems.append(f"{ipynb.name}: notebook metadata holds widget state")
    for c in raw["cells"]:
        extra = set(c.get("metadata", {})) - CELL_KEYS
        if extra:
            problems.append(f"{ipynb.name}: cell metadata keys {sorted(extra)} should be cleaned")
            break
    return problems


def check(selection=None) -> list[str]:
    """All problems over the selected lessons (empty list = all good)."""
    problems = []
    for path in lesson_paths(selection):
        problems += pair_problems(path)
    return problems


#: First line of every notes cell: students reading the notebook see the cell as notes for the
#: presenter (a block quote with this label), not as lesson text.
NOTES_HEAD = ("> **Instructor notes** · for whoever presents the lesson; in the slides they show only in "
              "the speaker view.")


def instructor_notes(text: str) -> str:
    """A lesson's ``py:percent`` source with every notes cell in the instructor-notes form: the
    :data:`NOTES_HEAD` line, an empty quoted line, then the cell's text as a block quote (a leading
    "Speaker notes:" is dropped). Cells already in that form are left alone; idempotent."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].startswith("# %% [markdown]") and '"slide_type": "notes"' in lines[i]:
            i += 1
            body = []
            while i < len(lines) and lines[i].startswith("#") and not lines[i].startswith("# %%"):
                body.append(lines[i])
                i += 1
            if not body or body[0].startswith("# " + NOTES_HEAD[:24]):
                out += body
                continue
            first = re.sub(r"^Speaker notes:\s*", "", re.sub(r"^# ?", "", body[0]))
            body = ["# " + first[:1].upper() + first[1:]] + body[1:]
            out += ["# " + NOTES_HEAD, "# >"] + ["# > " + b[2:] if b.startswith("# ") else "# >" for b in body]
            continue
        i += 1
    return "\n".join(out)


def new_lesson(number: str, title: str, terms: str) -> Path:
    """Start lesson ``NN`` from the template (objectives, sections, exercises, summary, nav)."""
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    path = LESSONS / f"{int(number):02d}_{slug}.py"
    if path.exists():
        raise SystemExit(f"{path} exists")
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("{{NUMBER}}", f"{int(number):02d}").replace("{{TITLE}}", title)
    text = text.replace("{{TERMS}}", terms)
    path.write_text(text, encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segcourse.tooling.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="sync and execute lessons (all, or the numbers given)")
    b.add_argument("lessons", nargs="*")
    c = sub.add_parser("check", help="pairs agree, metadata clean, executed in one run")
    c.add_argument("lessons", nargs="*")
    n = sub.add_parser("new", help="start a lesson from the template")
    n.add_argument("number")
    n.add_argument("title")
    n.add_argument("terms")
    v = sub.add_parser("nav", help="refresh every lesson's navigation and road-map cells (.py and .ipynb, no execution)")
    m = sub.add_parser("notes", help="rewrite the notes cells of lessons' .py files as instructor notes")
    m.add_argument("lessons", nargs="+")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        build(args.lessons)
    elif args.cmd == "check":
        problems = check(args.lessons)
        print("\n".join(problems) if problems else "all lessons paired, clean and executed")
        return 1 if problems else 0
    elif args.cmd == "nav":
        paths = lesson_paths()
        for path in paths:
            if refresh_nav_pair(path, paths):
                print(f"{path.name}: navigation refreshed")
        update_readme()
    elif args.cmd == "notes":
        for path in lesson_paths(args.lessons):
            text = path.read_text(encoding="utf-8")
            new = instructor_notes(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"{path.name}: notes cells rewritten (rebuild it)")
    else:
        print(new_lesson(args.number, args.title, args.terms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
