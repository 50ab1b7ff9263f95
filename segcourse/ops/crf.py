"""The fully connected CRF of DeepLab v1 (Kraehenbuehl & Koltun, NIPS 2011): mean-field inference.

Model (paper, arXiv:1210.5644, eq. 1-3). Labels x_i in {0..C-1} for the N = H*W pixels,

    E(x) = sum_i U_i(x_i) + sum_{i<j} mu(x_i, x_j) k(f_i, f_j),      U_i(l) = -log P_i(l)
    k(f_i, f_j) = w1 exp(-|p_i-p_j|^2 / 2 theta_alpha^2 - |I_i-I_j|^2 / 2 theta_beta^2)   (appearance)
                + w2 exp(-|p_i-p_j|^2 / 2 theta_gamma^2)                                   (smoothness)
    mu(l, l') = [l != l']                                                                  (Potts)

Mean field approximates P(x) = exp(-E(x)) / Z by Q(x) = prod_i Q_i(x_i) and iterates

    Q_i(l) <- exp(-U_i(l) - sum_l' mu(l, l') sum_m w_m sum_j k~_m(i, j) Q_j(l')) / Z_i

in four steps: message passing (filter Q with each kernel), compatibility transform (multiply by
mu), local update (add the unary), normalise (softmax over labels). Two forms of ``k~``:

* ``normalisation="paper"``: k~_m(i, j) = k_m(f_i, f_j) for j != i, 0 for j == i (the paper).
* ``normalisation="pydensecrf"``: the library's default NORMALIZE_SYMMETRIC: k~_m = D^-1/2 K_m D^-1/2
  with K_m the full Gaussian matrix *including* j == i and D = diag(K_m 1). The library writes
  Potts as ``-w Q`` (PottsCompatibility applies out = -w*Q); that equals mu = [l != l'] up to a
  per-pixel constant, which the softmax removes. notes_crf.md derives both from the sources.

Two ways to compute the messages: ``method="exact"`` builds the N x N kernel matrices in float64
(small images); ``method="lattice"`` filters with a permutohedral lattice (Adams, Baek & Davis,
Eurographics 2010): splat each pixel's value onto the d+1 vertices of its enclosing simplex,
blur along the d+1 lattice directions with [1/2 1 1/2], slice back with the same barycentric
weights. The lattice is built exactly as pydensecrf builds it (same elevation, rounding, ranks and
blur neighbours), so both libraries compute the same approximation of the Gaussian filter.

Shapes: probabilities and Q are (C, H, W); images (H, W, 3) uint8; internally pixels are rows
(N, C) in row-major order (pixel i = row * W + col), features (N, d).
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch

from .._validate import as_tensor, check_choice, check_float, check_int

__all__ = [
    "DEEPLAB_V1", "COURSE_CRF", "COURSE_CRF_GRID", "CRFParams", "unary_from_probs", "crf_features", "gaussian_kernel_matrix",
    "message_matrix", "potts_compatibility", "message_passing", "compatibility_transform",
    "mean_field_step", "dense_crf_exact", "gibbs_energy", "mean_field_free_energy",
    "Lattice", "build_lattice", "lattice_filter", "lattice_message_operator", "dense_crf",
    "dense_crf_steps", "CRFSteps", "appearance_kernel", "coarse_probs", "CoarseUnary", "crf_grid_search",
]

_NORMALISATIONS = ("pydensecrf", "paper")
_METHODS = ("lattice", "exact")


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CRFParams:
    """The five kernel parameters of the dense CRF (theta in pixels / colour levels)."""
    theta_alpha: float = 80.0     # appearance kernel, spatial std (pixels)
    theta_beta: float = 13.0      # appearance kernel, colour std (0-255 levels)
    theta_gamma: float = 3.0      # smoothness kernel, spatial std (pixels)
    w_appearance: float = 10.0    # w1
    w_smoothness: float = 3.0     # w2

    def as_kwargs(self) -> dict:
        return dict(theta_alpha=self.theta_alpha, theta_beta=self.theta_beta,
                    theta_gamma=self.theta_gamma, w_appearance=self.w_appearance,
                    w_smoothness=self.w_smoothness)


#: DeepLab-CRF-LargeFOV's cross-validated values (released test prototxt: bi_w=4, bi_xy_std=121,
#: bi_rgb_std=5, pos_w=3, pos_xy_std=3; the paper fixes w2 = 3, theta_gamma = 3 and searches
#: w1, theta_alpha, theta_beta on 100 val images). For 513-pixel PASCAL images.
DEEPLAB_V1 = CRFParams(theta_alpha=121.0, theta_beta=5.0, theta_gamma=3.0, w_appearance=4.0,
                       w_smoothness=3.0)


#: The grid searched for the course scenes (480 combinations) with :func:`crf_grid_search` on 40
#: seeded train scenes (``torch.randperm(320, generator=Generator().manual_seed(0))[:40]``), FCN-8s
#: softmax unary, 5 iterations, score = mIoU over the 40 (notes_crf.md section 6).
COURSE_CRF_GRID = {"theta_alpha": [5, 10, 20, 40, 80], "theta_beta": [3, 5, 10, 20],
                   "w_appearance": [1, 3, 5, 10], "theta_gamma": [1, 3], "w_smoothness": [0, 1, 3]}

#: Its best combination (train mIoU 0.840 on the 40 scenes, 0.779 without the CRF).
COURSE_CRF = CRFParams(theta_alpha=20.0, theta_beta=10.0, theta_gamma=3.0, w_appearance=10.0,
                       w_smoothness=1.0)


def _check_params(theta_alpha, theta_beta, theta_gamma, w_appearance, w_smoothness) -> CRFParams:
    return CRFParams(
        theta_alpha=_positive(theta_alpha, "theta_alpha"),
        theta_beta=_positive(theta_beta, "theta_beta"),
        theta_gamma=_positive(theta_gamma, "theta_gamma"),
        w_appearance=check_float(w_appearance, "w_appearance", min_value=0.0),
        w_smoothness=check_float(w_smoothness, "w_smoothness", min_value=0.0))


def _positive(x, name: str) -> float:
    x = check_float(x, name)
    if x <= 0:
        raise ValueError(f"{name}: expected a positive number (a Gaussian's standard deviation), got {x}")
    return x


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------

def _check_probs(probs, name: str = "probs") -> torch.Tensor:
    p = as_tensor(probs, name, ndim=3, kind="float", allow_empty=False)
    if p.shape[0] < 2:
        raise ValueError(f"{name}: expected (C, H, W) probabilities with C >= 2 labels, got shape "
                         f"{tuple(p.shape)}")
    lo, s = torch.aminmax(p.sum(0, dtype=torch.float32))
    if p.min().item() < 0:
        raise ValueError(f"{name}: expected probabilities >= 0, got minimum {p.min().item():.3g}")
    err = max(abs(lo.item() - 1), abs(s.item() - 1))
    if err > 1e-3:
        raise ValueError(f"{name}: expected (C, H, W) probabilities that sum to 1 over C (a softmax "
                         f"over dim 0), got sums off by up to {err:.3g}")
    return p


def _check_image(image, hw: tuple[int, int] | None = None, name: str = "image") -> torch.Tensor:
    if not isinstance(image, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name}: expected an (H, W, 3) uint8 numpy array or tensor, got "
                        f"{type(image).__name__}")
    dtype = image.dtype
    if dtype not in (np.uint8, torch.uint8):
        raise TypeError(f"{name}: expected an (H, W, 3) uint8 image (0-255 colours, as pydensecrf "
                        f"takes), got dtype {dtype}")
    im = as_tensor(image, name, shape=(None, None, 3))
    if hw is not None and tuple(im.shape[:2]) != tuple(hw):
        raise ValueError(f"{name}: expected shape ({hw[0]}, {hw[1]}, 3) to match probs (C, {hw[0]}, "
                         f"{hw[1]}), got {tuple(im.shape)}")
    return im


def unary_from_probs(probs, clip: float = 1e-5) -> torch.Tensor:
    """Unary energy U = -log(max(P, clip)) as pydensecrf.utils.unary_from_softmax computes it.

    probs: (C, H, W) probabilities summing to 1 over C -> (C, H, W) float32.
    """
    p = _check_probs(probs)
    clip = check_float(clip, "clip", min_value=0.0)
    if clip <= 0:
        raise ValueError(f"clip: expected a positive number (log of 0 is -inf), got {clip}")
    return _unary(p, clip)


def _unary(p: torch.Tensor, clip: float = 1e-5) -> torch.Tensor:
    return torch.log(p.float().clamp_min(clip)).neg_()


def crf_features(image, theta_alpha: float, theta_beta: float, theta_gamma: float):
    """The two kernels' feature vectors, scaled so that each kernel is exp(-|f_i - f_j|^2 / 2).

    image: (H, W, 3) uint8. Returns (appearance (N, 5), smoothness (N, 2)) float32 with N = H*W,
    rows in row-major pixel order: (x/theta_alpha, y/theta_alpha, R/theta_beta, G/theta_beta,
    B/theta_beta) and (x/theta_gamma, y/theta_gamma), x = column, y = row (pydensecrf's order and
    float32 arithmetic).
    """
    im = _check_image(image)
    ta, tb, tg = (_positive(t, n) for t, n in ((theta_alpha, "theta_alpha"), (theta_beta, "theta_beta"),
                                                (theta_gamma, "theta_gamma")))
    h, w = im.shape[:2]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    xy = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    rgb = im.reshape(-1, 3).float()
    f32 = lambda t: torch.tensor(t, dtype=torch.float32)  # noqa: E731  (C's float division)
    app = torch.cat([xy / f32(ta), rgb / f32(tb)], 1)
    return app, xy / f32(tg)


# ----------------------------------------------------------------------------------------------
# exact dense mean field (float64, N x N)
# ----------------------------------------------------------------------------------------------

def gaussian_kernel_matrix(features) -> torch.Tensor:
    """K_ij = exp(-|f_i - f_j|^2 / 2) for features (N, d) -> (N, N) float64, diagonal = 1."""
    f = as_tensor(features, "features", ndim=2, kind="float").double()
    sq = (f * f).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * f @ f.T).clamp_min_(0)
    d2.fill_diagonal_(0)
    return torch.exp(-0.5 * d2)


def message_matrix(image, *, theta_alpha=80., theta_beta=13., theta_gamma=3., w_appearance=10.,
                   w_smoothness=3., normalisation: str = "pydensecrf", max_pixels: int = 12_000) -> torch.Tensor:
    """The weighted kernel A = sum_m w_m k~_m as an (N, N) float64 matrix (exact, small images).

    normalisation "paper": A = w1 K_app + w2 K_smooth with zero diagonal (j != i).
    normalisation "pydensecrf": A = sum_m w_m D_m^-1/2 K_m D_m^-1/2, K_m with its unit diagonal,
    D_m = diag(K_m 1) (NORMALIZE_SYMMETRIC). image: (H, W, 3) uint8; N = H*W <= max_pixels.
    """
    im = _check_image(image)
    prm = _check_params(theta_alpha, theta_beta, theta_gamma, w_appearance, w_smoothness)
    check_choice(normalisation, "normalisation", _NORMALISATIONS)
    n = im.shape[0] * im.shape[1]
    if n > max_pixels:
        raise ValueError(f"image: the exact dense CRF stores (N, N) float64 matrices; N = H*W = {n} "
                         f"exceeds max_pixels={max_pixels} (use method='lattice')")
    f_app, f_sm = crf_features(im, prm.theta_alpha, prm.theta_beta, prm.theta_gamma)
    a = torch.zeros(n, n, dtype=torch.float64)
    for w, f in ((prm.w_smoothness, f_sm), (prm.w_appearance, f_app)):
        k = gaussian_kernel_matrix(f)
        if normalisation == "pydensecrf":
            s = k.sum(1).rsqrt()
            k.mul_(s[:, None]).mul_(s[None, :])
        else:
            k.fill_diagonal_(0)
        a.add_(k, alpha=w)
    return a


def potts_compatibility(num_labels: int) -> torch.Tensor:
    """Potts label compatibility mu(l, l') = [l != l'] -> (C, C) float64 (ones, zero diagonal)."""
    c = check_int(num_labels, "num_labels", min_value=1)
    return 1.0 - torch.eye(c, dtype=torch.float64)


def _rows(x, name: str) -> tuple[torch.Tensor, tuple[int, int, int]]:
    t = as_tensor(x, name, ndim=3, kind="float")
    c, h, w = t.shape
    return t.reshape(c, h * w).T, (c, h, w)


def message_passing(Q, kernel) -> torch.Tensor:
    """Step 1: Q~_i(l) = sum_j A_ij Q_j(l). Q: (C, H, W), kernel A: (N, N) -> (C, H, W) float64."""
    q, (c, h, w) = _rows(Q, "Q")
    a = as_tensor(kernel, "kernel", shape=(h * w, h * w), kind="float")
    return (a.double() @ q.double()).T.reshape(c, h, w)


def compatibility_transform(messages, compatibility) -> torch.Tensor:
    """Step 2: Q^_i(l) = sum_l' mu(l, l') Q~_i(l'). messages: (C, H, W), mu: (C, C) -> (C, H, W)."""
    m, (c, h, w) = _rows(messages, "messages")
    mu = as_tensor(compatibility, "compatibility", shape=(c, c), kind="float")
    return (m.double() @ mu.double().T).T.reshape(c, h, w)


def mean_field_step(Q, unary, kernel, compatibility=None) -> torch.Tensor:
    """One parallel mean-field update: all four steps. Returns the new Q (C, H, W) float64.

    Q, unary: (C, H, W); kernel: (N, N) (e.g. :func:`message_matrix`); compatibility: (C, C),
    default Potts. Q_new = softmax_l(-U - mu (A Q)): message passing, compatibility transform,
    local update (add the unary), normalise.
    """
    q = as_tensor(Q, "Q", ndim=3, kind="float")
    u = as_tensor(unary, "unary", shape=tuple(q.shape), kind="float")
    mu = potts_compatibility(q.shape[0]) if compatibility is None else compatibility
    pairwise = compatibility_transform(message_passing(q, kernel), mu)
    return torch.softmax(-u.double() - pairwise, dim=0)


def dense_crf_exact(probs, image, *, iterations: int = 5, theta_alpha=80., theta_beta=13., theta_gamma=3.,
                    w_appearance=10., w_smoothness=3., normalisation: str = "pydensecrf",
                    return_all: bool = False, max_pixels: int = 12_000):
    """Mean field with the exact (N, N) kernels in float64; small images only.

    probs: (C, H, W) softmax probabilities; image (H, W, 3) uint8. Q starts at softmax(-U) (= P up
    to the clip of :func:`unary_from_probs`). Returns Q (C, H, W) float64 after ``iterations``
    parallel updates, or with ``return_all`` the list [Q_0, ..., Q_T].
    """
    p = _check_probs(probs)
    _check_image(image, tuple(p.shape[1:]))
    iterations = check_int(iterations, "iterations", min_value=0)
    a = message_matrix(image, theta_alpha=theta_alpha, theta_beta=theta_beta, theta_gamma=theta_gamma,
                       w_appearance=w_appearance, w_smoothness=w_smoothness,
                       normalisation=normalisation, max_pixels=max_pixels)
    u = unary_from_probs(p).double()
    mu = potts_compatibility(p.shape[0])
    qs = [torch.softmax(-u, 0)]
    for _ in range(iterations):
        qs.append(mean_field_step(qs[-1], u, a, mu))
    return qs if return_all else qs[-1]


def gibbs_energy(labels, unary, kernel) -> float:
    """E(x) = sum_i U_i(x_i) + sum_{i<j} A_ij [x_i != x_j] for a labelling (Potts).

    labels: (H, W) int in [0, C); unary: (C, H, W); kernel A: (N, N) symmetric (its diagonal does not
    matter: [x_i != x_i] = 0). Returns a Python float.
    """
    u, (c, h, w) = _rows(unary, "unary")
    x = as_tensor(labels, "labels", shape=(h, w), kind="int", min_value=0, max_value=c - 1).reshape(-1).long()
    a = as_tensor(kernel, "kernel", shape=(h * w, h * w), kind="float").double()
    onehot = torch.nn.functional.one_hot(x, c).double()
    same = (onehot @ onehot.T)
    pair = 0.5 * (a * (1.0 - same)).sum()
    return float(u.double().gather(1, x[:, None]).sum() + pair)


def mean_field_free_energy(Q, unary, kernel, compatibility=None) -> float:
    """Variational free energy F(Q) = KL(Q || P) - log Z of a factorised Q (mean field's objective).

    F(Q) = sum_i sum_l Q_i(l) U_i(l) + 1/2 sum_{i,j} A_ij sum_{l,l'} mu(l,l') Q_i(l) Q_j(l')
           + sum_i sum_l Q_i(l) log Q_i(l)
    Q, unary: (C, H, W); kernel A: (N, N) symmetric, used as given (with "paper" A the diagonal is 0,
    so the sum is over j != i; with "pydensecrf" A the self-terms count, which is what makes the
    parallel update a concave-convex step, see notes_crf.md). compatibility: (C, C), default Potts.
    Returns a Python float; F >= -log Z, equality iff Q = P.
    """
    q, (c, h, w) = _rows(Q, "Q")
    u = as_tensor(unary, "unary", shape=(c, h, w), kind="float").reshape(c, -1).T.double()
    a = as_tensor(kernel, "kernel", shape=(h * w, h * w), kind="float").double()
    mu = potts_compatibility(c) if compatibility is None else as_tensor(
        compatibility, "compatibility", shape=(c, c), kind="float").double()
    q = q.double()
    entropy_term = torch.special.xlogy(q, q).sum()
    pair = 0.5 * ((a @ q) @ mu.T * q).sum()
    return float((q * u).sum() + pair + entropy_term)


# ----------------------------------------------------------------------------------------------
# permutohedral lattice (Adams, Baek & Davis 2010), built as pydensecrf builds it
# ----------------------------------------------------------------------------------------------

class Lattice(NamedTuple):
    """A permutohedral lattice over N points with d-dimensional features.

    vertex: (N, d+1) int64, the lattice vertex (id in [0, M)) of each point's enclosing simplex,
    in remainder order r = 0..d; weight: (N, d+1) float32 barycentric weights (sum 1 per point);
    blur_lo, blur_hi: (d+1, M) int64, each vertex's neighbours along the d+1 lattice directions
    (M = no such vertex); num_vertices: M;
    splat_point, splat_weight: (N (d+1),) the (point, weight) entries sorted by vertex (from the sort
    that hashed the keys), and starts: (M,) where each vertex's entries start: the CSR rows of the
    splat matrix.
    """
    vertex: torch.Tensor
    weight: torch.Tensor
    blur_lo: torch.Tensor
    blur_hi: torch.Tensor
    num_vertices: int
    splat_point: torch.Tensor
    splat_weight: torch.Tensor
    starts: torch.Tensor

    @property
    def d(self) -> int:
        return self.vertex.shape[1] - 1

    @property
    def alpha(self) -> float:
        """pydensecrf's "magic scaling constant" 1 / (1 + 2^-d) applied when slicing."""
        return float(np.float32(1.0) / (np.float32(1.0) + np.float32(2.0) ** np.float32(-self.d)))


def build_lattice(features) -> Lattice:
    """Embed points in the permutohedral lattice exactly as pydensecrf's Permutohedral::init (SSE).

    features: (N, d) float (scaled so the kernel is exp(-|f_i - f_j|^2/2)) -> :class:`Lattice`.
    Steps (Adams et al. 2010, sec. 3-4): elevate f onto the hyperplane sum = 0 of R^(d+1) with the
    scale sqrt(2/3)(d+1); find the nearest remainder-0 point by rounding; rank the coordinates of
    the remainder to get the enclosing simplex; barycentric weights; the d+1 vertex keys; hash
    them (here: one sort of integer codes); and each vertex's neighbours along the d+1 lattice
    directions (key -1 on every coordinate and +d on coordinate j, and the opposite).
    A key (its first d integer coordinates) is coded in mixed radix, with room for the +-(d+1)
    neighbour offsets, so a neighbour's code is the vertex's code plus a constant.
    Arrays are (d+1, N) inside (one contiguous row per coordinate); float32 as the C code.
    """
    f = as_tensor(features, "features", ndim=2, kind="float", allow_empty=False).float()
    n, d = f.shape
    if d < 1 or d > 16:
        raise ValueError(f"features: expected (N, d) with 1 <= d <= 16, got shape {tuple(f.shape)}")
    dp1 = d + 1
    ft = f.T.contiguous()
    inv_std = np.float32(math.sqrt(2.0 / 3.0) * dp1)
    # elevate: elevated[j] = sum_{k >= j} cf_k - j cf_{j-1} (as the C loop, j = d .. 1)
    elevated = torch.empty(dp1, n, dtype=torch.float32)
    sm = torch.zeros(n, dtype=torch.float32)
    for j in range(d, 0, -1):
        c = ft[j - 1] * np.float32(1.0 / math.sqrt((j + 1) * j) * float(inv_std))
        torch.sub(sm, c * np.float32(j), out=elevated[j])
        sm += c
    elevated[0] = sm
    # nearest remainder-0 point (round half to even, as _mm_cvtps_epi32)
    down = np.float32(1.0) / np.float32(dp1)
    v = torch.round(elevated * down)
    rem0 = v * np.float32(dp1)
    total = v.sum(0)                                  # integers: exact in any order
    # ranks of the remainder's coordinates: rank_i = #{j > i: d_i < d_j} + #{j < i: d_j >= d_i},
    # i.e. for each pair i < j, [d_i < d_j] adds 1 to rank_i and 1 - [d_i < d_j] to rank_j
    diff = elevated - rem0
    rank = torch.zeros(dp1, n, dtype=torch.int32)
    c = torch.empty(n, dtype=torch.bool)
    for i in range(dp1):
        for j in range(i + 1, dp1):
            torch.lt(diff[i], diff[j], out=c)
            rank[i] += c
            rank[j] += ~c
    # if the remainder-0 point is off the plane (sum != 0), bring it back: wrap ranks into [0, d]
    rank += total.int()
    wrap = torch.div(rank, dp1, rounding_mode="floor")  # -1, 0 or 1
    rank -= wrap * dp1
    rem0 -= (wrap * dp1).float()
    bv = (elevated - rem0) * down
    rank = rank.long()                                # each column a permutation of 0..d
    # barycentric weights: b[d - rank_i] += v_i, b[d - rank_i + 1] -= v_i, b[0] += 1 + b[d+1]
    pos = d - rank
    bary = torch.zeros(d + 2, n, dtype=torch.float32)
    bary.scatter_add_(0, pos, bv)
    bary.scatter_add_(0, pos + 1, -bv)
    bary[0] += 1 + bary[d + 1]
    weight_t = bary[:dp1]
    # vertex r's key: key_i = rem0_i + canonical[r][rank_i], canonical[r][k] = r - (d+1)[k > d-r].
    # Every coordinate of a remainder-r lattice point is r mod (d+1): key_i = r + (d+1) q_i with
    # q_i = rem0_i/(d+1) - [rank_i >= d-r+1]. Code the key as r * K + sum_i (q_i - lo_i) stride_i
    # (mixed radix with a margin for the neighbours): base - G[r] + r K, with
    # G[r] = sum_i stride_i [rank_i >= d-r+1], a cumulative sum over r. Codes fit in int32 for
    # photographs, which halves the sort (the build's bottleneck).
    q0 = v[:d].int() - wrap[:d]                       # rem0 / (d+1) after the wrap, exact
    lo = q0.amin(1).long() - 2
    span = q0.amax(1).long() - lo + 2
    stride = [1] * d
    for k in range(d - 2, -1, -1):
        stride[k] = stride[k + 1] * int(span[k + 1])
    kstride = stride[0] * int(span[0])                # Python ints: exact
    if kstride * dp1 >= 2 ** 62:
        raise ValueError("features: the lattice keys do not fit in 64 bits (features too spread out: "
                         "check the thetas)")
    small = kstride * dp1 < 2 ** 31                   # int32 codes: half the memory, twice as fast a sort
    itype = torch.int32 if small else torch.int64
    base = torch.zeros(n, dtype=itype)
    for k in range(d):
        base += (q0[k].to(itype) - int(lo[k])) * stride[k]
    stride_t = torch.tensor(stride, dtype=itype)
    contrib = torch.zeros(d + 2, n, dtype=itype)
    contrib.scatter_add_(0, d + 1 - rank[:d], stride_t[:, None].expand(d, n))
    code = contrib[:dp1].cumsum(0, dtype=itype).neg_()
    code += base
    code += (torch.arange(dp1, dtype=itype) * kstride)[:, None]         # (d+1, N)
    # hash: one sort of the codes (r-major entries); vertex ids in code order
    code = code.reshape(-1)
    sorted_code, order = torch.sort(code, stable=True)
    new = torch.ones(sorted_code.shape, dtype=torch.bool)
    torch.ne(sorted_code[1:], sorted_code[:-1], out=new[1:])
    vid_sorted = torch.cumsum(new, 0)
    vid_sorted -= 1
    m = int(vid_sorted[-1]) + 1
    vertex_t = torch.empty_like(vid_sorted).index_copy_(0, order, vid_sorted)
    starts = torch.nonzero(new).reshape(-1)
    uniq = sorted_code.index_select(0, starts).long()
    splat_point = order % n
    splat_weight = weight_t.reshape(-1).index_select(0, order)
    # neighbours along direction j: key - 1 on every coordinate and + (d+1) on coordinate j (lo),
    # and the opposite (hi). In (r, q) form: r -> r - 1 and q_j + 1 (r >= 1), or r -> d and
    # q_i - 1 for i != j (r = 0); symmetrically for hi.
    rem = uniq // kstride
    total_stride = sum(stride)
    lo_list, hi_list = [], []
    for j in range(dp1):
        sj = stride[j] if j < d else 0
        d_lo = torch.where(rem >= 1, -kstride + sj, d * kstride - (total_stride - sj))
        d_hi = torch.where(rem <= d - 1, kstride - sj, -d * kstride + (total_stride - sj))
        for delta, out in ((d_lo, lo_list), (d_hi, hi_list)):
            nk = uniq + delta                         # in range by the margins of lo and span
            at = torch.searchsorted(uniq, nk).clamp_max_(m - 1)
            out.append(torch.where(uniq.index_select(0, at) == nk, at, m))
    return Lattice(vertex_t.reshape(dp1, n).T.contiguous(), weight_t.T.contiguous(),
                   torch.stack(lo_list), torch.stack(hi_list), m, splat_point, splat_weight, starts)


def _blur(values: torch.Tensor, lo: list, hi: list) -> torch.Tensor:
    """In place, pass j = 0..: v[:r_j] += (v[lo_j] + v[hi_j]) / 2 with r_j = len(lo_j).

    values: (M+1, L) float32 with a zero last row (the index of a missing neighbour); lo, hi:
    lists of int64 index vectors, one per lattice direction (a prefix of the vertices takes part:
    the fused operator puts the lattice with more directions first). pydensecrf's
    ``new = old + 0.5 * (n1 + n2)``; the sum of neighbours is gathered before the update.
    """
    for l_j, h_j in zip(lo, hi):
        nb = values.index_select(0, l_j)
        nb += values.index_select(0, h_j)
        values[:l_j.shape[0]].add_(nb, alpha=0.5)
    return values


def lattice_filter(values, lattice: Lattice) -> torch.Tensor:
    """Gaussian filtering out_i ~ sum_j exp(-|f_i - f_j|^2 / 2) v_j with the lattice (unnormalised).

    values: (N, L) float -> (N, L) float32: splat (barycentric), blur, slice (times alpha), the three
    steps of pydensecrf's Permutohedral::compute. The result approximates c * (K v) (c = gain, see
    :func:`lattice_message_operator`) and includes j == i.
    """
    v = as_tensor(values, "values", ndim=2, kind="float").float()
    n, dp1 = lattice.vertex.shape
    if v.shape[0] != n:
        raise ValueError(f"values: expected shape ({n}, L) for a lattice over {n} points, got {tuple(v.shape)}")
    m = lattice.num_vertices
    buf = torch.zeros(m + 1, v.shape[1], dtype=torch.float32)
    buf.index_add_(0, lattice.vertex.reshape(-1), (lattice.weight[:, :, None] * v[:, None, :]).reshape(-1, v.shape[1]))
    _blur(buf, list(lattice.blur_lo), list(lattice.blur_hi))
    w = lattice.weight * lattice.alpha
    return (w[:, :, None] * buf[lattice.vertex]).sum(1)


def _lattice_gain(d: int) -> float:
    """Mass argument for c in lattice_filter(v) ~ c (K v): exact for d = 2, not for the 5-D kernel.

    Splat keeps the mass, each of the d+1 blur passes doubles it, slicing multiplies by alpha; the
    sliced piecewise-linear function integrates to (vertex sum) x (volume per vertex)
    V = (d+1)^(d-1/2) / (sqrt(2/3)(d+1))^d in feature units; the Gaussian integrates to (2 pi)^(d/2).
    Image pixels fill only a 2-3 dimensional surface of the 5-D appearance space, where the
    lattice's kernel is not this constant times the Gaussian (measured: 0.50-0.62, not 0.71).
    """
    alpha = 1.0 / (1.0 + 2.0 ** -d)
    vol = (d + 1) ** (d - 0.5) / (math.sqrt(2.0 / 3.0) * (d + 1)) ** d
    return 2.0 ** (d + 1) * alpha * vol / (2 * math.pi) ** (d / 2)


def _measured_gain(features: torch.Tensor, lattice_sums: torch.Tensor, samples: int = 512) -> float:
    """c = sum_s (L 1)_s / sum_s (K 1)_s over up to ``samples`` evenly spaced pixels (exact sums)."""
    n = features.shape[0]
    idx = torch.linspace(0, n - 1, min(samples, n)).round().long()
    f = features.double()
    exact = torch.exp(-0.5 * torch.cdist(f[idx], f).square()).sum(1)
    return float(lattice_sums[idx].double().sum() / exact.sum())


class _MessageOperator:
    """messages(Q) = sum_m w_m k~_m Q for (N, L) Q, fused: one splat matrix, one blur, one slice."""

    def __init__(self, splat, slice_, lo, hi, self_weight):
        self.splat, self.slice, self.lo, self.hi = splat, slice_, lo, hi
        self.self_weight = self_weight     # subtract self_weight * Q (paper form: j != i)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        m = self.splat.shape[0]
        vals = q.new_empty(m + 1, q.shape[1])
        torch.mm(self.splat, q, out=vals[:m])
        vals[m] = 0
        out = self.slice @ _blur(vals, self.lo, self.hi)[:m]
        if self.self_weight:
            out -= self.self_weight * q
        return out


def _csr(crow, col, val, size) -> torch.Tensor:
    with torch.sparse.check_sparse_tensor_invariants(False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, val, size=size, dtype=torch.float32)


def lattice_message_operator(image, *, theta_alpha=80., theta_beta=13., theta_gamma=3., w_appearance=10.,
                             w_smoothness=3., normalisation: str = "pydensecrf") -> Callable:
    """The lattice version of ``Q -> A Q`` (A as in :func:`message_matrix`), both kernels fused.

    image: (H, W, 3) uint8. Returns a function (N, L) float32 -> (N, L) float32.
    pydensecrf normalisation: A_m = w_m diag(n_m) L_m diag(n_m) with L_m the lattice filter and
    n_m = 1/sqrt(L_m 1 + 1e-20), as the library. paper: A_m = w_m (L_m / c_m - I), c_m the
    lattice's gain measured against exact row sums on 512 pixels (the self-term removed exactly).
    The splat matrix (M, N) and slice matrix (N, M) are CSR with the weights, alpha and
    normalisations folded in; the splat matrix reuses the sort that hashed the vertices.
    """
    im = _check_image(image)
    prm = _check_params(theta_alpha, theta_beta, theta_gamma, w_appearance, w_smoothness)
    check_choice(normalisation, "normalisation", _NORMALISATIONS)
    kernels = _lattice_kernels(im, prm, normalisation, (prm.w_appearance > 0, prm.w_smoothness > 0))
    return _assemble(kernels, (prm.w_appearance, prm.w_smoothness), normalisation)


def _lattice_kernels(im: torch.Tensor, prm: CRFParams, normalisation: str, which=(True, True)) -> list:
    """Per kernel (appearance, smoothness): its lattice and its normalisation (n_m) or gain (c_m);
    None for a kernel not in ``which``. Independent of the weights, so a search over w1, w2 reuses it."""
    f_app, f_sm = crf_features(im, prm.theta_alpha, prm.theta_beta, prm.theta_gamma)
    out = []
    for use, f in zip(which, (f_app, f_sm)):                 # appearance first: more directions
        if not use:
            out.append(None)
            continue
        lat = build_lattice(f)
        m = lat.num_vertices
        # L 1: splat of ones = per-vertex sum of weights, blur, slice
        ones = torch.zeros(m + 1, 1, dtype=torch.float32)
        ones[:m, 0].index_add_(0, lat.vertex.reshape(-1), lat.weight.reshape(-1))
        _blur(ones, list(lat.blur_lo), list(lat.blur_hi))
        sums = (lat.weight * ones[:, 0].take(lat.vertex)).sum(1) * np.float32(lat.alpha)
        if normalisation == "pydensecrf":
            out.append((lat, 1.0 / torch.sqrt(sums + 1e-20)))
        else:
            out.append((lat, _measured_gain(f, sums)))
    return out


def _assemble(kernels: list, weights: tuple, normalisation: str) -> Callable:
    """The fused message operator from :func:`_lattice_kernels` and the weights (w1, w2)."""
    parts, offset, self_weight = [], 0, 0.0
    for kernel, wgt in zip(kernels, weights):
        if kernel is None or wgt == 0:
            continue
        lat, norm = kernel
        n = lat.vertex.shape[0]
        if normalisation == "pydensecrf":
            rowscale, colscale = norm * np.float32(wgt * lat.alpha), norm
        else:
            rowscale, colscale = torch.full((n,), wgt * lat.alpha / norm, dtype=torch.float32), None
            self_weight += wgt
        parts.append((lat, offset, rowscale, colscale))
        offset += lat.num_vertices
    mtot = offset
    if not parts:
        return torch.zeros_like
    n = parts[0][0].vertex.shape[0]
    # slice (N, Mtot): row i holds the d+1 entries of each kernel, in remainder order
    cols = torch.cat([lat.vertex + off for lat, off, *_ in parts], 1).reshape(-1)
    vals = torch.cat([lat.weight * rs[:, None] for lat, _, rs, *_ in parts], 1).reshape(-1)
    per_row = cols.numel() // n
    slice_ = _csr(torch.arange(0, n * per_row + 1, per_row), cols, vals, (n, mtot))
    # splat (Mtot, N): entries grouped by vertex, straight from each lattice's sort
    crows, scols, svals, base = [torch.zeros(1, dtype=torch.int64)], [], [], 0
    for lat, _, _, colscale in parts:
        nnz = lat.splat_point.numel()
        crows.append(torch.cat([lat.starts[1:], torch.tensor([nnz])]) + base)
        scols.append(lat.splat_point)
        svals.append(lat.splat_weight if colscale is None else
                     lat.splat_weight * colscale.index_select(0, lat.splat_point))
        base += nnz
    splat = _csr(torch.cat(crows), torch.cat(scols), torch.cat(svals), (mtot, n))
    # fused blur: pass j updates the vertices of every lattice with more than j directions
    lo, hi = [], []
    for j in range(parts[0][0].d + 1):
        lj, hj = [], []
        for lat, off, *_ in parts:
            if j <= lat.d:
                m = lat.num_vertices
                lj.append(torch.where(lat.blur_lo[j] == m, mtot, lat.blur_lo[j] + off))
                hj.append(torch.where(lat.blur_hi[j] == m, mtot, lat.blur_hi[j] + off))
        lo.append(torch.cat(lj))
        hi.append(torch.cat(hj))
    return _MessageOperator(splat, slice_, lo, hi, self_weight)


# ----------------------------------------------------------------------------------------------
# public entry point
# ----------------------------------------------------------------------------------------------

def _check_crf_call(probs, image, iterations, method, normalisation, theta_alpha, theta_beta, theta_gamma,
                    w_appearance, w_smoothness):
    """The arguments every public CRF entry point checks: probs, image, iterations, parameters,
    method, normalisation. Returns (probs, image, iterations, params)."""
    p = _check_probs(probs)
    im = _check_image(image, tuple(p.shape[1:]))
    iterations = check_int(iterations, "iterations", min_value=0)
    prm = _check_params(theta_alpha, theta_beta, theta_gamma, w_appearance, w_smoothness)
    check_choice(method, "method", _METHODS)
    check_choice(normalisation, "normalisation", _NORMALISATIONS)
    return p, im, iterations, prm


def dense_crf(probs, image, *, iterations: int = 5, theta_alpha=80., theta_beta=13., theta_gamma=3.,
              w_appearance=10., w_smoothness=3., method: str = "lattice",
              normalisation: str = "pydensecrf", return_all: bool = False):
    """Fully connected CRF (DeepLab v1's post-processing): mean-field marginals Q.

    probs: (C, H, W) softmax probabilities (torch or numpy, float); image: (H, W, 3) uint8.
    Returns Q (C, H, W) float32 (``return_all``: the list [Q_0, ..., Q_T]); labels = Q.argmax(0).

    With the defaults this computes what pydensecrf computes for
    ``d.setUnaryEnergy(U)`` (U = :func:`unary_from_probs`),
    ``d.addPairwiseGaussian(sxy=theta_gamma, compat=w_smoothness)``,
    ``d.addPairwiseBilateral(sxy=theta_alpha, srgb=theta_beta, rgbim=image, compat=w_appearance)``,
    ``d.inference(iterations)``: Q_0 = softmax(-U), then Q <- softmax(-U + sum_m w_m k~_m Q).
    method "lattice": permutohedral filtering (O(N)); "exact": (N, N) float64 kernels (small images).
    normalisation: "pydensecrf" (symmetric, self-term included) or "paper" (raw kernel, j != i).
    """
    p, im, iterations, prm = _check_crf_call(probs, image, iterations, method, normalisation, theta_alpha,
                                             theta_beta, theta_gamma, w_appearance, w_smoothness)
    c, h, w = p.shape
    if method == "exact":
        qs = dense_crf_exact(p, im, iterations=iterations, normalisation=normalisation, return_all=True,
                             **prm.as_kwargs())
        qs = [q.float() for q in qs]
        return qs if return_all else qs[-1]
    pc = p.reshape(c, -1).T.float().contiguous().clamp_min(1e-5)                    # (N, C)
    u = torch.log(pc).neg_()                                          # U = -log P (clipped)
    op = lattice_message_operator(im, normalisation=normalisation, **prm.as_kwargs())
    q = pc / pc.sum(1, keepdim=True)                                  # softmax(-U)
    qs = [q]
    for _ in range(iterations):
        q = _softmax_rows(op(q).sub_(u))
        qs.append(q)
    out = [x.T.reshape(c, h, w) for x in qs]
    return out if return_all else out[-1]


# ----------------------------------------------------------------------------------------------
# what the lesson and its widget show
# ----------------------------------------------------------------------------------------------

class CRFSteps(NamedTuple):
    """Mean field step by step (see :func:`dense_crf_steps`)."""
    q: torch.Tensor            # (T+1, C, H, W) float32 marginals, Q_0 = softmax(-U)
    labels: torch.Tensor       # (T+1, H, W) int64 argmax labels
    free_energy: torch.Tensor  # (T+1,) float64 F(Q_t) with the messages the iterations used
    kernel: torch.Tensor       # (H, W) float32 appearance kernel of ``pixel`` (exact, times w1)


def appearance_kernel(image, pixel: tuple[int, int], *, theta_alpha=80., theta_beta=13.,
                      w_appearance=10.) -> torch.Tensor:
    """How hard pixel ``pixel`` = (row, col) is pulled by every other pixel through the appearance
    kernel: w1 exp(-|p_i-p_j|^2 / 2 theta_alpha^2 - |I_i-I_j|^2 / 2 theta_beta^2).

    image: (H, W, 3) uint8 -> (H, W) float32 (exact, O(N)); the pixel itself has weight w1.
    """
    im = _check_image(image)
    h, w = im.shape[:2]
    if not (isinstance(pixel, (tuple, list)) and len(pixel) == 2):
        raise TypeError(f"pixel: expected a (row, col) pair, got {pixel!r}")
    r = check_int(pixel[0], "pixel[0] (row)", min_value=0, max_value=h - 1)
    c = check_int(pixel[1], "pixel[1] (col)", min_value=0, max_value=w - 1)
    ta, tb = _positive(theta_alpha, "theta_alpha"), _positive(theta_beta, "theta_beta")
    w1 = check_float(w_appearance, "w_appearance", min_value=0.0)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    pos = ((yy - r) ** 2 + (xx - c) ** 2) / (2 * ta * ta)
    col = ((im.float() - im[r, c].float()) ** 2).sum(2) / (2 * tb * tb)
    return w1 * torch.exp(-(pos + col))


def _free_energy_rows(q: torch.Tensor, u: torch.Tensor, aq: torch.Tensor) -> float:
    """F for (N, C) Q, U and messages A Q under Potts mu = 1 - I: pairwise 1/2 Q.(rowsum(AQ) - AQ).

    float32 terms, float64 sums (for a curve on screen; the exact F is :func:`mean_field_free_energy`)."""
    pair = 0.5 * ((q * aq.sum(1, keepdim=True)).sum(dtype=torch.float64) - (q * aq).sum(dtype=torch.float64))
    ent = (q * torch.log(q.clamp_min(1e-38))).sum(dtype=torch.float64)
    return float((q * u).sum(dtype=torch.float64) + pair + ent)


def _softmax_rows(x: torch.Tensor) -> torch.Tensor:
    """softmax over dim 1 of (N, C); for few labels through (C, N), where torch vectorises over N."""
    if x.shape[1] <= 8:
        return torch.softmax(x.T.contiguous(), 0).T.contiguous()
    return torch.softmax(x, 1)


def dense_crf_steps(probs, image, pixel: tuple[int, int] | None = None, *, iterations: int = 5,
                    theta_alpha=80., theta_beta=13., theta_gamma=3., w_appearance=10., w_smoothness=3.,
                    method: str = "lattice", normalisation: str = "pydensecrf") -> CRFSteps:
    """Everything the lesson-05 widget shows, in one pure call: Q, labels and F(Q) after each step,
    and the appearance kernel of ``pixel`` (default: the centre).

    probs: (C, H, W) probabilities; image: (H, W, 3) uint8. The free energy uses the same messages
    as the updates (lattice or exact), F = sum Q U + 1/2 sum Q (mu A Q) + sum Q log Q.
    A 128 x 128 scene with 6 labels and 5 iterations takes ~55 ms of CPU (notes_crf.md).
    """
    p, im, iterations, prm = _check_crf_call(probs, image, iterations, method, normalisation, theta_alpha,
                                             theta_beta, theta_gamma, w_appearance, w_smoothness)
    c, h, w = p.shape
    pixel = (h // 2, w // 2) if pixel is None else pixel
    kernel = appearance_kernel(im, pixel, theta_alpha=prm.theta_alpha, theta_beta=prm.theta_beta,
                               w_appearance=prm.w_appearance)
    u = _unary(p.reshape(c, -1).T.contiguous())
    if method == "exact":
        a = message_matrix(im, normalisation=normalisation, **prm.as_kwargs())
        op = lambda q: (a @ q.double()).float()   # noqa: E731
    else:
        op = lattice_message_operator(im, normalisation=normalisation, **prm.as_kwargs())
    q = _softmax_rows(-u)
    qs, energies = [q], []
    for _ in range(iterations):
        aq = op(q)
        energies.append(_free_energy_rows(q, u, aq))
        q = _softmax_rows(aq.sub_(u))
        qs.append(q)
    energies.append(_free_energy_rows(q, u, op(q)))
    rows = torch.stack(qs)                                              # (T+1, N, C)
    labels = rows.argmax(2).reshape(-1, h, w)
    return CRFSteps(rows.transpose(1, 2).reshape(-1, c, h, w), labels,
                    torch.tensor(energies, dtype=torch.float64), kernel)


class CoarseUnary(NamedTuple):
    probs: torch.Tensor   # (K, H, W) float32 coarse probabilities (stride-s block averages, upsampled)
    labels: torch.Tensor  # (H, W) int64 the full-resolution colour clusters they were made from


def coarse_probs(image, n_clusters: int = 4, stride: int = 8, confidence: float = 0.8, iterations: int = 10,
                 seed: int = 0) -> CoarseUnary:
    """A coarse unary for showing edge snapping: what a stride-``stride`` network would output.

    image: (H, W, 3) uint8. Clusters the colours with k-means (``iterations`` Lloyd steps from
    ``n_clusters`` seeded random pixels), averages each cluster's one-hot map over stride x stride
    blocks, upsamples bilinearly back to (H, W) and mixes with the uniform distribution:
    P = confidence * up + (1 - confidence) / K. Returns :class:`CoarseUnary` (probs (K, H, W),
    labels (H, W) the full-resolution clusters: the edges the CRF should recover).
    """
    im = _check_image(image)
    k = check_int(n_clusters, "n_clusters", min_value=2)
    s = check_int(stride, "stride", min_value=1)
    conf = check_float(confidence, "confidence", min_value=0.0, max_value=1.0)
    iterations = check_int(iterations, "iterations", min_value=0)
    seed = check_int(seed, "seed")
    h, w = im.shape[:2]
    x = im.reshape(-1, 3).float()
    g = torch.Generator().manual_seed(seed)
    centres = x[torch.randperm(x.shape[0], generator=g)[:k]].clone()
    for _ in range(iterations):
        lab = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros(k, 3).index_add_(0, lab, x)
        counts = torch.bincount(lab, minlength=k).float()
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
    lab = torch.cdist(x, centres).argmin(1).reshape(h, w)
    onehot = torch.nn.functional.one_hot(lab, k).permute(2, 0, 1).float()[None]
    coarse = torch.nn.functional.avg_pool2d(onehot, s, s, ceil_mode=True)
    up = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
    up = up / up.sum(0, keepdim=True)
    return CoarseUnary(conf * up + (1 - conf) / k, lab)


def crf_grid_search(probs, images, masks, grid: dict, score: Callable, *, iterations: int = 5,
                    base: CRFParams = CRFParams(), method: str = "lattice") -> list[tuple[dict, float]]:
    """Score every combination of ``grid`` on a set of images; best first.

    probs: (N, C, H, W) probabilities; images: (N, H, W, 3) uint8; masks: (N, H, W) int (passed to
    ``score`` untouched); grid: {parameter name (a field of :class:`CRFParams`): list of values};
    score(pred (N, H, W) int64, masks) -> float, higher is better (e.g. a mean IoU). Parameters
    not in the grid come from ``base``. Returns [(params dict, score), ...] sorted by score.
    pydensecrf's normalisation; each image's lattices are built once per (theta_alpha,
    theta_beta, theta_gamma) and reused for every (w1, w2) of the grid.
    """
    p = as_tensor(probs, "probs", ndim=4, kind="float")
    ims = as_tensor(images, "images", shape=(p.shape[0], p.shape[2], p.shape[3], 3))
    if ims.dtype != torch.uint8:
        raise TypeError(f"images: expected (N, H, W, 3) uint8, got dtype {ims.dtype}")
    if not isinstance(grid, dict) or not grid:
        raise TypeError("grid: expected a non-empty dict {parameter name: list of values}")
    fields = tuple(CRFParams.__dataclass_fields__)
    for name, values in grid.items():
        check_choice(name, "grid key", fields)
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"grid[{name!r}]: expected a non-empty list of values, got {values!r}")
    if not callable(score):
        raise TypeError(f"score: expected a function (pred, masks) -> float, got {type(score).__name__}")
    names = list(grid)
    combos = [{**base.as_kwargs(), **dict(zip(names, combo))} for combo in itertools.product(*grid.values())]
    check_choice(method, "method", _METHODS)
    preds = [[None] * p.shape[0] for _ in combos]
    for i in range(p.shape[0]):
        if method == "exact":
            for k, prm in enumerate(combos):
                preds[k][i] = dense_crf(p[i], ims[i], iterations=iterations, method="exact", **prm).argmax(0)
            continue
        # the lattices depend on the thetas only: build them once per theta triple and image
        by_theta: dict = {}
        for k, prm in enumerate(combos):
            by_theta.setdefault((prm["theta_alpha"], prm["theta_beta"], prm["theta_gamma"]), []).append(k)
        pc = _check_probs(p[i], "probs[i]").reshape(p.shape[1], -1).T.float().contiguous().clamp_min(1e-5)
        u = torch.log(pc).neg_()
        for thetas, ks in by_theta.items():
            prm0 = _check_params(*thetas, 1.0, 1.0)
            use = (any(combos[k]["w_appearance"] > 0 for k in ks), any(combos[k]["w_smoothness"] > 0 for k in ks))
            kernels = _lattice_kernels(ims[i], prm0, "pydensecrf", use)
            for k in ks:
                w = _check_params(*thetas, combos[k]["w_appearance"], combos[k]["w_smoothness"])
                op = _assemble(kernels, (w.w_appearance, w.w_smoothness), "pydensecrf")
                q = pc / pc.sum(1, keepdim=True)
                for _ in range(check_int(iterations, "iterations", min_value=0)):
                    q = _softmax_rows(op(q).sub_(u))
                preds[k][i] = q.argmax(1).reshape(p.shape[2], p.shape[3])
    results = [(prm, float(score(torch.stack(pr), masks))) for prm, pr in zip(combos, preds)]
    return sorted(results, key=lambda r: -r[1])
