"""Upsampling (lesson 03): the bilinear kernel, transposed convolution as the transpose of a
convolution's matrix, the checkerboard overlap, and the weights every method gives each input pixel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_choice, check_int, as_tensor
from .common import small_ops
from .receptive_field import conv_output_size

__all__ = ["bilinear_kernel", "bilinear_upsampler", "conv_matrix", "overlap_count", "INTERPOLATION_METHODS",
           "interpolation_weights", "upsampling_source_formula", "interpolation_frame",
           "CHECKERBOARD_METHODS", "checkerboard_stack", "checkerboard_strength"]


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


def upsampling_source_formula(method: str, factor: int, n_in: int, y: int) -> str:
    """The formula that maps output index ``y`` to its input source(s) for ``method``, evaluated."""
    n_out = n_in * factor
    if method == "nearest":
        return f"src = floor({y} / {factor}) = {y // factor}"
    if method == "bilinear":
        return f"src = ({y} + 0.5) / {factor} - 0.5 = {(y + 0.5) / factor - 0.5:.3f} (clamped to >= 0)"
    if method == "bilinear_align_corners":
        return f"src = {y} x ({n_in} - 1) / ({n_out} - 1) = {y * (n_in - 1) / (n_out - 1):.3f}"
    k = 2 * factor - factor % 2
    return (f"y = {factor} i - {factor // 2} + k, kernel {k}x{k}: inputs i with 0 <= "
            f"{y} + {factor // 2} - {factor} i < {k}")


def interpolation_frame(source, method: str, factor: int, y: int, x: int) -> dict:
    """Everything one frame of the interpolation explorer shows: upsample the (n, n) ``source``
    by ``factor`` with ``method`` and look at output pixel (y, x).

    Returns a dict: ``weights`` (n, n) weight of each input pixel in output (y, x); ``output``
    (n f, n f) the upsampled source; ``contributors`` [(row, col, weight)] of the non-zero
    weights; ``total`` their sum; ``value`` = output[y, x]; ``formula_y``/``formula_x`` the
    source-index formulas; ``method``, ``factor``, ``pixel``.
    """
    import numpy as np
    src = as_tensor(source, "source", ndim=2, kind="float").double().numpy()
    n = src.shape[0]
    if src.shape[1] != n:
        raise ValueError(f"source: expected a square (n, n) patch, got {src.shape}")
    factor = check_int(factor, "factor", min_value=1, max_value=16)
    y = check_int(y, "y", min_value=0, max_value=n * factor - 1)
    x = check_int(x, "x", min_value=0, max_value=n * factor - 1)
    with small_ops():
        W = interpolation_weights(method, factor, (n, n)).numpy()
    out = np.einsum("yxij,ij->yx", W, src)
    wt = W[y, x]
    nz = [(int(i), int(j), float(wt[i, j])) for i, j in zip(*np.nonzero(np.abs(wt) > 1e-12))]
    return dict(weights=wt, output=out, method=method, factor=factor, pixel=(y, x), total=float(wt.sum()),
                contributors=nz, value=float(out[y, x]),
                formula_y=upsampling_source_formula(method, factor, n, y),
                formula_x=upsampling_source_formula(method, factor, n, x))


#: The upsampling layers :func:`checkerboard_stack` compares.
CHECKERBOARD_METHODS = ("transposed", "resize_conv")


def checkerboard_stack(layers: int, method: str = "transposed", kernel: int = 4, stride: int = 2,
                       size: int = 8, seed: int = 0) -> list[torch.Tensor]:
    """Upsample a constant (1, 1, size, size) map ``layers`` times by ``stride`` with *random*
    kernels (weights drawn independently, uniform in [0, 1), from ``seed``): what an untrained
    upsampling layer does to a flat input (Odena, Dumoulin, Olah, Distill 2016).

    method "transposed": ``conv_transpose2d`` with a kernel x kernel kernel, padding
    ``(kernel - stride) // 2``; "resize_conv": nearest-neighbour upsampling by ``stride``, then a
    3x3 ``conv2d`` with padding 1 (their fix; ``kernel`` is ignored). Returns the output of each
    layer, (1, 1, n, n) float64 tensors. Any variation in the interior is an artifact.
    """
    layers = check_int(layers, "layers", min_value=1, max_value=8)
    method = check_choice(method, "method", CHECKERBOARD_METHODS)
    kernel = check_int(kernel, "kernel", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    size = check_int(size, "size", min_value=1)
    g = torch.Generator().manual_seed(check_int(seed, "seed"))
    x = torch.ones(1, 1, size, size, dtype=torch.float64)
    out = []
    for _ in range(layers):
        if method == "transposed":
            w = torch.rand(1, 1, kernel, kernel, generator=g, dtype=torch.float64)
            x = F.conv_transpose2d(x, w, stride=stride, padding=max(kernel - stride, 0) // 2)
        else:
            w = torch.rand(1, 1, 3, 3, generator=g, dtype=torch.float64)
            x = F.conv2d(F.interpolate(x, scale_factor=stride, mode="nearest"), w, padding=1)
        out.append(x)
    return out


def checkerboard_strength(x) -> float:
    """Coefficient of variation (std / mean) of the central half of an (..., H, W) map: 0 for a
    flat map; for the output of a flat input, the size of the upsampling artifacts."""
    t = as_tensor(x, "x", ndim=(2, 3, 4), kind="float").double()
    h, w = t.shape[-2:]
    if h < 4 or w < 4:
        raise ValueError(f"x: expected a map of at least 4 x 4 pixels, got {h} x {w}")
    c = t[..., h // 4:h - h // 4, w // 4:w - w // 4]
    m = c.mean()
    if m == 0:
        raise ValueError("x: the central half has mean 0, its relative variation is undefined")
    return float(c.std(unbiased=False) / m.abs())
