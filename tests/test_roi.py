"""Lesson 10's RoIPool / RoIAlign (segcourse.ops.roi) against torchvision.ops.

Targets: roi_pool exactly equal (forward and backward); roi_align, ps_roi_align, ps_roi_pool
max |error| <= 1e-5 (float32) / 1e-10 (float64); gradcheck on small float64 cases.
"""
import math

import numpy as np
from collections import OrderedDict

import pytest
import torch
import torchvision
import torchvision.ops as tv

from segcourse.ops import roi as R

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
SCALES = [1.0, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32]


@pytest.fixture(autouse=True)
def _one_thread_and_checked_sparse(monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(R, "_CHECK_SPARSE", True)   # every CSR matrix must satisfy torch's invariants
    yield
    torch.set_num_threads(threads)


def _random_case(g, dtype, *, channels_per_bin=None, as_list=False):
    """A random problem: 1-3 images, maps 1..19 px, scale 1..1/32, boxes inside, partly or wholly
    outside, zero-size and inverted."""
    def ri(lo, hi):
        return int(torch.randint(lo, hi + 1, (1,), generator=g))
    n, h, w = ri(1, 3), ri(1, 19), ri(1, 19)
    ph, pw = ri(1, 4), ri(1, 4)
    c = channels_per_bin * ph * pw if channels_per_bin else ri(1, 5)
    scale = SCALES[ri(0, len(SCALES) - 1)]
    x = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    k = ri(1, 12)
    ih, iw = h / scale, w / scale
    x1 = (torch.rand(k, generator=g, dtype=torch.float64) * 1.6 - 0.3) * iw
    y1 = (torch.rand(k, generator=g, dtype=torch.float64) * 1.6 - 0.3) * ih
    bw = (torch.rand(k, generator=g, dtype=torch.float64) * 1.0 - 0.15) * iw
    bh = (torch.rand(k, generator=g, dtype=torch.float64) * 1.0 - 0.15) * ih
    kind = torch.randint(0, 6, (k,), generator=g)
    bw = torch.where(kind == 0, torch.zeros_like(bw), bw)                  # zero width
    bh = torch.where(kind == 1, torch.zeros_like(bh), bh)                  # zero height
    bw = torch.where(kind == 2, -bw.abs(), bw)                             # inverted
    boxes = torch.stack([x1, y1, x1 + bw, y1 + bh], 1).to(dtype)
    batch = torch.randint(0, n, (k,), generator=g)
    rois = torch.cat([batch[:, None].to(dtype), boxes], 1)
    if as_list:
        rois = _as_list(rois, n)
    return x, rois, (ph, pw), scale


def _as_list(rois, n):
    return [rois[rois[:, 0] == i, 1:] for i in range(n)]


def _torchvision_can(rois, size, scale, sampling_ratio, aligned):
    """torchvision's roi_align raises 'cannot create std::vector larger than max_size()' when the
    adaptive grid is negative along one axis only (aligned box inverted by more than a bin):
    the boxes it can take."""
    if isinstance(rois, list):
        rois = torch.cat([torch.cat([torch.full((len(b), 1), i, dtype=b.dtype), b], 1) for i, b in enumerate(rois)])
    if sampling_ratio > 0 or not aligned:
        return torch.ones(len(rois), dtype=torch.bool)
    gh = torch.ceil((rois[:, 4] - rois[:, 2]) * scale / size[0])
    gw = torch.ceil((rois[:, 3] - rois[:, 1]) * scale / size[1])
    return gh * gw >= 0


def _pair_ops(name):
    return getattr(R, name), getattr(tv, name)


def _assert_close(ours, ref, dtype, what):
    assert ours.shape == ref.shape, what
    assert torch.equal(torch.isnan(ours), torch.isnan(ref)), what
    err = (ours - ref).nan_to_num().abs().max().item() if ours.numel() else 0.0
    assert err <= TOL[dtype], f"{what}: max error {err:.3g}"


# -- forward equality ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("as_list", [False, True])
def test_roi_pool_forward_and_backward_exactly_equal(dtype, as_list):
    g = torch.Generator().manual_seed(1 + as_list)
    for case in range(40):
        x, rois, size, scale = _random_case(g, dtype, as_list=as_list)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours, ref = R.roi_pool(xa, rois, size, scale), tv.roi_pool(xb, rois, size, scale)
        assert torch.equal(ours, ref), f"case {case}"
        up = torch.randn(ref.shape, generator=g, dtype=dtype)
        (ours * up).sum().backward()
        (ref * up).sum().backward()
        assert torch.equal(xa.grad, xb.grad), f"case {case}: backward"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 3])
def test_roi_align_matches_torchvision(dtype, aligned, sampling_ratio):
    g = torch.Generator().manual_seed(10 + sampling_ratio + 7 * aligned)
    for case in range(12):
        x, rois, size, scale = _random_case(g, dtype)
        ok = _torchvision_can(rois, size, scale, sampling_ratio, aligned)
        if not ok.all():     # torchvision raises on these; ours gives zeros
            assert (R.roi_align(x, rois[~ok], size, scale, sampling_ratio, aligned) == 0).all()
            rois = rois[ok]
        if case % 3 == 0:
            rois = _as_list(rois, x.shape[0])
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = R.roi_align(xa, rois, size, scale, sampling_ratio, aligned)
        ref = tv.roi_align(xb, rois, size, scale, sampling_ratio, aligned)
        _assert_close(ours, ref, dtype, f"case {case} forward")
        up = torch.randn(ref.shape, generator=g, dtype=dtype)
        (ours * up).sum().backward()
        (ref * up).sum().backward()
        _assert_close(xa.grad, xb.grad, dtype, f"case {case} backward")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sampling_ratio", [-1, 1, 2])
