"""Lesson 10's exercises: RoIPool vs RoIAlign.

* 10.pool_cells  -- the feature cells RoIPool snaps a box to (C's round, end cell included).
* 10.pool_bins   -- the rows each RoIPool bin reads (floor / ceil, neighbours can share a row).
* 10.align_samples -- where RoIAlign samples in one bin row (no rounding; aligned's -0.5).

Expected values come from :mod:`segcourse.ops.roi` (checked against torchvision in
tests/test_roi.py) and agree with the hand-worked values written next to each case.
A wrong answer is compared with the typical mistakes below; the feedback names the mistake,
never the expected value.
"""
from __future__ import annotations

import math

import torch

from ..ops.roi import roi_align_sample_points, roi_pool_bins
from .checking import Case, Exercise, check_with_mistakes, numbers_match

__all__ = ["EXERCISES", "pool_cells_cases", "pool_bins_cases", "align_samples_cases",
           "MISTAKES"]


# -- checking with diagnosis ---------------------------------------------------------------------

def _as_list(x):
    if isinstance(x, torch.Tensor):
        return x.detach().tolist()
    if isinstance(x, (tuple, list)):
        return [_as_list(v) for v in x]
    return x


def _describe(x) -> str:
    if x is None:
        return "None (did you forget `return`?)"
    return repr(_as_list(x))[:80]


def _check_with_diagnosis(fn, cases, mistakes, what) -> tuple[bool, list[str]]:
    """:func:`check_with_mistakes` with this lesson's comparison: a wrong answer is matched against
    ``mistakes`` (name -> (wrong_fn, explanation)) to say what went wrong. The expected value is
    never printed."""
    def compare(got, expected, atol):
        if numbers_match(got, expected, atol):
            return None
        why = f"your {what} {_describe(got)} are not what torchvision computes"
        n_exp = torch.as_tensor(_as_list(expected)).numel()
        try:
            n_got = torch.as_tensor(_as_list(got)).numel()
        except (TypeError, ValueError, RuntimeError):
            n_got = None
        if n_got is not None and n_got != n_exp:
            why += f" (you gave {n_got} number(s), the answer has {n_exp})"
        return why

    return check_with_mistakes(fn, cases, mistakes, compare=compare, atol=1e-9)


# -- 10.pool_cells: RoIPool's rounded box ------------------------------------------------------------

def pool_cells_cases() -> list[Case]:
    """``pool_cells(box, stride)`` -> [x1, y1, x2, y2] cells (x2, y2 = last cell read).
    Hand-worked: 13/16 = 0.81 -> 1, 7/16 = 0.44 -> 0, 101/16 = 6.31 -> 6, 83/16 = 5.19 -> 5;
    40/16 = 2.5 -> 3, 8/16 = 0.5 -> 1, 72/16 = 4.5 -> 5, 104/16 = 6.5 -> 7;
    -8/16 = -0.5 -> -1, -24/16 = -1.5 -> -2, 50/16 = 3.125 -> 3, 30/16 = 1.875 -> 2;
    2/4 = 0.5 -> 1, 6/4 = 1.5 -> 2, 9.9/4 = 2.475 -> 2, 14.1/4 = 3.525 -> 4."""
    boxes = [("inside the map", (13.0, 7.0, 101.0, 83.0), 16),
             ("edges on half cells", (40.0, 8.0, 72.0, 104.0), 16),
             ("negative coordinates", (-8.0, -24.0, 50.0, 30.0), 16),
             ("stride 4", (2.0, 6.0, 9.9, 14.1), 4)]
    return [Case(name, (box, stride), roi_pool_bins(box, 1, 1.0 / stride).cells.tolist())
            for name, box, stride in boxes]


def _solution_pool_cells():
    def pool_cells(box, stride):
        def c_round(v):                       # C's round(): halves go away from zero
            return int(math.copysign(math.floor(abs(v) + 0.5), v))
        return [c_round(v / stride) for v in box]
    return pool_cells


def _cells_wrong(rounder, divide=True, end_plus_one=False):
    def wrong(box, stride):
        cells = [rounder(v / stride if divide else v) for v in box]
        if end_plus_one:
            cells[2] += 1
            cells[3] += 1
        return cells
    return wrong


