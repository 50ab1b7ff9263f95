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


def _crop_at(a, b, top, left):
    return a[..., top:top + b.shape[-2], left:left + b.shape[-1]]


@pytest.mark.parametrize("answer,names", [
    (lambda a, b: a[..., :b.shape[-2], :b.shape[-1]] + b, "top-left corner"),
    (lambda a, b: a[..., a.shape[-2] - b.shape[-2]:, a.shape[-1] - b.shape[-1]:] + b, "bottom-right corner"),
    (lambda a, b: _crop_at(a, b, (a.shape[-2] - b.shape[-2] + 1) // 2, (a.shape[-1] - b.shape[-1] + 1) // 2) + b,
     "rounded down")])
def test_fuse_feedback_names_the_crop_mistake(answer, names, capsys):
    """04.fuse's wrong-answer feedback says which crop the answer took, never the expected values."""
    from segcourse.exercises.checking import numbers_match
    from segcourse.exercises.lesson04 import EXERCISES, fuse_cases
    ok, lines = EXERCISES["04.fuse"].checker(answer)
    text = "\n".join(lines)
    assert not ok and names in text
    for case in fuse_cases():
        assert str(case.expected.ravel()[0])[:6] not in text


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
    """Lesson 04's error maps that keep the class: from FCN-32s to FCN-8s missed and false-positive
    pixels fall (several-fold end to end) and correct-class pixels rise; wrong-class pixels change
    far less (within a factor 1.5 across the three nets), and a binarised map hides them."""
    images, masks = val
    counts = {}
    for v in ("32s", "16s", "8s"):
        pred = sc.predict(sc.load_checkpoint(f"fcn{v}"), images)
        counts[v] = sc.error_kind_counts(pred, masks)
        if v == "8s":
            scene1 = sc.error_kind_counts(pred[1], masks[1])
            binarised = int(((pred[1] > 0) & (masks[1] > 0)).sum())
    for kind, sign in (("missed", -1), ("false positive", -1), ("correct class", 1)):
        vals = [counts[v][kind] for v in ("32s", "16s", "8s")]
        assert sign * (vals[1] - vals[0]) > 0 and sign * (vals[2] - vals[1]) > 0, (kind, vals)
    for kind in ("missed", "false positive"):
        assert counts["32s"][kind] > 2.5 * counts["8s"][kind], kind
    wrong = [counts[v]["wrong class"] for v in ("32s", "16s", "8s")]
    assert max(wrong) < 1.5 * min(wrong), wrong
    assert binarised == scene1["correct class"] + scene1["wrong class"] and scene1["wrong class"] > 0


# -- FCN from a pre-trained classifier (lesson 04) ---------------------------------------------------

def _padded_clf(num_classes=4, widths=(2, 2, 4, 4, 4), fc_width=6):
    sc.seed_everything(3)
    clf = sc.VGGClassifier(num_classes=num_classes, widths=widths, fc_width=fc_width, fc6_kernel=3, padding=1,
                           fc_batchnorm=True)
    for m in clf.modules():   # non-trivial BatchNorm statistics, so eval mode is not the identity
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return clf.eval()


def test_padded_classifier_dense_and_convolutionalized_equal_the_crop_scores():
    clf = _padded_clf()
    assert clf.crop_size == 96
    x = torch.rand(3, 3, 96, 96, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = clf(x)
        assert torch.allclose(clf.forward_dense(x)[:, :, 0, 0], ref, atol=1e-5)
        assert torch.allclose(clf.convolutionalize()(x)[:, :, 0, 0], ref, atol=1e-5)


@pytest.mark.parametrize("variant", sc.FCN_VARIANTS)
def test_fcn_from_classifier_centre_cell_is_the_classifier(variant):
    """The convolutionalized classifier inside the FCN: on one 96-px crop (a 3x3 pool5 map) the centre
    cell of the stride-32 scores sees exactly the crop, so it equals the classifier's scores; the
    skips start at zero, so a fresh 16s/8s carries the same stride-32 scores."""
    clf = _padded_clf()
    fcn = sc.init_from_classifier(sc.FCN(variant, num_classes=4, widths=(2, 2, 4, 4, 4), fc_width=6), clf).eval()
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        maps = fcn.score_maps(x)
        assert torch.allclose(maps["stride32"][:, :, 1, 1], clf(x), atol=1e-5)
        if variant != "32s":
            up = fcn.up_fr(maps["stride32"])
            assert torch.allclose(maps["stride16"], up, atol=1e-6)
    # the backbone's weights are copies, not shared
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(fcn.backbone.parameters(), clf.features.parameters()))


def test_fcn_from_classifier_rejects_other_layers():
    fcn = sc.FCN("8s", num_classes=4, widths=(2, 2, 4, 4, 4), fc_width=6)
    with pytest.raises(ValueError, match=r"classifier: .*padding 0 \(FCN: 1\)"):
        sc.init_from_classifier(fcn, sc.VGGClassifier(num_classes=4, widths=(2, 2, 4, 4, 4), fc_width=6, fc6_kernel=3,
                                                      fc_batchnorm=True))
    with pytest.raises(ValueError, match=r"classes 3 \(FCN: 4\)"):
        sc.init_from_classifier(fcn, _padded_clf(num_classes=3))
    with pytest.raises(ValueError, match=r"fc width 5 \(FCN: 6\)"):
        sc.init_from_classifier(fcn, _padded_clf(fc_width=5))
    with pytest.raises(TypeError, match="classifier: expected a VGGClassifier"):
        sc.init_from_classifier(fcn, fcn)
    with pytest.raises(ValueError, match="classifier: expected an unpadded VGGClassifier"):
        sc.heat_maps(_padded_clf(), torch.rand(1, 3, 128, 128))


def test_classification_crops_brute_force():
    g = torch.Generator().manual_seed(6)
    images = torch.rand(3, 3, 64, 64, generator=g)
    masks = torch.zeros(3, 64, 64, dtype=torch.int64)
    masks[0, 10:30, 20:50] = 2
    masks[1, 40:60, 5:25] = 1
    masks[1, 45:50, 10:12] = 3
    crops, labels = sc.classification_crops(images, masks, 4, size=32, per_image=5, block=8, foreground=0.6, seed=2)
    assert crops.shape == (15, 3, 32, 32) and labels.shape == (15,) and labels.dtype == torch.int64
    xp = F.pad(images, (16, 16, 16, 16), mode="reflect")
    mp = F.pad(masks[:, None].float(), (16, 16, 16, 16), mode="reflect")[:, 0].long()
    for k in range(15):
        i = k // 5
        # find where the crop came from in the mirror-padded image (brute force over every centre)
        hits = [(y, x) for y in range(64) for x in range(64) if torch.equal(xp[i, :, y:y + 32, x:x + 32], crops[k])]
        assert len(hits) == 1
        y, x = hits[0]
        counts = np.bincount(mp[i, y + 12:y + 20, x + 12:x + 20].numpy().ravel(), minlength=4)
        assert labels[k] == int(np.argmax(counts))        # majority of the central 8x8, ties -> lower id
    # foreground=1: every crop of an image with objects is centred on an object pixel
    _, lab = sc.classification_crops(images[:1], masks[:1], 4, size=32, per_image=6, block=2, foreground=1.0)
    assert (lab == 2).all()
    again = sc.classification_crops(images, masks, 4, size=32, per_image=5, block=8, foreground=0.6, seed=2)
    assert torch.equal(again[0], crops) and torch.equal(again[1], labels)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"size": 33}, ValueError, "size - block even"),
    ({"size": 130}, ValueError, "size: expected less than twice"),
    ({"foreground": 1.5}, ValueError, "foreground"),
    ({"num_classes": 2}, ValueError, r"class ids in \[0, 2\)"),
])
def test_classification_crops_validates(kwargs, exc, match):
    masks = torch.zeros(2, 64, 64, dtype=torch.int64)
    masks[:, :4, :4] = 3
    args = {"num_classes": 4, "size": 32, **kwargs}
    n = args.pop("num_classes")
    with pytest.raises(exc, match=match):
        sc.classification_crops(torch.rand(2, 3, 64, 64), masks, n, **args)


