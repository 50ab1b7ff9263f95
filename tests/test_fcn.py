"""segcourse.models (fcn, heat_map, vgg): convolutionalization, heat maps, FCN-32s/16s/8s, shipped checkpoints (lessons 02, 04)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segcourse as sc



@pytest.fixture(scope="module")
def small_clf():
    sc.seed_everything(0)
    clf = sc.VGGClassifier(num_classes=3, widths=(2, 2, 4, 4, 4), fc_width=5)
    # non-trivial BatchNorm statistics so eval mode is not the identity
    for m in clf.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return clf.eval()


def test_crop_size_is_the_receptive_field():
    assert sc.VGGClassifier().crop_size == 244
    assert sc.VGGBackbone(padding=0).input_size(1) == 212  # VGG-16's receptive field
    assert sc.VGGBackbone(padding=1).input_size(7) == 224  # SAME: 7x7 pool5 from 224


def test_sliding_window_equals_dense(small_clf):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 96, 64, generator=g)
    dense = sc.heat_maps(small_clf, x)
    window = sc.sliding_window(small_clf, x)
    assert dense.shape == window.shape == (2, 3, 3, 2)
    assert torch.allclose(dense, window, atol=1e-5)


def test_sliding_window_brute_force_one_cell(small_clf):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 64, 64, generator=g)
    padded = sc.pad_for_heat_map(small_clf, x)
    s = small_clf.crop_size
    crop = padded[:, :, 32:32 + s, 0:s]  # cell (1, 0)
    with torch.no_grad():
        expected = small_clf(crop).softmax(1)[0]
    assert torch.allclose(sc.heat_maps(small_clf, x)[0, :, 1, 0], expected, atol=1e-5)


def test_convolutionalize_copy_matches(small_clf):
    x = sc.pad_for_heat_map(small_clf, torch.rand(1, 3, 64, 96))
    conv = small_clf.convolutionalize()
    with torch.no_grad():
        assert torch.allclose(conv(x), small_clf.forward_dense(x), atol=1e-5)
    assert isinstance(conv[-1], torch.nn.Conv2d) and conv[-5].kernel_size == (2, 2)


def test_padded_net_would_break_the_equality():
    """With SAME padding a crop sees zeros where the image has pixels: cells differ."""
    sc.seed_everything(0)
    bb = sc.VGGBackbone(widths=(2, 2, 2, 2, 2), padding=1).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        whole = bb(x)[-1][0, :, 0, 0]
        crop = bb(x[:, :, :32, :32])[-1][0, :, 0, 0]
    assert not torch.allclose(whole, crop, atol=1e-4)


def test_block_targets():
    m = torch.zeros(1, 64, 64, dtype=torch.int64)
    m[0, :16, :32] = 2
    m[0, 40:, 40:] = 255
    t = sc.block_targets(m, 3)
    assert t.shape == (1, 3, 2, 2)
    assert torch.allclose(t[0, :, 0, 0], torch.tensor([0.5, 0.0, 0.5]))
    assert torch.allclose(t.sum(1), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="masks"):
        sc.block_targets(torch.zeros(1, 30, 32, dtype=torch.int64), 3)


@pytest.mark.parametrize("variant,keys", [("32s", ["stride32"]), ("16s", ["stride32", "stride16"]),
                                          ("8s", ["stride32", "stride16", "stride8"])])
def test_fcn_shapes(variant, keys):
    net = sc.FCN(variant, num_classes=4, widths=(2, 2, 4, 4, 4), fc_width=8).eval()
    x = torch.rand(2, 3, 64, 96)
    maps = net.score_maps(x)
    assert list(maps) == keys
    for k, v in maps.items():
        s = int(k[6:])
        assert v.shape == (2, 4, 64 // s, 96 // s)
    assert net(x).shape == (2, 4, 64, 96)


def test_fresh_skip_layers_are_zero_and_upsampling_is_bilinear():
    sc.seed_everything(0)
    net = sc.FCN("8s", num_classes=3, widths=(2, 2, 4, 4, 4), fc_width=8).eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        maps = net.score_maps(x)
        up = F.interpolate(maps["stride32"], scale_factor=2, mode="bilinear", align_corners=False)
    # zero-init skips: stride16 is the 2x upsampled stride32 map; interior equals bilinear interpolation
    assert torch.allclose(maps["stride16"][..., 1:-1, 1:-1], up[..., 1:-1, 1:-1], atol=1e-5)
    k = net.up_fr.weight[0, 0].detach()  # lesson 03's sc.bilinear_upsampler(2, C): the slide's 4x4 kernel
    assert torch.allclose(k, torch.outer(torch.tensor([.25, .75, .75, .25]), torch.tensor([.25, .75, .75, .25])))


def test_center_crop_and_fuse():
    up = torch.arange(2 * 10 * 10, dtype=torch.float32).view(1, 2, 10, 10)
    skip = torch.ones(1, 2, 8, 8)
    out = sc.fuse_scores(up, skip)
    assert torch.equal(out, up[:, :, 1:9, 1:9] + 1)
    assert torch.equal(sc.center_crop(up, torch.zeros(7, 5)), up[:, :, 1:8, 2:7])
    with pytest.raises(ValueError, match="x: expected shape"):
        sc.center_crop(skip, up)
    with pytest.raises(ValueError, match="skip"):
        sc.fuse_scores(up, torch.ones(1, 3, 8, 8))


def test_boundary_band():
    m = torch.zeros(7, 7, dtype=torch.int64)
    m[3, 3] = 1
    b0, b1 = sc.boundary_band(m, 0), sc.boundary_band(m, 1)
    assert int(b0.sum()) == 5  # the pixel and its 4 neighbours
    assert int(b1.sum()) == 21  # the plus dilated by a 3x3 square
    assert sc.band_accuracy(m, m, 1) == 1.0
    assert sc.band_accuracy(torch.zeros_like(m), m, 0) == pytest.approx(4 / 5)


@pytest.mark.parametrize("call,match", [
    (lambda: sc.FCN("4s"), "variant"),
    (lambda: sc.FCN("8s", fc6_kernel=2), "fc6_kernel"),
    (lambda: sc.FCN("8s", widths=(2, 2, 2), num_classes=3), "widths"),
    (lambda: sc.FCN("8s", widths=(2, 2, 2, 2, 2), fc_width=4)(torch.rand(1, 3, 48, 64)), r"images: expected shape \(N, 3, H, W\)"),
    (lambda: sc.FCN("8s", widths=(2, 2, 2, 2, 2), fc_width=4)(torch.rand(1, 1, 64, 64)), r"images: expected shape \(N, 3, H, W\)"),
    (lambda: sc.VGGClassifier()(torch.rand(1, 3, 128, 128)), r"crops: expected shape \(N, 3, 244, 244\)"),
    (lambda: sc.VGGClassifier().forward_dense(torch.rand(1, 3, 128, 128)), "images: expected shape"),
    (lambda: sc.heat_maps(sc.VGGClassifier(), torch.rand(1, 3, 100, 128)), "multiples of 32"),
    (lambda: sc.boundary_band(torch.zeros(4, 4, dtype=torch.int64), -1), "width"),
    (lambda: sc.band_accuracy(torch.zeros(4, 4, dtype=torch.int64), torch.zeros(4, 5, dtype=torch.int64), 1), "pred"),
])
def test_bad_inputs_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: sc.heat_maps(torch.nn.Conv2d(3, 3, 1), torch.rand(1, 3, 32, 32)), "classifier"),
    (lambda: sc.FCN("8s", widths=(2, 2, 2, 2, 2), fc_width=4)(np.zeros((1, 3, 64, 64), np.int64)), "images"),
    (lambda: sc.boundary_band(torch.zeros(4, 4), 1), "mask"),
    (lambda: sc.block_targets(torch.zeros(1, 32, 32, dtype=torch.int64), 3, block=2.5), "block"),
])
def test_bad_inputs_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_slide_grid_is_parsed_and_centred():
    rows = sc.slide_heat_map_rows()
    lengths = [len(r) for r in rows]
    assert len(rows) == 32 and min(lengths) == 27 and max(lengths) == 34
    grid = sc.slide_heat_map(32)
    assert grid.shape == (32, 32) and grid.max() == pytest.approx(0.94)
    assert list(grid[0, :3]) == [0.0, 0.0, 0.0]  # short first row padded on both ends
    assert list(grid[14][:2]) == rows[14][1:3]   # 34 values: one dropped on the left


@pytest.mark.parametrize("key,answer", [("02.crop_size", 244),
                                        ("02.heat_map_side", lambda n, c, s: (n - c) // s + 1),
                                        ("04.fuse", sc.fuse_scores),
                                        ("04.boundary_pixels", lambda m: sc.boundary_band(torch.as_tensor(m), 0))])
def test_exercises_accept_references(key, answer):
    assert sc.check(key, answer)


@pytest.mark.parametrize("key,answer", [("02.crop_size", 212),
                                        ("02.heat_map_side", lambda n, c, s: n // s),
                                        ("04.fuse", lambda a, b: a[..., :b.shape[-2], :b.shape[-1]] + b),
                                        ("04.boundary_pixels", lambda m: torch.as_tensor(m) > 0)])
def test_exercises_reject_mistakes(key, answer):
    assert not sc.check(key, answer)


# -- the shipped checkpoints ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def val():
    return sc.load_scenes("val")


def test_heatmap_checkpoint_agrees_with_sliding_window(val):
    net = sc.load_checkpoint("vgg_heatmap")
    x = val[0][:2]
    assert torch.allclose(sc.heat_maps(net, x), sc.sliding_window(net, x), atol=1e-5)
    assert sc.checkpoint_path("vgg_heatmap").stat().st_size < 2 * 2**20


def test_heatmap_classifier_finds_and_names_shapes(val):
    """Lesson 02: the shipped classifier beats the all-background baseline, and on crops dominated
    by a shape it names the right one well above guessing among the five shapes."""
    images, masks = val
    heat = sc.heat_maps(sc.load_checkpoint("vgg_heatmap"), images)
    share = sc.block_targets(masks, len(sc.CLASSES))
    right = heat.argmax(1) == share.argmax(1)
    is_object = share.argmax(1) != 0
    assert float(right.double().mean()) > float((~is_object).double().mean()) + 0.03
    assert float(right[is_object].double().mean()) > 2 / (len(sc.CLASSES) - 1)


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_fcn_checkpoints_meet_their_reported_miou(name, val):
    images, masks = val
    net = sc.load_checkpoint(name)
    assert sc.checkpoint_path(name).stat().st_size < 2 * 2**20
    miou = sc.mean_iou(sc.confusion_matrix(sc.predict(net, images), masks, num_classes=len(sc.CLASSES)))
    assert miou == pytest.approx(net.meta["val_miou"], abs=1e-4)
    if name == "fcn8s":
        assert miou >= sc.CHECKPOINTS["fcn8s"].promise


def test_finer_nets_draw_better_boundaries(val):
    """Lesson 04's summary: the finer nets gain near boundaries (boundary F-score 8s > 16s > 32s)."""
    images, masks = val
    bf = [sc.boundary_fscore(sc.predict(sc.load_checkpoint(f"fcn{v}"), images), masks, tolerance=2)
          for v in ("32s", "16s", "8s")]
    assert bf[0] < bf[1] < bf[2]


