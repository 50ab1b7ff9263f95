"""Pictures of segmentations: label maps, overlays, error maps, instances, confusion matrices.

Each ``draw_*`` draws into the axes it is given, or makes its own figure when ``ax`` is None, and
returns the artist it made, so a widget can update it in place (``set_data`` + ``draw_idle``).
"""
from __future__ import annotations

import numpy as np

from .._validate import as_array, check_float
from ..data.voc import colorize
from ..metrics import ERROR_KINDS, error_kinds
from .base import finish, get_axes, to_rgb

__all__ = ["overlay", "error_map", "ERROR_COLORS", "CLASS_ERROR_COLORS", "class_error_map", "draw_image",
           "draw_labels", "draw_overlay", "draw_error_map", "draw_class_errors", "draw_instances", "draw_confusion", "legend_patches"]

#: Colours of :func:`error_map`: true positive, false positive, false negative, true negative.
ERROR_COLORS = {"TP": (46, 160, 67), "FP": (214, 39, 40), "FN": (31, 119, 180), "TN": (235, 235, 235)}
#: Colours of :func:`class_error_map`, one per :data:`segcourse.metrics.ERROR_KINDS`, plus "ignored".
#: Correct class, missed and false positive reuse the TP/FN/FP colours of :data:`ERROR_COLORS`.
CLASS_ERROR_COLORS = {"correct background": (235, 235, 235), "correct class": (46, 160, 67),
                      "wrong class": (255, 160, 0), "missed": (31, 119, 180),
                      "false positive": (214, 39, 40), "ignored": (80, 80, 80)}


def overlay(image, labels, alpha: float = 0.5) -> np.ndarray:
    """Blend coloured labels over an image where labels > 0: -> (H, W, 3) float in [0, 1]."""
    img = to_rgb(image)
    lab = as_array(labels, "labels", shape=img.shape[:2], kind="int")
    alpha = check_float(alpha, "alpha", min_value=0.0, max_value=1.0)
    col = colorize(lab).astype(np.float32) / 255.0
    a = alpha * (lab > 0)[..., None]
    return (1 - a) * img + a * col


def error_map(pred, target) -> np.ndarray:
    """Two boolean masks (H, W) -> (H, W, 3) uint8 coloured by ``ERROR_COLORS`` (TP/FP/FN/TN)."""
    p = as_array(pred, "pred", ndim=2).astype(bool)
    t = as_array(target, "target", shape=p.shape).astype(bool)
    out = np.empty(p.shape + (3,), np.uint8)
    for key, m in (("TP", p & t), ("FP", p & ~t), ("FN", ~p & t), ("TN", ~p & ~t)):
        out[m] = ERROR_COLORS[key]
    return out


def class_error_map(pred, target, background: int = 0) -> np.ndarray:
    """Two (H, W) int class maps -> (H, W, 3) uint8 coloured by ``CLASS_ERROR_COLORS``: correct
    background, correct class, wrong class, missed, false positive, ignored (from ``error_kinds``)."""
    codes = error_kinds(as_array(pred, "pred", ndim=2, kind="int"), target, background=background)
    out = np.empty(codes.shape + (3,), np.uint8)
    for i, key in enumerate(ERROR_KINDS):
        out[codes == i] = CLASS_ERROR_COLORS[key]
    out[codes == -1] = CLASS_ERROR_COLORS["ignored"]
    return out


