"""Where things are: the repository root, the data folder and the lessons. The only module that
computes these paths (everything else imports them from here)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "LESSONS", "data_dir", "lesson_files"]

#: The repository root (the folder holding ``segcourse/``, ``lessons/``, ``data/``, ``tests/``).
ROOT = Path(__file__).resolve().parents[1]
#: The course's lessons: ``NN_name.py`` paired with ``NN_name.ipynb``.
LESSONS = ROOT / "lessons"
#: A lesson file's name: two digits, an underscore, a name.
LESSON_GLOB = "[0-9][0-9]_*"


def data_dir() -> Path:
    """The course data folder (scenes, checkpoints): ``$SEGCOURSE_DATA`` if set, else ``<repository>/data``."""
    env = os.environ.get("SEGCOURSE_DATA")
    return Path(env).expanduser() if env else ROOT / "data"


def lesson_files(folder: Path = LESSONS, suffix: str = ".ipynb", selection=None) -> list[Path]:
    """The lesson files ``NN_*<suffix>`` in ``folder``, sorted by number (backups such as
    ``NN_x.new.ipynb`` excluded); ``selection``: lesson numbers ("03") or None for all."""
    paths = sorted(p for p in Path(folder).glob(LESSON_GLOB + suffix)
                   if p.name.count(".") == suffix.count("."))
    if selection:
        wanted = {f"{int(s):02d}" for s in selection}
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths
