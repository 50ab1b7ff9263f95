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
from .heat_map import VGGClassifier
from .vgg import VGG_WIDTHS, VGGBackbone, fc_as_conv

__all__ = ["FCN", "FCN_VARIANTS", "center_crop", "fuse_scores", "init_from_classifier"]

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


@torch.no_grad()
def init_from_classifier(fcn: FCN, classifier: VGGClassifier) -> FCN:
    """FCN's central move (section 3.1 of the paper): convolutionalize a trained classifier and use it
    as the segmenter's start. Copies, in place, ``classifier``'s backbone into ``fcn.backbone``, its
    fc6 (Linear on a k x k pool5 window) into the k x k convolution ``fcn.fc6`` by a reshape
    (``fc_as_conv``), fc7 into the 1x1 ``fcn.fc7`` and fc8 into the class scores ``fcn.score_fr``,
    with fc6/fc7's BatchNorm statistics. The skip scores and upsamplers keep their start (zero,
    bilinear). Returns ``fcn``.

    The classifier must have the FCN's layers: ``VGGClassifier(..., padding=1, fc_batchnorm=True)``
    with the same widths, fc width, fc6 kernel, classes and backbone BatchNorm. Then, in eval mode,
    the centre cell of FCN-32s's stride-32 scores on one crop equals the classifier's scores for it.
    """
    if not isinstance(fcn, FCN):
        raise TypeError(f"fcn: expected an FCN, got {type(fcn).__name__}")
    if not isinstance(classifier, VGGClassifier):
        raise TypeError(f"classifier: expected a VGGClassifier, got {type(classifier).__name__}")
    conv6 = fcn.fc6[0]
    want = {"padding": 1, "widths": fcn.backbone.widths, "fc width": conv6.out_channels,
            "fc6 kernel": conv6.kernel_size[0], "classes": fcn.num_classes,
            "fc BatchNorm": not isinstance(fcn.fc6[1], nn.Identity),
            "backbone BatchNorm": any(isinstance(m, nn.BatchNorm2d) for m in fcn.backbone.modules())}
    have = {"padding": classifier.features.padding, "widths": classifier.features.widths,
            "fc width": classifier.fc6.out_features, "fc6 kernel": classifier.fc6_kernel,
            "classes": classifier.num_classes, "fc BatchNorm": not isinstance(classifier.bn6, nn.Identity),
            "backbone BatchNorm": any(isinstance(m, nn.BatchNorm2d) for m in classifier.features.modules())}
    wrong = [f"{k} {have[k]} (FCN: {want[k]})" for k in want if want[k] != have[k]]
    if wrong:
        raise ValueError("classifier: expected VGGClassifier(padding=1, fc_batchnorm=True) with the FCN's layers; "
                         "differs in " + ", ".join(wrong))
    fcn.backbone.load_state_dict(classifier.features.state_dict())
    c5, k = classifier.features.widths[-1], classifier.fc6_kernel
    for conv, lin, cin, kk in ((conv6, classifier.fc6, c5, k), (fcn.fc7[0], classifier.fc7, classifier.fc7.in_features, 1),
                               (fcn.score_fr, classifier.fc8, classifier.fc8.in_features, 1)):
        conv.weight.copy_(fc_as_conv(lin.weight, cin, kk))
        conv.bias.copy_(lin.bias)
    for bn_fcn, bn_clf in ((fcn.fc6[1], classifier.bn6), (fcn.fc7[1], classifier.bn7)):
        if not isinstance(bn_clf, nn.Identity):
            bn_fcn.load_state_dict(bn_clf.state_dict())
    return fcn
