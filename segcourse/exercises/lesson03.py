"""Lesson 03's exercises: the transposed-convolution output size and the bilinear kernel."""
from __future__ import annotations

import numpy as np

from ..ops.upsampling import bilinear_kernel
from .checking import Exercise, Case, check_function

__all__ = ["transposed_size_cases", "bilinear_cases"]


def transposed_size_cases() -> list[Case]:
    """Cases for ``transposed_size(n, kernel, stride, padding, output_padding)``; worked by hand
    from (n - 1) s - 2 p + k + output_padding (checked against torch in tests)."""
    return [Case("n=3, k=3, s=1, p=0", (3, 3, 1, 0, 0), 5),
            Case("n=4, k=4, s=2, p=1 (x2 upsampling)", (4, 4, 2, 1, 0), 8),
            Case("n=5, k=3, s=2, p=1", (5, 3, 2, 1, 0), 9),
            Case("n=5, k=3, s=2, p=1, output_padding=1", (5, 3, 2, 1, 1), 10),
            Case("FCN-32s: n=16, k=64, s=32, p=0", (16, 64, 32, 0, 0), 544)]


def _check_transposed_size(fn):
    return check_function(fn, transposed_size_cases())


def bilinear_cases() -> list[Case]:
    """Cases for ``bilinear(size)``: the size x size bilinear upsampling filter."""
    return [Case(f"size {s}", (s,), bilinear_kernel(s).numpy()) for s in (4, 3, 5, 8, 1)]


def _check_bilinear(fn):
    return check_function(fn, bilinear_cases(), atol=1e-6)


def _solution_transposed_size():
    def transposed_size(n, kernel, stride, padding, output_padding):
        # the n inputs are spread `stride` apart ((n-1)*stride + 1 positions), each kernel adds k-1,
        # padding crops p on each side, output_padding adds rows at the end
        return (n - 1) * stride - 2 * padding + kernel + output_padding
    return transposed_size


def _solution_bilinear():
    def bilinear(size):
        f = (size + 1) // 2
        c = f - 1 if size % 2 == 1 else f - 0.5
        tent = 1 - np.abs(np.arange(size) - c) / f
        return np.outer(tent, tent)
    return bilinear


#: This lesson's exercises: key -> Exercise(title, checker, solution).
EXERCISES = {
    "03.transposed_size": Exercise("output size of a transposed convolution", _check_transposed_size, _solution_transposed_size),
    "03.bilinear_kernel": Exercise("the bilinear upsampling filter", _check_bilinear, _solution_bilinear),
}
