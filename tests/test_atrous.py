"""Lesson 06-07 ops: three definitions of atrous convolution proven equal, TensorFlow's
space-to-batch semantics, the sampling footprint against a brute-force enumeration, the HDC rule,
valid taps against a brute force, the widget's frame, the drawings and the exercises."""
import itertools
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from segcourse.ops.atrous import (atrous_conv2d_space_to_batch, batch_to_space, dilate_kernel,
                                  effective_kernel_size, footprint_1d, footprint_frame, footprint_stats,
                                  hdc_max_gap, same_padding, sampling_footprint, space_to_batch,
                                  space_to_batch_paddings, tap_positions, valid_tap_stats, valid_taps)


pytestmark = pytest.mark.usefixtures("one_thread")


def _close(a, b, atol=1e-6):
    """Same shape and values within ``atol`` (torch.testing.assert_close's first call costs ~7 s
    of imports here)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.numel() == 0 or float((a - b).abs().max()) <= atol


def _tf_same(x, w, rate):
    """TensorFlow's SAME atrous convolution written with F.pad + F.conv2d(dilation): the reference."""
    (t, b), (l, r) = same_padding(w.shape[-2], rate), same_padding(w.shape[-1], rate)
    return F.conv2d(F.pad(x, (l, r, t, b)), w, dilation=rate)


# ------------------------------------------------------------------ three definitions, one result

@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 14), w=st.integers(1, 14), k=st.integers(1, 4), rate=st.integers(1, 5),
       cin=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_three_definitions_agree_same_padding(h, w, k, rate, cin, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, cin, h, w, generator=g, dtype=torch.float64)
    wt = torch.randn(3, cin, k, k, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    ref = _tf_same(x, wt, rate) + b[:, None, None]                                  # (b) dilation=r
    (t, bo), (l, r) = same_padding(k, rate), same_padding(k, rate)
    holes = F.conv2d(F.pad(x, (l, r, t, bo)), dilate_kernel(wt, rate), b)           # (a) zeros inserted
    s2b = atrous_conv2d_space_to_batch(x, wt, rate, "SAME", bias=b)                 # (c) TF's way
    assert ref.shape == (2, 3, h, w)
    _close(holes, ref, atol=1e-12)
    _close(s2b, ref, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 4), rate=st.integers(1, 5), extra_h=st.integers(0, 9), extra_w=st.integers(0, 9),
       seed=st.integers(0, 10_000))
def test_three_definitions_agree_valid_padding(k, rate, extra_h, extra_w, seed):
    g = torch.Generator().manual_seed(seed)
    ke = effective_kernel_size(k, rate)
    x = torch.randn(1, 2, ke + extra_h, ke + extra_w, generator=g, dtype=torch.float64)
    wt = torch.randn(4, 2, k, k, generator=g, dtype=torch.float64)
    ref = F.conv2d(x, wt, dilation=rate)
    _close(F.conv2d(x, dilate_kernel(wt, rate)), ref, atol=1e-12)
    _close(atrous_conv2d_space_to_batch(x, wt, rate, "VALID"), ref, atol=1e-12)


def test_dilate_kernel_inserts_rate_minus_one_zeros():
    w = torch.arange(1.0, 10.0).reshape(3, 3)
    d = dilate_kernel(w, 3)
    assert d.shape == (7, 7) and effective_kernel_size(3, 3) == 7
    assert torch.equal(d[::3, ::3], w) and int((d != 0).sum()) == 9
    assert torch.equal(dilate_kernel(w, 1), w)
    assert dilate_kernel(torch.ones(2, 4, 3, 1), 2).shape == (2, 4, 5, 1)


def test_rate_one_is_an_ordinary_convolution():
    x, w = torch.randn(1, 3, 7, 9), torch.randn(2, 3, 3, 3)
    _close(atrous_conv2d_space_to_batch(x, w, 1, "SAME"), F.conv2d(x, w, padding=1))


# ------------------------------------------------------------------ TensorFlow's space-to-batch

