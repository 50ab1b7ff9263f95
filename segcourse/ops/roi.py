"""RoIPool and RoIAlign from scratch (lesson 10: 回顾一下ROI pooling, RoIAlign 双线性插值).

Four pooling operators with torchvision.ops' signatures, a ``MultiScaleRoIAlign`` module that can
replace torchvision's inside its Mask R-CNN, and the pure geometry a lesson and a widget need.
Everything is vectorised torch (no Python loop over boxes or bins) and differentiable with
respect to ``input`` (boxes get no gradient, as in torchvision).

Coordinates
-----------
``boxes`` are ``(x1, y1, x2, y2)`` in *image* pixels; ``spatial_scale`` (e.g. 1/16) maps them to
the feature map. Inside the ops a "feature coordinate" ``c`` is the one torchvision interpolates
in: the value ``input[..., j]`` sits at ``c = j`` (pixel centres at integers, as in
:mod:`segcourse.ops.receptive_field`). RoIAlign's ``aligned=True`` subtracts 0.5 from ``box * scale``, which
is the same as saying "feature cell ``j`` covers ``[j, j+1)`` in ``box * scale`` units", i.e. a cell
covers exactly its ``stride x stride`` block of the image. The drawings use that picture.

What torchvision does (read from torchvision/csrc/ops/cpu/*_kernel.cpp; T = input dtype, all
arithmetic in T)
-------------------------------------------------------------------------------------------------
=============  ==============================================================================
roi_pool       ``start = round(x1 * scale)``, ``end = round(x2 * scale)`` with C ``round`` (half
               away from zero: 2.5 -> 3, -0.5 -> -1; not Python's/torch's half-to-even);
               ``size = max(end - start + 1, 1)`` (the end cell is *included*);
               ``bin = size / P``; bin ``p`` reads cells ``[floor(p*bin), ceil((p+1)*bin))`` +
               start, clipped to ``[0, H]``; neighbouring bins share a cell when ``bin`` is not
               whole; an empty bin gives 0 and no gradient; the max starts from ``-FLT_MAX``
               (so a float64 bin whose values are all < -3.4e38 gives -3.4028e38); ties go to
               the first cell in row-major order, and the gradient goes to that argmax only.
roi_align      ``start = x1 * scale - (0.5 if aligned else 0)``; ``size = end - start``, forced
               ``>= 1`` only when ``aligned=False``; ``bin = size / P``; grid ``g = sampling_ratio``
               if > 0 else ``ceil(size / P)`` per box and axis (0 or negative for an empty or
               inverted aligned box: no samples, output 0); sample ``i`` of bin ``p`` at
               ``start + p*bin + (i + 0.5) * bin / g``; a sample with ``y < -1 or y > H`` (or x)
               contributes 0 but still counts; ``y <= 0`` is clamped to 0; ``y_low = int(y)``;
               if ``y_low >= H - 1`` then ``y = y_low = y_high = H - 1``; bilinear weights; the
               bin is the sum of its samples divided by ``max(gy * gx, 1)``.
ps_roi_pool    as roi_pool but ``size = max(end - start, 1)`` (no +1) and, in the forward,
               bins are clipped to ``[0, H - 1]``: the last row and column of the map are never
               read. The backward clips to ``[0, H]``, so torchvision's backward is *not* the
               gradient of its forward there (``gradcheck`` fails; ours passes). Average, not
               max; output channel ``c`` of bin ``(p, q)`` reads input channel
               ``c * P * Q + p * Q + q``.
ps_roi_align   as roi_align with ``aligned`` always True and no ``>= 1`` clamp; divides by
               ``gy * gx`` without ``max(., 1)``: an empty box with adaptive sampling gives NaN.
=============  ==============================================================================

Surprises, with tiny examples (all checked in tests/test_roi.py)
* ``roi_pool`` of box (0, 0, 2, 2) at scale 1 reads 3 x 3 cells, not 2 x 2 (the +1).
* ``roi_pool`` rounds 2.5 to 3 and 0.5 to 1 (C ``round``); ``torch.round`` would give 2 and 0.
* ``roi_pool``'s bin edges are computed in floating point: ``7 * (29 / 7) = 29.000000000000004``
  in float64, so the last of 7 bins of a 29-cell box reads one cell past the box (cell 29);
  in float32 the same happens for 57 cells. Bins depend on the input dtype.
* ``roi_align(aligned=True)`` with ``sampling_ratio <= 0`` raises "cannot create std::vector
  larger than max_size()" in torchvision when a box is inverted by more than a bin along one
  axis only (its adaptive grid is negative there); ours returns zeros for such a box.
* ``roi_align(aligned=False)`` of a zero-size box samples a 1 x 1 cell starting at the box corner;
  with ``aligned=True`` the same box gives exact zeros (adaptive grid) or a single point value
  repeated (fixed grid).
* ``ps_roi_align`` with ``sampling_ratio=-1`` on a zero-size box returns NaN.
* torchvision never checks the batch index: an out-of-range index reads other memory.
  Here it is an error, as are non-integral batch indices (torchvision truncates them).

How ours works
--------------
RoIAlign (and the position-sensitive ops) are one sparse matrix product: every output bin is a
fixed weighted sum of input pixels, the weights being the bilinear weights of its samples (or
``1/area`` for ps_roi_pool). The weights factor into a y part and an x part, so each axis's
entries are summed per pixel (coalesced) first and the 2-D weights are their outer products:
the CSR matrix has sorted, distinct columns and ``A @ features`` (features as
``(N*H*W, C)`` rows) gives all channels at once; autograd's backward is ``A^T @ grad``.
RoIPool gathers each bin's cells (padded to the largest bin and masked) and takes the max.
"""
from __future__ import annotations

import numbers
import warnings
from typing import NamedTuple

import torch
from torch import nn

from .._validate import as_tensor, check_choice, check_float, check_int

__all__ = ["roi_pool", "roi_align", "ps_roi_pool", "ps_roi_align", "MultiScaleRoIAlign", "fpn_levels",
           "roi_pool_bins", "RoIPoolBins", "roi_align_sample_points", "roi_views", "RoIViews", "roi_shift_trace",
           "quantisation_error", "sub_pixel_boxes", "round_half_away", "PIXEL_CONVENTIONS"]

_FLT_MAX = 3.4028234663852886e38
# RoIPool materialises (boxes x bins x cells-per-bin x channels) values; channels are processed
# in groups so that this stays under about this many elements (no loop over boxes or bins).
_POOL_BUDGET = 1 << 24
# tests set this to True: the CSR matrices are built with sorted, distinct columns per row
_CHECK_SPARSE = False


