"""Geometry of convolutions: output sizes, receptive fields, effective receptive fields (lessons 01, 06).

Pure tensor code; the widget that shows it is :mod:`segcourse.widgets.receptive_field`. The
upsampling half of the old geometry module is :mod:`segcourse.ops.upsampling`.

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

from .._validate import as_tensor, check_choice, check_int
from .common import small_ops

__all__ = ["RFRecord", "receptive_fields", "conv_output_size", "transposed_output_size",
           "effective_receptive_field", "mass_square_side", "ConeGradient", "receptive_field_frame",
           "unit_centres", "radial_profile", "transposed_grid", "crop_offset", "fcn_crop_offsets"]


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


def radial_profile(erf, cy: float, cx: float, max_radius: int | None = None) -> np.ndarray:
    """Mean of an (H, W) map over rings of Euclidean distance from (cy, cx): entry r averages the
    pixels with ``round(distance) == r``, r = 0 .. max_radius (default: the largest distance in the
    map); rings with no pixel are NaN. Less noisy than a row through the centre, and a Gaussian
    shows as a bell whose width can be read off."""
    e = as_tensor(erf, "erf", ndim=2).double().numpy()
    yy, xx = np.indices(e.shape)
    r = np.rint(np.hypot(yy - float(cy), xx - float(cx))).astype(np.int64)
    n = int(r.max()) + 1 if max_radius is None else check_int(max_radius, "max_radius", min_value=0) + 1
    keep = r < n
    sums = np.bincount(r[keep], weights=e[keep], minlength=n)
    counts = np.bincount(r[keep], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


class ConeGradient:
    """Fast |d unit / d input| for a VGG-like ``nn.Sequential`` (Conv2d with stride 1, ReLU,
    MaxPool2d with kernel = stride and no padding): one forward pass stores the ReLU masks and the
    pools' argmax masks; each query back-propagates by hand through the unit's *cone* only (the
    window of each layer inside its receptive field), instead of through whole maps.

    ``cone(layer, (row, col))`` returns the same (H, W) tensor as
    :func:`effective_receptive_field` (tested), typically 10x faster.
    Other layer types raise ValueError (use ``effective_receptive_field``).
    """

    def __init__(self, features, image, until: str | None = None):
        x = as_tensor(image, "image", ndim=4, kind="float")
        self.steps, self.shape = [], tuple(x.shape[-2:])
        h = x.detach()
        with torch.no_grad():
            for name, m in features.named_children():
                n_in = tuple(h.shape[-2:])
                if isinstance(m, nn.Conv2d):
                    if m.stride != (1, 1) or m.groups != 1 or isinstance(m.padding, str):
                        raise ValueError(f"features: layer {name} is not a stride-1 convolution")
                    self.steps.append((name, "conv", m.weight.detach(), m.padding[0], m.dilation[0], n_in))
                    h = m(h)
                elif isinstance(m, nn.ReLU):
                    self.steps.append((name, "relu", (h > 0).to(h.dtype), None, None, n_in))
                    h = torch.relu(h)
                elif isinstance(m, nn.MaxPool2d):
                    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                    s_ = m.stride if isinstance(m.stride, int) else m.stride[0]
                    if k != s_ or m.padding not in (0, (0, 0)) or m.ceil_mode:
                        raise ValueError(f"features: pool {name} must have kernel = stride, no padding")
                    out, idx = F.max_pool2d(h, k, k, return_indices=True)
                    mask = torch.zeros_like(h).flatten(2)
                    mask.scatter_(2, idx.flatten(2), 1.0)
                    self.steps.append((name, "pool", mask.view_as(h), k, None, n_in))
                    h = out
                else:
                    raise ValueError(f"features: layer {name} ({type(m).__name__}) is not supported")
                self.steps[-1] = self.steps[-1] + (tuple(h.shape[-2:]),)
                if name == until:
                    break
        self.names = [st[0] for st in self.steps]

    def __call__(self, layer: str, unit) -> torch.Tensor:
        # many tiny ops: one thread and the plain (non-oneDNN) kernels are fastest, and do not
        # fight other processes for cores; the global settings are restored afterwards
        with small_ops():
            return self._grad(layer, unit)

    def _grad(self, layer: str, unit) -> torch.Tensor:
        check_choice(layer, "layer", self.names)
        i = self.names.index(layer)
        n_out = self.steps[i][-1]
        r = check_int(unit[0], "unit[0]", min_value=0, max_value=n_out[0] - 1)
        c = check_int(unit[1], "unit[1]", min_value=0, max_value=n_out[1] - 1)
        # gradient window of the current layer's output: G over rows [y0, y1), cols [x0, x1)
        chans = self._channels(i)
        G = torch.zeros(1, chans, 1, 1)
        G[0, :, 0, 0] = 1.0
        y0, x0 = r, c
        for name, kind, a, b, d, n_in, n_o in reversed(self.steps[:i + 1]):
            if kind == "relu":
                G = G * a[:, :, y0:y0 + G.shape[2], x0:x0 + G.shape[3]]
            elif kind == "pool":
                k = b
                G = G.repeat_interleave(k, 2).repeat_interleave(k, 3)
                y0, x0 = y0 * k, x0 * k
                G = G * a[:, :, y0:y0 + G.shape[2], x0:x0 + G.shape[3]]
            else:  # conv, stride 1: input row = output row - p + ky * d
                G = F.conv_transpose2d(G, a, dilation=d)
                y0, x0 = y0 - b, x0 - b
                top, left = max(0, -y0), max(0, -x0)
                bottom = max(0, y0 + G.shape[2] - n_in[0])
                right = max(0, x0 + G.shape[3] - n_in[1])
                G = G[:, :, top:G.shape[2] - bottom, left:G.shape[3] - right]
                y0, x0 = y0 + top, x0 + left
        out = torch.zeros(self.shape, dtype=G.dtype)
        out[y0:y0 + G.shape[2], x0:x0 + G.shape[3]] = G[0].abs().sum(0)
        return out

    def _channels(self, i):
        for name, kind, a, *_ in reversed(self.steps[:i + 1]):
            if kind == "conv":
                return a.shape[0]
        return 3


def transposed_grid(start: float, jump: float, kernel: int, stride: int, padding: int = 0) -> tuple[float, float]:
    """Where a transposed convolution's outputs sit, in input pixels.

    A map whose unit i is centred at input pixel ``start + i * jump`` goes through a transposed
    convolution (kernel, stride, padding): its output unit o is centred at
    ``start + jump * (o - (kernel - 1) / 2 + padding) / stride`` (Caffe's ``coord_map`` for
    Deconvolution). Returns the new ``(start, jump)`` = ``(start + jump * (padding - (kernel - 1) / 2)
    / stride, jump / stride)``. Fixed bilinear upsampling by f (``F.interpolate``,
    ``align_corners=False``) has the grid of kernel 2f, stride f, padding f / 2.
    """
    kernel = check_int(kernel, "kernel", min_value=1)
    stride = check_int(stride, "stride", min_value=1)
    padding = check_int(padding, "padding", min_value=0)
    if not jump > 0:
        raise ValueError(f"jump: expected a positive spacing in pixels, got {jump}")
    return float(start) + jump * (padding - (kernel - 1) / 2) / stride, jump / stride


def crop_offset(start_from: float, start_to: float, jump: float) -> int:
    """Caffe's crop offset: the index of the unit of map ``from`` that sits on unit 0 of map ``to``.

    Both maps have spacing ``jump`` (input pixels); unit 0 of ``from`` is centred at ``start_from``,
    of ``to`` at ``start_to``. The offset is ``(start_to - start_from) / jump``; it must be a
    whole number >= 0 (else the maps cannot be aligned by cropping ``from``): ValueError.
    """
    if not jump > 0:
        raise ValueError(f"jump: expected a positive spacing in pixels, got {jump}")
    off = (start_to - start_from) / jump
    if off < -1e-9 or abs(off - round(off)) > 1e-9:
        raise ValueError(f"start_from: map 'from' (unit 0 at {start_from}) cannot be cropped onto map "
                         f"'to' (unit 0 at {start_to}) with spacing {jump}: offset {off:g} is not a whole "
                         f"number >= 0")
    return int(round(off))


def fcn_crop_offsets(net: nn.Module, scores: str, pool4: str, pool3: str, up: tuple = (4, 2, 0),
                     final: tuple = (16, 8, 0), input_size: int | None = None) -> dict:
    """FCN-8s's three crop offsets from the layer geometry, as Caffe's ``crop`` computes them.

    net: a module whose Conv2d/MaxPool layers (in :func:`receptive_fields` order) include the
    stride-32 class-score layer ``scores`` and the pools ``pool4`` and ``pool3`` (module names).
    up: (kernel, stride, padding) of each 2x transposed convolution; final: the same for the 8x
    upsampling to the image. Returns ``{"score_pool4": k4, "score_pool3": k3, "upscore8": k8}``:
    score_pool4 is cropped from row/column k4 to fit the 2x upsampled stride-32 scores, score_pool3
    from k3 to fit the upsampled fused stride-16 scores, and the 8x upsampled output from k8 to fit
    the image. With ``input_size`` (H = W) the result also has ``"centred"``: the offsets a centred
    crop would use, ``(larger - smaller) // 2``, and ``"sizes"`` of the maps involved.
    """
    recs = {r.name: r for r in receptive_fields(net, input_size)}
    for arg, name in (("scores", scores), ("pool4", pool4), ("pool3", pool3)):
        check_choice(name, arg, list(recs))
    up = tuple(check_int(v, "up", min_value=0) for v in up)
    final = tuple(check_int(v, "final", min_value=0) for v in final)
    if len(up) != 3 or len(final) != 3:
        raise ValueError(f"up/final: expected (kernel, stride, padding), got {up} and {final}")
    s32 = recs[scores]
    start16, jump16 = transposed_grid(s32.start, s32.jump, *up)
    k4 = crop_offset(recs[pool4].start, start16, jump16)
    start8, jump8 = transposed_grid(start16, jump16, *up)
    k3 = crop_offset(recs[pool3].start, start8, jump8)
    start1, jump1 = transposed_grid(start8, jump8, *final)
    k8 = crop_offset(start1, 0.0, jump1)
    out = {"score_pool4": k4, "score_pool3": k3, "upscore8": k8}
    if input_size is not None:
        n32 = s32.out_size
        n16 = transposed_output_size(n32, *up)
        n8 = transposed_output_size(n16, *up)
        n1 = transposed_output_size(n8, *final)
        sizes = {"score_fr": n32, "upscore2": n16, "score_pool4": recs[pool4].out_size,
                 "upscore_pool4": n8, "score_pool3": recs[pool3].out_size, "upscore8": n1,
                 "image": input_size}
        out["sizes"] = sizes
        out["centred"] = {"score_pool4": (sizes["score_pool4"] - n16) // 2,
                          "score_pool3": (sizes["score_pool3"] - n8) // 2,
                          "upscore8": (n1 - input_size) // 2}
    return out


def unit_centres(rec: RFRecord, max_units: int = 56) -> tuple[np.ndarray, np.ndarray]:
    """Input-pixel centres (x, y) of every unit of a layer's map, ``start + index * jump``, as two
    flat arrays of length out_size**2 (empty when the map is larger than ``max_units`` per side)."""
    if rec.out_size is None:
        raise ValueError("rec: needs out_size (call receptive_fields with input_size)")
    if rec.out_size > max_units:
        return np.zeros(0), np.zeros(0)
    c = rec.start + np.arange(rec.out_size) * rec.jump
    gy, gx = np.meshgrid(c, c, indexing="ij")
    return gx.ravel(), gy.ravel()


def receptive_field_frame(records: dict, cone: "ConeGradient", layer: str, row: int, col: int) -> dict:
    """Everything one frame of the receptive-field explorer shows, for unit (row, col) of ``layer``.

    records: {name: RFRecord} with out_size (from :func:`receptive_fields`); cone: a
    :class:`ConeGradient` over the same layers. Returns a dict: ``erf`` (H, W) float64 in [0, 1]
    (|gradient| normalised by its peak), ``layer``, ``unit``, ``size``, ``jump``, ``start``,
    ``out_size``, ``centre`` (y, x) in input pixels, ``rf_box`` (x0, y0, side) for drawing,
    ``erf90`` (side of the centred square holding 90% of the gradient mass) and ``outside_mass``
    (share of the mass outside the theoretical field: 0 up to rounding).
    """
    rec = records[check_choice(layer, "layer", list(records))]
    r = check_int(row, "row", min_value=0, max_value=rec.out_size - 1)
    c = check_int(col, "col", min_value=0, max_value=rec.out_size - 1)
    erf = cone(layer, (r, c)).numpy().astype(np.float64)
    cy, cx = rec.start + r * rec.jump, rec.start + c * rec.jump
    half = (rec.size - 1) / 2
    peak = erf.max() if erf.max() > 0 else 1.0
    yy, xx = np.indices(erf.shape)
    inside = (np.abs(yy - cy) <= half) & (np.abs(xx - cx) <= half)
    return dict(erf=erf / peak, layer=layer, unit=(r, c), size=rec.size, jump=rec.jump, start=rec.start,
                out_size=rec.out_size, centre=(cy, cx), rf_box=(cx - half - 0.5, cy - half - 0.5, rec.size),
                erf90=mass_square_side(erf, cy, cx, 0.9),
                outside_mass=float(erf[~inside].sum() / max(erf.sum(), 1e-300)))