def test_ps_roi_align_matches_torchvision_including_its_nans(dtype, sampling_ratio):
    g = torch.Generator().manual_seed(20 + sampling_ratio)
    nans = 0
    for case in range(15):
        x, rois, size, scale = _random_case(g, dtype, channels_per_bin=2, as_list=case % 2 == 0)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = R.ps_roi_align(xa, rois, size, scale, sampling_ratio)
        ref = tv.ps_roi_align(xb, rois, size, scale, sampling_ratio)
        _assert_close(ours, ref, dtype, f"case {case} forward")
        nans += int(torch.isnan(ref).sum())
        up = torch.randn(ref.shape, generator=g, dtype=dtype)
        keep = ~torch.isnan(ref)          # NaN bins: torchvision adds nothing, nor do we
        (ours[keep] * up[keep]).sum().backward()
        (ref[keep] * up[keep]).sum().backward()
        _assert_close(xa.grad, xb.grad, dtype, f"case {case} backward")
    if sampling_ratio <= 0:
        assert nans > 0   # the zero-size boxes did reach torchvision's 0/0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ps_roi_pool_forward_matches_and_backward_matches_away_from_the_last_row(dtype):
    g = torch.Generator().manual_seed(30)
    for case in range(30):
        x, rois, size, scale = _random_case(g, dtype, channels_per_bin=2, as_list=case % 2 == 1)
        _assert_close(R.ps_roi_pool(x, rois, size, scale), tv.ps_roi_pool(x, rois, size, scale), dtype,
                      f"case {case}")
    # backward: boxes well inside the map, where torchvision's backward clip ([0, H]) and its
    # forward clip ([0, H-1]) agree
    for case in range(10):
        x = torch.randn(2, 8, 20, 24, generator=g, dtype=dtype)
        xy = torch.rand(6, 2, generator=g, dtype=dtype) * 8
        wh = torch.rand(6, 2, generator=g, dtype=dtype) * 9
        rois = torch.cat([torch.randint(0, 2, (6, 1), generator=g).to(dtype), xy, xy + wh], 1)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours, ref = R.ps_roi_pool(xa, rois, 2, 1.0), tv.ps_roi_pool(xb, rois, 2, 1.0)
        up = torch.randn(ref.shape, generator=g, dtype=dtype)
        (ours * up).sum().backward()
        (ref * up).sum().backward()
        _assert_close(xa.grad, xb.grad, dtype, f"case {case} backward")


def test_ps_roi_pool_torchvision_backward_is_not_its_gradient_ours_is():
    """torchvision's forward never reads the last row/column (clip to H-1) but its backward
    spreads gradient over it (clip to H): proof that the backward difference is theirs."""
    x = torch.randn(1, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0, 0.0, 0.0, 4.9, 4.9]], dtype=torch.float64)
    assert not torch.autograd.gradcheck(lambda t: tv.ps_roi_pool(t, b, 2, 1.0), (x,), raise_exception=False)
    assert torch.autograd.gradcheck(lambda t: R.ps_roi_pool(t, b, 2, 1.0), (x,))
    y = torch.arange(25.0, dtype=torch.float64).reshape(1, 1, 5, 5).repeat(1, 4, 1, 1)
    assert R.ps_roi_pool(y, b, 2, 1.0).max() < 20   # row 4 (values 20..24) is never read


# -- gradients -----------------------------------------------------------------------------------

def _gradcheck(fn, x):
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_roi_align_gradcheck(aligned, sampling_ratio):
    g = torch.Generator().manual_seed(40)
    x = torch.randn(2, 1, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 1.3, 0.7, 9.1, 10.2], [1, -3.0, 2.0, 5.5, 30.0], [1, 4.0, 4.0, 4.0, 4.0],
                         [0, 13.0, 3.0, 11.0, 9.0]], dtype=torch.float64)
    _gradcheck(lambda t: R.roi_align(t, rois, (2, 3), 0.5, sampling_ratio, aligned), x)


def test_roi_pool_gradcheck_away_from_ties():
    perm = torch.randperm(2 * 1 * 6 * 7, generator=torch.Generator().manual_seed(41))
    x = (perm.double() * 0.1).reshape(2, 1, 6, 7).requires_grad_()   # values 0.1 apart: no ties
    rois = torch.tensor([[0, 1.3, 0.7, 9.1, 10.2], [1, -3.0, 2.0, 5.5, 30.0], [1, 4.0, 4.0, 4.0, 4.0]],
                        dtype=torch.float64)
    _gradcheck(lambda t: R.roi_pool(t, rois, (2, 3), 0.5), x)


def test_ps_ops_gradcheck():
    g = torch.Generator().manual_seed(42)
    x = torch.randn(2, 4, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 1.3, 0.7, 9.1, 6.2], [1, -3.0, 2.0, 5.5, 30.0]], dtype=torch.float64)
    _gradcheck(lambda t: R.ps_roi_align(t, rois, 2, 0.5, 2), x)
    _gradcheck(lambda t: R.ps_roi_align(t, rois, 2, 0.5, -1), x)
    _gradcheck(lambda t: R.ps_roi_pool(t, rois, 2, 0.5), x)


