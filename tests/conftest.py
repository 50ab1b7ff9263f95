"""Shared test set-up.

Every kernel started by the tests (nbval, nbclient) gets ``IPYTHONDIR=tests/ipython``, whose
startup file blocks the network: the lessons must run offline.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["IPYTHONDIR"] = str(ROOT / "tests" / "ipython")
os.environ.setdefault("PYTHONHASHSEED", "0")
# kernels show figures inline; this test process itself draws off-screen
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
import matplotlib  # noqa: E402

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