# -- argument checks ----------------------------------------------------------------------------

def _check_features(input, name: str = "input") -> torch.Tensor:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape (N, C, H, W), got {type(input).__name__}")
    if input.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name}: expected a float32 or float64 tensor, got dtype {input.dtype}")
    if input.ndim != 4:
        raise ValueError(f"{name}: expected shape (N, C, H, W), got {tuple(input.shape)}")
    if input.shape[2] == 0 or input.shape[3] == 0:
        raise ValueError(f"{name}: expected a non-empty feature map, got shape {tuple(input.shape)}")
    if input.numel() and not torch.isfinite(input.detach()).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return input


def _output_size(output_size) -> tuple[int, int]:
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size: expected an int or a pair (h, w), got {tuple(output_size)}")
        return (check_int(output_size[0], "output_size[0]", min_value=1),
                check_int(output_size[1], "output_size[1]", min_value=1))
    size = check_int(output_size, "output_size", min_value=1)
    return size, size


def _as_rois(boxes, n_images: int, dtype: torch.dtype) -> torch.Tensor:
    """``boxes`` (K, 5) [batch_index, x1, y1, x2, y2] or a list of (K_i, 4) -> (K, 5) in ``dtype``."""
    if isinstance(boxes, (list, tuple)):
        if len(boxes) > n_images:
            raise ValueError(f"boxes: got {len(boxes)} per-image box tensors for a batch of N={n_images} images")
        parts = [as_tensor(b, f"boxes[{i}]", shape=("K", 4)) for i, b in enumerate(boxes)]
        if not parts:
            return torch.zeros(0, 5, dtype=dtype)
        ids = torch.cat([torch.full((p.shape[0], 1), i, dtype=dtype) for i, p in enumerate(parts)])
        rois = torch.cat([ids, torch.cat([p.detach().to(dtype) for p in parts])], dim=1)
    elif isinstance(boxes, torch.Tensor):
        rois = as_tensor(boxes, "boxes", shape=("K", 5)).detach().to(dtype)
        batch = rois[:, 0]
        if batch.numel():
            if not torch.equal(batch, torch.trunc(batch)):
                bad = batch[batch != torch.trunc(batch)][0].item()
                raise ValueError(f"boxes: column 0 is the batch index and must hold whole numbers, got {bad}")
            if batch.min() < 0 or batch.max() > n_images - 1:
                bad = batch[(batch < 0) | (batch > n_images - 1)][0].item()
                raise ValueError(f"boxes: batch index must be in [0, N-1] = [0, {n_images - 1}], got {bad:g}")
    else:
        raise TypeError("boxes: expected a (K, 5) tensor [batch_index, x1, y1, x2, y2] or a list of "
                        f"(K_i, 4) tensors, got {type(boxes).__name__}")
    return rois.contiguous()


def _check_common(input, boxes, output_size, spatial_scale):
    input = _check_features(input)
    ph, pw = _output_size(output_size)
    scale = check_float(spatial_scale, "spatial_scale")
    if scale <= 0:
        raise ValueError(f"spatial_scale: expected a number > 0, got {scale}")
    rois = _as_rois(boxes, input.shape[0], input.dtype)
    return input, rois, ph, pw, scale


def _check_bool(x, name: str) -> bool:
    if not isinstance(x, bool):
        raise TypeError(f"{name}: expected a bool, got {type(x).__name__}")
    return x


# -- rounding and geometry shared by the ops and the lesson functions ----------------------------

def round_half_away(v: torch.Tensor) -> torch.Tensor:
    """C's ``round``: to the nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3).

    ``torch.round`` rounds halves to even (2.5 -> 2); ``floor(v + 0.5)`` is wrong for
    0.49999997 in float32. Here: ``trunc(v) + sign(v) * (|v - trunc(v)| >= 0.5)``, exact.
    """
    t = torch.trunc(v)
    return t + torch.sign(v) * ((v - t).abs() >= 0.5).to(v.dtype)


def _pool_edges(start: torch.Tensor, end: torch.Tensor, pooled: int, length: int | None,
                plus_one: bool, clip_hi: int | None):
    """RoIPool's integer bins along one axis, as torchvision computes them.

    start, end: (K,) box coordinates already multiplied by the scale (dtype T).
    Returns (first, last, lo, hi): the rounded box cells (K,) and bin edges (K, pooled) int64,
    bin ``p`` reading cells ``lo[p] <= j < hi[p]``; clipped to ``[0, clip_hi]`` when given.
    """
    dtype = start.dtype
    first = round_half_away(start).long()
    last = round_half_away(end).long()
    size = (last - first + (1 if plus_one else 0)).clamp(min=1)
    bin_size = size.to(dtype) / pooled
    p = torch.arange(pooled, dtype=dtype)
    lo = torch.floor(p[None, :] * bin_size[:, None]).long() + first[:, None]
    hi = torch.ceil((p[None, :] + 1) * bin_size[:, None]).long() + first[:, None]
    if clip_hi is not None:
        lo, hi = lo.clamp(0, clip_hi), hi.clamp(0, clip_hi)
    return first, last, lo, hi


class _AlignGeometry(NamedTuple):
    start_y: torch.Tensor   # (K,) T, feature coordinates
    start_x: torch.Tensor
    bin_h: torch.Tensor     # (K,) T
    bin_w: torch.Tensor
    grid_h: torch.Tensor    # (K,) int64, may be <= 0 (no samples)
    grid_w: torch.Tensor


