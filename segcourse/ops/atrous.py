"""Atrous (dilated) convolution, 多孔卷积 / 空洞卷积 (lessons 06-07).

A 3 x 3 kernel at rate ``r`` touches the input at offsets ``-r, 0, r`` in each direction: it spans
``r (k - 1) + 1`` pixels with only ``k`` taps. Three definitions that compute the same thing
(``tests/test_atrous.py`` proves them equal):

(a) :func:`dilate_kernel`: insert ``r - 1`` zeros between the taps, then an ordinary convolution
    ("convolution with upsampled filters", the *algorithme à trous*: "trous" = holes);
(b) ``F.conv2d(x, w, dilation=r)``: the taps read every ``r``-th pixel;
(c) :func:`atrous_conv2d_space_to_batch`: split the input into ``r x r`` interleaved sub-images
    (:func:`space_to_batch`), run an ordinary convolution on each, interleave the results back
    (:func:`batch_to_space`). This is how ``tf.nn.atrous_conv2d`` (TensorFlow 1.x, the slide's
    TF-slim code) computes it, including its SAME padding and the extra end padding it adds when
    the height or width is not a multiple of the rate.

Then what stacking rates does to the input a unit sees (:func:`sampling_footprint`, gridding) and
what a large rate does on a small map (:func:`valid_tap_stats`, DeepLab v3's Figure 4).

Pure tensor code.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import as_tensor, check_choice, check_float, check_int
from .receptive_field import mass_square_side

__all__ = ["effective_kernel_size", "dilate_kernel", "same_padding", "space_to_batch_paddings",
           "space_to_batch", "batch_to_space", "atrous_conv2d_space_to_batch",
           "sampling_footprint", "footprint_1d", "footprint_stats", "footprint_frame", "hdc_max_gap",
           "RATE_PATTERNS", "rate_pattern",
           "valid_taps", "valid_tap_stats", "tap_positions", "aspp_tap_frame"]


def effective_kernel_size(kernel: int, rate: int) -> int:
    """Span of a ``kernel``-tap filter at ``rate``: ``rate * (kernel - 1) + 1`` input pixels."""
    kernel = check_int(kernel, "kernel", min_value=1)
    rate = check_int(rate, "rate", min_value=1)
    return rate * (kernel - 1) + 1


def dilate_kernel(weight, rate: int) -> torch.Tensor:
    """The kernel with ``rate - 1`` zeros inserted between neighbouring taps (definition (a)).

    weight: (..., kh, kw) float, e.g. a conv weight (C_out, C_in, kh, kw). Returns
    (..., rate (kh - 1) + 1, rate (kw - 1) + 1) with ``out[..., i*rate, j*rate] = weight[..., i, j]``
    and zeros elsewhere; ``F.conv2d(x, dilate_kernel(w, r))`` equals ``F.conv2d(x, w, dilation=r)``
    (same padding), at ``r**2`` times the multiply-accumulates for a 3 x 3 kernel's worth of taps.
    """
    w = as_tensor(weight, "weight", kind="float", allow_empty=False)
    if w.ndim < 2:
        raise ValueError(f"weight: expected shape (..., kh, kw), got {tuple(w.shape)}")
    rate = check_int(rate, "rate", min_value=1)
    kh, kw = w.shape[-2:]
    out = w.new_zeros(*w.shape[:-2], rate * (kh - 1) + 1, rate * (kw - 1) + 1)
    out[..., ::rate, ::rate] = w
    return out


def same_padding(kernel: int, rate: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for a ``kernel``-tap filter at ``rate``.

    The effective kernel ``k_eff = rate (kernel - 1) + 1`` needs ``k_eff - 1`` zeros in all;
    ``(k_eff - 1) // 2`` go before, the rest after (an odd total puts the extra zero at the end).
    """
    total = effective_kernel_size(kernel, rate) - 1
    return total // 2, total - total // 2


def space_to_batch_paddings(n: int, kernel: int, rate: int, padding: str = "SAME") -> tuple[int, int, int]:
    """Paddings ``tf.nn.atrous_conv2d`` uses along one axis of length ``n``: (pad_start, pad_end, crop_end).

    ``padding="SAME"`` starts from :func:`same_padding`, ``"VALID"`` from (0, 0); then TensorFlow's
    ``required_space_to_batch_paddings`` adds ``(rate - (n + before + after) % rate) % rate`` zeros at
    the *end* so that the padded length is a multiple of ``rate`` (space-to-batch needs it), and
    :func:`batch_to_space` crops exactly those extra rows/columns off the end again.
    """
    n = check_int(n, "n", min_value=1)
    check_choice(padding, "padding", ("SAME", "VALID"))
    before, after = same_padding(kernel, rate) if padding == "SAME" else (0, 0)
    extra = (rate - (n + before + after) % rate) % rate
    return before, after + extra, extra


