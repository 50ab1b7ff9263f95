"""Operations on label maps: class shares per block (heat-map targets), what an output stride can
express, boxes of masks, and instances from a semantic map (connected components per class).

``semantic_to_instances`` is the naive way to get instances from a semantic segmentation network;
lesson 00 uses it to show why semantic segmentation is not instance segmentation: touching objects
of the same class merge into one component.
"""
from __future__ import annotations

import numpy as np

import torch
import torch.nn.functional as F

from .._validate import as_array, as_tensor, check_images, check_int

#: The Pascal VOC "void" label, ignored by losses and metrics.
IGNORE_INDEX = 255

__all__ = ["IGNORE_INDEX", "semantic_to_instances", "boxes_from_masks", "block_targets", "stride_oracle",
           "classification_crops"]


def semantic_to_instances(labels, probs=None, *, min_area: int = 1, background: int = 0) -> dict:
    """Split each class of a label map into 4-connected components.

    labels: (H, W) int class ids; probs: optional (C, H, W) class probabilities, used to score
    each component by the mean probability of its class over its pixels (else score 1.0).
    Returns ``{"masks": (M, H, W) bool, "classes": (M,) int64, "scores": (M,) float32}``,
    components ordered by class then by first pixel in raster order; components smaller than
    ``min_area`` pixels are dropped.
    """
    from scipy import ndimage

    lab = as_array(labels, "labels", ndim=2, kind="int", min_value=0)
    min_area = check_int(min_area, "min_area", min_value=1)
    if probs is not None:
        p = as_array(probs, "probs", ndim=3, kind="float", min_value=0.0, max_value=1.0)
        if p.shape[1:] != lab.shape or p.shape[0] <= lab.max(initial=0):
            raise ValueError(f"probs: expected shape (C, H, W) = (>{lab.max()}, {lab.shape[0]}, "
                             f"{lab.shape[1]}), got {p.shape}")
    masks, classes, scores = [], [], []
    for c in np.unique(lab):
        if c == background:
            continue
        comp, n = ndimage.label(lab == c)
        for k in range(1, n + 1):
            m = comp == k
            if m.sum() < min_area:
                continue
            masks.append(m)
            classes.append(int(c))
            scores.append(float(p[c][m].mean()) if probs is not None else 1.0)
    h, w = lab.shape
    return {"masks": np.array(masks, bool).reshape(-1, h, w),
            "classes": np.array(classes, np.int64),
            "scores": np.array(scores, np.float32)}


def boxes_from_masks(masks) -> np.ndarray:
    """Tight boxes of boolean masks: (M, H, W) -> (M, 4) int64 ``[x1, y1, x2, y2]`` in pixels, x2/y2
    exclusive (``x2 - x1`` is the width); an empty mask gets ``[0, 0, 0, 0]``."""
    m = as_array(masks, "masks", ndim=3).astype(bool)
    rows, cols = m.any(2), m.any(1)                       # (M, H), (M, W)
    h, w = m.shape[1:]
    y1 = np.where(rows.any(1), rows.argmax(1), 0)
    y2 = np.where(rows.any(1), h - rows[:, ::-1].argmax(1), 0)
    x1 = np.where(cols.any(1), cols.argmax(1), 0)
    x2 = np.where(cols.any(1), w - cols[:, ::-1].argmax(1), 0)
    return np.stack([x1, y1, x2, y2], 1).astype(np.int64)


