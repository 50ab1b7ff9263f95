"""Pieces several model files share: counting costs (MACs, activation memory), initialisation, and
the small VGG-style backbone and segmenter base of lessons 06-08."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_choice, check_images, check_int

__all__ = ["conv_macs", "feature_costs", "zero_conv", "kaiming_", "SmallBackbone", "Segmenter", "conv_stage",
           "classifier_head", "upsample_to"]


def conv_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of every Conv2d / Linear / ConvTranspose2d in one forward pass of
    ``model`` on ``input_shape`` = (N, 3, H, W): :func:`feature_costs`'s ``macs`` (each output
    value of a conv costs in/groups * kh * kw MACs, a dilated kernel too; a transposed conv's input
    value scatters out/groups * kh * kw). Use a wrapper module for other entry points."""
    return feature_costs(model, input_shape)["macs"]


_NO_ACTIVATION = (nn.ReLU, nn.Dropout, nn.Identity, nn.Sequential, nn.ModuleList)


def feature_costs(model: nn.Module, input_shape, forward=None, dry_run: bool = True) -> dict:
    """Shapes and costs of one forward pass on ``input_shape`` = (N, C, H, W).

    dry_run: True runs the model on an *empty batch* (0, C, H, W): every layer still computes its
    output shape, no arithmetic is done, so a full-width VGG-16 or ResNet-50 on 513 x 513 costs
    milliseconds; the counts are then multiplied by N. False runs it on N real zero images (what
    :func:`conv_macs` did before it became this function; tested equal). forward: optional ``f(model, x)`` (default
    ``model(x)``). The model is run in eval mode on a copy.

    Returns ``out_shape`` (of the final output; a list/tuple/dict output gives its last tensor's),
    ``macs``: multiply-accumulates of every Conv2d / ConvTranspose2d / Linear, counted as
    ``conv_macs`` counts them (a dilated 3 x 3 still costs 9 per input channel and output value,
    taps on zero padding included); ``params``; ``activation_bytes``: float32 bytes of every layer
    output except ReLU / dropout / identity (what training keeps for the backward pass, roughly);
    ``largest_map_bytes``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    shape = tuple(check_int(s, "input_shape", min_value=1) for s in input_shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape: expected (N, C, H, W), got {shape}")
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run: expected a bool, got {type(dry_run).__name__}")
    n = shape[0]
    params = sum(p.numel() for p in model.parameters())
    net = copy.deepcopy(model).eval()
    macs, acts = [0], []

    def per_image(t: torch.Tensor) -> int:
        return math.prod(t.shape[1:])

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            macs[0] += n * per_image(out) * mod.weight[0].numel()
        elif isinstance(mod, nn.ConvTranspose2d):
            macs[0] += n * per_image(inp[0]) * mod.weight[0].numel()
        elif isinstance(mod, nn.Linear):
            macs[0] += n * per_image(out) * mod.in_features
        if isinstance(out, torch.Tensor) and not isinstance(mod, _NO_ACTIVATION) and not list(mod.children()):
            acts.append(n * per_image(out) * 4)

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.no_grad():
            x = torch.zeros((0 if dry_run else n,) + shape[1:])
            out = net(x) if forward is None else forward(net, x)
    finally:
        for h in handles:
            h.remove()
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        out = out[-1]
    return {"out_shape": (n,) + tuple(out.shape[1:]), "macs": int(macs[0]), "params": int(params),
            "activation_bytes": int(sum(acts)), "largest_map_bytes": int(max(acts, default=0))}


def zero_conv(cin: int, cout: int) -> nn.Conv2d:
    """A 1x1 convolution with zero weights and bias: a new branch that starts as "add nothing"."""
    conv = nn.Conv2d(cin, cout, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def kaiming_(conv: nn.Conv2d, generator: torch.Generator | None) -> nn.Conv2d:
    """torchvision VGG's init (kaiming_normal_, fan_out, relu) from ``generator``, zero bias."""
    fan_out = conv.out_channels * conv.weight[0, 0].numel()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * math.sqrt(2.0 / fan_out))
        if conv.bias is not None:
            conv.bias.zero_()
    return conv