def test_fit_on_epoch_sees_each_epoch_and_changes_nothing():
    x = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    y = torch.randint(0, 3, (12, 32, 32), generator=torch.Generator().manual_seed(8))
    runs, seen = [], []
    for cb in (None, lambda e, m: seen.append((e, m.training))):
        sc.seed_everything(0)
        net = sc.TinyFCN(num_classes=3, width=4)
        sc.train_segmentation(net, x, y, epochs=3, batch_size=4, seed=1, progress=False, on_epoch=cb)
        runs.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert seen == [(1, False), (2, False), (3, False)]
    assert torch.equal(runs[0], runs[1])
    with pytest.raises(TypeError, match="on_epoch"):
        sc.train_segmentation(net, x, y, epochs=1, progress=False, on_epoch=3)


# -- lesson 04's study: from the classifier vs from scratch ----------------------------------------

def _fcn8s_pairs():
    runs = [r for r in sc.fcn_study_results()["runs"] if r["net"] == "fcn8s"]
    by_seed = {}
    for r in runs:
        by_seed.setdefault(r["seed"], {})[r["init"]] = r
    return {s: d for s, d in by_seed.items() if set(d) == {"classifier", "scratch"}}


def test_fcn_study_compares_like_with_like():
    """Same recipe per seed: only the starting weights differ; curves after every epoch on 480 scenes."""
    pairs = _fcn8s_pairs()
    assert 0 in pairs
    for d in pairs.values():
        a, b = d["classifier"], d["scratch"]
        for k in ("epochs", "train_scenes", "threads", "seed", "val_scenes"):
            assert a[k] == b[k], k
        assert a["epochs"] == sc.FCN_EPOCHS and a["val_scenes"] == 480
        for r in (a, b):
            assert [p["epoch"] for p in r["curve"]] == list(range(1, r["epochs"] + 1))
            assert r["curve"][-1]["miou"] == pytest.approx(r["miou"], abs=1e-9)