def test_roi_pool_gradient_goes_to_the_first_maximum_like_torchvision():
    x = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    x[0, 0, 1, 2] = x[0, 0, 2, 0] = 5.0       # a tie: (1, 2) comes first in row-major order
    rois = torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    for op in (R.roi_pool, tv.roi_pool):
        t = x.clone().requires_grad_()
        op(t, rois, 1).sum().backward()
        assert t.grad[0, 0, 1, 2] == 1 and t.grad.sum() == 1


# -- torchvision's semantics, pinned on tiny examples (the module docstring's claims) -------------

def test_roi_pool_includes_the_end_cell_and_rounds_halves_away_from_zero():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    one = torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]])
    for op in (R.roi_pool, tv.roi_pool):
        assert op(x, one, 1).item() == 14.0            # cell (2, 2) is read: 3 x 3 cells
    bins = R.roi_pool_bins([0.0, 0.0, 2.0, 2.0], 1)
    assert bins.y.tolist() == [[0, 3]]
    # x1 = 2.5 rounds to 3 (C round), torch.round gives 2; y1 = 0.5 -> 1
    assert R.roi_pool_bins([2.5, 0.5, 4.0, 4.0], 1).cells.tolist() == [3, 1, 4, 4]
    assert torch.round(torch.tensor(2.5)).item() == 2.0
    neg = -x                          # decreasing to the right: the max is the leftmost column read
    box = torch.tensor([[0, 2.5, 0.0, 4.0, 0.0]])
    assert R.roi_pool(neg, box, 1).item() == tv.roi_pool(neg, box, 1).item() == -3.0   # column 3, not 2


def test_roi_pool_last_bin_can_overshoot_the_box_by_a_float_rounding():
    """7 * (29 / 7) = 29.000000000000004 in float64: ceil gives 30, so the last of 7 bins of a
    29-cell box reads cell 29, one past the box (57 cells in float32). torchvision does it too."""
    x = torch.arange(40.0, dtype=torch.float64).expand(1, 1, 3, 40).contiguous()
    b = torch.tensor([[0, 0.0, 0.0, 28.0, 0.0]], dtype=torch.float64)     # cells 0..28
    for op in (R.roi_pool, tv.roi_pool):
        assert op(x, b, (1, 7))[0, 0, 0, -1].item() == 29.0
        assert op(x.float(), b.float(), (1, 7))[0, 0, 0, -1].item() == 28.0
    assert R.roi_pool_bins(b[0, 1:], (1, 7)).x[-1].tolist() == [24, 30]
    x57 = torch.arange(80.0).expand(1, 1, 3, 80).contiguous()
    b57 = torch.tensor([[0, 0.0, 0.0, 56.0, 0.0]])
    assert R.roi_pool(x57, b57, (1, 7))[0, 0, 0, -1].item() == tv.roi_pool(x57, b57, (1, 7))[0, 0, 0, -1].item() == 57


def test_round_half_away_is_exact():
    v = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, -0.49999997, 2.4999998], dtype=torch.float32)
    assert R.round_half_away(v).tolist() == [1, 2, 3, -1, -3, 0, 0, 2]
    assert torch.floor(v[5:6] + 0.5).item() == 1.0        # the naive formula fails here


def test_roi_pool_float64_floor_at_minus_flt_max_like_torchvision():
    x = torch.full((1, 1, 3, 3), -1e300, dtype=torch.float64)
    b = torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    assert R.roi_pool(x, b, 1).item() == tv.roi_pool(x, b, 1).item() == -3.4028234663852886e38


def test_neighbouring_roi_pool_bins_share_a_cell():
    b = R.roi_pool_bins([0.0, 0.0, 4.0, 4.0], 2)           # 5 cells into 2 bins of 2.5
    assert b.y.tolist() == [[0, 3], [2, 5]]


