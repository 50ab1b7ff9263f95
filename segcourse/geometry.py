"""Geometry of convolutions: receptive fields, bilinear kernels, convolution as a matrix (lessons 01, 03).

Pure tensor code; the widgets that show it live in :mod:`segcourse.widgets_geometry`.

Coordinates: pixel *centres* sit at integers, the first input pixel at 0. A layer with kernel
``k``, stride ``s``, padding ``p`` and dilation ``d`` has the effective kernel
``k_eff = d (k - 1) + 1``; its output ``n_out = floor((n + 2p - k_eff) / s) + 1`` (``ceil`` for a
pool with ``ceil_mode``). Receptive field recursions (Araujo et al., Distill 2019)::

    size_l  = size_{l-1} + (k_eff - 1) * jump_{l-1}
    jump_l  = jump_{l-1} * s
    start_l = start_{l-1} + ((k_eff - 1) / 2 - p) * jump_{l-1}
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validate import as_tensor, check_choice, check_int

__all__ = ["RFRecord", "receptive_fields", "conv_output_size", "transposed_output_size",
           "convolutionalize", "vgg16_layer_names", "slim_vgg16_features", "bilinear_kernel",
           "bilinear_upsampler", "conv_matrix", "overlap_count", "interpolation_weights",
           "effective_receptive_field", "INTERPOLATION_METHODS",
           "receptive_field_explorer", "interpolation_explorer", "prepare_photo", "mass_square_side"]


@dataclass(frozen=True)
class RFRecord:
    """Geometry after one layer: ``size`` = receptive field (input pixels), ``jump`` = effective
    stride, ``start`` = centre of output unit 0 in input pixel coordinates; ``out_size`` = output
    height/width when an ``input_size`` was given (else None). ``kernel``/``stride``/``padding``/
    ``dilation`` are the layer's own (height) parameters."""
    name: str
    kind: str
    kernel: int
    stride: int
    padding: int
    dilation: int
    size: int
    jump: int
    start: float
    out_size: int | None = None


