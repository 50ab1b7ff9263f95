"""Lesson 10's RoIAlign against torchvision's C++ kernel (``./course bench``; not unit tests).

Problem: 512 boxes in an 800 x 800 image over one 256 x 50 x 50 feature map (stride 16,
spatial_scale 1/16), output 7 x 7, sampling_ratio 2, float32, one thread. Records our time /
torchvision's time (best of several runs each) and the max |error|, forward and forward+backward
(targets: ratio <= 3, error <= 1e-5). Also times two other from-scratch routes, kept out of the
library because they are slower: one gather of the 4 corner rows for all samples followed by a
weighted sum (bmm), and ``F.grid_sample`` with border padding and an in-range mask.
The machine is shared (2 cores, other jobs): the ratios are what a loaded laptop sees.
"""
import time

import pytest
import torch
import torch.nn.functional as F
import torchvision.ops as tv

from segcourse.ops import roi as R

K, C, H, W, OUT, SR, SCALE = 512, 256, 50, 50, 7, 2, 1 / 16


@pytest.fixture(scope="module")
def problem():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, C, H, W, generator=g)
    xy = torch.rand(K, 2, generator=g) * 700
    wh = torch.rand(K, 2, generator=g) * 400 + 16
    rois = torch.cat([torch.zeros(K, 1), xy, (xy + wh).clamp(max=799.0)], 1)
    return x, rois