def _align_geometry(rois: torch.Tensor, scale: float, ph: int, pw: int, sampling_ratio: int,
                    offset: float, clamp_size: bool) -> _AlignGeometry:
    dtype = rois.dtype
    s = torch.tensor(scale, dtype=dtype)          # C++ receives spatial_scale as T
    off = torch.tensor(offset, dtype=dtype)
    x1, y1, x2, y2 = (rois[:, i] * s - off for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if clamp_size:                                # aligned=False: "force malformed RoIs to be 1x1"
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw
    if sampling_ratio > 0:
        gh = torch.full_like(bin_h, sampling_ratio, dtype=torch.int64)
        gw = gh
    else:                                         # adaptive: ceil(roi / pooled), per box and axis
        gh, gw = torch.ceil(bin_h).long(), torch.ceil(bin_w).long()
    return _AlignGeometry(y1, x1, bin_h, bin_w, gh, gw)


def _axis_samples(start: torch.Tensor, bin_size: torch.Tensor, pooled: int, grid: torch.Tensor,
                  max_grid: int):
    """Sample coordinates along one axis: (K, pooled, max_grid) and a (K, max_grid) mask of the
    samples that exist (``i < grid``); same operation order as torchvision's kernel."""
    dtype = start.dtype
    p = torch.arange(pooled, dtype=dtype)
    i = torch.arange(max_grid, dtype=dtype)
    g = grid.clamp(min=1).to(dtype)
    coords = (start[:, None, None] + p[None, :, None] * bin_size[:, None, None]) \
        + ((i[None, None, :] + 0.5) * bin_size[:, None, None]) / g[:, None, None]
    mask = torch.arange(max_grid)[None, :] < grid[:, None]
    return coords, mask


def _axis_bilinear(c: torch.Tensor, length: int):
    """torchvision's bilinear rule along one axis: (..., 2) pixel indices and weights.

    A coordinate outside ``[-1, length]`` gets weight 0; ``c <= 0`` reads pixel 0;
    ``c >= length - 1`` reads the last pixel."""
    valid = (c >= -1) & (c <= length)
    c = c.clamp(min=0, max=length)
    low = c.to(torch.int64)                       # c >= 0: truncation is floor
    top = low >= length - 1
    low = torch.where(top, length - 1, low)
    high = torch.where(top, length - 1, low + 1)
    c = torch.where(top, low.to(c.dtype), c)
    frac = c - low.to(c.dtype)
    weights = torch.stack([1.0 - frac, frac], dim=-1) * valid[..., None].to(c.dtype)
    return torch.stack([low, high], dim=-1), weights


def _coalesce(idx: torch.Tensor, w: torch.Tensor, length: int):
    """Sum the weights of equal indices along the last dim; drop zero weights.

    idx, w: (..., E). Returns idx, w, keep of the same shape: distinct indices in increasing
    order first, ``keep`` marking them."""
    idx = torch.where(w != 0, idx, length)        # sentinel sorts last
    idx, order = idx.sort(dim=-1)
    w = w.gather(-1, order)
    new = torch.ones_like(idx, dtype=torch.bool)
    new[..., 1:] = idx[..., 1:] != idx[..., :-1]
    slot = new.cumsum(-1) - 1
    cw = torch.zeros_like(w).scatter_add_(-1, slot, w)
    ci = torch.full_like(idx, length).scatter_(-1, slot, idx)
    return ci, cw, ci < length


def _axis_entries(start, bin_size, pooled, grid, length):
    """Per-axis (coalesced) pixel indices and summed bilinear weights of each bin: (K, pooled, E)."""
    max_grid = int(grid.max().clamp(min=0)) if grid.numel() else 0
    coords, mask = _axis_samples(start, bin_size, pooled, grid, max_grid)
    idx, w = _axis_bilinear(coords, length)                       # (K, P, G, 2)
    w = w * mask[:, None, :, None].to(w.dtype)
    k = idx.shape[0]
    return _coalesce(idx.reshape(k, pooled, -1), w.reshape(k, pooled, -1), length)


def _sparse_apply(ry, wy, ky, rx, wx, kx, base, width, n_cols, table):
    """Build the CSR matrix whose row (k, p, q) holds weights ``wy[k,p,a] * wx[k,q,b]`` at column
    ``base[k,p,q] + ry[k,p,a] * width + rx[k,q,b]``, and return ``A @ table``: (K*P*Q, C)."""
    k, p, q = ry.shape[0], ry.shape[1], rx.shape[1]
    keep = ky[:, :, None, :, None] & kx[:, None, :, None, :]
    col = base[..., None, None] + ry[:, :, None, :, None] * width + rx[:, None, :, None, :]
    val = wy[:, :, None, :, None] * wx[:, None, :, None, :]
    crow = torch.zeros(k * p * q + 1, dtype=torch.int64)
    crow[1:] = keep.reshape(k * p * q, -1).sum(1).cumsum(0)
    nz = keep.reshape(-1).nonzero().squeeze(1)        # (much faster than boolean-mask indexing)
    col, val = col.reshape(-1).index_select(0, nz), val.reshape(-1).index_select(0, nz)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        mat = torch.sparse_csr_tensor(crow, col, val, size=(k * p * q, n_cols),
                                      dtype=table.dtype, check_invariants=_CHECK_SPARSE)
        return mat @ table


# -- the four operators ---------------------------------------------------------------------------

def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """RoI max pooling (Fast R-CNN), equal to ``torchvision.ops.roi_pool`` forward and backward.

    input: (N, C, H, W) float32/float64. boxes: (K, 5) [batch_index, x1, y1, x2, y2] or a list of
    (K_i, 4) per image, in image pixels. output_size: int or (PH, PW). Returns (K, C, PH, PW).
    The box is rounded to whole cells (C ``round``), the end cell included; bin ``p`` reads cells
    ``floor(p * size / PH) .. ceil((p + 1) * size / PH) - 1`` from the first; empty bins give 0.
    The gradient flows to the first maximal cell of each bin (row-major), as in torchvision.
    """
    input, rois, ph, pw, scale = _check_common(input, boxes, output_size, spatial_scale)
    n, c, h, w = input.shape
    k, dtype = rois.shape[0], input.dtype
    s = torch.tensor(scale, dtype=dtype)
    _, _, y_lo, y_hi = _pool_edges(rois[:, 2] * s, rois[:, 4] * s, ph, h, True, h)
    _, _, x_lo, x_hi = _pool_edges(rois[:, 1] * s, rois[:, 3] * s, pw, w, True, w)
    len_y = int((y_hi - y_lo).max()) if k else 0
    len_x = int((x_hi - x_lo).max()) if k else 0
    if k == 0 or len_y == 0 or len_x == 0 or c == 0:
        return input.new_zeros(k, c, ph, pw) + 0 * input.sum()
    rows = y_lo[:, :, None] + torch.arange(len_y)                   # (K, PH, Ly)
    cols = x_lo[:, :, None] + torch.arange(len_x)                   # (K, PW, Lx)
    ok = (rows < y_hi[:, :, None])[:, :, None, :, None] & (cols < x_hi[:, :, None])[:, None, :, None, :]
    flat = (rois[:, 0].long()[:, None, None, None, None] * h + rows[:, :, None, :, None]) * w \
        + cols[:, None, :, None, :]                                 # (K, PH, PW, Ly, Lx)
    # the cells of every bin, one after the other (row-major inside a bin): segments
    n_bins = k * ph * pw
    ok = ok.reshape(n_bins, -1)
    nz = ok.reshape(-1).nonzero().squeeze(1)
    pix = flat.reshape(-1).index_select(0, nz)                      # (T,) pixel rows of the table
    seg = nz // ok.shape[1]                                         # (T,) bin of each cell
    empty = ~ok.any(dim=1)                                          # (bins,)
    table = input.permute(0, 2, 3, 1).reshape(n * h * w, c)
    t_cells = pix.numel()
    if t_cells == 0:
        return input.new_zeros(k, c, ph, pw) + 0 * input.sum()
    step = max(1, _POOL_BUDGET // t_cells)
    winners, bests = [], []
    with torch.no_grad():                                           # find each bin's first argmax
        order = torch.arange(t_cells)
        for c0 in range(0, c, step):                                # channel groups: memory only
            vals = table[:, c0:c0 + step].index_select(0, pix)      # (T, c')
            idx = seg[:, None].expand_as(vals)
            best = vals.new_full((n_bins, vals.shape[1]), float("-inf")).scatter_reduce_(
                0, idx, vals, "amax")
            first = torch.where(vals == best.gather(0, idx), order[:, None], t_cells)
            first = torch.full_like(best, t_cells, dtype=torch.int64).scatter_reduce_(0, idx, first, "amin")
            winners.append(pix[first.clamp(max=t_cells - 1)])
            bests.append(best)
    winner = winners[0] if len(winners) == 1 else torch.cat(winners, 1)
    best = bests[0] if len(bests) == 1 else torch.cat(bests, 1)
    out = table.gather(0, winner)                                   # (bins, C): the gradient path
    # torchvision starts its max at -FLT_MAX and reads nothing for an empty bin
    out = torch.where(best > -_FLT_MAX, out, torch.full_like(out, -_FLT_MAX))
    out = torch.where(empty[:, None], torch.zeros_like(out), out)
    return out.reshape(k, ph, pw, c).permute(0, 3, 1, 2).contiguous()


def roi_align(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """RoIAlign (Mask R-CNN), equal to ``torchvision.ops.roi_align`` to float rounding.

    input: (N, C, H, W) float32/float64. boxes: (K, 5) [batch_index, x1, y1, x2, y2] or a list of
    (K_i, 4), image pixels. output_size: int or (PH, PW). sampling_ratio: samples per bin and axis
    if > 0, else ``ceil(roi_size / output_size)`` per box and axis. aligned: shift the box by -0.5
    feature pixel (Detectron2); if False the RoI is forced to be at least 1 x 1.
    Returns (K, C, PH, PW): each bin is the mean of its bilinearly interpolated samples
    (samples outside ``[-1, H] x [-1, W]`` count as 0).
    """
    input, rois, ph, pw, scale = _check_common(input, boxes, output_size, spatial_scale)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    aligned = _check_bool(aligned, "aligned")
    n, c, h, w = input.shape
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c, ph, pw) + 0 * input.sum()
    geo = _align_geometry(rois, scale, ph, pw, sampling_ratio, 0.5 if aligned else 0.0, not aligned)
    ry, wy, ky = _axis_entries(geo.start_y, geo.bin_h, ph, geo.grid_h, h)
    rx, wx, kx = _axis_entries(geo.start_x, geo.bin_w, pw, geo.grid_w, w)
    base = (rois[:, 0].long() * (h * w))[:, None, None].expand(k, ph, pw)
    table = input.permute(0, 2, 3, 1).reshape(n * h * w, c)
    out = _sparse_apply(ry, wy, ky, rx, wx, kx, base, w, n * h * w, table)
    count = (geo.grid_h * geo.grid_w).clamp(min=1).to(input.dtype)
    out = out.reshape(k, ph, pw, c) / count[:, None, None, None]
    return out.permute(0, 3, 1, 2).contiguous()


def _check_ps_channels(c: int, ph: int, pw: int) -> int:
    if c % (ph * pw):
        raise ValueError(f"input: the number of channels C={c} must be divisible by "
                         f"output_h * output_w = {ph} * {pw} = {ph * pw} for position-sensitive pooling")
    return c // (ph * pw)


def _ps_table(input: torch.Tensor, c_out: int, ph: int, pw: int) -> torch.Tensor:
    """(N, C_out*PH*PW, H, W) -> rows (bin j, n, y, x), columns c_out: (PH*PW*N*H*W, C_out)."""
    n, _, h, w = input.shape
    return input.reshape(n, c_out, ph * pw, h, w).permute(2, 0, 3, 4, 1).reshape(ph * pw * n * h * w, c_out)


def ps_roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """Position-sensitive RoI average pooling (R-FCN), torchvision.ops.ps_roi_pool's forward.

    input: (N, C, H, W) with C divisible by PH * PW; boxes as in :func:`roi_pool`.
    Returns (K, C / (PH*PW), PH, PW): output channel ``c`` of bin ``(p, q)`` averages input
    channel ``c*PH*PW + p*PW + q`` over the bin's cells. As torchvision's forward: box cells
    rounded (C ``round``), ``size = max(end - start, 1)`` (no +1), bins clipped to
    ``[0, H-1] x [0, W-1]`` (the last row/column is never read), empty bins 0.
    The gradient is autograd's, i.e. the true gradient of this forward (torchvision's backward
    clips differently and is not, see the module docstring).
    """
    input, rois, ph, pw, scale = _check_common(input, boxes, output_size, spatial_scale)
    n, c, h, w = input.shape
    c_out = _check_ps_channels(c, ph, pw)
    k, dtype = rois.shape[0], input.dtype
    if k == 0:
        return input.new_zeros(0, c_out, ph, pw) + 0 * input.sum()
    s = torch.tensor(scale, dtype=dtype)
    _, _, y_lo, y_hi = _pool_edges(rois[:, 2] * s, rois[:, 4] * s, ph, h, False, h - 1)
    _, _, x_lo, x_hi = _pool_edges(rois[:, 1] * s, rois[:, 3] * s, pw, w, False, w - 1)

    def axis(lo, hi):
        span = max(1, int((hi - lo).max()))
        idx = lo[:, :, None] + torch.arange(span)
        return idx, torch.ones(idx.shape, dtype=dtype), idx < hi[:, :, None]

    ry, wy, ky = axis(y_lo, y_hi)
    rx, wx, kx = axis(x_lo, x_hi)
    j = torch.arange(ph)[:, None] * pw + torch.arange(pw)[None, :]  # (PH, PW)
    base = ((j[None] * n + rois[:, 0].long()[:, None, None]) * (h * w))
    out = _sparse_apply(ry, wy, ky, rx, wx, kx, base, w, ph * pw * n * h * w, _ps_table(input, c_out, ph, pw))
    area = ((y_hi - y_lo)[:, :, None] * (x_hi - x_lo)[:, None, :]).to(dtype)  # (K, PH, PW)
    area = torch.where(area > 0, area, torch.ones_like(area))
    out = out.reshape(k, ph, pw, c_out) / area[..., None]
    return out.permute(0, 3, 1, 2).contiguous()


def ps_roi_align(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
                 sampling_ratio: int = -1) -> torch.Tensor:
    """Position-sensitive RoIAlign, equal to ``torchvision.ops.ps_roi_align`` to float rounding.

    input: (N, C, H, W) with C divisible by PH * PW; boxes as in :func:`roi_align`.
    Returns (K, C / (PH*PW), PH, PW). Always "aligned" (box shifted by -0.5, no 1 x 1 clamp);
    divides by ``gy * gx`` without ``max(., 1)``, so an empty box with ``sampling_ratio <= 0``
    gives NaN, as in torchvision.
    """
    input, rois, ph, pw, scale = _check_common(input, boxes, output_size, spatial_scale)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    n, c, h, w = input.shape
    c_out = _check_ps_channels(c, ph, pw)
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c_out, ph, pw) + 0 * input.sum()
    geo = _align_geometry(rois, scale, ph, pw, sampling_ratio, 0.5, False)
    ry, wy, ky = _axis_entries(geo.start_y, geo.bin_h, ph, geo.grid_h, h)
    rx, wx, kx = _axis_entries(geo.start_x, geo.bin_w, pw, geo.grid_w, w)
    j = torch.arange(ph)[:, None] * pw + torch.arange(pw)[None, :]
    base = ((j[None] * n + rois[:, 0].long()[:, None, None]) * (h * w))
    out = _sparse_apply(ry, wy, ky, rx, wx, kx, base, w, ph * pw * n * h * w, _ps_table(input, c_out, ph, pw))
    count = (geo.grid_h * geo.grid_w).to(input.dtype)
    out = out.reshape(k, ph, pw, c_out) / count[:, None, None, None]
    return out.permute(0, 3, 1, 2).contiguous()


# -- multi-scale (FPN) pooling, a drop-in for torchvision.ops.MultiScaleRoIAlign -----------------

def fpn_levels(boxes: list, k_min: int, k_max: int, canonical_scale: int = 224, canonical_level: int = 4,
               eps: float = 1e-6) -> torch.Tensor:
    """FPN's level assignment (Lin et al. 2017, eq. 1), as torchvision's LevelMapper computes it.

    boxes: list of (K_i, 4) image boxes. Returns (sum K_i,) int64 level index minus ``k_min``:
    ``clamp(floor(k0 + log2(sqrt(w * h) / 224) + eps), k_min, k_max) - k_min``.
    A 224 x 224 box goes to level 4 (stride 16), a 112 x 112 box to level 3.
    """
    area = torch.cat([(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) for b in boxes])
    s = torch.sqrt(area)
    lvl = torch.floor(canonical_level + torch.log2(s / canonical_scale) + torch.tensor(eps, dtype=s.dtype))
    lvl = torch.clamp(lvl, min=k_min, max=k_max)
    return lvl.to(torch.int64) - k_min


def _infer_scale(feature: torch.Tensor, original_size) -> float:
    # torchvision: the power of two nearest to (feature height / image height), in float32
    approx = float(feature.shape[-2]) / float(original_size[0])
    return 2 ** float(torch.tensor(approx).log2().round())


class MultiScaleRoIAlign(nn.Module):
    """Our ``torchvision.ops.MultiScaleRoIAlign``: same constructor and forward, our ops inside.

    featmap_names: which entries of the feature dict to pool from (in the dict's order).
    output_size: int or (PH, PW). sampling_ratio: as in :func:`roi_align`.
    op: ``"align"`` (RoIAlign, torchvision's behaviour) or ``"pool"`` (RoIPool, the Fast R-CNN
    quantised pooling, for lesson 10's comparison). aligned: passed to RoIAlign (torchvision
    uses False).

    forward(x: dict[str, (N, C, H_l, W_l)], boxes: list of (K_i, 4) image boxes,
    image_shapes: list of (h, w)) -> (sum K_i, C, PH, PW). As torchvision: each level's scale is
    the power of two nearest to ``H_l / max image height``, fixed at the first call; with
    several levels each box goes to level ``fpn_levels(...)`` (canonical 224 px at level 4).
    """

    def __init__(self, featmap_names: list, output_size, sampling_ratio: int, *,
                 canonical_scale: int = 224, canonical_level: int = 4, op: str = "align",
                 aligned: bool = False):
        super().__init__()
        if isinstance(featmap_names, str) or not all(isinstance(n, str) for n in featmap_names):
            raise TypeError("featmap_names: expected a list of str")
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.featmap_names = list(featmap_names)
        self.output_size = tuple(_output_size(tuple(output_size)))
        self.sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.op = check_choice(op, "op", ("align", "pool"))
        self.aligned = _check_bool(aligned, "aligned")
        self.scales = None
        self.map_levels = None          # (k_min, k_max) once set up

    def _pool(self, feature, rois, scale):
        if self.op == "pool":
            return roi_pool(feature, rois, self.output_size, scale)
        return roi_align(feature, rois, self.output_size, scale, self.sampling_ratio, self.aligned)

    def forward(self, x: dict, boxes: list, image_shapes: list) -> torch.Tensor:
        if not isinstance(x, dict):
            raise TypeError(f"x: expected a dict of feature maps, got {type(x).__name__}")
        feats = [v for key, v in x.items() if key in self.featmap_names]
        if not feats:
            raise ValueError(f"x: none of featmap_names {self.featmap_names} in its keys {list(x)}")
        if not isinstance(boxes, (list, tuple)):
            raise TypeError(f"boxes: expected a list of (K_i, 4) tensors, got {type(boxes).__name__}")
        if self.scales is None or self.map_levels is None:
            if not image_shapes:
                raise ValueError("image_shapes: expected a non-empty list of (h, w)")
            original = (max(s[0] for s in image_shapes), max(s[1] for s in image_shapes))
            self.scales = [_infer_scale(f, original) for f in feats]
            lvl_min = -torch.log2(torch.tensor(self.scales[0], dtype=torch.float32)).item()
            lvl_max = -torch.log2(torch.tensor(self.scales[-1], dtype=torch.float32)).item()
            self.map_levels = (int(lvl_min), int(lvl_max))
        rois = _as_rois(list(boxes), feats[0].shape[0], feats[0].dtype)
        if len(feats) == 1:
            return self._pool(feats[0], rois, self.scales[0])
        levels = fpn_levels([as_tensor(b, f"boxes[{i}]", shape=("K", 4)) for i, b in enumerate(boxes)],
                            *self.map_levels, self.canonical_scale, self.canonical_level)
        result = feats[0].new_zeros((rois.shape[0], feats[0].shape[1]) + self.output_size)
        for level, (feature, scale) in enumerate(zip(feats, self.scales)):   # a few FPN levels
            idx = torch.where(levels == level)[0]
            result = result.index_put((idx,), self._pool(feature, rois[idx], scale).to(result.dtype))
        return result

    def extra_repr(self) -> str:
        return (f"featmap_names={self.featmap_names}, output_size={self.output_size}, "
                f"sampling_ratio={self.sampling_ratio}, op={self.op!r}, aligned={self.aligned}")


# -- the geometry a lesson and a widget show --------------------------------------------------------

def _one_box(box, name: str = "box") -> torch.Tensor:
    if isinstance(box, (list, tuple)):
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in box):
            raise TypeError(f"{name}: expected 4 numbers (x1, y1, x2, y2), got {box!r}")
        box = torch.tensor([float(v) for v in box], dtype=torch.float64)
    box = as_tensor(box, name)
    if box.ndim == 1:
        box = as_tensor(box, name, shape=(4,))
    else:
        box = as_tensor(box, name, shape=("K", 4))
    return box.detach() if box.is_floating_point() else box.detach().to(torch.float64)