# -- stride ceilings (lesson 04) --------------------------------------------------------------------

def test_stride_oracle_exact_cases():
    m = torch.randint(0, 4, (2, 16, 16), generator=torch.Generator().manual_seed(0))
    assert torch.equal(sc.stride_oracle(m, 1, 4), m)                    # stride 1: nothing is lost
    const = torch.full((1, 32, 32), 3, dtype=torch.int64)
    assert torch.equal(sc.stride_oracle(const, 8, 5), const)            # one class: drawn exactly
    half = torch.zeros(1, 32, 32, dtype=torch.int64)
    half[:, :, 16:] = 2                                                  # an edge on the grid lines
    assert torch.equal(sc.stride_oracle(half, 8, 3), half)


def test_stride_ceiling_falls_with_the_stride_and_fitting_raises_it(val):
    _, masks = val
    masks = masks[:24]

    def miou(p):
        return sc.mean_iou(sc.confusion_matrix(p, masks, num_classes=len(sc.CLASSES)))

    shares = [miou(sc.stride_oracle(masks, s, len(sc.CLASSES))) for s in (32, 16, 8)]
    assert shares[0] < shares[1] < shares[2] < 1
    fitted = miou(sc.stride_oracle(masks, 16, len(sc.CLASSES), steps=30))
    assert fitted > shares[1]


