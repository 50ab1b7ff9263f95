"""Lessons 01 and 03: receptive fields, convolutionalization, conv matrices, bilinear kernels,
interpolation weights and their widgets, each checked against a reference."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

import segcourse as sc
from segcourse.ops import upsampling
from segcourse.exercises.lesson01 import fc_to_conv_cases, rf_cases
from segcourse.exercises.lesson03 import bilinear_cases, transposed_size_cases


# ------------------------------------------------------------------ receptive fields

def _linear_probe(module):
    """Same geometry, one channel, weights 1, average pools, no ReLU: gradient support = RF."""
    layers = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            c = nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation, bias=False)
            nn.init.constant_(c.weight, 1.0)
            layers.append(c)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            layers.append(nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode))
    return nn.Sequential(*layers).double()


def _brute_force(module, n, unit):
    """Support (first, last input row) of the gradient of output row ``unit`` (column = same)."""
    probe = _linear_probe(module)
    x = torch.ones(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = probe(x)
    (g,) = torch.autograd.grad(y[0, 0, unit, unit], x)
    rows = torch.nonzero(g[0, 0].abs().sum(1)).flatten()
    return int(rows[0]), int(rows[-1]), y.shape[-1]


@st.composite
def layer_stacks(draw):
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "pool"]))
        k = draw(st.integers(1, 5))
        s = draw(st.integers(1, 3))
        if kind == "conv":
            d = draw(st.integers(1, 3))
            p = draw(st.integers(0, (d * (k - 1)) // 2 + 1))
            layers.append(nn.Conv2d(1, 1, k, s, p, d))
        else:
            p = draw(st.integers(0, k // 2))
            layers.append(nn.MaxPool2d(k, s, p))
    return nn.Sequential(*layers)


@settings(max_examples=40, deadline=None)
@given(layer_stacks())
def test_receptive_fields_match_gradient_support(net):
    recs = sc.receptive_fields(net)
    r = recs[-1]
    n = r.size + 2 * r.jump * 6 + 8
    try:
        sizes = sc.receptive_fields(net, n)
    except ValueError:
        return
    out = sizes[-1].out_size
    # an interior unit whose theoretical window lies inside the input
    for unit in range(out):
        lo = r.start + unit * r.jump - (r.size - 1) / 2
        if lo >= 0 and lo + r.size - 1 <= n - 1:
            break
    else:
        return
    first, last, torch_out = _brute_force(net, n, unit)
    assert torch_out == out
    assert (first, last) == (lo, lo + r.size - 1)


def test_receptive_fields_of_vgg16_match_brute_force_and_known_values():
    import torchvision
    vgg = torchvision.models.vgg16(weights=None)
    recs = sc.receptive_fields(vgg.features, 224)
    assert [r.kind for r in recs].count("pool") == 5 and len(recs) == 18
    assert (recs[-1].size, recs[-1].jump, recs[-1].start, recs[-1].out_size) == (212, 32, 15.5, 7)
    first, last, _ = _brute_force(vgg.features, 224, 3)
    assert (first, last) == (15.5 + 3 * 32 - 105.5, 15.5 + 3 * 32 + 105.5)
    fcn = sc.convolutionalize(vgg)
    r = sc.receptive_fields(fcn, 224)[-1]
    assert (r.name, r.size, r.jump, r.start, r.out_size) == ("fc8", 404, 32, 111.5, 1)


def test_receptive_fields_dilation_ceil_mode_and_same_padding():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2, padding="same"), nn.MaxPool2d(2, 2, ceil_mode=True))
    recs = sc.receptive_fields(net, 7)
    assert recs[0].size == 5 and recs[0].padding == 2 and recs[0].out_size == 7
    assert recs[1].out_size == 4  # ceil(6 / 2) + 1
    y = net(torch.zeros(1, 1, 7, 7))
    assert y.shape[-1] == 4
    fcn_like = nn.Sequential(nn.Conv2d(3, 4, 3, padding=100), nn.MaxPool2d(2, 2, ceil_mode=True))
    assert sc.receptive_fields(fcn_like, 5)[-1].out_size == fcn_like(torch.zeros(1, 3, 5, 5)).shape[-1]


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())))
def test_receptive_fields_rejects_non_modules(x):
    with pytest.raises(TypeError, match="module"):
        sc.receptive_fields(x)


def test_receptive_fields_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="input_size"):
        sc.receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 5)), 3)
    with pytest.raises(ValueError, match="input_size"):
        sc.receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 5)), 0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3),
       st.booleans())
def test_conv_output_size_matches_torch(n, k, s, p, d, ceil):
    if p > k // 2:   # torch's pools allow padding of at most half the kernel
        p = 0
    try:
        got = sc.conv_output_size(n, k, s, p, d, ceil)
    except ValueError:
        with pytest.raises(RuntimeError):
            F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
        return
    if ceil:
        ref = F.max_pool2d(torch.zeros(1, 1, n, n), k, s, p, d, ceil_mode=True).shape[-1]
    else:
        ref = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape[-1]
    assert got == ref


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.integers(0, 3))
def test_transposed_output_size_matches_torch(n, k, s, p, op):
    try:
        got = sc.transposed_output_size(n, k, s, p, op)
    except ValueError:
        return
    ref = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                             output_padding=op).shape[-1]
    assert got == ref


def test_transposed_output_size_validates():
    with pytest.raises(ValueError, match="output_padding"):
        sc.transposed_output_size(4, 3, 2, 0, 2)
    with pytest.raises(TypeError, match="n"):
        sc.transposed_output_size(4.5, 3)


# ------------------------------------------------------------------ convolutionalization

def test_convolutionalize_gives_identical_logits_and_a_map():
    import torchvision
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None).eval()
    fcn = sc.convolutionalize(vgg).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref = vgg(x)
        out = fcn(x)
        big = fcn(torch.randn(1, 3, 288, 256))
        same = sc.convolutionalize(vgg, fc6_padding="same").eval()(x)
    assert out.shape == (1, 1000, 1, 1)
    assert torch.allclose(out.flatten(1), ref, atol=1e-4, rtol=1e-4)
    assert big.shape == (1, 1000, 3, 2)
    assert same.shape == (1, 1000, 7, 7) and torch.allclose(same[0, :, 3, 3], ref[0], atol=1e-4, rtol=1e-4)
    assert vgg.classifier[0].weight.shape == (4096, 25088)  # input model untouched
    assert fcn.fc6.weight.data_ptr() != vgg.classifier[0].weight.data_ptr()


def test_convolutionalize_validates():
    with pytest.raises(TypeError, match="vgg"):
        sc.convolutionalize("vgg16")
    with pytest.raises(ValueError, match="vgg"):
        sc.convolutionalize(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="fc6_padding"):
        import torchvision
        sc.convolutionalize(torchvision.models.vgg16(weights=None), fc6_padding="full")


def test_slim_vgg_has_vgg16_geometry():
    import torchvision
    a = sc.receptive_fields(sc.slim_vgg16_features(16), 224)
    b = sc.receptive_fields(torchvision.models.vgg16(weights=None).features, 224)
    assert [(r.size, r.jump, r.start, r.out_size) for r in a] == [(r.size, r.jump, r.start, r.out_size) for r in b]
    assert a[-1].name == "pool5"


def test_effective_receptive_field_lies_inside_the_theoretical_one():
    net = sc.slim_vgg16_features(16, generator=torch.Generator().manual_seed(0))
    img = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    r = {x.name: x for x in sc.receptive_fields(net, 64)}["pool2"]
    erf = sc.effective_receptive_field(net, img, "pool2", (5, 6))
    ys, xs = torch.nonzero(erf, as_tuple=True)
    cy, cx = r.start + 5 * r.jump, r.start + 6 * r.jump
    half = (r.size - 1) / 2
    assert erf.shape == (64, 64) and erf.sum() > 0
    assert ys.min() >= cy - half and ys.max() <= cy + half and xs.min() >= cx - half and xs.max() <= cx + half
    with pytest.raises(ValueError, match="layer"):
        sc.effective_receptive_field(net, img, "fc6", (0, 0))
    with pytest.raises(ValueError, match="unit"):
        sc.effective_receptive_field(net, img, "pool2", (99, 0))
    with pytest.raises(ValueError, match="image"):
        sc.effective_receptive_field(net, torch.rand(1, 64, 64), "pool2", (0, 0))


# ------------------------------------------------------------------ lesson 03

@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(2, 7), st.integers(1, 3), st.integers(0, 2),
       st.integers(0, 2**31 - 1))
def test_conv_matrix_matches_conv2d_and_its_transpose_conv_transpose2d(kh, kw, n, s, p, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(kh, kw, generator=g, dtype=torch.float64)
    if n + 2 * p < max(kh, kw):
        with pytest.raises(ValueError):
            sc.conv_matrix(w, (n, n), s, p)
        return
    x = torch.randn(n, n, generator=g, dtype=torch.float64)
    C = sc.conv_matrix(w, (n, n), s, p)
    y = F.conv2d(x[None, None], w[None, None], stride=s, padding=p)[0, 0]
    assert torch.allclose(C @ x.flatten(), y.flatten())
    if kh == kw:  # C^T is the transposed convolution that returns the n x n size
        z = F.conv_transpose2d(y[None, None], w[None, None], stride=s, padding=p,
                               output_padding=(n + 2 * p - kh) % s)[0, 0]
        assert z.shape == (n, n) and torch.allclose(C.T @ y.flatten(), z.flatten())


def test_conv_matrix_validates():
    with pytest.raises(ValueError, match="weight"):
        sc.conv_matrix(torch.ones(3), (4, 4))
    with pytest.raises(TypeError, match="input_size"):
        sc.conv_matrix(torch.ones(2, 2), 4)
    with pytest.raises(TypeError, match="weight"):
        sc.conv_matrix(torch.ones(2, 2, dtype=torch.int64), (4, 4))


def test_bilinear_kernel_is_the_slide_matrix():
    k = sc.bilinear_kernel(4)
    row0 = torch.tensor([0.0625, 0.1875, 0.1875, 0.0625])
    row1 = torch.tensor([0.1875, 0.5625, 0.5625, 0.1875])
    assert k.dtype == torch.float32 and k.shape == (4, 4)
    assert torch.equal(k, torch.stack([row0, row1, row1, row0]))
    assert torch.allclose(sc.bilinear_kernel(3), torch.outer(*[torch.tensor([0.5, 1.0, 0.5])] * 2))
    for case in bilinear_cases():
        assert np.allclose(sc.bilinear_kernel(*case.args).numpy(), case.expected)


@given(st.one_of(st.integers(max_value=0), st.floats(), st.text(), st.none(), st.booleans()))
def test_bilinear_kernel_rejects_bad_sizes(size):
    with pytest.raises((TypeError, ValueError), match="size"):
        sc.bilinear_kernel(size)


@pytest.mark.parametrize("f", [2, 3, 4, 5])
def test_bilinear_transposed_conv_equals_interpolate_away_from_the_border(f):
    x = torch.rand(1, 2, 9, 11, generator=torch.Generator().manual_seed(f))
    with torch.no_grad():
        a = sc.bilinear_upsampler(f, channels=2)(x)
    b = F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
    assert a.shape == b.shape == (1, 2, 9 * f, 11 * f)
    m = f  # border width that differs: clamping vs zero padding
    assert torch.allclose(a[..., m:-m, m:-m], b[..., m:-m, m:-m], atol=1e-5)
    assert not torch.allclose(a[..., 0, :], b[..., 0, :], atol=1e-3)   # the border does differ
    # constant input: interpolate keeps 1 everywhere, the transposed conv darkens only the border
    ones = torch.ones(1, 2, 9, 11)
    with torch.no_grad():
        c = sc.bilinear_upsampler(f, channels=2)(ones)
    assert torch.allclose(c[..., m:-m, m:-m], torch.ones(1), atol=1e-5) and c[..., 0, 0].max() < 1


def test_overlap_count():
    assert set(sc.overlap_count(6, 3, 2)[3:-3, 3:-3].unique().tolist()) == {1.0, 2.0, 4.0}
    assert set(sc.overlap_count(6, 4, 2)[4:-4, 4:-4].unique().tolist()) == {4.0}
    with pytest.raises(ValueError, match="stride"):
        sc.overlap_count(4, 3, 0)


@pytest.mark.parametrize("method", sc.INTERPOLATION_METHODS)
@pytest.mark.parametrize("f", [1, 2, 3])
def test_interpolation_weights_reproduce_the_operator(method, f):
    x = torch.rand(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    W = sc.interpolation_weights(method, f, (5, 4))
    ref = upsampling._upsample(x[None, None], method, f)[0, 0]
    assert W.shape == (5 * f, 4 * f, 5, 4)
    assert torch.allclose(torch.einsum("yxij,ij->yx", W, x), ref)
    if method in ("nearest", "bilinear", "bilinear_align_corners"):
        assert torch.allclose(W.sum((2, 3)), torch.ones(1, dtype=torch.float64))
    if method == "bilinear_align_corners":
        ref2 = F.interpolate(x[None, None], scale_factor=f, mode="bilinear", align_corners=True)[0, 0]
        assert torch.allclose(ref, ref2)


def test_interpolation_weights_validates():
    with pytest.raises(ValueError, match="method"):
        sc.interpolation_weights("bicubic", 2, (4, 4))
    with pytest.raises(ValueError, match="factor"):
        sc.interpolation_weights("nearest", 0, (4, 4))
    with pytest.raises(TypeError, match="input_size"):
        sc.interpolation_weights("nearest", 2, 4)


# ------------------------------------------------------------------ exercises

def test_lesson01_exercises():
    def rf(layers):
        size, jump, start = 1, 1, 0.0
        for k, s, p in layers:
            size, start, jump = size + (k - 1) * jump, start + ((k - 1) / 2 - p) * jump, jump * s
        return size, jump, start
    assert sc.check("01.receptive_field", rf)
    # the exercise's expected values agree with sc.receptive_fields
    for case in rf_cases():
        net = nn.Sequential(*[nn.Conv2d(1, 1, k, s, p) for k, s, p in case.args[0]])
        r = sc.receptive_fields(net)[-1]
        assert np.allclose([r.size, r.jump, r.start], case.expected)

    def rf_wrong(layers):  # updates jump before start: a typical mistake
        size, jump, start = 1, 1, 0.0
        for k, s, p in layers:
            size += (k - 1) * jump
            jump *= s
            start += ((k - 1) / 2 - p) * jump
        return size, jump, start
    r = sc.check("01.receptive_field", rf_wrong)
    assert not r and "VGG blocks 1-2" in repr(r)
    assert sc.check("01.fc_to_conv", lambda w, c, k: w.reshape(w.shape[0], c, k, k))
    r = sc.check("01.fc_to_conv", lambda w, c, k: w.reshape(w.shape[0], k, k, c).permute(0, 3, 1, 2))
    assert not r and "differ" in repr(r)
    for case in fc_to_conv_cases():  # the reshaped weight gives the Linear's outputs as a conv
        w, c, k = case.args
        x = torch.randn(1, c, k, k)
        assert torch.allclose(F.conv2d(x, case.expected).flatten(), x.flatten(1) @ w.T, atol=1e-5)


def test_lesson03_exercises():
    assert sc.check("03.transposed_size", lambda n, k, s, p, op: sc.transposed_output_size(n, k, s, p, op))
    for case in transposed_size_cases():
        n, k, s, p, op = case.args
        ref = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                                 output_padding=op).shape[-1]
        assert ref == case.expected
    r = sc.check("03.transposed_size", lambda n, k, s, p, op: (n - 1) * s + k)  # forgot padding
    assert not r and "too large" in repr(r)
    assert sc.check("03.bilinear_kernel", sc.bilinear_kernel)
    r = sc.check("03.bilinear_kernel", lambda s: sc.bilinear_kernel(s) / sc.bilinear_kernel(s).sum())
    assert not r


# ------------------------------------------------------------------ widgets

def test_receptive_field_explorer_updates_artists_in_place():
    img = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    w = sc.receptive_field_explorer(img, layer="pool3")
    ax_img, ax_erf = w.figure.axes
    erf_artist, box = ax_erf.images[0], ax_img.patches[0]
    dd, sl_r, sl_c = w.controls
    assert w.state["size"] == 44 and w.state["unit"] == (14, 14) and "jump (stride) = 8 px" in w.readout.value
    before = np.asarray(erf_artist.get_array()).copy()
    sl_c.value = 3
    assert ax_erf.images[0] is erf_artist and ax_img.patches[0] is box
    assert w.state["unit"] == (14, 3) and w.state["centre"] == (3.5 + 14 * 8, 3.5 + 3 * 8)
    assert not np.allclose(before, np.asarray(erf_artist.get_array()))
    assert box.get_x() == pytest.approx(3.5 + 3 * 8 - 21.5 - 0.5)
    dd.value = "pool5"
    assert sl_r.max == 6 and w.state["unit"] == (3, 3) and w.state["size"] == 212
    assert "theoretical RF size = 212 px" in w.readout.value and box.get_width() == 212
    assert w.state["outside_mass"] == 0.0
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"] == "<receptive_field_explorer: layer='pool5', row=3, col=3>"


def test_receptive_field_explorer_validates():
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="layer"):
        sc.receptive_field_explorer(img, layer="fc9")
    with pytest.raises(ValueError, match="unit"):
        sc.receptive_field_explorer(img, layer="pool5", unit=(7, 0))


def test_interpolation_explorer_updates_artists_in_place():
    w = sc.interpolation_explorer(method="bilinear", factor=2, pixel=(0, 3))
    ax_in, ax_out = w.figure.axes
    weight_artist, out_artist, box = ax_in.images[1], ax_out.images[0], ax_out.patches[0]
    dd, sl_f, sl_y, sl_x = w.controls
    assert w.state["contributors"] == [(0, 1, 0.75), (0, 2, 0.25)] and w.state["total"] == pytest.approx(1)
    assert "(0,1): 0.7500" in w.readout.value
    dd.value = "transposed_bilinear"
    assert ax_in.images[1] is weight_artist and ax_out.images[0] is out_artist
    assert w.state["contributors"] == [(0, 1, 0.5625), (0, 2, 0.1875)] and "sum of weights = 0.7500" in w.readout.value
    assert [t.get_text() for t in ax_in.texts if t.get_text()] == ["0.5625", "0.1875"]
    sl_f.value = 3
    assert sl_y.max == 17 and np.asarray(out_artist.get_array()).shape == (18, 18)
    sl_y.value, sl_x.value = 10, 11
    assert box.get_xy() == (10.5, 9.5)
    W = sc.interpolation_weights("transposed_bilinear", 3, (6, 6))[10, 11].numpy()
    expected = [(int(i), int(j), float(W[i, j])) for i, j in zip(*np.nonzero(W))]
    assert len(expected) == 2 and np.allclose(np.array(w.state["contributors"]), np.array(expected))
    dd.value = "nearest"
    assert w.state["contributors"] == [(3, 3, 1.0)]
    assert np.allclose(np.asarray(out_artist.get_array()), np.kron(w.source, np.ones((3, 3))))
    assert not w.errors.outputs
    # usable sliders: explicit widths, not the few dozen pixels a flex row shrinks them to
    assert all(int(c.layout.min_width.rstrip("px")) >= 200 for c in (sl_f, sl_y, sl_x))


def test_interpolation_explorer_validates():
    with pytest.raises(ValueError, match="method"):
        sc.interpolation_explorer(method="bicubic")
    with pytest.raises(ValueError, match="pixel"):
        sc.interpolation_explorer(factor=2, pixel=(12, 0))
    with pytest.raises(ValueError, match="image"):
        sc.interpolation_explorer(np.zeros((8, 8, 4)))


@pytest.mark.parametrize("layer,unit", [("conv1_1", (0, 0)), ("relu2_2", (31, 0)), ("pool3", (3, 7)),
                                        ("pool5", (0, 1))])
def test_cone_gradient_equals_autograd(layer, unit):
    from segcourse.ops.receptive_field import ConeGradient
    net = sc.slim_vgg16_features(16, generator=torch.Generator().manual_seed(0))
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    fast = ConeGradient(net, img)(layer, unit)
    assert torch.get_num_threads() == threads  # global setting restored
    ref = sc.effective_receptive_field(net, img, layer, unit)
    assert torch.allclose(fast, ref, atol=1e-6, rtol=1e-4)
    with pytest.raises(ValueError, match="features"):
        ConeGradient(nn.Sequential(nn.Conv2d(3, 3, 3, stride=2)), img)


def test_receptive_fields_of_non_square_kernels_per_axis():
    net = nn.Sequential(nn.Conv2d(1, 1, (7, 1), padding=(3, 0)), nn.Conv2d(1, 1, (1, 5), stride=(1, 2)))
    h, w = sc.receptive_fields(net, 20, axis=0), sc.receptive_fields(net, 30, axis=1)
    assert (h[-1].size, h[-1].jump, h[-1].out_size) == (7, 1, 20)
    assert (w[-1].size, w[-1].jump, w[-1].start, w[-1].out_size) == (5, 2, 2.0, 13)
    assert net(torch.zeros(1, 1, 20, 30)).shape[-2:] == (20, 13)
    with pytest.raises(ValueError, match="axis"):
        sc.receptive_fields(net, axis=2)


# -- the explorers' pure computations -----------------------------------------------------------------

def test_receptive_field_frame_matches_the_records_and_the_gradient():
    from segcourse.ops.receptive_field import ConeGradient, receptive_field_frame, unit_centres
    net = sc.slim_vgg16_features(16, generator=torch.Generator().manual_seed(0))
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    records = {r.name: r for r in sc.receptive_fields(net, input_size=64)}
    frame = receptive_field_frame(records, ConeGradient(net, img), "pool2", 5, 9)
    rec = records["pool2"]
    assert frame["size"] == rec.size == 16 and frame["jump"] == 4 and frame["unit"] == (5, 9)
    assert frame["centre"] == (rec.start + 5 * 4, rec.start + 9 * 4)
    erf = sc.effective_receptive_field(net, img, "pool2", (5, 9)).numpy()
    assert np.allclose(frame["erf"], erf / erf.max(), atol=1e-6) and frame["outside_mass"] == 0.0
    gx, gy = unit_centres(rec)
    assert len(gx) == rec.out_size ** 2 and gx[1] - gx[0] == rec.jump
    with pytest.raises(ValueError, match="row"):
        receptive_field_frame(records, ConeGradient(net, img), "pool2", rec.out_size, 0)


def test_interpolation_frame_is_the_weights_of_one_output_pixel():
    from segcourse.ops.upsampling import interpolation_frame
    src = np.random.default_rng(0).random((4, 4))
    frame = interpolation_frame(src, "bilinear", 2, 3, 5)
    W = sc.interpolation_weights("bilinear", 2, (4, 4)).numpy()
    assert np.allclose(frame["weights"], W[3, 5]) and frame["total"] == pytest.approx(W[3, 5].sum())
    assert np.allclose(frame["output"], np.einsum("yxij,ij->yx", W, src))
    assert frame["value"] == pytest.approx(frame["output"][3, 5])
    with pytest.raises(ValueError, match="square"):
        interpolation_frame(np.zeros((3, 4)), "bilinear", 2, 0, 0)
    with pytest.raises(ValueError, match="y"):
        interpolation_frame(src, "bilinear", 2, 8, 0)


def test_fc_as_conv_is_linear_on_a_window():
    lin = nn.Linear(3 * 2 * 2, 5)
    x = torch.randn(1, 3, 2, 2)
    w = sc.fc_as_conv(lin.weight, 3, 2)
    assert torch.allclose(F.conv2d(x, w, lin.bias).flatten(), lin(x.flatten(1)).flatten(), atol=1e-6)
    with pytest.raises(ValueError, match="weight"):
        sc.fc_as_conv(lin.weight, 4, 2)


def test_conv_macs_hand_counted():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.ReLU(),
                        nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), nn.Flatten(), nn.Linear(2 * 10 * 10, 7))
    # conv: 2 images x 4 x 5 x 5 outputs x 27; transposed: 2 x 4 x 5 x 5 inputs x 2 x 16; fc: 2 x 7 x 200
    assert sc.conv_macs(net, (2, 3, 5, 5)) == 2 * 4 * 25 * 27 + 2 * 4 * 25 * 32 + 2 * 7 * 200


def _caffe_fcn_vgg16():
    """VGG-16's geometry as FCN's Caffe nets have it: conv1_1 padded by 100, ceil-mode pools, a
    VALID 7x7 fc6, 1x1 fc7 and score_fr (slim widths: only the geometry matters)."""
    from collections import OrderedDict
    from torch import nn
    f = sc.slim_vgg16_features(16)
    f.conv1_1.padding = (100, 100)
    for m in f.modules():
        if isinstance(m, nn.MaxPool2d):
            m.ceil_mode = True
    head = [("fc6", nn.Conv2d(32, 8, 7)), ("fc7", nn.Conv2d(8, 8, 1)), ("score_fr", nn.Conv2d(8, 6, 1))]
    return nn.Sequential(OrderedDict(list(f.named_children()) + head))


def test_fcn_crop_offsets_reproduce_caffe_fcn8s():
    # voc-fcn8s/net.py (Caffe): score_pool4c offset 5, score_pool3c offset 9, final crop offset 31
    net = _caffe_fcn_vgg16()
    got = sc.fcn_crop_offsets(net, "score_fr", "pool4", "pool3")
    assert got == {"score_pool4": 5, "score_pool3": 9, "upscore8": 31}
    # independent of the input size; a centred crop is not (500 px: 34 at the output, not 31)
    for n in (1, 224, 500):
        g = sc.fcn_crop_offsets(net, "score_fr", "pool4", "pool3", input_size=n)
        assert (g["score_pool4"], g["score_pool3"], g["upscore8"]) == (5, 9, 31)
        assert g["sizes"]["upscore8"] - g["upscore8"] >= n
    assert sc.fcn_crop_offsets(net, "score_fr", "pool4", "pool3", input_size=500)["centred"] == \
        {"score_pool4": 5, "score_pool3": 9, "upscore8": 34}


def test_fcn_crop_offsets_course_fcn_needs_no_crop_and_matches_its_forward():
    net = sc.FCN("8s")
    g = sc.fcn_crop_offsets(net, "score_fr", "backbone.blocks.3.9", "backbone.blocks.2.9", up=(4, 2, 1),
                            final=(16, 8, 4), input_size=128)
    assert (g["score_pool4"], g["score_pool3"], g["upscore8"]) == (0, 0, 0)
    assert g["centred"] == {"score_pool4": 0, "score_pool3": 0, "upscore8": 0}
    # the fixed 8x bilinear upsampling has the grid of a (16, 8, 4) transposed convolution
    x = torch.randn(1, 1, 5, 5)
    up = sc.bilinear_upsampler(8, 1)
    ref = torch.nn.functional.interpolate(x, scale_factor=8, mode="bilinear", align_corners=False)
    assert up.kernel_size == (16, 16) and up.padding == (4, 4)
    assert torch.allclose(up(x)[..., 8:-8, 8:-8], ref[..., 8:-8, 8:-8], atol=1e-5)


def test_transposed_grid_and_crop_offset_by_hand():
    assert sc.transposed_grid(12.5, 32, 4, 2, 0) == (-11.5, 16.0)
    assert sc.crop_offset(-91.5, -11.5, 16) == 5
    with pytest.raises(ValueError, match="^start_from"):
        sc.crop_offset(0.0, 4.0, 8)
    with pytest.raises(ValueError, match="^jump"):
        sc.transposed_grid(0.0, 0, 4, 2)
    with pytest.raises(ValueError, match="^scores"):
        sc.fcn_crop_offsets(_caffe_fcn_vgg16(), "nope", "pool4", "pool3")


def test_radial_profile_brute_force_and_gaussian():
    rng = np.random.default_rng(0)
    e = rng.random((9, 11))
    prof = sc.radial_profile(e, 4, 5)
    for r in range(len(prof)):
        ring = [e[y, x] for y in range(9) for x in range(11) if round(np.hypot(y - 4, x - 5)) == r]
        assert (np.isnan(prof[r]) and not ring) or prof[r] == pytest.approx(np.mean(ring))
    yy, xx = np.indices((41, 41))
    g = np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 5.0 ** 2))
    p = sc.radial_profile(g, 20, 20, max_radius=15)
    assert len(p) == 16 and np.all(np.diff(p) < 0) and p[5] == pytest.approx(np.exp(-0.5), abs=0.05)
    with pytest.raises(ValueError, match="^erf"):
        sc.radial_profile(np.zeros(5), 0, 0)


def test_checkerboard_stack_against_torch_and_the_fix():
    outs = sc.checkerboard_stack(2, "transposed", kernel=4, stride=2, size=8, seed=3)
    g = torch.Generator().manual_seed(3)
    x = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    for o in outs:
        w = torch.rand(1, 1, 4, 4, generator=g, dtype=torch.float64)
        x = F.conv_transpose2d(x, w, stride=2, padding=1)
        assert torch.equal(o, x)
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 16), (32, 32)]
    # resize-then-convolve: a flat input stays flat away from the border, whatever the kernel
    for seed in range(5):
        for o in sc.checkerboard_stack(3, "resize_conv", size=8, seed=seed):
            assert sc.checkerboard_strength(o) < 1e-12
    # a bilinear (balanced) kernel gives no artifact; a random one of the same size does
    flat = sc.bilinear_upsampler(2, 1).double()(torch.ones(1, 1, 8, 8, dtype=torch.float64))
    assert sc.checkerboard_strength(flat) < 1e-12
    assert sc.checkerboard_strength(outs[0]) > 0.01
    # uneven overlap (k=3, s=2) is worse than even overlap (k=4, s=2) on average over draws
    s3 = np.mean([sc.checkerboard_strength(sc.checkerboard_stack(1, kernel=3, seed=i)[0]) for i in range(20)])
    s4 = np.mean([sc.checkerboard_strength(sc.checkerboard_stack(1, kernel=4, seed=i)[0]) for i in range(20)])
    assert s3 > s4 > 0
    with pytest.raises(ValueError, match="^method"):
        sc.checkerboard_stack(1, "deconv")
    with pytest.raises(ValueError, match="^x"):
        sc.checkerboard_strength(torch.zeros(8, 8))
