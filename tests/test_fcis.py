"""FCIS (lesson 09): the assembling against a brute force written with plain indexing and against
torchvision's position-sensitive ops, the mask and score, ground-truth score maps, pasting, the
model's pieces, the widget and the exercises."""
import math

import numpy as np
import pytest
import torch
import torchvision

import segcourse as sc
from segcourse.exercises import lesson09 as EX
from segcourse.models.fcis import (FCIS, fcis_loss, fcis_predict, init_from_fcn, instance_boxes, mask_targets,
                                   sample_rois)
from segcourse.ops.fcis import _crop_to_box

# -- brute force: one RoI at a time, plain indexing -----------------------------------------------------


def _bilinear(fm, y, x):
    """torchvision's bilinear read of one (H, W) map at feature coordinate (y, x) (roi_align's rules)."""
    h, w = fm.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * fm[y0, x0] + (1 - ly) * lx * fm[y0, x1]
            + ly * (1 - lx) * fm[y1, x0] + ly * lx * fm[y1, x1])


def brute_assemble_align(maps, box, k, num_classes, m, scale=1.0, g=2):
    """maps (2k^2C, H, W), box (x1, y1, x2, y2) -> inside, outside (C, M, M): output cell (p, q) of
    class c, part s = mean of g x g bilinear samples (aligned=True) of channel ((c*2+s)*k + i)*k + j,
    (i, j) = (p*k // M, q*k // M)."""
    x1, y1, x2, y2 = (float(v) * scale - 0.5 for v in box)
    bh, bw = (y2 - y1) / m, (x2 - x1) / m
    out = np.zeros((num_classes, 2, m, m))
    for c in range(num_classes):
        for s in range(2):
            for p in range(m):
                for q in range(m):
                    i, j = p * k // m, q * k // m
                    fm = maps[((c * 2 + s) * k + i) * k + j]
                    acc = 0.0
                    for iy in range(g):
                        for ix in range(g):
                            acc += _bilinear(fm, y1 + p * bh + (iy + 0.5) * bh / g, x1 + q * bw + (ix + 0.5) * bw / g)
                    out[c, s, p, q] = acc / (g * g)
    return out[:, 0], out[:, 1]


