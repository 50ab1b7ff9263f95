"""Lesson 03's exercises: the transposed-convolution output size and the bilinear kernel."""
from __future__ import annotations

import numpy as np

from .exercises import Case, check_function, exercise

__all__ = ["transposed_size_cases", "bilinear_cases"]


def transposed_size_cases() -> list[Case]:
    """Cases for ``transposed_size(n, kernel, stride, padding, output_padding)``; worked by hand
    from (n - 1) s - 2 p + k + output_padding (checked against torch in tests)."""
    return [Case("n=3, k=3, s=1, p=0", (3, 3, 1, 0, 0), 5),
            Case("n=4, k=4, s=2, p=1 (x2 upsampling)", (4, 4, 2, 1, 0), 8),
            Case("n=5, k=3, s=2, p=1", (5, 3, 2, 1, 0), 9),
            Case("n=5, k=3, s=2, p=1, output_padding=1", (5, 3, 2, 1, 1), 10),
            Case("FCN-32s: n=16, k=64, s=32, p=0", (16, 64, 32, 0, 0), 544)]


@exercise("03.transposed_size", "output size of a transposed convolution")
def _check_transposed_size(fn):
    return check_function(fn, transposed_size_cases())


def _bilinear(size):
    f = (size + 1) // 2
    c = f - 1 if size % 2 == 1 else f - 0.5
    og = 1 - np.abs(np.arange(size) - c) / f
    return np.outer(og, og)


def bilinear_cases() -> list[Case]:
    """Cases for ``bilinear(size)``: the size x size bilinear upsampling filter."""
    return [Case(f"size {s}", (s,), _bilinear(s)) for s in (4, 3, 5, 8, 1)]


@exercise("03.bilinear_kernel", "the bilinear upsampling filter")
def _check_bilinear(fn):
    return check_function(fn, bilinear_cases(), atol=1e-6)