def test_zero_size_box_semantics():
    g = torch.Generator().manual_seed(50)
    x = torch.randn(1, 2, 6, 6, generator=g, dtype=torch.float64)
    b = torch.tensor([[0, 2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    for op in (R, tv):
        assert torch.equal(op.roi_align(x, b, 2, 1.0, -1, True), torch.zeros(1, 2, 2, 2, dtype=torch.float64))
        legacy = op.roi_align(x, b, 2, 1.0, -1, False)         # forced to 1 x 1 starting at (2, 2)
        assert torch.allclose(legacy[0, :, 0, 0], op.roi_align(x, torch.tensor(
            [[0, 2.0, 2.0, 3.0, 3.0]], dtype=torch.float64), 2, 1.0, -1, False)[0, :, 0, 0])
        assert torch.isnan(op.ps_roi_align(x.repeat(1, 2, 1, 1), b, 2, 1.0, -1)).all()


def test_roi_align_samples_outside_count_as_zero_but_are_averaged():
    x = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    # bin from y = -3 to y = 1 (feature units), 2 x 2 samples at y in {-2, 0}: one row is < -1
    b = torch.tensor([[0, 0.0, -3.0, 1.0, 1.0]], dtype=torch.float64)
    for op in (R.roi_align, tv.roi_align):
        assert op(x, b, 1, 1.0, 2, False).item() == pytest.approx(0.5)


# -- the geometry functions agree with the ops ---------------------------------------------------

def test_roi_pool_bins_are_what_roi_pool_reads():
    g = torch.Generator().manual_seed(60)
    h, w = 11, 13
    pos = torch.arange(h * w, dtype=torch.float64).reshape(1, 1, h, w)
    for _ in range(30):
        box = (torch.rand(4, generator=g, dtype=torch.float64) * 1.4 - 0.2) * torch.tensor([w, h, w, h]) * 8
        bins = R.roi_pool_bins(box, (3, 4), 1 / 8, (h, w))
        rois = torch.cat([torch.zeros(1, dtype=torch.float64), box])[None]
        hi = R.roi_pool(pos, rois, (3, 4), 1 / 8)[0, 0]            # max = last cell of each bin
        lo = -R.roi_pool(-pos, rois, (3, 4), 1 / 8)[0, 0]          # min = first cell
        empty = (bins.y[:, 1] <= bins.y[:, 0])[:, None] | (bins.x[:, 1] <= bins.x[:, 0])[None, :]
        want_hi = (bins.y[:, 1, None] - 1) * w + bins.x[None, :, 1] - 1
        want_lo = bins.y[:, 0, None] * w + bins.x[None, :, 0]
        assert torch.equal(hi[~empty], want_hi[~empty].double())
        assert torch.equal(lo[~empty], want_lo[~empty].double())
        assert (hi[empty] == 0).all()
    many = R.roi_pool_bins(torch.tensor([[0.0, 0, 2, 2], [2.5, 0.5, 4, 4]]), 1)
    assert many.cells.tolist() == [[0, 0, 2, 2], [3, 1, 4, 4]]


def test_sample_points_are_where_roi_align_interpolates():
    h, w = 9, 12
    ramp_x = torch.arange(w, dtype=torch.float64).expand(1, 1, h, w)
    ramp_y = torch.arange(h, dtype=torch.float64)[:, None].expand(1, 1, h, w)
    g = torch.Generator().manual_seed(61)
    for aligned in (False, True):
        for sr in (-1, 1, 3):
            for _ in range(5):
                x1, y1 = (torch.rand(2, generator=g) * torch.tensor([5.0, 4.0])).tolist()
                box = [4 * x1, 4 * y1, 4 * (x1 + 2 + 4 * torch.rand(1, generator=g).item()),
                       4 * (y1 + 1 + 3 * torch.rand(1, generator=g).item())]
                pts = R.roi_align_sample_points(box, (2, 3), 0.25, sr, aligned)
                assert pts.shape[:2] == (2, 3)
                inside = (pts >= 0).all() and (pts[..., 0] <= w - 1).all() and (pts[..., 1] <= h - 1).all()
                assert inside
                rois = torch.tensor([[0.0] + box], dtype=torch.float64)
                ax = R.roi_align(ramp_x, rois, (2, 3), 0.25, sr, aligned)[0, 0]
                ay = R.roi_align(ramp_y, rois, (2, 3), 0.25, sr, aligned)[0, 0]
                assert torch.allclose(ax, pts[..., 0].mean((-1, -2)), atol=1e-12)
                assert torch.allclose(ay, pts[..., 1].mean((-1, -2)), atol=1e-12)
    p = R.roi_align_sample_points([0, 0, 4, 4], 2, 1.0, 2, False)
    assert p[0, 0].reshape(-1, 2).tolist() == [[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5]]
    assert R.roi_align_sample_points([0, 0, 4, 4], 2, 1.0, 2, True)[0, 0, 0, 0].tolist() == [0.0, 0.0]
    assert R.roi_align_sample_points([0, 0, 40, 16], 2, 1.0, -1, True).shape == (2, 2, 8, 20, 2)
    assert R.roi_align_sample_points([2, 2, 2, 2], 2, 1.0, -1, True).shape == (2, 2, 0, 0, 2)


def test_roi_views_one_frame():
    g = torch.Generator().manual_seed(62)
    fm = torch.randn(3, 10, 12, generator=g)
    box = [3.3, 2.2, 30.1, 25.2]
    v = R.roi_views(fm, box, 3, 0.25, 2, True)
    rois = torch.tensor([[0.0] + box], dtype=torch.float64)
    assert torch.equal(v.pooled, R.roi_pool(fm[None].double(), rois, 3, 0.25)[0])
    assert torch.allclose(v.aligned, tv.roi_align(fm[None].double(), rois, 3, 0.25, 2, True)[0])
    assert v.points.shape == (3, 3, 2, 2, 2) and v.valid.all()
    assert torch.allclose(v.box, torch.tensor(box, dtype=torch.float64) / 4)
    assert v.pool.y.tolist() == [[1, 3], [3, 5], [5, 7]] and v.pool.x.tolist() == [[1, 4], [3, 7], [6, 9]]
    v2 = R.roi_views(fm[0], [-30.0, 2.0, 10.0, 20.0], 2, 0.25, 2, True)
    assert v2.pooled.shape == (2, 2) and not v2.valid.all()



def test_roi_shift_trace_is_both_ops_on_the_shifted_boxes():
    # the docstring's example: RoIPool jumps at dx = 1.5 (end cell read), RoIAlign is 0 up to 2, then (dx - 2) / 2
    fm = (torch.arange(8) >= 4).double().expand(8, 8)
    dx = torch.arange(0, 3.01, 0.25, dtype=torch.float64)
    pooled, al = R.roi_shift_trace(fm, [0.0, 0.0, 2.0, 2.0], torch.stack([dx, 0 * dx], 1), 1, 1.0, 2, True)
    assert pooled.shape == al.shape == (13, 1, 1)
    assert pooled.flatten().tolist() == [0.0] * 6 + [1.0] * 7
    assert torch.allclose(al.flatten(), ((dx - 2) / 2).clamp(min=0))
    # a (C, H, W) map, shifts in cells at stride 8, both ways: equal to the ops on the moved boxes
    g = torch.Generator().manual_seed(63)
    fm3 = torch.randn(3, 9, 11, generator=g)
    box = torch.tensor([13.3, 7.1, 52.0, 40.9], dtype=torch.float64)
    shifts = torch.tensor([[0.0, 0.0], [0.125, -0.25], [-1.5, 2.0]], dtype=torch.float64)
    pooled, al = R.roi_shift_trace(fm3, box, shifts, (2, 3), 1 / 8, 2, False)
    rois = torch.cat([torch.zeros(3, 1, dtype=torch.float64), box + shifts.repeat(1, 2) * 8], 1)
    assert torch.equal(pooled, tv.roi_pool(fm3[None].double(), rois, (2, 3), 1 / 8))
    assert torch.allclose(al, tv.roi_align(fm3[None].double(), rois, (2, 3), 1 / 8, 2, False))
    with pytest.raises(ValueError, match="shifts"):
        R.roi_shift_trace(fm, [0.0, 0.0, 2.0, 2.0], torch.zeros(3), 1)


# -- the widget ------------------------------------------------------------------------------------

def test_roi_explorer_updates_artists_in_place_and_shows_both_ops():
    import segcourse as sc
    g = torch.Generator().manual_seed(64)
    fm = torch.randn(8, 8, generator=g)
    box = [57.0, 43.0, 106.0, 91.0]
    w = sc.roi_explorer(fm, box, stride=16, output_size=2, sampling_ratio=2)
    x_sl, y_sl, size_sl = w.controls
    assert type(x_sl).__name__ == "FloatSlider" and x_sl.step == 1 / 16
    ax_pool, ax_align, ax_out_pool, ax_out_align, ax_trace = w.figure.axes
    im_pool, im_align = ax_out_pool.images[0], ax_out_align.images[0]
    pool_bins, points = ax_pool.collections[0], ax_align.collections[1]
    line_pool, line_align = ax_trace.lines[:2]
    assert "cells x 4..7, y 3..6" in w.readout.value

    def same_as_ops(b):
        rois = torch.tensor([[0.0] + list(b)], dtype=torch.float64)
        x = fm[None, None].double()
        assert torch.equal(torch.as_tensor(np.asarray(im_pool.get_array())), R.roi_pool(x, rois, 2, 1 / 16)[0, 0])
        assert torch.allclose(torch.as_tensor(np.asarray(im_align.get_array())),
                              tv.roi_align(x, rois, 2, 1 / 16, 2, True)[0, 0])
        assert np.allclose(points.get_offsets(),
                           R.roi_align_sample_points(b, 2, 1 / 16, 2, True).reshape(-1, 2).numpy() + 0.5)

    same_as_ops(box)
    segs, trace = pool_bins.get_segments(), line_pool.get_ydata().copy()
    torch.set_num_threads(2)            # the frame runs on one thread and gives the second back
    x_sl.value = 3 / 16                 # 3 image pixels to the right: RoIAlign moves, RoIPool does not
    b = [57.0 + 3, 43.0, 106.0 + 3, 91.0]
    assert ax_out_pool.images[0] is im_pool and ax_align.collections[1] is points and ax_trace.lines[0] is line_pool
    assert torch.allclose(w.state["box"], torch.tensor(b, dtype=torch.float64))
    same_as_ops(b)
    assert all(np.array_equal(a, c) for a, c in zip(segs, pool_bins.get_segments()))
    assert np.array_equal(line_pool.get_ydata(), trace)      # the trace does not depend on the x shift
    assert ax_trace.lines[2].get_xdata()[0] == 3 / 16 and torch.get_num_threads() == 2
    x_sl.value = 16 / 16                # a whole cell: x1 = 73 px = 4.56 -> 5, x2 = 122 px = 7.62 -> 8 (past the map)
    same_as_ops([73.0, 43.0, 122.0, 91.0])
    assert "cells x 5..8" in w.readout.value
    y_sl.value, size_sl.value = -0.5, 1.5
    c = np.array([(57 + 106) / 2 + 16, (43 + 91) / 2 - 8])
    half = np.array([49 / 2, 48 / 2]) * 1.5
    b = np.concatenate([c - half, c + half]).tolist()
    same_as_ops(b)
    trace_x = np.asarray(ax_trace.lines[0].get_xdata())
    k = int(np.argmin(np.abs(trace_x - 1.0)))
    assert line_pool.get_ydata()[k] == pytest.approx(float(w.state["views"].pooled.mean()), abs=1e-12)
    assert line_align.get_ydata()[k] == pytest.approx(float(w.state["views"].aligned.mean()), abs=1e-12)
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"] == "<roi_explorer: x shift=1.0, y shift=-0.5, size ×=1.5>"


def test_roi_explorer_validates():
    import segcourse as sc
    with pytest.raises(ValueError, match="feature_map"):
        sc.roi_explorer(torch.zeros(1, 8, 8), [0.0, 0, 16, 16])
    with pytest.raises(ValueError, match="box"):
        sc.roi_explorer(torch.zeros(8, 8), [16.0, 0, 0, 16])
    with pytest.raises(ValueError, match="shift"):
        sc.roi_explorer(torch.zeros(8, 8), [0.0, 0, 16, 16], shift=(3.0, 0.0))

# -- MultiScaleRoIAlign ----------------------------------------------------------------------------

def _fpn(g, dtype=torch.float32):
    feats = OrderedDict((f"p{i}", torch.randn(2, 4, 256 // 2 ** i, 320 // 2 ** i, generator=g, dtype=dtype))
                        for i in range(2, 6))
    feats["pool"] = torch.randn(2, 4, 4, 5, generator=g, dtype=dtype)
    boxes = [R.sub_pixel_boxes(20, 240, 4, 230, seed=s).to(dtype) for s in (1, 2)]
    return feats, boxes, [(256, 320), (240, 300)]


@pytest.mark.parametrize("names", [["p2", "p3", "p4", "p5"], ["p3", "p5"], ["p4"]])
def test_multiscale_roi_align_equals_torchvision(names):
    g = torch.Generator().manual_seed(70)
    feats, boxes, shapes = _fpn(g)
    ours, ref = R.MultiScaleRoIAlign(names, 7, 2), tv.MultiScaleRoIAlign(names, 7, 2)
    a, b = ours(feats, boxes, shapes), ref(feats, boxes, shapes)
    assert (a - b).abs().max() <= 1e-5
    assert ours.scales == ref.scales
    assert (ours(feats, boxes, [(10, 10)]) - ref(feats, boxes, [(10, 10)])).abs().max() <= 1e-5  # scales kept
    assert (R.MultiScaleRoIAlign(names, (3, 5), -1)(feats, boxes, shapes)
            - tv.MultiScaleRoIAlign(names, (3, 5), -1)(feats, boxes, shapes)).abs().max() <= 1e-5


def test_multiscale_pool_switch_uses_roi_pool_per_level():
    g = torch.Generator().manual_seed(71)
    feats, boxes, shapes = _fpn(g, torch.float64)
    names = ["p2", "p3", "p4", "p5"]
    out = R.MultiScaleRoIAlign(names, 7, 2, op="pool")(feats, boxes, shapes)
    levels = torchvision.ops.poolers.LevelMapper(2, 5)(boxes)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), i, dtype=b.dtype), b], 1) for i, b in enumerate(boxes)])
    for lvl, name in enumerate(names):
        idx = torch.where(levels == lvl)[0]
        assert torch.equal(out[idx], tv.roi_pool(feats[name], rois[idx], 7, 1 / 2 ** (lvl + 2)))
    assert torch.equal(R.fpn_levels(boxes, 2, 5), levels)


