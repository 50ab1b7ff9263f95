"""What every picture shares: axes handling and images as RGB.

Each ``draw_*`` function in :mod:`segcourse.draw` draws into the axes it is given, or makes its own
figure when ``ax`` is None (and shows it), and returns the artist(s) it made, so a widget can
update them in place (``set_data`` + ``draw_idle``).
"""
from __future__ import annotations

import numpy as np

from .._validate import as_array

__all__ = ["get_axes", "finish", "to_rgb"]


def to_rgb(image) -> np.ndarray:
    """(H, W, 3) uint8 or float in [0, 1], or (3, H, W) float tensor -> (H, W, 3) float in [0, 1]."""
    img = as_array(image, "image", ndim=3)
    if img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    if img.shape[-1] != 3:
        raise ValueError(f"image: expected shape (H, W, 3) or (3, H, W), got {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.min() < 0 or img.max() > 1:
        raise ValueError("image: expected float values in [0, 1] (or a uint8 image)")
    return img.astype(np.float32)


def get_axes(ax, figsize=(4, 4)):
    """``(ax, own)``: the axes given, or new axes of a new figure (``own`` True: show it at the end)."""
    if ax is not None:
        return ax, False
    import matplotlib.pyplot as plt
    _, ax = plt.subplots(figsize=figsize)
    return ax, True


def finish(ax, title, own, axis_off: bool = True):
    """Title the axes, hide the frame (``axis_off``), and show the figure if ``own``."""
    if title:
        ax.set_title(title, fontsize=10)
    if axis_off:
        ax.set_axis_off()
    if own:
        import matplotlib.pyplot as plt
        plt.show()
