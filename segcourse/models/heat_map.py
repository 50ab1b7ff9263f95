"""Lesson 02's heat maps: a VGG-shaped crop classifier run fully convolutionally.

:class:`VGGClassifier` is the backbone with *unpadded* convolutions plus three fully connected
layers fc6/fc7/fc8; it classifies one square crop. ``forward_dense`` runs the very same parameters
as convolutions over a whole image (convolutionalization), so every cell of the resulting heat map
equals the classifier applied to one crop: exactly, because no convolution pads (padding would put
zeros at a crop's border where the whole image has real pixels). :func:`sliding_window` is the
reference that cuts every crop.

With ``padding=1`` and ``fc_batchnorm=True`` the same class is lesson 04's *pre-training*
classifier: SAME convolutions and BatchNorm after fc6/fc7, exactly the layers of the course FCN, so
``segcourse.models.fcn.init_from_classifier`` can convolutionalize it into an FCN (a padded
classifier's dense scores are not exact crops: padding puts zeros where the image has pixels).
"""
from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

from .._validate import check_images, check_int
from ..ops.labels import block_targets
from ..train import fit, paired_masks, predict_proba
from .vgg import HEATMAP_WIDTHS, VGGBackbone, fc_as_conv

__all__ = ["VGGClassifier", "pad_for_heat_map", "heat_maps", "sliding_window", "train_heat_map_classifier"]


class VGGClassifier(nn.Module):
    """A crop classifier with VGG-16's shape: backbone, then fc6, fc7, fc8.

    fc6 sees a ``fc6_kernel`` x ``fc6_kernel`` window of pool5 (VGG-16: 7x7), so the classifier's
    input is a square crop of side ``crop_size`` (244 for the default sizes: unpadded backbone;
    ``32 * fc6_kernel`` with ``padding=1``). ``fc_batchnorm`` puts BatchNorm after fc6 and fc7
    (before their ReLU), as the course FCN has.

    forward: crops (N, 3, crop_size, crop_size) -> class scores (N, num_classes).
    forward_dense: images (N, 3, H, W), H, W >= crop_size -> scores (N, num_classes, h, w) with
    h = (H - crop_size) // 32 + 1: the same parameters used as convolutions.
    """

    stride = 32

    def __init__(self, num_classes: int = 6, widths=HEATMAP_WIDTHS, fc_width: int = 32,
                 fc6_kernel: int = 2, batchnorm: bool = True, padding: int = 0, fc_batchnorm: bool = False):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", min_value=2)
        self.fc6_kernel = check_int(fc6_kernel, "fc6_kernel", min_value=1)
        fc_width = check_int(fc_width, "fc_width", min_value=1)
        if not isinstance(fc_batchnorm, bool):
            raise TypeError(f"fc_batchnorm: expected a bool, got {type(fc_batchnorm).__name__}")
        self.features = VGGBackbone(widths, padding=padding, batchnorm=batchnorm)
        c5 = self.features.widths[-1]
        self.fc6 = nn.Linear(c5 * self.fc6_kernel ** 2, fc_width)
        self.fc7 = nn.Linear(fc_width, fc_width)
        self.fc8 = nn.Linear(fc_width, self.num_classes)
        # Identity (no parameters, no state) when off: the unpadded heat-map classifier is unchanged
        self.bn6 = nn.BatchNorm1d(fc_width) if fc_batchnorm else nn.Identity()
        self.bn7 = nn.BatchNorm1d(fc_width) if fc_batchnorm else nn.Identity()
        self.crop_size = self.features.input_size(self.fc6_kernel)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = check_images(crops, "crops")
        if x.shape[-2:] != (self.crop_size, self.crop_size):
            raise ValueError(f"crops: expected shape (N, 3, {self.crop_size}, {self.crop_size}), "
                             f"got {tuple(x.shape)}")
        f = self.features._pools(x)[-1].flatten(1)  # (N, C5 * k * k), index c*k*k + i*k + j
        return self.fc8(F.relu(self.bn7(self.fc7(F.relu(self.bn6(self.fc6(f)))))))

    def conv_weights(self) -> list:
        """fc6, fc7, fc8 as convolution (weight, bias) pairs: views of the Linear parameters."""
        k, c5 = self.fc6_kernel, self.features.widths[-1]
        w6 = fc_as_conv(self.fc6.weight, c5, k)  # a view: undoes flatten's (c, i, j) order
        return [(w6, self.fc6.bias), (self.fc7.weight[:, :, None, None], self.fc7.bias),
                (self.fc8.weight[:, :, None, None], self.fc8.bias)]

    def forward_dense(self, images: torch.Tensor) -> torch.Tensor:
        x = check_images(images)
        if min(x.shape[-2:]) < self.crop_size:
            raise ValueError(f"images: expected shape (N, 3, H, W) with H, W >= {self.crop_size} "
                             f"(the crop size), got {tuple(x.shape)}")
        f = self.features._pools(x)[-1]
        (w6, b6), (w7, b7), (w8, b8) = self.conv_weights()
        h = F.relu(_dense_bn(self.bn6, F.conv2d(f, w6, b6)))
        return F.conv2d(F.relu(_dense_bn(self.bn7, F.conv2d(h, w7, b7))), w8, b8)

    def convolutionalize(self) -> nn.Sequential:
        """A standalone fully convolutional copy: features, then fc6/fc7/fc8 as Conv2d layers."""
        convs = []
        for w, b in self.conv_weights():
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[-1])
            with torch.no_grad():
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            convs.append(conv)
        feats = copy.deepcopy(self.features.blocks)
        bns = [_as_bn2d(bn) for bn in (self.bn6, self.bn7)]
        return nn.Sequential(*feats, convs[0], *bns[0], nn.ReLU(), convs[1], *bns[1], nn.ReLU(), convs[2]).eval()