class RoIPoolBins(NamedTuple):
    """RoIPool's cells for one box (or K boxes, with a leading K dimension).

    cells: (4,) int64 [x1, y1, x2, y2], the rounded box in feature cells (x2, y2 included);
    y, x: (PH, 2) and (PW, 2) int64 ``[start, end)`` cell ranges of each bin row / column."""
    cells: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor


def roi_pool_bins(box, output_size, spatial_scale: float = 1.0, feature_size=None) -> RoIPoolBins:
    """The integer bins RoIPool reads: exactly the ranges :func:`roi_pool` takes the max over.

    box: (4,) or (K, 4) (x1, y1, x2, y2) in image pixels (float64 unless given as float32: the
    rounding is done in the box's dtype, as torchvision does in the input's). feature_size:
    (H, W) to clip the ranges to the map as roi_pool does; None leaves them unclipped.
    Example: box (0, 0, 2, 2), output 2, scale 1 -> cells 0..2 (3 cells, end included), bins
    rows [0, 2) and [1, 3): they share row 1.
    """
    b = _one_box(box)
    ph, pw = _output_size(output_size)
    scale = check_float(spatial_scale, "spatial_scale", min_value=1e-12)
    hw = (None, None)
    if feature_size is not None:
        hw = (check_int(feature_size[0], "feature_size[0]", min_value=1),
              check_int(feature_size[1], "feature_size[1]", min_value=1))
    bb = b.reshape(-1, 4)
    s = torch.tensor(scale, dtype=bb.dtype)
    y0, y1, y_lo, y_hi = _pool_edges(bb[:, 1] * s, bb[:, 3] * s, ph, hw[0], True, hw[0])
    x0, x1, x_lo, x_hi = _pool_edges(bb[:, 0] * s, bb[:, 2] * s, pw, hw[1], True, hw[1])
    cells = torch.stack([x0, y0, x1, y1], dim=1)
    y, x = torch.stack([y_lo, y_hi], -1), torch.stack([x_lo, x_hi], -1)
    if b.ndim == 1:
        return RoIPoolBins(cells[0], y[0], x[0])
    return RoIPoolBins(cells, y, x)


