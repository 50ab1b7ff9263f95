"""Lesson 09's widget: how one RoI assembles its inside / outside maps and its mask (FCIS).

The computation is :func:`segcourse.ops.fcis.fcis_frame` (tested); the score maps are either derived
from the ground truth (:func:`segcourse.ops.fcis.gt_score_maps`, any k) or a trained
:class:`segcourse.models.fcis.FCIS`'s (its own k). This module only draws and wires.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validate import as_tensor, check_int
from ..data.images import image_tensor
from ..draw.base import to_rgb
from ..draw.fcis import draw_ps_tiles, draw_roi_grid, draw_score_map, grid_segments, tile_mosaic
from ..ops.fcis import assemble_inside_outside, fcis_frame, fcis_mask_and_score, gt_score_maps, paste_masks
from .base import _widgets, connect, new_figure

__all__ = ["fcis_explorer"]

_SIZE = 60           # side of the assembled maps shown (divisible by every k of the slider)
_MAX_K = 6
_GT, _TRAINED = "ground truth", "trained FCIS"


def _side_by_side(a, b, gap: int = 4) -> np.ndarray:
    """Two (M, M) maps in one image, a blank (NaN) gap between them."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.concatenate([a, np.full((a.shape[0], gap), np.nan), b], axis=1)