def test_space_to_batch_matches_tensorflows_documented_examples():
    # tf.space_to_batch_nd docs, example (1): [1, 2, 2, 1] -> [4, 1, 1, 1] = 1, 2, 3, 4
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None, None]
    assert space_to_batch(x, 2).flatten().tolist() == [1, 2, 3, 4]
    # example (3): [1, 4, 4, 1] with 1..16 -> [[1, 3], [9, 11]], [[2, 4], [10, 12]], [[5, 7], [13, 15]], [[6, 8], [14, 16]]
    x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    y = space_to_batch(x, 2)
    assert y.shape == (4, 1, 2, 2)
    assert y[:, 0].tolist() == [[[1, 3], [9, 11]], [[2, 4], [10, 12]], [[5, 7], [13, 15]], [[6, 8], [14, 16]]]
    # example (4): batch 2, [2, 2, 4, 1] -> [8, 1, 2, 1]: block offsets outermost, then the batch
    x = torch.arange(1.0, 17.0).reshape(2, 1, 2, 4)
    y = space_to_batch(x, 2)
    assert y.shape == (8, 1, 1, 2)
    assert y[:, 0, 0].tolist() == [[1, 3], [9, 11], [2, 4], [10, 12], [5, 7], [13, 15], [6, 8], [14, 16]]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5), b=st.integers(1, 4),
       pt=st.integers(0, 3), pl=st.integers(0, 3))
def test_batch_to_space_inverts_space_to_batch(n, h, w, b, pt, pl):
    x = torch.randn(n, 2, h * b - pt if h * b > pt else h * b, w * b - pl if w * b > pl else w * b)
    H, W = x.shape[-2:]
    pads = ((pt if h * b > pt else 0, 0), (pl if w * b > pl else 0, 0))
    y = space_to_batch(x, b, pads)
    assert y.shape == (b * b * n, 2, h, w)
    _close(batch_to_space(y, b, pads), x)


def test_space_to_batch_paddings_follow_tensorflow():
    # 3 taps at rate 2 need 4 zeros (2 + 2); 9 + 4 = 13 is odd: one more at the end, cropped later
    assert space_to_batch_paddings(9, 3, 2, "SAME") == (2, 3, 1)
    assert space_to_batch_paddings(10, 3, 2, "SAME") == (2, 2, 0)
    assert space_to_batch_paddings(10, 3, 4, "SAME") == (4, 6, 2)     # 10 + 8 = 18 -> 20
    assert space_to_batch_paddings(7, 3, 3, "VALID") == (0, 2, 2)     # 7 -> 9
    assert same_padding(2, 1) == (0, 1)                               # odd total: the extra zero at the end
    assert same_padding(3, 12) == (12, 12)


def test_atrous_conv_checks_its_arguments():
    x, w = torch.randn(1, 3, 8, 8), torch.randn(2, 3, 3, 3)
    with pytest.raises(ValueError, match="padding"):
        atrous_conv2d_space_to_batch(x, w, 2, "same")
    with pytest.raises(ValueError, match="weight"):
        atrous_conv2d_space_to_batch(x, torch.randn(2, 4, 3, 3), 2)
    with pytest.raises(ValueError, match="effective kernel"):
        atrous_conv2d_space_to_batch(x, w, 4, "VALID")
    with pytest.raises(TypeError, match="rate"):
        atrous_conv2d_space_to_batch(x, w, 2.0)
    with pytest.raises(ValueError, match="rate"):
        dilate_kernel(w, 0)
    with pytest.raises(ValueError, match="multiple of block"):
        space_to_batch(torch.randn(1, 1, 3, 4), 2)


# ------------------------------------------------------------------ the sampling footprint