def _along(v, axis: int) -> int:
    """A layer parameter (int or (h, w) pair) along ``axis`` (0 = height, 1 = width)."""
    if isinstance(v, (tuple, list)):
        v = v[axis] if len(v) > 1 else v[0]
    return int(v)


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution or pool: ``floor((n + 2p - d(k-1) - 1) / s) + 1``.

    With ``ceil_mode`` (Caffe's pools, FCN) ``ceil`` replaces ``floor``, and like PyTorch the last
    window must start inside the input or left padding.
    """
    n = check_int(n, "n", min_value=1)
    kernel = check_int(kernel, "kernel", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    padding = check_int(padding, "padding", min_value=0)
    dilation = check_int(dilation, "dilation", min_value=1)
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        raise ValueError(f"n: input length {n} (+2*padding {padding}) is smaller than the effective "
                         f"kernel {dilation * (kernel - 1) + 1}")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= n + padding:
            out -= 1
        return out
    return span // stride + 1


def transposed_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0,
                           output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution: ``(n-1)s - 2p + d(k-1) + output_padding + 1``."""
    n = check_int(n, "n", min_value=1)
    kernel = check_int(kernel, "kernel", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    padding = check_int(padding, "padding", min_value=0)
    dilation = check_int(dilation, "dilation", min_value=1)
    output_padding = check_int(output_padding, "output_padding", min_value=0)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding: expected < max(stride, dilation) = {max(stride, dilation)}, "
                         f"got {output_padding}")
    out = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding: {padding} leaves no output (size {out})")
    return out


_GEOMETRY = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def receptive_fields(module: nn.Module, input_size: int | None = None, axis: int = 0) -> list[RFRecord]:
    """One :class:`RFRecord` per layer that changes geometry (Conv2d, MaxPool2d, AvgPool2d), in
    module order (the execution order of ``nn.Sequential`` models such as torchvision's VGG).

    Handles kernel size, stride, padding, dilation and ``ceil_mode``. Other layers (ReLU, dropout,
    batch norm, Linear) do not move pixels and are skipped; adaptive pools are skipped too (on a
    224 x 224 input VGG's ``AdaptiveAvgPool2d(7)`` is the identity). With ``input_size`` (the
    input's length along ``axis``) each record also gets ``out_size``. ``axis``: 0 = height
    (default), 1 = width; they differ only for non-square kernels such as GCN's k x 1 and 1 x k.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    if input_size is not None:
        input_size = check_int(input_size, "input_size", min_value=1)
    axis = check_int(axis, "axis", min_value=0, max_value=1)
    records, size, jump, start, n = [], 1, 1, 0.0, input_size
    for name, m in module.named_modules():
        if not isinstance(m, _GEOMETRY):
            continue
        k = _along(m.kernel_size, axis)
        s = _along(m.stride if m.stride is not None else m.kernel_size, axis)
        p = _along(m.padding, axis) if not isinstance(m.padding, str) else None
        d = _along(getattr(m, "dilation", 1), axis)
        k_eff = d * (k - 1) + 1
        if p is None:  # Conv2d(padding="same"/"valid")
            if m.padding == "valid":
                p = 0
            elif (k_eff - 1) % 2:
                raise ValueError(f"module: layer {name} uses padding='same' with an even effective kernel")
            else:
                p = (k_eff - 1) // 2
        ceil = bool(getattr(m, "ceil_mode", False))
        if n is not None:
            try:
                n = conv_output_size(n, k, s, p, d, ceil)
            except ValueError as exc:
                raise ValueError(f"input_size: {input_size} is too small for layer {name} ({exc})") from None
        start = start + ((k_eff - 1) / 2 - p) * jump
        size = size + (k_eff - 1) * jump
        jump = jump * s
        kind = "conv" if isinstance(m, nn.Conv2d) else "pool"
        records.append(RFRecord(name, kind, k, s, p, d, size, jump, start, n))
    return records


# ---------------------------------------------------------------- VGG-16 and convolutionalization

def vgg16_layer_names() -> list[str]:
    """Names of ``torchvision.models.vgg16().features`` in order: conv1_1, relu1_1, ..., pool5."""
    names = []
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


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
    import copy
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
            conv.weight.copy_(lin.weight.detach().reshape(lin.out_features, cin, kk, kk))
            conv.bias.copy_(lin.bias.detach())
        layers.append((f"fc{i}", conv))
        if i < 8:
            layers += [(f"relu{i}", nn.ReLU(inplace=True)), (f"drop{i}", nn.Dropout(p))]
    from collections import OrderedDict
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
    from collections import OrderedDict
    from torchvision.models.vgg import cfgs
    layers, c_in, names = [], 3, iter(vgg16_layer_names())
    for v in cfgs["D"]:
        if v == "M":
            layers.append((next(names), nn.MaxPool2d(2, 2)))
        else:
            conv = nn.Conv2d(c_in, v // width_divisor, 3, padding=1)
            std = math.sqrt(2.0 / (conv.out_channels * 9))  # kaiming_normal_, fan_out, relu
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
                conv.bias.zero_()
            layers += [(next(names), conv), (next(names), nn.ReLU())]
            c_in = conv.out_channels
    return nn.Sequential(OrderedDict(layers)).eval()


def effective_receptive_field(features: nn.Sequential, image, layer: str, unit: tuple[int, int]):
    """Luo et al. (arXiv:1701.04128): |d y / d x| for one output unit, summed over channels.

    features: an ``nn.Sequential`` whose children are named (e.g. :func:`slim_vgg16_features`);
    image: (3, H, W) or (1, 3, H, W) float; layer: a child name; unit: (row, col) in that layer's map.
    Returns an (H, W) float tensor, the gradient magnitude of sum_c y[c, row, col] w.r.t. the
    input summed over RGB.
    """
    if not isinstance(features, nn.Sequential):
        raise TypeError(f"features: expected an nn.Sequential, got {type(features).__name__}")
    names = [n for n, _ in features.named_children()]
    check_choice(layer, "layer", names)
    x = as_tensor(image, "image", ndim=(3, 4), kind="float")
    if x.ndim == 3:
        x = x[None]
    if x.shape[:2] != (1, 3):
        raise ValueError(f"image: expected shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    x = x.detach().clone().requires_grad_(True)
    h = x
    for n, m in features.named_children():
        h = m(h)
        if n == layer:
            break
    r = check_int(unit[0], "unit[0]", min_value=0, max_value=h.shape[2] - 1)
    c = check_int(unit[1], "unit[1]", min_value=0, max_value=h.shape[3] - 1)
    (g,) = torch.autograd.grad(h[0, :, r, c].sum(), x)
    return g[0].abs().sum(0)


# ---------------------------------------------------------------- lesson 03: upsampling

def bilinear_kernel(size: int) -> torch.Tensor:
    """The ``size x size`` bilinear upsampling filter (FCN's initialisation of its transposed convs).

    factor f = ceil(size / 2), centre c = f - 1 (odd size) or f - 1/2 (even size);
    ``k[i, j] = (1 - |i - c| / f)(1 - |j - c| / f)``. ``bilinear_kernel(4)`` is the outer product of
    [0.25, 0.75, 0.75, 0.25]. Returns a float32 tensor.
    """
    size = check_int(size, "size", min_value=1)
    f = (size + 1) // 2
    c = f - 1 if size % 2 == 1 else f - 0.5
    og = 1 - (torch.arange(size, dtype=torch.float64) - c).abs() / f
    return torch.outer(og, og).float()


def bilinear_upsampler(factor: int, channels: int = 1) -> nn.ConvTranspose2d:
    """A ``ConvTranspose2d`` that upsamples each channel by ``factor``: kernel ``2f - f % 2``,
    stride f, padding ``f // 2`` (so n -> n f), weights :func:`bilinear_kernel`, no channel mixing."""
    factor = check_int(factor, "factor", min_value=1)
    channels = check_int(channels, "channels", min_value=1)
    k = 2 * factor - factor % 2
    up = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.zero_()
        for c in range(channels):
            up.weight[c, c] = bilinear_kernel(k)
    return up


def conv_matrix(weight, input_size: tuple[int, int], stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The matrix C of a single-channel 2-D convolution (cross-correlation, like ``F.conv2d``).

    weight: (kh, kw); input_size: (H, W). Returns C of shape (Ho * Wo, H * W) with
    ``conv2d(x).flatten() == C @ x.flatten()``; ``C.T`` is the transposed convolution.
    """
    w = as_tensor(weight, "weight", ndim=2, kind="float", allow_empty=False)
    if not (isinstance(input_size, (tuple, list)) and len(input_size) == 2):
        raise TypeError(f"input_size: expected a pair (H, W), got {input_size!r}")
    H = check_int(input_size[0], "input_size[0]", min_value=1)
    W = check_int(input_size[1], "input_size[1]", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    padding = check_int(padding, "padding", min_value=0)
    kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride, padding)
    Wo = conv_output_size(W, kw, stride, padding)
    C = torch.zeros(Ho * Wo, H * W, dtype=w.dtype)
    for oy in range(Ho):
        for ox in range(Wo):
            for ky in range(kh):
                iy = oy * stride - padding + ky
                if not 0 <= iy < H:
                    continue
                for kx in range(kw):
                    ix = ox * stride - padding + kx
                    if 0 <= ix < W:
                        C[oy * Wo + ox, iy * W + ix] = w[ky, kx]
    return C


def overlap_count(n: int, kernel: int, stride: int) -> torch.Tensor:
    """How many kernel placements of a transposed convolution cover each output pixel (no padding).

    An (N, N) float tensor, N = (n - 1) * stride + kernel: uneven when kernel % stride != 0, the
    checkerboard of Odena et al. (Distill 2016).
    """
    n = check_int(n, "n", min_value=1)
    kernel = check_int(kernel, "kernel", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    ones = torch.ones(1, 1, n, n)
    return F.conv_transpose2d(ones, torch.ones(1, 1, kernel, kernel), stride=stride)[0, 0]


#: Methods of :func:`interpolation_weights`.
INTERPOLATION_METHODS = ("nearest", "bilinear", "bilinear_align_corners", "transposed_bilinear",
                         "transposed_random")


def _upsample(x, method: str, factor: int, generator_seed: int = 0):
    if method == "nearest":
        return F.interpolate(x, scale_factor=factor, mode="nearest")
    if method == "bilinear":
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    if method == "bilinear_align_corners":
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=True)
    k = 2 * factor - factor % 2
    if method == "transposed_bilinear":
        w = bilinear_kernel(k)
    else:
        g = torch.Generator().manual_seed(generator_seed)
        w = torch.rand(k, k, generator=g)
        w = w / w.sum() * factor * factor  # same total weight as the bilinear kernel
    return F.conv_transpose2d(x, w.to(x.dtype)[None, None], stride=factor, padding=factor // 2)


def interpolation_weights(method: str, factor: int, input_size: tuple[int, int], *,
                          seed: int = 0) -> torch.Tensor:
    """Weights of every input pixel in every output pixel of an upsampling by ``factor``.

    Returns W of shape (Ho, Wo, H, W): ``out[oy, ox] = sum_ij W[oy, ox, i, j] x[i, j]``, measured by
    upsampling one-hot images (the operator is linear). method: one of
    :data:`INTERPOLATION_METHODS`; "transposed_random" uses a random kernel drawn with ``seed``.
    """
    check_choice(method, "method", INTERPOLATION_METHODS)
    factor = check_int(factor, "factor", min_value=1, max_value=16)
    if not (isinstance(input_size, (tuple, list)) and len(input_size) == 2):
        raise TypeError(f"input_size: expected a pair (H, W), got {input_size!r}")
    H = check_int(input_size[0], "input_size[0]", min_value=1, max_value=64)
    W = check_int(input_size[1], "input_size[1]", min_value=1, max_value=64)
    if method == "bilinear_align_corners" and min(H, W) < 2:
        raise ValueError(f"input_size: align_corners needs at least 2 pixels per side, got {(H, W)}")
    basis = torch.eye(H * W, dtype=torch.float64).reshape(H * W, 1, H, W)
    out = _upsample(basis, method, factor, seed)[:, 0]          # (H*W, Ho, Wo)
    return out.permute(1, 2, 0).reshape(out.shape[1], out.shape[2], H, W)


def mass_square_side(erf: np.ndarray, cy: float, cx: float, frac: float = 0.9) -> int:
    """Side (pixels) of the smallest square centred on (cy, cx) holding ``frac`` of ``erf``'s mass."""
    total = erf.sum()
    if total <= 0:
        return 0
    yy, xx = np.indices(erf.shape)
    cheb = np.maximum(np.abs(yy - cy), np.abs(xx - cx))
    order = np.argsort(cheb, axis=None)
    cum = np.cumsum(erf.ravel()[order])
    k = int(np.searchsorted(cum, frac * total))
    r = cheb.ravel()[order][min(k, cum.size - 1)]
    return int(round(2 * r + 1))


from .widgets_geometry import (interpolation_explorer, prepare_photo,  # noqa: E402
                               receptive_field_explorer)