def roi_align_sample_points(box, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
                            aligned: bool = False) -> torch.Tensor:
    """Where RoIAlign samples for one box: (PH, PW, gy, gx, 2) as (x, y) feature coordinates.

    box: (4,) (x1, y1, x2, y2) in image pixels. The coordinates are torchvision's interpolation
    coordinates (``input[..., j]`` sits at ``j``). gy = sampling_ratio if > 0 else
    ``ceil(roi_h / PH)`` (0 for an empty aligned box). Sample ``(i, j)`` of bin ``(p, q)`` is at
    ``y = y1*s - o + p*bin_h + (i + 0.5) * bin_h / gy`` with ``o = 0.5 if aligned else 0``.
    Example: box (0, 0, 4, 4), output 2, scale 1, sampling_ratio 2, aligned=False -> bin (0, 0)
    samples at x, y in {0.5, 1.5}; aligned=True -> {0, 1}.
    """
    b = _one_box(box)
    if b.ndim != 1:
        raise ValueError(f"box: expected shape (4,), got {tuple(b.shape)}")
    ph, pw = _output_size(output_size)
    scale = check_float(spatial_scale, "spatial_scale", min_value=1e-12)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    aligned = _check_bool(aligned, "aligned")
    rois = torch.cat([b.new_zeros(1), b])[None]
    geo = _align_geometry(rois, scale, ph, pw, sampling_ratio, 0.5 if aligned else 0.0, not aligned)
    gy, gx = max(int(geo.grid_h[0]), 0), max(int(geo.grid_w[0]), 0)
    ys, _ = _axis_samples(geo.start_y, geo.bin_h, ph, geo.grid_h, gy)     # (1, PH, gy)
    xs, _ = _axis_samples(geo.start_x, geo.bin_w, pw, geo.grid_w, gx)     # (1, PW, gx)
    yy = ys[0][:, None, :, None].expand(ph, pw, gy, gx)
    xx = xs[0][None, :, None, :].expand(ph, pw, gy, gx)
    return torch.stack([xx, yy], dim=-1)


