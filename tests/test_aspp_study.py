"""Lesson 07's additions: v2's ASPP as a segmenter, "train at output stride 16, infer at 8" with the
same weights, the study's val set with instance maps, half-precision checkpoints, the ASPP tap
widget (frame against a brute force, in-place updates) and the branch-field exercise."""
import numpy as np
import pytest
import torch

import segcourse as sc
from segcourse.models import SPPNet, SPPv2Net, build_scheme, with_output_stride
from segcourse.ops.atrous import aspp_tap_frame, tap_positions, valid_taps

pytestmark = pytest.mark.usefixtures("one_thread")


def test_spp_v2_is_the_backbone_and_asppv2_summed():
    net = build_scheme("spp_v2", seed=0).eval()
    x = torch.rand(2, 3, 64, 64)
    feats = net.backbone(x)[-1]
    by_hand = sum(b(feats) for b in net.aspp.branches)
    ref = torch.nn.functional.interpolate(by_hand, size=(64, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(net(x), ref, atol=1e-5)
    assert net.aspp.rates == (3, 6, 9, 12) and net(x).shape == (2, 6, 64, 64)


def test_with_output_stride_keeps_the_weights_and_scales_the_rates():
    m16 = build_scheme("spp", seed=0, output_stride=16, rates=(2, 3, 4)).eval()
    m8 = with_output_stride(m16, 8)
    assert isinstance(m8, SPPNet) and m8.backbone.output_stride == 8 and m8.aspp.rates == (4, 6, 8)
    for (k, a), (k2, b) in zip(m16.state_dict().items(), m8.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.rand(2, 3, 64, 64)
    assert m16.backbone(x)[-1].shape[-1] == 4 and m8.backbone(x)[-1].shape[-1] == 8
    # dilations double where the pool was dropped, and going back gives the same net
    convs16 = [m.dilation[0] for m in m16.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    convs8 = [m.dilation[0] for m in m8.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs16 == [1] * 8 and convs8 == [1, 1, 1, 1, 1, 1, 2, 2]
    assert torch.allclose(with_output_stride(m8, 16)(x), m16(x), atol=1e-6)
    with pytest.raises(ValueError, match="output_stride"):
        with_output_stride(build_scheme("spp", seed=0), 16)      # rate 3 at stride 8 has no rate at 16
    with pytest.raises(TypeError, match="model"):
        with_output_stride(SPPv2Net(), 8)


def test_rendered_instances_line_up_with_the_masks():
    images, masks, inst = sc.render_scenes(3, seed=7, instances=True)
    images2, masks2 = sc.render_scenes(3, seed=7)
    assert torch.equal(images, images2) and torch.equal(masks, masks2)
    assert inst.shape == masks.shape and inst.dtype == torch.int64
    assert torch.equal(inst > 0, masks > 0)
    with pytest.raises(TypeError, match="instances"):
        sc.render_scenes(1, instances="yes")


def test_half_precision_checkpoint_round_trip(tmp_path):
    net = build_scheme("spp", seed=0).eval()
    path = sc.save_checkpoint(net, tmp_path / "x.pt", {"a": 1}, half=True)
    blob = torch.load(path, weights_only=True)
    sd = blob["state_dict"]
    assert sd["aspp.project.0.weight"].dtype == torch.float16
    assert sd["backbone.stages.0.1.num_batches_tracked"].dtype == torch.int64
    back = build_scheme("spp", seed=1)
    back.load_state_dict(sd)
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(back.eval()(x), net(x), atol=5e-2)
    assert path.stat().st_size < 0.6 * sc.save_checkpoint(net, tmp_path / "y.pt").stat().st_size


def test_aspp_tap_frame_against_a_brute_force():
    for size, rates, pos in ((16, (3, 6, 9), (8, 8)), (8, (1, 2, 3), (0, 7)), (65, (12, 24, 36), (10, 50))):
        f = aspp_tap_frame(size, rates, pos)
        assert f["rates"] == rates and f["taps"].shape == (3, 9, 2)
        for b, r in enumerate(rates):
            inside = [0 <= pos[0] + dy * r < size and 0 <= pos[1] + dx * r < size
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            assert f["inside"][b].tolist() == inside
            assert int(f["valid_here"][b]) == sum(inside) == int(valid_taps(size, r)[pos])
            assert abs(float(f["mean_fraction"][b]) - valid_taps(size, r).double().mean().item() / 9) < 1e-12
            assert torch.equal(f["taps"][b], tap_positions(size, pos, r)[0])
        assert f["curve"]["rates"].tolist() == list(range(1, 2 * size + 1))
    with pytest.raises(ValueError, match="rates"):
        aspp_tap_frame(16, (), (0, 0))
    with pytest.raises(ValueError, match="position"):
        aspp_tap_frame(16, (3,), (16, 0))


def test_aspp_explorer_updates_artists_in_place():
    w = sc.aspp_explorer(size=16, rate=3)
    ax, bx = w.figure.axes
    rate, size, row, col = w.controls
    assert type(rate).__name__ == "IntSlider"                   # the browser test moves the first slider
    rect, dots, curve = ax.patches[0], list(ax.collections), bx.lines[0]
    assert w.state["rates"] == (3, 6, 9) and "rate 9: 1/9" in w.readout.value
    before = dots[2].get_facecolors().copy()
    rate.value = 2
    assert ax.patches[0] is rect and list(ax.collections) == dots and bx.lines[0] is curve
    assert w.state["rates"] == (2, 4, 6) and "rate 6: 9/9" in w.readout.value
    assert not np.array_equal(before, dots[2].get_facecolors())
    assert np.array_equal(dots[0].get_offsets(), w.state["taps"][0].numpy()[:, ::-1])
    size.value = 65
    assert rect.get_width() == 65 and len(curve.get_xdata()) == 72 and len(ax.patches) == 1
    row.value, col.value = 0, 64
    assert w.state["position"] == (0, 64) and "unit (0, 64)" in w.readout.value
    size.value = 8                                              # the unit is clamped onto the smaller map
    assert w.state["position"] == (0, 7)
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"] == "<aspp_explorer: rate r=2, map=8, unit row=0, unit col=64>"
    with pytest.raises(ValueError, match="size"):
        sc.aspp_explorer(size=12)
    with pytest.raises(ValueError, match="unit"):
        sc.aspp_explorer(size=8, unit=(8, 0))


def test_branch_field_exercise():
    from segcourse.exercises import lesson07
    ex = lesson07.EXERCISES["07.branch_field"]
    assert ex.checker(ex.solution())[0]
    ok, lines = ex.checker(lambda f, j, r: f + 2 * r)
    assert not ok and "`jump` input pixels apart" in "\n".join(lines)
    ok, lines = ex.checker(lambda f, j, r: 2 * r * j)
    assert not ok and "does not replace it" in "\n".join(lines)
    for case in lesson07.branch_field_cases():
        ok, lines = ex.checker(lambda f, j, r: 0)
        assert all(str(case.expected) not in line.split(": got")[-1] for line in lines if line.startswith("case"))