def _brute_footprint(specs):
    """Enumerate every tap sequence; the offset of a sequence is sum_l rate_l * t_l * jump_l."""
    jumps, j = [], 1
    for k, r, s in specs:
        jumps.append(j)
        j *= s
    size = sum(r * (k - 1) * jp for (k, r, s), jp in zip(specs, jumps)) + 1
    out = np.zeros((size, size), np.int64)
    per_layer = [range(k) for k, _, _ in specs]
    for ty in itertools.product(*per_layer):
        oy = sum(r * t * jp for (k, r, s), t, jp in zip(specs, ty, jumps))
        for tx in itertools.product(*per_layer):
            ox = sum(r * t * jp for (k, r, s), t, jp in zip(specs, tx, jumps))
            out[oy, ox] += 1
    return out


@pytest.mark.parametrize("specs", [
    [(3, 2, 1), (3, 2, 1)], [(3, 1, 1), (3, 2, 1), (3, 3, 1)], [(3, 2, 1), (3, 2, 1), (3, 2, 1)],
    [(2, 1, 2), (3, 2, 1)], [(3, 1, 2), (3, 1, 2), (3, 3, 1)], [(5, 1, 1), (1, 4, 1), (3, 4, 1)], [(4, 3, 1)]])
def test_footprint_counts_every_path(specs):
    fp = sampling_footprint(specs)
    np.testing.assert_array_equal(fp.numpy(), _brute_footprint(specs))
    assert fp.dtype == torch.int64 and int(fp.sum()) == math.prod(k * k for k, _, _ in specs)
    f1 = footprint_1d(specs)
    assert torch.equal(fp, torch.outer(f1, f1))           # rows and columns are chosen independently


def test_equal_rates_grid_the_input_mixed_rates_do_not():
    """The lesson's claim: 2, 2, 2 and 1, 2, 3 span the same 13 x 13 field; 2, 2, 2 sees a quarter of it."""
    grid, mixed = sampling_footprint([2, 2, 2]), sampling_footprint([1, 2, 3])
    assert grid.shape == mixed.shape == (13, 13)
    sg, sm = footprint_stats(grid), footprint_stats(mixed)
    assert (sg["support"], sg["holes"], sg["coverage"]) == (49, 120, 49 / 169)
    assert (sm["support"], sm["holes"]) == (169, 0)
    assert (grid[1::2, :] == 0).all() and (grid[:, 1::2] == 0).all()       # odd offsets: never seen
    assert sg["paths"] == sm["paths"] == 9 ** 3
    # the holes stay as deep as you stack: 8 layers at rate 2 still see only even offsets
    deep = sampling_footprint([2] * 8)
    assert deep.shape == (33, 33) and footprint_stats(deep)["coverage"] == 17 ** 2 / 33 ** 2


def test_footprint_placed_in_a_canvas():
    fp = sampling_footprint([1, 2])
    c = sampling_footprint([1, 2], size=(11, 12))
    assert c.shape == (11, 12) and torch.equal(c[5 - 3:5 + 4, 6 - 3:6 + 4], fp) and c.sum() == fp.sum()
    small = sampling_footprint([1, 2], size=3)                 # cropped to the central 3 x 3
    assert torch.equal(small, fp[2:5, 2:5])


def test_footprint_stats_match_the_existing_mass_square():
    from segcourse.ops.receptive_field import mass_square_side
    for layers in ([1] * 6, [2, 2, 2], [1, 2, 5, 1, 2, 5], [(7, 1)], [1, 1, 2, 4, 8]):
        fp = sampling_footprint(layers)
        c = (fp.shape[0] - 1) / 2
        assert footprint_stats(fp)["erf_side"] == mass_square_side(fp.double().numpy(), c, c, 0.9)
    # the effective field grows like sqrt(depth), the theoretical one like depth (Luo et al.)
    sides = [footprint_stats(sampling_footprint([1] * n))["erf_side"] for n in (4, 16)]
    fields = [footprint_stats(sampling_footprint([1] * n))["size"][0] for n in (4, 16)]
    assert fields == [9, 33] and sides[1] < 2.6 * sides[0]


