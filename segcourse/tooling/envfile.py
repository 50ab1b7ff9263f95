"""Write environment.yml from the lock file, so conda users get the same packages and pins.

    python -m segcourse.tooling.envfile          # (re)write environment.yml from uv.lock

The pins come from ``uv.lock`` through ``uv export`` (every package, with its platform markers);
``tests/test_environment.py`` fails if the two ever disagree.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .._paths import ROOT

HEADER = """\
# Conda route: `conda env create -f environment.yml && conda activate segcourse`.
# Generated from uv.lock by `python -m segcourse.tooling.envfile` (run by `./course lock`); do not edit.
# The pins are the tested environment's: torch and torchvision come as the registry's matched pair.
name: segcourse
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
    - -e .
"""


def locked_packages(lock_path: Path = ROOT / "uv.lock") -> dict[str, str]:
    """{name: version} of every package in the lock file except the project itself."""
    lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    return {p["name"]: p["version"] for p in lock["package"]
            if p["name"] != "segcourse" and "version" in p}


def _uv() -> str:
    boot = ROOT / ".cache" / "bootstrap" / "bin" / "uv"
    return str(boot) if boot.exists() else (shutil.which("uv") or "uv")


def render() -> str:
    """environment.yml text: every locked package with the markers ``uv export`` computes."""
    out = subprocess.run([_uv(), "export", "--frozen", "--no-hashes", "--no-emit-project",
                          "--all-groups", "--no-header", "--no-annotate"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    lines = [f"    - {ln.strip()}" for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
    return HEADER + "\n".join(lines) + "\n"


def main() -> int:
    out = ROOT / "environment.yml"
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
