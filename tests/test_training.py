"""Models, the training loop, checkpoints and semantic-to-instance conversion."""
import numpy as np
import pytest
import torch

import segcourse as sc
from segcourse.checkpoints import CHECKPOINTS, checkpoint_path


def toy_data(n=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g) * 0.2
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):  # a bright square is class 1
        y, x = torch.randint(0, size - 12, (2,), generator=g).tolist()
        images[i, :, y:y + 12, x:x + 12] += 0.7
        masks[i, y:y + 12, x:x + 12] = 1
    return images.clamp(0, 1), masks


def test_tiny_fcn_shapes_and_errors():
    net = sc.TinyFCN(num_classes=3, width=4)
    assert net(torch.rand(2, 3, 32, 16)).shape == (2, 3, 32, 16)
    assert net(torch.rand(1, 3, 8, 24)).shape == (1, 3, 8, 24)
    with pytest.raises(ValueError, match="images"):
        net(torch.rand(2, 3, 36, 16))
    with pytest.raises(ValueError, match="images"):
        net(torch.rand(3, 32, 32))
    with pytest.raises(TypeError, match="images"):
        net(torch.zeros(1, 3, 8, 8, dtype=torch.long))


def test_training_learns_and_is_deterministic():
    images, masks = toy_data(16)
    runs = []
    for _ in range(2):
        sc.seed_everything(0)
        net = sc.TinyFCN(num_classes=2, width=4)
        hist = sc.train_segmentation(net, images, masks, epochs=20, batch_size=4, lr=1e-2,
                                     seed=0, progress=False)
        runs.append((hist, [p.detach().clone() for p in net.parameters()], net))
    (h1, p1, net), (h2, p2, _) = runs
    assert h1["loss"] == h2["loss"] and all(torch.equal(a, b) for a, b in zip(p1, p2))
    assert h1["loss"][-1] < 0.5 * h1["loss"][0]
    pred = sc.predict(net, images)
    assert pred.shape == masks.shape and pred.dtype == torch.int64
    conf = sc.confusion_matrix(pred, masks, num_classes=2)
    assert sc.mean_iou(conf) > 0.7


def test_training_rejects_mismatched_masks():
    images, masks = toy_data(4)
    with pytest.raises(ValueError, match="masks"):
        sc.train_segmentation(sc.TinyFCN(2, 4), images, masks[:3], epochs=1, progress=False)
    with pytest.raises(ValueError, match="images"):
        sc.train_segmentation(sc.TinyFCN(2, 4), images * 3, masks, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        sc.train_segmentation(sc.TinyFCN(2, 4), images, masks, epochs=0, progress=False)


def test_checkpoint_round_trip_weights_only(tmp_path):
    net = sc.TinyFCN(num_classes=2, width=4)
    path = sc.save_checkpoint(net, tmp_path / "x.pt", {"epochs": 3, "note": "t"})
    blob = torch.load(path, weights_only=True)
    assert blob["meta"] == {"epochs": 3, "note": "t"}
    other = sc.TinyFCN(num_classes=2, width=4)
    other.load_state_dict(blob["state_dict"])
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(net.eval()(x), other.eval()(x))


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_shipped_checkpoints_load_with_weights_only(name):
    assert checkpoint_path(name).exists(), f"run ./course retrain {name}"
    model = sc.load_checkpoint(name)
    # the recipe's training length: epochs over a fixed set, or iterations of fresh batches
    assert not model.training and (model.meta.get("epochs", 0) > 0 or model.meta.get("iterations", 0) > 0)


def test_shipped_tiny_fcn_is_good_on_val():
    """Lesson 00 presents tiny_fcn as a real prediction, far better than the trivial baseline."""
    images, masks = sc.load_scenes("val")
    pred = sc.predict(sc.load_checkpoint("tiny_fcn"), images)
    conf = sc.confusion_matrix(pred, masks, num_classes=len(sc.CLASSES))
    baseline = sc.confusion_matrix(torch.zeros_like(masks), masks, num_classes=len(sc.CLASSES))
    assert sc.mean_iou(conf) > 0.3 and sc.mean_iou(conf) > 2 * sc.mean_iou(baseline)


def test_semantic_to_instances_splits_components_and_merges_touching():
    lab = np.zeros((6, 8), np.int64)
    lab[0:2, 0:2] = 1          # disc A
    lab[4:6, 0:2] = 1          # disc B, separate
    lab[0:3, 4:6] = 2          # two squares touching -> one component
    lab[3:6, 4:6] = 2
    out = sc.semantic_to_instances(lab)
    assert out["classes"].tolist() == [1, 1, 2]
    assert out["masks"].shape == (3, 6, 8) and out["masks"].sum() == lab.astype(bool).sum()
    assert (out["masks"][2] == (lab == 2)).all()
    probs = np.zeros((3, 6, 8), np.float32)
    probs[1] = 0.5
    probs[2] = 0.25
    assert sc.semantic_to_instances(lab, probs)["scores"].tolist() == [0.5, 0.5, 0.25]
    assert len(sc.semantic_to_instances(lab, min_area=5)["classes"]) == 1
    with pytest.raises(ValueError, match="probs"):
        sc.semantic_to_instances(lab, probs[:2])


def test_photos_are_real_and_offline():
    img = sc.photo("chelsea")
    assert img.shape == (300, 451, 3) and img.dtype == np.uint8 and img.std() > 20
    t = sc.photo("coffee", as_tensor=True)
    assert t.shape == (3, 400, 600) and 0 <= t.min() and t.max() <= 1
    with pytest.raises(ValueError, match="name"):
        sc.photo("dog")


def test_seed_everything_reproduces():
    sc.seed_everything(3)
    a = torch.rand(3), np.random.rand(3)
    sc.seed_everything(3)
    b = torch.rand(3), np.random.rand(3)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(TypeError, match="seed"):
        sc.seed_everything(1.5)


def test_perfect_semantic_maps_are_not_instances():
    """Lesson 00's claim: components of even the true semantic map miss instances (AP < 1)."""
    val = sc.VOCSegmentation(sc.data_dir() / "scenes", "val")
    gt, dt, merges = [], [], 0
    for i in range(len(val)):
        _, mask = val[i]
        inst = val.instances(i)
        n = len(inst["classes"])
        gt.append({"masks": np.stack([np.asarray(inst["instance"]) == k + 1 for k in range(n)]),
                   "classes": np.asarray(inst["classes"])})
        comp = sc.semantic_to_instances(mask)
        merges += len(comp["classes"]) < n
        dt.append(comp)
    ap = sc.mask_ap(gt, dt)
    assert merges > 0 and ap["AP"] < 0.9 and ap["AP50"] < 0.95