def test_drop_in_for_torchvision_mask_rcnn():
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3, min_size=128,
                                  max_size=128, box_detections_per_img=20, box_score_thresh=0.0).eval()
    images = [torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(72))]
    with torch.no_grad():
        ref = model(images)[0]
        heads = model.roi_heads
        heads.box_roi_pool = R.MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
        heads.mask_roi_pool = R.MultiScaleRoIAlign(["0", "1", "2", "3"], 14, 2)
        ours = model(images)[0]
    assert len(ref["boxes"]) > 0
    assert torch.allclose(ours["boxes"], ref["boxes"], atol=1e-4)
    assert torch.allclose(ours["masks"], ref["masks"], atol=1e-4)


# -- quantisation --------------------------------------------------------------------------------

def test_quantisation_hand_worked_box():
    q = R.quantisation_error(torch.tensor([[16.0, 16.0, 48.0, 48.0]]), 16, 2)
    # RoIPool reads cells 1..3 (end included) = pixels [16, 64): right/bottom edges +16
    assert q["roi_pool"]["box_edge_max"] == 16.0 and q["roi_pool"]["box_edge_mean"] == 8.0
    assert q["roi_pool"]["size_change_mean"] == 16.0
    assert q["roi_align"]["box_edge_max"] < 1e-9 and q["roi_align"]["mask_iou_min"] == 1.0
    assert q["roi_align_legacy"]["box_edge_mean"] == pytest.approx(8.0)     # shifted by s/2
    legacy = R.quantisation_error(torch.tensor([[16.0, 16.0, 48.0, 48.0]]), 16, 2, convention="legacy")
    assert legacy["roi_align_legacy"]["box_edge_max"] < 1e-9
    assert legacy["roi_pool"]["box_edge_mean"] == 8.0         # cells 1..3 = [8, 56) vs [16, 48)


