"""VGG-16 (Simonyan & Zisserman, arXiv:1409.1556) as the course uses it (lessons 01-04).

One layout table, :data:`VGG16_LAYOUT` (13 3x3 convolutions in blocks of 2, 2, 3, 3, 3, each block
ending in a 2x2 max-pool) with :data:`VGG16_WIDTHS`, serves every VGG here: the names of
torchvision's ``vgg16().features`` (:func:`vgg16_layer_names`), the slim copy with VGG-16's
geometry (:func:`slim_vgg16_features`), the course backbone at reduced width
(:class:`VGGBackbone`), and convolutionalization (fc layers -> convolutions, :func:`fc_as_conv`).
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict

import torch
from torch import nn

from .._validate import check_choice, check_images, check_int
from .common import kaiming_

__all__ = ["VGG16_LAYOUT", "VGG16_WIDTHS", "VGG_WIDTHS", "HEATMAP_WIDTHS", "VGGBackbone",
           "vgg16_layer_names", "slim_vgg16_features", "convolutionalize", "fc_as_conv"]

#: Convolutions per block in VGG-16 (13 convs, a 2x2 max-pool after each block).
VGG16_LAYOUT = (2, 2, 3, 3, 3)
#: VGG-16's channel widths per block.
VGG16_WIDTHS = (64, 128, 256, 512, 512)
#: The course's reduced widths for the FCNs of lesson 04.
VGG_WIDTHS = (8, 16, 32, 64, 64)
#: Narrower widths for the heat-map classifier of lesson 02: it runs on 340x340 padded images.
HEATMAP_WIDTHS = (4, 8, 16, 32, 32)


def vgg16_layer_names() -> list[str]:
    """Names of ``torchvision.models.vgg16().features`` in order: conv1_1, relu1_1, ..., pool5."""
    names = []
    for block, convs in enumerate(VGG16_LAYOUT, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def fc_as_conv(weight: torch.Tensor, in_channels: int, kernel: int) -> torch.Tensor:
    """A fully connected layer's weight (out, in_channels * k * k) as a convolution's weight
    (out, in_channels, k, k): a reshape, no new parameters. It undoes ``flatten``'s (C, H, W) order,
    so conv(x) at a k x k window equals fc(window.flatten()). Returns a view when possible."""
    in_channels = check_int(in_channels, "in_channels", min_value=1)
    kernel = check_int(kernel, "kernel", min_value=1)
    if weight.ndim != 2 or weight.shape[1] != in_channels * kernel * kernel:
        raise ValueError(f"weight: expected shape (out, {in_channels} * {kernel} * {kernel}), "
                         f"got {tuple(weight.shape)}")
    return weight.reshape(weight.shape[0], in_channels, kernel, kernel)


def convolutionalize(vgg: nn.Module, fc6_padding: int | str = 0) -> nn.Sequential:
    """VGG-16 (torchvision layout) -> fully convolutional ``nn.Sequential`` named like the paper.

    fc6 (Linear 25088 -> 4096) becomes a 7x7 Conv2d(512, 4096), fc7 and fc8 1x1 convolutions, by
    *reshaping* their weights (``W.view(out, 512, 7, 7)`` matches torch's C, H, W flatten order);
    no new parameters. The adaptive average pool is dropped (the identity on 224 x 224 inputs).
    ``fc6_padding``: 0 or "valid" (FCN; a 224 input gives a 1x1 map, identical logits), or
    "same" (3, the slide's choice; a 224 input gives a 7x7 map). Weights are copied, the input model
    is left unchanged. Dropout layers keep their names (drop6, drop7).
    """
    if not isinstance(vgg, nn.Module):
        raise TypeError(f"vgg: expected a torch.nn.Module (torchvision vgg16), got {type(vgg).__name__}")
    features, classifier = getattr(vgg, "features", None), getattr(vgg, "classifier", None)
    if not isinstance(features, nn.Sequential) or not isinstance(classifier, nn.Sequential):
        raise ValueError("vgg: expected a torchvision VGG with .features and .classifier Sequentials")
    linears = [m for m in classifier if isinstance(m, nn.Linear)]
    if len(linears) != 3 or len(features) != len(vgg16_layer_names()):
        raise ValueError(f"vgg: expected VGG-16 (31 feature layers, 3 Linear layers), got "
                         f"{len(features)} feature layers and {len(linears)} Linear layers")
    if isinstance(fc6_padding, str):
        fc6_padding = {"valid": 0, "same": 3}[check_choice(fc6_padding, "fc6_padding", ("valid", "same"))]
    fc6_padding = check_int(fc6_padding, "fc6_padding", min_value=0)
    layers = [(n, copy.deepcopy(m)) for n, m in zip(vgg16_layer_names(), features)]
    c_in = [m for m in features if isinstance(m, nn.Conv2d)][-1].out_channels
    k = int(round(math.sqrt(linears[0].in_features / c_in)))
    if c_in * k * k != linears[0].in_features:
        raise ValueError(f"vgg: fc6 has {linears[0].in_features} inputs, not {c_in} x k x k")
    dropouts = [m for m in classifier if isinstance(m, nn.Dropout)]
    p = dropouts[0].p if dropouts else 0.5
    for i, (lin, kk, pad) in enumerate(zip(linears, (k, 1, 1), (fc6_padding, 0, 0)), start=6):
        cin = lin.in_features // (kk * kk)
        conv = nn.Conv2d(cin, lin.out_features, kk, padding=pad)
        with torch.no_grad():
            conv.weight.copy_(fc_as_conv(lin.weight.detach(), cin, kk))
            conv.bias.copy_(lin.bias.detach())
        layers.append((f"fc{i}", conv))
        if i < 8:
            layers += [(f"relu{i}", nn.ReLU(inplace=True)), (f"drop{i}", nn.Dropout(p))]
    net = nn.Sequential(OrderedDict(layers))
    net.train(vgg.training)
    return net


def slim_vgg16_features(width_divisor: int = 16, *, generator: torch.Generator | None = None) -> nn.Sequential:
    """VGG-16's ``features`` with the same kernels, strides and paddings but 1/``width_divisor`` of the
    channels, Kaiming-initialised like torchvision's VGG; layers named conv1_1 ... pool5.

    Same geometry (theoretical receptive fields) as VGG-16, and a backward pass fast enough for a
    widget on 2 CPU cores.
    """
    width_divisor = check_int(width_divisor, "width_divisor", min_value=1, max_value=64)
    layers, c_in, names = [], 3, iter(vgg16_layer_names())
    for n_convs, width in zip(VGG16_LAYOUT, VGG16_WIDTHS):
        for _ in range(n_convs):
            conv = kaiming_(nn.Conv2d(c_in, width // width_divisor, 3, padding=1), generator)
            layers += [(next(names), conv), (next(names), nn.ReLU())]
            c_in = conv.out_channels
        layers.append((next(names), nn.MaxPool2d(2, 2)))
    return nn.Sequential(OrderedDict(layers)).eval()


class VGGBackbone(nn.Module):
    """VGG-16's 13 convolutions and 5 max-pools at widths ``widths`` (one per block).

    padding: 1 (SAME, as VGG-16) or 0 (VALID). forward: (N, 3, H, W) -> list of the five pooled
    maps [pool1, ..., pool5]; pool k has stride 2**k.
    """

    def __init__(self, widths=VGG_WIDTHS, padding: int = 1, batchnorm: bool = True,
                 layout=VGG16_LAYOUT):
        super().__init__()
        widths = tuple(check_int(w, "widths", min_value=1) for w in widths)
        layout = tuple(check_int(n, "layout", min_value=1) for n in layout)
        if len(widths) != len(layout):
            raise ValueError(f"widths: expected {len(layout)} widths (one per block), got {len(widths)}")
        self.padding = check_choice(padding, "padding", (0, 1))
        self.widths, self.layout = widths, layout
        blocks, cin = [], 3
        for w, n in zip(widths, layout):
            layers = []
            for _ in range(n):
                layers += [nn.Conv2d(cin, w, 3, padding=padding)]
                layers += [nn.BatchNorm2d(w)] if batchnorm else []
                layers += [nn.ReLU(inplace=True)]
                cin = w
            layers.append(nn.MaxPool2d(2))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, images: torch.Tensor) -> list:
        return self._pools(check_images(images))

    def _pools(self, x: torch.Tensor) -> list:
        """``forward`` without the input check, for callers that have already checked ``x``."""
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs

    def input_size(self, output_size: int) -> int:
        """Smallest input side whose pool5 map has side ``output_size`` (the receptive field for 1)."""
        s = check_int(output_size, "output_size", min_value=1)
        for n in reversed(self.layout):
            s = 2 * s + n * 2 * (1 - self.padding)
        return s
