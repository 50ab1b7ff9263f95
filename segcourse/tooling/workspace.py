"""Your own copy of the lessons, in ``my-lessons/``: course updates never overwrite your work.

    python -m segcourse.tooling.workspace sync       # copy new lessons in, update untouched ones
    python -m segcourse.tooling.workspace status     # which lessons you changed, which have updates
    python -m segcourse.tooling.workspace reset 03   # back up your 03 to my-lessons/backups/, restore original

(``./course mywork``, ``./course update`` and ``./course reset NN`` call these.)

How it decides. ``my-lessons/.segcourse-origin.json`` records, for each lesson, the SHA-256 of the
course notebook it was copied from (``origin``). On ``sync``, for each ``lessons/NN_name.ipynb``:

* no copy in my-lessons/ yet -> copy it in;
* your copy is byte-identical to the recorded origin (you never saved a change) -> if the course
  version changed, replace it with the new version (nothing of yours is lost: it was the original);
* your copy differs from the origin (you edited it) -> it is **never touched**; if the course
  version changed, the new one is written beside it as ``NN_name.new.ipynb`` and reported, so you
  can compare and copy what you want (``reset NN`` switches to it, backing yours up first);
* the lesson is in my-lessons/ but the record is missing (e.g. copied by hand) -> treated as
  edited unless it is identical to the course version.

``reset NN`` copies your notebook to ``my-lessons/backups/NN_name.<YYYYmmdd-HHMMSS>.ipynb`` first,
then restores the course version (and removes a pending ``.new.ipynb``). Nothing is ever deleted
without a backup. The folder is ``$SEGCOURSE_WORKSPACE`` if set, else ``my-lessons/`` beside
``lessons/``; the course folder is ``$SEGCOURSE_LESSONS`` if set (for tests), else ``lessons/``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .._paths import LESSONS, ROOT, lesson_files

__all__ = ["workspace_dir", "lessons_dir", "sync", "reset", "status", "RECORD", "BACKUPS"]

RECORD = ".segcourse-origin.json"
BACKUPS = "backups"


def workspace_dir() -> Path:
    return Path(os.environ.get("SEGCOURSE_WORKSPACE") or ROOT / "my-lessons")


def lessons_dir() -> Path:
    return Path(os.environ.get("SEGCOURSE_LESSONS") or LESSONS)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _course_notebooks(lessons: Path) -> list[Path]:
    return lesson_files(lessons, ".ipynb")


def _load_record(ws: Path) -> dict:
    path = ws / RECORD
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            # a damaged record must not make us overwrite anything: treat every copy as edited
            broken = path.with_name(f"{RECORD}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.copy2(path, broken)
            print(f"warning: {path} was unreadable; kept as {broken.name}", file=sys.stderr)
    return {}


def _save_record(ws: Path, record: dict) -> None:
    tmp = ws / (RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, ws / RECORD)


def _copy(src: Path, dst: Path) -> None:
    """Copy atomically (write a temp file, then rename), so an interruption never half-writes."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


@dataclass
class Entry:
    name: str
    state: str  # new | same | updated | edited | edited+update | missing-from-course
    note: str = ""


def _state(ws: Path, src: Path | None, mine: Path, record: dict) -> str:
    origin = record.get(mine.name, {}).get("origin")
    if not mine.exists():
        return "absent"
    mine_sha = _sha(mine)
    if src is None:
        return "not-in-course"
    src_sha = _sha(src)
    untouched = origin is not None and mine_sha == origin
    if untouched or mine_sha == src_sha:
        return "same" if mine_sha == src_sha else "untouched-outdated"
    return "edited" if origin == src_sha else "edited-outdated"


