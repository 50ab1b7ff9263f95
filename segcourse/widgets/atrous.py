"""Lesson 06's widget: which input pixels one unit of a stack of atrous layers samples, on a photo.

The computation is :func:`segcourse.ops.atrous.footprint_frame` (tested; the layer stack's
footprint is cached, so a frame is one paste) with the rates from
:func:`segcourse.ops.atrous.rate_pattern`; the picture is
:func:`segcourse.draw.atrous.draw_sampling_footprint`. An update sets one RGB image
(:func:`segcourse.draw.atrous.footprint_overlay`, composited in NumPy) and two rectangles.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_choice, check_int
from ..data.images import photo as load_photo, prepare_photo
from ..draw.atrous import draw_sampling_footprint, footprint_overlay, set_box
from ..ops.atrous import RATE_PATTERNS, footprint_frame, rate_pattern
from .base import _widgets, connect, new_figure

__all__ = ["footprint_explorer"]

_PATTERN_LABELS = {
    "equal": "r, r, r, ... (equal rates)",
    "hybrid": "1, 2, 3, 1, 2, 3, ... (hybrid)",
    "hdc": "1, 2, 5, 1, 2, 5, ... (HDC group)",
    "exponential": "1, 2, 4, 8, ... (exponential)",
}

MAX_LAYERS = 8
MAX_RATE = 8


def footprint_explorer(image=None, layers: int = 3, rate: int = 3, pattern: str = "equal", unit=None,
                       size: int = 96):
    """Choose a stack of 3 x 3 layers (how many, and their rates: equal rates ``r`` or a pattern)
    and an output unit: the photo shows which input pixels the unit samples, coloured by how many
    paths reach each (log scale; pixels never reached keep the photo's colours), its theoretical
    receptive field (white box) and the centred square holding 90 % of the paths (cyan dashed:
    the effective field for uniform weights, Luo et al. arXiv:1701.04128).

    image: an (H, W, 3) uint8 photo or (3, H, W) float in [0, 1] (default ``sc.photo("chelsea")``),
    centre-cropped and resized to ``size`` x ``size``. layers: 1-8; rate: 1-8 (pattern "equal");
    pattern: one of :data:`segcourse.ops.atrous.RATE_PATTERNS`; unit: (row, col) of the unit's
    centre pixel, default the image centre.
    """
    layers = check_int(layers, "layers", min_value=1, max_value=MAX_LAYERS)
    rate = check_int(rate, "rate", min_value=1, max_value=MAX_RATE)
    pattern = check_choice(pattern, "pattern", RATE_PATTERNS)
    size = check_int(size, "size", min_value=16, max_value=512)
    base = prepare_photo(load_photo("chelsea") if image is None else image, size)
    base = np.ascontiguousarray(base.permute(1, 2, 0).numpy(), dtype=np.float32)   # once: (H, W, 3) in [0, 1]
    if unit is None:
        unit = (size // 2, size // 2)
    if not (isinstance(unit, (tuple, list)) and len(unit) == 2):
        raise TypeError(f"unit: expected (row, col), got {unit!r}")
    row = check_int(unit[0], "unit[0]", min_value=0, max_value=size - 1)
    col = check_int(unit[1], "unit[1]", min_value=0, max_value=size - 1)

    def compute(layers, rate, pattern, row, col):
        rates = rate_pattern(pattern, layers, rate)
        frame = footprint_frame(rates, (size, size), (row, col))
        frame["rates"], frame["unit"] = rates, (row, col)
        return frame

    st = compute(layers, rate, pattern, row, col)
    fig, (ax,) = new_figure((3.9, 3.9))
    # no title: glyphs cost ~0.2 ms each to render on every redraw; the legend is in the readout
    art = draw_sampling_footprint(st, base, ax=ax, title="")

    w = _widgets()
    slider = dict(continuous_update=False, layout=w.Layout(width="230px"), style={"description_width": "60px"})
    controls = {
        "layers": w.IntSlider(value=layers, min=1, max=MAX_LAYERS, description="layers", **slider),
        "rate": w.IntSlider(value=rate, min=1, max=MAX_RATE, description="rate r", disabled=pattern != "equal",
                            **slider),
        "pattern": w.Dropdown(options=[(label, key) for key, label in _PATTERN_LABELS.items()], value=pattern,
                              description="rates", layout=w.Layout(width="290px"),
                              style={"description_width": "45px"}),
        "row": w.IntSlider(value=row, min=0, max=size - 1, description="unit row", **slider),
        "col": w.IntSlider(value=col, min=0, max=size - 1, description="unit col", **slider),
    }

    def adjust(ctl, change):
        ctl["rate"].disabled = ctl["pattern"].value != "equal"

    def redraw(st):
        art["image"].set_data(footprint_overlay(base, st["counts"]))
        set_box(art["rf"], st["rf_box"])
        set_box(art["erf"], st["erf_box"])
        s = st["stats"]
        h, w_ = s["size"]
        return (f"<code>rates {', '.join(map(str, st['rates']))} (3x3 each), unit at pixel {st['unit']}"
                f"<br>theoretical receptive field {h} x {w_} px; sampled {s['support']} of its {h * w_} pixels "
                f"({s['coverage']:.0%}), holes {s['holes']}"
                f"<br>90 % of the {s['paths']:,} paths fall in the central {s['erf_side']} x {s['erf_side']} px "
                f"(cyan box)<br>colour: paths per pixel (log scale); white box: the theoretical receptive field</code>")

    widget = connect(fig, controls, compute, redraw, title="footprint_explorer", adjust=adjust)
    widget.photo = base
    return widget
