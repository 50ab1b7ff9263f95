"""Lesson 06's exercises: the span of an atrous kernel, the offsets a stack of atrous layers reaches."""
from __future__ import annotations

import numpy as np
import torch

from .checking import Case, Exercise, as_number, check_function, number_matches

__all__ = ["EXERCISES", "effective_kernel_cases", "stack_offsets_cases"]


def _compare_offsets(got, expected, atol: float):
    try:
        g = {int(v) for v in (got.tolist() if isinstance(got, (torch.Tensor, np.ndarray)) else got)}
    except (TypeError, ValueError):
        return f"expected a set of integer offsets, got {type(got).__name__}"
    if g == set(expected):
        return None
    return f"your set has {len(g)} offset(s), not the right ones."


def effective_kernel_cases() -> list[Case]:
    """``effective_kernel(kernel, rate)``: pixels spanned by a ``kernel``-tap filter at ``rate``
    (from :func:`segcourse.ops.atrous.effective_kernel_size`, tested against ``dilate_kernel``)."""
    from ..ops.atrous import effective_kernel_size
    pairs = [(3, 1), (3, 2), (3, 4), (5, 2), (3, 12), (1, 5), (7, 3)]
    return [Case(f"kernel {k}, rate {r}", (k, r), effective_kernel_size(k, r)) for k, r in pairs]


def _diagnose_effective_kernel(case, got):
    k, r = case.args
    if number_matches(got, k * r) and k * r != case.expected:
        return ("It looks like kernel x rate: the taps are r pixels apart, so there are k - 1 gaps of r "
                "pixels between the first and the last tap, plus the last tap's own pixel.")
    if number_matches(got, (k - 1) * r) and (k - 1) * r != case.expected:
        return "It looks like you counted the gaps between the taps but not the pixel the last tap covers."
    if number_matches(got, k + (k - 1) * r) and k + (k - 1) * r != case.expected:
        return "It looks like you inserted r zeros between neighbouring taps; a rate-r kernel has r - 1."
    return "Draw the taps of the kernel on a line, r pixels apart, and count from the first to the last."


def _check_effective_kernel(fn):
    return check_function(fn, effective_kernel_cases(), diagnose=_diagnose_effective_kernel)


def _solution_effective_kernel():
    def effective_kernel(kernel, rate):
        return rate * (kernel - 1) + 1
    return effective_kernel


# -- 06.stack_offsets ------------------------------------------------------------------------------

def stack_offsets_cases() -> list[Case]:
    """``stack_offsets(rates)``: the set of 1-D input offsets (relative to the unit's centre) that
    a stack of 3-tap layers at these rates reaches (from :func:`segcourse.ops.atrous.footprint_1d`,
    tested against a brute-force enumeration)."""
    from ..ops.atrous import footprint_1d
    out = []
    for rates in ([2, 2], [1, 2, 3], [2, 2, 2], [4], [1, 1], [1, 2, 5], [1, 2, 9]):
        f = footprint_1d(rates)
        c = (f.numel() - 1) // 2
        out.append(Case(f"rates {rates}", (list(rates),), {int(i) - c for i in torch.nonzero(f).flatten()}))
    return out


def _diagnose_stack_offsets(case, got):
    (rates,) = case.args
    try:
        g = {int(v) for v in got}
    except (TypeError, ValueError):
        return ""
    union = {t * r for r in rates for t in (-1, 0, 1)}
    if g == union and union != case.expected:
        return ("It looks like the union of each layer's offsets. A unit of layer 2 reads three units "
                "of layer 1, each of which reads three pixels: the offsets add up (t1 r1 + t2 r2 + ...).")
    if g and min(g) >= 0:
        return "Offsets are relative to the unit's centre: a 3-tap layer reaches -r, 0 and +r."
    if g and max(g) != sum(rates):
        return "The farthest pixel a stack reaches is the sum of its rates, in each direction."
    return "Enumerate every choice of tap (-1, 0 or +1) in every layer and add up tap x rate."


def _check_stack_offsets(fn):
    return check_function(fn, stack_offsets_cases(), compare=_compare_offsets, diagnose=_diagnose_stack_offsets)


def _solution_stack_offsets():
    def stack_offsets(rates):
        reached = {0}
        for r in rates:
            reached = {o + t * r for o in reached for t in (-1, 0, 1)}
        return reached
    return stack_offsets


EXERCISES = {
    "06.effective_kernel": Exercise("the span of a kernel at a rate", _check_effective_kernel,
                                    _solution_effective_kernel),
    "06.stack_offsets": Exercise("the input offsets a stack of atrous layers reaches", _check_stack_offsets,
                                 _solution_stack_offsets),
}
