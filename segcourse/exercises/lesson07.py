"""Lesson 07's exercises: the share of a 3 x 3 filter's taps inside the map (why image pooling); the
receptive field of an ASPP branch."""
from __future__ import annotations

import numpy as np
import torch

from .checking import Case, Exercise, as_number, check_function, number_matches

__all__ = ["EXERCISES", "valid_fraction_cases", "branch_field_cases"]


def valid_fraction_cases() -> list[Case]:
    """``valid_fraction(size, rate)``: share of a 3 x 3 filter's 9 taps at ``rate`` that fall inside
    a size x size map (SAME zero padding), averaged over all positions (from
    :func:`segcourse.ops.atrous.valid_tap_stats`, tested against a brute force)."""
    from ..ops.atrous import valid_tap_stats
    pairs = [(65, 1), (65, 12), (65, 24), (65, 40), (65, 64), (65, 65), (8, 3), (1, 1)]
    return [Case(f"{n} x {n} map, rate {r}", (n, r), float(valid_tap_stats(n, [r])["mean_fraction"][0]))
            for n, r in pairs]


def _one_axis(n, r):
    i = np.arange(n)
    return ((i - r >= 0).astype(float) + 1 + (i + r < n)) / 3


def _diagnose_valid_fraction(case, got):
    n, r = case.args
    one = _one_axis(n, r)
    if number_matches(got, one.mean()) and abs(one.mean() - case.expected) > 1e-9:
        return ("It looks like the share along one axis only. A tap is inside when its row *and* its "
                "column are: at each position the count is (rows inside) x (columns inside), out of 9.")
    if number_matches(got, float((one == 1).mean() ** 2)) and abs((one == 1).mean() ** 2 - case.expected) > 1e-9:
        return "It looks like the share of positions where all 9 taps are inside; the question is the mean share of taps."
    if as_number(got) is not None and as_number(got) > 1:
        return "A share is between 0 and 1 (divide the count of taps inside by 9)."
    return ("For a position i along one axis the taps sit at i - r, i, i + r; count those in [0, size), "
            "then multiply rows by columns and average over all positions.")


def _check_valid_fraction(fn):
    return check_function(fn, valid_fraction_cases(), atol=1e-9, diagnose=_diagnose_valid_fraction)


def _solution_valid_fraction():
    def valid_fraction(size, rate):
        i = np.arange(size)
        per_axis = (i - rate >= 0).astype(int) + 1 + (i + rate < size)
        return float(np.outer(per_axis, per_axis).mean() / 9)
    return valid_fraction


def branch_field_cases() -> list[Case]:
    """``branch_field(base_field, jump, rate)``: the receptive field (input pixels) of a 3 x 3 ASPP
    branch at ``rate`` on a backbone whose last map has field ``base_field`` and jump (stride)
    ``jump``. Expected values from :func:`segcourse.models.deeplab.aspp_branch_fields` on the atrous
    VGG-16 (v2 at output stride 8, v3 at 16), plus small hand-worked cases."""
    from ..models.deeplab import aspp_branch_fields, atrous_vgg16
    cases = []
    for os_, n, rates in ((8, 321, (6, 24)), (16, 513, (12, 18))):
        rows = aspp_branch_fields(atrous_vgg16(os_, fc6=False), rates, n)
        base = rows[0]
        for row in rows[1:-1]:
            cases.append(Case(f"VGG-16 at output stride {os_}, rate {row['rate']}",
                              (base["field"], base["jump"], row["rate"]), row["field"]))
    cases += [Case("a 1-pixel field, jump 1, rate 1 (one plain 3x3)", (1, 1, 1), 3),
              Case("field 5, jump 2, rate 3", (5, 2, 3), 17)]
    return cases


def _diagnose_branch_field(case, got):
    f, j, r = case.args
    if number_matches(got, f + 2 * r):
        return "The taps are rate apart on the feature map, and neighbouring feature-map cells are `jump` input pixels apart."
    if number_matches(got, f + 3 * r * j) or number_matches(got, f + (2 * r + 1) * j):
        return "A 3 x 3 filter at rate r spans r (3 - 1) + 1 cells: it adds r (3 - 1) cells to the field, each `jump` pixels."
    if number_matches(got, 2 * r * j) or number_matches(got, (2 * r + 1) * j):
        return "Start from the backbone's field: the branch widens it, it does not replace it."
    return "Each extra feature-map cell the filter spans adds `jump` input pixels to the backbone's field."


def _check_branch_field(fn):
    return check_function(fn, branch_field_cases(), atol=0, diagnose=_diagnose_branch_field)


def _solution_branch_field():
    def branch_field(base_field, jump, rate):
        return base_field + rate * (3 - 1) * jump
    return branch_field


EXERCISES = {
    "07.valid_fraction": Exercise("the share of a 3 x 3 filter's taps inside the map", _check_valid_fraction,
                                  _solution_valid_fraction),
    "07.branch_field": Exercise("the receptive field of an ASPP branch", _check_branch_field, _solution_branch_field),
}
