"""Lesson 08's widget: where the weight of a k x k field lies, for a GCN block and for a stack of
3 x 3 convolutions with the same field, as k and the number of intermediate channels change.

The computation is :func:`segcourse.models.gcn.kernel_footprints` (tested); the picture is
:func:`segcourse.draw.atrous.draw_kernel_footprints`, updated in place by
:func:`segcourse.draw.atrous.update_kernel_footprints`.
"""
from __future__ import annotations

from .._validate import check_int
from ..draw.atrous import draw_kernel_footprints, update_kernel_footprints
from ..models.gcn import MAX_FOOTPRINT_K, kernel_footprints
from .base import _widgets, connect, new_figure

__all__ = ["kernel_explorer"]


def kernel_explorer(k: int = 15, mid: int = 1, seed: int = 0):
    """Choose k (odd, 3-21), the intermediate channels ``mid`` (1-16) and a random draw ``seed``:
    the figure shows a random GCN block's equivalent k x k kernel for one channel pair and its rank,
    the same for a stack of (k - 1) / 2 linear 3 x 3 convolutions, and the expected |weight| of
    each over all random draws (90 % squares dashed)."""
    frame = kernel_footprints(k, mid, seed)         # validates the arguments
    fig, axes = new_figure((8.2, 2.3), ncols=4)
    art = draw_kernel_footprints(frame, axes, titles=False)
    w = _widgets()
    slider = dict(continuous_update=False, layout=w.Layout(width="230px"), style={"description_width": "55px"})
    controls = {
        "k": w.IntSlider(value=frame["k"], min=3, max=MAX_FOOTPRINT_K, step=2, description="k", **slider),
        "mid": w.IntSlider(value=frame["mid"], min=1, max=16, description="mid ch.", **slider),
        "seed": w.IntSlider(value=check_int(seed, "seed", min_value=0, max_value=99), min=0, max=99,
                            description="draw", **slider),
    }

    def redraw(st):
        update_kernel_footprints(art, st)
        k, m = st["k"], st["mid"]
        return (f"<code>panels, left to right: a random GCN's k x k kernel | a random 3x3 stack's | expected "
                f"|weight| of the GCN | of the stack "
                f"(white: the k x k field; cyan dashed: 90 % of it)<br>k = {k}, {m} intermediate channel(s), one input and one output channel<br>"
                f"weights: GCN {st['gcn_params']} (4 k mid), {(k - 1) // 2} stacked 3x3 convs "
                f"{st['stack_params']}, one {k}x{k} conv {st['conv_params']}<br>"
                f"rank of the drawn kernel: GCN {st['gcn_rank']} (at most min(2 x mid, k) = {min(2 * m, k)}), "
                f"stack {st['stack_rank']}<br>90 % of the expected |weight| within: GCN {st['gcn_erf90']} x "
                f"{st['gcn_erf90']}, stack {st['stack_erf90']} x {st['stack_erf90']} (field {k} x {k})</code>")

    return connect(fig, controls, kernel_footprints, redraw, title="kernel_explorer")
