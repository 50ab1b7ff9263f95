"""Small networks the lessons train on CPU in seconds.

Every model maps images (N, 3, H, W) float in [0, 1] to class scores (N, C, H, W).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .._validate import check_images, check_int

__all__ = ["TinyFCN"]


def _conv(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyFCN(nn.Module):
    """A fully convolutional net small enough to train in under a minute on two CPU cores.

    Three 2x2 max-pools (output stride 8), then dilated 3x3 convs (rates 1, 2, 4) for a receptive
    field that covers large objects, a 1x1 classifier, and bilinear upsampling back to (H, W).
    It is lesson 00's "real prediction"; later lessons build the real FCN and DeepLab.

    forward: images (N, 3, H, W) with H, W divisible by 8 -> scores (N, num_classes, H, W).
    """

    def __init__(self, num_classes: int = 6, width: int = 16):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", min_value=2)
        w = check_int(width, "width", min_value=1)
        self.features = nn.Sequential(
            _conv(3, w), nn.MaxPool2d(2),
            _conv(w, 2 * w), nn.MaxPool2d(2),
            _conv(2 * w, 4 * w), nn.MaxPool2d(2),
            _conv(4 * w, 4 * w), _conv(4 * w, 4 * w, 2), _conv(4 * w, 4 * w, 4),
        )
        self.classifier = nn.Conv2d(4 * w, self.num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = check_images(images)
        if x.shape[1] != 3 or x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"images: expected shape (N, 3, H, W) with H and W divisible by 8, "
                             f"got {tuple(x.shape)}")
        scores = self.classifier(self.features(x))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)
