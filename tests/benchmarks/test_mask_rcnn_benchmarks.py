"""Lesson 11: one Mask R-CNN training iteration (8 scenes) with our RoI extractors against
torchvision's ``MultiScaleRoIAlign`` (``./course bench -k mask_rcnn``; not unit tests).

Same shipped weights, same batches, learning rate 0 (the step is timed, the weights do not change);
the best of several iterations each, measured in one run with 2 threads. Also RoIPool (ours; torchvision
has no multi-scale RoIPool) for the study's equal-time comparison. The machine is shared: the ratios
are what a loaded laptop sees.
"""
import copy
import pytest
import torch

import segcourse as sc


def _iteration_seconds(net, repeats=4):
    return min(sc.iteration_seconds(net, steps=repeats, batch_size=8))


def test_training_iteration_ours_vs_torchvision(record_property):
    torch.set_num_threads(2)
    base = sc.load_checkpoint("mask_rcnn")
    t = {impl: _iteration_seconds(sc.set_roi_op(copy.deepcopy(base), "align", impl=impl))
         for impl in ("segcourse", "torchvision")}
    t["pool"] = _iteration_seconds(sc.set_roi_op(copy.deepcopy(base), "pool"))
    ratio = t["torchvision"] / t["segcourse"]
    print(f"\none training iteration: ours (RoIAlign) {t['segcourse']:.3f} s, torchvision's RoIAlign "
          f"{t['torchvision']:.3f} s (torchvision / ours = {ratio:.2f}); ours RoIPool {t['pool']:.3f} s "
          f"(RoIAlign / RoIPool = {t['segcourse'] / t['pool']:.2f})")
    record_property("torchvision_over_ours", ratio)
    assert ratio > 0.8        # ours is not much slower than torchvision's C++ kernel
