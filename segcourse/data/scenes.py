"""Deterministic synthetic scenes: the course's own small segmentation dataset.

Every scene is a ``size x size`` RGB image (128 x 128 by default) with 1-6 objects of five shape
classes (:data:`CLASSES`) on a textured background, plus exact semantic and instance labels.

What makes the scenes a useful (and honest) segmentation benchmark:

* **The class is the shape, never the colour.** Every instance draws its colour and texture
  (flat, stripes, smooth noise, gradient, checker) from one distribution shared by all classes, so
  a network has to look at the outline. Backgrounds are muted (saturation <= 0.3) smooth noise,
  gradients and stripes spanning the whole intensity range, so thresholding the intensity does not
  segment the image (colour saturation hints at object vs background, never at the class).
* **Scales from ~10 px to ~120 px.** About a third of the scenes hold one large object (70-120 px
  across) behind the others; the rest have a log-uniform size of 10-64 px (below ~10 px nobody,
  person or network, can tell a triangle from a star), so some objects cover a
  handful of pixels and others most of the image (receptive-field and multi-scale lessons).
* **Thin parts and fine boundaries.** Crosses have arms 16-30 % of their width (2-3 px for a small
  cross), stars have five sharp spikes; squares, triangles, stars and crosses are rotated at random.
* **Occlusion.** Instances are painted back to front; each instance's mask holds its *visible*
  pixels only, and instances with fewer than :data:`MIN_AREA` visible pixels are dropped (and not
  painted at all). ``Scene.full_area`` keeps the unoccluded area for amodal/occlusion statistics.
* **Anti-aliased edges, exact labels.** Shapes are rendered with 4 x 4 supersampling: the image
  blends each object by its sub-pixel coverage, and a pixel belongs to an object when at least half
  of its 16 sub-samples fall inside it (the object painted last wins).

Determinism: :func:`render_scene` uses only ``np.random.default_rng(seed)``; per-pixel maths uses
only +, -, *, / and comparisons (trigonometry is evaluated on Python scalars only), so no SIMD
transcendental function can change a pixel between machines. ``scene_00042`` of the shipped data
is ``render_scene(42)``.

Shipped size (``python -m segcourse.tooling.make_data --out data/scenes``, made by ``./course data``): 320 training + 80 validation
scenes at 128 x 128, about 10 MB on disk. 320 scenes hold ~1100 instances (over 200 per class):
enough for the lessons' short live runs, but a small FCN trained on them alone overfits (it
separates objects from background well and confuses the shapes), so the shipped FCN checkpoints
add scenes rendered in memory with another dataset seed (``segcourse.data.scene_dataset.render_scenes``). 80
validation scenes (~280 instances, every class present) keep the validation mIoU stable to about a
point while the repository stays light. Larger sets can be written with ``--n-train/--n-val``.

Files written by :func:`segcourse.data.scene_dataset.generate_dataset` (Pascal VOC layout, plus COCO json):

``JPEGImages/<id>.png``
    RGB image (lossless PNG, although real VOC uses .jpg; :class:`segcourse.data.voc.VOCSegmentation`
    accepts both).
``SegmentationClass/<id>.png``
    palette PNG (VOC colours), pixel = class id (0 background).
``SegmentationObject/<id>.png``
    palette PNG, pixel = instance id 0 (none), 1..N in painting order.
``Annotations/<id>.xml``
    VOC XML with one ``<object>`` per instance. ``<bndbox>`` follows the VOC convention:
    1-based, inclusive pixel coordinates, i.e. ``xmin = x1 + 1, ymin = y1 + 1, xmax = x2,
    ymax = y2`` for the 0-based, end-exclusive box ``[x1, y1, x2, y2]`` of :class:`Scene`.
``ImageSets/Segmentation/{train,val,trainval}.txt``
    ids of each split (train: ``scene_00000`` ..., val: the following ids).
``annotations/instances_{train,val}.json``
    COCO instances: RLE ``segmentation`` (pycocotools, counts as str), ``bbox`` ``[x, y, w, h]``
    (0-based, w = x2 - x1), ``area`` (visible pixels), ``iscrowd`` 0; category ids = class ids 1..5,
    image id = scene number + 1.
``README.txt``, ``MANIFEST.sha256``
    a description, and the sha256 of every other file (``sha256sum -c MANIFEST.sha256`` works).
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from .._validate import check_int
from ..ops.labels import IGNORE_INDEX, boxes_from_masks  # IGNORE_INDEX: the generator never emits it

__all__ = ["CLASSES", "NUM_CLASSES", "IGNORE_INDEX", "MIN_AREA", "Scene", "render_scene",
           "DEFAULT_N_TRAIN", "DEFAULT_N_VAL"]

#: Class names; the index is the class id (0 = background).
CLASSES = ("background", "disc", "square", "triangle", "star", "cross")
#: Number of classes including background.
NUM_CLASSES = len(CLASSES)
#: Instances with fewer visible pixels than this are dropped from a scene.
MIN_AREA = 12
#: Size of the shipped splits.
DEFAULT_N_TRAIN = 320
DEFAULT_N_VAL = 80

_SS = 4                     # supersampling factor per axis
_HALF = _SS * _SS // 2      # sub-samples needed for a pixel to belong to an object


@dataclass(frozen=True, eq=False)
class Scene:
    """One rendered scene (numpy arrays; N = number of visible instances).

    image:     (H, W, 3) uint8 RGB.
    semantic:  (H, W) int64 class id per pixel (0 = background).
    instance:  (H, W) int64 instance id per pixel, 0 = none, 1..N in painting order (back to front).
    classes:   (N,) int64 class id of each instance (1..5), ``classes[k - 1]`` for instance k.
    boxes:     (N, 4) float64 ``[x1, y1, x2, y2]`` in pixels, tight around the visible mask,
               x2/y2 exclusive (so ``x2 - x1`` is the width in pixels).
    full_area: (N,) int64 pixels the instance would cover without occluders (inside the image).
    seed:      the seed it was rendered from.
    names:     the class names of its shape family (:data:`CLASSES` unless another family rendered it).
    """

    image: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    classes: np.ndarray
    boxes: np.ndarray
    full_area: np.ndarray
    seed: int
    names: tuple = CLASSES    # class names of the shape family (index = class id)

    @property
    def masks(self) -> np.ndarray:
        """(N, H, W) bool visible mask of each instance."""
        ids = np.arange(1, len(self.classes) + 1)
        return self.instance[None] == ids[:, None, None]

    @property
    def areas(self) -> np.ndarray:
        """(N,) int64 visible pixels of each instance."""
        return np.bincount(self.instance.ravel(), minlength=len(self.classes) + 1)[1:].astype(np.int64)

    def __repr__(self) -> str:
        names = ", ".join(self.names[c] for c in self.classes)
        return f"Scene(seed={self.seed}, size={self.image.shape[:2]}, instances=[{names}])"


# ----------------------------------------------------------------------------------------------
# random colours and textures (identical distribution for every class)

def _random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.3, 1.0),
                   val: tuple[float, float] = (0.2, 1.0)) -> np.ndarray:
    h, s, v = rng.random(), rng.uniform(*sat), rng.uniform(*val)
    return np.array(colorsys.hsv_to_rgb(h, s, v))


_BG_SAT = (0.0, 0.3)   # backgrounds: muted colours over the full intensity range
_BG_VAL = (0.05, 1.0)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w) bilinear upsampling of a (cells+1)^2 uniform grid, values in [0, 1]."""
    grid = rng.random((cells + 1, cells + 1))
    ys = (np.arange(h) + 0.5) * (cells / h)
    xs = (np.arange(w) + 0.5) * (cells / w)
    y0 = np.minimum(ys.astype(np.int64), cells - 1)
    x0 = np.minimum(xs.astype(np.int64), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    top = a + (b - a) * fx
    bot = c + (d - c) * fx
    return top + (bot - top) * fy


def _tri_wave(t: np.ndarray) -> np.ndarray:
    """Period-1 triangle wave in [0, 1], smoothed with a cubic (no transcendental functions)."""
    f = t - np.floor(t)
    tri = 1.0 - np.abs(2.0 * f - 1.0)
    return tri * tri * (3.0 - 2.0 * tri)


def _texture(rng: np.random.Generator, h: int, w: int, scale: float,
             sat: tuple[float, float] = (0.3, 1.0)) -> np.ndarray:
    """(h, w, 3) float texture in [0, 1]: a random colour plus a pattern of random contrast.

    ``scale`` (pixels) sets the pattern size; the same code textures objects of every class.
    """
    c1 = _random_colour(rng, sat)
    c2 = _random_colour(rng, sat)
    contrast = rng.uniform(0.15, 1.0)
    c2 = c1 + (c2 - c1) * contrast
    kind = int(rng.integers(0, 5))
    ang = rng.uniform(0.0, math.pi)
    ca, sa = math.cos(ang), math.sin(ang)
    yy = np.arange(h, dtype=np.float64)[:, None] + rng.uniform(0, 64)
    xx = np.arange(w, dtype=np.float64)[None, :] + rng.uniform(0, 64)
    u = xx * ca + yy * sa
    if kind == 0:    # flat colour with a faint shading
        t = np.zeros((h, w)) + 0.15 * (u - u.min()) / max(float(u.max() - u.min()), 1.0)
    elif kind == 1:  # stripes
        period = rng.uniform(3.0, max(4.0, 0.6 * scale))
        t = _tri_wave(u / period)
    elif kind == 2:  # smooth noise
        cells = int(rng.integers(2, 7))
        t = _smooth_noise(rng, h, w, cells)
    elif kind == 3:  # linear gradient
        t = (u - u.min()) / max(float(u.max() - u.min()), 1.0)
    else:            # checker
        period = rng.uniform(4.0, max(5.0, 0.8 * scale))
        v = -xx * sa + yy * ca
        t = np.abs(_tri_wave(u / period) - _tri_wave(v / period))
    return c1 + (c2 - c1) * t[..., None]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) textured background: smooth noise between two colours + optional layers."""
    ca, cb = _random_colour(rng, _BG_SAT, _BG_VAL), _random_colour(rng, _BG_SAT, _BG_VAL)
    field = _smooth_noise(rng, size, size, int(rng.integers(1, 6)))
    img = ca + (cb - ca) * field[..., None]
    if rng.random() < 0.5:  # a global gradient towards a third colour
        cc = _random_colour(rng, _BG_SAT, _BG_VAL)
        ang = rng.uniform(0.0, 2 * math.pi)
        ca_, sa_ = math.cos(ang), math.sin(ang)
        ax = np.arange(size, dtype=np.float64)
        u = ax[None, :] * ca_ + ax[:, None] * sa_
        u = (u - u.min()) / (u.max() - u.min()) * rng.uniform(0.3, 0.9)
        img = img + (cc - img) * u[..., None]
    if rng.random() < 0.5:  # stripes of random colour, period and contrast
        img = img + (_texture(rng, size, size, size / 4, _BG_SAT) - img) * rng.uniform(0.1, 0.4)
    return img


# ----------------------------------------------------------------------------------------------
# shapes: sub-pixel coverage counts

def _polygon(cls: int, cx: float, cy: float, r: float, ang: float, extra: float) -> list[tuple[float, float]]:
    """Vertices of a shape of circumradius r (class ids of CLASSES)."""
    if cls == 2:    # square
        pts = [(math.pi / 4 + k * math.pi / 2, r) for k in range(4)]
    elif cls == 3:  # equilateral triangle
        pts = [(-math.pi / 2 + k * 2 * math.pi / 3, r) for k in range(3)]
    elif cls == 4:  # five-pointed star; extra = inner / outer radius
        pts = [(-math.pi / 2 + k * math.pi / 5, r if k % 2 == 0 else r * extra) for k in range(10)]
    elif cls == 5:  # cross (plus sign) of half-length a and half arm width t, with r = |(a, t)|
        t = extra
        a = r / math.sqrt(1.0 + t * t)
        t *= a
        local = [(t, a), (t, t), (a, t), (a, -t), (t, -t), (t, -a),
                 (-t, -a), (-t, -t), (-a, -t), (-a, t), (-t, t), (-t, a)]
        ca, sa = math.cos(ang), math.sin(ang)
        return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in local]
    else:
        raise ValueError(f"no polygon for class {cls}")
    return [(cx + rad * math.cos(a + ang), cy + rad * math.sin(a + ang)) for a, rad in pts]


def _subsample_grid(cx: float, cy: float, r: float, size: int):
    """The sub-sample centres of the clipped square region around (cx, cy) of half-side r + 1 px:
    ``(y0, y1, x0, x1, py (h*_SS, 1), px (1, w*_SS))``, or None when the region is empty."""
    y0, y1 = max(int(math.floor(cy - r)) - 1, 0), min(int(math.ceil(cy + r)) + 1, size)
    x0, x1 = max(int(math.floor(cx - r)) - 1, 0), min(int(math.ceil(cx + r)) + 1, size)
    if y0 >= y1 or x0 >= x1:
        return None
    py = ((np.arange((y1 - y0) * _SS) + 0.5) / _SS + y0)[:, None]
    px = ((np.arange((x1 - x0) * _SS) + 0.5) / _SS + x0)[None, :]
    return y0, y1, x0, x1, py, px


def _inside_polygon(verts: list[tuple[float, float]], px: np.ndarray, py: np.ndarray,
                    inside: np.ndarray | None = None) -> np.ndarray:
    """Even-odd rule: (h, w) bool of the sub-samples inside the closed polygon ``verts``; passing
    ``inside`` XORs another loop into it (a hole, for shapes with several loops)."""
    if inside is None:
        inside = np.zeros((py.shape[0], px.shape[1]), dtype=bool)
    for (xa, ya), (xb, yb) in zip(verts, verts[1:] + verts[:1]):
        if ya == yb:
            continue
        crosses = (ya > py) != (yb > py)                      # (h, 1)
        xint = xa + (py - ya) * ((xb - xa) / (yb - ya))       # (h, 1)
        inside ^= crosses & (px < xint)
    return inside


def _counts(inside: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> tuple[slice, slice, np.ndarray]:
    """Sub-sample counts (0.._SS**2) per pixel of an inside/outside map of the sub-samples."""
    cov = inside.reshape(y1 - y0, _SS, x1 - x0, _SS).sum(axis=(1, 3), dtype=np.int64)
    return slice(y0, y1), slice(x0, x1), cov


def _coverage(cls: int, cx: float, cy: float, r: float, ang: float, extra: float,
              size: int) -> tuple[slice, slice, np.ndarray] | None:
    """Sub-sample counts (0.._SS**2) of the shape over its clipped bounding region, or None."""
    grid = _subsample_grid(cx, cy, r, size)
    if grid is None:
        return None
    y0, y1, x0, x1, py, px = grid
    if cls == 1:
        inside = (px - cx) * (px - cx) + (py - cy) * (py - cy) <= r * r
    else:
        inside = _inside_polygon(_polygon(cls, cx, cy, r, ang, extra), px, py)
    return _counts(inside, y0, y1, x0, x1)


def _course_shape_params(rng: np.random.Generator, cls: int) -> tuple[float, float]:
    """(angle, extra) of a course-class object (the draws' order is part of the shipped data)."""
    ang = rng.uniform(0.0, 2 * math.pi) if cls != 1 else 0.0
    extra = {4: rng.uniform(0.36, 0.5), 5: rng.uniform(0.16, 0.3)}.get(cls, 0.0)
    return ang, extra


def _sample_objects(rng: np.random.Generator, size: int, num_classes: int = NUM_CLASSES,
                    shape_params=_course_shape_params) -> list[dict]:
    """Sizes, classes (1..num_classes - 1), positions (with occlusion), and ``shape_params(rng,
    cls) -> (angle, extra)`` of a scene's objects."""
    k = size / 128.0
    objs = []
    if rng.random() < 0.33:  # one large object at the back
        objs.append(dict(diam=rng.uniform(70, 120) * k, large=True))
    for _ in range(int(rng.integers(1, 7)) - len(objs)):
        objs.append(dict(diam=max(10.0 * k, math.exp(rng.uniform(math.log(10), math.log(64))) * k), large=False))
    for i, o in enumerate(objs):
        o["cls"] = int(rng.integers(1, num_classes))
        lo, hi = (0.3, 0.7) if o["large"] else (0.04, 0.96)
        o["cx"], o["cy"] = rng.uniform(lo, hi) * size, rng.uniform(lo, hi) * size
        if i > 0 and rng.random() < 0.45:  # overlap an earlier object: partial occlusion
            a = objs[int(rng.integers(0, i))]
            d = rng.uniform(0.35, 0.9) * (a["diam"] + o["diam"]) / 2
            t = rng.uniform(0.0, 2 * math.pi)
            o["cx"] = min(max(a["cx"] + d * math.cos(t), lo * size), hi * size)
            o["cy"] = min(max(a["cy"] + d * math.sin(t), lo * size), hi * size)
        o["ang"], o["extra"] = shape_params(rng, o["cls"])
        o["texture_seed"] = int(rng.integers(0, 2**63))
    return objs


def _paint(objs: list[dict], bg: np.ndarray, size: int, coverage=_coverage):
    img = bg.copy()
    owner = np.zeros((size, size), dtype=np.int64)      # index into objs, +1
    full = []
    for i, o in enumerate(objs):
        res = coverage(o["cls"], o["cx"], o["cy"], o["diam"] / 2, o["ang"], o["extra"], size)
        if res is None:
            full.append(0)
            continue
        sy, sx, cov = res
        h, w = cov.shape
        tex = _texture(np.random.default_rng(o["texture_seed"]), h, w, o["diam"])
        alpha = (cov / (_SS * _SS))[..., None]
        img[sy, sx] = img[sy, sx] * (1.0 - alpha) + tex * alpha
        own = cov >= _HALF
        owner[sy, sx][own] = i + 1
        full.append(int(own.sum()))
    return img, owner, np.array(full, dtype=np.int64)


def render_scene(seed: int, size: int = 128) -> Scene:
    """Render scene number ``seed`` (same seed, same bytes on every machine).

    seed: int >= 0, fed to ``np.random.default_rng(seed)`` (the only source of randomness).
    size: image side in pixels (32..1024; object sizes scale with ``size / 128``).
    Returns a :class:`Scene` with image (H, W, 3) uint8, semantic (H, W) int64, instance (H, W)
    int64, classes (N,) int64, boxes (N, 4) float64 [x1, y1, x2, y2) and full_area (N,) int64.
    """
    seed = check_int(seed, "seed", min_value=0)
    size = check_int(size, "size", min_value=32, max_value=1024)
    return _render(np.random.default_rng(seed), seed, size, NUM_CLASSES, _course_shape_params, _coverage)


def _render(rng: np.random.Generator, seed: int, size: int, num_classes: int, shape_params, coverage,
            names: tuple = CLASSES) -> Scene:
    """Background, objects (:func:`_sample_objects`), painting with ``coverage``, labels: the
    scene of a shape family (the course's five classes, or :mod:`segcourse.data.shapes`)."""
    bg = _background(rng, size)
    objs = _sample_objects(rng, size, num_classes, shape_params)
    while True:
        img, owner, full = _paint(objs, bg, size, coverage)
        visible = np.bincount(owner.ravel(), minlength=len(objs) + 1)[1:]
        keep = [o for o, a in zip(objs, visible) if a >= MIN_AREA]
        if len(keep) < len(objs):  # dropping only uncovers the others: one repaint suffices
            objs = keep
            img, owner, full = _paint(objs, bg, size, coverage)
        if objs:
            break
        objs = _sample_objects(rng, size, num_classes, shape_params)  # (rare) every object was too small

    classes = np.array([o["cls"] for o in objs], dtype=np.int64)
    instance = owner
    semantic = np.concatenate([[0], classes])[instance]
    boxes = boxes_from_masks(instance[None] == np.arange(1, len(objs) + 1)[:, None, None]).astype(np.float64)
    image = np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Scene(image=image, semantic=semantic.astype(np.int64), instance=instance, classes=classes,
                 boxes=boxes, full_area=full, seed=seed, names=names)
