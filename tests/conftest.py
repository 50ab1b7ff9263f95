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


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one torch thread (with busy cores, waking OpenMP workers costs ms per op).
    Use in a module with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
