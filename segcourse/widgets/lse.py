"""Lesson 12's widget: pick a held-out (B) object and the class whose transferred mask weights draw
its mask; watch the mask change (the probe, one RoI at a time).

The computation is :func:`segcourse.models.lse.transfer_mask_frame` (one RoI's 28 x 28 mask from
one row of the transferred weights, and its IoU with the ground truth), on the features and weights
of :func:`segcourse.models.lse.head_masks_on_gt_boxes`; both tested. This module draws the
default frame with :mod:`segcourse.draw.lse` and wires the controls with :func:`connect`.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validate import check_int
from ..data.shapes import SHAPE_CLASSES, SHAPES_A, SHAPES_B
from ..draw.base import to_rgb
from ..draw.lse import A_COLOR, B_COLOR, draw_mask_prob
from ..models.lse import head_masks_on_gt_boxes, transfer_mask_frame
from .base import _widgets, connect, new_figure

__all__ = ["transfer_explorer"]


def transfer_explorer(model, images, targets, per_class: int = 2, roi: int = 0, source: int | None = None):
    """Swap one held-out object's transferred mask weights for another class's.

    model: an eval-mode LSE model with a transfer head (``sc.load_checkpoint("lse")``); images,
    targets: scenes as :func:`segcourse.models.lse.lse_val_set`; the first ``per_class`` objects of
    each B class become the RoIs (their ground-truth boxes). Controls: the class whose mask weights
    ``T(w_det)`` are used (slider, 1..24; the object's own class by default) and the RoI. Shows
    the RoI, its ground-truth mask, the mask with its own class's weights and with the chosen
    class's. ``widget.state`` is the frame: ``{"roi", "source", "own", "swap"}``.
    """
    data = head_masks_on_gt_boxes(model, images, targets, SHAPES_B, check_int(per_class, "per_class", min_value=1))
    feats, weights, gt, labels = data["features"], data["weights"], data["gt"], data["labels"]
    n = len(labels)
    roi = check_int(roi, "roi", min_value=0, max_value=n - 1)
    k = len(SHAPE_CLASSES) - 1
    source = int(labels[roi]) if source is None else check_int(source, "source", min_value=1, max_value=k)
    counts = {}
    names = []
    for c in labels.tolist():
        counts[c] = counts.get(c, 0) + 1
        names.append(f"{SHAPE_CLASSES[c]} #{counts[c]}")

    def compute(source, roi):
        # a frame is ~50 k multiply-adds: a second thread would only add its wake-up time
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return {"roi": roi, "source": source,
                    "own": transfer_mask_frame(feats, weights, roi, int(labels[roi]), gt),
                    "swap": transfer_mask_frame(feats, weights, roi, source, gt)}
        finally:
            torch.set_num_threads(threads)

    st = compute(source, roi)
    fig, axes = new_figure((7.2, 2.2), ncols=4)
    crop_art = axes[0].imshow(to_rgb(data["crops"][roi]))
    axes[0].set_axis_off()
    axes[0].set_title("RoI", fontsize=9)
    gt_art = draw_mask_prob(gt[roi], ax=axes[1], title="truth")
    own_art = draw_mask_prob(st["own"]["probs"], ax=axes[2], title="own T(w)")
    swap_art = draw_mask_prob(st["swap"]["probs"], ax=axes[3], title="swapped")
    w_ = _widgets()
    controls = {
        "source": w_.IntSlider(value=source, min=1, max=k, description="weights of", continuous_update=True),
        "roi": w_.Dropdown(options=[(nm, i) for i, nm in enumerate(names)], value=roi, description="B object"),
    }

    def adjust(controls, change):
        if change is not None and change.get("owner") is controls["roi"]:
            controls["source"].value = int(labels[change["new"]])   # a new object starts from its own class

    def colour(c):
        return B_COLOR if SHAPE_CLASSES[c] in SHAPES_B else A_COLOR

    def redraw(st):
        r, s = st["roi"], st["source"]
        crop_art.set_data(to_rgb(data["crops"][r]))
        gt_art.set_data(np.asarray(gt[r]))
        own_art.set_data(st["own"]["probs"].numpy())
        swap_art.set_data(st["swap"]["probs"].numpy())
        own_c = int(labels[r])
        group = "A: has masks" if SHAPE_CLASSES[s] in SHAPES_A else "B: no masks"
        return (f'RoI: <b style="color:{B_COLOR}">{SHAPE_CLASSES[own_c]}</b> (B). Mask weights of '
                f'<b style="color:{colour(s)}">{SHAPE_CLASSES[s]}</b> ({group}).<br><code>mask IoU with the '
                f'truth: own weights {st["own"]["iou"]:.3f}, {SHAPE_CLASSES[s]}\'s {st["swap"]["iou"]:.3f}</code>')

    widget = connect(fig, controls, compute, redraw, title="transfer_explorer", adjust=adjust)
    widget.data = data
    return widget