_POOL_CELLS_MISTAKES = {
    "truncate": (_cells_wrong(int), "you truncated (int()) instead of rounding to the nearest cell"),
    "floor": (_cells_wrong(math.floor), "you took floor(); RoIPool rounds to the nearest cell"),
    "bankers": (_cells_wrong(round), "Python's round() sends halves to the even number (2.5 -> 2); "
                                     "torchvision uses C's round(), halves away from zero"),
    "floor_half": (_cells_wrong(lambda v: math.floor(v + 0.5)),
                   "floor(v + 0.5) is wrong for negative halves: C's round(-0.5) is -1"),
    "no_stride": (_cells_wrong(lambda v: int(math.copysign(math.floor(abs(v) + 0.5), v)), divide=False),
                  "you forgot to divide the image coordinates by the stride"),
    "end_exclusive": (_cells_wrong(lambda v: int(math.copysign(math.floor(abs(v) + 0.5), v)), end_plus_one=True),
                      "x2, y2 are the last cell read (included), not one past it"),
}


def _check_pool_cells(fn):
    return _check_with_diagnosis(fn, pool_cells_cases(), _POOL_CELLS_MISTAKES, "cells")


# -- 10.pool_bins: the rows each bin reads --------------------------------------------------------

def pool_bins_cases() -> list[Case]:
    """``pool_bins(y1, y2, stride, pooled)`` -> [[start, end), ...] rows of each of the pooled bins.
    Hand-worked: 0/16 -> 0, 96/16 -> 6: 7 cells, bin 3.5: [0, ceil 3.5 = 4), [floor 3.5 = 3, 7);
    20/16 -> 1, 90/16 = 5.6 -> 6: 6 cells, 4 bins of 1.5: [1,3), [2,4), [4,6), [5,7);
    40/16 = 2.5 -> 3 twice: 1 cell, 2 bins of 0.5: [3,4), [3,4);
    inverted 100/16 -> 6, 20/16 -> 1: size max(1 - 6 + 1, 1) = 1: [6,7), [6,7)."""
    rows = [("7 cells into 2 bins", (0.0, 96.0, 16, 2)),
            ("6 cells into 4 bins", (20.0, 90.0, 16, 4)),
            ("a zero-size box", (40.0, 40.0, 16, 2)),
            ("an inverted box", (100.0, 20.0, 16, 2))]
    return [Case(name, args, roi_pool_bins((0.0, args[0], 1.0, args[1]), (args[3], 1), 1.0 / args[2]).y.tolist())
            for name, args in rows]


def _solution_pool_bins():
    def pool_bins(y1, y2, stride, pooled):
        def c_round(v):
            return int(math.copysign(math.floor(abs(v) + 0.5), v))
        first, last = c_round(y1 / stride), c_round(y2 / stride)
        size = max(last - first + 1, 1)
        step = size / pooled
        return [[first + math.floor(p * step), first + math.ceil((p + 1) * step)] for p in range(pooled)]
    return pool_bins


def _bins_wrong(plus_one=True, end=math.ceil, rounder=None, clamp=True):
    def wrong(y1, y2, stride, pooled):
        r = rounder or (lambda v: int(math.copysign(math.floor(abs(v) + 0.5), v)))
        first, last = r(y1 / stride), r(y2 / stride)
        size = last - first + (1 if plus_one else 0)
        size = max(size, 1) if clamp else size
        step = size / pooled
        return [[first + math.floor(p * step), first + end((p + 1) * step)] for p in range(pooled)]
    return wrong


_POOL_BINS_MISTAKES = {
    "no_plus_one": (_bins_wrong(plus_one=False), "the RoI spans last - first + 1 cells: its end cell is included"),
    "floor_end": (_bins_wrong(end=math.floor), "a bin ends at ceil((p + 1) * size / pooled): neighbouring bins "
                                                "may share a row, none is left out"),
    "truncate": (_bins_wrong(rounder=int), "the box edges are rounded to the nearest cell (C's round), not truncated"),
    "no_clamp": (_bins_wrong(clamp=False), "an empty or inverted RoI is forced to be 1 cell: size = max(..., 1)"),
}


def _check_pool_bins(fn):
    return _check_with_diagnosis(fn, pool_bins_cases(), _POOL_BINS_MISTAKES, "bins")


# -- 10.align_samples: RoIAlign's sample rows in one bin ---------------------------------------------

