"""Lesson 03's widget: which input pixels make one output pixel, for every upsampling method.

The computation is :func:`segcourse.ops.upsampling.interpolation_frame` (tested); this module
only draws its default frame and wires the controls with :func:`connect`.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_choice, check_int
from ..data.images import grey_patch, photo
from ..ops.upsampling import INTERPOLATION_METHODS, interpolation_frame
from .base import _widgets, connect, new_figure

__all__ = ["interpolation_explorer"]

_METHOD_LABELS = {
    "nearest": "nearest",
    "bilinear": "bilinear, align_corners=False",
    "bilinear_align_corners": "bilinear, align_corners=True",
    "transposed_bilinear": "transposed conv, bilinear init",
    "transposed_random": "transposed conv, random kernel",
}


def interpolation_explorer(image=None, method: str = "bilinear", factor: int = 2, pixel=(0, 0),
                           patch: int = 6):
    """Choose an upsampling method, a factor and an output pixel: the input pixels that contribute
    are coloured by their weight (numbers printed in each cell); the output pixel is boxed.

    image: (H, W, 3) uint8 photo (default ``sc.photo("chelsea")``); a ``patch x patch`` grey patch
    of it (:func:`segcourse.data.images.grey_patch`: the cat's eye) is the input. Methods:
    :data:`INTERPOLATION_METHODS`.
    """
    from matplotlib.patches import Rectangle

    method = check_choice(method, "method", INTERPOLATION_METHODS)
    factor = check_int(factor, "factor", min_value=1, max_value=4)
    patch = check_int(patch, "patch", min_value=2, max_value=12)
    src = grey_patch(photo("chelsea") if image is None else image, patch)
    n_out = patch * factor
    py = check_int(pixel[0], "pixel[0]", min_value=0, max_value=n_out - 1)
    px = check_int(pixel[1], "pixel[1]", min_value=0, max_value=n_out - 1)

    st = interpolation_frame(src, method, factor, py, px)
    fig, (ax_in, ax_out) = new_figure((7.2, 3.6), ncols=2)
    ax_in.imshow(src, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    im_w = ax_in.imshow(np.ma.masked_equal(st["weights"], 0), cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.75,
                        interpolation="nearest")
    texts = [[ax_in.text(j, i, "", ha="center", va="center", fontsize=8) for j in range(patch)]
             for i in range(patch)]
    ax_in.set_axis_off()
    ax_out.set_axis_off()
    ax_in.set_title(f"input {patch}x{patch}: weight of each pixel in the boxed output pixel", fontsize=9)
    im_out = ax_out.imshow(st["output"], cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                           extent=(-0.5, n_out - 0.5, n_out - 0.5, -0.5))
    hi = Rectangle((px - 0.5, py - 0.5), 1, 1, fill=False, edgecolor="red", lw=2)
    ax_out.add_patch(hi)
    ax_out.set_xlim(-0.5, n_out - 0.5)
    ax_out.set_ylim(n_out - 0.5, -0.5)
    title_out = ax_out.set_title("", fontsize=10)

    w = _widgets()
    # explicit widths: in a flex row of controls the sliders otherwise shrink to a few dozen pixels
    sl = dict(layout=w.Layout(width="260px", min_width="220px"), style={"description_width": "60px"})
    controls = {
        "method": w.Dropdown(options=[(v, k) for k, v in _METHOD_LABELS.items()], value=method,
                             description="method", layout=w.Layout(width="300px", min_width="260px")),
        "factor": w.IntSlider(value=factor, min=1, max=4, description="factor", **sl),
        "y": w.IntSlider(value=py, min=0, max=n_out - 1, description="out row", **sl),
        "x": w.IntSlider(value=px, min=0, max=n_out - 1, description="out col", **sl),
    }

    def adjust(ctl, change):
        n = patch * ctl["factor"].value
        if ctl["y"].max != n - 1:
            ctl["y"].max = ctl["x"].max = n - 1

    def redraw(st):
        wt, f = st["weights"], st["factor"]
        n = patch * f
        for i in range(patch):
            for j in range(patch):
                on = abs(wt[i, j]) > 1e-12
                texts[i][j].set_text(f"{wt[i, j]:.4f}".rstrip("0").rstrip(".") if on else "")
                texts[i][j].set_visible(on)
        im_w.set_data(np.ma.masked_equal(np.where(np.abs(wt) > 1e-12, wt, 0), 0))
        im_out.set_data(st["output"])
        im_out.set_extent((-0.5, n - 0.5, n - 0.5, -0.5))
        ax_out.set_xlim(-0.5, n - 0.5)
        ax_out.set_ylim(n - 0.5, -0.5)
        y, x = st["pixel"]
        hi.set_xy((x - 0.5, y - 0.5))
        title_out.set_text(f"output {n}x{n} ({_METHOD_LABELS[st['method']]})")
        parts = ", ".join(f"({i},{j}): {v:.4f}" for i, j, v in st["contributors"])
        return (f"<code>output pixel (row {y}, col {x}) = {st['value']:.4f}<br>rows: "
                f"{st['formula_y']}<br>cols: {st['formula_x']}<br>weights (input row, col): "
                f"{parts}<br>sum of weights = {st['total']:.4f}</code>")

    widget = connect(fig, controls, lambda method, factor, y, x: interpolation_frame(src, method, factor, y, x),
                     redraw, title="interpolation_explorer", adjust=adjust)
    widget.source = src
    return widget
