"""Pascal VOC layout loader: the course scenes (``data/scenes``) and the real VOC2012 alike.

Expected layout under ``root`` (e.g. ``VOCdevkit/VOC2012`` or ``data/scenes``)::

    JPEGImages/<id>.jpg or <id>.png          RGB image
    SegmentationClass/<id>.png               palette PNG, pixel = class id, 255 = void (ignored)
    SegmentationObject/<id>.png              palette PNG, pixel = instance id, 255 = void
    ImageSets/Segmentation/<split>.txt       one id per line
    Annotations/<id>.xml                     (optional) VOC XML boxes
    annotations/instances_<split>.json       (optional, course scenes) COCO instances
    MANIFEST.sha256                          (optional, course scenes) checked by verify_manifest

Tensors returned by this module are torch tensors; ``read_label_png`` returns numpy.
"""
from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from .._validate import as_array, check_int
from ..ops.labels import boxes_from_masks
from .images import image_tensor

__all__ = ["VOC_PALETTE", "VOC_CLASSES", "read_label_png", "write_label_png", "write_rgb_png",
           "colorize", "read_voc_xml", "VOCSegmentation", "verify_manifest", "read_manifest",
           "write_manifest", "file_sha256",
           "load_split", "coco_annotations"]

#: The 21 classes of real Pascal VOC 2012 (for reference; the course scenes use ``scenes.CLASSES``).
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


def _voc_palette() -> np.ndarray:
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):  # interleave the bits of the label into the high bits of r, g, b
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    pal.setflags(write=False)
    return pal


#: (256, 3) uint8 standard Pascal VOC colour map (label 1 = (128, 0, 0), 255 = (224, 224, 192)).
VOC_PALETTE = _voc_palette()


def _as_path(path, name: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike path, got {type(path).__name__}")
    return Path(path)


def read_label_png(path) -> np.ndarray:
    """Read a label PNG (palette "P" or greyscale "L") as an (H, W) int64 array of raw indices.

    An RGB-coded label image is mapped back through :data:`VOC_PALETTE`; a colour that is not in
    the palette raises ValueError.
    """
    from PIL import Image
    path = _as_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"path: label image {path} does not exist")
    with Image.open(path) as img:
        if img.mode in ("P", "L"):
            return np.asarray(img, dtype=np.uint8).astype(np.int64)
        if img.mode in ("RGB", "RGBA"):
            rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
            code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            pal = VOC_PALETTE.astype(np.int64)
            pcode = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
            lut = {int(c): i for i, c in enumerate(pcode)}
            uniq, inv = np.unique(code, return_inverse=True)
            missing = [u for u in uniq.tolist() if u not in lut]
            if missing:
                u = missing[0]
                raise ValueError(f"path: {path} is an RGB label image with colour "
                                 f"{(u >> 16, (u >> 8) & 255, u & 255)} not in VOC_PALETTE")
            return np.array([lut[u] for u in uniq.tolist()], dtype=np.int64)[inv].reshape(code.shape)
        raise ValueError(f"path: {path} has PIL mode {img.mode!r}; expected a palette ('P') or "
                         "greyscale ('L') label PNG")


def write_label_png(path, labels) -> None:
    """Write labels (H, W) with values 0..255 as a palette PNG with :data:`VOC_PALETTE`.

    The PNG is written deterministically (no metadata, fixed compression): same labels, same bytes.
    """
    from PIL import Image
    path = _as_path(path, "path")
    arr = as_array(labels, "labels", ndim=2, kind="int", min_value=0, max_value=255)
    h, w = arr.shape
    img = Image.frombytes("P", (w, h), np.ascontiguousarray(arr.astype(np.uint8)).tobytes())
    img.putpalette(VOC_PALETTE.tobytes(), rawmode="RGB")
    img.save(path, format="PNG", optimize=False, compress_level=6)