def _pairs(v, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if not (isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in v)):
        raise TypeError(f"{name}: expected ((top, bottom), (left, right)), got {v!r}")
    return tuple(tuple(check_int(q, name, min_value=0) for q in p) for p in v)  # type: ignore[return-value]


def space_to_batch(x, block: int, paddings=((0, 0), (0, 0))) -> torch.Tensor:
    """TensorFlow's ``space_to_batch_nd`` in NCHW layout.

    x: (N, C, H, W); paddings ((top, bottom), (left, right)) zeros, after which H and W must be
    multiples of ``block``. Returns (block**2 N, C, H' / block, W' / block) where batch entry
    ``(i * block + j) * N + n`` is the sub-image ``padded[n, :, i::block, j::block]`` (TF's order:
    block offsets outermost, then the original batch).
    """
    x = as_tensor(x, "x", ndim=4)
    b = check_int(block, "block", min_value=1)
    (pt, pb), (pl, pr) = _pairs(paddings, "paddings")
    x = F.pad(x, (pl, pr, pt, pb))
    n, c, h, w = x.shape
    if h % b or w % b:
        raise ValueError(f"paddings: the padded size {(h, w)} must be a multiple of block {b}")
    x = x.reshape(n, c, h // b, b, w // b, b).permute(3, 5, 0, 1, 2, 4)
    return x.reshape(b * b * n, c, h // b, w // b)


def batch_to_space(x, block: int, crops=((0, 0), (0, 0))) -> torch.Tensor:
    """Inverse of :func:`space_to_batch` (TensorFlow's ``batch_to_space_nd``), NCHW.

    x: (block**2 N, C, h, w) -> (N, C, h block - top - bottom, w block - left - right), interleaving
    the sub-images back and cropping ``crops`` ((top, bottom), (left, right)) off the edges.
    """
    x = as_tensor(x, "x", ndim=4)
    b = check_int(block, "block", min_value=1)
    (ct, cb), (cl, cr) = _pairs(crops, "crops")
    nb, c, h, w = x.shape
    if nb % (b * b):
        raise ValueError(f"x: expected a batch that is a multiple of block**2 = {b * b}, got shape {tuple(x.shape)}")
    n = nb // (b * b)
    x = x.reshape(b, b, n, c, h, w).permute(2, 3, 4, 0, 5, 1).reshape(n, c, h * b, w * b)
    if ct + cb >= h * b or cl + cr >= w * b:
        raise ValueError(f"crops: {((ct, cb), (cl, cr))} leave nothing of a {(h * b, w * b)} map")
    return x[:, :, ct:h * b - cb, cl:w * b - cr]


def atrous_conv2d_space_to_batch(x, weight, rate: int, padding: str = "SAME", bias=None) -> torch.Tensor:
    """Atrous convolution as ``tf.nn.atrous_conv2d`` computes it (definition (c)).

    x: (N, C_in, H, W) float; weight: (C_out, C_in, kh, kw) float (PyTorch layout; cross-correlation
    like ``F.conv2d``); bias: (C_out,) or None; padding: "SAME" (output H x W) or "VALID" (output
    (H - k_eff + 1) x (W - k_eff + 1)). Steps: pad (:func:`space_to_batch_paddings`: SAME zeros,
    plus extra zeros at the end so H and W become multiples of ``rate``), :func:`space_to_batch`
    with block ``rate``, an ordinary VALID convolution of every sub-image with the *undilated*
    kernel, :func:`batch_to_space`, crop the extra end rows/columns. Returns (N, C_out, H_out, W_out).
    """
    x = as_tensor(x, "x", shape=("N", "C", "H", "W"), kind="float")
    w = as_tensor(weight, "weight", shape=(None, x.shape[1], None, None), kind="float", allow_empty=False)
    rate = check_int(rate, "rate", min_value=1)
    check_choice(padding, "padding", ("SAME", "VALID"))
    H, W = x.shape[-2:]
    kh, kw = w.shape[-2:]
    for n, k, axis in ((H, kh, "H"), (W, kw, "W")):
        if padding == "VALID" and n < effective_kernel_size(k, rate):
            raise ValueError(f"x: with VALID padding {axis} = {n} must be >= the effective kernel "
                             f"{effective_kernel_size(k, rate)} (kernel {k}, rate {rate})")
    ph = space_to_batch_paddings(H, kh, rate, padding)
    pw = space_to_batch_paddings(W, kw, rate, padding)
    y = space_to_batch(x, rate, ((ph[0], ph[1]), (pw[0], pw[1])))
    y = F.conv2d(y, w)
    y = batch_to_space(y, rate, ((0, ph[2]), (0, pw[2])))
    if bias is not None:
        b = as_tensor(bias, "bias", shape=(w.shape[0],), kind="float")
        y = y + b[:, None, None]
    return y


# ---------------------------------------------------------------- what a stack of rates samples

def _layer_specs(layers) -> tuple[tuple[int, int, int], ...]:
    """Normalise ``layers`` to ((kernel, rate, stride), ...); a bare int is a 3 x 3 layer at that rate."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"layers: expected a sequence of rates or (kernel, rate[, stride]) tuples, got {layers!r}")
    specs = []
    for i, spec in enumerate(layers):
        name = f"layers[{i}]"
        if isinstance(spec, (tuple, list)):
            if len(spec) not in (2, 3):
                raise ValueError(f"{name}: expected (kernel, rate) or (kernel, rate, stride), got {spec!r}")
            k = check_int(spec[0], f"{name} kernel", min_value=1, max_value=31)
            r = check_int(spec[1], f"{name} rate", min_value=1, max_value=256)
            s = check_int(spec[2], f"{name} stride", min_value=1, max_value=8) if len(spec) == 3 else 1
        else:
            k, r, s = 3, check_int(spec, f"{name} (a rate)", min_value=1, max_value=256), 1
        specs.append((k, r, s))
    if not specs:
        raise ValueError("layers: expected at least one layer, got none")
    if len(specs) > 16:
        raise ValueError(f"layers: expected at most 16 layers (path counts stay exact), got {len(specs)}")
    return tuple(specs)


def _footprint(specs: tuple, ndim: int) -> torch.Tensor:
    conv_t = F.conv_transpose1d if ndim == 1 else F.conv_transpose2d
    x = torch.ones((1, 1) + (1,) * ndim, dtype=torch.float64)
    for k, r, s in reversed(specs):  # back from the output unit to the input
        x = conv_t(x, torch.ones((1, 1) + (k,) * ndim, dtype=torch.float64), stride=s, dilation=r)
    if x.max().item() >= 2 ** 53:
        raise ValueError("layers: too many paths to count exactly in float64")
    return x[0, 0].round().long()


def footprint_1d(layers) -> torch.Tensor:
    """Path counts along one axis: (R,) int64, R = the receptive field. For square layers the 2-D
    footprint is the outer product of this with itself (rows and columns are chosen independently)."""
    return _footprint(_layer_specs(layers), 1)


def sampling_footprint(layers, size=None) -> torch.Tensor:
    """How many paths lead from one output unit back to each input pixel, through a stack of layers.

    layers: a sequence, input side first, of rates (3 x 3 layers) or ``(kernel, rate)`` /
    ``(kernel, rate, stride)`` tuples; e.g. ``[2, 2, 2]`` or ``[(3, 1), (3, 2), (3, 3)]``.
    Exact integer counts, computed by pushing a delta at the output back through each layer with a
    transposed convolution whose kernel is all ones (same kernel, stride, dilation); no padding
    (an input large enough that no path leaves it). Equals the number of tap sequences
    (t_1, ..., t_L) whose offsets add up to that pixel: a zero means the unit never sees the pixel
    (a hole: gridding when all rates share a factor), and the counts are also the unit's *effective*
    receptive field for uniform weights and no non-linearity (Luo et al., arXiv:1701.04128, Sec. 2).

    size: None (returns (R, R), R the theoretical receptive field) or an int / (H, W): the footprint
    centred in an H x W canvas (cropped or zero-padded; centre pixel (H // 2, W // 2)).
    Returns int64.
    """
    fp = _footprint(_layer_specs(layers), 2)
    if size is None:
        return fp
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"size: expected an int or (H, W), got {size!r}")
        H, W = (check_int(s, "size", min_value=1, max_value=4096) for s in size)
    else:
        H = W = check_int(size, "size", min_value=1, max_value=4096)
    return _place(fp, (H, W), (H // 2, W // 2))


def _place(fp: torch.Tensor, shape: tuple[int, int], centre: tuple[int, int]) -> torch.Tensor:
    """``fp`` (h, w) pasted into zeros of ``shape`` with its centre pixel ((h-1)//2, (w-1)//2) at ``centre``."""
    H, W = shape
    h, w = fp.shape
    top, left = centre[0] - (h - 1) // 2, centre[1] - (w - 1) // 2
    # NumPy allocates the canvas: torch.zeros of a 224 x 224 map waits ~8 ms for its OpenMP
    # threads when the cores are busy (measured on 2 shared cores); a widget frame cannot afford it
    out = torch.from_numpy(np.zeros((H, W), np.int64))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, H), min(left + w, W)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = fp[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def footprint_stats(footprint, mass: float = 0.9) -> dict:
    """Numbers that describe a footprint (:func:`sampling_footprint` with ``size=None``).

    footprint: (h, w) non-negative counts, centred. Returns ``size`` (h, w) the theoretical
    receptive field; ``support`` pixels reached at least once; ``holes`` pixels inside the field
    never reached; ``coverage`` = support / (h w); ``erf_side`` the side of the smallest centred
    square holding ``mass`` of all paths (the effective receptive field for uniform weights);
    ``paths`` the total number of paths (k**2 per 3x3 layer: 9**L).
    """
    fp = as_tensor(footprint, "footprint", ndim=2, min_value=0, allow_empty=False)
    mass = check_float(mass, "mass", min_value=0.0, max_value=1.0)
    h, w = fp.shape
    support = int((fp > 0).sum().item())
    return {"size": (h, w), "support": support, "holes": h * w - support, "coverage": support / (h * w),
            "erf_side": mass_square_side(fp.double().numpy(), (h - 1) / 2, (w - 1) / 2, mass), "paths": int(fp.sum().item())}


@functools.lru_cache(maxsize=64)
def _cached(specs: tuple) -> tuple[torch.Tensor, dict]:
    fp = _footprint(specs, 2)
    return fp, footprint_stats(fp)


def footprint_frame(layers, image_size, unit) -> dict:
    """Everything one frame of the footprint widget draws, for an output unit centred on input
    pixel ``unit`` = (row, col) of an image of ``image_size`` = (H, W).

    Returns ``counts`` (H, W) int64 paths per pixel (the footprint placed on the image, cut at its
    borders), ``rf_box`` and ``erf_box`` (top, left, bottom, right), end-exclusive, *not* clipped to
    the image: the theoretical receptive field and the centred square holding 90 % of the paths;
    and ``stats`` (:func:`footprint_stats` of the whole footprint). The footprint of a layer stack is
    computed once and cached; a frame costs one paste.
    """
    fp, stats = _cached(_layer_specs(layers))
    if not (isinstance(image_size, (tuple, list)) and len(image_size) == 2):
        raise TypeError(f"image_size: expected (H, W), got {image_size!r}")
    H = check_int(image_size[0], "image_size[0]", min_value=1, max_value=4096)
    W = check_int(image_size[1], "image_size[1]", min_value=1, max_value=4096)
    if not (isinstance(unit, (tuple, list)) and len(unit) == 2):
        raise TypeError(f"unit: expected (row, col), got {unit!r}")
    r = check_int(unit[0], "unit[0]", min_value=0, max_value=H - 1)
    c = check_int(unit[1], "unit[1]", min_value=0, max_value=W - 1)
    h, w = fp.shape
    top, left = r - (h - 1) // 2, c - (w - 1) // 2
    e = stats["erf_side"]
    etop, eleft = r - (e - 1) // 2, c - (e - 1) // 2
    return {"counts": _place(fp, (H, W), (r, c)), "rf_box": (top, left, top + h, left + w),
            "erf_box": (etop, eleft, etop + e, eleft + e), "stats": dict(stats)}


def hdc_max_gap(rates, kernel: int = 3) -> int:
    """Wang et al.'s (arXiv:1702.08502, "Understanding Convolution for Semantic Segmentation",
    Sec. 3.2) hybrid dilated convolution (HDC) rule for a group of ``kernel``-tap layers at
    ``rates``: ``M_n = r_n``, ``M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i)``, and
    the group covers its field without holes when ``M_2 <= kernel``. Returns ``M_2`` (``M_1`` for a
    single layer).

    The rule never looks at ``r_1``: it assumes the group starts at rate 1 (the paper's groups are
    [1, 2, 5], [1, 2, 9]). ``tests/test_atrous.py`` checks it against :func:`footprint_1d`: for
    non-decreasing groups that start at 1 (up to 4 layers, rates up to 9) it is exact; for other
    groups that start at 1 it is sufficient, never wrong when it promises no holes; when ``r_1 > 1``
    it can promise wrongly ([2, 2, 2]: ``M_2 = 2 <= 3`` but only even offsets are reached; the paper
    adds that the rates must not share a common factor, which is still not enough: [8, 3, 7, 5]).
    """
    rs = [check_int(r, "rates", min_value=1) for r in rates]
    if not rs:
        raise ValueError("rates: expected at least one rate")
    check_int(kernel, "kernel", min_value=1)
    m = rs[-1]
    for r in reversed(rs[1:-1]):
        m = max(m - 2 * r, m - 2 * (m - r), r)
    return m


#: Named rate patterns for a stack of 3 x 3 layers (:func:`rate_pattern`; the footprint widget's menu).
RATE_PATTERNS = ("equal", "hybrid", "hdc", "exponential")


def rate_pattern(pattern: str, layers: int, rate: int = 2) -> list[int]:
    """The rates of ``layers`` stacked 3 x 3 layers, input side first.

    pattern: ``"equal"``: ``rate`` in every layer (gridding when ``rate > 1``); ``"hybrid"``: 1, 2, 3
    repeated (rates without a common factor: no holes); ``"hdc"``: 1, 2, 5 repeated (a group of Wang
    et al.'s hybrid dilated convolution, arXiv:1702.08502); ``"exponential"``: 1, 2, 4, 8, ... (Yu and
    Koltun's context module, arXiv:1511.07122). ``rate`` is used by ``"equal"`` only.
    """
    check_choice(pattern, "pattern", RATE_PATTERNS)
    n = check_int(layers, "layers", min_value=1, max_value=16)
    rate = check_int(rate, "rate", min_value=1, max_value=256)
    if pattern == "equal":
        return [rate] * n
    if pattern == "exponential":
        if n > 9:
            raise ValueError(f"layers: the exponential pattern allows at most 9 layers (rate <= 256), got {n}")
        return [2 ** i for i in range(n)]
    group = (1, 2, 3) if pattern == "hybrid" else (1, 2, 5)
    return [group[i % 3] for i in range(n)]


# ---------------------------------------------------------------- large rates on small maps

def _valid_1d(size: int, rates: torch.Tensor, kernel: int) -> torch.Tensor:
    """(R, size) number of a ``kernel``-tap filter's taps (SAME padding, per rate) inside the axis."""
    i = torch.arange(size)
    t = torch.arange(kernel)
    before = (rates * (kernel - 1)) // 2
    pos = i[None, :, None] + t[None, None, :] * rates[:, None, None] - before[:, None, None]
    return ((pos >= 0) & (pos < size)).sum(-1)


def valid_taps(size, rate: int, kernel: int = 3) -> torch.Tensor:
    """How many of a ``kernel x kernel`` filter's taps at ``rate`` fall inside an H x W map, for each
    output position (SAME zero padding: the other taps read padding). size: int or (H, W).
    Returns (H, W) int64 in [1, kernel**2] (the centre tap is always inside for odd kernels)."""
    H, W = (size, size) if not isinstance(size, (tuple, list)) else size
    H = check_int(H, "size", min_value=1, max_value=4096)
    W = check_int(W, "size", min_value=1, max_value=4096)
    rate = check_int(rate, "rate", min_value=1)
    kernel = check_int(kernel, "kernel", min_value=1, max_value=31)
    r = torch.tensor([rate])
    return _valid_1d(H, r, kernel)[0][:, None] * _valid_1d(W, r, kernel)[0][None, :]


def valid_tap_stats(size: int, rates, kernel: int = 3) -> dict:
    """DeepLab v3's Figure 4 (arXiv:1706.05587): a 3 x 3 filter at growing rates on a ``size`` x
    ``size`` map (65 in the paper) degenerates: past ``rate >= size`` only its centre tap still reads
    the map, a 1 x 1 convolution, hence v3's image-level pooling branch.

    rates: a sequence of R ints. Returns tensors over rates: ``rates`` (R,); ``mean_fraction`` (R,)
    the share of the k**2 taps inside the map, averaged over positions; ``centre_only`` (R,) the
    share of positions where only the centre tap is inside; ``all_valid`` (R,) the share where all
    are; ``share`` (R, k**2 + 1) the share of positions with exactly j valid taps (v3 plots j = 1, 4, 9).
    """
    size = check_int(size, "size", min_value=1, max_value=4096)
    kernel = check_int(kernel, "kernel", min_value=1, max_value=31)
    rs = torch.tensor([check_int(r, "rates", min_value=1) for r in rates], dtype=torch.long)
    if rs.numel() == 0:
        raise ValueError("rates: expected at least one rate")
    v = _valid_1d(size, rs, kernel)                                  # (R, n)
    counts = (v[:, :, None] * v[:, None, :]).reshape(len(rs), -1)    # (R, n*n)
    share = F.one_hot(counts, kernel * kernel + 1).double().mean(1)  # (R, k*k + 1)
    k2 = kernel * kernel
    return {"rates": rs, "mean_fraction": counts.double().mean(1) / k2,
            "centre_only": share[:, 1], "all_valid": share[:, k2], "share": share}


def tap_positions(size, position, rate: int, kernel: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the taps of one ``kernel x kernel`` filter at ``rate`` read, for the output at
    ``position`` = (row, col) of an H x W map (size: int or (H, W)), SAME padding.

    Returns ``taps`` (kernel**2, 2) int64 (row, col), row-major from the top-left tap, and ``inside``
    (kernel**2,) bool: the taps that read the map rather than padding (``inside.sum()`` equals
    :func:`valid_taps` at that position).
    """
    H, W = (size, size) if not isinstance(size, (tuple, list)) else size
    H = check_int(H, "size", min_value=1, max_value=4096)
    W = check_int(W, "size", min_value=1, max_value=4096)
    if not (isinstance(position, (tuple, list)) and len(position) == 2):
        raise TypeError(f"position: expected (row, col), got {position!r}")
    r0 = check_int(position[0], "position[0]", min_value=0, max_value=H - 1)
    c0 = check_int(position[1], "position[1]", min_value=0, max_value=W - 1)
    rate = check_int(rate, "rate", min_value=1)
    kernel = check_int(kernel, "kernel", min_value=1, max_value=31)
    before = (rate * (kernel - 1)) // 2
    off = torch.arange(kernel) * rate - before
    rows = (r0 + off)[:, None].expand(kernel, kernel)
    cols = (c0 + off)[None, :].expand(kernel, kernel)
    taps = torch.stack([rows.reshape(-1), cols.reshape(-1)], 1)
    inside = (taps[:, 0] >= 0) & (taps[:, 0] < H) & (taps[:, 1] >= 0) & (taps[:, 1] < W)
    return taps, inside


@functools.lru_cache(maxsize=16)
def _curve(size: int, max_rate: int, kernel: int) -> dict:
    return valid_tap_stats(size, range(1, max_rate + 1), kernel)


def aspp_tap_frame(size: int, rates, position, kernel: int = 3, max_rate: int | None = None) -> dict:
    """One frame of lesson 07's ASPP widget: where the ``kernel x kernel`` branches at ``rates`` of
    one output unit at ``position`` = (row, col) read a ``size`` x ``size`` feature map.

    Returns ``size``, ``position``, ``rates`` (tuple); ``taps`` (B, k**2, 2) int64 and ``inside``
    (B, k**2) bool per branch (:func:`tap_positions`); ``valid_here`` (B,) taps inside at this
    position; ``mean_fraction`` (B,) each rate's share of taps inside averaged over the map
    (:func:`valid_tap_stats`); ``curve``: :func:`valid_tap_stats` for rates 1..``max_rate``
    (default ``2 * size``), cached per map size.
    """
    size = check_int(size, "size", min_value=1, max_value=1024)
    rs = tuple(check_int(r, "rates", min_value=1) for r in rates)
    if not rs:
        raise ValueError("rates: expected at least one rate")
    kernel = check_int(kernel, "kernel", min_value=1, max_value=31)
    max_rate = 2 * size if max_rate is None else check_int(max_rate, "max_rate", min_value=1, max_value=4096)
    pairs = [tap_positions(size, position, r, kernel) for r in rs]
    taps = torch.stack([t for t, _ in pairs])
    inside = torch.stack([m for _, m in pairs])
    return {"size": size, "position": (int(position[0]), int(position[1])), "rates": rs, "taps": taps,
            "inside": inside, "valid_here": inside.sum(1),
            "mean_fraction": valid_tap_stats(size, rs, kernel)["mean_fraction"], "curve": _curve(size, max_rate, kernel)}