def block_targets(masks: torch.Tensor, num_classes: int, block: int = 32, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """The share of each class in every ``block`` x ``block`` block of a mask.

    masks (N, H, W) int, H and W multiples of ``block`` -> (N, C, H/block, W/block) float; each
    cell sums to 1 over classes (pixels equal to ``ignore_index`` are left out).
    """
    m = as_tensor(masks, "masks", ndim=3, kind="int")
    num_classes = check_int(num_classes, "num_classes", min_value=2)
    block = check_int(block, "block", min_value=1)
    if m.shape[1] % block or m.shape[2] % block:
        raise ValueError(f"masks: expected shape (N, H, W) with H, W multiples of {block}, got {tuple(m.shape)}")
    m = m.long()
    valid = m != ignore_index
    if ((m[valid] < 0) | (m[valid] >= num_classes)).any():
        raise ValueError(f"masks: expected class ids in [0, {num_classes}) or {ignore_index}")
    onehot = F.one_hot(torch.where(valid, m, 0), num_classes).permute(0, 3, 1, 2).float()
    onehot = onehot * valid[:, None].float()
    counts = F.avg_pool2d(onehot, block)
    return counts / counts.sum(1, keepdim=True).clamp_min(1e-12)


def classification_crops(images: torch.Tensor, masks: torch.Tensor, num_classes: int, *, size: int = 96,
                         per_image: int = 2, block: int = 16, foreground: float = 0.5,
                         seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A classification data set cut from segmentation scenes: ``per_image`` square crops of side
    ``size`` per image, each labelled with the class that covers most of the crop's central
    ``block`` x ``block`` pixels (background included; a tie goes to the lower class id). One label
    per image, as in ImageNet: "what is in the middle of this picture?".

    Each crop is centred on a seeded random pixel: with probability ``foreground`` an object pixel
    (if the image has one), else any pixel (background would otherwise dominate the labels). Images
    and masks are mirror-padded by ``size // 2`` (``F.pad(mode="reflect")``) so that every pixel can
    be a centre.

    images (N, 3, H, W), masks (N, H, W) int class ids (H, W > size // 2; ``size - block`` even) ->
    crops (N * per_image, 3, size, size) and labels (N * per_image,) int64; crop j of image i is row
    ``i * per_image + j``.
    """
    x = check_images(images)
    m = as_tensor(masks, "masks", ndim=3, kind="int")
    num_classes = check_int(num_classes, "num_classes", min_value=2)
    size = check_int(size, "size", min_value=2)
    per_image = check_int(per_image, "per_image", min_value=1)
    block = check_int(block, "block", min_value=1, max_value=size)
    if m.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"masks: expected shape (N, H, W) = ({x.shape[0]}, {x.shape[2]}, {x.shape[3]}), "
                         f"got {tuple(m.shape)}")
    if min(x.shape[2:]) <= size // 2 or (size - block) % 2:
        raise ValueError(f"size: expected less than twice the image side {min(x.shape[2:])} with size - block "
                         f"even, got size {size} and block {block}")
    if m.numel() and (m.min() < 0 or m.max() >= num_classes):
        raise ValueError(f"masks: expected class ids in [0, {num_classes})")
    if not isinstance(foreground, (int, float)) or not 0 <= foreground <= 1:
        raise ValueError(f"foreground: expected a probability in [0, 1], got {foreground!r}")
    gen = torch.Generator().manual_seed(check_int(seed, "seed", min_value=0))
    n, h, w = m.shape
    r = size // 2
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    mp = F.pad(m[:, None].float(), (r, r, r, r), mode="reflect")[:, 0].long()
    anywhere = torch.rand(n, per_image, generator=gen) >= foreground
    pick = torch.rand(n, per_image, generator=gen)
    crops = torch.empty(n * per_image, 3, size, size, dtype=x.dtype)
    labels = torch.empty(n * per_image, dtype=torch.int64)
    c = (size - block) // 2
    for i in range(n):
        fg = (m[i] > 0).nonzero()
        for j in range(per_image):
            pool = fg if len(fg) and not anywhere[i, j] else None
            if pool is None:
                k = min(int(pick[i, j] * h * w), h * w - 1)
                cy, cx = divmod(k, w)
            else:
                cy, cx = pool[min(int(pick[i, j] * len(pool)), len(pool) - 1)].tolist()
            crops[i * per_image + j] = xp[i, :, cy:cy + size, cx:cx + size]   # centred on (cy, cx)
            centre = mp[i, cy + c:cy + c + block, cx + c:cx + c + block]
            labels[i * per_image + j] = torch.bincount(centre.flatten(), minlength=num_classes).argmax()
    return crops, labels


def stride_oracle(masks: torch.Tensor, stride: int, num_classes: int, steps: int = 0,
                  lr: float = 0.5) -> torch.Tensor:
    """The ground truth as seen through an FCN head with output stride ``stride``: a score map on
    the stride grid, upsampled by fixed bilinear interpolation (``F.interpolate``, as FCN's last
    step), then argmax. No network: this is what a *perfect* recogniser could draw at that stride.

    masks: (N, H, W) int class ids, H and W multiples of ``stride``. The score map starts as each
    cell's class shares (one-hot masks averaged over ``stride`` x ``stride`` blocks); with
    ``steps > 0`` the scores are then fitted to the truth by Adam on the pixel cross-entropy through
    the same upsampling (sharper score maps, a better estimate of what the grid can represent; not
    a proven ceiling: more steps, or a loss closer to IoU, may do better). Returns (N, H, W) int64 labels.
    """
    steps = check_int(steps, "steps", min_value=0)
    stride = check_int(stride, "stride", min_value=1)
    m = as_tensor(masks, "masks", ndim=3, kind="int").long()
    if (m < 0).any() or (m >= check_int(num_classes, "num_classes", min_value=2)).any():
        raise ValueError(f"masks: expected class ids in [0, {num_classes})")
    scores = block_targets(m, num_classes, stride, ignore_index=-1) * 10.0  # -1: no pixel is void

    def up(z):
        return F.interpolate(z, scale_factor=stride, mode="bilinear", align_corners=False)

    if steps:
        with torch.enable_grad():
            z = scores.clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            for _ in range(steps):
                loss = F.cross_entropy(up(z), m)
                opt.zero_grad()
                loss.backward()
                opt.step()
        scores = z.detach()
    return up(scores).argmax(1)