def test_hdc_rule_against_the_footprint():
    """Wang et al.'s M_2 <= K: exact for non-decreasing groups that start at rate 1, never wrong
    when it promises no holes for other groups starting at 1, wrong for groups that do not."""
    for L in (2, 3, 4):
        for tail in itertools.product(range(1, 10), repeat=L - 1):
            rates = (1,) + tail
            covered = not (footprint_1d(rates) == 0).any()
            promised = hdc_max_gap(rates) <= 3
            if list(rates) == sorted(rates):
                assert promised == covered, rates
            elif promised:
                assert covered, rates
    assert hdc_max_gap([1, 2, 5]) == 2 and hdc_max_gap([1, 2, 9]) == 5
    for bad in ([2, 2, 2], [8, 3, 7, 5]):                      # M_2 <= 3, yet holes
        assert hdc_max_gap(bad) <= 3 and (footprint_1d(bad) == 0).any()


def test_footprint_frame_places_the_cached_footprint():
    frame = footprint_frame([1, 2, 3], (40, 50), (20, 25))
    fp = sampling_footprint([1, 2, 3])
    assert frame["counts"].shape == (40, 50)
    assert torch.equal(frame["counts"][14:27, 19:32], fp) and frame["counts"].sum() == fp.sum()
    assert frame["rf_box"] == (14, 19, 27, 32)
    e = frame["stats"]["erf_side"]
    assert frame["erf_box"] == (20 - (e - 1) // 2, 25 - (e - 1) // 2, 20 - (e - 1) // 2 + e, 25 - (e - 1) // 2 + e)
    corner = footprint_frame([1, 2, 3], (40, 50), (0, 0))
    assert torch.equal(corner["counts"][:7, :7], fp[6:, 6:]) and corner["rf_box"] == (-6, -6, 7, 7)


def test_footprint_frame_is_fast_enough_for_a_widget():
    layers = [(3, 1), (3, 2), (3, 4), (3, 8), (3, 16)]
    footprint_frame(layers, (224, 224), (0, 0))                # first call computes and caches
    times = []
    for col in range(0, 224, 16):
        t = time.perf_counter()
        footprint_frame(layers, (224, 224), (112, col))
        times.append(time.perf_counter() - t)
    assert sorted(times)[len(times) // 2] < 0.010               # the budget is 50 ms with the redraw


def test_footprint_checks_its_arguments():
    with pytest.raises(TypeError, match="layers"):
        sampling_footprint("222")
    with pytest.raises(ValueError, match="at least one"):
        sampling_footprint([])
    with pytest.raises(ValueError, match=r"layers\[1\]"):
        sampling_footprint([2, (3, 2, 1, 1)])
    with pytest.raises(ValueError, match="rate"):
        sampling_footprint([0])
    with pytest.raises(ValueError, match="unit"):
        footprint_frame([2], (10, 10), (10, 0))


def test_rate_patterns():
    from segcourse.ops.atrous import RATE_PATTERNS, rate_pattern
    assert rate_pattern("equal", 4, 3) == [3, 3, 3, 3]
    assert rate_pattern("hybrid", 5) == [1, 2, 3, 1, 2]
    assert rate_pattern("hdc", 4, rate=7) == [1, 2, 5, 1]               # rate only matters for "equal"
    assert rate_pattern("exponential", 5) == [1, 2, 4, 8, 16]
    for p in RATE_PATTERNS:                                              # patterns other than r, r, r: no holes
        if p != "equal":
            assert all(footprint_stats(sampling_footprint(rate_pattern(p, n)))["holes"] == 0 for n in range(1, 9))
    with pytest.raises(ValueError, match="pattern"):
        rate_pattern("random", 3)
    with pytest.raises(ValueError, match="layers"):
        rate_pattern("equal", 0)
    with pytest.raises(ValueError, match="layers"):
        rate_pattern("exponential", 10)


def test_footprint_explorer_updates_artists_in_place():
    import segcourse as sc
    img = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    w = sc.footprint_explorer(img, layers=3, rate=2, size=48)
    (ax,) = w.figure.axes
    image, rf, erf = ax.images[0], ax.patches[0], ax.patches[1]
    layers, rate, pattern, row, col = w.controls
    assert type(layers).__name__ == "IntSlider"                          # the browser test moves the first slider
    ref = footprint_frame([2, 2, 2], (48, 48), (24, 24))
    assert torch.equal(w.state["counts"], ref["counts"]) and w.state["rf_box"] == ref["rf_box"] == (18, 18, 31, 31)
    assert w.state["stats"] == ref["stats"] and "sampled 49 of its 169 pixels" in w.readout.value
    before = np.asarray(image.get_array()).copy()
    layers.value = 4
    assert ax.images[0] is image and ax.patches[0] is rf and ax.patches[1] is erf and len(ax.images) == 1
    ref = footprint_frame([2, 2, 2, 2], (48, 48), (24, 24))
    assert torch.equal(w.state["counts"], ref["counts"]) and w.state["rates"] == [2, 2, 2, 2]
    assert rf.get_width() == 17 and not np.array_equal(before, np.asarray(image.get_array()))
    pattern.value = "hybrid"
    assert rate.disabled and w.state["rates"] == [1, 2, 3, 1] and w.state["stats"]["holes"] == 0
    row.value, col.value = 5, 40
    ref = footprint_frame([1, 2, 3, 1], (48, 48), (5, 40))
    assert torch.equal(w.state["counts"], ref["counts"]) and w.state["erf_box"] == ref["erf_box"]
    assert rf.get_xy() == (40 - 7 - 0.5, 5 - 7 - 0.5) and "unit at pixel (5, 40)" in w.readout.value
    from segcourse.draw.atrous import footprint_overlay
    assert np.array_equal(np.asarray(image.get_array()), footprint_overlay(w.photo, ref["counts"]))
    pattern.value = "equal"
    assert not rate.disabled and w.state["rates"] == [2, 2, 2, 2]
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"].startswith("<footprint_explorer: layers=4, rate r=2")


def test_footprint_explorer_validates():
    import segcourse as sc
    with pytest.raises(ValueError, match="layers"):
        sc.footprint_explorer(layers=9)
    with pytest.raises(ValueError, match="pattern"):
        sc.footprint_explorer(pattern="random")
    with pytest.raises(ValueError, match="unit"):
        sc.footprint_explorer(size=32, unit=(32, 0))
    with pytest.raises(ValueError, match="image"):
        sc.footprint_explorer(np.zeros((8, 8, 4)))


# ------------------------------------------------------------------ valid taps on a small map

def _brute_valid(n, rate, k=3):
    before = rate * (k - 1) // 2
    out = np.zeros((n, n), np.int64)
    for i in range(n):
        for j in range(n):
            for ty in range(k):
                for tx in range(k):
                    y, x = i + ty * rate - before, j + tx * rate - before
                    out[i, j] += 0 <= y < n and 0 <= x < n
    return out


@pytest.mark.parametrize("n,rate,k", [(9, 1, 3), (9, 4, 3), (9, 9, 3), (7, 2, 5), (10, 3, 3), (6, 2, 2)])
def test_valid_taps_against_brute_force(n, rate, k):
    v = valid_taps(n, rate, k)
    np.testing.assert_array_equal(v.numpy(), _brute_valid(n, rate, k))
    if k % 2:   # SAME conv of ones with ones counts the same thing
        ones = F.conv2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), padding=rate * (k - 1) // 2, dilation=rate)
        np.testing.assert_array_equal(v.numpy(), ones[0, 0].long().numpy())
    taps, inside = tap_positions(n, (n // 2, 1), rate, k)
    assert taps.shape == (k * k, 2) and int(inside.sum()) == int(v[n // 2, 1])


def test_large_rates_degenerate_to_the_centre_tap():
    """v3's Figure 4 on a 65 x 65 map: the share of valid taps falls with the rate; from rate 33 on
    some positions keep only the centre tap, and from 65 on every position does (a 1 x 1 conv)."""
    rates = list(range(1, 71))
    s = valid_tap_stats(65, rates)
    brute = [_brute_valid(65, r).mean() / 9 for r in (1, 12, 24, 36, 64)]
    np.testing.assert_allclose(s["mean_fraction"][[0, 11, 23, 35, 63]].numpy(), brute, rtol=0, atol=1e-12)
    assert (s["mean_fraction"].diff() <= 0).all()
    assert s["centre_only"][31] == 0 and s["centre_only"][32] > 0            # rate 32: none; 33: some
    assert torch.allclose(s["centre_only"][64:], torch.ones(6, dtype=torch.float64))
    assert torch.allclose(s["mean_fraction"][64:], torch.full((6,), 1 / 9, dtype=torch.float64))
    _close(s["share"].sum(1), torch.ones(70, dtype=torch.float64))
    assert abs(float(s["mean_fraction"][17]) - 0.6649) < 1e-4                # rate 18 (v3's largest at OS 16)


# ------------------------------------------------------------------ drawings

def test_drawings_return_their_artists():
    import matplotlib.pyplot as plt
    from segcourse.draw.atrous import (draw_aspp_taps, draw_gcn_impulse, draw_sampling_footprint,
                                          draw_valid_taps, footprint_overlay, footprint_rgba, set_box)
    from segcourse.models.gcn import GCN, gcn_kernel
    fig, axes = plt.subplots(1, 4)
    photo = np.zeros((64, 64, 3), np.uint8)
    frame = footprint_frame([2, 2, 2], (64, 64), (30, 30))
    a = draw_sampling_footprint(frame, photo, ax=axes[0])
    shown = np.asarray(a["image"].get_array())
    assert shown.shape == (64, 64, 3) and (shown.sum(-1) > 0).sum() == 49     # black photo: only sampled pixels lit
    assert a["rf"].get_width() == 13
    rgba = footprint_rgba(frame["counts"])
    assert rgba.shape == (64, 64, 4) and (rgba[..., 3] > 0).sum() == 49
    frame2 = footprint_frame([1, 2, 3], (64, 64), (3, 40))
    a["image"].set_data(footprint_overlay(photo, frame2["counts"]))          # what a widget does
    set_box(a["rf"], frame2["rf_box"])
    assert (np.asarray(a["image"].get_array()).sum(-1) > 0).sum() == 13 * 13 - 3 * 13   # cut at the top
    assert a["rf"].get_xy() == (33.5, -3.5)
    # more paths, brighter colour (log scale): the centre of 1, 1, 1 is reached most often
    over = footprint_overlay(None, sampling_footprint([1, 1, 1], size=9))
    assert over[4, 4].sum() > over[4, 1].sum()
    lines = draw_valid_taps(valid_tap_stats(65, range(1, 70)), ax=axes[1])
    assert set(lines) == {"mean", "centre_only", "all_valid"} and len(lines["mean"].get_xdata()) == 69
    branches = [(f"rate {r}", *tap_positions(8, (3, 4), r)) for r in (1, 3, 6)]
    dots = draw_aspp_taps(8, branches, ax=axes[2])
    assert len(dots) == 3 and dots["rate 6"].get_offsets().shape == (9, 2)
    K, _ = gcn_kernel(GCN(1, 1, 7))
    im = draw_gcn_impulse(K[0, 0].detach(), ax=axes[3])["image"]
    assert im.get_array().shape == (7, 7)
    plt.close(fig)


# ------------------------------------------------------------------ exercises

def test_exercise_solutions_pass():
    from segcourse.exercises import lesson06, lesson07, lesson08
    for key, ex in {**lesson06.EXERCISES, **lesson07.EXERCISES, **lesson08.EXERCISES}.items():
        ok, lines = ex.checker(ex.solution())
        assert ok, (key, lines)
        assert not ex.checker(None)[0]


def _no_expected_value_in(lines, cases):
    """The feedback names the case and the student's value, never the expected one (numbers 0-3
    and 9 may appear in the hints' formulas, e.g. "k - 1 gaps", "out of 9")."""
    import re
    for case in cases:
        for line in lines:
            if line.startswith(f"case '{case.name}'"):
                rest = line[len(case.name) + 8:]
                exp = case.expected
                if isinstance(exp, set):
                    assert str(sorted(exp)) not in rest and str(exp) not in rest, line
                    continue
                numbers = {float(t) for t in re.findall(r"-?\d+(?:\.\d+)?", rest)}
                returned = re.search(r"returned (-?[\d.e+-]+)", rest)
                numbers -= {float(returned.group(1).rstrip("."))} if returned else set()
                if float(exp) not in (0, 1, 2, 3, 9):
                    assert not any(abs(n - float(exp)) < 1e-4 for n in numbers), (line, exp)
    return "\n".join(lines)


def test_exercise_mistakes_fail_with_reasons_not_answers():
    from types import SimpleNamespace

    from segcourse.exercises import lesson06, lesson07, lesson08
    ex = SimpleNamespace(effective_kernel_cases=lesson06.effective_kernel_cases,
                         stack_offsets_cases=lesson06.stack_offsets_cases,
                         valid_fraction_cases=lesson07.valid_fraction_cases, _one_axis=lesson07._one_axis,
                         gcn_params_cases=lesson08.gcn_params_cases)
    # the guard itself can fail: feedback that printed the expected value would be caught
    with pytest.raises(AssertionError):
        case = ex.effective_kernel_cases()[1]
        _no_expected_value_in([f"case '{case.name}': expected {case.expected}"], [case])
    chk = {k: e.checker for k, e in {**lesson06.EXERCISES, **lesson07.EXERCISES, **lesson08.EXERCISES}.items()}
    ok, lines = chk["06.effective_kernel"](lambda k, r: k * r)
    assert not ok and "kernel x rate" in _no_expected_value_in(lines, ex.effective_kernel_cases())
    ok, lines = chk["06.effective_kernel"](lambda k, r: (k - 1) * r)
    assert not ok and "last tap covers" in _no_expected_value_in(lines, ex.effective_kernel_cases())
    ok, lines = chk["06.stack_offsets"](lambda rates: {t * r for r in rates for t in (-1, 0, 1)})
    assert not ok and "union" in _no_expected_value_in(lines, ex.stack_offsets_cases())
    ok, lines = chk["06.stack_offsets"](lambda rates: set(range(sum(rates) + 1)))
    assert not ok and "relative to the unit's centre" in _no_expected_value_in(lines, ex.stack_offsets_cases())
    ok, lines = chk["07.valid_fraction"](lambda n, r: float(ex._one_axis(n, r).mean()))
    assert not ok and "one axis only" in _no_expected_value_in(lines, ex.valid_fraction_cases())
    ok, lines = chk["07.valid_fraction"](lambda n, r: float((ex._one_axis(n, r) == 1).mean() ** 2))
    assert not ok and "all 9 taps" in _no_expected_value_in(lines, ex.valid_fraction_cases())
    ok, lines = chk["08.gcn_params"](lambda a, b, k: k * (a * b + b * b))
    assert not ok and "one branch only" in _no_expected_value_in(lines, ex.gcn_params_cases())
    ok, lines = chk["08.gcn_params"](lambda a, b, k: a * b * k * k)
    assert not ok and "full k x k" in _no_expected_value_in(lines, ex.gcn_params_cases())
    ok, lines = chk["08.gcn_params"](lambda a, b, k: 4 * k * a * b)
    assert not ok and "c_out channels to c_out" in _no_expected_value_in(lines, ex.gcn_params_cases())

    def todo(*a):
        raise NotImplementedError
    assert chk["07.valid_fraction"](todo) == (False, ["the function still raises NotImplementedError: fill in its body"])
    ok, lines = chk["06.effective_kernel"](lambda k, r: None)
    assert not ok and "forget `return`" in lines[1]