def write_rgb_png(path, image) -> None:
    """Write an (H, W, 3) uint8 RGB image as a PNG, deterministically (no metadata, fixed
    compression, like :func:`write_label_png`): same pixels, same bytes."""
    from PIL import Image
    path = _as_path(path, "path")
    arr = as_array(image, "image", ndim=3, kind="int", min_value=0, max_value=255)
    if arr.shape[-1] != 3:
        raise ValueError(f"image: expected shape (H, W, 3), got {arr.shape}")
    h, w, _ = arr.shape
    Image.frombytes("RGB", (w, h), np.ascontiguousarray(arr.astype(np.uint8)).tobytes()).save(
        path, format="PNG", optimize=False, compress_level=6)


def colorize(labels) -> np.ndarray:
    """(H, W) labels 0..255 -> (H, W, 3) uint8 RGB with the VOC colours (255 = void, cream; for display)."""
    arr = as_array(labels, "labels", ndim=2, kind="int", min_value=0, max_value=255)
    return VOC_PALETTE[arr.astype(np.int64)]


def read_voc_xml(path) -> list[dict]:
    """Objects of a VOC XML annotation: ``[{"name", "box": [x1, y1, x2, y2], "difficult"}, ...]``.

    VOC ``<bndbox>`` values are 1-based and inclusive; ``box`` is converted to 0-based pixel
    coordinates with x2/y2 exclusive (``x1 = xmin - 1, x2 = xmax``), like ``Scene.boxes``.
    Real VOC sometimes stores float strings ("273.0"); they are accepted.
    """
    path = _as_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"path: annotation {path} does not exist")
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        raise ValueError(f"path: {path} is not valid XML ({e})") from None
    out = []
    for obj in tree.getroot().iter("object"):
        bb = obj.find("bndbox")
        name = obj.findtext("name")
        if bb is None or name is None:
            raise ValueError(f"path: {path} has an <object> without <name> or <bndbox>")
        xmin, ymin, xmax, ymax = (int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
        out.append({"name": name.strip(), "box": [xmin - 1, ymin - 1, xmax, ymax],
                    "difficult": int(obj.findtext("difficult") or 0)})
    return out


# ----------------------------------------------------------------------------------------------

MANIFEST = "MANIFEST.sha256"


def file_sha256(path) -> str:
    """The sha256 hex digest of a file's bytes."""
    return hashlib.sha256(_as_path(path, "path").read_bytes()).hexdigest()


def read_manifest(root) -> list[tuple[str, str]]:
    """The ``(sha256, relative path)`` lines of ``root/MANIFEST.sha256`` (``sha256sum`` format);
    an empty list when there is no manifest (e.g. real VOC). ValueError on a malformed line."""
    manifest = _as_path(root, "root") / MANIFEST
    if not manifest.is_file():
        return []
    entries = []
    for lineno, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{manifest}: line {lineno} is not '<sha256>  <path>': {line!r}")
        entries.append((parts[0].lower(), parts[1].strip().lstrip("*")))
    return entries


def write_manifest(root) -> Path:
    """Write ``root/MANIFEST.sha256``: the sha256 of every other file below ``root``, sorted by path
    (``sha256sum -c MANIFEST.sha256`` checks it)."""
    root = _as_path(root, "root")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.name != MANIFEST)
    path = root / MANIFEST
    path.write_text("".join(f"{file_sha256(root / f)}  {f}\n" for f in files))
    return path