@pytest.mark.parametrize("call,exc,match", [
    (lambda: sc.stride_oracle(torch.zeros(1, 30, 32, dtype=torch.int64), 8, 3), ValueError, "multiples of 8"),
    (lambda: sc.stride_oracle(torch.full((1, 8, 8), 3, dtype=torch.int64), 8, 3), ValueError, r"class ids in \[0, 3\)"),
    (lambda: sc.stride_oracle(torch.zeros(8, 8, dtype=torch.int64), 8, 3), ValueError, "masks"),
    (lambda: sc.stride_oracle(torch.zeros(1, 8, 8), 8, 3), TypeError, "masks"),
    (lambda: sc.stride_oracle(torch.zeros(1, 8, 8, dtype=torch.int64), 8, 3, steps=-1), ValueError, "steps"),
])
def test_stride_oracle_validates(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.fixture(scope="module")
def fitted_ceilings(val):
    """Lesson 04's fitted stride ceilings on val: {"32s": mIoU, "16s": ..., "8s": ...}."""
    _, masks = val
    C = len(sc.CLASSES)
    return {v: sc.mean_iou(sc.confusion_matrix(sc.stride_oracle(masks, int(v[:-1]), C, steps=30), masks,
                                               num_classes=C)) for v in ("32s", "16s", "8s")}


def test_trained_nets_stay_below_their_fitted_stride_ceiling(fitted_ceilings):
    """Lesson 04: the fitted stride score maps are (close to) a ceiling no trained FCN-s exceeds."""
    for v, ceiling in fitted_ceilings.items():
        assert sc.load_checkpoint(f"fcn{v}").meta["val_miou"] < ceiling


def test_lesson04_claims_about_where_the_skips_help(val, fitted_ceilings):
    """Lesson 04: the 8s-32s accuracy gap is larger within a few pixels of the boundaries than far
    out, and the finer nets use a smaller share of their (larger) stride ceilings."""
    images, masks = val
    preds = {v: sc.predict(sc.load_checkpoint(f"fcn{v}"), images) for v in ("32s", "8s")}
    gap = {w: sc.band_accuracy(preds["8s"], masks, w) - sc.band_accuracy(preds["32s"], masks, w) for w in (2, 16)}
    assert gap[2] > gap[16] > 0
    share = {v: sc.load_checkpoint(f"fcn{v}").meta["val_miou"] / fitted_ceilings[v] for v in ("32s", "8s")}
    assert share["8s"] < share["32s"]


def test_lesson04_claims_about_error_kinds(val):
    """Lesson 04's corrected error maps: from FCN-32s to FCN-8s missed and false-positive pixels fall
    while wrong-class pixels rise; on val scene 1 most of FCN-8s's "correct foreground" of a
    binarised map has the wrong class."""
    images, masks = val
    counts = {}
    for v in ("32s", "16s", "8s"):
        pred = sc.predict(sc.load_checkpoint(f"fcn{v}"), images)
        counts[v] = sc.error_kind_counts(pred, masks)
        if v == "8s":
            scene1 = sc.error_kind_counts(pred[1], masks[1])
    for kind, sign in (("missed", -1), ("false positive", -1), ("wrong class", 1), ("correct class", 1)):
        vals = [counts[v][kind] for v in ("32s", "16s", "8s")]
        assert sign * (vals[1] - vals[0]) > 0 and sign * (vals[2] - vals[1]) > 0, (kind, vals)
    assert scene1["wrong class"] > scene1["correct class"]