class RoIViews(NamedTuple):
    """Everything one frame of the lesson-10 widget shows (see :func:`roi_views`)."""
    box: torch.Tensor          # (4,) float: the box times spatial_scale (feature-cell units)
    pool: RoIPoolBins          # RoIPool's rounded cells and bin ranges, clipped to the map
    points: torch.Tensor       # (PH, PW, gy, gx, 2) RoIAlign sample points, (x, y) feature coordinates
    valid: torch.Tensor        # (PH, PW, gy, gx) bool: inside [-1, W] x [-1, H] (else they count as 0)
    align_y: torch.Tensor      # (PH, 2) float: RoIAlign's bin rows [start, end), interpolation coordinates
    align_x: torch.Tensor      # (PW, 2) float: its bin columns
    pooled: torch.Tensor       # (C, PH, PW) or (PH, PW): roi_pool output
    aligned: torch.Tensor      # same shape: roi_align output


def _one_map_and_box(feature_map, box):
    """(H, W) or (C, H, W) map -> (1, C, H, W) float64, the (4,) box, and whether the map was 2-D."""
    fm = as_tensor(feature_map, "feature_map", ndim=(2, 3), kind="float", allow_empty=False)
    squeeze = fm.ndim == 2
    x = (fm[None, None] if squeeze else fm[None]).to(torch.float64)
    b = _one_box(box)
    if b.ndim != 1:
        raise ValueError(f"box: expected shape (4,), got {tuple(b.shape)}")
    return x, b, squeeze


