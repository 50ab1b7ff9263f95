"""Determinism: one call seeds every random number generator a lesson touches."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._validate import check_int

__all__ = ["seed_everything", "SEED"]

#: The course-wide default seed.
SEED = 0


def seed_everything(seed: int = SEED, *, threads: int = 2) -> torch.Generator:
    """Seed Python, NumPy and torch, fix torch's CPU thread count, and return a torch Generator.

    ``threads`` is fixed because float reductions may sum in a different order with a different
    number of threads; with the same seed and thread count a rerun reproduces stored outputs.
    """
    seed = check_int(seed, "seed", min_value=0, max_value=2**32 - 1)
    threads = check_int(threads, "threads", min_value=1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)