def sync(ws: Path | None = None, lessons: Path | None = None, *, quiet: bool = False) -> list[Entry]:
    """Bring my-lessons/ up to date without ever overwriting an edited notebook."""
    ws, lessons = Path(ws or workspace_dir()), Path(lessons or lessons_dir())
    ws.mkdir(parents=True, exist_ok=True)
    record = _load_record(ws)
    report = []
    for src in _course_notebooks(lessons):
        mine = ws / src.name
        pending = mine.with_name(mine.stem + ".new.ipynb")
        state = _state(ws, src, mine, record)
        src_sha = _sha(src)
        if state == "absent":
            _copy(src, mine)
            record[mine.name] = {"origin": src_sha}
            report.append(Entry(mine.name, "new", "copied from the course"))
        elif state == "same":
            record[mine.name] = {"origin": src_sha}
            if pending.exists() and _sha(pending) == src_sha:
                pending.unlink()
            report.append(Entry(mine.name, "same"))
        elif state == "untouched-outdated":
            _copy(src, mine)
            record[mine.name] = {"origin": src_sha}
            report.append(Entry(mine.name, "updated", "you had not changed it: now the new version"))
        elif state == "edited":
            report.append(Entry(mine.name, "edited", "your changes are kept"))
        else:  # edited-outdated: keep theirs, put the new course version beside it
            if not pending.exists() or _sha(pending) != src_sha:
                _copy(src, pending)
            report.append(Entry(mine.name, "edited+update",
                                f"your changes are kept; the new course version is {pending.name} "
                                f"(`./course reset {mine.name[:2]}` switches to it, backing yours up)"))
    _save_record(ws, record)
    if not quiet:
        _print(report, ws)
    return report


def status(ws: Path | None = None, lessons: Path | None = None, *, quiet: bool = False) -> list[Entry]:
    """What sync would find, without changing anything."""
    ws, lessons = Path(ws or workspace_dir()), Path(lessons or lessons_dir())
    record = _load_record(ws) if ws.exists() else {}
    names = {"absent": "not copied yet", "same": "unchanged", "untouched-outdated": "update available",
             "edited": "edited by you", "edited-outdated": "edited by you; course has a new version",
             "not-in-course": "yours only"}
    report = []
    course = {p.name: p for p in _course_notebooks(lessons)}
    mine_names = {p.name for p in ws.glob("[0-9][0-9]_*.ipynb") if not p.name.endswith(".new.ipynb")} \
        if ws.exists() else set()
    for name in sorted(set(course) | mine_names):
        state = _state(ws, course.get(name), ws / name, record)
        report.append(Entry(name, state, names[state]))
    if not quiet:
        _print(report, ws)
    return report


def _find(ws: Path, lessons: Path, number: str) -> Path:
    num = f"{int(number):02d}"
    hits = [p for p in _course_notebooks(lessons) if p.name.startswith(num + "_")]
    if not hits:
        raise SystemExit(f"no lesson {num} in {lessons}")
    return hits[0]


def reset(number: str, ws: Path | None = None, lessons: Path | None = None, *,
          quiet: bool = False) -> Path | None:
    """Back up my-lessons/NN_*.ipynb to backups/, then restore the course version. Returns backup."""
    ws, lessons = Path(ws or workspace_dir()), Path(lessons or lessons_dir())
    src = _find(ws, lessons, number)
    mine = ws / src.name
    ws.mkdir(parents=True, exist_ok=True)
    backup = None
    if mine.exists():
        (ws / BACKUPS).mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = ws / BACKUPS / f"{mine.stem}.{stamp}.ipynb"
        k = 1
        while backup.exists():  # two resets in one second: never overwrite a backup
            backup = ws / BACKUPS / f"{mine.stem}.{stamp}-{k}.ipynb"
            k += 1
        shutil.copy2(mine, backup)
    _copy(src, mine)
    pending = mine.with_name(mine.stem + ".new.ipynb")
    if pending.exists():
        pending.unlink()
    record = _load_record(ws)
    record[mine.name] = {"origin": _sha(src)}
    _save_record(ws, record)
    if not quiet:
        where = f"; your version was saved as {backup.relative_to(ws)}" if backup else ""
        print(f"{mine.name}: restored the course version{where}")
    return backup


def _print(report: list[Entry], ws: Path) -> None:
    print(f"workspace: {ws}")
    for e in report:
        print(f"  {e.name:<40} {e.state:<16} {e.note}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segcourse.tooling.workspace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("sync", help="copy new lessons in; never overwrite your edits")
    sub.add_parser("status", help="show which lessons you edited and which have updates")
    r = sub.add_parser("reset", help="back up your lesson NN and restore the course version")
    r.add_argument("number")
    args = parser.parse_args(argv)
    if args.cmd == "sync":
        sync()
    elif args.cmd == "status":
        status()
    else:
        reset(args.number)
    return 0


if __name__ == "__main__":
    sys.exit(main())