def draw_class_errors(pred, target, ax=None, title: str | None = None, legend: bool = True,
                      background: int = 0):
    """Show :func:`class_error_map` of two (H, W) int class maps, with a legend of the four error
    kinds and correct class (``legend=False`` to put one legend under a grid); returns the AxesImage."""
    ax, own = get_axes(ax)
    im = ax.imshow(class_error_map(pred, target, background), interpolation="nearest")
    if legend:
        keys = ("correct class", "wrong class", "missed", "false positive")
        ax.legend(handles=legend_patches({k: CLASS_ERROR_COLORS[k] for k in keys}),
                  loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    finish(ax, title, own)
    return im


def draw_image(image, ax=None, title: str | None = None):
    """Show an image ((H, W, 3) or (3, H, W)); returns the AxesImage."""
    ax, own = get_axes(ax)
    im = ax.imshow(to_rgb(image), interpolation="nearest")
    finish(ax, title, own)
    return im


def draw_labels(labels, ax=None, title: str | None = None):
    """Show a label map (H, W) in the VOC palette; returns the AxesImage."""
    ax, own = get_axes(ax)
    im = ax.imshow(colorize(labels), interpolation="nearest")
    finish(ax, title, own)
    return im


def draw_overlay(image, labels, ax=None, alpha: float = 0.5, title: str | None = None):
    """Show labels blended over the image; returns the AxesImage."""
    ax, own = get_axes(ax)
    im = ax.imshow(overlay(image, labels, alpha), interpolation="nearest")
    finish(ax, title, own)
    return im


def draw_error_map(pred, target, ax=None, title: str | None = None, legend: bool = True):
    """Show TP/FP/FN/TN of two boolean masks (H, W); returns the AxesImage."""
    ax, own = get_axes(ax)
    im = ax.imshow(error_map(pred, target), interpolation="nearest")
    if legend:
        ax.legend(handles=legend_patches({k: ERROR_COLORS[k] for k in ("TP", "FP", "FN")}),
                  loc="lower center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    finish(ax, title, own)
    return im


def legend_patches(colors: dict) -> list:
    """Legend handles for ``{label: (r, g, b) 0-255}``."""
    from matplotlib.patches import Patch
    return [Patch(color=np.asarray(c) / 255.0, label=str(k)) for k, c in colors.items()]


def draw_instances(image, instance, classes, boxes=None, class_names=None, ax=None,
                   title: str | None = None, alpha: float = 0.55):
    """Show instances in distinct colours, with boxes and class names.

    instance: (H, W) int, 0 = none, k = instance k (1-based); classes: (N,) int class of each;
    boxes: (N, 4) [x1, y1, x2, y2] or None. Colours come from a fixed palette (no randomness).
    Returns the AxesImage.
    """
    img = to_rgb(image)
    inst = as_array(instance, "instance", shape=img.shape[:2], kind="int", min_value=0)
    cls = as_array(classes, "classes", ndim=1, kind="int")
    n = len(cls)
    if inst.max(initial=0) > n:
        raise ValueError(f"instance: has id {inst.max()} but classes has only {n} entries")
    import matplotlib
    cmap = matplotlib.colormaps["tab10"]
    colors = np.array([cmap(k % 10)[:3] for k in range(max(n, 1))], np.float32)
    out = img.copy()
    for k in range(1, n + 1):
        m = inst == k
        out[m] = (1 - alpha) * out[m] + alpha * colors[k - 1]
    ax, own = get_axes(ax)
    im = ax.imshow(out, interpolation="nearest")
    if boxes is not None:
        b = as_array(boxes, "boxes", shape=(n, 4))
        from matplotlib.patches import Rectangle
        for k in range(n):
            x1, y1, x2, y2 = b[k]
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                   edgecolor=colors[k], linewidth=1.5))
            name = class_names[int(cls[k])] if class_names is not None else str(int(cls[k]))
            ax.text(x1 - 0.5, y1 - 1.5, name, color="white", fontsize=7,
                    bbox=dict(facecolor=colors[k], edgecolor="none", pad=1))
    finish(ax, title, own)
    return im


def draw_confusion(conf, class_names=None, ax=None, title: str | None = None, normalize: bool = True):
    """Show a (C, C) confusion matrix (rows = ground truth), row-normalised by default."""
    c = as_array(conf, "conf", shape=("C", "C")).astype(np.float64)
    shown = c / np.maximum(c.sum(1, keepdims=True), 1) if normalize else c
    ax, own = get_axes(ax, (4.5, 4))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    names = class_names if class_names is not None else [str(i) for i in range(len(c))]
    ax.set_xticks(range(len(c)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(c)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    for i in range(len(c)):
        for j in range(len(c)):
            ax.text(j, i, f"{shown[i, j]:.2f}" if normalize else f"{int(c[i, j])}", ha="center",
                    va="center", fontsize=7, color="white" if shown[i, j] > 0.6 * shown.max() else "black")
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return im
