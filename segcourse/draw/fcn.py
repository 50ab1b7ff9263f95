"""Pictures of lesson 04: FCN-32s, FCN-16s and FCN-8s as block diagrams with their tensor sizes, and
the learning curves of the from-classifier vs from-scratch study.

The sizes come from :func:`fcn_tensor_sizes` (pure arithmetic of the course FCN: SAME convolutions,
five 2x2 pools, fc6/fc7 at stride 32, 2x transposed convolutions, fixed bilinear upsampling);
``tests/test_draw_widgets.py`` checks them against the shapes of a real forward pass.
"""
from __future__ import annotations

from .._validate import check_int
from .base import finish, get_axes

__all__ = ["fcn_tensor_sizes", "draw_fcn_architecture", "draw_learning_curves"]

_BACKBONE = "#d9d9d9"
_SCORE = "#f2c14e"
_SKIP = "#8ecae6"
_OUT = "#90be6d"
_DX = 1.45  # horizontal spacing of the boxes


def fcn_tensor_sizes(size: int, num_classes: int, widths=(8, 16, 32, 64, 64), fc_width: int = 128) -> dict:
    """``{name: (channels, side)}`` of the course FCN's tensors for a ``size`` x ``size`` image:
    image, pool1..pool5, fc7, score_fr (stride 32), score_pool4 (16), score_pool3 (8), output."""
    size = check_int(size, "size", min_value=32)
    if size % 32:
        raise ValueError(f"size: expected a multiple of 32 (five 2x2 pools), got {size}")
    num_classes = check_int(num_classes, "num_classes", min_value=2)
    widths = tuple(check_int(w, "widths", min_value=1) for w in widths)
    if len(widths) != 5:
        raise ValueError(f"widths: expected 5 widths (one per VGG block), got {len(widths)}")
    out = {"image": (3, size)}
    for k, w in enumerate(widths, start=1):
        out[f"pool{k}"] = (w, size >> k)
    out["fc7"] = (check_int(fc_width, "fc_width", min_value=1), size // 32)
    out["score_fr"] = (num_classes, size // 32)
    out["score_pool4"] = (num_classes, size // 16)
    out["score_pool3"] = (num_classes, size // 8)
    out["output"] = (num_classes, size)
    return out


def _box(ax, x, y, text, color, w=1.4, h=0.62):
    x = x * _DX
    from matplotlib.patches import FancyBboxPatch
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                facecolor=color, edgecolor="#444444", linewidth=0.8))
    return ax.text(x, y, text, ha="center", va="center", fontsize=6.5)


def _arrow(ax, a, b, label=None, color="#444444", rad=0.0):
    """An arrow from box centre a to box centre b (diagram units), starting and ending at the boxes' edges."""
    a, b = (a[0] * _DX, a[1]), (b[0] * _DX, b[1])
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = min(0.72 / abs(dx) if dx else float("inf"), 0.33 / abs(dy) if dy else float("inf"))
    a2, b2 = (a[0] + t * dx, a[1] + t * dy), (b[0] - t * dx, b[1] - t * dy)
    ax.annotate("", xy=b2, xytext=a2, arrowprops=dict(arrowstyle="->", color=color, lw=0.9, shrinkA=0,
                                                      shrinkB=0, connectionstyle=f"arc3,rad={rad}"))
    if label:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, label, ha="center", va="bottom",
                fontsize=6.5, color=color)


def draw_fcn_architecture(size: int = 128, num_classes: int = 6, widths=(8, 16, 32, 64, 64),
                          fc_width: int = 128, ax=None):
    """Block diagram of FCN-32s/16s/8s (one row each) sharing the backbone row, every box labelled
    with its tensor (channels x side x side). Returns ``{"boxes": [Text, ...]}``, one per box."""
    s = fcn_tensor_sizes(size, num_classes, widths, fc_width)
    own = ax is None
    ax, _ = get_axes(ax, (12, 4.6))
    lab = lambda name, title: f"{title}\n{s[name][0]}×{s[name][1]}×{s[name][1]}"  # noqa: E731
    texts = []
    # backbone row (y = 3)
    xs = {"image": 0, "pool1": 1.2, "pool2": 2.4, "pool3": 3.6, "pool4": 4.8, "pool5": 6.0, "fc7": 7.2, "score_fr": 8.4}
    titles = {"image": "image", "pool1": "conv1 + pool1", "pool2": "conv2 + pool2", "pool3": "conv3 + pool3",
              "pool4": "conv4 + pool4", "pool5": "conv5 + pool5", "fc7": "fc6, fc7 (conv)", "score_fr": "score_fr 1×1"}
    names = list(xs)
    for n in names:
        texts.append(_box(ax, xs[n], 3, lab(n, titles[n]), _SCORE if n == "score_fr" else _BACKBONE))
    for a, b in zip(names, names[1:]):
        _arrow(ax, (xs[a], 3), (xs[b], 3))
    C, S = num_classes, size
    out_lab = f"output\n{C}×{S}×{S}"
    # FCN-32s (y = 2)
    ax.text(-0.8, 2, "FCN-32s", ha="right", va="center", fontsize=9, weight="bold")
    texts.append(_box(ax, 10.8, 2, out_lab, _OUT))
    _arrow(ax, (xs["score_fr"], 3), (10.8, 2), "32× bilinear (fixed)")
    # FCN-16s (y = 1)
    ax.text(-0.8, 1, "FCN-16s", ha="right", va="center", fontsize=9, weight="bold")
    texts.append(_box(ax, 4.8, 1, lab("score_pool4", "score_pool4 1×1"), _SKIP))
    _arrow(ax, (xs["pool4"], 3), (4.8, 1))
    texts.append(_box(ax, 8.4, 1, lab("score_pool4", "+ (stride 16)"), _SCORE))
    _arrow(ax, (xs["score_fr"], 3), (8.4, 1), "2× (learned)")
    _arrow(ax, (4.8, 1), (8.4, 1))
    texts.append(_box(ax, 10.8, 1, out_lab, _OUT))
    _arrow(ax, (8.4, 1), (10.8, 1), "16× bilinear")
    # FCN-8s (y = 0)
    ax.text(-0.8, 0, "FCN-8s", ha="right", va="center", fontsize=9, weight="bold")
    texts.append(_box(ax, 3.6, 0, lab("score_pool3", "score_pool3 1×1"), _SKIP))
    _arrow(ax, (xs["pool3"], 3), (3.6, 0))
    texts.append(_box(ax, 6.0, 0, lab("score_pool4", "pool4 skip + (16)"), _SCORE))
    _arrow(ax, (xs["pool4"], 3), (6.0, 0), None, color="#7aa6c2")
    texts.append(_box(ax, 8.4, 0, lab("score_pool3", "+ (stride 8)"), _SCORE))
    _arrow(ax, (6.0, 0), (8.4, 0), "2× (learned)")
    _arrow(ax, (3.6, -0.31), (8.4, -0.31), rad=0.2)
    texts.append(_box(ax, 10.8, 0, out_lab, _OUT))
    _arrow(ax, (8.4, 0), (10.8, 0), "8× bilinear")
    ax.text(6.0 * _DX, -0.85, "the FCN-8s row's stride-16 sum is built as in FCN-16s (2× of score_fr + score_pool4)",
            ha="center", va="center", fontsize=6.5, color="#555555")
    ax.set_xlim(-1.6, 11.6 * _DX)
    ax.set_ylim(-1.0, 3.5)
    ax.set_axis_off()
    ax.set_title(f"FCN-32s / 16s / 8s on a {size}×{size} image (tensor: channels × height × width)", fontsize=10)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return {"boxes": texts}


_INIT_COLOURS = {"classifier": "#1f77b4", "scratch": "#d62728"}


def draw_learning_curves(runs, ax=None, title: str | None = None, key: str = "miou") -> list:
    """Validation mIoU after each epoch, one line per run: colour by where the weights started
    (``init``: classifier blue, scratch red), line style by seed (solid 0, dashed 1, dotted 2...).

    runs: dicts with ``init``, ``seed``, ``net`` and ``curve`` = [{"epoch", key}, ...] (as in
    ``fcn_study_results()["runs"]``). Returns the Line2D artists in the order of ``runs``."""
    if not isinstance(runs, (list, tuple)) or not runs:
        raise ValueError("runs: expected a non-empty list of study runs (dicts with init, seed, net, curve)")
    for r in runs:
        if not isinstance(r, dict) or not {"init", "seed", "net", "curve"} <= set(r) or not r["curve"]:
            raise ValueError("runs: expected dicts with init, seed, net and a non-empty curve")
        if r["init"] not in _INIT_COLOURS:
            raise ValueError(f"runs: init expected one of {sorted(_INIT_COLOURS)}, got {r['init']!r}")
    ax, own = get_axes(ax, figsize=(5, 3.2))
    styles = ["-", "--", ":", "-."]
    lines = []
    for r in runs:
        ep = [p["epoch"] for p in r["curve"]]
        val = [p[key] for p in r["curve"]]
        lines += ax.plot(ep, val, color=_INIT_COLOURS[r["init"]], ls=styles[r["seed"] % len(styles)], marker="o", ms=3,
                         label=f"{r['net']} from {r['init']}, seed {r['seed']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mIoU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    finish(ax, title, own, axis_off=False)
    return lines