def verify_manifest(root) -> int:
    """Check every file listed in ``root/MANIFEST.sha256`` (``sha256sum`` format).

    Returns the number of files checked (0 when there is no manifest, e.g. real VOC). Raises
    ValueError naming the first file that is missing or whose sha256 differs.
    """
    root = _as_path(root, "root")
    entries = read_manifest(root)
    for digest, rel in entries:
        f = root / rel
        if not f.is_file():
            raise ValueError(f"{f}: listed in {root / MANIFEST} but missing")
        if file_sha256(f) != digest:
            raise ValueError(f"{f}: sha256 does not match {root / MANIFEST} (file corrupted or modified; "
                             "regenerate with `./course data` (python -m segcourse.tooling.make_data --out <root>))")
    return len(entries)


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise FileNotFoundError(f"root: {root} is not a folder; expected a Pascal VOC layout "
                                "(JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)")
    missing = [d for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")
               if not (root / d).is_dir()]
    if missing:
        hint = ""
        if (root / "VOC2012").is_dir():
            hint = f" (did you mean {root / 'VOC2012'}?)"
        elif (root / "VOCdevkit" / "VOC2012").is_dir():
            hint = f" (did you mean {root / 'VOCdevkit' / 'VOC2012'}?)"
        raise FileNotFoundError(f"root: {root} is not a Pascal VOC layout, missing "
                                f"{', '.join(d + '/' for d in missing)}{hint}")