def fcis_explorer(image, instance, classes, model=None, *, roi: int = 0, k: int = 3, source: str = _GT,
                  class_names=None, strength: float = 4.0):
    """Pick a RoI (one object's box) and k: the k x k position-sensitive inside maps of its class that
    the RoI reads from (each shown over the whole RoI, bright where the RoI reads it), and the
    assembled inside, outside and mask P(inside) = softmax(inside, outside).

    image: (H, W, 3) uint8 or (3, H, W) float; instance: (H, W) int (0 = none, 1..n); classes: (n,)
    class ids. The RoIs are the objects' tight boxes. source: "ground truth" (the score maps a perfect
    FCIS would output, :func:`~segcourse.ops.fcis.gt_score_maps`, k from 1 to 6) or "trained FCIS"
    (``model``'s maps; k is then the model's).
    """
    from ..models.fcis import instance_boxes

    rgb = to_rgb(image)
    inst = as_tensor(instance, "instance", shape=rgb.shape[:2], kind="int", min_value=0).long()
    cls = as_tensor(classes, "classes", ndim=1, kind="int").long()
    if int(inst.max()) == 0:
        raise ValueError("instance: the scene has no object, so there is no RoI to show")
    if int(inst.max()) != len(cls) or len(torch.unique(inst)) != len(cls) + 1:
        raise ValueError(f"classes: expected one class per instance id 1..{int(inst.max())}, got {len(cls)}")
    masks, _, boxes = instance_boxes(cls[inst.clamp(min=1) - 1] * (inst > 0), inst)
    n_classes = int(model.num_classes) if model is not None else max(int(cls.max()) + 1, 2)
    if class_names is not None:
        n_classes = max(n_classes, len(class_names))
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    roi = check_int(roi, "roi", min_value=0, max_value=len(boxes) - 1)
    k = check_int(k, "k", min_value=1, max_value=_MAX_K)
    sources = [_GT] + ([_TRAINED] if model is not None else [])
    if source not in sources:
        raise ValueError(f"source: expected one of {sources}, got {source!r}")
    if source == _TRAINED:
        k = model.k
    height, width = inst.shape
    cache: dict = {}

    def maps_for(src: str, kk: int):
        """(score maps, spatial scale, detection probs of every RoI, colour range) per source and k."""
        key = (src, kk)
        if key not in cache:
            if src == _GT:
                maps, scale, m = gt_score_maps(inst, cls, kk, n_classes, strength), 1.0, 12
                lo, hi = 0.0, strength
            else:
                with torch.no_grad():
                    model.eval()
                    maps = model.score_maps(image_tensor(image)[None] if isinstance(image, np.ndarray)
                                            else torch.as_tensor(image, dtype=torch.float32)[None])[0]
                scale, m = 1.0 / model.stride, model.mask_size
                hi = float(maps.abs().quantile(0.99))
                lo = -hi
            with torch.no_grad():
                probs = fcis_mask_and_score(*assemble_inside_outside(
                    maps[None], [boxes], kk, n_classes, m, spatial_scale=scale)).probs
            cache[key] = (maps, scale, probs, lo, hi)
        return cache[key]

    def compute(roi, k, source="ground truth"):
        kk = model.k if source == _TRAINED else k
        maps, scale, probs, lo, hi = maps_for(source, kk)
        c = int(cls[roi])
        frame = fcis_frame(maps, boxes[roi], kk, c, spatial_scale=scale, size=_SIZE)
        pasted = paste_masks(frame["mask"][None], boxes[roi][None], (height, width))[0] >= 0.5
        true = masks[roi]
        union = int((pasted | true).sum())
        frame.update(roi=roi, source=source, probs=probs[roi], vmin=lo, vmax=hi,
                     mask_iou=(int((pasted & true).sum()) / union) if union else 1.0)
        return frame

    fig, axes = new_figure((10.0, 2.6), ncols=4)
    for ax, ratio in zip(axes, (1, 1, 2.1, 1)):                  # inside | outside share one wide panel
        ax.set_box_aspect(1 / ratio)
    ax_img, ax_tiles, ax_io, ax_mask = axes
    first = compute(roi, k, source)
    scene = draw_roi_grid(rgb, boxes, roi, first["k"], ax=ax_img, title="RoI, k x k grid")
    tiles = draw_ps_tiles(first, "inside", ax=ax_tiles, vmin=first["vmin"], vmax=first["vmax"],
                          title="k x k inside maps")
    pair = draw_score_map(_side_by_side(first["inside"], first["outside"]), ax=ax_io, vmin=first["vmin"],
                          vmax=first["vmax"], title="inside | outside")
    mask = draw_score_map(first["mask"], ax=ax_mask, vmin=0, vmax=1, cmap="viridis",
                          title="mask")

    w = _widgets()
    controls = {"roi": w.IntSlider(value=roi, min=0, max=len(boxes) - 1, description="RoI"),
                "k": w.IntSlider(value=first["k"], min=1, max=_MAX_K, description="k",
                                 disabled=source == _TRAINED)}
    if model is not None:
        controls["source"] = w.Dropdown(options=sources, value=source, description="maps")

    def adjust(ctl, change):
        if "source" in ctl:
            trained = ctl["source"].value == _TRAINED
            if trained:
                ctl["k"].value = model.k
            ctl["k"].disabled = trained

    def redraw(fr):
        b = fr["box"].numpy()
        (x, y), bw, bh = (b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1]
        scene["box"].set_bounds(x, y, bw, bh)
        scene["grid"].set_segments(grid_segments(b, fr["k"]))
        tiles["image"].set_data(tile_mosaic(fr["tiles_inside"], fr["reads"], vmin=fr["vmin"], vmax=fr["vmax"]))
        n = tiles["image"].get_array().shape[0]
        tiles["image"].set_extent((-0.5, n - 0.5, n - 0.5, -0.5))
        pair["image"].set_data(_side_by_side(fr["inside"], fr["outside"]))
        pair["image"].set_clim(fr["vmin"], fr["vmax"])
        mask["image"].set_data(fr["mask"].numpy())
        p = fr["probs"]
        best = int(p[1:].argmax()) + 1
        scores = ", ".join(f"{names[c]} {float(p[c]):.2f}" for c in range(len(p)))
        return (f"<code>RoI {fr['roi']}: box ({b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}), true class "
                f"{names[fr['cls']]}; {fr['source']} maps, k = {fr['k']} ({fr['k'] ** 2} inside + "
                f"{fr['k'] ** 2} outside maps per class)<br>detection scores (softmax over classes of the "
                f"mean of max(inside, outside)): {scores} -> {names[best]}<br>mask (P(inside) >= 0.5, "
                f"pasted into the image) vs the object's true mask: IoU = {fr['mask_iou']:.3f}</code>")

    widget = connect(fig, controls, compute, redraw, title="fcis_explorer", adjust=adjust)
    widget.boxes = boxes
    return widget
