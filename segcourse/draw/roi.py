"""Pictures of lesson 10: RoIPool's snapped bins, RoIAlign's sample points, the pooled grids.

Each ``draw_*`` draws into the axes it is given, or makes its own figure and shows it when
``ax`` is None, and returns its artists in a dict so a widget can update them in place
(``image.set_data``, ``box.set_bounds``, ``bins.set_segments``, ``points.set_offsets``).
All computation comes from :func:`segcourse.ops.roi.roi_views`.

The picture is drawn in feature-cell units (``box * spatial_scale``). ``convention`` says where
a cell sits (:data:`segcourse.ops.roi.PIXEL_CONVENTIONS`): ``"aligned"`` draws cell ``j`` over
``[j, j+1)`` (a cell is its stride x stride block), ``"legacy"`` over ``[j - 0.5, j + 0.5)``.
RoIAlign's samples (interpolation coordinate ``c``, where cell ``j``'s value sits at ``c = j``)
are drawn at the centre of that cell's picture: ``c + 0.5`` (aligned) or ``c`` (legacy).
"""
from __future__ import annotations

import numpy as np

from .._validate import as_array, check_choice
from ..ops.roi import PIXEL_CONVENTIONS, roi_views

__all__ = ["draw_roi_bins", "draw_roi_align_samples", "draw_pooled", "pool_bin_segments", "align_bin_segments"]

BOX_COLOR = "#f2c14e"      # the true box
POOL_COLOR = "#e4572e"     # RoIPool's cells
ALIGN_COLOR = "#29bf12"    # RoIAlign's bins and samples
OUT_COLOR = "#bbbbbb"      # samples that fall outside [-1, H] x [-1, W] (they count as 0)


def _axes(ax, figsize=(4.5, 4.5)):
    if ax is not None:
        return ax, False
    import matplotlib.pyplot as plt
    _, ax = plt.subplots(figsize=figsize)
    return ax, True


def _finish(ax, title, own):
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        import matplotlib.pyplot as plt
        plt.show()


def _shift(convention: str) -> float:
    return 0.0 if check_choice(convention, "convention", tuple(PIXEL_CONVENTIONS)) == "aligned" else -0.5


def _rect_segments(x0, y0, x1, y1) -> np.ndarray:
    """Outlines of rectangles as line segments: (n, 4, 2, 2)."""
    x0, y0, x1, y1 = (np.asarray(v, dtype=float).reshape(-1) for v in (x0, y0, x1, y1))
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    segs = [np.stack([np.stack(corners[i], -1), np.stack(corners[(i + 1) % 4], -1)], 1) for i in range(4)]
    return np.stack(segs, 1)


def pool_bin_segments(views, convention: str = "aligned") -> np.ndarray:
    """Line segments (PH * PW * 4, 2, 2) outlining the cells each RoIPool bin reads."""
    s = _shift(convention)
    y, x = views.pool.y.numpy().astype(float) + s, views.pool.x.numpy().astype(float) + s
    yy0, xx0 = np.meshgrid(y[:, 0], x[:, 0], indexing="ij")
    yy1, xx1 = np.meshgrid(y[:, 1], x[:, 1], indexing="ij")
    return _rect_segments(xx0, yy0, xx1, yy1).reshape(-1, 2, 2)


def align_bin_segments(views, convention: str = "aligned") -> np.ndarray:
    """Line segments (PH * PW * 4, 2, 2) outlining RoIAlign's continuous bins."""
    s = _shift(convention) + 0.5
    y, x = views.align_y.numpy() + s, views.align_x.numpy() + s
    yy0, xx0 = np.meshgrid(y[:, 0], x[:, 0], indexing="ij")
    yy1, xx1 = np.meshgrid(y[:, 1], x[:, 1], indexing="ij")
    return _rect_segments(xx0, yy0, xx1, yy1).reshape(-1, 2, 2)


def _feature_image(ax, fm: np.ndarray, shift: float, cmap: str):
    h, w = fm.shape
    im = ax.imshow(fm, cmap=cmap, interpolation="nearest", extent=(shift, w + shift, h + shift, shift))
    ax.set_xticks(np.arange(w + 1) + shift, minor=True)
    ax.set_yticks(np.arange(h + 1) + shift, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.4, alpha=0.5)
    ax.tick_params(which="both", length=0, labelsize=7)
    return im


def _fit(ax, shape, shift, xy):
    """Limits: the whole map, and every point of ``xy`` (n, 2) (box corners, samples)."""
    h, w = shape
    xy = np.concatenate([np.asarray(xy, dtype=float).reshape(-1, 2), [[shift, shift], [w + shift, h + shift]]])
    lo, hi = xy.min(0) - 0.5, xy.max(0) + 0.5
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])


