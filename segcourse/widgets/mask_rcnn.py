"""Lesson 11's widget: move Mask R-CNN's last two knobs, the score threshold and the NMS IoU, and
watch the detections of a scene and the mask AP of a set of scenes change.

The computation is :func:`segcourse.models.mask_rcnn.threshold_frame` (tested), on the
candidates :func:`~segcourse.models.mask_rcnn.detection_candidates` computes once; the pictures
are :func:`segcourse.draw.mask_rcnn.draw_detections` and
:func:`~segcourse.draw.mask_rcnn.draw_ranked_detections`, updated in place.
"""
from __future__ import annotations

from .._validate import check_float, check_images, check_int
from ..data.scenes import CLASSES
from ..draw.mask_rcnn import draw_detections, draw_ranked_detections, update_detections, update_ranked_detections
from ..models.mask_rcnn import detection_candidates, scene_detections, threshold_context, threshold_frame
from .base import _widgets, connect, new_figure

__all__ = ["detection_explorer"]

_LABELS = 3      # text labels for the scene's best detections only (matplotlib text boxes are slow)


def detection_explorer(model, images, targets: list, scene: int = 0, score_threshold: float = 0.05,
                       nms_iou: float = 0.5):
    """Score threshold (0.05-0.95), per-class NMS IoU (0.1-0.95) and the scene shown.

    model: an eval-mode Mask R-CNN (``sc.load_checkpoint("mask_rcnn")``); images: (N, 3, S, S) in
    [0, 1], a few scenes (the AP is computed on all of them at every change); targets: their
    :func:`~segcourse.data.detection.instance_targets`. Left: the scene's kept detections. Right:
    every kept detection of all N scenes by rank and score, green where it matches an object.
    ``widget.state`` is the :func:`threshold_frame` dict."""
    images = check_images(images, min_value=0, max_value=1)
    if len(targets) != len(images):
        raise ValueError(f"targets: expected one per image ({len(images)}), got {len(targets)}")
    scene = check_int(scene, "scene", min_value=0, max_value=len(images) - 1)
    score_threshold = check_float(score_threshold, "score_threshold", min_value=0.05, max_value=0.95)
    nms_iou = check_float(nms_iou, "nms_iou", min_value=0.1, max_value=0.95)
    cands = detection_candidates(model, images)
    context = threshold_context(cands, targets)
    most = max(len(c["scores"]) for c in cands) * len(cands)

    frames = {}

    def compute(scene, score_threshold, nms_iou):
        # the all-scene part (filtering, matching, AP) depends on the thresholds only
        key = (round(score_threshold, 6), round(nms_iou, 6))
        if key not in frames:
            frames[key] = threshold_frame(context, 0, score_threshold, nms_iou)
        frame = dict(frames[key])
        if scene != 0:
            frame["detections"] = scene_detections(context, scene, score_threshold, nms_iou)
        frame["scene"] = scene
        return frame

    first = compute(scene, score_threshold, nms_iou)
    fig, axes = new_figure((8.4, 3.6), ncols=2)
    det_art = draw_detections(images[scene], first["detections"], CLASSES, ax=axes[0])
    rank_art = draw_ranked_detections(first["ranked"], first["ranked_tp"], first["objects"], score_threshold,
                                      ax=axes[1])
    w = _widgets()
    slider = dict(continuous_update=False, layout=w.Layout(width="260px"), style={"description_width": "90px"})
    controls = {
        "scene": w.IntSlider(value=scene, min=0, max=len(images) - 1, description="scene", **slider),
        "score_threshold": w.FloatSlider(value=score_threshold, min=0.05, max=0.95, step=0.05,
                                         description="score thresh.", **slider),
        "nms_iou": w.FloatSlider(value=nms_iou, min=0.1, max=0.95, step=0.05, description="NMS IoU", **slider),
    }

    ranked_at = [None]          # the thresholds the right panel shows (None: set its fixed x range first)

    def redraw(st):
        update_detections(det_art, images[st["scene"]], st["detections"], CLASSES, max_labels=_LABELS)
        if (st["score_threshold"], st["nms_iou"]) != ranked_at[0]:  # another scene alone leaves it as it is
            update_ranked_detections(rank_art, st["ranked"], st["ranked_tp"], st["objects"], st["score_threshold"],
                                     min(most, 400))
            ranked_at[0] = (st["score_threshold"], st["nms_iou"])
        d = st["detections"]
        n_tp = int(st["ranked_tp"].sum())
        return (f"<code>scene {st['scene']}: {len(d['scores'])} detections kept, {int(d['tp'].sum())} match an "
                f"object<br>all {len(images)} scenes: {len(st['ranked'])} kept, {n_tp} true positives, "
                f"{st['objects']} objects · mask AP {st['AP']:.3f}, AP50 {st['AP50']:.3f}, AP75 {st['AP75']:.3f}</code>")

    def alone(previous, st):   # only data moves (fixed limits): redraw the data of the panels that changed
        same = (previous["score_threshold"], previous["nms_iou"]) == (st["score_threshold"], st["nms_iou"])
        return [axes[0]] if same else [axes[0], axes[1]]

    return connect(fig, controls, compute, redraw, title="detection_explorer", alone=alone)
