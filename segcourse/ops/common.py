"""Helpers shared by the ops: running many tiny tensor operations fast."""
from __future__ import annotations

import contextlib

import torch

__all__ = ["small_ops"]


@contextlib.contextmanager
def small_ops():
    """Many tiny tensor ops: one thread and the plain (non-oneDNN) kernels are fastest and do not
    fight other processes for cores. Global settings are restored on exit."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.set_num_threads(threads)