def test_quantisation_grows_with_stride_and_roi_align_is_exact():
    boxes = R.sub_pixel_boxes(400, seed=3)
    rows = {s: R.quantisation_error(boxes, s) for s in (4, 8, 16, 32)}
    for s, q in rows.items():
        pool, align = q["roi_pool"], q["roi_align"]
        assert align["box_edge_max"] < 1e-9 and align["bin_edge_max"] < 1e-9 and align["mask_iou_min"] == 1
        # at most 1.5 cells (half a cell of rounding + the included end cell), plus the rare
        # float overshoot of the last bin (test above)
        assert pool["box_edge_max"] <= 2.5 * s + 1e-9
        assert 0.9 * s < pool["size_change_mean"] < 1.1 * s            # the +1 cell, on average
        assert q["roi_align_legacy"]["box_edge_mean"] == pytest.approx(s / 2)
        assert q["roi_align_legacy"]["box_edge_jitter"] < 1e-9           # a constant shift: learnable
        assert 0.85 < pool["box_edge_jitter"] / (s / math.sqrt(12)) < 1.2  # uniform rounding error
    means = [rows[s]["roi_pool"]["box_edge_mean"] for s in (4, 8, 16, 32)]
    assert means == sorted(means) and 6 < means[3] / means[0] < 10    # about linear in the stride
    ious = [rows[s]["roi_pool"]["mask_iou_mean"] for s in (4, 8, 16, 32)]
    assert ious == sorted(ious, reverse=True) and ious[0] > 0.9 and ious[3] < 0.7