def align_samples_cases() -> list[Case]:
    """``sample_ys(y1, y2, spatial_scale, pooled, sampling_ratio, aligned, p)`` -> the y coordinates
    (feature coordinates, row j's value at y = j) of the samples of bin row p.
    Hand-worked: 16/16 = 1, 80/16 = 5: bin 2; bin 1, 2 samples: 3 + 0.5, 3 + 1.5 -> 3.5, 4.5;
    aligned: start 0.5, bin 0: 0.5 + 0.5, 0.5 + 1.5 -> 1.0, 2.0;
    adaptive, aligned: start 0.5, roi 14, bin 7, grid ceil(7) = 7: bin 1 -> 8.0, 9.0, ..., 14.0;
    adaptive, legacy: start 0.5, roi 4.5, bin 2.25, grid ceil(2.25) = 3 (round and floor: 2),
    spacing 0.75: 0.875, 1.625, 2.375;
    zero-size legacy box at 2.5: roi forced to 1: 2.75, 3.25."""
    rows = [("two samples, aligned=False", (16.0, 80.0, 1 / 16, 2, 2, False, 1)),
            ("two samples, aligned=True", (16.0, 80.0, 1 / 16, 2, 2, True, 0)),
            ("adaptive grid, aligned=True", (8.0, 120.0, 1 / 8, 2, -1, True, 1)),
            ("adaptive grid, fractional bin", (8.0, 80.0, 1 / 16, 2, -1, False, 0)),
            ("zero-size box, aligned=False", (40.0, 40.0, 1 / 16, 1, 2, False, 0))]

    def expected(y1, y2, scale, pooled, sr, aligned, p):
        pts = roi_align_sample_points((0.0, y1, 1.0, y2), (pooled, 1), scale, sr, aligned)
        return pts[p, 0, :, 0, 1].tolist()
    return [Case(name, args, expected(*args)) for name, args in rows]


def _solution_align_samples():
    def sample_ys(y1, y2, spatial_scale, pooled, sampling_ratio, aligned, p):
        offset = 0.5 if aligned else 0.0
        start, end = y1 * spatial_scale - offset, y2 * spatial_scale - offset
        size = end - start if aligned else max(end - start, 1.0)
        step = size / pooled
        grid = sampling_ratio if sampling_ratio > 0 else math.ceil(size / pooled)
        return [start + p * step + (i + 0.5) * step / grid for i in range(grid)]
    return sample_ys


def _samples_wrong(offset_on=True, centre=0.5, clamp=True, scale_on=True, grid_rule=math.ceil):
    def wrong(y1, y2, spatial_scale, pooled, sampling_ratio, aligned, p):
        s = spatial_scale if scale_on else 1.0
        offset = 0.5 if (aligned and offset_on) else 0.0
        start, end = y1 * s - offset, y2 * s - offset
        size = end - start if (aligned or not clamp) else max(end - start, 1.0)
        step = size / pooled
        grid = sampling_ratio if sampling_ratio > 0 else max(int(grid_rule(size / pooled)), 1)
        return [start + p * step + (i + centre) * step / grid for i in range(grid)]
    return wrong


_GRID_TEXT = "the adaptive grid is ceil(roi_height / pooled) samples per bin, rounded up (not floor or round)"
_ALIGN_MISTAKES = {
    "no_offset": (_samples_wrong(offset_on=False), "with aligned=True the box is first shifted by -0.5 "
                                                   "(pixel centres vs pixel corners)"),
    "bin_starts": (_samples_wrong(centre=0.0), "samples sit at the centres of the sub-cells, (i + 0.5) * bin / grid, "
                                               "not at their starts"),
    "no_clamp": (_samples_wrong(clamp=False), "with aligned=False a RoI smaller than 1 feature pixel is "
                                              "enlarged to 1 (torchvision's legacy rule)"),
    "no_scale": (_samples_wrong(scale_on=False), "multiply the image coordinates by spatial_scale first"),
    # on any one case round() gives either floor's or ceil's grid: one explanation for both
    "grid_floor": (_samples_wrong(grid_rule=math.floor), _GRID_TEXT),
    "grid_round": (_samples_wrong(grid_rule=round), _GRID_TEXT),
}


def _check_align_samples(fn):
    return _check_with_diagnosis(fn, align_samples_cases(), _ALIGN_MISTAKES, "samples")


MISTAKES = {"10.pool_cells": _POOL_CELLS_MISTAKES, "10.pool_bins": _POOL_BINS_MISTAKES,
            "10.align_samples": _ALIGN_MISTAKES}

EXERCISES = {
    "10.pool_cells": Exercise("RoIPool's quantised box: the feature cells it snaps a box to", _check_pool_cells, _solution_pool_cells),
    "10.pool_bins": Exercise("the rows each RoIPool bin reads", _check_pool_bins, _solution_pool_bins),
    "10.align_samples": Exercise("where RoIAlign samples in one bin row", _check_align_samples, _solution_align_samples),
}
