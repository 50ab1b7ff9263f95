"""Lesson 06's and 07's widgets. Lesson 06: which input pixels one unit of a stack of atrous layers samples, on a photo.

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
from ..draw.atrous import (_tap_faces, _tap_limits, _BRANCH_COLOURS, draw_aspp_footprint, draw_sampling_footprint,
                           footprint_overlay, set_box)
from ..ops.atrous import RATE_PATTERNS, aspp_tap_frame, footprint_frame, rate_pattern
from .base import _widgets, connect, new_figure

__all__ = ["footprint_explorer", "aspp_explorer"]

_PATTERN_LABELS = {
    "equal": "r, r, r, ... (equal rates)",
    "hybrid": "1, 2, 3, 1, 2, 3, ... (hybrid)",
    "hdc": "1, 2, 5, 1, 2, 5, ... (HDC group)",
    "exponential": "1, 2, 4, 8, ... (exponential)",
}

MAX_LAYERS = 8
MAX_RATE = 8



def _unit(unit, size: int) -> tuple[int, int]:
    """The explorers' output unit (row, col) on a size x size map; None means the centre."""
    if unit is None:
        return size // 2, size // 2
    if not (isinstance(unit, (tuple, list)) and len(unit) == 2):
        raise TypeError(f"unit: expected (row, col), got {unit!r}")
    return (check_int(unit[0], "unit[0]", min_value=0, max_value=size - 1),
            check_int(unit[1], "unit[1]", min_value=0, max_value=size - 1))

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
    row, col = _unit(unit, size)

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


#: Map sizes the ASPP widget offers: the course's 8 x 8 (output stride 16) and 16 x 16 (8) maps of a
#: 128 x 128 scene, v3's 33 x 33 (513 at 16) and the 65 x 65 of v3's Figure 4.
ASPP_MAP_SIZES = (8, 16, 33, 65)
MAX_BASE_RATE = 24


def aspp_explorer(size: int = 16, rate: int = 3, unit=None):
    """Lesson 07: where the three atrous 3 x 3 branches of v3's ASPP (rates r, 2r, 3r, like v3's
    6, 12, 18 = 6 x (1, 2, 3)) of one output unit read a ``size`` x ``size`` feature map; taps
    outside the map (hollow) read zero padding. Right: the share of taps inside, averaged over the
    map, against the rate (v3's Figure 4), with the three branches marked.

    size: one of :data:`ASPP_MAP_SIZES`; rate: the smallest rate r, 1-24; unit: (row, col) on the
    map (default its centre). The frame is :func:`segcourse.ops.atrous.aspp_tap_frame` (tested).
    """
    size = check_choice(size, "size", ASPP_MAP_SIZES)
    rate = check_int(rate, "rate", min_value=1, max_value=MAX_BASE_RATE)
    row, col = _unit(unit, size)
    top = max(ASPP_MAP_SIZES) - 1

    def compute(rate, size, row, col):
        return aspp_tap_frame(size, (rate, 2 * rate, 3 * rate), (min(row, size - 1), min(col, size - 1)),
                              max_rate=3 * MAX_BASE_RATE)

    st = compute(rate, size, row, col)
    fig, axes = new_figure((7.2, 3.4), ncols=2)
    art = draw_aspp_footprint(st, axes, legend=False)
    ax = axes[0]

    w = _widgets()
    slider = dict(continuous_update=False, layout=w.Layout(width="220px"), style={"description_width": "70px"})
    controls = {
        "rate": w.IntSlider(value=rate, min=1, max=MAX_BASE_RATE, description="rate r", **slider),
        "size": w.Dropdown(options=[(f"{n} x {n}", n) for n in ASPP_MAP_SIZES], value=size, description="map",
                           layout=w.Layout(width="150px"), style={"description_width": "35px"}),
        "row": w.IntSlider(value=row, min=0, max=top, description="unit row", **slider),
        "col": w.IntSlider(value=col, min=0, max=top, description="unit col", **slider),
    }

    def redraw(st):
        n = st["size"]
        art["map"].set_width(n)
        art["map"].set_height(n)
        for b, sc_ in enumerate(art["branches"]):
            t = st["taps"][b].numpy()
            sc_.set_offsets(t[:, ::-1])
            sc_.set_facecolors(_tap_faces(st["inside"][b].numpy(), _BRANCH_COLOURS[b]))
        art["unit"].set_offsets([st["position"][::-1]])
        lo, hi = _tap_limits(st)
        ax.set_xlim(lo, hi)
        ax.set_ylim(hi, lo)
        c = st["curve"]
        art["curve"].set_data(c["rates"].numpy(), c["mean_fraction"].numpy())
        art["marks"].set_offsets(list(zip(st["rates"], st["mean_fraction"].tolist())))
        here = ", ".join(f"rate {r}: {int(v)}/9" for r, v in zip(st["rates"], st["valid_here"]))
        mean = ", ".join(f"{float(m):.2f}" for m in st["mean_fraction"])
        return (f"<code><b style='color:#1f77b4'>rate {st['rates'][0]}</b>, <b style='color:#ff7f0e'>rate "
                f"{st['rates'][1]}</b>, <b style='color:#2ca02c'>rate {st['rates'][2]}</b> (3x3 branches)"
                f"<br>{n} x {n} map, unit {st['position']}: taps inside here {here}"
                f"<br>right: mean share of the 9 taps inside the map against the rate; the branches: {mean}"
                f"<br>hollow dots read zero padding; once r &ge; {n} a 3x3 branch is a 1x1 convolution everywhere</code>")

    return connect(fig, controls, compute, redraw, title="aspp_explorer")
