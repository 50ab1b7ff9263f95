"""JupyterLab user settings the course resets before ``./course open`` starts a server.

jupyterlab-slideshow keeps "presentation mode is on" as a *user setting*
(``jupyterlab-slideshow:plugin``, ``"active"``), not in the workspace, so a deck left open comes
back at the next start even with ``/lab?reset`` (which resets only the workspace's layout): no menu
bar, no file browser, one slide. ``close_deck`` sets it back to false in the settings file, and
changes nothing else in it (JupyterLab writes these files as JSON with ``//`` comments).

    python -m segcourse.tooling.labsettings close-deck      # what ./course open runs first
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

__all__ = ["DECK_SETTINGS", "close_deck", "user_settings_dir"]

#: The slideshow's settings file, relative to the user settings directory.
DECK_SETTINGS = Path("jupyterlab-slideshow") / "plugin.jupyterlab-settings"
_ACTIVE = re.compile(r'("active"\s*:\s*)true\b')


def user_settings_dir() -> Path:
    """JupyterLab's user settings directory (``JUPYTERLAB_SETTINGS_DIR`` or ``~/.jupyter/lab/user-settings``)."""
    from jupyterlab.commands import get_user_settings_dir
    return Path(get_user_settings_dir())


def close_deck(settings_dir: str | Path | None = None) -> bool:
    """Switch jupyterlab-slideshow's presentation mode off in the user settings under
    ``settings_dir`` (default :func:`user_settings_dir`). Returns True if it was on."""
    if settings_dir is not None and not isinstance(settings_dir, (str, Path)):
        raise TypeError(f"settings_dir: expected a path or None, got {type(settings_dir).__name__}")
    path = Path(settings_dir if settings_dir is not None else user_settings_dir()) / DECK_SETTINGS
    if not path.is_file():
        return False
    raw = path.read_text(encoding="utf-8")
    new, n = _ACTIVE.subn(r"\1false", raw)
    if n:
        path.write_text(new, encoding="utf-8")
    return bool(n)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.labsettings", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["close-deck"])
    p.add_argument("--settings-dir", default=None, help="JupyterLab user settings directory (default: JupyterLab's)")
    a = p.parse_args(argv)
    if close_deck(a.settings_dir):
        print("==> a slideshow was left in presentation mode: switched off, JupyterLab opens normally")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