def _box_patch(ax, views):
    from matplotlib.patches import Rectangle
    x1, y1, x2, y2 = views.box.tolist()
    patch = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=BOX_COLOR, linewidth=2.2,
                      label="box x spatial_scale")
    ax.add_patch(patch)
    return patch


def _roi_canvas(feature_map, box, output_size, spatial_scale, sampling_ratio, aligned, ax, convention, cmap):
    """The checked feature map (H, W), its RoI views, the axes and the map drawn under the bins."""
    fm = as_array(feature_map, "feature_map", ndim=2, kind="float", allow_empty=False)
    views = roi_views(fm, box, output_size, spatial_scale, sampling_ratio, aligned)
    ax, own = _axes(ax)
    shift = _shift(convention)
    return fm, views, ax, own, shift, _feature_image(ax, fm, shift, cmap)


def _bins_and_box(ax, views, segments, color, width: float, label: str):
    """The bins' lines (a LineCollection with a legend label) and the true box's patch."""
    from matplotlib.collections import LineCollection
    bins = LineCollection(segments, colors=color, linewidths=width, label=label)
    ax.add_collection(bins)
    return bins, _box_patch(ax, views)


def draw_roi_bins(feature_map, box, output_size=2, spatial_scale: float = 1.0, ax=None, *,
                  convention: str = "aligned", cmap: str = "viridis", title: str | None = None) -> dict:
    """The feature map (H, W), the true box, and the cells RoIPool's bins actually read.

    box: (x1, y1, x2, y2) in image pixels. Returns ``{"image": AxesImage, "box": Rectangle,
    "bins": LineCollection}``.
    """
    fm, views, ax, own, shift, image = _roi_canvas(feature_map, box, output_size, spatial_scale, 1, True,
                                                   ax, convention, cmap)
    bins, patch = _bins_and_box(ax, views, pool_bin_segments(views, convention), POOL_COLOR, 1.4,
                                "RoIPool bins (whole cells)")
    _fit(ax, fm.shape, shift, views.box.numpy())
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7, frameon=False)
    _finish(ax, title, own)
    return {"image": image, "box": patch, "bins": bins}


def draw_roi_align_samples(feature_map, box, output_size=2, spatial_scale: float = 1.0,
                           sampling_ratio: int = 2, aligned: bool = True, ax=None, *,
                           convention: str = "aligned", cmap: str = "viridis", title: str | None = None) -> dict:
    """The feature map (H, W), the true box, RoIAlign's bins and its sample points (grey:
    outside ``[-1, H] x [-1, W]``, counted as 0).

    Returns ``{"image", "box", "bins": LineCollection, "points": PathCollection}``.
    """
    fm, views, ax, own, shift, image = _roi_canvas(feature_map, box, output_size, spatial_scale, sampling_ratio,
                                                   aligned, ax, convention, cmap)
    bins, patch = _bins_and_box(ax, views, align_bin_segments(views, convention), ALIGN_COLOR, 1.2, "RoIAlign bins")
    pts = views.points.reshape(-1, 2).numpy() + 0.5 + shift
    colors = np.where(views.valid.reshape(-1).numpy()[:, None], [[0.16, 0.75, 0.07, 1.0]],
                      [[0.73, 0.73, 0.73, 1.0]])
    points = ax.scatter(pts[:, 0], pts[:, 1], s=14, c=colors, edgecolors="black", linewidths=0.4,
                        zorder=3, label="samples (bilinear)")
    _fit(ax, fm.shape, shift, np.concatenate([views.box.numpy(), pts.reshape(-1)]))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=7, frameon=False)
    _finish(ax, title, own)
    return {"image": image, "box": patch, "bins": bins, "points": points}


def draw_pooled(pooled, ax=None, *, title: str | None = None, vmin: float | None = None,
                vmax: float | None = None, cmap: str = "viridis", annotate: bool = True) -> dict:
    """The pooled output grid (PH, PW) (e.g. ``roi_views(...).pooled`` or ``.aligned``).

    Returns ``{"image": AxesImage, "texts": [Text, ...]}`` (texts: the values, when annotate)."""
    grid = as_array(pooled, "pooled", ndim=2, kind="float", allow_empty=False)
    ax, own = _axes(ax, figsize=(3, 3))
    image = ax.imshow(grid, cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
    texts = []
    if annotate:
        for (i, j), v in np.ndenumerate(grid):
            texts.append(ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white"))
    ax.set_xticks(range(grid.shape[1]))
    ax.set_yticks(range(grid.shape[0]))
    ax.tick_params(length=0, labelsize=7)
    _finish(ax, title, own)
    return {"image": image, "texts": texts}
