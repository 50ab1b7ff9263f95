"""Benchmarks of lessons 02 and 04 (``./course bench``; not part of the unit tests).

* FCN-8s: wall time of the shipped training schedule from scratch, and the val mIoU it reaches,
  checked against the shipped checkpoint's reported mIoU (target of the course: >= 0.85 within 60 s).
* Heat maps: sliding window (one classifier call per crop) vs one fully convolutional pass.
"""
import time

import pytest
import torch

import segcourse as sc
from segcourse import fcn


@pytest.fixture(scope="module")
def scenes():
    return sc.load_scenes("train"), sc.load_scenes("val")


def test_fcn8s_training_time_to_reported_miou(benchmark, scenes):
    (images, masks), (val_images, val_masks) = scenes
    result = {}

    def run():
        sc.seed_everything(0)  # as `python -m segcourse.checkpoints fcn8s` does before building
        model = sc.FCN("8s", num_classes=len(sc.CLASSES))
        hist = sc.train_segmentation(model, images, masks, epochs=fcn.FCN_EPOCHS, batch_size=16, lr=3e-3,
                                     seed=0, progress=False)
        conf = sc.confusion_matrix(sc.predict(model, val_images), val_masks, num_classes=len(sc.CLASSES))
        result.update(miou=sc.mean_iou(conf), seconds=hist["seconds"])

    benchmark.pedantic(run, rounds=1, iterations=1)
    reported = sc.load_checkpoint("fcn8s").meta["val_miou"]
    benchmark.extra_info.update(val_miou=round(result["miou"], 4), reported_miou=round(reported, 4),
                                train_seconds=round(result["seconds"], 1), epochs=fcn.FCN_EPOCHS,
                                threads=torch.get_num_threads())
    assert result["miou"] >= reported - 1e-3


@pytest.mark.parametrize("method", ["sliding_window", "fully_convolutional"])
def test_heat_map_cost(benchmark, scenes, method):
    net = sc.load_checkpoint("vgg_heatmap")
    x = scenes[1][0][:8]
    fn = sc.sliding_window if method == "sliding_window" else sc.heat_maps
    benchmark.pedantic(fn, args=(net, x), rounds=3, iterations=1, warmup_rounds=1)


def test_heat_map_cost_ratio(benchmark, scenes):
    """Measured sliding-window / fully-convolutional time ratio (best of 3 each), 8 val images."""
    net = sc.load_checkpoint("vgg_heatmap")
    x = scenes[1][0][:8]

    def best(fn):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn(net, x)
            times.append(time.perf_counter() - t)
        return min(times)

    ratio = benchmark.pedantic(lambda: best(sc.sliding_window) / best(sc.heat_maps), rounds=1, iterations=1)
    benchmark.extra_info["time_ratio"] = round(ratio, 2)
    assert ratio > 1.5
