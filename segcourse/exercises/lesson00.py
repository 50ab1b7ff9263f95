"""Lesson 00's exercises and quiz material (registered with :mod:`segcourse.exercises`)."""
from __future__ import annotations

import numpy as np

from .checking import Exercise, Case, check_function, check_value

__all__ = ["quiz_panels", "iou_cases", "confusion_cases"]


def _box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def iou_cases() -> list[Case]:
    """Cases for ``iou(pred, target)`` on boolean masks; expected values worked out by hand."""
    a = _box(4, 4, 0, 2, 0, 2)                  # 4 pixels
    shifted = _box(4, 4, 0, 2, 1, 3)            # overlaps a in 2 pixels, union 6
    big = _box(4, 4, 0, 4, 0, 4)                # 16 pixels containing a
    far = _box(4, 4, 2, 4, 2, 4)                # disjoint from a
    line = _box(1, 5, 0, 1, 0, 3)               # 3 pixels; vs 2 of them
    return [Case("identical squares", (a, a.copy()), 1.0),
            Case("square shifted by one pixel", (shifted, a), 2 / 6),
            Case("small square inside a big one", (a, big), 4 / 16),
            Case("disjoint squares", (far, a), 0.0),
            Case("1x5 strip, 2 of 3 pixels predicted", (_box(1, 5, 0, 1, 0, 2), line), 2 / 3)]


def confusion_cases() -> list[Case]:
    """Cases for ``iou_from_confusion(conf)``: rows = ground truth, columns = prediction."""
    c3 = np.array([[50, 2, 0], [3, 20, 5], [0, 0, 10]])
    # class 0: TP 50, FP 3 (column) , FN 2 (row) -> 50/55; class 1: 20/(20+2+8) ; class 2: 10/15
    return [Case("3 classes", (c3,), np.array([50 / 55, 20 / 30, 10 / 15])),
            Case("perfect 2 classes", (np.array([[7, 0], [0, 3]]),), np.array([1.0, 1.0])),
            Case("all wrong", (np.array([[0, 4], [6, 0]]),), np.array([0.0, 0.0]))]


def _check_iou(fn):
    return check_function(fn, iou_cases(), atol=1e-6)


def _check_iou_from_confusion(fn):
    return check_function(fn, confusion_cases(), atol=1e-6)


def quiz_panels(seed: int = 4):
    """Four label maps of scenes: two coloured by class, two by instance, in a fixed order.

    Returns ``(panels, kinds)``: panels is a list of (H, W) int label maps, kinds a list of
    "semantic" or "instance". Chosen scenes have at least two instances of one class, each
    with at least 150 visible pixels, so the duplicate shapes are easy to see.
    """
    from ..data.scenes import render_scene
    panels, kinds = [], []
    order = ["semantic", "instance", "instance", "semantic"]
    s = seed
    while len(panels) < 4:
        scene = render_scene(s)
        s += 1
        big = scene.classes[scene.areas >= 150]  # duplicates must be big enough to recognise
        if len(scene.classes) < 3 or len(big) == 0 or np.unique(big, return_counts=True)[1].max() < 2:
            continue
        kind = order[len(panels)]
        panels.append(scene.semantic if kind == "semantic" else scene.instance)
        kinds.append(kind)
    return panels, kinds


def _check_which_instance(answer):
    _, kinds = quiz_panels()
    expected = {letter for letter, k in zip("ABCD", kinds) if k == "instance"}
    if isinstance(answer, str):
        answer = set(answer.replace(",", " ").upper().split())
    if not isinstance(answer, (set, frozenset, list, tuple)):
        return False, [f"expected a set of letters such as {{'A', 'B'}}, got {answer!r}"[:120]]
    answer = {str(a).strip().upper() for a in answer}
    if answer - set("ABCD"):
        return False, [f"only the letters A-D name panels; got {sorted(answer - set('ABCD'))}"]
    if answer == expected:
        return check_value(answer, expected, what="instance panels")
    right, wrong = len(answer & expected), len(answer - expected)
    # say how far off the answer is without giving the letters away
    return False, [f"{len(expected)} panels are instance maps: your set has {right} of them and "
                   f"{wrong} semantic map(s)",
                   "Hint: in an instance map two objects of the same class get different colours; "
                   "in a semantic map they share their class's colour."]


def _solution_iou():
    def iou(pred, target):
        pred, target = np.asarray(pred, bool), np.asarray(target, bool)
        return (pred & target).sum() / (pred | target).sum()
    return iou


def _solution_iou_from_confusion():
    def iou_from_confusion(conf):
        conf = np.asarray(conf, dtype=float)
        tp = np.diag(conf)
        return tp / (conf.sum(axis=0) + conf.sum(axis=1) - tp)  # column sum = TP+FP, row sum = TP+FN
    return iou_from_confusion


def _solution_which_instance():
    # In B and C two objects of the same shape have different colours, and the colours do not match
    # the class legend, so each colour is an object, not a class. In A and D every object of one
    # shape shares its class's colour.
    return {"B", "C"}


#: This lesson's exercises: key -> Exercise(title, checker, solution).
EXERCISES = {
    "00.iou": Exercise("IoU of two boolean masks", _check_iou, _solution_iou),
    "00.iou_from_confusion": Exercise("per-class IoU from a confusion matrix", _check_iou_from_confusion, _solution_iou_from_confusion),
    "00.which_instance": Exercise("which panels are instance segmentations", _check_which_instance, _solution_which_instance),
}