def _read_ids(root: Path, split: str) -> list[str]:
    if not isinstance(split, str):
        raise TypeError(f"split: expected a str like 'train', got {type(split).__name__}")
    f = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not f.is_file():
        have = sorted(p.stem for p in (root / "ImageSets" / "Segmentation").glob("*.txt"))
        raise FileNotFoundError(f"split: {f} does not exist; available splits: {have}")
    ids = [line.split()[0] for line in f.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split: {f} lists no ids")
    return ids


class VOCSegmentation(torch.utils.data.Dataset):
    """Semantic (and instance) segmentation samples from a Pascal VOC layout folder.

    root:      VOC root (``VOCdevkit/VOC2012``, ``data/scenes``, ...).
    split:     name of ``ImageSets/Segmentation/<split>.txt`` ("train", "val", "trainval").
    verify:    check ``MANIFEST.sha256`` if the folder has one (real VOC has none: skipped).
    transform: optional callable ``(image, mask) -> (image, mask)`` applied by ``__getitem__``.

    ``ds[i]`` is ``(image, mask)``: image float32 (3, H, W) in [0, 1], mask int64 (H, W) with the
    class ids and 255 for void pixels (pass ``ignore_index=255`` to the loss).
    """

    def __init__(self, root, split: str = "train", verify: bool = True, transform=None):
        self.root = _as_path(root, "root")
        _check_root(self.root)
        self.split = split
        self.ids = _read_ids(self.root, split)
        if not isinstance(verify, bool):
            raise TypeError(f"verify: expected a bool, got {type(verify).__name__}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform: expected a callable or None, got {type(transform).__name__}")
        self.transform = transform
        if verify:
            verify_manifest(self.root)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"VOCSegmentation(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"

    def _index(self, i) -> int:
        i = check_int(i, "i", min_value=-len(self.ids), max_value=len(self.ids) - 1)
        return i % len(self.ids)

    def image_path(self, i: int) -> Path:
        """Path of image ``i`` (``JPEGImages/<id>.jpg`` or ``.png``)."""
        sid = self.ids[self._index(i)]
        for ext in (".jpg", ".png", ".jpeg", ".JPG", ".PNG"):
            p = self.root / "JPEGImages" / f"{sid}{ext}"
            if p.is_file():
                return p
        raise FileNotFoundError(f"image {sid!r}: expected {self.root / 'JPEGImages' / sid}.jpg or .png")

    def read_image(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB image ``i``."""
        from PIL import Image
        with Image.open(self.image_path(i)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()

    def read_mask(self, i: int) -> np.ndarray:
        """(H, W) int64 class ids of image ``i`` (255 = void)."""
        sid = self.ids[self._index(i)]
        return read_label_png(self.root / "SegmentationClass" / f"{sid}.png")

    def __getitem__(self, i):
        img = self.read_image(i)
        mask = self.read_mask(i)
        if img.shape[:2] != mask.shape:
            raise ValueError(f"image {self.ids[self._index(i)]!r}: image is {img.shape[:2]} but its "
                             f"SegmentationClass mask is {mask.shape}")
        image = image_tensor(img)
        mask_t = torch.from_numpy(mask)
        if self.transform is not None:
            image, mask_t = self.transform(image, mask_t)
        return image, mask_t

    def instances(self, i: int) -> dict:
        """Instance annotation of image ``i`` from SegmentationObject + SegmentationClass.

        Returns a dict of torch tensors:
          ``instance`` (H, W) int64: 0 = background or void, 1..N (renumbered in increasing order
          of the ids in the PNG); ``void`` (H, W) bool: pixels labelled 255 in SegmentationObject;
          ``classes`` (N,) int64: majority class of each instance's pixels (void excluded);
          ``boxes`` (N, 4) float32 ``[x1, y1, x2, y2]`` tight around each mask, x2/y2 exclusive.
        """
        sid = self.ids[self._index(i)]
        obj_path = self.root / "SegmentationObject" / f"{sid}.png"
        if not obj_path.is_file():
            raise FileNotFoundError(f"instances: {obj_path} does not exist; this VOC root has no "
                                    "instance masks for that id")
        obj = read_label_png(obj_path)
        cls = self.read_mask(i)
        if obj.shape != cls.shape:
            raise ValueError(f"instances: {obj_path} is {obj.shape} but the class mask is {cls.shape}")
        void = obj == 255
        ids = np.unique(obj[(obj != 0) & ~void])
        lut = np.zeros(256, dtype=np.int64)
        lut[ids] = np.arange(1, len(ids) + 1)
        instance = lut[obj]
        classes = np.zeros(len(ids), dtype=np.int64)
        masks = instance[None] == np.arange(1, len(ids) + 1)[:, None, None]
        boxes = boxes_from_masks(masks).astype(np.float32)
        for k in range(len(ids)):
            counts = np.bincount(cls[masks[k]], minlength=256)
            counts[[0, 255]] = 0
            classes[k] = int(counts.argmax()) if counts.any() else 0
        return {"instance": torch.from_numpy(instance), "void": torch.from_numpy(void),
                "classes": torch.from_numpy(classes), "boxes": torch.from_numpy(boxes)}

    def annotation(self, i: int) -> list[dict]:
        """Objects of ``Annotations/<id>.xml`` (see :func:`read_voc_xml`)."""
        return read_voc_xml(self.root / "Annotations" / f"{self.ids[self._index(i)]}.xml")


def load_split(root, split: str = "train", verify: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a whole split in memory: images (N, 3, H, W) float32 in [0, 1], masks (N, H, W) int64.

    All images must have the same size (true for the course scenes, not for real VOC: ValueError).
    """
    ds = VOCSegmentation(root, split, verify=verify)
    images, masks = [], []
    for i in range(len(ds)):
        img, mask = ds[i]
        if images and img.shape != images[0].shape:
            raise ValueError(f"load_split: image {ds.ids[i]!r} is {tuple(img.shape[1:])} but "
                             f"{ds.ids[0]!r} is {tuple(images[0].shape[1:])}; load_split needs "
                             "equal sizes (use VOCSegmentation with a transform instead)")
        images.append(img)
        masks.append(mask)
    return torch.stack(images), torch.stack(masks)


def coco_annotations(root, split: str = "train") -> dict:
    """The COCO-style dict of ``root/annotations/instances_<split>.json``."""
    root = _as_path(root, "root")
    if not isinstance(split, str):
        raise TypeError(f"split: expected a str like 'train', got {type(split).__name__}")
    f = root / "annotations" / f"instances_{split}.json"
    if not f.is_file():
        raise FileNotFoundError(f"coco_annotations: {f} does not exist; expected the COCO json of "
                                f"split {split!r} in <root>/annotations/")
    return json.loads(f.read_text())
