"""Lesson 04's exercises: skip fusion, boundary pixels."""
from __future__ import annotations

import numpy as np
import torch

from ..models.fcn import fuse_scores
from .checking import Exercise, Case, check_function, check_with_mistakes

__all__ = ["fuse_cases", "boundary_cases"]


def fuse_cases() -> list:
    """Cases for ``fuse(upsampled, skip)``: centre-crop the first to the second's size, then add."""
    g = torch.Generator().manual_seed(4)
    shapes = [((1, 2, 8, 8), (1, 2, 8, 8)), ((1, 2, 10, 10), (1, 2, 8, 8)), ((2, 3, 9, 12), (2, 3, 6, 8)),
              ((1, 1, 34, 34), (1, 1, 16, 16))]
    cases = []
    for a, b in shapes:
        up, skip = torch.randn(*a, generator=g), torch.randn(*b, generator=g)
        cases.append(Case(f"{a[2]}x{a[3]} onto {b[2]}x{b[3]}", (up.clone(), skip.clone()),
                          fuse_scores(up, skip).numpy()))
    return cases


def _wrong_fuse(offset):
    def wrong(upsampled, skip):
        h, w = skip.shape[-2:]
        top, left = offset(upsampled.shape[-2] - h), offset(upsampled.shape[-1] - w)
        return upsampled[..., top:top + h, left:left + w] + skip
    return wrong


_FUSE_MISTAKES = {
    "corner": (_wrong_fuse(lambda extra: 0),
               "you cropped from the top-left corner: the extra border of the upsampled map is on all "
               "four sides, so take the centre (as many rows cut at the top as at the bottom, give or take one)"),
    "far_corner": (_wrong_fuse(lambda extra: extra),
                   "you cropped from the bottom-right corner: the extra border is on all four sides, so take the centre"),
    "round_up": (_wrong_fuse(lambda extra: (extra + 1) // 2),
                 "when the extra rows or columns are odd, the odd one goes at the end: the offset is the "
                 "extra divided by two, rounded down (FCN's crop layer, and sc.fuse_scores)"),
}


def _check_fuse(fn):
    return check_with_mistakes(fn, fuse_cases(), _FUSE_MISTAKES, atol=1e-6)


def boundary_cases() -> list:
    """Cases for ``boundary_pixels(mask)``: pixels with a 4-neighbour of another class."""
    from ..metrics import boundary_band
    a = np.zeros((6, 6), np.int64)
    a[2:4, 2:4] = 1
    b = np.zeros((5, 7), np.int64)
    b[:, 4:] = 2
    c = np.zeros((4, 4), np.int64)
    d = np.array([[0, 1, 1, 0], [3, 3, 1, 0], [3, 3, 3, 3]])
    e = np.zeros((7, 7), np.int64)
    e[3, 3] = 5
    e[0, :] = 1
    return [Case(name, (m.copy(),), boundary_band(torch.from_numpy(m), 0).numpy())
            for name, m in [("square in the middle", a), ("vertical edge", b), ("one class only", c),
                            ("three classes", d), ("single pixel and top row", e)]]


def _check_boundary(fn):
    return check_function(fn, boundary_cases())


def _solution_fuse():
    def fuse(upsampled, skip):
        h, w = skip.shape[-2:]
        top, left = (upsampled.shape[-2] - h) // 2, (upsampled.shape[-1] - w) // 2
        return upsampled[..., top:top + h, left:left + w] + skip
    return fuse


def _solution_boundary():
    def boundary_pixels(mask):
        mask = np.asarray(mask)
        edge = np.zeros(mask.shape, bool)
        dy = mask[1:, :] != mask[:-1, :]  # a vertical pair that differs marks both of its pixels
        dx = mask[:, 1:] != mask[:, :-1]
        edge[1:, :] |= dy
        edge[:-1, :] |= dy
        edge[:, 1:] |= dx
        edge[:, :-1] |= dx
        return edge
    return boundary_pixels


#: This lesson's exercises: key -> Exercise(title, checker, solution).
EXERCISES = {
    "04.fuse": Exercise("crop-and-add fusion of a skip layer", _check_fuse, _solution_fuse),
    "04.boundary_pixels": Exercise("the pixels on a class boundary", _check_boundary, _solution_boundary),
}
