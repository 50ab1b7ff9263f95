"""Large Kernel Matters (Peng et al., arXiv:1703.02719), lesson 08: the Global Convolutional Network
block (k x 1 then 1 x k, plus 1 x k then k x 1, no non-linearity between), Boundary Refinement (a
residual block), and a small GCN segmenter on the shared backbone of lessons 06-08.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .._validate import as_tensor, check_choice, check_float, check_int
from ..ops.receptive_field import receptive_fields
from .common import SmallBackbone, Segmenter, classifier_head, conv_stage, feature_costs, kaiming_, upsample_to

__all__ = ["GCN", "BoundaryRefinement", "GCNNet", "gcn_kernel", "kernel_rank", "gcn_costs", "HEADS", "large_kernel_head",
           "LargeKernelNet", "score_erf",
           "kernel_footprints", "expected_energy",
           "MAX_FOOTPRINT_K"]


class GCN(nn.Module):
    """Global Convolutional Network block (Peng et al., arXiv:1703.02719, Fig. 2B): a k x k field
    with two separable branches, (k x 1 then 1 x k) + (1 x k then k x 1), no non-linearity.

    in_channels -> ``mid_channels`` (default ``out_channels``, as in the paper) -> out_channels per
    branch; the first conv of each branch has no bias, so the block is exactly one k x k
    convolution with kernel :func:`gcn_kernel` (tested), of rank <= 2 x mid_channels per channel pair.
    forward: (N, C_in, H, W) -> (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, k: int = 15, mid_channels: int | None = None):
        super().__init__()
        cin = check_int(in_channels, "in_channels", min_value=1)
        cout = check_int(out_channels, "out_channels", min_value=1)
        self.k = check_int(k, "k", min_value=1)
        if self.k % 2 == 0:
            raise ValueError(f"k: expected an odd kernel size (SAME padding), got {k}")
        mid = cout if mid_channels is None else check_int(mid_channels, "mid_channels", min_value=1)
        p = self.k // 2
        self.left = nn.Sequential(nn.Conv2d(cin, mid, (self.k, 1), padding=(p, 0), bias=False),
                                  nn.Conv2d(mid, cout, (1, self.k), padding=(0, p)))
        self.right = nn.Sequential(nn.Conv2d(cin, mid, (1, self.k), padding=(0, p), bias=False),
                                   nn.Conv2d(mid, cout, (self.k, 1), padding=(p, 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.left(x) + self.right(x)


def gcn_kernel(gcn: GCN) -> tuple[torch.Tensor, torch.Tensor]:
    """The single k x k convolution a :class:`GCN` block equals: (weight (C_out, C_in, k, k), bias (C_out,)).

    ``K[o, i] = sum_m a[m, i] (column) outer b[o, m] (row) + sum_m d[o, m] (column) outer c[m, i] (row)``
    for left = (a: k x 1, b: 1 x k) and right = (c: 1 x k, d: k x 1): a sum of 2 x mid separable
    (rank-1) kernels. ``F.conv2d(x, K, bias, padding=k // 2) == gcn(x)`` everywhere, borders included
    (the first conv of a branch mixes only along one axis and has no bias, so its zero padding
    agrees with the big kernel's).
    """
    if not isinstance(gcn, GCN):
        raise TypeError(f"gcn: expected a GCN, got {type(gcn).__name__}")
    a, b = gcn.left[0].weight[..., 0], gcn.left[1].weight[:, :, 0, :]     # (M, I, k), (O, M, k)
    c, d = gcn.right[0].weight[:, :, 0, :], gcn.right[1].weight[..., 0]   # (M, I, k), (O, M, k)
    K = torch.einsum("miy,omx->oiyx", a, b) + torch.einsum("omy,mix->oiyx", d, c)
    return K, gcn.left[1].bias + gcn.right[1].bias


def kernel_rank(kernel, rtol: float = 1e-5) -> torch.Tensor:
    """Matrix rank of each k x k kernel: kernel (..., k, k) -> (...) int64 (singular values above
    ``rtol`` x the largest count). A separable kernel (column outer row) has rank 1."""
    K = as_tensor(kernel, "kernel", kind="float", allow_empty=False)
    if K.ndim < 2:
        raise ValueError(f"kernel: expected shape (..., k, k), got {tuple(K.shape)}")
    s = torch.linalg.svdvals(K.double())
    return (s > rtol * s[..., :1].clamp_min(1e-300)).sum(-1)


class BoundaryRefinement(nn.Module):
    """Boundary Refinement (Peng et al., Fig. 2C): ``x + conv3x3(relu(conv3x3(x)))``, channels kept."""

    def __init__(self, channels: int):
        super().__init__()
        c = check_int(channels, "channels", min_value=1)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def gcn_costs(in_channels: int, out_channels: int, k: int, size: int = 32, mid_channels: int | None = None) -> dict:
    """Parameters and MACs (on a ``size`` x ``size`` map, one image) of three ways to get a k x k
    field: the :class:`GCN` block, one k x k convolution, and a stack of (k - 1) / 2 3 x 3
    convolutions (in -> out, then out -> out) with the same theoretical receptive field.
    Returns {"gcn": {...}, "conv_kxk": {...}, "stack_3x3": {...}}, each with ``params``, ``macs``,
    ``field`` (measured with :func:`feature_costs` and ``segcourse.ops.receptive_field.receptive_fields``).
    """
    cin = check_int(in_channels, "in_channels", min_value=1)
    cout = check_int(out_channels, "out_channels", min_value=1)
    k = check_int(k, "k", min_value=3)
    if k % 2 == 0:
        raise ValueError(f"k: expected an odd kernel size, got {k}")
    size = check_int(size, "size", min_value=1)
    n3 = (k - 1) // 2
    nets = {"gcn": GCN(cin, cout, k, mid_channels),
            "conv_kxk": nn.Conv2d(cin, cout, k, padding=k // 2),
            "stack_3x3": nn.Sequential(*[nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1) for i in range(n3)])}
    out = {}
    for name, net in nets.items():
        c = feature_costs(net, (1, cin, size, size))
        # a GCN's field is its k x k box: both branches (k x 1 then 1 x k) reach every corner
        field = receptive_fields(net.left)[-1].size if name == "gcn" else receptive_fields(net)[-1].size
        out[name] = {"params": c["params"], "macs": c["macs"], "field": field}
    return out


class GCNNet(Segmenter):
    """A small Large-Kernel-Matters segmenter (Peng et al., Fig. 2A): backbone to stride 32; on the
    maps of stride 4, 8, 16, 32 a :class:`GCN` (k x k field, to class scores) and a
    :class:`BoundaryRefinement`; coarse to fine, upsample x2 and add the next finer scores, then BR;
    a last BR and bilinear x4 to full size. (The paper upsamples with learned deconvolutions; fixed
    bilinear here.) ``k`` may be an int or one per level (stride 4, 8, 16, 32)."""

    def __init__(self, num_classes: int = 6, widths=(16, 24, 32, 48, 64), k=(15, 15, 7, 3)):
        super().__init__()
        nc = check_int(num_classes, "num_classes", min_value=2)
        ks = (k,) * 4 if isinstance(k, int) else tuple(k)
        if len(ks) != 4:
            raise ValueError(f"k: expected an int or 4 kernel sizes (strides 4, 8, 16, 32), got {k!r}")
        self.backbone = SmallBackbone(widths, output_stride=32)
        w = self.backbone.widths
        self.gcn = nn.ModuleList([GCN(w[i], nc, kk) for i, kk in zip((1, 2, 3, 4), ks)])
        self.br = nn.ModuleList([BoundaryRefinement(nc) for _ in range(4)])
        self.fuse_br = nn.ModuleList([BoundaryRefinement(nc) for _ in range(3)])
        self.final_br = BoundaryRefinement(nc)

    def _forward(self, x):
        feats = self.backbone(x)[1:]                                   # strides 4, 8, 16, 32
        scores = [br(g(f)) for f, g, br in zip(feats, self.gcn, self.br)]
        y = scores[3]
        for s, br in zip(reversed(scores[:3]), self.fuse_br):          # 16, 8, 4
            y = br(upsample_to(y, s.shape[-2:]) + s)
        return upsample_to(self.final_br(y), x.shape[-2:])


#: The heads of :class:`LargeKernelNet` (the paper's Tables 1-3): a GCN block, one k x k convolution,
#: a stack of (k - 1) / 2 linear 3 x 3 convolutions with the same field.
HEADS = ("gcn", "conv", "stack")


def large_kernel_head(head: str, in_channels: int, num_classes: int, k: int, stack_width: int | None = None) -> nn.Module:
    """One way to map features to class scores with a k x k field (no non-linearity inside, as GCN):
    ``"gcn"`` :class:`GCN`; ``"conv"`` one k x k convolution; ``"stack"`` (k - 1) / 2 3 x 3
    convolutions in -> ``stack_width`` (default num_classes) -> ... -> num_classes (k = 1: a 1 x 1
    convolution, the paper's baseline)."""
    check_choice(head, "head", HEADS)
    cin = check_int(in_channels, "in_channels", min_value=1)
    nc = check_int(num_classes, "num_classes", min_value=1)
    k = check_int(k, "k", min_value=1)
    if k % 2 == 0:
        raise ValueError(f"k: expected an odd kernel size (SAME padding), got {k}")
    if head == "gcn":
        return GCN(cin, nc, k)
    if head == "conv" or k == 1:
        return nn.Conv2d(cin, nc, k, padding=k // 2)
    n3 = (k - 1) // 2
    w = nc if stack_width is None else check_int(stack_width, "stack_width", min_value=1)
    chans = [cin] + [w] * (n3 - 1) + [nc]
    return nn.Sequential(*[nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:])])


class LargeKernelNet(Segmenter):
    """The paper's framework for its kernel-size experiments (Peng et al., Fig. 3 and Tables 1-3), at
    course scale: the shared backbone at output stride 8 (a 16 x 16 map of 64 channels for a 128 x 128
    scene: the ratio of the paper's 16 x 16 res-5 map for 512 x 512 inputs), then a head with a k x k
    field straight to class scores (:func:`large_kernel_head`), optionally a
    :class:`BoundaryRefinement` on the scores, and bilinear x 8 to full size."""

    def __init__(self, head: str = "gcn", k: int = 15, br: bool = False, num_classes: int = 6,
                 widths=(16, 24, 32, 48, 64), stack_width: int | None = None):
        super().__init__()
        nc = check_int(num_classes, "num_classes", min_value=2)
        if not isinstance(br, bool):
            raise TypeError(f"br: expected a bool, got {type(br).__name__}")
        self.backbone = SmallBackbone(widths, output_stride=8)
        self.head_name, self.k = check_choice(head, "head", HEADS), check_int(k, "k", min_value=1)
        self.head = large_kernel_head(head, self.backbone.widths[-1], nc, k, stack_width)
        self.br = BoundaryRefinement(nc) if br else nn.Identity()

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores at stride 8 (before the upsampling)."""
        return self.br(self.head(self.backbone(images)[-1]))

    def _forward(self, x):
        return upsample_to(self.scores(x), x.shape[-2:])


def score_erf(model: LargeKernelNet, images, unit=None) -> dict:
    """Effective receptive field (Luo et al., arXiv:1701.04128; lesson 01's gradient method) of one
    score unit of a :class:`LargeKernelNet`: |d (sum over classes of the stride-8 scores at ``unit``) / d x|,
    averaged over the images, for x = the input image (summed over RGB) and x = the backbone's
    last feature map (summed over channels: how far the *head* reaches on its 16 x 16 map).

    images: (N, 3, H, W) float; unit: (row, col) on the stride-8 score map (default its centre).
    Returns {"input": (H, W) float64, "features": (h, w) float64, "unit": (row, col),
    "centre": (y, x) of the unit in input pixels}. The model's BatchNorm runs in eval mode.
    """
    if not isinstance(model, LargeKernelNet):
        raise TypeError(f"model: expected a LargeKernelNet, got {type(model).__name__}")
    x = as_tensor(images, "images", shape=("N", 3, "H", "W"), kind="float").detach().clone()
    if x.shape[2] % 32 or x.shape[3] % 32:
        raise ValueError(f"images: expected shape (N, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
    h, w = x.shape[2] // 8, x.shape[3] // 8
    r, c = (h // 2, w // 2) if unit is None else unit
    r, c = check_int(r, "unit[0]", min_value=0, max_value=h - 1), check_int(c, "unit[1]", min_value=0, max_value=w - 1)
    was_training = model.training
    model.eval()
    try:
        x.requires_grad_(True)
        feats = model.backbone(x)[-1]
        feats.retain_grad()
        scores = model.br(model.head(feats))
        scores[:, :, r, c].sum().backward()
    finally:
        model.train(was_training)
    return {"input": x.grad.abs().sum(1).mean(0).double(), "features": feats.grad.abs().sum(1).mean(0).double(),
            "unit": (r, c), "centre": (8 * r + 3.5, 8 * c + 3.5)}


#: The largest k of :func:`kernel_footprints` (its maps are this size, the kernel centred in them).
MAX_FOOTPRINT_K = 21


def _stack_kernels(k: int, mid: int, draws: int, gen: torch.Generator) -> torch.Tensor:
    """(draws, k, k) equivalent kernels of (k - 1) / 2 random linear 3 x 3 convs 1 -> mid -> ... -> 1,
    weights N(0, 1 / (9 x fan-in))."""
    n3 = (k - 1) // 2
    chans = [1] + [mid] * (n3 - 1) + [1]
    x = torch.zeros(1, draws, k, k, dtype=torch.float64)
    x[0, :, k // 2, k // 2] = 1.0
    for a, b in zip(chans[:-1], chans[1:]):
        w = torch.randn(draws * b, a, 3, 3, generator=gen, dtype=torch.float64) / (3.0 * a ** 0.5)
        x = F.conv2d(x, w, padding=1, groups=draws)
    return x[0].flip(-1, -2)      # the response to a delta is the kernel flipped


def _gcn_kernels(k: int, mid: int, draws: int, gen: torch.Generator) -> torch.Tensor:
    """(draws, k, k) equivalent kernels of a random 1 -> 1 GCN with ``mid`` channels, weights N(0, 1 / (k mid))."""
    a, b, c, d = (torch.randn(draws, mid, k, generator=gen, dtype=torch.float64) / (k * mid) ** 0.5
                  for _ in range(4))
    return torch.einsum("dmy,dmx->dyx", a, b) + torch.einsum("dmy,dmx->dyx", d, c)


def expected_energy(kind: str, k: int) -> np.ndarray:
    """E[K(y, x)**2] / its peak, (k, k), for the equivalent kernel of random zero-mean independent
    weights: two different paths from an input tap to the output share no weight at the layer where
    they part, so cross terms vanish and E[K**2] is the number of paths reaching each tap (times a
    constant). ``"gcn"``: every tap of the k x k box is reached by one path per branch and
    intermediate channel: uniform. ``"stack"``: (k - 1) / 2 3 x 3 layers: the outer product of the
    1-D path counts (the 3-tap box convolved with itself), lesson 06's footprint; bell-shaped."""
    check_choice(kind, "kind", ("gcn", "stack"))
    k = check_int(k, "k", min_value=1)
    if kind == "gcn":
        return np.ones((k, k))
    c = np.ones(1)
    for _ in range((k - 1) // 2):
        c = np.convolve(c, np.ones(3))
    e = np.outer(c, c)
    return e / e.max()


def kernel_footprints(k: int = 15, mid: int = 1, seed: int = 0) -> dict:
    """One frame of lesson 08's kernel explorer: where the weight of a k x k field lies, for one
    input and one output channel, for a :class:`GCN` block with ``mid`` intermediate channels and for
    a stack of (k - 1) / 2 linear 3 x 3 convolutions with ``mid`` channels between them (same field).

    k: odd, 3..MAX_FOOTPRINT_K; mid: 1..16; seed: the random draw's generator seed.
    Returns a dict with ``k``, ``mid``, ``seed``; ``gcn`` and ``stack``: the equivalent k x k kernel
    of one random draw (independent N(0, s**2) weights), centred in a MAX_FOOTPRINT_K square of NaN
    (float64); ``gcn_rms``, ``stack_rms``: the root of :func:`expected_energy` (the expected |weight|
    over all draws up to a constant; exact), embedded the same way; ``gcn_rank``, ``stack_rank``:
    matrix ranks of the draw (:func:`kernel_rank`); ``gcn_params`` (4 k mid), ``stack_params``,
    ``conv_params`` (k**2): weights for one channel pair; ``gcn_erf90``, ``stack_erf90``: side of the
    centred square holding 90 % of the expected |weight| (``mass_square_side``); ``box`` (x0, y0,
    side) of the k x k field in the embedded maps.
    """
    from ..ops.receptive_field import mass_square_side
    k = check_int(k, "k", min_value=3, max_value=MAX_FOOTPRINT_K)
    if k % 2 == 0:
        raise ValueError(f"k: expected an odd kernel size, got {k}")
    mid = check_int(mid, "mid", min_value=1, max_value=16)
    seed = check_int(seed, "seed", min_value=0)
    gen = torch.Generator().manual_seed(seed)
    kernels = {"gcn": _gcn_kernels(k, mid, 1, gen)[0], "stack": _stack_kernels(k, mid, 1, gen)[0]}
    n, off = MAX_FOOTPRINT_K, (MAX_FOOTPRINT_K - k) // 2

    def embed(x):
        out = np.full((n, n), np.nan)
        out[off:off + k, off:off + k] = x
        return out

    n3 = (k - 1) // 2
    out = {"k": k, "mid": mid, "seed": seed, "box": (off - 0.5, off - 0.5, k),
           "gcn_params": 4 * k * mid, "conv_params": k * k,
           "stack_params": 9 if n3 == 1 else 9 * (2 * mid + (n3 - 2) * mid * mid)}
    for name, ker in kernels.items():
        rms = np.sqrt(expected_energy(name, k))
        out[name], out[f"{name}_rms"] = embed(ker.numpy()), embed(rms)
        out[f"{name}_rank"] = int(kernel_rank(ker, rtol=1e-9))
        out[f"{name}_erf90"] = mass_square_side(rms, k // 2, k // 2)
    return out