def roi_views(feature_map, box, output_size=2, spatial_scale: float = 1.0, sampling_ratio: int = 2,
              aligned: bool = True) -> RoIViews:
    """RoIPool's bins, RoIAlign's sample points and both outputs for one box on one map.

    feature_map: (H, W) or (C, H, W) float. box: (4,) image pixels. Returns :class:`RoIViews`;
    ``pooled`` and ``aligned`` have the map's leading shape.
    """
    x, b, squeeze = _one_map_and_box(feature_map, box)
    b = b.to(torch.float64)
    h, w = x.shape[-2:]
    pool = roi_pool_bins(b, output_size, spatial_scale, (h, w))
    points = roi_align_sample_points(b, output_size, spatial_scale, sampling_ratio, aligned)
    valid = (points[..., 0] >= -1) & (points[..., 0] <= w) & (points[..., 1] >= -1) & (points[..., 1] <= h)
    rois = torch.cat([b.new_zeros(1), b])[None]
    ph, pw = _output_size(output_size)
    geo = _align_geometry(rois, spatial_scale, ph, pw, 1, 0.5 if aligned else 0.0, not aligned)
    ey = geo.start_y + geo.bin_h * torch.arange(ph + 1, dtype=b.dtype)
    ex = geo.start_x + geo.bin_w * torch.arange(pw + 1, dtype=b.dtype)
    pooled = roi_pool(x, rois, output_size, spatial_scale)[0]
    al = roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned)[0]
    if squeeze:
        pooled, al = pooled[0], al[0]
    return RoIViews(b * spatial_scale, pool, points, valid, torch.stack([ey[:-1], ey[1:]], -1),
                    torch.stack([ex[:-1], ex[1:]], -1), pooled, al)


