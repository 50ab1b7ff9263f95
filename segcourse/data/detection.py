"""The course scenes as a detection dataset (lessons 11-12): torchvision's detection targets
(boxes, labels, masks per image), the eight flips/rotations, fresh training batches rendered in
memory and the validation set (the 80 shipped val scenes, optionally plus scenes rendered from a
seed no training run ever uses).

Labels are the class ids of :data:`segcourse.data.scenes.CLASSES` (1..5), which are also the
``category_id`` of ``data/scenes/annotations/instances_*.json``.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validate import as_tensor, check_int
from ..ops.labels import boxes_from_masks
from .images import image_tensor
from .scene_dataset import load_scene_instances, load_scenes
from .scenes import render_scene

__all__ = ["instance_targets", "dihedral", "detection_batch", "detection_val_set", "DETECTION_VAL_SEED",
           "DETECTION_TRAIN_SEED"]

#: Dataset seed of the extra validation scenes (scene k = ``render_scene(seed * 10**6 + k)``); no
#: training run renders from it.
DETECTION_VAL_SEED = 7
#: Default dataset seed of the training scenes (training run ``s`` uses ``DETECTION_TRAIN_SEED + s``).
DETECTION_TRAIN_SEED = 21


def instance_targets(instance, semantic) -> dict:
    """torchvision's detection target of one image from its label maps.

    instance: (H, W) int instance ids (0 = none, 1..K); semantic: (H, W) int class ids.
    Returns ``{"boxes": (K', 4) float32 [x1, y1, x2, y2) tight around each mask, "labels": (K',)
    int64, "masks": (K', H, W) uint8}`` for the K' non-empty instances in id order.
    """
    inst = as_tensor(instance, "instance", ndim=2, kind="int").long()
    sem = as_tensor(semantic, "semantic", shape=tuple(inst.shape), kind="int").long()
    ids = torch.unique(inst)
    ids = ids[ids > 0]
    masks = inst[None] == ids[:, None, None]                       # (K, H, W)
    labels = torch.stack([sem[m].mode().values for m in masks]) if len(ids) else torch.zeros(0, dtype=torch.int64)
    if (labels == 0).any():
        raise ValueError("semantic: an instance lies on background pixels only; instance and semantic maps disagree")
    boxes = torch.from_numpy(boxes_from_masks(masks.numpy())).float() if len(ids) else torch.zeros(0, 4)
    return {"boxes": boxes, "labels": labels, "masks": masks.to(torch.uint8)}


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on the last two axes: ``k`` in 0..7 is
    ``rot90(k % 4)`` after a horizontal flip when ``k >= 4``. x: (..., H, W) with H == W."""
    k = check_int(k, "k", min_value=0, max_value=7)
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"x: expected a tensor of shape (..., S, S), got {getattr(x, 'shape', type(x).__name__)}")
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def _scene_item(seed: int, size: int, k: int, renderer=render_scene):
    scene = renderer(seed, size)
    image = dihedral(image_tensor(scene.image), k).contiguous()
    inst = dihedral(torch.from_numpy(scene.instance), k)
    sem = dihedral(torch.from_numpy(scene.semantic), k)
    return image, instance_targets(inst, sem)


def detection_batch(step: int, batch_size: int = 8, data_seed: int = DETECTION_TRAIN_SEED, size: int = 128,
                    renderer=render_scene):
    """Training batch ``step`` of a run: ``batch_size`` fresh scenes, each under one of the 8
    flips/rotations. Scene ``i`` of the batch is ``render_scene(data_seed * 10**6 + step *
    batch_size + i)`` (the same in every run with this ``data_seed``, whatever the model), its
    symmetry a seeded draw. Returns (list of (3, S, S) float images in [0, 1], list of targets as
    :func:`instance_targets`). ``renderer(seed, size) -> Scene`` (default :func:`render_scene`)
    draws the scenes, e.g. :func:`segcourse.data.shapes.render_shapes_scene` (lesson 12)."""
    step = check_int(step, "step", min_value=0)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    data_seed = check_int(data_seed, "data_seed", min_value=1)
    if data_seed == DETECTION_VAL_SEED:
        raise ValueError(f"data_seed: {DETECTION_VAL_SEED} renders the validation scenes; pick another")
    first = data_seed * 10**6 + step * batch_size
    ks = np.random.default_rng([data_seed, step]).integers(0, 8, batch_size)
    items = [_scene_item(first + i, size, int(k), renderer) for i, k in enumerate(ks)]
    return [im for im, _ in items], [t for _, t in items]


def detection_val_set(extra: int = 0, size: int = 128):
    """The validation scenes: the 80 shipped val scenes, then ``extra`` scenes rendered from
    :data:`DETECTION_VAL_SEED` (``extra`` > 0 needs ``size`` 128). Returns (images (N, 3, S, S)
    float in [0, 1], list of N targets as :func:`instance_targets`). ``size`` other than 128
    renders ``extra`` scenes at that size instead (the shipped ones are 128 px)."""
    extra = check_int(extra, "extra", min_value=0)
    size = check_int(size, "size", min_value=32, max_value=1024)
    images, targets = [], []
    if size == 128:
        imgs, sem = load_scenes("val")
        inst = load_scene_instances("val")
        images.append(imgs)
        targets += [instance_targets(i, s) for i, s in zip(inst, sem)]
    elif extra == 0:
        raise ValueError("extra: expected > 0 when size is not 128 (the shipped scenes are 128 px)")
    if extra:
        items = [_scene_item(DETECTION_VAL_SEED * 10**6 + k, size, 0) for k in range(extra)]
        images.append(torch.stack([im for im, _ in items]))
        targets += [t for _, t in items]
    return torch.cat(images), targets