def _dense_bn(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A BatchNorm1d over channels applied to a (N, C, H, W) map: the same statistics per channel
    (BatchNorm2d's), so a dense score map's cell equals the crop classifier's output."""
    if isinstance(bn, nn.Identity):
        return x
    use_batch = bn.training or not bn.track_running_stats
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, use_batch, bn.momentum, bn.eps)


def _as_bn2d(bn: nn.Module) -> list:
    """[] for Identity, else [a BatchNorm2d with ``bn``'s parameters and running statistics]."""
    if isinstance(bn, nn.Identity):
        return []
    out = nn.BatchNorm2d(bn.num_features, eps=bn.eps, momentum=bn.momentum)
    out.load_state_dict(bn.state_dict())
    return [out]


def pad_for_heat_map(classifier: VGGClassifier, images: torch.Tensor) -> torch.Tensor:
    """Zero-pad images so heat-map cell (i, j) is centred on the image's 32x32 block (i, j).

    images (N, 3, H, W), H and W multiples of 32 -> (N, 3, H + 2m, W + 2m), m = (crop_size - 32) / 2.
    (FCN's Caffe models pad their first convolution by 100 pixels for the same reason.)
    """
    if not isinstance(classifier, VGGClassifier):
        raise TypeError(f"classifier: expected a VGGClassifier, got {type(classifier).__name__}")
    if classifier.features.padding != 0:
        raise ValueError("classifier: expected an unpadded VGGClassifier (padding=0): a padded one's dense "
                         "scores are not the scores of crops")
    x = check_images(images)
    if x.shape[2] % 32 or x.shape[3] % 32:
        raise ValueError(f"images: expected shape (N, 3, H, W) with H, W multiples of 32, got {tuple(x.shape)}")
    m = (classifier.crop_size - classifier.stride) // 2
    return F.pad(x, (m, m, m, m))


@torch.no_grad()
def heat_maps(classifier: VGGClassifier, images: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """One fully convolutional pass: images (N, 3, H, W) -> class probabilities (N, C, H/32, W/32)."""
    return predict_proba(classifier, pad_for_heat_map(classifier, images), batch_size,
                         forward=classifier.forward_dense)


@torch.no_grad()
def sliding_window(classifier: VGGClassifier, images: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """The reference: cut every crop (stride 32) and classify each one separately.

    images (N, 3, H, W) -> class probabilities (N, C, H/32, W/32), cell (i, j) = classifier(crop at
    (32 i, 32 j) of the padded image). Slow on purpose: one classifier call per crop.
    """
    padded = pad_for_heat_map(classifier, images)
    n, _, hp, wp = padded.shape
    s, c = classifier.stride, classifier.crop_size
    h, w = (hp - c) // s + 1, (wp - c) // s + 1
    out = torch.empty(n, classifier.num_classes, h, w)
    for i in range(h):
        for j in range(w):
            crops = padded[:, :, i * s:i * s + c, j * s:j * s + c]
            out[:, :, i, j] = predict_proba(classifier, crops, batch_size)
    return out


def train_heat_map_classifier(classifier: VGGClassifier, images: torch.Tensor, masks: torch.Tensor, *,
                              epochs: int, batch_size: int = 16, lr: float = 3e-3, weight_decay: float = 1e-4,
                              seed: int = 0, flip: bool = True, progress: bool = True,
                              desc: str = "heat-map classifier") -> dict:
    """Train the crop classifier on *every* crop of every image at once, deterministically.

    Each crop's target is the share of each class in its central 32x32 block (``block_targets``);
    the loss is soft-label cross-entropy averaged over crops. Running ``forward_dense`` on a padded
    image computes all its crops' scores in one pass, so this is patchwise training of the crop
    classifier (FCN paper, section 3.4) without cutting the crops. Adam, one-cycle schedule.
    Returns ``{"loss": [per-epoch mean], "seconds": float, "steps": int}``.
    """
    if not isinstance(classifier, VGGClassifier):
        raise TypeError(f"classifier: expected a VGGClassifier, got {type(classifier).__name__}")
    images = check_images(images)
    targets = block_targets(paired_masks(images, masks), classifier.num_classes)

    def loss_fn(x, y):  # soft targets: class shares per crop
        return F.cross_entropy(classifier.forward_dense(pad_for_heat_map(classifier, x)), y)

    return fit(classifier, images, targets, loss_fn, epochs=epochs, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, seed=seed, flip=flip, progress=progress, desc=desc)
