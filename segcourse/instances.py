"""From a semantic prediction to instance predictions: connected components per class.

This is the naive way to get instances from a semantic segmentation network, and lesson 00 uses
it to show why semantic segmentation is not instance segmentation: touching objects of the same
class merge into one component.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_array, check_int

__all__ = ["semantic_to_instances"]


def semantic_to_instances(labels, probs=None, *, min_area: int = 1, background: int = 0) -> dict:
    """Split each class of a label map into 4-connected components.

    labels: (H, W) int class ids; probs: optional (C, H, W) class probabilities, used to score
    each component by the mean probability of its class over its pixels (else score 1.0).
    Returns ``{"masks": (M, H, W) bool, "classes": (M,) int64, "scores": (M,) float32}``,
    components ordered by class then by first pixel in raster order; components smaller than
    ``min_area`` pixels are dropped.
    """
    from scipy import ndimage

    lab = as_array(labels, "labels", ndim=2, kind="int", min_value=0)
    min_area = check_int(min_area, "min_area", min_value=1)
    if probs is not None:
        p = as_array(probs, "probs", ndim=3, kind="float", min_value=0.0, max_value=1.0)
        if p.shape[1:] != lab.shape or p.shape[0] <= lab.max(initial=0):
            raise ValueError(f"probs: expected shape (C, H, W) = (>{lab.max()}, {lab.shape[0]}, "
                             f"{lab.shape[1]}), got {p.shape}")
    masks, classes, scores = [], [], []
    for c in np.unique(lab):
        if c == background:
            continue
        comp, n = ndimage.label(lab == c)
        for k in range(1, n + 1):
            m = comp == k
            if m.sum() < min_area:
                continue
            masks.append(m)
            classes.append(int(c))
            scores.append(float(p[c][m].mean()) if probs is not None else 1.0)
    h, w = lab.shape
    return {"masks": np.array(masks, bool).reshape(-1, h, w),
            "classes": np.array(classes, np.int64),
            "scores": np.array(scores, np.float32)}
