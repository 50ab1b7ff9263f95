"""A richer shape family for lesson 12 (Learning to Segment Every Thing): 24 classes in related
groups, split into classes whose masks are given (A) and classes with boxes only (B).

Scenes are made by the course renderer (:mod:`segcourse.data.scenes`: same backgrounds, textures,
sizes, occlusion, 4 x 4 supersampled coverage, exact labels); only the shapes differ. Every B
class has relatives in A (the 7-point star between the 6- and 8-point stars, the pentagon between
the square and the hexagon, the T next to the L and the plus ...), so a mask head that learned
something class-specific from A could carry it over to B.

Determinism as in :func:`segcourse.data.scenes.render_scene`: one ``np.random.default_rng``, per
pixel only +, -, *, / and comparisons. Scene ``seed`` uses ``np.random.default_rng([seed,
SHAPES_STREAM])``, so it never repeats the course scene of the same number.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import check_int
from .scenes import Scene, _counts, _inside_polygon, _render, _subsample_grid

__all__ = ["SHAPE_CLASSES", "SHAPE_GROUPS", "SHAPES_A", "SHAPES_B", "SHAPE_RELATIVES", "NUM_SHAPE_CLASSES",
           "render_shapes_scene", "shape_class_ids", "shape_gallery"]

#: Class names of the family; the index is the class id (0 = background).
SHAPE_CLASSES = ("background",
                 "triangle", "square", "pentagon", "hexagon", "octagon",          # 1-5 regular polygons
                 "star4", "star5", "star6", "star7", "star8",                     # 6-10 stars
                 "plus", "T", "L", "H",                                          # 11-14 bar letters
                 "disc", "ring", "crescent", "half_disc", "ellipse",              # 15-19 round
                 "bar", "frame", "arrow", "double_arrow", "chevron")               # 20-24 others
NUM_SHAPE_CLASSES = len(SHAPE_CLASSES)
#: The groups of relatives (for pictures and tables).
SHAPE_GROUPS = {"polygons": ("triangle", "square", "pentagon", "hexagon", "octagon"),
                "stars": ("star4", "star5", "star6", "star7", "star8"),
                "letters": ("plus", "T", "L", "H"),
                "round": ("disc", "ring", "crescent", "half_disc", "ellipse"),
                "others": ("bar", "frame", "arrow", "double_arrow", "chevron")}
#: Held-out classes (boxes only in training) and, for each, its nearest relative in A.
SHAPE_RELATIVES = {"pentagon": "hexagon", "star7": "star6", "T": "L", "ellipse": "disc",
                   "frame": "square", "double_arrow": "arrow"}
SHAPES_B = tuple(SHAPE_RELATIVES)
#: Classes whose masks train the partially supervised heads.
SHAPES_A = tuple(c for c in SHAPE_CLASSES[1:] if c not in SHAPES_B)
#: ``np.random.default_rng([seed, SHAPES_STREAM])`` renders shapes scene ``seed``.
SHAPES_STREAM = 12


def shape_class_ids(names) -> list[int]:
    """Class ids of shape names (e.g. :data:`SHAPES_B`)."""
    out = []
    for n in names:
        if n not in SHAPE_CLASSES[1:]:
            raise ValueError(f"names: {n!r} is not a class of SHAPE_CLASSES")
        out.append(SHAPE_CLASSES.index(n))
    return out


_POLY_SIDES = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6, "octagon": 8}
_STAR_POINTS = {"star4": 4, "star5": 5, "star6": 6, "star7": 7, "star8": 8}


def _shape_params(rng: np.random.Generator, cls: int) -> tuple[float, float]:
    """(angle, extra): a random rotation (none for the disc and ring) and the class's free
    proportion (star inner radius, bar / arm width, ring hole, crescent bite, ellipse axis ratio)."""
    name = SHAPE_CLASSES[cls]
    ang = 0.0 if name in ("disc", "ring") else rng.uniform(0.0, 2 * math.pi)
    lo, hi = {"star4": (0.35, 0.5), "star5": (0.38, 0.52), "star6": (0.42, 0.56), "star7": (0.46, 0.6),
              "star8": (0.5, 0.64), "plus": (0.2, 0.32), "T": (0.2, 0.32), "L": (0.22, 0.34),
              "H": (0.18, 0.28), "ring": (0.45, 0.65), "crescent": (0.45, 0.65), "ellipse": (0.4, 0.6),
              "bar": (0.25, 0.4), "frame": (0.5, 0.7), "arrow": (0.12, 0.2), "double_arrow": (0.12, 0.2),
              "chevron": (0.4, 0.6)}.get(name, (0.0, 0.0))
    return ang, rng.uniform(lo, hi)


def _loops(name: str, r: float, extra: float) -> list[list[tuple[float, float]]]:
    """The closed polygon loops of a polygonal shape in local coordinates (centre 0, circumradius
    <= r, unrotated); several loops combine by the even-odd rule (a frame = outer minus inner)."""
    if name in _POLY_SIDES:
        n = _POLY_SIDES[name]
        return [[(r * math.cos(-math.pi / 2 + k * 2 * math.pi / n), r * math.sin(-math.pi / 2 + k * 2 * math.pi / n))
                 for k in range(n)]]
    if name in _STAR_POINTS:
        n = _STAR_POINTS[name]
        return [[((r if k % 2 == 0 else r * extra) * math.cos(-math.pi / 2 + k * math.pi / n),
                  (r if k % 2 == 0 else r * extra) * math.sin(-math.pi / 2 + k * math.pi / n)) for k in range(2 * n)]]
    a = r / math.sqrt(2.0)              # half side of the letters' square
    w = 2 * extra * a                   # bar thickness
    if name == "plus":
        t = extra * a
        return [[(t, a), (t, t), (a, t), (a, -t), (t, -t), (t, -a),
                 (-t, -a), (-t, -t), (-a, -t), (-a, t), (-t, t), (-t, a)]]
    if name == "T":
        t = extra * a
        return [[(-a, -a), (a, -a), (a, -a + w), (t, -a + w), (t, a), (-t, a), (-t, -a + w), (-a, -a + w)]]
    if name == "L":
        return [[(-a, -a), (-a + w, -a), (-a + w, a - w), (a, a - w), (a, a), (-a, a)]]
    if name == "H":
        t = extra * a
        return [[(-a, -a), (-a + w, -a), (-a + w, -t), (a - w, -t), (a - w, -a), (a, -a), (a, a), (a - w, a),
                 (a - w, t), (-a + w, t), (-a + w, a), (-a, a)]]
    if name == "bar":
        L = r / math.sqrt(1.0 + extra * extra)
        return [[(-L, -extra * L), (L, -extra * L), (L, extra * L), (-L, extra * L)]]
    if name == "frame":
        b = extra * a
        return [[(-a, -a), (a, -a), (a, a), (-a, a)], [(-b, -b), (b, -b), (b, b), (-b, b)]]
    if name in ("arrow", "double_arrow"):
        L, s, hw, h = 0.92 * r, extra * 0.92 * r, 0.42 * 0.92 * r, 0.55 * 0.92 * r
        if name == "arrow":
            return [[(-L, -s), (L - h, -s), (L - h, -hw), (L, 0.0), (L - h, hw), (L - h, s), (-L, s)]]
        h = 0.45 * L
        return [[(-L, 0.0), (-L + h, -hw), (-L + h, -s), (L - h, -s), (L - h, -hw), (L, 0.0), (L - h, hw),
                 (L - h, s), (-L + h, s), (-L + h, hw)]]
    if name == "chevron":
        w = extra * a
        return [[(-a, -a), (-a + w, -a), (a, 0.0), (-a + w, a), (-a, a), (a - w, 0.0)]]
    raise ValueError(f"no polygon for {name}")


def _shape_coverage(cls: int, cx: float, cy: float, r: float, ang: float, extra: float,
                    size: int) -> tuple[slice, slice, np.ndarray] | None:
    """Sub-sample counts (0..16) of shape class ``cls`` over its clipped bounding region, or None."""
    grid = _subsample_grid(cx, cy, r, size)
    if grid is None:
        return None
    y0, y1, x0, x1, py, px = grid
    name = SHAPE_CLASSES[cls]
    ca, sa = math.cos(ang), math.sin(ang)
    dx, dy = px - cx, py - cy
    if name in ("disc", "ring", "crescent", "half_disc", "ellipse"):
        d2 = dx * dx + dy * dy
        if name == "disc":
            inside = d2 <= r * r
        elif name == "ring":
            inside = (d2 <= r * r) & (d2 > (extra * r) * (extra * r))
        elif name == "crescent":   # a disc minus a disc of radius 0.8 r shifted by extra * r along ang
            ox, oy = extra * r * ca, extra * r * sa
            ex, ey = dx - ox, dy - oy
            inside = (d2 <= r * r) & (ex * ex + ey * ey > (0.8 * r) * (0.8 * r))
        elif name == "half_disc":
            inside = (d2 <= r * r) & (dx * ca + dy * sa >= 0.0)
        else:                      # ellipse of half axes r and extra * r
            u = (dx * ca + dy * sa) / r
            v = (-dx * sa + dy * ca) / (extra * r)
            inside = u * u + v * v <= 1.0
        return _counts(inside, y0, y1, x0, x1)
    inside = None
    for loop in _loops(name, r, extra):
        verts = [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in loop]
        inside = _inside_polygon(verts, px, py, inside)
    return _counts(inside, y0, y1, x0, x1)


def render_shapes_scene(seed: int, size: int = 128) -> Scene:
    """Scene ``seed`` of the 24-class family (:data:`SHAPE_CLASSES`), made by the course renderer.

    seed: int >= 0; size: 32..1024. Returns a :class:`~segcourse.data.scenes.Scene` whose
    ``classes`` / ``semantic`` are ids of :data:`SHAPE_CLASSES` (``scene.names``)."""
    seed = check_int(seed, "seed", min_value=0)
    size = check_int(size, "size", min_value=32, max_value=1024)
    return _render(np.random.default_rng([seed, SHAPES_STREAM]), seed, size, NUM_SHAPE_CLASSES,
                   _shape_params, _shape_coverage, SHAPE_CLASSES)


def shape_gallery(tile: int = 48, columns: int = 6, angle: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Every class of the family drawn once, at its mid proportion, in a grid of ``tile``-px tiles.

    Returns (coverage (rows * tile, columns * tile) float in [0, 1], ids (rows, columns) int64 class
    ids, 0 where a tile is empty)."""
    tile = check_int(tile, "tile", min_value=16, max_value=256)
    columns = check_int(columns, "columns", min_value=1, max_value=24)
    n = NUM_SHAPE_CLASSES - 1
    rows = -(-n // columns)
    out = np.zeros((rows * tile, columns * tile))
    ids = np.zeros((rows, columns), dtype=np.int64)
    mid = {"star4": 0.42, "star5": 0.45, "star6": 0.49, "star7": 0.53, "star8": 0.57, "plus": 0.26, "T": 0.26,
           "L": 0.28, "H": 0.23, "ring": 0.55, "crescent": 0.55, "ellipse": 0.5, "bar": 0.32, "frame": 0.6,
           "arrow": 0.16, "double_arrow": 0.16, "chevron": 0.5}
    for c in range(1, n + 1):
        r, q = divmod(c - 1, columns)
        name = SHAPE_CLASSES[c]
        ang = 0.0 if name in ("disc", "ring") else angle
        sy, sx, cov = _shape_coverage(c, tile / 2, tile / 2, 0.42 * tile, ang, mid.get(name, 0.0), tile)
        out[r * tile + sy.start:r * tile + sy.stop, q * tile + sx.start:q * tile + sx.stop] = cov / 16.0
        ids[r, q] = c
    return out, ids