def conv_stage(cin: int, cout: int, n: int, rate: int) -> list:
    """``n`` x (3 x 3 conv at ``rate`` -> BatchNorm -> ReLU), as a list of layers."""
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(cin, cout, 3, padding=rate, dilation=rate, bias=False), nn.BatchNorm2d(cout),
                   nn.ReLU(inplace=True)]
        cin = cout
    return layers


class DenseMaxPool2d(nn.Module):
    """A 2 x 2 max-pool that has lost its stride: stride 1, taps ``dilation`` apart (lesson 06's exact
    pool, ``nn.MaxPool2d(2, 1, dilation=d)``), padded by ``d`` rows and columns of -inf at the bottom
    and right so the map keeps its size: (N, C, H, W) -> (N, C, H, W). With dilation 1 its even rows
    and columns are exactly ``nn.MaxPool2d(2)``'s output: a net trained with the pool runs on a
    denser grid and still sees the values it was trained on (the algorithme à trous)."""

    def __init__(self, dilation: int = 1):
        super().__init__()
        self.dilation = check_int(dilation, "dilation", min_value=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        return F.max_pool2d(F.pad(x, (0, d, 0, d), value=float("-inf")), 2, stride=1, dilation=d)


class SmallBackbone(nn.Module):
    """The one backbone every scheme of lesson 07 shares: five VGG-style stages (3 x 3 conv -> BN ->
    ReLU, ``layout`` convs per stage) at ``widths``, each followed by a 2 x 2 max-pool, so stage k
    ends at stride 2**k, until ``output_stride``: later pools are dropped and later convs dilated
    (rate 2 per dropped pool), DeepLab's recipe. forward: images (N, 3, H, W) -> the list of the
    five stage outputs (strides 2, 4, 8, 16, 32 at output stride 32; 2, 4, 8, 8, 8 at 8).

    ``dense_pools_to``: for a net trained at a coarser output stride and run at a finer one
    (``with_output_stride``), the stride it was trained at: the pools it had past ``output_stride``
    stay, at stride 1 (:class:`DenseMaxPool2d`), instead of being dropped. Default: ``output_stride``.
    """

    def __init__(self, widths=(16, 24, 32, 48, 64), output_stride: int = 8, layout=(1, 1, 2, 2, 2),
                 dense_pools_to: int | None = None):
        super().__init__()
        self.widths = tuple(check_int(w, "widths", min_value=1) for w in widths)
        layout = tuple(check_int(n, "layout", min_value=1) for n in layout)
        if len(self.widths) != 5 or len(layout) != 5:
            raise ValueError(f"widths: expected 5 widths and 5 layout entries, got {len(self.widths)} and {len(layout)}")
        self.output_stride = check_choice(output_stride, "output_stride", (8, 16, 32))
        self.dense_pools_to = self.output_stride if dense_pools_to is None else check_choice(
            dense_pools_to, "dense_pools_to", tuple(s for s in (8, 16, 32) if s >= self.output_stride))
        stages, cin, stride, trained, rate, self.strides = [], 3, 1, 1, 1, []
        for w, n in zip(self.widths, layout):
            layers = conv_stage(cin, w, n, rate)
            if stride * 2 <= self.output_stride:
                layers.append(nn.MaxPool2d(2))
                stride *= 2
                trained *= 2
            else:
                if trained * 2 <= self.dense_pools_to:    # a pool the trained net had, now at stride 1
                    layers.append(DenseMaxPool2d(rate))
                    trained *= 2
                rate *= 2
            stages.append(nn.Sequential(*layers))
            self.strides.append(stride)
            cin = w
        self.stages = nn.ModuleList(stages)
        self.rate = rate  # the rate a layer after the last stage needs to see as if at stride 32

    def forward(self, images: torch.Tensor) -> list:
        x, outs = images, []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


def classifier_head(cin: int, num_classes: int, width: int) -> nn.Sequential:
    """3 x 3 conv-BN-ReLU to ``width`` channels, then a 1 x 1 conv to class scores."""
    return nn.Sequential(*conv_stage(cin, width, 1, 1), nn.Conv2d(width, num_classes, 1))


def upsample_to(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize of (N, C, h, w) scores to ``size`` = (H, W) (align_corners=False)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Segmenter(nn.Module):
    """Shared checks: images (N, 3, H, W), H and W multiples of 32."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = check_images(images)
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"images: expected shape (N, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        return self._forward(x)
