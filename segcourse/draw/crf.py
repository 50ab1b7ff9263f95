"""Pictures of lesson 05 (the fully connected CRF): the appearance kernel of one pixel, the labels
after each mean-field step, the free-energy curve. The computation is in ``segcourse.ops.crf``
(:func:`~segcourse.ops.crf.dense_crf_steps` gives everything these draw).

Each ``draw_*(..., ax=None)`` draws into the axes it is given, or makes its own figure and shows
it, and returns the artist(s) it made, so a widget can update them in place.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_array, check_int
from ..data.voc import colorize
from .base import finish, get_axes, to_rgb

__all__ = ["draw_crf_kernel", "draw_crf_steps", "draw_free_energy"]


def draw_crf_kernel(image, kernel, pixel: tuple[int, int], ax=None, title: str | None = None,
                    alpha: float = 0.65):
    """Which pixels pull ``pixel`` and how hard: the appearance kernel as a heat map over the image.

    image: (H, W, 3) uint8 (or float in [0, 1]); kernel: (H, W) float (e.g.
    ``ops.crf.appearance_kernel``); pixel: (row, col), marked with a cross.
    Returns (image AxesImage, kernel AxesImage, marker Line2D): update with ``set_data``.
    """
    img = to_rgb(image)
    k = as_array(kernel, "kernel", shape=img.shape[:2], kind="float").astype(np.float32)
    r = check_int(pixel[0], "pixel[0] (row)", min_value=0, max_value=img.shape[0] - 1)
    c = check_int(pixel[1], "pixel[1] (col)", min_value=0, max_value=img.shape[1] - 1)
    ax, own = get_axes(ax)
    grey = np.repeat(img.mean(2, keepdims=True), 3, axis=2)
    base = ax.imshow(0.45 * grey, interpolation="nearest")           # dimmed grey: the heat stands out
    heat = ax.imshow(_heat_rgba(k, alpha), interpolation="nearest")
    (marker,) = ax.plot([c], [r], marker="+", color="white", markersize=12, markeredgewidth=2)
    finish(ax, title, own)
    return base, heat, marker


def _heat_rgba(kernel: np.ndarray, alpha: float) -> np.ndarray:
    """(H, W) weights -> (H, W, 4) RGBA: yellow, opacity sqrt(weight / max) (the pixel itself = max)."""
    top = float(kernel.max()) or 1.0
    x = np.clip(kernel / top, 0, 1)
    rgba = np.empty(kernel.shape + (4,), np.float32)
    rgba[..., :3] = (1.0, 0.85, 0.1)
    rgba[..., 3] = min(1.0, alpha / 0.65 * 0.9) * np.sqrt(x)
    return rgba


def draw_crf_steps(labels, axes=None, titles=None):
    """The label map after each mean-field step: labels (T+1, H, W) int, step 0 = the unary's argmax.

    axes: a sequence of T+1 axes, or None for a new row of subplots. Returns the list of AxesImage.
    """
    lab = as_array(labels, "labels", ndim=3, kind="int")
    own = axes is None
    if own:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(1, lab.shape[0], figsize=(2.2 * lab.shape[0], 2.4), squeeze=False)
        axes = axes[0]
    if len(axes) != lab.shape[0]:
        raise ValueError(f"axes: expected {lab.shape[0]} axes (one per step), got {len(axes)}")
    titles = titles or ["unary (step 0)"] + [f"step {t}" for t in range(1, lab.shape[0])]
    artists = []
    for ax, lt, tt in zip(axes, lab, titles):
        artists.append(ax.imshow(colorize(lt), interpolation="nearest"))
        finish(ax, tt, False)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return artists


def draw_free_energy(energies, ax=None, title: str | None = "mean-field free energy F(Q)", label=None):
    """F(Q_t) against the step t: energies (T+1,) float. Returns the Line2D (``set_data``)."""
    e = as_array(energies, "energies", ndim=1, kind="float")
    ax, own = get_axes(ax, figsize=(4, 3))
    (line,) = ax.plot(np.arange(len(e)), e, marker="o", label=label)
    ax.set_xlabel("mean-field step t")
    ax.set_ylabel("F(Q_t)")
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return line
