"""Lesson 09's exercises: FCIS's position-sensitive inside/outside maps.

* 09.which_cell      -- which of the k x k score maps pixel (y, x) of an h x w RoI reads.
* 09.assemble        -- assemble a RoI's map from its k x k position-sensitive maps (copying, not
                        averaging).
* 09.mask_and_score  -- FCIS's two readings of the inside/outside maps: the mask and the scores.

Expected values come from :mod:`segcourse.ops.fcis` (checked in tests/test_fcis.py against a
brute force and torchvision's position-sensitive ops) and agree with the hand-worked values
written next to each case. A wrong answer is compared with the typical mistakes below; the
feedback names the mistake, never the expected value.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..ops.fcis import assemble_inside_outside, fcis_mask_and_score, ps_cell
from .checking import Case, Exercise, check_with_mistakes, compare, numbers_match

__all__ = ["EXERCISES", "MISTAKES", "which_cell_cases", "assemble_cases", "mask_and_score_cases"]


# -- 09.which_cell ----------------------------------------------------------------------------------

def which_cell_cases() -> list[Case]:
    """``which_cell(y, x, h, w, k)`` -> (i, j). Hand-worked: (i, j) = (y*k // h, x*k // w).
    6 x 6, k = 3: (2, 3) -> (6 // 6, 9 // 6) = (1, 1); (5, 0) -> (15 // 6, 0) = (2, 0).
    5 x 7, k = 3: (4, 2) -> (12 // 5, 6 // 7) = (2, 0); (1, 6) -> (3 // 5, 18 // 7) = (0, 2).
    7 x 7, k = 2: (3, 4) -> (6 // 7, 8 // 7) = (0, 1).
    4 x 10, k = 3: (3, 3) -> (9 // 4, 9 // 10) = (2, 0).
    3 x 3, k = 1: (2, 1) -> (0, 0)."""
    rows = [("6x6 RoI, k=3, an inner pixel", (2, 3, 6, 6, 3)),
            ("6x6 RoI, k=3, bottom-left corner", (5, 0, 6, 6, 3)),
            ("5x7 RoI, k=3 (cells of unequal size)", (4, 2, 5, 7, 3)),
            ("5x7 RoI, k=3, right edge", (1, 6, 5, 7, 3)),
            ("7x7 RoI, k=2 (odd side)", (3, 4, 7, 7, 2)),
            ("4x10 RoI, k=3 (a flat RoI)", (3, 3, 4, 10, 3)),
            ("k=1: one cell", (2, 1, 3, 3, 1))]
    return [Case(f"{name}: which_cell{args}", args, list(ps_cell(*args))) for name, args in rows]


def _solution_which_cell():
    def which_cell(y, x, h, w, k):
        # the RoI's rows are cut into k bands of h/k rows each; pixel row y lies in band floor(y / (h/k))
        return (y * k // h, x * k // w)
    return which_cell


_WHICH_CELL_MISTAKES = {
    "swapped": (lambda y, x, h, w, k: (x * k // w, y * k // h),
                "you returned (column, row): the first index is the row band i (from y and h)"),
    "int_cell": (lambda y, x, h, w, k: (y // max(h // k, 1), x // max(w // k, 1)),
                 "y // (h // k) rounds the band height down before dividing; when h is not a multiple of k "
                 "the bands come out wrong (and the index can reach k). Keep the band height h / k exact and "
                 "round only at the end"),
    "round": (lambda y, x, h, w, k: (round(y * k / h), round(x * k / w)),
              "you rounded to the nearest band: a pixel a little past the middle of band 0 is still in band "
              "0, not in band 1"),
    "ceil": (lambda y, x, h, w, k: (math.ceil(y * k / h), math.ceil(x * k / w)),
             "you rounded up: only the pixels at or past a band's first row belong to it; rows before "
             "that still lie in the band above"),
    "plus_one": (lambda y, x, h, w, k: ((y + 1) * k // h, (x + 1) * k // w),
                 "pixels are counted from 0: use y, not y + 1"),
    "float": (lambda y, x, h, w, k: (y * k / h, x * k / w), "the cell index is a whole number: floor it (// )"),
}


def _compare_cell(got, expected, atol):
    try:
        g = np.asarray(got.tolist() if isinstance(got, torch.Tensor) else got, dtype=float)
    except (TypeError, ValueError):
        g = None
    if g is None or g.shape != (2,):
        return f"expected a pair (i, j), got {repr(got)[:60]}"
    if numbers_match(g, expected, atol):
        return None
    shown = tuple(int(v) if float(v).is_integer() else v for v in g.tolist())
    return f"the cell {shown} is not the one this pixel reads"


def _check_which_cell(fn):
    return check_with_mistakes(fn, which_cell_cases(), _WHICH_CELL_MISTAKES, compare=_compare_cell)


# -- 09.assemble ------------------------------------------------------------------------------------

def _maps_case(k, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (k, k, h, w), generator=g).double().numpy()


def _library_assemble(maps):
    """The expected answer from :func:`assemble_inside_outside` (op="pool", an integer box and one
    output cell per pixel: every cell copies one pixel). The maps are padded by one row and column
    because torchvision's ps_roi_pool never reads a map's last row and column."""
    m = torch.as_tensor(np.asarray(maps, dtype=float))
    k, _, h, w = m.shape
    score = torch.zeros(1, 2 * k * k, h + 1, w + 1, dtype=torch.float64)
    score[0, :k * k, :h, :w] = m.reshape(k * k, h, w)                  # class 0, inside; outside = 0
    inside, _ = assemble_inside_outside(score, [torch.tensor([[0.0, 0.0, w, h]], dtype=torch.float64)],
                                        k, 1, (h, w), op="pool")
    return inside[0, 0].numpy()


def assemble_cases() -> list[Case]:
    """``assemble(maps)``: maps (k, k, h, w), map (i, j) over the RoI's h x w pixels -> (h, w).
    Hand-worked for the first case (k = 2, 4 x 4, map (i, j) filled with the digit 10*i + j): the
    top-left 2 x 2 pixels read map (0, 0) -> 0, top-right map (0, 1) -> 1, bottom-left 10,
    bottom-right 11."""
    hand = np.zeros((2, 2, 4, 4))
    for i in range(2):
        for j in range(2):
            hand[i, j] = 10 * i + j
    rows = [("2x2 maps, a 4x4 RoI, constant maps", hand),
            ("2x2 maps, a 4x4 RoI", _maps_case(2, 4, 4, 1)),
            ("2x2 maps, a 5x3 RoI (odd sides)", _maps_case(2, 5, 3, 2)),
            ("3x3 maps, a 7x8 RoI", _maps_case(3, 7, 8, 3)),
            ("1x1 map", _maps_case(1, 3, 4, 4))]
    return [Case(name, (maps,), _library_assemble(maps)) for name, maps in rows]


def _solution_assemble():
    def assemble(maps):
        maps = np.asarray(maps)
        k, _, h, w = maps.shape
        out = np.empty((h, w), dtype=maps.dtype)
        for y in range(h):
            for x in range(w):
                i, j = y * k // h, x * k // w        # the grid cell this pixel lies in
                out[y, x] = maps[i, j, y, x]         # ...reads that cell's map, at its own position
        return out
    return assemble


def _wrong_assemble(cell, read="copy"):
    def wrong(maps):
        maps = np.asarray(maps, dtype=float)
        k, _, h, w = maps.shape
        out = np.empty((h, w))
        for y in range(h):
            for x in range(w):
                i, j = cell(y, x, h, w, k)
                if read == "copy":
                    out[y, x] = maps[i, j, y, x]
                elif read == "first":
                    out[y, x] = maps[0, 0, y, x]
                else:                                   # R-FCN: the mean of the cell's part of its map
                    ys = [yy for yy in range(h) if yy * k // h == i]
                    xs = [xx for xx in range(w) if xx * k // w == j]
                    out[y, x] = maps[i, j][np.ix_(ys, xs)].mean()
        return out
    return wrong


def _cell(y, x, h, w, k):
    return y * k // h, x * k // w


_ASSEMBLE_MISTAKES = {
    "transposed": (_wrong_assemble(lambda y, x, h, w, k: (x * k // w, y * k // h)),
                   "you read map (j, i) instead of map (i, j): i is the row band, j the column band"),
    "int_cell": (_wrong_assemble(lambda y, x, h, w, k: (min(y // max(h // k, 1), k - 1), min(x // max(w // k, 1), k - 1))),
                 "y // (h // k) gives wrong bands when h is not a multiple of k: use y * k // h"),
    "average": (_wrong_assemble(_cell, read="mean"),
                "you averaged each cell (R-FCN's position-sensitive RoI pooling, one number per cell); "
                "FCIS's assembling copies every pixel from its cell's map"),
    "one_map": (_wrong_assemble(_cell, read="first"), "every pixel read map (0, 0): each cell reads its own map"),
    "sum": (lambda maps: np.asarray(maps, dtype=float).sum((0, 1)),
            "you added all k x k maps: each pixel reads only the map of the cell it lies in"),
}


def _check_assemble(fn):
    return check_with_mistakes(fn, assemble_cases(), _ASSEMBLE_MISTAKES)


# -- 09.mask_and_score ------------------------------------------------------------------------------

def _io_case(c, h, w, seed, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return ((torch.randn(c, h, w, generator=g, dtype=torch.float64) * scale).numpy(),
            (torch.randn(c, h, w, generator=g, dtype=torch.float64) * scale).numpy())


def _library_mask_and_score(inside, outside):
    s = fcis_mask_and_score(torch.as_tensor(inside)[None], torch.as_tensor(outside)[None])
    return (s.mask[0].numpy(), s.probs[0].numpy())


def mask_and_score_cases() -> list[Case]:
    """``mask_and_score(inside, outside)``: (C, h, w) each -> (mask (C, h, w), scores (C,)).
    Hand-worked for the first case (C = 2, 1 x 2 pixels): class 0 inside (0, 0), outside (0, 0)
    -> mask (0.5, 0.5), max = 0, mean 0; class 1 inside (2, 0), outside (0, 2) -> mask
    (sigmoid 2, sigmoid -2) = (0.881, 0.119), max = (2, 2), mean 2; scores = softmax(0, 2) =
    (0.119, 0.881)."""
    hand = (np.array([[[0.0, 0.0]], [[2.0, 0.0]]]), np.array([[[0.0, 0.0]], [[0.0, 2.0]]]))
    rows = [("2 classes, 1x2 pixels", hand),
            ("3 classes, 4x4 pixels", _io_case(3, 4, 4, 5)),
            ("6 classes, 5x7 pixels", _io_case(6, 5, 7, 6)),
            ("large scores", _io_case(2, 3, 3, 7, scale=30.0))]
    return [Case(name, args, _library_mask_and_score(*args)) for name, args in rows]


def _solution_mask_and_score():
    def mask_and_score(inside, outside):
        inside, outside = np.asarray(inside, dtype=float), np.asarray(outside, dtype=float)
        mask = 1 / (1 + np.exp(outside - inside))            # softmax over (inside, outside), inside's share
        logits = np.maximum(inside, outside).mean(axis=(1, 2))
        e = np.exp(logits - logits.max())                    # softmax over the classes
        return mask, e / e.sum()
    return mask_and_score


def _softmax(v):
    v = np.asarray(v, dtype=float)
    e = np.exp(v - v.max())
    return e / e.sum()


def _sig(v):
    return 1 / (1 + np.exp(-np.asarray(v, dtype=float)))


_MASK_SCORE_MISTAKES = {
    "sigmoid_inside": (lambda i, o: (_sig(i), _softmax(np.maximum(i, o).mean((1, 2)))),
                       "the mask is softmax over the pair (inside, outside), i.e. sigmoid(inside - outside), "
                       "not sigmoid(inside)"),
    "mean_inside": (lambda i, o: (_sig(np.asarray(i) - o), _softmax(np.asarray(i).mean((1, 2)))),
                    "the class score averages max(inside, outside), not inside: an object's outside pixels "
                    "count as evidence for its class too"),
    "no_softmax": (lambda i, o: (_sig(np.asarray(i) - o), np.maximum(i, o).mean((1, 2))),
                   "the detection scores are the softmax over the classes of the averaged max"),
    "max_of_means": (lambda i, o: (_sig(np.asarray(i) - o),
                                   _softmax(np.maximum(np.asarray(i).mean((1, 2)), np.asarray(o).mean((1, 2))))),
                     "take max(inside, outside) per pixel first, then the mean over the RoI"),
    "swapped": (lambda i, o: (_sig(np.asarray(o) - i), _softmax(np.maximum(i, o).mean((1, 2)))),
                "your mask is P(outside): the mask is the inside share of softmax(inside, outside)"),
}


def _compare_pair(got, expected, atol):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a pair (mask, scores), got {repr(got)[:60]}"
    for part, g, e in (("mask", got[0], expected[0]), ("scores", got[1], expected[1])):
        why = compare(g, e, atol=atol)
        if why is not None:
            return f"{part}: {why}"
    return None


def _check_mask_and_score(fn):
    return check_with_mistakes(fn, mask_and_score_cases(), _MASK_SCORE_MISTAKES, compare=_compare_pair)


MISTAKES = {"09.which_cell": _WHICH_CELL_MISTAKES, "09.assemble": _ASSEMBLE_MISTAKES,
            "09.mask_and_score": _MASK_SCORE_MISTAKES}

EXERCISES = {
    "09.which_cell": Exercise("which of the k x k score maps pixel (y, x) of a RoI reads", _check_which_cell,
                              _solution_which_cell),
    "09.assemble": Exercise("assemble a RoI's map from its k x k position-sensitive maps", _check_assemble,
                            _solution_assemble),
    "09.mask_and_score": Exercise("FCIS's mask and detection scores from inside/outside maps",
                                  _check_mask_and_score, _solution_mask_and_score),
}
