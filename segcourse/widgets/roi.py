"""Lesson 10's widget: slide a box over a feature map by sub-cell steps and watch RoIPool jump
while RoIAlign moves smoothly.

The computation is :func:`segcourse.ops.roi.roi_views` (one frame: RoIPool's cells, RoIAlign's
sample points, both outputs) and :func:`segcourse.ops.roi.roi_shift_trace` (both outputs along
the x-shift slider's whole range), both tested; this module draws the default frame with
:mod:`segcourse.draw.roi` and wires the controls with :func:`connect`.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validate import as_tensor, check_float, check_int
from ..draw.roi import (ALIGN_COLOR, POOL_COLOR, align_bin_segments, draw_pooled, draw_roi_align_samples,
                        draw_roi_bins, pool_bin_segments)
from ..ops.roi import roi_shift_trace, roi_views
from .base import _widgets, connect, new_figure

__all__ = ["roi_explorer"]

_SIZES = (0.5, 2.0)   # range of the size factor


def _fmt(v) -> str:
    return ", ".join(f"{float(x):.2f}" for x in v)


def _grid(g) -> str:
    return "[" + "; ".join(_fmt(row) for row in g) + "]"


def roi_explorer(feature_map, box, stride: int = 16, output_size: int = 2, sampling_ratio: int = 2,
                 aligned: bool = True, shift=(0.0, 0.0), size: float = 1.0, max_shift: float = 2.0,
                 steps_per_cell: int = 16):
    """Slide ``box`` over ``feature_map`` by fractions of a cell and compare RoIPool with RoIAlign.

    feature_map: (H, W) float, one channel of a map with stride ``stride`` (spatial_scale
    = 1 / stride). box: (x1, y1, x2, y2) in image pixels. Controls: x shift and y shift in feature
    cells (step ``1 / steps_per_cell`` of a cell; with steps_per_cell = stride one step is one image
    pixel), and a size factor scaling the box about its centre. Shows the cells RoIPool's bins read
    (left), RoIAlign's bins and sample points (right), both ``output_size`` x ``output_size``
    outputs, and the mean of each output along the x-shift range (a step function for RoIPool, a
    continuous one for RoIAlign) with the current shift marked. ``widget.state`` is the frame:
    ``{"box", "views" (RoIViews), "shifts", "trace_pool", "trace_align", ...}``.
    """
    fm = as_tensor(feature_map, "feature_map", ndim=2, kind="float", allow_empty=False).detach().to(torch.float64)
    base = as_tensor(box if isinstance(box, torch.Tensor) else np.asarray(box, dtype=np.float64), "box",
                     shape=(4,)).detach().to(torch.float64)
    if base[2] <= base[0] or base[3] <= base[1]:
        raise ValueError(f"box: expected x2 > x1 and y2 > y1, got {base.tolist()}")
    stride = check_int(stride, "stride", min_value=1)
    output_size = check_int(output_size, "output_size", min_value=1, max_value=7)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio", min_value=1, max_value=4)
    if not isinstance(aligned, bool):
        raise TypeError(f"aligned: expected a bool, got {type(aligned).__name__}")
    max_shift = check_float(max_shift, "max_shift", min_value=0.25, max_value=8.0)
    steps = check_int(steps_per_cell, "steps_per_cell", min_value=1, max_value=64)
    step = 1.0 / steps
    sx = check_float(shift[0], "shift[0]", min_value=-max_shift, max_value=max_shift)
    sy = check_float(shift[1], "shift[1]", min_value=-max_shift, max_value=max_shift)
    size = check_float(size, "size", min_value=_SIZES[0], max_value=_SIZES[1])
    scale = 1.0 / stride
    n = int(round(max_shift * steps))
    grid = torch.arange(-n, n + 1, dtype=torch.float64) * step     # the x slider's positions (cells)
    centre = (base[:2] + base[2:]) / 2
    half = (base[2:] - base[:2]) / 2

    def box_at(dx, dy, factor):
        c = centre + torch.tensor([dx, dy], dtype=torch.float64) * stride
        return torch.cat([c - half * factor, c + half * factor])

    traces = {}

    def compute(x, y, size):
        # a frame is a few hundred flops: with a second thread, each op waits for it to wake (up to
        # ~15 ms per sparse product when the other core is busy), so the frame runs on one thread
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            b = box_at(x, y, size)
            key = (y, size)
            if key not in traces:   # the trace does not depend on the x shift: once per (y, size)
                traces.clear()
                shifts = torch.stack([grid, torch.zeros_like(grid)], 1)
                traces[key] = roi_shift_trace(fm, box_at(0.0, y, size), shifts, output_size, scale,
                                              sampling_ratio, aligned)
            pooled, al = traces[key]
            return {"box": b, "shift": (x, y), "size": size, "shifts": grid,
                    "views": roi_views(fm, b, output_size, scale, sampling_ratio, aligned),
                    "trace_pool": pooled.mean((1, 2)), "trace_align": al.mean((1, 2))}
        finally:
            torch.set_num_threads(threads)

    st = compute(sx, sy, size)
    from matplotlib.collections import LineCollection

    fig, _ = new_figure((7.4, 5.2))
    fig.delaxes(fig.axes[0])
    gs = fig.add_gridspec(3, 3, width_ratios=[1.7, 1.7, 1.0], height_ratios=[1.0, 1.0, 0.85])
    ax_pool, ax_align = fig.add_subplot(gs[0:2, 0]), fig.add_subplot(gs[0:2, 1])
    ax_out_pool, ax_out_align = fig.add_subplot(gs[0, 2]), fig.add_subplot(gs[1, 2])
    ax_trace = fig.add_subplot(gs[2, :])
    b0 = st["box"].tolist()
    # An update redraws the whole canvas, and text is what costs most there (a title takes longer
    # than all the boxes, points and images). So the canvas holds two one-word titles; the maps'
    # cell grid is one line collection, not ticks; the panels are explained by colour in the
    # readout, and the output values are printed there.
    pool_art = draw_roi_bins(fm, b0, output_size, scale, ax=ax_pool, title="RoIPool")
    align_art = draw_roi_align_samples(fm, b0, output_size, scale, sampling_ratio, aligned, ax=ax_align,
                                       title="RoIAlign")
    lo, hi = min(float(fm.min()), 0.0), max(float(fm.max()), 0.0)
    out_pool = draw_pooled(st["views"].pooled, ax=ax_out_pool, vmin=lo, vmax=hi, annotate=False)
    out_align = draw_pooled(st["views"].aligned, ax=ax_out_align, vmin=lo, vmax=hi, annotate=False)
    h, w = fm.shape
    for ax in (ax_pool, ax_align):
        ax.set_axis_off()
        ax.get_legend().remove()
        cells = [[(j, 0), (j, h)] for j in range(w + 1)] + [[(0, i), (w, i)] for i in range(h + 1)]
        ax.add_collection(LineCollection(cells, colors="white", linewidths=0.4, alpha=0.5))
        ax.set_xlim(-1, w + 1)          # fixed limits: the map and one cell around it
        ax.set_ylim(h + 1, -1)
    ax_pool.title.set_color(POOL_COLOR)
    ax_align.title.set_color(ALIGN_COLOR)
    for ax, colour in ((ax_out_pool, POOL_COLOR), (ax_out_align, ALIGN_COLOR)):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color(colour)
            spine.set_linewidth(3)
    xs = grid.numpy()
    (line_pool,) = ax_trace.plot(xs, st["trace_pool"].numpy(), color=POOL_COLOR, lw=1.6)
    (line_align,) = ax_trace.plot(xs, st["trace_align"].numpy(), color=ALIGN_COLOR, lw=1.6)
    marker = ax_trace.axvline(sx, color="black", lw=1, ls="--")
    span = hi - lo if hi > lo else 1.0
    ax_trace.set_ylim(lo - 0.05 * span, hi + 0.05 * span)
    ax_trace.set_xlim(xs[0], xs[-1])
    ax_trace.set_xticks([])
    ax_trace.set_yticks([])
    whole = np.arange(-np.floor(max_shift), np.floor(max_shift) + 1)   # grey lines: whole-cell shifts
    ax_trace.add_collection(LineCollection([[(v, lo - span), (v, hi + span)] for v in whole],
                                           colors="0.8", linewidths=0.8, zorder=0))
    legend = (f'<span style="color:{POOL_COLOR}"><b>red</b>: RoIPool</span>, '
              f'<span style="color:{ALIGN_COLOR}"><b>green</b>: RoIAlign</span>, yellow: the box x 1/{stride}. '
              "Left: the cells RoIPool's bins read. Middle: RoIAlign's bins and sample points. Right: the "
              "two outputs (framed red and green). Bottom: the mean of each output as the box slides in x "
              f"from {-max_shift:g} to {max_shift:g} cells (grey lines: whole cells; dashed: now).")

    w_ = _widgets()
    slider = dict(min=-max_shift, max=max_shift, step=step, readout_format=".4f", continuous_update=True)
    controls = {
        "x": w_.FloatSlider(value=sx, description="x shift", **slider),
        "y": w_.FloatSlider(value=sy, description="y shift", **slider),
        "size": w_.FloatSlider(value=size, min=_SIZES[0], max=_SIZES[1], step=1 / 16, description="size ×",
                               readout_format=".4f"),
    }

    def redraw(st):
        v, b = st["views"], st["box"]
        x1, y1, x2, y2 = v.box.tolist()
        for art in (pool_art, align_art):
            art["box"].set_bounds(x1, y1, x2 - x1, y2 - y1)
        pool_art["bins"].set_segments(pool_bin_segments(v))
        align_art["bins"].set_segments(align_bin_segments(v))
        pts = v.points.reshape(-1, 2).numpy() + 0.5
        align_art["points"].set_offsets(pts)
        ok = v.valid.reshape(-1).numpy()[:, None]
        align_art["points"].set_facecolors(np.where(ok, [[0.16, 0.75, 0.07, 1.0]], [[0.73, 0.73, 0.73, 1.0]]))
        for art, grid_ in ((out_pool, v.pooled), (out_align, v.aligned)):
            g = grid_.numpy()
            art["image"].set_data(g)
        line_pool.set_ydata(st["trace_pool"].numpy())
        line_align.set_ydata(st["trace_align"].numpy())
        marker.set_xdata([st["shift"][0]] * 2)
        cx1, cy1, cx2, cy2 = v.pool.cells.tolist()
        return (f"{legend}<br><code>box = ({_fmt(b)}) px = ({_fmt(v.box)}) cells at stride {stride}<br>"
                f"RoIPool reads whole cells x {cx1}..{cx2}, y {cy1}..{cy2} (end cell included); "
                f"output {_grid(v.pooled)}<br>"
                f"RoIAlign bins {float(v.align_x[0, 1] - v.align_x[0, 0]):.3f} x "
                f"{float(v.align_y[0, 1] - v.align_y[0, 0]):.3f} cells, {sampling_ratio}x{sampling_ratio} "
                f"samples each, the first at ({_fmt(v.points[0, 0, 0, 0])}); output {_grid(v.aligned)}</code>")

    widget = connect(fig, controls, compute, redraw, title="roi_explorer")
    widget.feature_map = fm
    return widget