def brute_copy(maps, box, k, num_classes):
    """The paper's assembling at the map's own resolution, for an integer box: pixel (y, x) of the
    RoI copies map (c, s, y*k // h, x*k // w) at the same pixel."""
    x1, y1, x2, y2 = (int(v) for v in box)
    h, w = y2 - y1, x2 - x1
    out = np.zeros((num_classes, 2, h, w))
    for c in range(num_classes):
        for s in range(2):
            for y in range(h):
                for x in range(w):
                    out[c, s, y, x] = maps[sc.ps_channel(c, s, y * k // h, x * k // w, k), y1 + y, x1 + x]
    return out[:, 0], out[:, 1]


@pytest.fixture(scope="module")
def val():
    images, sem = sc.load_scenes("val")
    return images, sem, sc.load_scene_instances("val")


def _maps(n, k, c, h, w, seed=0, dtype=torch.float64):
    return torch.randn(n, 2 * k * k * c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- layout ----------------------------------------------------------------------------------------------

def test_ps_channel_is_torchvisions_layout():
    k, c = 3, 2
    maps = torch.arange(2 * k * k * c, dtype=torch.float64)[None, :, None, None].expand(1, -1, 6, 6).contiguous()
    pooled = torchvision.ops.ps_roi_pool(maps, [torch.tensor([[0.0, 0.0, 4.0, 4.0]], dtype=torch.float64)], k)
    for cls in range(c):
        for part in range(2):
            for i in range(k):
                for j in range(k):
                    assert pooled[0, cls * 2 + part, i, j] == sc.ps_channel(cls, part, i, j, k)
    assert sc.ps_channel(1, 1, 0, 2, 3) == 29                  # the docstring's example


def test_ps_cell_examples_and_tensors():
    assert sc.ps_cell(4, 2, 5, 7, 3) == (2, 0)
    assert sc.ps_cell(0, 0, 1, 1, 5) == (0, 0)
    ys, xs = torch.meshgrid(torch.arange(5), torch.arange(7), indexing="ij")
    gi, gj = sc.ps_cell(ys, xs, 5, 7, 3)
    assert all((int(gi[y, x]), int(gj[y, x])) == sc.ps_cell(y, x, 5, 7, 3) for y in range(5) for x in range(7))
    assert gi.max() == 2 and gj.max() == 2
    with pytest.raises(ValueError, match="y"):
        sc.ps_cell(5, 0, 5, 7, 3)
    with pytest.raises(TypeError, match="k"):
        sc.ps_cell(0, 0, 5, 7, 1.5)


def test_group_channels():
    assert torch.equal(sc.group_channels(3, 3, 4), torch.arange(36))
    idx = sc.group_channels(2, (3, 5), 2)
    for t in range(2):
        for p in range(3):
            for q in range(5):
                assert idx[t * 15 + p * 5 + q] == t * 4 + (p * 2 // 3) * 2 + (q * 2 // 5)


# -- assembling vs the brute force ----------------------------------------------------------------------

@pytest.mark.parametrize("m", [3, 6, 7, 12])
def test_assemble_align_equals_brute_force(m):
    k, c = 3, 2
    maps = _maps(2, k, c, 9, 11)
    boxes = torch.tensor([[0, 1.3, 0.7, 9.2, 8.1], [1, 0.0, 0.0, 11.0, 9.0], [0, -3.0, -2.0, 14.0, 3.5],
                          [1, 5.5, 2.25, 6.0, 8.0]], dtype=torch.float64)
    inside, outside = sc.assemble_inside_outside(maps, boxes, k, c, m)
    assert inside.shape == outside.shape == (4, c, m, m)
    for r, (n, *box) in enumerate(boxes.tolist()):
        bi, bo = brute_assemble_align(maps[int(n)].numpy(), box, k, c, m)
        assert np.allclose(inside[r].numpy(), bi, atol=1e-12) and np.allclose(outside[r].numpy(), bo, atol=1e-12)


def test_assemble_align_with_a_scale_and_a_rectangle_output():
    k, c = 2, 3
    maps = _maps(1, k, c, 8, 8, seed=1)
    box = [3.0, 5.0, 50.0, 37.0]                               # image pixels, scale 1/8
    inside, outside = sc.assemble_inside_outside(maps, [torch.tensor([box], dtype=torch.float64)], k, c, (4, 6),
                                                 spatial_scale=0.125)
    assert inside.shape == (1, c, 4, 6)
    # rectangles: the brute force on a (4, 6) grid
    x1, y1, x2, y2 = (v * 0.125 - 0.5 for v in box)
    for cls in range(c):
        for p in range(4):
            for q in range(6):
                fm = maps[0, sc.ps_channel(cls, 0, p * k // 4, q * k // 6, k)].numpy()
                bh, bw = (y2 - y1) / 4, (x2 - x1) / 6
                v = np.mean([_bilinear(fm, y1 + p * bh + (a + 0.5) * bh / 2, x1 + q * bw + (b + 0.5) * bw / 2)
                             for a in range(2) for b in range(2)])
                assert inside[0, cls, p, q].item() == pytest.approx(v, abs=1e-12)


@pytest.mark.parametrize("box", [(2, 1, 8, 7), (0, 0, 5, 7), (3, 2, 10, 4)])
def test_assemble_pool_at_the_box_size_is_the_papers_copy(box):
    """With an integer box at stride 1 and one output cell per pixel, ps_roi_pool's bins are single
    pixels: the assembled map copies each pixel from its cell's map (FCIS's description)."""
    k, c = 3, 2
    maps = _maps(1, k, c, 10, 12, seed=2)
    h, w = box[3] - box[1], box[2] - box[0]
    inside, outside = sc.assemble_inside_outside(maps, [torch.tensor([box], dtype=torch.float64)], k, c, (h, w),
                                                 op="pool")
    bi, bo = brute_copy(maps[0].numpy(), box, k, c)
    assert np.array_equal(inside[0].numpy(), bi) and np.array_equal(outside[0].numpy(), bo)


@pytest.mark.parametrize("m", [3, 5, 6, (4, 9)])
def test_assemble_equals_torchvision_on_expanded_channels(m):
    """Against ps_roi_align / ps_roi_pool: with every group's channels repeated for the output cells
    that read them (group_channels), torchvision's position-sensitive ops compute the same thing."""
    k, c = 3, 2
    mh, mw = (m, m) if isinstance(m, int) else m
    maps = _maps(2, k, c, 10, 12, seed=3, dtype=torch.float32)
    g = torch.Generator().manual_seed(4)
    xy = torch.rand(12, 2, generator=g) * 90 - 5
    wh = torch.rand(12, 2, generator=g) * 60 + 1
    boxes = torch.cat([torch.randint(0, 2, (12, 1), generator=g).float(), xy, xy + wh], 1)
    idx = sc.group_channels(k, m, 2 * c)
    for op, ref in (("align", lambda x: torchvision.ops.ps_roi_align(x, boxes, (mh, mw), 1 / 8, 2)),
                    ("pool", lambda x: torchvision.ops.ps_roi_pool(x, boxes, (mh, mw), 1 / 8))):
        inside, outside = sc.assemble_inside_outside(maps, boxes, k, c, m, spatial_scale=1 / 8, op=op)
        ours = torch.stack([inside, outside], 2).reshape(12, 2 * c, mh, mw)
        assert torch.allclose(ours, ref(maps[:, idx]), atol=1e-5), op


def test_assemble_at_k_is_ps_roi_pool_and_ps_roi_align():
    k, c = 3, 2
    maps = _maps(1, k, c, 10, 10, seed=5)
    boxes = [torch.tensor([[1.0, 2.0, 9.0, 8.0], [0.5, 0.5, 4.5, 9.0]], dtype=torch.float64)]
    for op, ref in (("align", sc.ps_roi_align(maps, boxes, k, 1.0, 2)), ("pool", sc.ps_roi_pool(maps, boxes, k))):
        inside, outside = sc.assemble_inside_outside(maps, boxes, k, c, op=op)
        assert torch.allclose(torch.stack([inside, outside], 2).reshape(2, 2 * c, k, k), ref, atol=1e-12)


def test_assemble_gradient():
    k, c = 2, 1
    maps = _maps(1, k, c, 5, 6, seed=6).requires_grad_(True)
    box = [torch.tensor([[0.6, 0.3, 5.2, 4.4]], dtype=torch.float64)]
    for m in (2, 3, 4):
        assert torch.autograd.gradcheck(lambda x: torch.stack(sc.assemble_inside_outside(x, box, k, c, m)), (maps,))


def test_assemble_validates():
    maps = _maps(1, 3, 2, 6, 6)
    box = [torch.tensor([[0.0, 0.0, 4.0, 4.0]], dtype=torch.float64)]
    with pytest.raises(ValueError, match="score_maps"):
        sc.assemble_inside_outside(maps, box, 3, 3)
    with pytest.raises(ValueError, match="op"):
        sc.assemble_inside_outside(maps, box, 3, 2, op="max")
    with pytest.raises(ValueError, match="output_size"):
        sc.assemble_inside_outside(maps, box, 3, 2, (2, 3, 4))
    with pytest.raises(ValueError, match="boxes"):
        sc.assemble_inside_outside(maps, torch.zeros(2, 4, dtype=torch.float64), 3, 2)


# -- mask and score -------------------------------------------------------------------------------------

def test_mask_and_score_by_hand():
    g = torch.Generator().manual_seed(7)
    i, o = torch.randn(3, 4, 5, 5, generator=g, dtype=torch.float64), torch.randn(3, 4, 5, 5, generator=g, dtype=torch.float64)
    s = sc.fcis_mask_and_score(i, o)
    assert torch.allclose(s.mask, i.exp() / (i.exp() + o.exp()))
    logits = torch.tensor([[np.mean([max(i[r, c, y, x].item(), o[r, c, y, x].item()) for y in range(5) for x in range(5)])
                            for c in range(4)] for r in range(3)], dtype=torch.float64)
    assert torch.allclose(s.logits, logits)
    assert torch.allclose(s.probs, logits.exp() / logits.exp().sum(1, keepdim=True))
    with pytest.raises(ValueError, match="outside"):
        sc.fcis_mask_and_score(i, o[:, :2])


# -- ground-truth score maps: touching objects of one class are told apart ------------------------------

def _touching():
    inst = torch.zeros(24, 30, dtype=torch.long)
    inst[3:13, 2:12] = 1                       # two squares of class 1 that touch
    inst[6:18, 12:24] = 2
    inst[19:23, 3:9] = 3                       # a bar of class 2
    return inst, torch.tensor([1, 1, 2])


def test_gt_score_maps_separate_touching_instances():
    inst, cls = _touching()
    comps = sc.semantic_to_instances(cls[inst.clamp(min=1) - 1] * (inst > 0))
    assert len(comps["classes"]) == 2                               # connected components merge the squares
    k = 3
    maps = sc.gt_score_maps(inst, cls, k, 3)
    assert maps.shape == (2 * k * k * 3, 24, 30) and set(maps.unique().tolist()) == {0.0, 4.0}
    _, _, boxes = instance_boxes(cls[inst.clamp(min=1) - 1] * (inst > 0), inst)
    for r in range(3):
        x1, y1, x2, y2 = (int(v) for v in boxes[r])
        inside, outside = sc.assemble_inside_outside(maps[None].double(), [boxes[r:r + 1].double()], k, 3,
                                                     (y2 - y1, x2 - x1), op="pool")
        s = sc.fcis_mask_and_score(inside, outside)
        assert int(s.probs[0].argmax()) == int(cls[r])
        assert torch.equal(s.mask[0, cls[r]] > 0.5, inst[y1:y2, x1:x2] == r + 1)    # exactly its own pixels
    # the pixel (8, 12) of square 2 lies in both boxes; the two RoIs read different maps there
    ch_a = sc.ps_channel(1, 0, *sc.ps_cell(8 - 3, 12 - 2, 10, 11, k), k)   # box of square 1 is 11 wide (2..13)
    ch_b = sc.ps_channel(1, 0, *sc.ps_cell(8 - 6, 12 - 12, 12, 12, k), k)
    assert ch_a != ch_b and maps[ch_a, 8, 12] == 0 and maps[ch_b, 8, 12] == 4


def test_gt_score_maps_validate():
    inst, cls = _touching()
    with pytest.raises(ValueError, match="classes"):
        sc.gt_score_maps(inst, torch.tensor([1, 1]), 3, 3)
    with pytest.raises(ValueError, match="classes"):
        sc.gt_score_maps(inst, torch.tensor([1, 1, 3]), 3, 3)


# -- boxes and pasting ------------------------------------------------------------------------------------

def test_box_iou_equals_torchvision():
    g = torch.Generator().manual_seed(8)
    a = torch.rand(7, 2, generator=g) * 50
    a = torch.cat([a, a + torch.rand(7, 2, generator=g) * 30], 1)
    b = torch.cat([a[:3] + 3, torch.tensor([[0.0, 0.0, 1.0, 1.0]])])
    assert torch.allclose(sc.box_iou(a, b).float(), torchvision.ops.box_iou(a, b), atol=1e-6)


def test_paste_masks():
    boxes = torch.tensor([[2.0, 3.0, 12.0, 9.0], [0.0, 0.0, 20.0, 16.0]])
    ones = sc.paste_masks(torch.ones(2, 6, 6), boxes, (16, 20))
    assert (ones[0] > 0).sum() == 60 and torch.allclose(ones[0, 3:9, 2:12], torch.ones(6, 10))
    assert torch.allclose(ones[1], torch.ones(16, 20))
    # a mask sampled into the RoI the way RoIAlign samples, pasted back, is the mask again
    inst, _ = _touching()
    m = (inst == 2).double()
    box = torch.tensor([[12.0, 6.0, 24.0, 18.0]], dtype=torch.float64)
    roi = sc.roi_align(m[None, None], [box], 24, 1.0, 2, aligned=True)[0]
    back = sc.paste_masks(roi, box, (24, 30))[0] >= 0.5
    assert torch.equal(back, m.bool())
    assert sc.paste_masks(torch.zeros(0, 4, 4), torch.zeros(0, 4), (5, 5)).shape == (0, 5, 5)
    with pytest.raises(ValueError, match="boxes"):
        sc.paste_masks(torch.ones(2, 4, 4), torch.zeros(3, 4), (5, 5))


# -- the widget frame -------------------------------------------------------------------------------------

def test_crop_reads_what_roi_align_reads():
    g = torch.Generator().manual_seed(9)
    maps = torch.randn(3, 20, 24, generator=g, dtype=torch.float64)
    for _ in range(100):
        scale = [1.0, 0.5, 0.125][int(torch.randint(0, 3, (1,), generator=g))]
        xy = torch.rand(2, generator=g, dtype=torch.float64) * 60 - 6
        box = torch.cat([xy, xy + torch.rand(2, generator=g, dtype=torch.float64) * 40])
        crop, local = _crop_to_box(maps, box, scale)
        a = sc.roi_align(maps[None], [box[None]], 5, scale, 2, aligned=True)
        b = sc.roi_align(crop[None], [local[None]], 5, scale, 2, aligned=True)
        assert torch.allclose(a, b, atol=1e-12)


def test_fcis_frame():
    inst, cls = _touching()
    k = 3
    maps = sc.gt_score_maps(inst, cls, k, 3)
    box = torch.tensor([12.0, 6.0, 24.0, 18.0])
    fr = sc.fcis_frame(maps, box, k, 1, size=12, tile=12)
    assert fr["tiles_inside"].shape == (3, 3, 12, 12) and fr["reads"].shape == (3, 3, 12, 12)
    inside, outside = sc.assemble_inside_outside(maps[None], [box[None]], k, 3, 12)
    assert torch.allclose(fr["inside"], inside[0, 1]) and torch.allclose(fr["outside"], outside[0, 1])
    # the assembled map is the read part of each tile, put together
    i, j = torch.meshgrid(torch.arange(12), torch.arange(12), indexing="ij")
    gi, gj = fr["cells"] // k, fr["cells"] % k
    assert torch.allclose(fr["inside"], fr["tiles_inside"][gi, gj, i, j])
    assert torch.equal(fr["reads"][gi, gj, i, j], torch.ones(12, 12, dtype=torch.bool))
    assert int(fr["reads"].sum()) == 144                       # each position is read from exactly one tile
    assert torch.equal(fr["mask"] > 0.5, inst[6:18, 12:24] == 2)
    with pytest.raises(TypeError, match="score_maps"):
        sc.fcis_frame(maps[:-1], box, k, 1)
    with pytest.raises(ValueError, match="cls"):
        sc.fcis_frame(maps, box, k, 3)


# -- the model ----------------------------------------------------------------------------------------------

def test_fcis_model_shapes_and_frozen_blocks():
    sc.seed_everything(0)
    m = FCIS(num_classes=3, k=2, mask_size=4)
    x = torch.rand(2, 3, 64, 64)
    maps = m.score_maps(x)
    assert maps.shape == (2, 2 * 4 * 3, 8, 8)
    assert torch.allclose(maps, m.score_maps_from_frozen(m.frozen_features(x)), atol=1e-6)
    out = m(x, [torch.tensor([[0.0, 0.0, 30.0, 40.0]]), torch.zeros(0, 4)])
    assert out.mask.shape == (1, 3, 4, 4) and out.probs.shape == (1, 3)
    m.train()
    assert not m.fcn.backbone.blocks[0].training and m.fcn.backbone.blocks[3].training
    assert not any(p.requires_grad for p in m.fcn.backbone.blocks[2].parameters())


def test_init_from_fcn_copies_the_backbone():
    fcn = sc.FCN("8s", num_classes=6)
    m = init_from_fcn(FCIS(), fcn)
    assert torch.equal(m.fcn.backbone.blocks[4][0].weight, fcn.backbone.blocks[4][0].weight)
    assert torch.equal(m.fcn.fc7[0].weight, fcn.fc7[0].weight)
    assert m.fcn.score_fr.weight.shape[0] == 108


def test_instance_boxes_match_the_dataset(val):
    images, sem, inst = val
    ds = sc.VOCSegmentation(sc.data_dir() / "scenes", "val")
    for i in (0, 7, 33):
        masks, classes, boxes = instance_boxes(sem[i], inst[i])
        ref = ds.instances(i)
        assert torch.equal(boxes, ref["boxes"]) and torch.equal(classes, ref["classes"])
        assert torch.equal(torch.as_tensor(sc.boxes_from_masks(masks)).float(), boxes)


def test_mask_targets():
    inst, _ = _touching()
    rois = torch.tensor([[0, 12.0, 6.0, 24.0, 18.0], [0, 2.0, 3.0, 12.0, 13.0]])
    t = mask_targets(inst[None], rois, torch.tensor([2, 1]), 6)
    assert t[0].all() and t[1].all()
    roi = [0.0, 0.0, 30.0, 24.0]                                 # the whole image, 6 x 6 cells of 5 x 4 px
    t = mask_targets(inst[None], torch.tensor([[0.0] + roi]), torch.tensor([3]), 6)
    brute = torch.zeros(6, 6, dtype=torch.bool)
    for p in range(6):
        for q in range(6):
            hits = [int(inst[int(4 * (p + (a + 0.5) / 2)), int(5 * (q + (b + 0.5) / 2))] == 3)
                    for a in range(2) for b in range(2)]
            brute[p, q] = sum(hits) >= 2
    assert torch.equal(t[0], brute) and t[0, 5].any() and not t[0, :4].any()


def test_sample_rois_are_seeded_and_inside():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    gt = torch.tensor([[10.0, 20.0, 40.0, 50.0]])
    a, b = sample_rois(gt, (64, 64), g1), sample_rois(gt, (64, 64), g2)
    assert torch.equal(a, b) and a.shape == (1 + 4 + 2 + 8, 4)
    assert (a[:, :2] >= 0).all() and (a[:, 2] <= 64).all() and (a[:, 2:] - a[:, :2] >= 4 - 1e-6).all()
    assert torch.equal(a[0], gt[0])


def test_fcis_loss_and_predict(val):
    sc.seed_everything(0)
    images, sem, inst = val
    t = torch.stack([sem[:2], inst[:2]], 1)
    m = FCIS()
    loss, cl, ml = fcis_loss(m, images[:2], t, torch.Generator().manual_seed(0), parts=True)
    assert torch.isfinite(loss) and cl > 0 and ml > 0
    loss.backward()
    assert m.fcn.score_pool3.weight.grad is not None and m.fcn.backbone.blocks[0][0].weight.grad is None
    feats = m.frozen_features(images[:2])
    again = fcis_loss(m, feats, t, torch.Generator().manual_seed(0), features=True)
    assert torch.allclose(again, loss, atol=1e-5)
    boxes = [instance_boxes(sem[0], inst[0])[2], torch.zeros(0, 4)]
    pred = fcis_predict(m, images[:2], boxes)
    assert pred[0]["masks"].shape == (len(boxes[0]), 128, 128) and pred[1]["masks"].shape == (0, 128, 128)
    assert (pred[0]["classes"] >= 1).all() and pred[0]["scores"].shape == (len(boxes[0]),)
    gt = [{"masks": instance_boxes(sem[i], inst[i])[0], "classes": instance_boxes(sem[i], inst[i])[1]} for i in (0, 1)]
    assert 0 <= sc.mask_ap(gt, pred)["AP"] <= 1


# -- widget -------------------------------------------------------------------------------------------------

def _scene(val, i=0):
    images, sem, inst = val
    _, classes, _ = instance_boxes(sem[i], inst[i])
    return images[i], inst[i], classes


def test_fcis_explorer_updates_artists_in_place(val):
    image, inst, classes = _scene(val, 0)
    w = sc.fcis_explorer(image, inst, classes, class_names=sc.CLASSES)
    sl_roi, sl_k = w.controls
    ax_img, ax_tiles, ax_io, ax_mask = w.figure.axes
    tiles, mask_art, box = ax_tiles.images[0], ax_mask.images[0], ax_img.patches[0]
    assert w.state["k"] == 3 and w.state["roi"] == 0 and "IoU" in w.readout.value
    assert w.state["mask_iou"] > 0.85           # a small triangle whose box lies inside another triangle's
    before = np.asarray(tiles.get_array()).copy()
    sl_k.value = 1                              # one map per class: no position, the big triangle leaks in
    assert w.state["mask_iou"] < 0.5
    sl_k.value = 5
    assert ax_tiles.images[0] is tiles and ax_mask.images[0] is mask_art
    assert w.state["k"] == 5 and w.state["tiles_inside"].shape[:2] == (5, 5)
    assert np.asarray(tiles.get_array()).shape != before.shape
    assert len(ax_img.collections[1].get_segments()) == 8        # 4 + 4 grid lines for k = 5
    if len(w.boxes) > 1:
        sl_roi.value = 1
        assert ax_img.patches[0] is box and box.get_x() == pytest.approx(float(w.boxes[1, 0]) - 0.5)
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"].startswith("<fcis_explorer: RoI=")


def test_fcis_explorer_with_a_model(val):
    image, inst, classes = _scene(val, 1)
    sc.seed_everything(0)
    w = sc.fcis_explorer(image, inst, classes, model=FCIS(), k=5)
    sl_roi, sl_k, dd = w.controls
    dd.value = "trained FCIS"
    assert sl_k.value == 3 and sl_k.disabled and w.state["k"] == 3 and w.state["source"] == "trained FCIS"
    dd.value = "ground truth"
    assert not sl_k.disabled
    assert not w.errors.outputs


def test_fcis_explorer_validates(val):
    image, inst, classes = _scene(val, 0)
    with pytest.raises(ValueError, match="roi"):
        sc.fcis_explorer(image, inst, classes, roi=50)
    with pytest.raises(ValueError, match="source"):
        sc.fcis_explorer(image, inst, classes, source="trained FCIS")
    with pytest.raises(ValueError, match="instance"):
        sc.fcis_explorer(image, torch.zeros_like(inst), classes[:0])


# -- exercises ------------------------------------------------------------------------------------------------

def test_exercise_solutions_pass():
    for key in EX.EXERCISES:
        assert sc.check(key, EX.EXERCISES[key].solution()), key


@pytest.mark.parametrize("key", list(EX.MISTAKES))
def test_exercise_mistakes_fail_with_their_explanation(key):
    for name, (wrong, text) in EX.MISTAKES[key].items():
        result = sc.check(key, wrong)
        assert not result, (key, name)
        assert text in repr(result), (key, name, repr(result))


def test_exercise_feedback_never_gives_the_answer_away():
    r = sc.check("09.which_cell", lambda y, x, h, w, k: (0, 0))
    assert not r and "(2, 0)" not in repr(r).replace("(0, 0)", "")
    r = sc.check("09.assemble", lambda maps: np.zeros(np.asarray(maps).shape[2:]))
    assert not r and "too small" in repr(r)
    r = sc.check("09.mask_and_score", lambda i, o: (np.zeros_like(i), np.zeros(len(i))))
    assert not r and "mask" in repr(r)
    r = sc.check("09.mask_and_score", lambda i, o: np.zeros(3))
    assert not r and "pair" in repr(r)


def test_exercise_cases_match_the_hand_worked_values():
    cases = {c.args: c for c in EX.which_cell_cases()}
    assert cases[(4, 2, 5, 7, 3)].expected == [2, 0]                 # 5 x 7 RoI: (12 // 5, 6 // 7)
    assert cases[(3, 3, 4, 10, 3)].expected == [2, 0]                # 4 x 10 RoI: (9 // 4, 9 // 10)
    assert all(str(c.args) in c.name for c in cases.values())         # the feedback names the inputs
    hand = EX.assemble_cases()[0]
    assert np.array_equal(hand.expected, [[0, 0, 1, 1], [0, 0, 1, 1], [10, 10, 11, 11], [10, 10, 11, 11]])
    mask, scores = EX.mask_and_score_cases()[0].expected
    s = 1 / (1 + math.exp(-2))
    assert np.allclose(mask, [[[0.5, 0.5]], [[s, 1 - s]]]) and np.allclose(scores, [1 - s, s])