def test_sub_pixel_boxes_seeded_and_inside():
    a, b = R.sub_pixel_boxes(50, seed=5), R.sub_pixel_boxes(50, seed=5)
    assert torch.equal(a, b) and a.dtype == torch.float64
    assert (a >= 0).all() and (a <= 800).all()
    wh = a[:, 2:] - a[:, :2]
    assert (wh >= 32).all() and (wh <= 256).all()
    assert (a != a.round()).all()


# -- input errors ------------------------------------------------------------------------------------

BOX = torch.tensor([[0, 0.0, 0.0, 4.0, 4.0]])


@pytest.mark.parametrize("op", ["roi_pool", "roi_align", "ps_roi_pool", "ps_roi_align"])
def test_input_errors(op):
    fn = getattr(R, op)
    x = torch.randn(1, 4, 8, 8)
    with pytest.raises(ValueError, match=r"input: expected shape \(N, C, H, W\)"):
        fn(x[0], BOX, 2)
    with pytest.raises(TypeError, match="input: expected a float32 or float64"):
        fn(x.long(), BOX, 2)
    with pytest.raises(TypeError, match="input: expected a torch.Tensor"):
        fn(x.numpy(), BOX, 2)
    with pytest.raises(ValueError, match=r"boxes: expected shape \(K, 5\)"):
        fn(x, BOX[:, 1:], 2)
    with pytest.raises(ValueError, match=r"boxes\[0\]: expected shape \(K, 4\)"):
        fn(x, [BOX], 2)
    with pytest.raises(ValueError, match=r"batch index must be in \[0, N-1\] = \[0, 0\], got 1"):
        fn(x, torch.tensor([[1, 0.0, 0.0, 4.0, 4.0]]), 2)
    with pytest.raises(ValueError, match="whole numbers"):
        fn(x, torch.tensor([[0.5, 0.0, 0.0, 4.0, 4.0]]), 2)
    with pytest.raises(ValueError, match="2 per-image box tensors for a batch of N=1"):
        fn(x, [BOX[:, 1:], BOX[:, 1:]], 2)
    with pytest.raises(TypeError, match="boxes: expected a"):
        fn(x, "boxes", 2)
    with pytest.raises(ValueError, match="NaN"):
        fn(x, torch.tensor([[0, 0.0, float("nan"), 4.0, 4.0]]), 2)
    with pytest.raises(ValueError, match="output_size: expected an int >= 1"):
        fn(x, BOX, 0)
    with pytest.raises(ValueError, match="output_size: expected an int or a pair"):
        fn(x, BOX, (2, 2, 2))
    with pytest.raises(ValueError, match="spatial_scale: expected a number > 0"):
        fn(x, BOX, 2, 0.0)
    if op.startswith("ps"):
        with pytest.raises(ValueError, match=r"C=4 must be divisible by output_h \* output_w = 3 \* 1 = 3"):
            fn(x, BOX, (3, 1))
    if op.endswith("align"):
        with pytest.raises(TypeError, match="sampling_ratio: expected an int"):
            fn(x, BOX, 2, 1.0, 2.0)
    if op == "roi_align":
        with pytest.raises(TypeError, match="aligned: expected a bool"):
            fn(x, BOX, 2, 1.0, 2, 1)


def test_empty_boxes_give_empty_outputs_like_torchvision():
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    none = torch.zeros(0, 5)
    for op in ("roi_pool", "roi_align", "ps_roi_pool", "ps_roi_align"):
        ours, ref = getattr(R, op)(x, none, 2), getattr(tv, op)(x, none, 2)
        assert ours.shape == ref.shape
        ours.sum().backward()
        assert (x.grad == 0).all()
    assert R.roi_align(x, [torch.zeros(0, 4)], 2).shape == (0, 4, 2, 2)


def test_geometry_function_errors():
    with pytest.raises(ValueError, match=r"box: expected shape \(4,\)"):
        R.roi_pool_bins(torch.zeros(3), 2)
    with pytest.raises(TypeError, match="box: expected 4 numbers"):
        R.roi_align_sample_points(["a", 0, 1, 1], 2)
    with pytest.raises(ValueError, match=r"box: expected shape \(4,\)"):
        R.roi_align_sample_points(torch.zeros(2, 4), 2)
    with pytest.raises(ValueError, match="feature_map: expected a 2-D or 3-D tensor"):
        R.roi_views(torch.zeros(1, 1, 4, 4), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="x2 > x1"):
        R.quantisation_error(torch.tensor([[4.0, 0, 2, 8]]), 16)
    with pytest.raises(ValueError, match="convention: expected one of"):
        R.quantisation_error(torch.tensor([[0.0, 0, 2, 8]]), 16, convention="centre")
    with pytest.raises(ValueError, match="op: expected one of"):
        R.MultiScaleRoIAlign(["p2"], 7, 2, op="max")
    with pytest.raises(TypeError, match="x: expected a dict"):
        R.MultiScaleRoIAlign(["p2"], 7, 2)([torch.zeros(1, 1, 4, 4)], [torch.zeros(0, 4)], [(8, 8)])
    with pytest.raises(ValueError, match="none of featmap_names"):
        R.MultiScaleRoIAlign(["p2"], 7, 2)({"p3": torch.zeros(1, 1, 4, 4)}, [torch.zeros(0, 4)], [(8, 8)])


