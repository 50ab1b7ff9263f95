"""Lesson 12's pictures: the 24-class shape family (A and B), and masks of held-out classes under
the agnostic / transfer / oracle heads."""
from __future__ import annotations

import numpy as np

from .base import finish, get_axes, to_rgb

__all__ = ["A_COLOR", "B_COLOR", "draw_shape_family", "draw_mask_prob", "draw_head_masks", "draw_lse_diagram"]

A_COLOR = "#1f77b4"   # classes with masks
B_COLOR = "#d95f02"   # held-out classes (boxes only)


def draw_shape_family(gallery, ids, names, held_out, ax=None, title: str | None = None):
    """The gallery of :func:`segcourse.data.shapes.shape_gallery`: A classes in blue, B classes
    (``held_out``, names) in orange, each tile labelled. Returns ``{"image", "labels"}``."""
    ax, own = get_axes(ax, figsize=(8, 5.5))
    g = np.asarray(gallery, dtype=float)
    ids = np.asarray(ids)
    tile = g.shape[0] // ids.shape[0]
    rgb = np.ones((*g.shape, 3))
    for (r, q), c in np.ndenumerate(ids):
        if c == 0:
            continue
        colour = np.array([int((B_COLOR if names[c] in held_out else A_COLOR)[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        sl = (slice(r * tile, (r + 1) * tile), slice(q * tile, (q + 1) * tile))
        rgb[sl] = 1 - g[sl][..., None] * (1 - colour)
    image = ax.imshow(rgb, interpolation="nearest")
    labels = []
    for (r, q), c in np.ndenumerate(ids):
        if c:
            b = names[c] in held_out
            labels.append(ax.text(q * tile + tile / 2, (r + 1) * tile - 2, names[c] + (" (B)" if b else ""),
                                  ha="center", va="bottom", fontsize=7, color=B_COLOR if b else "black"))
    finish(ax, title, own)
    return {"image": image, "labels": labels}


def draw_mask_prob(probs, ax=None, title: str | None = None):
    """A 28 x 28 mask probability map (0 white .. 1 black) with the 0.5 contour. Returns the image."""
    ax, own = get_axes(ax, figsize=(2.5, 2.5))
    p = np.asarray(probs, dtype=float)
    image = ax.imshow(p, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    finish(ax, title, own)
    return image


def draw_head_masks(crops, gt, masks: dict, row_titles, axes=None, col_titles=True):
    """One row per RoI: its image crop, the ground-truth mask, then each head's mask
    (``masks``: head -> (R, M, M) probabilities); ``axes`` (R, 2 + heads) or None.
    Returns the axes array."""
    crops = list(crops)
    r, heads = len(crops), list(masks)
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(r, 2 + len(heads), figsize=(1.5 * (2 + len(heads)), 1.5 * r), squeeze=False)
    for i in range(r):
        row = axes[i]
        row[0].imshow(to_rgb(crops[i]))
        row[0].set_ylabel(row_titles[i], fontsize=8, color=B_COLOR)
        draw_mask_prob(gt[i], ax=row[1])
        for j, h in enumerate(heads):
            draw_mask_prob(masks[h][i], ax=row[2 + j])
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_axis_on()
        if i == 0 and col_titles:
            for ax, t in zip(row, ["RoI", "ground truth", *heads]):
                ax.set_title(t, fontsize=9)
    return axes


def draw_lse_diagram(ax=None, title: str | None = None):
    """The model of lesson 12: one detector, three mask heads, and the weight transfer
    w_seg = T(w_det) with its stop-gradient. Returns the list of box texts."""
    from matplotlib.patches import FancyArrowPatch

    ax, own = get_axes(ax, figsize=(11, 4.4))
    boxes = {   # name: (x centre, y centre, text)
        "img": (0.05, 0.55, "image\n3×128×128"),
        "bb": (0.19, 0.55, "backbone\n+ FPN (64 ch)"),
        "rpn": (0.36, 0.92, "RPN: proposals"),
        "boxroi": (0.36, 0.55, "RoIAlign 7×7\n2 FC of 256"),
        "det": (0.57, 0.55, "box predictor, 24 classes\nw_det^c = cls (256) + box (4×256)"),
        "T": (0.85, 0.55, "T: MLP 1280→128→33\nw_seg^c = T(w_det^c)"),
        "maskroi": (0.36, 0.12, "RoIAlign 14×14\nmask RoIs"),
        "agn": (0.57, 0.25, "agnostic: 4 conv → 1 mask\nmask loss on A only"),
        "tr": (0.85, 0.12, "transfer: 4 conv → 1×1 conv\nweights T(w_det^c), loss on A"),
        "or": (0.57, -0.02, "oracle: 4 conv → 24 masks\nloss on all; input detached"),
    }
    texts = {}
    for k, (x, y, t) in boxes.items():
        colour = {"T": "#fde0c5", "tr": "#fde0c5", "agn": "#dbe9f6", "or": "#e5e5e5"}.get(k, "#f4f4f4")
        texts[k] = ax.text(x, y, t, ha="center", va="center", fontsize=8,
                           bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="0.4"))

    def arrow(a, b, ls="-", colour="0.2"):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, lw=1.1, ls=ls, color=colour))

    arrow((0.09, 0.55), (0.145, 0.55))
    arrow((0.235, 0.6), (0.31, 0.9))
    arrow((0.235, 0.55), (0.31, 0.55))
    arrow((0.235, 0.5), (0.31, 0.15))
    arrow((0.41, 0.55), (0.465, 0.55))
    arrow((0.675, 0.55), (0.765, 0.55), ls="--", colour=B_COLOR)
    ax.text(0.72, 0.6, "stop-gradient", fontsize=7, color=B_COLOR, ha="center")
    arrow((0.41, 0.14), (0.47, 0.24))
    arrow((0.41, 0.12), (0.75, 0.12))
    arrow((0.41, 0.10), (0.47, 0.0), ls=":")
    arrow((0.85, 0.47), (0.85, 0.2), colour=B_COLOR)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.12, 1.0)
    finish(ax, title, own)
    return list(texts.values())