@pytest.mark.parametrize("variant", sc.FCN_VARIANTS)
def test_shipped_fcns_are_the_studys_classifier_runs(variant, val):
    """Each shipped FCN is the study's seed-0 run from the classifier: same recipe, same val mIoU."""
    net = sc.load_checkpoint(f"fcn{variant}")
    assert net.meta["init"] == "classifier" and net.meta["epochs"] == sc.FCN_EPOCHS
    rec = [r for r in sc.fcn_study_results()["runs"]
           if r["net"] == f"fcn{variant}" and r["init"] == "classifier" and r["seed"] == 0]
    assert len(rec) == 1
    images, masks = val
    miou = sc.mean_iou(sc.confusion_matrix(sc.predict(net, images), masks, num_classes=len(sc.CLASSES)))
    assert miou == pytest.approx(rec[0]["curve"][-1]["miou_val80"], abs=1e-4)


def test_fcn_classifier_names_crops_better_than_always_background():
    clf = sc.load_checkpoint("fcn_classifier")
    crops, labels = sc.fcn_classifier_crops("val")
    named = sc.predict_proba(clf, crops).argmax(1)
    acc = float((named == labels).double().mean())
    assert acc == pytest.approx(clf.meta["val_crop_label_accuracy"], abs=1e-9)
    assert acc > float((labels == 0).double().mean()) + 0.2
    assert sc.checkpoint_path("fcn_classifier").stat().st_size < 2 * 2**20


def test_convolutionalized_classifier_already_segments(val):
    """Lesson 04: before any fine-tuning, FCN-32s made from the classifier beats painting everything
    background (its centre cells on val crops equal the classifier to float precision)."""
    images, masks = val
    clf = sc.load_checkpoint("fcn_classifier")
    fcn = sc.init_from_classifier(sc.FCN("32s", num_classes=len(sc.CLASSES)), clf).eval()
    crops, _ = sc.fcn_classifier_crops("val")
    with torch.no_grad():
        assert (fcn.score_maps(crops[:32])["stride32"][:, :, 1, 1] - clf(crops[:32])).abs().max() < 1e-4
    C = len(sc.CLASSES)
    untuned = sc.mean_iou(sc.confusion_matrix(sc.predict(fcn, images), masks, num_classes=C))
    background = sc.mean_iou(sc.confusion_matrix(torch.zeros_like(masks), masks, num_classes=C))
    assert untuned > background + 0.1


def test_fcn_study_supports_the_lessons_claims():
    """Lesson 04 section 2: the two starts differ most early (the largest gap between the curves is
    in the first quarter of the epochs, and favours the classifier), in every seed."""
    for seed, d in _fcn8s_pairs().items():
        a, b = d["classifier"]["curve"], d["scratch"]["curve"]
        gaps = [x["miou"] - y["miou"] for x, y in zip(a, b)]
        k = int(np.argmax(np.abs(gaps)))
        assert k < len(gaps) // 4 and gaps[k] > 0, (seed, gaps)
