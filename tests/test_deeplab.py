"""Lessons 06-08 models: VGG-16 made atrous (exactly the stride-32 net, densely), DeepLab-LargeFOV's
geometry, output-stride costs, ASPP v2/v3 against torchvision, v3's Figure 2 schemes, GCN and
Boundary Refinement, IoU by object size."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segcourse.models import (ASPP, SCHEMES, ASPPv2, BoundaryRefinement, DeepLabV3Head, GCN,
                                            aspp_branch_fields, atrous_vgg16, build_scheme, deeplab_largefov,
                                            feature_costs, gcn_costs, gcn_kernel, kernel_rank,
                                            receptive_field_table)
from segcourse.data import load_scene_instances
from segcourse.metrics import instance_size_iou


pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _max_diff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


# ------------------------------------------------------------------ lesson 06: VGG-16 made atrous

def test_atrous_vgg_is_the_stride_32_net_computed_densely():
    """Algorithme à trous: remove a pool's stride, dilate it and everything after by 2, and the net
    computes exactly the same values at every position instead of every second one."""
    x = torch.randn(1, 3, 96, 128, generator=_gen(1), dtype=torch.float64)
    nets = {os: atrous_vgg16(os, "exact", 16, generator=_gen()).double() for os in (32, 16, 8)}
    with torch.no_grad():
        y = {os: net(x) for os, net in nets.items()}
    assert y[32].shape == (1, 64, 3, 4)
    for os, step in ((16, 2), (8, 4)):
        dense = y[os][..., ::step, ::step][..., :3, :4]
        assert _max_diff(dense, y[32]) < 1e-12
    # same weights, same shapes: only the geometry changed
    shapes = {os: [tuple(p.shape) for p in net.parameters()] for os, net in nets.items()}
    assert shapes[32] == shapes[16] == shapes[8]


def test_the_slides_pool4_is_the_identity():
    net = atrous_vgg16(8, "identity", 16, upto="conv5_3")
    pool4 = dict(net.named_children())["pool4"]
    assert (pool4.kernel_size, pool4.stride) == (1, 1)
    x = torch.randn(2, 32, 9, 7)
    assert torch.equal(pool4(x), x)
    conv5 = [dict(net.named_children())[f"conv5_{i}"] for i in (1, 2, 3)]
    assert all(c.dilation == (2, 2) and c.padding == (2, 2) for c in conv5)
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 32, 8, 8)     # conv5_3 at stride 8, not 16


def _support(net, n):
    """First and last input row that reaches the centre unit of the last layer (linear probe:
    one channel, weights 1, average pools)."""
    layers = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            c = nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation, bias=False)
            nn.init.constant_(c.weight, 1.0)
            layers.append(c)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            layers.append(nn.AvgPool2d(m.kernel_size, m.stride, m.padding))
    probe = nn.Sequential(*layers).double()
    x = torch.ones(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = probe(x)
    c = y.shape[-1] // 2
    (g,) = torch.autograd.grad(y[0, 0, c, c], x)
    rows = torch.nonzero(g[0, 0].abs().sum(1)).flatten()
    return int(rows[-1] - rows[0] + 1)


def test_receptive_fields_before_and_after_the_slides_change():
    """VGG-16's conv5_3 sees 196 pixels; the slide's version (pool4 the identity, conv5 at rate 2)
    188 (pool4's 2 x 2 window is gone, the rate makes up for its stride); without the rate the
    field would shrink to 140. geometry.receptive_fields gets dilation right (checked here against
    the gradient support of a linear probe)."""
    variants = {"vgg16": atrous_vgg16(32, width_divisor=16, upto="conv5_3"),
                "slide": atrous_vgg16(8, "identity", 16, upto="conv5_3"),
                "no_rate": atrous_vgg16(8, "identity", 16, compensate=False, upto="conv5_3")}
    table = receptive_field_table(variants, 224)
    assert [table[f"conv5_{i}"]["vgg16"][0] for i in (1, 2, 3)] == [132, 164, 196]
    assert [table[f"conv5_{i}"]["slide"][0] for i in (1, 2, 3)] == [124, 156, 188]
    assert [table[f"conv5_{i}"]["no_rate"][0] for i in (1, 2, 3)] == [108, 124, 140]
    assert table["conv4_3"]["vgg16"] == table["conv4_3"]["slide"] == (92, 8, 28)
    assert table["conv5_3"]["slide"][2] == 28 and table["conv5_3"]["vgg16"][2] == 14
    for name, net in variants.items():
        assert _support(net, 320) == table["conv5_3"][name][0]


def test_deeplab_largefov_matches_its_prototxt():
    net = deeplab_largefov(21, width_divisor=1)
    layers = dict(net.named_children())
    assert [(layers[f"pool{b}"].kernel_size, layers[f"pool{b}"].stride, layers[f"pool{b}"].padding)
            for b in range(1, 6)] == [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2
    assert isinstance(layers["pool5a"], nn.AvgPool2d)
    assert layers["fc6"].dilation == (12, 12) and layers["fc6"].out_channels == 1024
    assert round(sum(p.numel() for p in net.parameters()) / 1e6, 1) == 20.5   # v1's Table 2: 20.5M
    with torch.no_grad():                              # output stride 8: 321 -> 41 (slim copy, same geometry)
        assert deeplab_largefov(21, width_divisor=16)(torch.zeros(1, 3, 321, 321)).shape == (1, 21, 41, 41)
    rf = receptive_field_table({"lf": net}, 321)
    assert rf["fc6"]["lf"] == (435, 8, 41) and rf["pool5a"]["lf"][0] == 243


def test_feature_costs_agree_with_conv_macs_and_a_real_pass():
    from segcourse.models import conv_macs
    for net in (atrous_vgg16(8, "deeplab", 16), deeplab_largefov(6, 16), build_scheme("spp"), GCN(3, 4, 5)):
        shape = (1, 3, 64, 96)
        c = feature_costs(net, shape, dry_run=False)
        assert c["macs"] == conv_macs(net, shape)
        assert feature_costs(net, shape) == c                       # the empty-batch dry run agrees
        assert feature_costs(net, (3,) + shape[1:])["macs"] == 3 * c["macs"]
        with torch.no_grad():
            assert c["out_shape"] == tuple(net.eval()(torch.zeros(shape)).shape)
        assert c["params"] == sum(p.numel() for p in net.parameters())
        assert c["activation_bytes"] > c["largest_map_bytes"] > 0


def test_output_stride_costs_grow_as_the_stride_falls():
    costs = {os: feature_costs(atrous_vgg16(os, "deeplab", 4), (1, 3, 512, 512)) for os in (32, 16, 8)}
    assert [costs[os]["out_shape"][-1] for os in (32, 16, 8)] == [16, 32, 64]
    assert costs[32]["params"] == costs[16]["params"] == costs[8]["params"]
    assert costs[32]["macs"] < costs[16]["macs"] < costs[8]["macs"]
    assert costs[32]["activation_bytes"] < costs[16]["activation_bytes"] < costs[8]["activation_bytes"]


# ------------------------------------------------------------------ lesson 07: ASPP

def _layers(m):
    return [(type(x).__name__, getattr(x, "kernel_size", None), getattr(x, "dilation", None),
             getattr(x, "padding", None), tuple(x.weight.shape) if getattr(x, "weight", None) is not None else None)
            for x in m.modules() if not list(x.children())]


def _randomise_bn(m, g):
    for x in m.modules():
        if isinstance(x, nn.BatchNorm2d):
            x.running_mean.copy_(torch.randn(x.num_features, generator=g))
            x.running_var.copy_(torch.rand(x.num_features, generator=g) + 0.5)
            nn.init.normal_(x.weight, generator=g)
            nn.init.normal_(x.bias, generator=g)


def test_aspp_matches_torchvision_layer_for_layer():
    from torchvision.models.segmentation.deeplabv3 import ASPP as TvASPP
    g = _gen(3)
    ours, theirs = ASPP(32, (6, 12, 18), 16).eval(), TvASPP(32, (6, 12, 18), 16).eval()
    assert _layers(ours) == _layers(theirs)
    _randomise_bn(theirs, g)
    ours.load_state_dict(theirs.state_dict())          # strict: same names, same shapes
    x = torch.randn(2, 32, 13, 11, generator=g)
    with torch.no_grad():
        assert _max_diff(ours(x), theirs(x)) < 1e-5


def test_deeplabv3_head_matches_torchvisions_resnet50_model():
    from torchvision.models.segmentation import deeplabv3_resnet50
    tv = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21).eval()
    head = DeepLabV3Head(2048, 21).eval()
    assert _layers(head) == _layers(tv.classifier)
    assert [m.dilation for m in head[0].convs.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)] \
        == [(12, 12), (24, 24), (36, 36)]
    _randomise_bn(tv.classifier, _gen(4))
    head.load_state_dict(tv.classifier.state_dict())
    x = torch.rand(1, 3, 64, 64, generator=_gen(5))
    with torch.no_grad():
        ref = tv(x)["out"]
        feats = tv.backbone(x)["out"]
        assert feats.shape == (1, 2048, 8, 8)                      # torchvision's ResNet-50 at output stride 8
        ours = F.interpolate(head(feats), size=(64, 64), mode="bilinear", align_corners=False)
    assert _max_diff(ours, ref) < 1e-4


def test_aspp_v2_sums_its_branches():
    m = ASPPv2(16, 6, (6, 12, 18, 24), width=8).eval()
    x = torch.randn(1, 16, 20, 20, generator=_gen(6))
    with torch.no_grad():
        total = sum(b(x) for b in m.branches)
        assert _max_diff(m(x), total) < 1e-5
    assert [b.fc6.dilation for b in m.branches] == [(r, r) for r in (6, 12, 18, 24)]


def test_aspp_branch_fields():
    backbone = atrous_vgg16(8, "deeplab", 16, fc6=False)
    rows = aspp_branch_fields(backbone, (6, 12, 18, 24), 321)
    base = rows[0]["field"]
    assert rows[0]["jump"] == 8
    assert [r["field"] - base for r in rows[1:5]] == [2 * r * 8 for r in (6, 12, 18, 24)]
    assert rows[-1]["branch"] == "image pooling" and rows[-1]["field"] == 321


# ------------------------------------------------------------------ lesson 07: v3's Figure 2 at course scale

def test_every_scheme_builds_runs_and_learns():
    """Each scheme maps (N, 3, 128, 128) to (N, 6, 128, 128) scores, and a few Adam steps on one
    batch lower its loss (the smoke training's claim, small enough for a unit test)."""
    g = _gen(7)
    x = torch.rand(2, 3, 64, 64, generator=g)
    y = (x[:, 0] > 0.5).long() + (x[:, 1] > 0.7).long()
    for name in SCHEMES:
        m = build_scheme(name, num_classes=3, seed=0)
        with torch.no_grad():
            assert m.eval()(torch.zeros(1, 3, 128, 128)).shape == (1, 3, 128, 128)
        opt = torch.optim.Adam(m.parameters(), 3e-3)
        m.train()
        losses = []
        for _ in range(6):
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], (name, losses)
    with pytest.raises(ValueError, match="multiples of 32"):
        build_scheme("spp")(torch.zeros(1, 3, 100, 128))


def test_schemes_share_one_backbone_and_see_the_context_they_claim():
    backbones = {name: build_scheme(name).backbone for name in SCHEMES}
    assert {tuple(b.widths) for b in backbones.values()} == {(16, 24, 32, 48, 64)}
    assert build_scheme("spp").backbone.strides == [2, 4, 8, 8, 8]
    assert build_scheme("encoder_decoder").backbone.strides == [2, 4, 8, 16, 32]
    assert build_scheme("spp").aspp.rates == (3, 6, 9)
    # same share of valid taps on the 16 x 16 map as v3's (6, 12, 18) on 33 x 33, to 0.02
    from segcourse.ops.atrous import valid_tap_stats
    ours = valid_tap_stats(16, [3, 6, 9])["mean_fraction"]
    v3 = valid_tap_stats(33, [6, 12, 18])["mean_fraction"]
    assert float((ours - v3).abs().max()) < 0.02
    # determinism
    a, b = build_scheme("gcn", seed=1), build_scheme("gcn", seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# ------------------------------------------------------------------ lesson 08: GCN, BR

def test_gcn_is_one_kxk_convolution_of_low_rank():
    g = _gen(8)
    gcn = GCN(3, 4, 7, mid_channels=2).eval()
    for p in gcn.parameters():
        nn.init.normal_(p, generator=g)
    K, b = gcn_kernel(gcn)
    x = torch.randn(2, 3, 12, 9, generator=g)
    with torch.no_grad():
        assert _max_diff(F.conv2d(x, K, b, padding=3), gcn(x)) < 1e-4     # borders included
        # the impulse response of channel pair (o, i) is that kernel, flipped (correlation)
        delta = torch.zeros(1, 3, 13, 13)
        delta[0, 1, 6, 6] = 1.0
        resp = gcn(delta) - gcn(torch.zeros_like(delta))
        assert _max_diff(resp[0, 2, 3:10, 3:10], K[2, 1].flip(0, 1)) < 1e-5
    ranks = kernel_rank(K.detach())
    assert ranks.shape == (4, 3) and int(ranks.max()) <= 4 and int(ranks.min()) == 4    # 2 x mid, generically
    one = GCN(1, 1, 15, mid_channels=1)
    for p in one.parameters():
        nn.init.normal_(p, generator=g)
    assert int(kernel_rank(gcn_kernel(one)[0].detach())[0, 0]) == 2                # the paper's picture: 2 separable terms
    full = torch.randn(15, 15, generator=g)
    assert int(kernel_rank(full)) == 15
    assert int(kernel_rank(torch.outer(torch.randn(5, generator=g), torch.randn(5, generator=g)))) == 1


def test_gcn_costs_against_closed_forms():
    cin, cout, k, n = 64, 21, 15, 16
    c = gcn_costs(cin, cout, k, size=n)
    w_gcn = 2 * (k * cin * cout + k * cout * cout)
    assert c["gcn"]["params"] == w_gcn + 2 * cout and c["gcn"]["macs"] == w_gcn * n * n
    assert c["conv_kxk"]["params"] == cin * cout * k * k + cout and c["conv_kxk"]["macs"] == cin * cout * k * k * n * n
    w3 = 9 * cin * cout + 6 * 9 * cout * cout
    assert c["stack_3x3"]["params"] == w3 + 7 * cout and c["stack_3x3"]["macs"] == w3 * n * n
    assert c["gcn"]["field"] == c["conv_kxk"]["field"] == c["stack_3x3"]["field"] == k


def test_boundary_refinement_is_residual():
    br = BoundaryRefinement(4)
    nn.init.zeros_(br.conv2.weight)
    nn.init.zeros_(br.conv2.bias)
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(br(x), x)


# ------------------------------------------------------------------ IoU by object size

def _scene():
    """A hand-made 32 x 32 scene: a 4 x 4 square (class 1, area 16), a 10 x 10 square (class 2,
    area 100) and a 20 x 12 block (class 1, area 240); edges (50, 200) make them small/medium/large."""
    t = torch.zeros(32, 32, dtype=torch.long)
    inst = torch.zeros_like(t)
    t[2:6, 2:6], inst[2:6, 2:6] = 1, 1
    t[2:12, 18:28], inst[2:12, 18:28] = 2, 2
    t[14:34, 10:22], inst[14:34, 10:22] = 1, 3
    return t, inst


def test_size_iou_on_hand_made_cases():
    t, inst = _scene()
    perfect = instance_size_iou(t, t, inst, 3, edges=(50, 200))
    assert perfect["count"].tolist() == [1, 1, 1] and perfect["mean_iou"].tolist() == [1.0, 1.0, 1.0]
    assert perfect["per_instance"]["area"].tolist() == [16, 100, 216]      # the block is cut at the border
    # the small square missed: small IoU 0, the others untouched
    p = t.clone()
    p[2:6, 2:6] = 0
    r = instance_size_iou(p, t, inst, 3, edges=(50, 200))
    assert r["mean_iou"].tolist() == [0.0, 1.0, 1.0] and r["recall"][0] == 0
    # the small square predicted as a 6 x 6 blob (stride-8 blur): 16 TP, 20 FP inside its 8 x 8 context box
    p = t.clone()
    p[1:7, 1:7] = 1
    r = instance_size_iou(p, t, inst, 3, edges=(50, 200))
    assert r["per_instance"]["fp"][0] == 20 and abs(r["mean_iou"][0] - 16 / 36) < 1e-12
    # with context 1 (the tight box) the bleeding is not counted
    assert instance_size_iou(p, t, inst, 3, edges=(50, 200), context=1.0)["mean_iou"][0] == 1.0
    # a false alarm of class 1 far from the small square is not its false positive
    p = t.clone()
    p[28:32, 0:4] = 1
    assert instance_size_iou(p, t, inst, 3, edges=(50, 200))["mean_iou"][0] == 1.0
    # two touching instances of one class: the neighbour's correct pixels are not false positives
    t2, i2 = torch.zeros(16, 16, dtype=torch.long), torch.zeros(16, 16, dtype=torch.long)
    t2[4:8, 4:8], i2[4:8, 4:8] = 1, 1
    t2[4:8, 8:12], i2[4:8, 8:12] = 1, 2
    r = instance_size_iou(t2, t2, i2, 2, edges=(10, 100))
    assert r["per_instance"]["fp"].tolist() == [0, 0] and r["mean_iou"][1] == 1.0
    assert torch.isnan(r["mean_iou"][0]) and torch.isnan(r["mean_iou"][2])      # empty buckets


def test_size_iou_against_a_loop_over_instances():
    g = _gen(9)
    t = torch.randint(0, 4, (3, 24, 24), generator=g)
    inst = torch.randint(0, 5, (3, 24, 24), generator=g)
    p = torch.randint(0, 4, (3, 24, 24), generator=g)
    t[0, :2] = 255
    r = instance_size_iou(p, t, inst, 4, edges=(100, 120), context=1.5)
    rows = []
    for n in range(3):
        valid = t[n] != 255
        for i in inst[n].unique().tolist():
            m = (inst[n] == i) & valid
            if i == 0 or not m.any():
                continue
            c = int(torch.bincount(t[n][m], minlength=4).argmax())
            ys, xs = torch.nonzero(m, as_tuple=True)
            y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
            cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) * 0.75, (x1 - x0) * 0.75
            box = torch.zeros(24, 24, dtype=torch.bool)
            box[max(int(np.floor(cy - hh)), 0):min(int(np.ceil(cy + hh)), 24),
                max(int(np.floor(cx - hw)), 0):min(int(np.ceil(cx + hw)), 24)] = True
            tp = int(((p[n] == c) & m).sum())
            fp = int((box & (p[n] == c) & (t[n] != c) & valid).sum())
            rows.append((tp, fp, int(m.sum()) - tp))
    got = list(zip(r["per_instance"]["tp"].tolist(), r["per_instance"]["fp"].tolist(), r["per_instance"]["fn"].tolist()))
    assert got == rows


def test_size_iou_checks_its_arguments():
    t, inst = _scene()
    with pytest.raises(ValueError, match="edges"):
        instance_size_iou(t, t, inst, 3, edges=(200, 50))
    with pytest.raises(ValueError, match="pred"):
        instance_size_iou(t + 5, t, inst, 3)
    with pytest.raises(ValueError, match="one shape"):
        instance_size_iou(t[:10], t, inst, 3)


def test_scene_instances_line_up_with_the_masks():
    from segcourse import load_scenes
    inst = load_scene_instances("val")
    _, masks = load_scenes("val")
    assert inst.shape == masks.shape == (80, 128, 128)
    assert ((inst > 0) == (masks > 0)).float().mean() > 0.99
    r = instance_size_iou(masks, masks, inst, 6)
    assert r["count"].sum() > 200 and r["mean_iou"].tolist() == [1.0, 1.0, 1.0]
