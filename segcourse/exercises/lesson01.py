"""Lesson 01's exercises: receptive-field arithmetic and fc -> conv weight reshaping."""
from __future__ import annotations

import numpy as np
import torch

from ..models.vgg import fc_as_conv
from .checking import Exercise, Case, check_function

__all__ = ["rf_cases", "fc_to_conv_cases"]


def _as_triple(x):
    """Accept a tuple/list/array of three numbers as an array; leave anything else for the report."""
    if isinstance(x, (tuple, list)) and len(x) == 3 and all(isinstance(v, (int, float, np.number)) for v in x):
        return np.asarray(x, dtype=float)
    return x


def rf_cases() -> list[Case]:
    """Cases for ``rf(layers) -> (size, jump, start)``; layers: list of (kernel, stride, padding)."""
    vgg_block = [(3, 1, 1), (3, 1, 1), (2, 2, 0)]
    return [Case("one 3x3 conv, padding 1", ([(3, 1, 1)],), np.array([3, 1, 0.0])),
            Case("3x3 conv, no padding", ([(3, 1, 0)],), np.array([3, 1, 1.0])),
            Case("VGG block 1 (conv, conv, pool)", (vgg_block,), np.array([6, 2, 0.5])),
            Case("VGG blocks 1-2", (vgg_block * 2,), np.array([16, 4, 1.5])),
            Case("7x7 stride-2 conv pad 3, then 3x3 stride-2 pool pad 1 (ResNet stem)",
                 ([(7, 2, 3), (3, 2, 1)],), np.array([11, 4, 0.0]))]


def _check_rf(fn):
    if not callable(fn):
        return check_function(fn, [])
    return check_function(lambda layers: _as_triple(fn(layers)), rf_cases(), atol=1e-9)


def fc_to_conv_cases() -> list[Case]:
    """Cases for ``fc_to_conv_weight(weight, channels, k)``: (out, C*k*k) -> (out, C, k, k)."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for out, c, k in ((4, 3, 2), (5, 2, 3), (2, 8, 1)):
        w = torch.randn(out, c * k * k, generator=g)
        cases.append(Case(f"Linear({c}*{k}*{k} -> {out}) as a {k}x{k} conv", (w, c, k),
                          fc_as_conv(w, c, k)))
    return cases


def _check_fc_to_conv(fn):
    return check_function(fn, fc_to_conv_cases(), atol=1e-6)


def _solution_rf():
    def rf(layers):
        size, jump, start = 1, 1, 0.0
        for k, s, p in layers:
            size += (k - 1) * jump
            start += ((k - 1) / 2 - p) * jump  # uses the jump *before* this layer
            jump *= s
        return size, jump, start
    return rf


def _solution_fc_to_conv():
    def fc_to_conv_weight(weight, channels, k):
        # torch's flatten of (C, H, W) is row-major: index = c*k*k + u*k + v, so a plain reshape is
        # right (reshaping to (out, k, k, C) and permuting would be TensorFlow's (H, W, C) order)
        return weight.reshape(weight.shape[0], channels, k, k)
    return fc_to_conv_weight


#: This lesson's exercises: key -> Exercise(title, checker, solution).
EXERCISES = {
    "01.receptive_field": Exercise("receptive field size, jump and start of a stack of layers", _check_rf, _solution_rf),
    "01.fc_to_conv": Exercise("reshape a fully connected layer's weight into a convolution's", _check_fc_to_conv, _solution_fc_to_conv),
}