# -- exercises (draft for lesson 10) -----------------------------------------------------------------

from segcourse.exercises import lesson10 as EX  # noqa: E402
from segcourse.exercises.checking import numbers_match  # noqa: E402


def test_exercise_expected_values_are_the_hand_worked_ones():
    assert [c.expected for c in EX.pool_cells_cases()] == [[1, 0, 6, 5], [3, 1, 5, 7], [-1, -2, 3, 2], [1, 2, 2, 4]]
    assert [c.expected for c in EX.pool_bins_cases()] == [
        [[0, 4], [3, 7]], [[1, 3], [2, 4], [4, 6], [5, 7]], [[3, 4], [3, 4]], [[6, 7], [6, 7]]]
    want = [[3.5, 4.5], [1.0, 2.0], [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0], [0.875, 1.625, 2.375],
            [2.75, 3.25]]
    got = [c.expected for c in EX.align_samples_cases()]
    assert all(len(a) == len(b) and all(abs(x - y) < 1e-12 for x, y in zip(a, b)) for a, b in zip(got, want))


@pytest.mark.parametrize("key", sorted(EX.EXERCISES))
def test_exercise_solution_passes(key):
    passed, lines = EX.EXERCISES[key].checker(EX.EXERCISES[key].solution())
    assert passed, lines


@pytest.mark.parametrize("key,mistake", [(k, m) for k in sorted(EX.MISTAKES) for m in sorted(EX.MISTAKES[k])])
def test_exercise_typical_mistake_fails_with_its_explanation(key, mistake):
    wrong, explanation = EX.MISTAKES[key][mistake]
    passed, lines = EX.EXERCISES[key].checker(wrong)
    assert not passed
    text = "\n".join(lines)
    assert explanation in text
    cases = {"10.pool_cells": EX.pool_cells_cases, "10.pool_bins": EX.pool_bins_cases,
             "10.align_samples": EX.align_samples_cases}[key]()
    for case in cases:
        if not numbers_match(wrong(*case.args), case.expected, 1e-9):
            assert repr(case.expected) not in text and str(case.expected) not in text


def test_exercise_other_wrong_answers_get_feedback_without_the_answer():
    check = EX.EXERCISES["10.align_samples"].checker
    passed, lines = check(lambda *a: [0.0, 1.0])
    assert not passed and "not what torchvision computes" in "\n".join(lines)
    assert "the answer has 7" in "\n".join(lines)
    passed, lines = check(lambda *a: None)
    assert not passed and "forget `return`" in "\n".join(lines)

    def broken(*a):
        raise ZeroDivisionError("oops")
    passed, lines = EX.EXERCISES["10.pool_bins"].checker(broken)
    assert not passed and "raised ZeroDivisionError" in "\n".join(lines)
    passed, lines = EX.EXERCISES["10.pool_cells"].checker("not a function")
    assert not passed and "expected a function" in lines[0]


# -- drawings --------------------------------------------------------------------------------------------

def test_drawings_return_updatable_artists():
    import matplotlib.pyplot as plt
    from segcourse.draw import roi as D
    fm = torch.rand(8, 10, generator=torch.Generator().manual_seed(80))
    box = [13.0, 7.0, 101.0, 83.0]
    fig, axs = plt.subplots(1, 3)
    a = D.draw_roi_bins(fm, box, 3, 1 / 16, ax=axs[0])
    v = R.roi_views(fm, box, 3, 1 / 16, 2, True)
    segs = D.pool_bin_segments(v)
    assert len(a["bins"].get_segments()) == 9 * 4
    # RoIPool's outer cells: x 1..6 -> [1, 7), y 0..5 -> [0, 6) in the aligned picture
    assert segs[..., 0].min() == 1 and segs[..., 0].max() == 7 and segs[..., 1].min() == 0 and segs[..., 1].max() == 6
    b = D.draw_roi_align_samples(fm, box, 3, 1 / 16, 2, True, ax=axs[1])
    assert b["points"].get_offsets().shape == (3 * 3 * 2 * 2, 2)
    # aligned=True: the bins tile exactly the box (box * scale) in the aligned picture
    al = D.align_bin_segments(v)
    assert np.allclose([al[..., 0].min(), al[..., 1].min(), al[..., 0].max(), al[..., 1].max()], v.box.numpy())
    legacy = D.align_bin_segments(R.roi_views(fm, box, 3, 1 / 16, 2, False))
    assert np.allclose(legacy[..., 0].min(), v.box[0].item() + 0.5)        # shifted by half a cell
    c = D.draw_pooled(v.pooled, ax=axs[2])
    assert np.array_equal(c["image"].get_array(), v.pooled.numpy()) and len(c["texts"]) == 9
    b["points"].set_offsets(np.zeros((36, 2)))
    a["image"].set_data(fm.numpy() * 0)
    plt.close(fig)
    with pytest.raises(ValueError, match="convention: expected one of"):
        D.draw_roi_bins(fm, box, 3, 1 / 16, ax=None, convention="middle")
