"""FCIS: position-sensitive inside/outside score maps, assembled per RoI (lesson 09).

Li, Qi, Dai, Ji, Wei, *Fully Convolutional Instance-aware Semantic Segmentation*, arXiv:1611.07709;
the position-sensitive idea comes from InstanceFCN (arXiv:1603.08678) and R-FCN (arXiv:1605.06409).

Layout of the score maps
------------------------
An FCIS head outputs ``2 k^2 C`` score maps for ``C`` classes (background included, so the
paper's ``C + 1``). Channel ``((c * 2 + s) * k + i) * k + j`` holds the score of class ``c``,
part ``s`` (0 = inside, 1 = outside), for the cell ``(i, j)`` (row, column) of a ``k x k`` grid
laid over a RoI: "this pixel is inside (outside) an object of class c and lies in the (i, j)-th
part of it". This is torchvision's position-sensitive layout (output channel ``t = c*2 + s`` of bin
``(i, j)`` reads input channel ``t*k*k + i*k + j``) and ChainerCV's FCIS layout.

Assembling
----------
A RoI's ``M x M`` output cell ``(p, q)`` lies in the RoI's grid cell ``(p*k // M, q*k // M)`` and
reads the score map of that cell at its own position. With ``M = k`` this *is* ``ps_roi_pool`` /
``ps_roi_align``; with ``M > k`` it is FCIS's PSROIPooling with ``group_size = k`` and
``pooled_size = M`` (the paper's code: k = 7, M = 21). :func:`assemble_inside_outside` computes it
two ways, both checked in tests against a brute force written with plain indexing:

* ``op="align"``: :func:`~segcourse.ops.roi.roi_align` (``aligned=True``) of all ``2 k^2 C``
  channels at ``M x M``, then each output cell keeps the channel of its group (equal to
  ``ps_roi_align`` on the channel-expanded maps, which the tests check);
* ``op="pool"``: :func:`~segcourse.ops.roi.ps_roi_pool` on the maps with each group's channels
  repeated for the ``(M/k)^2`` output cells that read them (:func:`group_channels`); with integer
  boxes and ``M`` equal to the box size in cells every output cell is exactly one map cell, which
  is the paper's "copy the cell's part of the map" (tested against plain indexing).

Mask and score: per class, pixel-wise ``softmax(inside, outside)`` gives the mask probability;
``mean over the RoI of max(inside, outside)`` is the class's logit, and the detection scores are
the softmax of those logits over the classes (:func:`fcis_mask_and_score`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import as_tensor, check_choice, check_float, check_int
from .labels import boxes_from_masks
from .roi import _output_size, ps_roi_pool, roi_align

__all__ = ["ps_channel", "ps_cell", "group_channels", "assemble_inside_outside", "FCISScores",
           "fcis_mask_and_score", "gt_score_maps", "box_iou", "paste_masks", "fcis_frame"]

_OPS = ("align", "pool")


def ps_channel(cls: int, part: int, i: int, j: int, k: int) -> int:
    """The channel of class ``cls``, part ``part`` (0 inside, 1 outside), grid cell ``(i, j)`` in
    the ``2 k^2 C`` score maps: ``((cls * 2 + part) * k + i) * k + j``.
    Example: k = 3, class 1, outside, cell (0, 2): ((1*2 + 1)*3 + 0)*3 + 2 = 29."""
    k = check_int(k, "k", min_value=1)
    cls = check_int(cls, "cls", min_value=0)
    part = check_choice(part, "part", (0, 1))
    i = check_int(i, "i", min_value=0, max_value=k - 1)
    j = check_int(j, "j", min_value=0, max_value=k - 1)
    return ((cls * 2 + part) * k + i) * k + j


def ps_cell(y, x, h: int, w: int, k: int):
    """The ``k x k`` grid cell that pixel ``(y, x)`` of an ``h x w`` RoI reads: ``(y*k // h, x*k // w)``.

    y, x: ints (or integer tensors of one shape) with ``0 <= y < h``, ``0 <= x < w``, in the RoI's own
    pixels (row, column). Example: a 5 x 7 RoI, k = 3: pixel (4, 2) -> (4*3 // 5, 2*3 // 7) = (2, 0).
    """
    h = check_int(h, "h", min_value=1)
    w = check_int(w, "w", min_value=1)
    k = check_int(k, "k", min_value=1)
    if isinstance(y, torch.Tensor) or isinstance(x, torch.Tensor):
        yt = as_tensor(y, "y", kind="int", min_value=0, max_value=h - 1)
        xt = as_tensor(x, "x", kind="int", min_value=0, max_value=w - 1)
        return torch.div(yt * k, h, rounding_mode="floor"), torch.div(xt * k, w, rounding_mode="floor")
    y = check_int(y, "y", min_value=0, max_value=h - 1)
    x = check_int(x, "x", min_value=0, max_value=w - 1)
    return y * k // h, x * k // w


def group_channels(k: int, output_size, parts: int) -> torch.Tensor:
    """Input channel of every output channel of ``ps_roi_pool(maps[:, idx], rois, (M_h, M_w))``.

    For ``parts`` groups of ``k*k`` channels (``parts = 2C`` for FCIS) and output_size M or
    (M_h, M_w), returns the (parts*M_h*M_w,) int64 index ``idx`` with
    ``idx[t*M_h*M_w + p*M_w + q] = t*k*k + (p*k // M_h)*k + (q*k // M_w)``: output cell ``(p, q)`` of
    part ``t`` reads the map of the grid cell it lies in. ``M = k`` gives the identity.
    """
    k = check_int(k, "k", min_value=1)
    mh, mw = _pair(output_size, k)
    parts = check_int(parts, "parts", min_value=1)
    gy, gx = torch.arange(mh) * k // mh, torch.arange(mw) * k // mw
    cell = (gy[:, None] * k + gx[None, :]).reshape(-1)                  # (M_h*M_w,)
    return (torch.arange(parts)[:, None] * (k * k) + cell[None, :]).reshape(-1)


def _rois(boxes, n: int, dtype) -> torch.Tensor:
    """``boxes`` as (R, 5) [batch_index, x1, y1, x2, y2] (the forms the RoI ops accept)."""
    if isinstance(boxes, (list, tuple)):
        parts = [as_tensor(b, f"boxes[{i}]", shape=("K", 4)).to(dtype) for i, b in enumerate(boxes)]
        if len(parts) > n:
            raise ValueError(f"boxes: got {len(parts)} per-image box tensors for a batch of N={n} images")
        if not parts:
            return torch.zeros(0, 5, dtype=dtype)
        ids = torch.cat([torch.full((len(p), 1), float(i), dtype=dtype) for i, p in enumerate(parts)])
        return torch.cat([ids, torch.cat(parts)], 1)
    return as_tensor(boxes, "boxes", shape=("K", 5)).to(dtype)


def _check_maps(score_maps, k: int, num_classes: int) -> torch.Tensor:
    maps = as_tensor(score_maps, "score_maps", ndim=4, kind="float")
    want = 2 * k * k * num_classes
    if maps.shape[1] != want:
        raise ValueError(f"score_maps: expected shape (N, 2*k*k*num_classes, H, W) = (N, {want}, H, W) for "
                         f"k={k}, num_classes={num_classes}, got {tuple(maps.shape)}")
    return maps


def _pair(output_size, default: int) -> tuple[int, int]:
    """``output_size`` as (M_h, M_w); ``None`` means ``default`` x ``default``."""
    return (default, default) if output_size is None else _output_size(output_size)


def assemble_inside_outside(score_maps, boxes, k: int, num_classes: int, output_size=None, *,
                            spatial_scale: float = 1.0, sampling_ratio: int = 2, op: str = "align"):
    """Assemble every RoI's inside and outside maps from position-sensitive score maps.

    score_maps: (N, 2*k*k*C, H, W) float in the layout of :func:`ps_channel`. boxes: the RoIs,
    (R, 5) ``[batch_index, x1, y1, x2, y2]`` or a list of (R_i, 4) per image, in image pixels
    (``spatial_scale`` maps them to the score maps, e.g. 1/8). output_size: M or (M_h, M_w)
    (default k). op: ``"align"`` (RoIAlign sampling, ``aligned=True``, ``sampling_ratio`` samples
    per bin and axis; differentiable, what the course model trains with) or ``"pool"``
    (``ps_roi_pool``'s quantised average bins). Returns ``(inside, outside)``, each (R, C, M_h, M_w):
    output cell ``(p, q)`` of class ``c`` reads channel ``ps_channel(c, part, p*k // M_h, q*k // M_w, k)``.
    """
    k = check_int(k, "k", min_value=1)
    num_classes = check_int(num_classes, "num_classes", min_value=1)
    maps = _check_maps(score_maps, k, num_classes)
    mh, mw = _pair(output_size, k)
    check_choice(op, "op", _OPS)
    parts = 2 * num_classes
    if op == "pool":
        same = mh == k and mw == k
        out = ps_roi_pool(maps if same else maps.index_select(1, group_channels(k, (mh, mw), parts)),
                          boxes, (mh, mw), spatial_scale)
    elif mh % k or mw % k:
        # unequal groups: RoIAlign of every channel at M x M, then each cell keeps its group's channel
        pooled = roi_align(maps, boxes, (mh, mw), spatial_scale, sampling_ratio, aligned=True)
        r = pooled.shape[0]
        gy, gx = torch.arange(mh) * k // mh, torch.arange(mw) * k // mw
        pooled = pooled.reshape(r, parts, k, k, mh, mw)
        out = pooled[:, :, gy[:, None], gx[None, :], torch.arange(mh)[:, None], torch.arange(mw)[None, :]]
    else:
        # equal groups of M/k x M/k cells: group (i, j) is RoIAlign of its own 2C maps over its part
        # of the RoI (same bins, same samples), k^2 times less work than pooling every channel
        n, _, h, w = maps.shape
        rois = _rois(boxes, n, maps.dtype)
        r, qh, qw = rois.shape[0], mh // k, mw // k
        grouped = maps.reshape(n, parts, k * k, h, w).transpose(1, 2).reshape(n * k * k, parts, h, w)
        t = torch.arange(k, dtype=maps.dtype) / k
        x1, y1, x2, y2 = rois[:, 1:2], rois[:, 2:3], rois[:, 3:4], rois[:, 4:5]
        ys, xs = y1 + t * (y2 - y1), x1 + t * (x2 - x1)                 # (R, k): where each group starts
        hh, ww = (y2 - y1) / k, (x2 - x1) / k                            # (R, 1): a group's size
        sub = torch.stack([
            rois[:, 0:1, None] * (k * k) + torch.arange(k * k, dtype=maps.dtype).reshape(1, k, k),
            xs[:, None, :].expand(r, k, k), ys[:, :, None].expand(r, k, k),
            (xs + ww)[:, None, :].expand(r, k, k), (ys + hh)[:, :, None].expand(r, k, k)], dim=-1)
        pooled = roi_align(grouped, sub.reshape(-1, 5), (qh, qw), spatial_scale, sampling_ratio, aligned=True)
        out = pooled.reshape(r, k, k, parts, qh, qw).permute(0, 3, 1, 4, 2, 5).reshape(r, parts, mh, mw)
    out = out.reshape(out.shape[0], num_classes, 2, mh, mw)
    return out[:, :, 0], out[:, :, 1]


class FCISScores(NamedTuple):
    """What FCIS makes of a RoI's inside/outside maps (R RoIs, C classes, M x M cells)."""
    mask: torch.Tensor     # (R, C, M, M): P(inside) = softmax over (inside, outside), per pixel and class
    logits: torch.Tensor   # (R, C): mean over the M x M cells of max(inside, outside)
    probs: torch.Tensor    # (R, C): softmax of the logits over the classes (the detection scores)


def fcis_mask_and_score(inside, outside) -> FCISScores:
    """FCIS's two readings of the same maps (R, C, M, M): the per-pixel mask probability
    ``softmax(inside, outside)[inside] = sigmoid(inside - outside)`` and the detection score
    ``softmax_c(mean_pixels max(inside, outside))``. Returns :class:`FCISScores`."""
    i = as_tensor(inside, "inside", ndim=4, kind="float")
    o = as_tensor(outside, "outside", kind="float")
    if o.shape != i.shape:
        raise ValueError(f"outside: expected the shape of inside {tuple(i.shape)}, got {tuple(o.shape)}")
    mask = torch.softmax(torch.stack([i, o]), dim=0)[0]
    logits = torch.maximum(i, o).mean(dim=(2, 3))
    return FCISScores(mask, logits, torch.softmax(logits, dim=1))


def gt_score_maps(instance, classes, k: int, num_classes: int, strength: float = 4.0) -> torch.Tensor:
    """The score maps a perfect FCIS would output, derived from ground truth (no network).

    instance: (H, W) int, 0 = none, 1..n the instances; classes: (n,) class ids in [1, C). For every
    instance (tight box from its mask) and every pixel of its box, in grid cell ``(i, j)`` of that box
    (:func:`ps_cell`): ``inside[class, i, j] = strength`` if the pixel belongs to the instance,
    ``outside[class, i, j] = strength`` if not; everything else (and the background class) 0.
    Where boxes of one class overlap, the maximum wins. Returns (2*k*k*C, H, W) float32.
    """
    inst = as_tensor(instance, "instance", ndim=2, kind="int", min_value=0).long()
    cls = as_tensor(classes, "classes", ndim=1, kind="int").long()
    k = check_int(k, "k", min_value=1)
    c_all = check_int(num_classes, "num_classes", min_value=2)
    strength = check_float(strength, "strength", min_value=0.0)
    n = cls.numel()
    if inst.numel() and int(inst.max()) > n:
        raise ValueError(f"instance: has id {int(inst.max())} but classes has only {n} entries")
    if n and (int(cls.min()) < 1 or int(cls.max()) >= c_all):
        raise ValueError(f"classes: expected ids in [1, {c_all}), got {cls.tolist()}")
    h, w = inst.shape
    out = torch.zeros(2 * k * k * c_all, h, w)
    masks = inst[None] == torch.arange(1, n + 1)[:, None, None]
    boxes = boxes_from_masks(masks.numpy()) if n else np.zeros((0, 4), np.int64)
    for t in range(n):
        x1, y1, x2, y2 = (int(v) for v in boxes[t])
        if x2 <= x1 or y2 <= y1:
            continue
        gi, gj = ps_cell(torch.arange(y2 - y1)[:, None], torch.arange(x2 - x1)[None, :], y2 - y1, x2 - x1, k)
        cell = gi * k + gj                                           # (bh, bw)
        inside = masks[t, y1:y2, x1:x2]
        part = (~inside).long()                                      # 0 inside, 1 outside
        ch = (int(cls[t]) * 2 + part) * k * k + cell
        yy, xx = torch.meshgrid(torch.arange(y1, y2), torch.arange(x1, x2), indexing="ij")
        out[ch.reshape(-1), yy.reshape(-1), xx.reshape(-1)] = strength
    return out


def box_iou(a, b) -> torch.Tensor:
    """IoU of every box of ``a`` (A, 4) with every box of ``b`` (B, 4), ``[x1, y1, x2, y2]``:
    (A, B) float (torchvision.ops.box_iou's formula; an empty union gives 0)."""
    a = as_tensor(a, "a", shape=("A", 4)).double()
    b = as_tensor(b, "b", shape=("B", 4)).double()
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def paste_masks(masks, boxes, image_size) -> torch.Tensor:
    """Put (R, M, M) RoI mask probabilities back into the image: (R, H, W).

    boxes: (R, 4) ``[x1, y1, x2, y2]`` image pixels (pixel ``x`` covers ``[x, x+1)``). An image
    pixel whose centre lies in the box reads the RoI mask bilinearly at the same place the RoI's
    cells were sampled (cell ``q`` centred at ``x1 + (q + 0.5) * w / M``; edges clamp); pixels
    outside the box get 0. image_size: (H, W).
    """
    m = as_tensor(masks, "masks", ndim=3, kind="float")
    b = as_tensor(boxes, "boxes", shape=(m.shape[0], 4)).to(m.dtype)
    if len(image_size) != 2:
        raise ValueError(f"image_size: expected (H, W), got {image_size!r}")
    h = check_int(image_size[0], "image_size[0]", min_value=1)
    w = check_int(image_size[1], "image_size[1]", min_value=1)
    r = m.shape[0]
    if r == 0:
        return m.new_zeros(0, h, w)
    xs = torch.arange(w, dtype=m.dtype) + 0.5
    ys = torch.arange(h, dtype=m.dtype) + 0.5
    bw = (b[:, 2] - b[:, 0]).clamp(min=1e-6)
    bh = (b[:, 3] - b[:, 1]).clamp(min=1e-6)
    gx = 2 * (xs[None, :] - b[:, 0, None]) / bw[:, None] - 1              # (R, W)
    gy = 2 * (ys[None, :] - b[:, 1, None]) / bh[:, None] - 1              # (R, H)
    grid = torch.stack([gx[:, None, :].expand(r, h, w), gy[:, :, None].expand(r, h, w)], dim=-1)
    out = F.grid_sample(m[:, None], grid, mode="bilinear", padding_mode="border", align_corners=False)[:, 0]
    inside = ((gy >= -1) & (gy < 1))[:, :, None] & ((gx >= -1) & (gx < 1))[:, None, :]
    return out * inside.to(out.dtype)


def _crop_to_box(maps: torch.Tensor, box: torch.Tensor, scale: float):
    """The part of (C, H, W) maps that RoIAlign (aligned=True) reads for ``box``, and the box in the
    crop's image coordinates: the same output, without touching the rest of the map. The crop keeps
    every sample's two neighbouring rows and columns (and the map's real borders, where RoIAlign
    clamps), so the bilinear weights are unchanged."""
    h, w = maps.shape[-2:]
    x1, y1, x2, y2 = (float(v) * scale - 0.5 for v in box)
    r0 = min(max(int(np.floor(min(y1, y2))), 0), h - 1)
    c0 = min(max(int(np.floor(min(x1, x2))), 0), w - 1)
    r1 = min(max(int(np.floor(max(y1, y2))) + 2, r0 + 1), h)
    c1 = min(max(int(np.floor(max(x1, x2))) + 2, c0 + 1), w)
    shift = box.new_tensor([c0, r0, c0, r0]) / scale
    return maps[:, r0:r1, c0:c1], box - shift


def fcis_frame(score_maps, box, k: int, cls: int, *, spatial_scale: float = 1.0, size: int = 60,
               tile: int | None = None) -> dict:
    """One frame of the lesson-09 widget: how one RoI assembles class ``cls``'s maps.

    score_maps: (2*k*k*C, H, W) float (one image, any C > cls). box: (4,) the RoI in image pixels.
    size: the M of the assembled maps shown; tile: side of each of the k x k tiles (default
    ``max(24, 96 // k)``). Only class ``cls``'s 2k^2 maps, and only the part the RoI reads, are
    touched, so a frame costs milliseconds. Returns a dict: ``box`` (4,), ``k``, ``cls``;
    ``tiles_inside`` / ``tiles_outside`` (k, k, tile, tile): each grid cell's map resampled over the
    whole RoI; ``reads`` (k, k, tile, tile) bool: the part of each tile the RoI reads (its own
    cell); ``inside``, ``outside``, ``mask`` (size, size); ``cells`` (size, size) int: the grid cell
    ``i*k + j`` each assembled cell reads.
    """
    k = check_int(k, "k", min_value=1)
    if isinstance(score_maps, np.ndarray):
        score_maps = torch.from_numpy(score_maps)
    if not isinstance(score_maps, torch.Tensor) or score_maps.ndim != 3 or not score_maps.is_floating_point() \
            or score_maps.shape[0] % (2 * k * k):
        raise TypeError(f"score_maps: expected a float tensor of shape (2*k*k*C, H, W) with k={k}, got "
                        f"{getattr(score_maps, 'shape', type(score_maps).__name__)}")
    num_classes = score_maps.shape[0] // (2 * k * k)
    cls = check_int(cls, "cls", min_value=0, max_value=num_classes - 1)
    b = as_tensor(box, "box", shape=(4,)).to(score_maps.dtype)
    size = check_int(size, "size", min_value=1)
    tile = max(24, 96 // k) if tile is None else check_int(tile, "tile", min_value=1)
    scale = check_float(spatial_scale, "spatial_scale", min_value=1e-12)
    own = score_maps[cls * 2 * k * k:(cls + 1) * 2 * k * k]       # class cls's 2k^2 maps: one "class"
    own, local = _crop_to_box(own, b, scale)
    own = as_tensor(own, "score_maps", kind="float")[None]
    roi = torch.cat([local.new_zeros(1), local])[None]
    inside, outside = assemble_inside_outside(own, roi, k, 1, size, spatial_scale=scale)
    mask = fcis_mask_and_score(inside, outside).mask
    tiles = roi_align(own, roi, tile, scale, 2, aligned=True)[0].reshape(2, k, k, tile, tile)
    g = torch.arange(tile) * k // tile
    reads = (g[None, None, :, None] == torch.arange(k)[:, None, None, None]) & \
            (g[None, None, None, :] == torch.arange(k)[None, :, None, None])
    gm = torch.arange(size) * k // size
    return {"box": b.detach(), "k": k, "cls": cls,
            "tiles_inside": tiles[0].detach(), "tiles_outside": tiles[1].detach(), "reads": reads,
            "inside": inside[0, 0].detach(), "outside": outside[0, 0].detach(), "mask": mask[0, 0].detach(),
            "cells": gm[:, None] * k + gm[None, :]}
