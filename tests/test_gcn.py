"""Lesson 08: the Large Kernel Matters framework (heads with a k x k field, Boundary Refinement),
the effective receptive field of its score units, the kernel explorer's frame and widget, the
half-precision checkpoints and the exercises. (The GCN block itself: tests/test_deeplab.py.)"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segcourse as sc
from segcourse.checkpoints import LK_NETS, build_large_kernel_net, save_checkpoint
from segcourse.exercises.lesson08 import rank_bound_cases, stack_params_cases
from segcourse.models.gcn import _gcn_kernels, _stack_kernels
from segcourse.ops.receptive_field import receptive_fields

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("k", [3, 7, 15])
def test_every_head_has_a_k_by_k_field_and_no_more(k):
    """Brute force: the response of each linear head to a delta at the centre of a 31 x 31 map is
    zero outside the k x k box and non-zero on its border rows (the field is exactly k)."""
    torch.manual_seed(k)
    for head in sc.models.gcn.HEADS:
        net = sc.large_kernel_head(head, 4, 3, k).double()
        delta = torch.zeros(1, 4, 31, 31, dtype=torch.float64)
        delta[0, :, 15, 15] = 1.0
        resp = (net(delta) - net(torch.zeros_like(delta))).abs().sum(1)[0]
        h = k // 2
        inside = torch.zeros_like(resp, dtype=torch.bool)
        inside[15 - h:16 + h, 15 - h:16 + h] = True
        assert resp[~inside].max() == 0
        assert resp[15 - h].max() > 0 and resp[:, 15 + h].max() > 0
    stack = sc.large_kernel_head("stack", 4, 3, k)
    assert receptive_fields(stack)[-1].size == k


def test_large_kernel_head_costs_match_gcn_costs():
    c = sc.gcn_costs(64, 6, 15, size=16)
    for head, key in (("gcn", "gcn"), ("conv", "conv_kxk"), ("stack", "stack_3x3")):
        assert sum(p.numel() for p in sc.large_kernel_head(head, 64, 6, 15).parameters()) == c[key]["params"]
    assert isinstance(sc.large_kernel_head("stack", 64, 6, 1), torch.nn.Conv2d)   # k = 1: the paper's baseline


def test_large_kernel_net_shapes_br_and_errors():
    torch.manual_seed(0)
    for name in LK_NETS:
        net = build_large_kernel_net(name).eval()
        x = torch.rand(2, 3, 64, 96)
        assert net(x).shape == (2, 6, 64, 96) and net.scores(x).shape == (2, 6, 8, 12)
    net = sc.LargeKernelNet("gcn", 7, br=True).eval()
    torch.nn.init.zeros_(net.br.conv2.weight)
    torch.nn.init.zeros_(net.br.conv2.bias)
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(net.scores(x), net.head(net.backbone(x)[-1]))     # BR with a zero last conv: identity
    with pytest.raises(ValueError, match="head"):
        sc.LargeKernelNet("dilated", 7)
    with pytest.raises(ValueError, match="k"):
        sc.LargeKernelNet("gcn", 8)
    with pytest.raises(TypeError, match="br"):
        sc.LargeKernelNet("gcn", 7, br=1)
    with pytest.raises(ValueError, match="images"):
        net(torch.rand(1, 3, 60, 64))


def test_score_erf_against_autograd_and_the_head_weights():
    torch.manual_seed(1)
    net = sc.LargeKernelNet("conv", 5)
    x = torch.rand(3, 3, 64, 64)
    erf = sc.score_erf(net, x, unit=(3, 4))
    assert erf["input"].shape == (64, 64) and erf["features"].shape == (8, 8) and erf["centre"] == (27.5, 35.5)
    # the input map: autograd through the whole model, image by image
    net.eval()
    want = torch.zeros(64, 64, dtype=torch.float64)
    for i in range(3):
        xi = x[i:i + 1].clone().requires_grad_(True)
        net.scores(xi)[0, :, 3, 4].sum().backward()
        want += xi.grad[0].abs().sum(0).double() / 3
    assert torch.allclose(erf["input"], want, atol=1e-6)
    # the feature map: for a linear conv head, |sum over classes of W| summed over channels, flipped into place
    w = net.head.weight.detach().sum(0).double()                              # (C, 5, 5)
    feat = torch.zeros(8, 8, dtype=torch.float64)
    for dy in range(5):
        for dx in range(5):
            y, x_ = 3 + dy - 2, 4 + dx - 2
            if 0 <= y < 8 and 0 <= x_ < 8:
                feat[y, x_] = w[:, dy, dx].abs().sum()
    assert torch.allclose(erf["features"], feat, atol=1e-6)
    assert net.training is False
    with pytest.raises(TypeError, match="model"):
        sc.score_erf(sc.GCN(3, 3, 3), x)
    with pytest.raises(ValueError, match="unit"):
        sc.score_erf(net, x, unit=(8, 0))


def test_expected_energy_against_monte_carlo():
    g = torch.Generator().manual_seed(0)
    for name, sample in (("stack", _stack_kernels), ("gcn", _gcn_kernels)):
        e = (sample(7, 2, 20000, g) ** 2).mean(0).numpy()
        e /= e.max()
        assert np.abs(e - sc.expected_energy(name, 7)).max() < 0.1, name
    # the stack's map is the outer product of 1-D path counts (binomial-like), peaked at the centre
    s = sc.expected_energy("stack", 5)
    assert np.allclose(s[2], np.array([1, 2, 3, 2, 1]) / 3) and s.argmax() == 12
    with pytest.raises(ValueError, match="kind"):
        sc.expected_energy("conv", 5)


def test_kernel_footprints_frame():
    f = sc.kernel_footprints(15, 1, 0)
    assert f["gcn"].shape == f["stack_rms"].shape == (21, 21)
    assert np.isnan(f["gcn"][0, 0]) and not np.isnan(f["gcn"][3:18, 3:18]).any()
    assert f["gcn_rank"] == 2 and f["gcn_params"] == 60 and f["conv_params"] == 225 and f["stack_params"] == 63
    assert f["gcn_erf90"] == 15 and f["stack_erf90"] < 15 and f["box"] == (2.5, 2.5, 15)
    for mid, rank in ((2, 4), (4, 8), (8, 15)):
        assert sc.kernel_footprints(15, mid, 3)["gcn_rank"] == rank        # min(2 mid, k), generically
    # the drawn kernel is a GCN's: the same numbers as gcn_kernel of a block holding those weights
    assert sc.kernel_footprints(7, 2, 5)["gcn"].shape == (21, 21)
    with pytest.raises(ValueError, match="k"):
        sc.kernel_footprints(8)
    with pytest.raises(ValueError, match="mid"):
        sc.kernel_footprints(7, 0)


def test_gcn_kernels_sampler_is_a_gcn():
    """_gcn_kernels' formula is gcn_kernel's: load its weights into a 1 -> 1 GCN and compare."""
    g = torch.Generator().manual_seed(3)
    K = _gcn_kernels(5, 2, 1, g)[0]
    g = torch.Generator().manual_seed(3)
    a, b, c, d = (torch.randn(1, 2, 5, generator=g, dtype=torch.float64)[0] / (10 ** 0.5) for _ in range(4))
    block = sc.GCN(1, 1, 5, mid_channels=2).double()
    with torch.no_grad():
        block.left[0].weight.copy_(a[:, None, :, None])
        block.left[1].weight.copy_(b[None, :, None, :])
        block.right[0].weight.copy_(c[:, None, None, :])
        block.right[1].weight.copy_(d[None, :, :, None])
    assert torch.allclose(sc.gcn_kernel(block)[0][0, 0], K)


def test_kernel_explorer_updates_artists_in_place():
    w = sc.kernel_explorer(k=15, mid=1)
    axes = w.figure.axes
    images = [ax.images[0] for ax in axes]
    patches = [list(ax.patches) for ax in axes]
    before = np.asarray(images[3].get_array()).copy()
    assert "GCN 60 (4 k mid)" in w.readout.value and "GCN 2" in w.readout.value
    k_slider, mid, seed = w.controls
    k_slider.value = 7
    assert [ax.images[0] for ax in axes] == images and [list(ax.patches) for ax in axes] == patches
    assert w.state["k"] == 7 and not np.allclose(before, np.asarray(images[3].get_array()), equal_nan=True)
    assert patches[0][0].get_width() == 7 and "field 7 x 7" in w.readout.value
    mid.value = 3
    assert w.state["gcn_rank"] == 6 and "GCN 6 (at most" in w.readout.value
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"] == "<kernel_explorer: k=7, mid ch.=3, draw=0>"
    with pytest.raises(ValueError, match="k"):
        sc.kernel_explorer(k=23)


def test_half_precision_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    net = build_large_kernel_net("lk_gcn15_br").eval()
    path = save_checkpoint(net, tmp_path / "x.pt", {"a": 1}, half=True)
    blob = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    again = build_large_kernel_net("lk_gcn15_br")
    again.load_state_dict(blob["state_dict"])
    assert next(again.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 64, 64)
    assert (again.eval()(x) - net(x)).abs().max() < 1e-2


def test_lesson08_exercises():
    from segcourse.exercises.lesson08 import _solution_rank_bound, _solution_stack_params
    assert sc.check("08.rank_bound", _solution_rank_bound())
    assert sc.check("08.stack_params", _solution_stack_params())
    assert [c.expected for c in rank_bound_cases()] == [min(2 * c.args[1], c.args[0]) for c in rank_bound_cases()]
    for fn, hint in ((lambda k, m: 2, "one intermediate channel"), (lambda k, m: 2 * m, "cannot have rank above k"),
                     (lambda k, m: m, "two branches")):
        r = sc.check("08.rank_bound", fn)
        assert not r and hint in repr(r)
    for fn, hint in ((lambda a, b, k: 9 * a * b * ((k - 1) // 2), "Only the first"),
                     (lambda a, b, k: 9 * (a * b + (k - 1) * b * b), "How many 3 x 3 layers"),
                     (lambda a, b, k: _solution_stack_params()(a, b, k) + (k - 1) // 2 * b, "no biases")):
        r = sc.check("08.stack_params", fn)
        assert not r and hint in repr(r)
    for case in stack_params_cases():
        assert str(case.expected) not in repr(sc.check("08.stack_params", lambda a, b, k: 1))


def test_train_head_on_features_trains_only_the_head():
    from segcourse.checkpoints import frozen_features, train_head_on_features
    torch.manual_seed(0)
    net = sc.LargeKernelNet("gcn", 7)
    images, masks = torch.rand(16, 3, 64, 64), torch.randint(0, 6, (16, 64, 64))
    backbone = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    head = {k: v.clone() for k, v in net.head.state_dict().items()}
    feats = frozen_features(net, images, batch_size=5)
    assert feats.shape == (16, 64, 8, 8) and not feats.requires_grad
    meta = train_head_on_features(net, feats, masks, seed=0, progress=False)
    assert meta["steps"] == 2
    assert all(torch.equal(v, net.backbone.state_dict()[k]) for k, v in backbone.items())
    assert any(not torch.equal(v, net.head.state_dict()[k]) for k, v in head.items())


def test_large_kernel_study_is_like_for_like_at_two_seeds():
    """Lesson 08, section 7: every whole net of the study has seeds 0 and 1, all with the same recipe
    (iterations, scenes, batch), scored on the same 480 val scenes; the probe has both seeds for
    every head. The lesson's verdicts are computed from these records."""
    study = sc.large_kernel_study_results()
    runs = study["runs"]
    assert study["val_scenes"] == 480
    names = {r["name"] for r in runs}
    assert {"lk_base", "lk_gcn15", "lk_conv15", "lk_stack15", "lk_gcn15_br"} <= names
    for n in names:
        assert sorted(r["seed"] for r in runs if r["name"] == n) == [0, 1], n
    recipe = {(r["steps"], r["train_scenes"], r["batch_size"]) for r in runs}
    assert len(recipe) == 1
    probe = study["probe"]["runs"]
    for head in {(r["head"], r["k"]) for r in probe}:
        assert sorted(r["seed"] for r in probe if (r["head"], r["k"]) == head) == [0, 1], head
