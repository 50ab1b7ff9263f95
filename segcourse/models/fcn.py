"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer, Darrell, arXiv:1411.4038), lesson 04.

The course VGG backbone with SAME (padding 1) convolutions, fc6/fc7 as convolutions, and the skip
architecture (多层feature跳接结构): coarse scores upsampled by transposed convolutions initialised
to bilinear interpolation (lesson 03) and fused with scores of pool4 and pool3.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .._validate import as_tensor, check_choice, check_images, check_int
from ..ops.upsampling import bilinear_upsampler
from .common import zero_conv
from .vgg import VGG_WIDTHS, VGGBackbone

__all__ = ["FCN", "FCN_VARIANTS", "center_crop", "fuse_scores"]

FCN_VARIANTS = ("32s", "16s", "8s")


def center_crop(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Crop ``x`` (N, C, H, W) to the spatial size of ``like`` (.., h, w), centred (Caffe's Crop)."""
    x = as_tensor(x, "x", ndim=4)
    like = as_tensor(like, "like", ndim=(2, 3, 4))
    h, w = like.shape[-2:]
    if x.shape[2] < h or x.shape[3] < w:
        raise ValueError(f"x: expected shape (N, C, H, W) with H >= {h} and W >= {w} to crop to like, "
                         f"got {tuple(x.shape)}")
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


def fuse_scores(upsampled: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """FCN's fusion: crop the upsampled coarse scores to the skip scores' size, then add (sum fusion).

    upsampled (N, C, H', W') with H' >= H, W' >= W; skip (N, C, H, W) -> (N, C, H, W).
    """
    up = as_tensor(upsampled, "upsampled", ndim=4, kind="float")
    skip = as_tensor(skip, "skip", ndim=4, kind="float")
    if up.shape[:2] != skip.shape[:2]:
        raise ValueError(f"skip: expected shape (N, C, H, W) = ({up.shape[0]}, {up.shape[1]}, H, W) "
                         f"to match upsampled {tuple(up.shape)}, got {tuple(skip.shape)}")
    return center_crop(up, skip) + skip


class FCN(nn.Module):
    """FCN-32s, FCN-16s or FCN-8s (Long, Shelhamer, Darrell, arXiv:1411.4038) on the course VGG.

    Backbone: :class:`VGGBackbone` with SAME convolutions; fc6 is a ``fc6_kernel`` x ``fc6_kernel``
    SAME convolution and fc7 a 1x1 convolution (VGG's fc layers, convolutionalized); ``score_fr``
    a 1x1 convolution to class scores at stride 32.

    * 32s: scores at stride 32, upsampled 32x by fixed bilinear interpolation.
    * 16s: 2x transposed conv (bilinear init, learned) of the stride-32 scores, plus ``score_pool4``
      (1x1 conv on pool4, zero init) -> stride 16, then fixed bilinear 16x.
    * 8s: the same once more with ``score_pool3`` -> stride 8, then fixed bilinear 8x.

    Zero-initialised skip scores mean a fresh 16s/8s has exactly its coarser parent's stride-32
    scores, upsampled 2x (4x) bilinearly: nearly, not exactly, the parent's output, since repeated
    2x bilinear steps differ from one large bilinear step. forward: images (N, 3, H, W), H and W multiples of 32 -> (N, C, H, W).
    """

    def __init__(self, variant: str = "8s", num_classes: int = 6, widths=VGG_WIDTHS, fc_width: int = 128,
                 fc6_kernel: int = 3, batchnorm: bool = True):
        super().__init__()
        self.variant = check_choice(variant, "variant", FCN_VARIANTS)
        self.num_classes = check_int(num_classes, "num_classes", min_value=2)
        fc_width = check_int(fc_width, "fc_width", min_value=1)
        k = check_int(fc6_kernel, "fc6_kernel", min_value=1)
        if k % 2 == 0:
            raise ValueError(f"fc6_kernel: expected an odd int (SAME padding), got {k}")
        self.backbone = VGGBackbone(widths, padding=1, batchnorm=batchnorm)
        w = self.backbone.widths
        bn = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        self.fc6 = nn.Sequential(nn.Conv2d(w[4], fc_width, k, padding=k // 2), bn(fc_width), nn.ReLU(inplace=True))
        self.fc7 = nn.Sequential(nn.Conv2d(fc_width, fc_width, 1), bn(fc_width), nn.ReLU(inplace=True))
        self.score_fr = nn.Conv2d(fc_width, self.num_classes, 1)
        if self.variant in ("16s", "8s"):
            self.score_pool4 = zero_conv(w[3], self.num_classes)
            self.up_fr = bilinear_upsampler(2, self.num_classes)
        if self.variant == "8s":
            self.score_pool3 = zero_conv(w[2], self.num_classes)
            self.up_pool4 = bilinear_upsampler(2, self.num_classes)

    @property
    def output_stride(self) -> int:
        return {"32s": 32, "16s": 16, "8s": 8}[self.variant]

    def score_maps(self, images: torch.Tensor) -> dict:
        """The coarse score maps on the way: ``stride32`` and, for 16s/8s, ``stride16``, ``stride8``."""
        x = check_images(images)
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"images: expected shape (N, 3, H, W) with H and W multiples of 32, "
                             f"got {tuple(x.shape)}")
        return self.scores_from_pools(self.backbone._pools(x))

    def scores_from_pools(self, pools: list) -> dict:
        """:meth:`score_maps` from the backbone's five pooled maps [pool1, ..., pool5] (only pool3-5
        are read): lets a caller that keeps the early blocks fixed compute them once."""
        maps = {"stride32": self.score_fr(self.fc7(self.fc6(pools[4])))}
        if self.variant in ("16s", "8s"):
            maps["stride16"] = fuse_scores(self.up_fr(maps["stride32"]), self.score_pool4(pools[3]))
        if self.variant == "8s":
            maps["stride8"] = fuse_scores(self.up_pool4(maps["stride16"]), self.score_pool3(pools[2]))
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.score_maps(images)
        last = maps[f"stride{self.output_stride}"]
        return F.interpolate(last, scale_factor=self.output_stride, mode="bilinear", align_corners=False)
