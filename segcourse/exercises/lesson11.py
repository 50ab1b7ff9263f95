"""Lesson 11's exercises: Mask R-CNN.

* 11.fpn_level  -- which FPN level a box's RoI is pooled from (k = floor(4 + log2(sqrt(wh) / 64))).
* 11.mask_loss  -- the mask loss of one RoI: sigmoid BCE of the ground-truth class's map only.
* 11.anchors    -- how many anchors the RPN scores on an S x S image.

Expected values come from the library (``fpn_levels``, torchvision's ``binary_cross_entropy_with_logits``,
the model's anchor generator, all tested) and agree with the hand-worked values next to each case.
A wrong answer is compared with typical mistakes; the feedback names the mistake, never the value.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..models.mask_rcnn import MASK_RCNN_CONFIG
from ..ops.roi import fpn_levels
from .checking import Case, Exercise, check_with_mistakes

__all__ = ["EXERCISES", "fpn_level_cases", "mask_loss_cases", "anchors_cases", "MISTAKES"]

_K_MIN, _K_MAX = 3, 5     # the FPN levels of the course model (strides 8, 16, 32)


# -- 11.fpn_level ----------------------------------------------------------------------------------

def fpn_level_cases() -> list[Case]:
    """``fpn_level(w, h)`` -> level 3, 4 or 5. Hand-worked with canonical 64 px at level 4:
    20 x 20: 4 + log2(20/64) = 2.32 -> 2 -> clamped to 3; 64 x 64: exactly 4; 63 x 63: 3.98 -> 3;
    40 x 160: sqrt = 80, 4.32 -> 4; 128 x 128: 5; 300 x 300: 6.2 -> clamped to 5; 32 x 32: 3."""
    sizes = [("a 20 x 20 box", 20, 20), ("64 x 64", 64, 64), ("63 x 63", 63, 63), ("a long 40 x 160 box", 40, 160),
             ("128 x 128", 128, 128), ("300 x 300", 300, 300), ("32 x 32", 32, 32)]
    cfg = MASK_RCNN_CONFIG

    def expected(w, h):
        box = torch.tensor([[0.0, 0.0, float(w), float(h)]])
        return int(fpn_levels([box], _K_MIN, _K_MAX, cfg["canonical_scale"], cfg["canonical_level"])[0]) + _K_MIN
    return [Case(name, (w, h), expected(w, h)) for name, w, h in sizes]


def _solution_fpn_level():
    def fpn_level(w, h):
        k = math.floor(4 + math.log2(math.sqrt(w * h) / 64) + 1e-6)
        return min(max(k, 3), 5)
    return fpn_level


def _level_wrong(canonical=64, clamp=True, rounding=math.floor, size=lambda w, h: math.sqrt(w * h)):
    def wrong(w, h):
        k = rounding(4 + math.log2(size(w, h) / canonical) + 1e-6)
        return min(max(k, 3), 5) if clamp else k
    return wrong


_LEVEL_MISTAKES = {
    "coco_224": (_level_wrong(canonical=224), "the course model's canonical size is 64 px at level 4, not COCO's 224 "
                                              "(with 224 every RoI of a 128-px image lands on the finest level)"),
    "no_clamp": (_level_wrong(clamp=False), "the level is clamped to the levels that exist (3 to 5)"),
    "max_side": (_level_wrong(size=max), "the scale of a box is sqrt(w * h), not its longer side"),
    "area": (_level_wrong(size=lambda w, h: w * h), "the scale of a box is sqrt(w * h), its side length, not its area"),
    "round": (_level_wrong(rounding=round), "FPN's rule takes the floor of 4 + log2(...), not the nearest integer"),
    "ceil": (_level_wrong(rounding=math.ceil), "FPN's rule takes the floor of 4 + log2(...), not the ceiling"),
}


def _check_fpn_level(fn):
    return check_with_mistakes(fn, fpn_level_cases(), _LEVEL_MISTAKES, atol=1e-9)


# -- 11.mask_loss ----------------------------------------------------------------------------------

def mask_loss_cases() -> list[Case]:
    """``mask_loss(logits, label, target)`` -> float. logits (K, M, M) of one RoI, label its
    ground-truth class, target (M, M) 0/1. Hand-worked: all logits 0 -> log 2 = 0.693 whatever
    the target; a 1 x 1 map with logit 2 of the label and target 1 -> log(1 + e^-2) = 0.127."""
    g = torch.Generator().manual_seed(11)
    cases = [("all logits zero", torch.zeros(6, 4, 4), 3, (torch.rand(4, 4, generator=g) > 0.5).float()),
             ("one pixel", torch.tensor([[[0.5]], [[2.0]], [[-3.0]]]), 1, torch.tensor([[1.0]])),
             ("a random 28 x 28 RoI", torch.randn(6, 28, 28, generator=g) * 3, 4,
              (torch.rand(28, 28, generator=g) > 0.6).float()),
             ("label 5, confident", torch.randn(6, 8, 8, generator=g) * 6, 5, (torch.rand(8, 8, generator=g) > 0.3).float())]
    return [Case(name, (lg, lab, t), float(F.binary_cross_entropy_with_logits(lg[lab], t))) for name, lg, lab, t in cases]


def _solution_mask_loss():
    def mask_loss(logits, label, target):
        z = logits[label]                                     # only the ground-truth class's map
        # -[t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))], computed stably, averaged over pixels
        return float((torch.clamp(z, min=0) - z * target + torch.log1p(torch.exp(-z.abs()))).mean())
    return mask_loss


def _loss_softmax(logits, label, target):
    logp = logits.log_softmax(0)
    return float(-(target * logp[label]).mean())


def _loss_all_classes(logits, label, target):
    return float(F.binary_cross_entropy_with_logits(logits, target.expand_as(logits)))


def _loss_sum(logits, label, target):
    return float(F.binary_cross_entropy_with_logits(logits[label], target, reduction="sum"))


def _loss_positive_only(logits, label, target):
    z = logits[label]
    return float(-(target * F.logsigmoid(z)).mean())


_MASK_MISTAKES = {
    "softmax": (_loss_softmax, "Mask R-CNN does not let the classes compete per pixel (no softmax across classes): "
                               "each class has its own sigmoid, and only the ground-truth class's map is scored"),
    "all": (_loss_all_classes, "only the ground-truth class's map is trained; the other classes' maps get no loss "
                               "for this RoI (the box head already chose the class)"),
    "sum": (_loss_sum, "the loss is the mean over the M x M pixels, not their sum"),
    "positives": (_loss_positive_only, "binary cross-entropy has two terms: background pixels (target 0) count too, "
                                       "through log(1 - sigmoid(z))"),
}


def _check_mask_loss(fn):
    return check_with_mistakes(fn, mask_loss_cases(), _MASK_MISTAKES, atol=1e-5)


# -- 11.anchors --------------------------------------------------------------------------------------

def anchors_cases() -> list[Case]:
    """``anchors(size)`` -> the number of anchors the course RPN scores on a size x size image
    (levels at strides 8, 16, 32; 2 sizes x 3 ratios per location). Hand-worked for 128: (16^2 +
    8^2 + 4^2) x 6 = 336 x 6 = 2016; for 256: (32^2 + 16^2 + 8^2) x 6 = 8064."""
    cfg = MASK_RCNN_CONFIG
    per = len(cfg["anchor_sizes"][0]) * len(cfg["aspect_ratios"])

    def expected(size):
        return sum(math.ceil(size / s) ** 2 for s in cfg["fpn_strides"]) * per
    return [Case(f"{s} x {s}", (s,), expected(s)) for s in (128, 256, 64, 96)]


def _solution_anchors():
    def anchors(size):
        per_location = 2 * 3                       # 2 sizes x 3 aspect ratios on every level
        return sum((size // stride) ** 2 for stride in (8, 16, 32)) * per_location
    return anchors


_ANCHOR_MISTAKES = {
    "one_level": ((lambda size: (size // 8) ** 2 * 6), "every FPN level has its own anchors: add up the three grids"),
    "no_per_location": ((lambda size: sum((size // s) ** 2 for s in (8, 16, 32))),
                        "each location has one anchor per (size, aspect ratio) pair: 2 x 3"),
    "nine": ((lambda size: sum((size // s) ** 2 for s in (8, 16, 32)) * 9),
             "Faster R-CNN's 9 anchors per location are 3 sizes x 3 ratios; here each level has 2 sizes"),
    "linear": ((lambda size: sum(size // s for s in (8, 16, 32)) * 6), "a level of stride s is a (size/s) x (size/s) grid"),
}


def _check_anchors(fn):
    return check_with_mistakes(fn, anchors_cases(), _ANCHOR_MISTAKES, atol=1e-9)


MISTAKES = {"11.fpn_level": _LEVEL_MISTAKES, "11.mask_loss": _MASK_MISTAKES, "11.anchors": _ANCHOR_MISTAKES}

EXERCISES = {
    "11.fpn_level": Exercise("the FPN level a box is pooled from", _check_fpn_level, _solution_fpn_level),
    "11.mask_loss": Exercise("the mask loss of one RoI", _check_mask_loss, _solution_mask_loss),
    "11.anchors": Exercise("how many anchors the RPN scores", _check_anchors, _solution_anchors),
}
