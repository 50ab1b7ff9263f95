"""segcourse.data.voc on a tiny VOC-layout folder written by hand (not by the scene generator)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import segcourse as sc
from segcourse.data import voc

H, W = 6, 8

# image "a" (a .jpg like real VOC): instance 1 = person (15) with a void border, instance 2 = car (7)
CLS_A = np.array([
    [255, 255, 255, 255, 255, 0, 0, 0],
    [255, 15, 15, 15, 255, 0, 0, 0],
    [255, 15, 7, 15, 255, 0, 0, 0],    # one pixel of instance 1 is labelled car: majority wins
    [255, 15, 15, 15, 255, 0, 0, 0],
    [255, 255, 255, 255, 255, 7, 7, 7],
    [0, 0, 0, 0, 0, 7, 7, 7],
])
OBJ_A = np.array([
    [255, 255, 255, 255, 255, 0, 0, 0],
    [255, 1, 1, 1, 255, 0, 0, 0],
    [255, 1, 1, 1, 255, 0, 0, 0],
    [255, 1, 1, 1, 255, 0, 0, 0],
    [255, 255, 255, 255, 255, 2, 2, 2],
    [0, 0, 0, 0, 0, 2, 2, 2],
])
# image "b" (a lossless .png): instance ids 3 and 5 (not contiguous), classes 1 and 2
CLS_B = np.zeros((H, W), dtype=np.int64)
CLS_B[0:2, 0:3] = 1
CLS_B[3:6, 6:8] = 2
OBJ_B = np.zeros((H, W), dtype=np.int64)
OBJ_B[0:2, 0:3] = 3
OBJ_B[3:6, 6:8] = 5
IMG_B = (np.arange(H * W * 3).reshape(H, W, 3) * 5 % 256).astype(np.uint8)


def _palette_png(path: Path, labels: np.ndarray) -> None:
    """A palette PNG like the VOC ones, written with Pillow directly (independent of voc.py)."""
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.astype(np.uint8).tobytes())
    pal = []
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r, g, b = r | ((c & 1) << (7 - j)), g | (((c >> 1) & 1) << (7 - j)), b | (((c >> 2) & 1) << (7 - j))
            c >>= 3
        pal += [r, g, b]
    img.putpalette(pal)
    img.save(path)


def _manifest(root: Path) -> None:
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.name != "MANIFEST.sha256")
    (root / "MANIFEST.sha256").write_text(
        "".join(f"{hashlib.sha256((root / f).read_bytes()).hexdigest()}  {f}\n" for f in files))


@pytest.fixture()
def vocroot(tmp_path) -> Path:
    root = tmp_path / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation",
              "Annotations"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "JPEGImages/a.jpg")
    Image.fromarray(IMG_B).save(root / "JPEGImages/b.png")
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(root / "JPEGImages/c.png")
    _palette_png(root / "SegmentationClass/a.png", CLS_A)
    _palette_png(root / "SegmentationObject/a.png", OBJ_A)
    _palette_png(root / "SegmentationClass/b.png", CLS_B)
    Image.fromarray(OBJ_B.astype(np.uint8)).save(root / "SegmentationObject/b.png")  # greyscale
    _palette_png(root / "SegmentationClass/c.png", np.zeros((4, 5), np.int64))
    (root / "ImageSets/Segmentation/train.txt").write_text("a\nb\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("b\n")
    (root / "ImageSets/Segmentation/mixed.txt").write_text("a\nc\n")
    (root / "Annotations/a.xml").write_text(
        "<annotation><object><name>person</name><difficult>0</difficult><bndbox><xmin>2</xmin>"
        "<ymin>2.0</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object></annotation>")
    return root


def test_palette_standard_values():
    p = voc.VOC_PALETTE
    assert p.shape == (256, 3) and p.dtype == np.uint8
    assert p[0].tolist() == [0, 0, 0] and p[1].tolist() == [128, 0, 0] and p[2].tolist() == [0, 128, 0]
    assert p[15].tolist() == [192, 128, 128] and p[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in p.tolist()}) == 256
    with pytest.raises(ValueError):
        p[0, 0] = 1  # read-only


def test_getitem_reads_exact_values(vocroot):
    ds = voc.VOCSegmentation(vocroot, "train")
    assert ds.ids == ["a", "b"] and len(ds) == 2
    img, mask = ds[0]
    assert img.dtype == torch.float32 and img.shape == (3, H, W)
    jpg = np.array(Image.open(vocroot / "JPEGImages/a.jpg").convert("RGB"))
    assert torch.equal(img, torch.from_numpy(jpg).permute(2, 0, 1).float() / 255)
    assert mask.dtype == torch.int64 and torch.equal(mask, torch.from_numpy(CLS_A))  # 255 kept
    img, mask = ds[1]
    assert torch.equal((img * 255).round().to(torch.uint8), torch.from_numpy(IMG_B).permute(2, 0, 1))
    assert float(img.min()) >= 0 and float(img.max()) <= 1
    assert torch.equal(mask, torch.from_numpy(CLS_B))
    assert torch.equal(ds[-1][1], mask)


def test_instances(vocroot):
    ds = voc.VOCSegmentation(vocroot, "train")
    a = ds.instances(0)
    assert torch.equal(a["instance"], torch.from_numpy(np.where(OBJ_A == 255, 0, OBJ_A)))
    assert torch.equal(a["void"], torch.from_numpy(OBJ_A == 255))
    assert a["classes"].tolist() == [15, 7] and a["classes"].dtype == torch.int64
    assert a["boxes"].tolist() == [[1, 1, 4, 4], [5, 4, 8, 6]]
    b = ds.instances(1)  # ids 3, 5 renumbered to 1, 2
    assert sorted(b["instance"].unique().tolist()) == [0, 1, 2]
    assert torch.equal(b["instance"] == 1, torch.from_numpy(OBJ_B == 3))
    assert b["classes"].tolist() == [1, 2]
    assert b["boxes"].tolist() == [[0, 0, 3, 2], [6, 3, 8, 6]]
    assert not b["void"].any()


def test_transform_and_annotation(vocroot):
    ds = voc.VOCSegmentation(vocroot, "val", transform=lambda im, m: (im.flip(-1), m.flip(-1)))
    assert torch.equal(ds[0][1], torch.from_numpy(CLS_B).flip(-1))
    ds = voc.VOCSegmentation(vocroot, "train")
    assert ds.annotation(0) == [{"name": "person", "box": [1, 1, 4, 4], "difficult": 0}]


def test_load_split(vocroot):
    x, y = voc.load_split(vocroot, "train")
    assert x.shape == (2, 3, H, W) and x.dtype == torch.float32
    assert y.shape == (2, H, W) and y.dtype == torch.int64
    assert torch.equal(y[0], torch.from_numpy(CLS_A))
    with pytest.raises(ValueError, match="equal sizes"):
        voc.load_split(vocroot, "mixed")


def test_manifest_detects_corruption(vocroot):
    assert voc.verify_manifest(vocroot) == 0  # no manifest (real VOC): nothing to check
    _manifest(vocroot)
    assert voc.verify_manifest(vocroot) == len(list(vocroot.rglob("*.*"))) - 1
    voc.VOCSegmentation(vocroot, "train", verify=True)
    f = vocroot / "SegmentationClass" / "b.png"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"SegmentationClass/b\.png"):
        voc.verify_manifest(vocroot)
    with pytest.raises(ValueError, match=r"b\.png"):
        voc.VOCSegmentation(vocroot, "val")
    voc.VOCSegmentation(vocroot, "val", verify=False)  # opt-out
    f.unlink()
    with pytest.raises(ValueError, match=r"b\.png.*missing"):
        voc.verify_manifest(vocroot)


def test_clear_errors_for_bad_roots_and_splits(vocroot, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        voc.VOCSegmentation(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a Pascal VOC layout.*JPEGImages"):
        voc.VOCSegmentation(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="did you mean.*VOC2012"):
        voc.VOCSegmentation(tmp_path)  # the folder above VOCdevkit
    with pytest.raises(FileNotFoundError, match=r"test\.txt.*available splits.*'train'"):
        voc.VOCSegmentation(vocroot, "test")
    with pytest.raises(TypeError, match="root"):
        voc.VOCSegmentation(3)
    with pytest.raises(TypeError, match="split"):
        voc.VOCSegmentation(vocroot, 1)
    ds = voc.VOCSegmentation(vocroot, "train")
    with pytest.raises(ValueError, match="i"):
        ds[2]
    (vocroot / "JPEGImages/b.png").unlink()
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        ds[1]
    with pytest.raises(FileNotFoundError, match="instances_train.json"):
        voc.coco_annotations(vocroot, "train")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12)))
def test_label_png_round_trip(tmp_path, labels):
    f = tmp_path / "l.png"
    voc.write_label_png(f, labels)
    back = voc.read_label_png(f)
    assert back.dtype == np.int64 and np.array_equal(back, labels)
    with Image.open(f) as im:
        assert im.mode == "P"
        assert np.array_equal(np.array(im.getpalette()).reshape(-1, 3)[:256], voc.VOC_PALETTE)
    voc.write_label_png(f, torch.from_numpy(labels.astype(np.int64)))  # torch input too
    assert np.array_equal(voc.read_label_png(f), labels)


def test_rgb_label_png_and_colorize(tmp_path):
    f = tmp_path / "rgb.png"
    Image.fromarray(voc.colorize(CLS_A)).save(f)
    assert np.array_equal(voc.read_label_png(f), CLS_A)
    Image.fromarray(np.full((2, 2, 3), 7, np.uint8)).save(f)
    with pytest.raises(ValueError, match="not in VOC_PALETTE"):
        voc.read_label_png(f)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        voc.read_label_png(tmp_path / "missing.png")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.one_of(
    hnp.arrays(np.int64, (3, 4), elements=st.integers(256, 10**6)),
    hnp.arrays(np.int64, (3, 4), elements=st.integers(-10**6, -1)),
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=3, max_dims=4, max_side=3)),
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=1, max_side=3)),
    hnp.arrays(np.float32, (3, 4)),
    st.lists(st.integers(0, 3), min_size=1, max_size=4)))
def test_write_label_png_rejects_bad_labels(tmp_path, bad):
    with pytest.raises((ValueError, TypeError), match="labels"):
        voc.write_label_png(tmp_path / "x.png", bad)


def test_data_dir_and_load_scenes(vocroot, tmp_path, monkeypatch):
    monkeypatch.delenv("SEGCOURSE_DATA", raising=False)
    assert sc.data_dir() == Path(sc.__file__).resolve().parents[1] / "data"
    monkeypatch.setenv("SEGCOURSE_DATA", str(vocroot.parent))
    assert sc.data_dir() == vocroot.parent
    with pytest.raises(FileNotFoundError, match="./course data"):
        sc.load_scenes()
    vocroot.rename(vocroot.parent / "scenes")
    x, y = sc.load_scenes("val")
    assert x.shape == (1, 3, H, W) and torch.equal(y[0], torch.from_numpy(CLS_B))


def test_coco_annotations(vocroot):
    (vocroot / "annotations").mkdir()
    doc = {"images": [{"id": 1}], "categories": [], "annotations": []}
    (vocroot / "annotations/instances_val.json").write_text(json.dumps(doc))
    assert voc.coco_annotations(vocroot, "val") == doc


def test_render_scenes_matches_the_generator_and_refuses_the_shipped_seed():
    from segcourse.data.scenes import render_scene
    images, masks = sc.render_scenes(3, seed=2, size=64)
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.float32
    assert masks.shape == (3, 64, 64) and masks.dtype == torch.int64
    for k in range(3):
        scene = render_scene(2 * 10**6 + k, 64)
        assert np.array_equal(np.rint(images[k].permute(1, 2, 0).numpy() * 255).astype(np.uint8), scene.image)
        assert np.array_equal(masks[k].numpy(), scene.semantic)
    with pytest.raises(ValueError, match="seed"):
        sc.render_scenes(3, seed=0)
    with pytest.raises(ValueError, match="n"):
        sc.render_scenes(0)


def test_image_uint8_inverts_image_tensor():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(sc.image_uint8(sc.image_tensor(img)), img)
    with pytest.raises(ValueError, match="image"):
        sc.image_uint8(torch.zeros(4, 5, 7))
