"""Pictures of lesson 09 (FCIS): a RoI and its k x k grid, the k x k position-sensitive maps it reads
from, the assembled inside / outside / mask maps, and a diagram of the FCIS head.

Each ``draw_*`` draws into the axes it is given, or makes its own figure and shows it when ``ax`` is
None, and returns its artists in a dict so a widget can update them in place (``set_data``,
``set_segments``, ``set_bounds``). The numbers come from :mod:`segcourse.ops.fcis`.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_array, check_int
from .base import finish, get_axes, to_rgb

__all__ = ["tile_mosaic", "grid_segments", "draw_roi_grid", "draw_ps_tiles", "draw_score_map",
           "draw_fcis_head", "ROI_COLOR"]

ROI_COLOR = "#f2c14e"      # the RoI picked
OTHER_COLOR = "#ffffff"    # the other RoIs


def tile_mosaic(tiles, reads, *, vmin: float, vmax: float, cmap: str = "magma", gap: int = 2,
                dim: float = 0.7) -> np.ndarray:
    """The k x k tiles (k, k, t, t) laid out as one RGB image (k*t + (k-1)*gap square), coloured by
    ``cmap`` between vmin and vmax; outside ``reads`` (k, k, t, t) bool each tile is faded towards
    white by ``dim``: what the RoI reads stays bright. Gaps are white."""
    import matplotlib
    t = as_array(tiles, "tiles", ndim=4, kind="float")
    r = as_array(reads, "reads", shape=t.shape).astype(bool)
    k, _, th, tw = t.shape
    gap = check_int(gap, "gap", min_value=0)
    span = max(float(vmax) - float(vmin), 1e-12)
    rgb = matplotlib.colormaps[cmap](np.clip((t - vmin) / span, 0, 1))[..., :3]       # (k, k, t, t, 3)
    rgb = np.where(r[..., None], rgb, rgb * (1 - dim) + dim)
    out = np.ones((k * th + (k - 1) * gap, k * tw + (k - 1) * gap, 3))
    for i in range(k):
        for j in range(k):
            out[i * (th + gap):i * (th + gap) + th, j * (tw + gap):j * (tw + gap) + tw] = rgb[i, j]
    return out


def grid_segments(box, k: int) -> np.ndarray:
    """The k x k grid lines inside ``box`` (x1, y1, x2, y2) as segments (2(k-1), 2, 2) for a
    LineCollection, in image pixels shifted by -0.5 (imshow puts pixel centres on integers)."""
    x1, y1, x2, y2 = (float(v) - 0.5 for v in np.asarray(box, dtype=float))
    k = check_int(k, "k", min_value=1)
    t = np.arange(1, k) / k
    xs, ys = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
    vertical = [[(x, y1), (x, y2)] for x in xs]
    horizontal = [[(x1, y), (x2, y)] for y in ys]
    return np.asarray(vertical + horizontal, dtype=float).reshape(-1, 2, 2)


def _rect(box):
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=float))
    return (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1


def draw_roi_grid(image, boxes, index: int, k: int, ax=None, title: str | None = None) -> dict:
    """The image, every RoI (thin white) and RoI ``index`` (thick) with its k x k grid.

    boxes: (R, 4) image pixels. Returns ``{"image", "boxes": LineCollection, "box": Rectangle,
    "grid": LineCollection}``."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle
    img = to_rgb(image)
    b = as_array(boxes, "boxes", shape=("R", 4), allow_empty=False).astype(float)
    index = check_int(index, "index", min_value=0, max_value=len(b) - 1)
    ax, own = get_axes(ax)
    im = ax.imshow(img, interpolation="nearest")
    outlines = []
    for x1, y1, x2, y2 in b - 0.5:
        outlines += [[(x1, y1), (x2, y1)], [(x2, y1), (x2, y2)], [(x2, y2), (x1, y2)], [(x1, y2), (x1, y1)]]
    others = LineCollection(outlines, colors=OTHER_COLOR, linewidths=0.8, alpha=0.8)
    ax.add_collection(others)
    xy, w, h = _rect(b[index])
    box = Rectangle(xy, w, h, fill=False, edgecolor=ROI_COLOR, linewidth=2.2)
    ax.add_patch(box)
    grid = LineCollection(grid_segments(b[index], k), colors=ROI_COLOR, linewidths=1.0, linestyles="--")
    ax.add_collection(grid)
    finish(ax, title, own)
    return {"image": im, "boxes": others, "box": box, "grid": grid}


def draw_ps_tiles(frame: dict, part: str = "inside", ax=None, *, vmin: float = 0.0, vmax: float = 4.0,
                  cmap: str = "magma", title: str | None = None) -> dict:
    """The k x k position-sensitive maps of class ``frame["cls"]`` that a RoI reads from, each shown
    over the whole RoI, bright where the RoI reads it (its own cell), faded elsewhere.

    frame: from :func:`segcourse.ops.fcis.fcis_frame`; part: "inside" or "outside".
    Returns ``{"image": AxesImage}``."""
    if part not in ("inside", "outside"):
        raise ValueError(f"part: expected 'inside' or 'outside', got {part!r}")
    ax, own = get_axes(ax)
    mosaic = tile_mosaic(frame[f"tiles_{part}"], frame["reads"], vmin=vmin, vmax=vmax, cmap=cmap)
    im = ax.imshow(mosaic, interpolation="nearest")
    finish(ax, title, own)
    return {"image": im}


