"""Shared test set-up.

Every kernel started by the tests (nbval, nbclient) gets ``IPYTHONDIR=tests/ipython``, whose
startup file blocks the network: the lessons must run offline.
"""
import os
from pathlib import Path

import pytest

from segcourse.tooling.notebooks import _kernel_env

ROOT = Path(__file__).resolve().parents[1]
# the environment `./course build` gives its kernels (network guard, hash seed, inline figures),
# for the kernels nbval and the tests start; this test process itself draws off-screen
os.environ.update(_kernel_env())
import matplotlib  # noqa: E402

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