def roi_shift_trace(feature_map, box, shifts, output_size=2, spatial_scale: float = 1.0,
                    sampling_ratio: int = 2, aligned: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Both outputs for one box slid over the map: what RoIPool and RoIAlign return as it moves.

    feature_map: (H, W) or (C, H, W) float. box: (4,) (x1, y1, x2, y2) image pixels. shifts:
    (S, 2) (dx, dy) in *feature cells* (one cell = 1 / spatial_scale image pixels); shift k
    moves the box by ``shifts[k] / spatial_scale`` pixels. Returns ``(pooled, aligned)``, each
    (S, PH, PW) or (S, C, PH, PW): :func:`roi_pool` and :func:`roi_align` of the S shifted
    boxes in one batched call each (float64). Example: on an 8 x 8 map that is 0 left of
    column 4 and 1 from it on, box (0, 0, 2, 2), scale 1, output 1: slid right by dx cells,
    RoIPool's output jumps from 0 to 1 at dx = 1.5 (round(2 + dx) = 4: the end cell is read);
    RoIAlign's (aligned, 2 samples at x = dx and dx + 1) is 0 up to dx = 2, then rises
    linearly: (dx - 2) / 2 up to dx = 3.
    """
    x, b, squeeze = _one_map_and_box(feature_map, box)
    if isinstance(shifts, (list, tuple)):
        shifts = torch.tensor(shifts, dtype=torch.float64)
    sh = as_tensor(shifts, "shifts", shape=("S", 2), kind="float").detach().to(torch.float64)
    scale = check_float(spatial_scale, "spatial_scale", min_value=1e-12)
    moved = b.to(torch.float64)[None] + sh.repeat(1, 2) / scale
    rois = torch.cat([moved.new_zeros(len(moved), 1), moved], dim=1)
    pooled = roi_pool(x, rois, output_size, scale)
    al = roi_align(x, rois, output_size, scale, sampling_ratio, _check_bool(aligned, "aligned"))
    if squeeze:
        pooled, al = pooled[:, 0], al[:, 0]
    return pooled, al


# -- the quantisation story, measured ----------------------------------------------------------------

PIXEL_CONVENTIONS = {
    # where feature cell j sits in the image, in input pixels, for stride s (image pixel i covers [i, i+1))
    "aligned": "cell j covers [j*s, (j+1)*s): a cell is its s x s block (k = s pooling, Detectron2)",
    "legacy": "cell j covers [(j-0.5)*s, (j+0.5)*s): centre at j*s (torchvision's aligned=False)",
}


def sub_pixel_boxes(n: int, image_size: int = 800, min_size: float = 32.0, max_size: float = 256.0,
                    seed: int = 0) -> torch.Tensor:
    """n random boxes (n, 4) float64 at sub-pixel positions inside an ``image_size`` square image;
    width and height uniform in [min_size, max_size]; seeded."""
    n = check_int(n, "n", min_value=0)
    image_size = check_int(image_size, "image_size", min_value=1)
    lo = check_float(min_size, "min_size", min_value=0.0)
    hi = check_float(max_size, "max_size", min_value=lo)
    if hi > image_size:
        raise ValueError(f"max_size: expected <= image_size = {image_size}, got {hi}")
    g = torch.Generator().manual_seed(check_int(seed, "seed"))
    wh = lo + (hi - lo) * torch.rand(n, 2, generator=g, dtype=torch.float64)
    xy = (image_size - wh) * torch.rand(n, 2, generator=g, dtype=torch.float64)
    return torch.cat([xy, xy + wh], dim=1)


def _ellipse_masks(region: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(K, size, size) bool: the ellipse inscribed in ``boxes`` sampled at the cell centres of a
    size x size grid laid over ``region`` (K, 4)."""
    t = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    px = region[:, 0, None] + t * (region[:, 2] - region[:, 0])[:, None]      # (K, M)
    py = region[:, 1, None] + t * (region[:, 3] - region[:, 1])[:, None]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    rx, ry = (boxes[:, 2] - boxes[:, 0]) / 2, (boxes[:, 3] - boxes[:, 1]) / 2
    dx = ((px - cx[:, None]) / rx[:, None]) ** 2
    dy = ((py - cy[:, None]) / ry[:, None]) ** 2
    return dy[:, :, None] + dx[:, None, :] <= 1.0


def _stats(true_bins, bins, true_box, region, boxes, mask_size):
    d_box = (region - true_box).abs()
    d_bin = (bins - true_bins).abs()
    true_mask = _ellipse_masks(true_box, boxes, mask_size)
    mask = _ellipse_masks(region, boxes, mask_size)
    iou = (true_mask & mask).sum((1, 2)).double() / (true_mask | mask).sum((1, 2)).clamp(min=1).double()
    grow = ((region[:, 2] - region[:, 0]) - (true_box[:, 2] - true_box[:, 0])
            + (region[:, 3] - region[:, 1]) - (true_box[:, 3] - true_box[:, 1])) / 2
    jitter = (region - true_box).std(dim=0, unbiased=False).mean() if len(boxes) > 1 else d_box.new_zeros(())
    return {"box_edge_mean": d_box.mean().item(), "box_edge_max": d_box.max().item(),
            "box_edge_jitter": jitter.item(),
            "bin_edge_mean": d_bin.mean().item(), "bin_edge_max": d_bin.max().item(),
            "size_change_mean": grow.mean().item(),
            "mask_iou_mean": iou.mean().item(), "mask_iou_min": iou.min().item()}


def quantisation_error(boxes, stride: int, output_size: int = 7, *, mask_size: int = 28,
                       convention: str = "aligned") -> dict:
    """How far each pooling's bins are from the true box, in input pixels, and what that does
    to a mask target.

    boxes: (K, 4) image boxes (x1, y1, x2, y2), K >= 1. stride: the feature stride (spatial_scale
    = 1/stride). convention: where a feature cell sits in the image (:data:`PIXEL_CONVENTIONS`).
    For each method -- ``"roi_pool"``, ``"roi_align"`` (aligned=True), ``"roi_align_legacy"``
    (aligned=False) -- the region it reads (RoIPool: the cells of its bins; RoIAlign: the extent
    its sample grid tiles) is mapped back to image pixels and compared with the box:

    * ``box_edge_mean/max``: |displacement| of the region's 4 edges;
    * ``bin_edge_mean/max``: |displacement| of each bin's start and end (2 * (PH + PW) per box);
    * ``box_edge_jitter``: the spread (std over boxes, mean over the 4 edges) of the signed edge
      displacement: the part a network cannot learn away (a constant shift it could);
    * ``size_change_mean``: mean change of width and height (RoIPool's ``+1`` cell shows here);
    * ``mask_iou_mean/min``: IoU between two ``mask_size``^2 targets of the ellipse filling the
      box, one laid over the true box and one over the method's region (1 = no harm).
    Returns ``{method: {metric: float}}``.
    """
    b = as_tensor(boxes, "boxes", shape=("K", 4), allow_empty=False).detach().to(torch.float64)
    if ((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])).any():
        raise ValueError("boxes: expected x2 > x1 and y2 > y1 for every box")
    stride = check_int(stride, "stride", min_value=1)
    pooled = check_int(output_size, "output_size", min_value=1)
    mask_size = check_int(mask_size, "mask_size", min_value=1)
    check_choice(convention, "convention", tuple(PIXEL_CONVENTIONS))
    shift = 0.0 if convention == "aligned" else -0.5       # image position of cell coordinate u: (u + shift) * s
    s = float(stride)
    t = torch.arange(pooled + 1, dtype=torch.float64) / pooled

    def true_bins(a0, a1):                                  # (K, P, 2) start/end of each true bin
        e = a0[:, None] + t * (a1 - a0)[:, None]
        return torch.stack([e[:, :-1], e[:, 1:]], dim=-1)

    true_box = b
    tb = torch.cat([true_bins(b[:, 1], b[:, 3]), true_bins(b[:, 0], b[:, 2])], dim=1)
    out = {}
    # RoIPool: cells [lo, hi) of each bin; the map is taken as large enough (no clipping)
    _, _, y_lo, y_hi = _pool_edges(b[:, 1] / s, b[:, 3] / s, pooled, None, True, None)
    _, _, x_lo, x_hi = _pool_edges(b[:, 0] / s, b[:, 2] / s, pooled, None, True, None)
    bins = torch.cat([torch.stack([y_lo, y_hi], -1), torch.stack([x_lo, x_hi], -1)], 1).double()
    bins = (bins + shift) * s
    region = torch.stack([(x_lo[:, 0] + shift) * s, (y_lo[:, 0] + shift) * s,
                          (x_hi[:, -1] + shift) * s, (y_hi[:, -1] + shift) * s], 1).double()
    out["roi_pool"] = _stats(tb, bins, true_box, region, b, mask_size)
    # RoIAlign: each bin is tiled by its sample grid; its extent is [first - d/2, last + d/2]
    rois = torch.cat([b.new_zeros(len(b), 1), b], 1)
    for name, aligned in (("roi_align", True), ("roi_align_legacy", False)):
        geo = _align_geometry(rois, 1.0 / s, pooled, pooled, 2, 0.5 if aligned else 0.0, not aligned)
        ys, _ = _axis_samples(geo.start_y, geo.bin_h, pooled, geo.grid_h, 2)   # (K, P, 2)
        xs, _ = _axis_samples(geo.start_x, geo.bin_w, pooled, geo.grid_w, 2)

        def extent(c):
            d = c[..., 1] - c[..., 0]
            return torch.stack([c[..., 0] - d / 2, c[..., 1] + d / 2], -1)
        # interpolation coordinate c: value of cell j sits at c = j, i.e. cell coordinate u = c + 0.5
        ey, ex = (extent(ys) + 0.5 + shift) * s, (extent(xs) + 0.5 + shift) * s
        bins = torch.cat([ey, ex], 1)
        region = torch.stack([ex[:, 0, 0], ey[:, 0, 0], ex[:, -1, 1], ey[:, -1, 1]], 1)
        out[name] = _stats(tb, bins, true_box, region, b, mask_size)
    return out