def draw_score_map(values, ax=None, *, vmin: float | None = None, vmax: float | None = None,
                   cmap: str = "magma", title: str | None = None, colorbar: bool = False) -> dict:
    """One (M, M) map (assembled inside / outside scores or the mask probability); NaN cells are
    left blank (white). Returns ``{"image": AxesImage}``."""
    import matplotlib
    raw = values.detach().cpu().numpy() if hasattr(values, "detach") else values
    try:
        v = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"values: expected a numeric (M, M) array, got {type(values).__name__}") from None
    if v.ndim != 2:
        raise ValueError(f"values: expected shape (M, M), got {v.shape}")
    ax, own = get_axes(ax)
    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    im = ax.imshow(v, cmap=colours, vmin=vmin, vmax=vmax, interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    finish(ax, title, own)
    return {"image": im}


def draw_fcis_head(k: int = 3, num_classes: int = 6, ax=None, title: str | None = None) -> dict:
    """A diagram of the FCIS head: backbone -> 2k^2 C position-sensitive inside/outside maps ->
    per-RoI assembling (each of the k x k cells copies its own map) -> per class: softmax(inside,
    outside) per pixel = the mask; mean of max(inside, outside) -> softmax over classes = the
    detection score. Returns ``{"patches": [...]}``."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
    k = check_int(k, "k", min_value=1, max_value=5)
    c = check_int(num_classes, "num_classes", min_value=2)
    ax, own = get_axes(ax, figsize=(12, 4.2))
    cells = [tuple(v) for v in np.asarray(
        [[0.90, 0.42, 0.30], [0.98, 0.70, 0.25], [0.55, 0.78, 0.35], [0.30, 0.65, 0.85], [0.55, 0.45, 0.85],
         [0.85, 0.45, 0.70], [0.40, 0.80, 0.80], [0.75, 0.75, 0.45], [0.65, 0.55, 0.45]])]
    colour = [cells[n % len(cells)] for n in range(k * k)]
    patches = []

    def box(x, y, w, h, text, fc="#eeeeee", fs=9):
        p = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=fc, ec="#444444", lw=1)
        ax.add_patch(p)
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fs)
        patches.append(p)

    def arrow(x0, y0, x1, y1, text=None):
        a = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, lw=1.2, color="#333333")
        ax.add_patch(a)
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, text, ha="center", va="bottom", fontsize=8)

    box(0.0, 1.6, 1.2, 0.9, "image\nH x W")
    arrow(1.2, 2.05, 1.7, 2.05)
    box(1.7, 1.4, 1.5, 1.3, "backbone\n(FCN-8s VGG,\nstride 8)")
    arrow(3.2, 2.05, 3.7, 2.05, "1x1 conv")
    # the score maps: k^2 inside and k^2 outside maps (one class shown), stacked
    for s, (y0, label) in enumerate(((2.45, "inside"), (0.85, "outside"))):
        for n in range(k * k):
            r = Rectangle((3.75 + 0.07 * n, y0 + 0.05 * n), 0.9, 0.9, fc=colour[n], ec="#333333", lw=0.6,
                          alpha=0.95 if s == 0 else 0.55)
            ax.add_patch(r)
            patches.append(r)
        ax.text(4.2 + 0.035 * k * k, y0 - 0.18, f"{k}x{k} {label} maps", ha="center", fontsize=8)
    ax.text(4.3, 3.95, f"2 k² C = 2·{k * k}·{c} = {2 * k * k * c} score maps\n(per class: k² inside + k² outside)",
            ha="center", fontsize=8.5)
    arrow(5.4, 2.05, 6.0, 2.05, "RoI")
    # the assembled RoI: k x k cells, each from its own map
    step = 1.2 / k
    for i in range(k):
        for j in range(k):
            for s, y0 in enumerate((2.5, 0.9)):
                r = Rectangle((6.05 + j * step, y0 + (k - 1 - i) * step), step, step, fc=colour[i * k + j],
                              ec="#333333", lw=0.6, alpha=0.95 if s == 0 else 0.55)
                ax.add_patch(r)
                patches.append(r)
    ax.text(6.65, 3.8, "assembled per RoI:\ncell (i, j) copies map (i, j)", ha="center", fontsize=8.5)
    ax.text(6.65, 2.33, "inside (M x M)", ha="center", fontsize=8)
    ax.text(6.65, 0.73, "outside (M x M)", ha="center", fontsize=8)
    arrow(7.35, 2.6, 8.0, 3.0)
    arrow(7.35, 1.5, 8.0, 1.1)
    box(8.0, 2.6, 2.3, 0.95, "per pixel, per class:\nsoftmax(inside, outside)\n→ mask", fc="#dff0d8", fs=8.5)
    box(8.0, 0.55, 2.3, 1.1, "per class: mean over RoI\nof max(inside, outside)\n→ softmax over C classes\n→ detection score",
        fc="#d9e8f5", fs=8.5)
    arrow(10.3, 3.05, 10.8, 3.05)
    arrow(10.3, 1.1, 10.8, 1.1)
    box(10.8, 2.7, 1.2, 0.7, "mask of\nthe best class", fs=8)
    box(10.8, 0.75, 1.2, 0.7, "class +\nscore", fs=8)
    ax.set_xlim(-0.1, 12.1)
    ax.set_ylim(0.3, 4.4)
    ax.set_aspect("equal")
    finish(ax, title, own)
    return {"patches": patches}