def _best(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _forward_backward(op, x, rois):
    t = x.clone().requires_grad_()
    out = op(t, rois, OUT, SCALE, SR)
    out.backward(torch.ones_like(out))
    return out, t.grad


# -- two alternative routes (for comparison only) ----------------------------------------------

def _samples(rois):
    geo = R._align_geometry(rois, SCALE, OUT, OUT, SR, 0.0, True)
    ys, _ = R._axis_samples(geo.start_y, geo.bin_h, OUT, geo.grid_h, SR)   # (K, P, S)
    xs, _ = R._axis_samples(geo.start_x, geo.bin_w, OUT, geo.grid_w, SR)
    return ys, xs


def roi_align_gather(x, rois):
    """All 4 corners of all samples in one index_select of channels-last rows, then one bmm."""
    ys, xs = _samples(rois)
    yi, yw = R._axis_bilinear(ys, H)                                         # (K, P, S, 2)
    xi, xw = R._axis_bilinear(xs, W)
    k = rois.shape[0]
    flat = yi[:, :, None, :, None, :, None] * W + xi[:, None, :, None, :, None, :]   # (K,P,P,S,S,2,2)
    wts = (yw[:, :, None, :, None, :, None] * xw[:, None, :, None, :, None, :]) / (SR * SR)
    table = x[0].permute(1, 2, 0).reshape(H * W, C)
    vals = table.index_select(0, flat.reshape(-1)).reshape(k * OUT * OUT, -1, C)
    out = torch.bmm(wts.reshape(k * OUT * OUT, 1, -1), vals)
    return out.reshape(k, OUT, OUT, C).permute(0, 3, 1, 2)


def roi_align_grid_sample(x, rois):
    """grid_sample (bilinear, border, align_corners=True) at the clamped sample points, times the
    in-range mask, averaged. Needs H, W > 1 and one image."""
    ys, xs = _samples(rois)
    vy = ((ys >= -1) & (ys <= H)).to(x.dtype)
    vx = ((xs >= -1) & (xs <= W)).to(x.dtype)
    gy = ys.clamp(0, H - 1) / (H - 1) * 2 - 1                                # (K, P, S)
    gx = xs.clamp(0, W - 1) / (W - 1) * 2 - 1
    k = rois.shape[0]
    grid = torch.stack([gx[:, None, None, :, :].expand(k, OUT, SR, OUT, SR),
                        gy[:, :, :, None, None].expand(k, OUT, SR, OUT, SR)], -1)
    grid = grid.reshape(1, k * OUT * SR, OUT * SR, 2)
    s = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    s = s.reshape(C, k, OUT, SR, OUT, SR) * (vy[:, :, :, None, None] * vx[:, None, None, :, :])
    return s.sum((3, 5)).permute(1, 0, 2, 3) / (SR * SR)


# -- benchmarks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["ours", "torchvision"])
def test_roi_align_forward(benchmark, problem, impl):
    x, rois = problem
    op = R.roi_align if impl == "ours" else tv.roi_align
    benchmark.pedantic(op, args=(x, rois, OUT, SCALE, SR), rounds=5, iterations=1, warmup_rounds=1)


def test_roi_align_forward_ratio(benchmark, problem):
    x, rois = problem
    ref = tv.roi_align(x, rois, OUT, SCALE, SR)
    err = (R.roi_align(x, rois, OUT, SCALE, SR) - ref).abs().max().item()
    result = {}

    def measure():
        t_ours = _best(lambda: R.roi_align(x, rois, OUT, SCALE, SR))
        t_tv = _best(lambda: tv.roi_align(x, rois, OUT, SCALE, SR))
        t_gather = _best(lambda: roi_align_gather(x, rois), repeats=2)
        t_grid = _best(lambda: roi_align_grid_sample(x, rois), repeats=2)
        result.update(ours_ms=1e3 * t_ours, torchvision_ms=1e3 * t_tv, gather_ms=1e3 * t_gather,
                      grid_sample_ms=1e3 * t_grid)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    err_gather = (roi_align_gather(x, rois) - ref).abs().max().item()
    err_grid = (roi_align_grid_sample(x, rois) - ref).abs().max().item()
    ratio = result["ours_ms"] / result["torchvision_ms"]
    benchmark.extra_info.update({k: round(v, 1) for k, v in result.items()})
    benchmark.extra_info.update(ratio=round(ratio, 2), max_error=f"{err:.2e}",
                                gather_ratio=round(result["gather_ms"] / result["torchvision_ms"], 2),
                                gather_error=f"{err_gather:.2e}",
                                grid_sample_ratio=round(result["grid_sample_ms"] / result["torchvision_ms"], 2),
                                grid_sample_error=f"{err_grid:.2e}", threads=torch.get_num_threads())
    assert err <= 1e-5 and err_gather <= 1e-5 and err_grid <= 1e-5
    assert ratio <= 3.0


def test_roi_align_forward_backward_ratio(benchmark, problem):
    x, rois = problem
    out_a, grad_a = _forward_backward(R.roi_align, x, rois)
    out_b, grad_b = _forward_backward(tv.roi_align, x, rois)
    err = (out_a - out_b).abs().max().item()
    gerr = (grad_a - grad_b).abs().max().item()
    grel = gerr / grad_b.abs().max().item()
    # which float32 gradient is nearer the float64 one? (the difference is summation order)
    _, grad_64 = _forward_backward(tv.roi_align, x.double(), rois.double())
    ours_vs_64 = (grad_a.double() - grad_64).abs().max().item()
    tv_vs_64 = (grad_b.double() - grad_64).abs().max().item()
    result = {}

    def measure():
        result["ours"] = _best(lambda: _forward_backward(R.roi_align, x, rois), repeats=3)
        result["torchvision"] = _best(lambda: _forward_backward(tv.roi_align, x, rois), repeats=3)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    ratio = result["ours"] / result["torchvision"]
    benchmark.extra_info.update(ours_ms=round(1e3 * result["ours"], 1),
                                torchvision_ms=round(1e3 * result["torchvision"], 1), ratio=round(ratio, 2),
                                max_error=f"{err:.2e}", grad_max_error=f"{gerr:.2e}",
                                grad_max_abs=round(grad_b.abs().max().item(), 2), grad_rel_error=f"{grel:.2e}",
                                ours_grad_vs_float64=f"{ours_vs_64:.2e}", tv_grad_vs_float64=f"{tv_vs_64:.2e}",
                                threads=torch.get_num_threads())
    assert err <= 1e-5 and grel <= 1e-6 and ours_vs_64 <= 2 * tv_vs_64
    assert ratio <= 3.0
