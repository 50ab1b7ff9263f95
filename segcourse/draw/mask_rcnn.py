"""Pictures of Mask R-CNN's stages (lesson 11): the architecture with its tensor shapes, anchors,
objectness, boxes at every step, a mask from 28 x 28 logits to the image, final detections.

Every function draws into the axes it is given (or its own figure) and returns its artists.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_array
from .base import finish, get_axes, to_rgb

__all__ = ["draw_mask_rcnn_architecture", "draw_boxes", "draw_anchors", "draw_objectness", "draw_detections",
           "detection_colours", "DETECTION_COLOURS",
           "update_detections", "draw_ranked_detections", "update_ranked_detections"]

#: One colour per class id 1..5 of ``CLASSES`` (disc, square, triangle, star, cross); index 0 unused.
DETECTION_COLOURS = ("#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


def detection_colours(labels) -> list:
    """Matplotlib colours of class ids (cycled past 5)."""
    lab = as_array(labels, "labels", ndim=1, kind="int")
    return [DETECTION_COLOURS[1 + (int(c) - 1) % 5] for c in lab]


def _shape(t) -> str:
    return "×".join(str(int(s)) for s in t)


def draw_mask_rcnn_architecture(shapes: dict, ax=None, title: str | None = None) -> list:
    """Mask R-CNN as boxes and arrows, each arrow labelled with the tensor that flows along it.

    shapes: :func:`segcourse.models.mask_rcnn.mask_rcnn_shapes` (per-image shapes for one scene,
    R proposals, D detections). Returns the list of text artists."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    ax, own = get_axes(ax, figsize=(12, 5))
    texts = []
    blocks = {  # name: (x, y, text, colour)
        "image": (0.4, 3.3, "image\n(normalised)", "#dddddd"),
        "backbone": (3.0, 3.3, "backbone\n5 conv-BN-ReLU stages\n(strides 2 … 32)", "#c6dbef"),
        "fpn": (5.9, 3.3, "FPN\ntop-down + lateral", "#c6dbef"),
        "rpn": (9.0, 5.6, "RPN head\n3×3 conv, then 1×1\nobjectness, 1×1 deltas", "#fdd0a2"),
        "props": (13.0, 5.6, "decode anchors,\nNMS 0.7, top-n\n= proposals", "#fdd0a2"),
        "boxpool": (9.0, 3.3, "RoIAlign 7×7\n(level by box size)", "#c7e9c0"),
        "boxhead": (12.1, 3.3, "box head\n2 FC of 256", "#c7e9c0"),
        "cls": (15.3, 4.0, "class scores\n(softmax)", "#c7e9c0"),
        "reg": (15.3, 2.6, "per-class\nbox deltas", "#c7e9c0"),
        "maskpool": (9.0, 0.8, "RoIAlign 14×14\non detections", "#dadaeb"),
        "maskhead": (12.1, 0.8, "mask head: 4 conv 3×3,\ndeconv 2×, 1×1 per class", "#dadaeb"),
        "paste": (15.3, 0.8, "pick the class,\nsigmoid, paste", "#dadaeb"),
    }
    for name, (x, y, text, colour) in blocks.items():
        ax.add_patch(FancyBboxPatch((x - 1.05, y - 0.5), 2.1, 1.0, boxstyle="round,pad=0.05", fc=colour,
                                    ec="#555555", lw=0.8))
        texts.append(ax.text(x, y, text, ha="center", va="center", fontsize=6.5))

    def arrow(a, b, label, dy=0.12, side="center"):
        xa, ya = blocks[a][:2]
        xb, yb = blocks[b][:2]
        start = (xa + 1.05, ya)
        end = (xb - 1.05, yb)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color="#444444", lw=0.8))
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + dy
        texts.append(ax.text(mx, my, label, ha="center", va="bottom", fontsize=6.5, color="#08306b"))

    s = shapes
    arrow("image", "backbone", _shape(s["image"]))
    arrow("backbone", "fpn", "\n".join(_shape(v) for v in s["stages"].values()))
    arrow("fpn", "rpn", "P: " + ", ".join(_shape(v) for v in s["fpn"].values()), dy=0.15)
    arrow("rpn", "props", f"{s['anchors']} anchors:\n{s['anchors_per_location']} scores +\n"
          f"{4 * s['anchors_per_location']} deltas per cell")
    arrow("fpn", "boxpool", "P maps", dy=0.05)
    arrow("boxpool", "boxhead", _shape(s["box_rois"]))
    arrow("boxhead", "cls", _shape(s["class_logits"]), dy=0.05)
    arrow("boxhead", "reg", _shape(s["box_regression"]), dy=-0.35)
    arrow("fpn", "maskpool", "P maps", dy=0.05)
    arrow("maskpool", "maskhead", _shape(s["mask_rois"]))
    arrow("maskhead", "paste", _shape(s["mask_logits"]))
    ax.add_patch(FancyArrowPatch((13.0, 5.1), (9.3, 3.8), arrowstyle="-|>", mutation_scale=9, color="#a63603",
                                 lw=0.8, connectionstyle="arc3,rad=0.15"))
    texts.append(ax.text(11.3, 4.35, f"{s['proposals'][0]} proposals (boxes)", fontsize=6.5, color="#a63603",
                         ha="left"))
    ax.add_patch(FancyArrowPatch((15.3, 2.1), (9.3, 1.3), arrowstyle="-|>", mutation_scale=9, color="#54278f",
                                 lw=0.8, connectionstyle="arc3,rad=-0.1"))
    texts.append(ax.text(12.3, 1.75, f"{s['detections'][0]} detections (score threshold, per-class NMS)",
                         fontsize=6.5, color="#54278f", ha="center"))
    texts.append(ax.text(15.3, 0.2, "→ " + _shape(s["masks"]), fontsize=6.5, color="#08306b", ha="center",
                         va="top"))
    ax.set_xlim(-0.8, 16.5)
    ax.set_ylim(-0.4, 6.3)
    finish(ax, title, own)
    return texts


def draw_boxes(image, boxes, colours=None, labels=None, ax=None, title: str | None = None, linewidth: float = 1.0,
               alpha: float = 1.0) -> dict:
    """An image with boxes (K, 4) [x1, y1, x2, y2] in pixels (pixel centres at integers, so a box
    ``[x1, x2)`` spans x1 - 0.5 .. x2 - 0.5), optional per-box colours and text labels.
    Returns ``{"image": AxesImage, "boxes": LineCollection, "labels": [Text]}``."""
    from matplotlib.collections import LineCollection

    img = to_rgb(image)
    b = as_array(boxes, "boxes", shape=("K", 4)).astype(np.float64)
    ax, own = get_axes(ax)
    im = ax.imshow(img, interpolation="nearest")
    x1, y1, x2, y2 = (b[:, i] - 0.5 for i in range(4))
    segs = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1), np.stack([x1, y2], 1),
                     np.stack([x1, y1], 1)], 1)
    if colours is None:
        colours = ["#ffdd00"] * len(b)
    lc = LineCollection(segs, colors=colours, linewidths=linewidth, alpha=alpha)
    ax.add_collection(lc)
    texts = []
    if labels is not None:
        for k, text in enumerate(labels):
            texts.append(ax.text(x1[k], y1[k] - 1, text, color="white", fontsize=6, va="bottom",
                                 bbox=dict(facecolor=colours[k], edgecolor="none", pad=0.8, alpha=0.85)))
    ax.set_xlim(-0.5, img.shape[1] - 0.5)
    ax.set_ylim(img.shape[0] - 0.5, -0.5)
    finish(ax, title, own)
    return {"image": im, "boxes": lc, "labels": texts}


def draw_anchors(image, anchors: dict, strides: dict, location=(0.5, 0.5), ax=None, title: str | None = None) -> dict:
    """The anchors of every FPN level at the cell nearest ``location`` (fractions of the image), with
    each level's grid of anchor centres as dots. anchors: {level: (h*w*A, 4)}, strides: {level: s}.
    Returns ``draw_boxes``' artists."""
    img = to_rgb(image)
    size = img.shape[0]
    cols = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3"]
    ax, own = get_axes(ax)
    boxes, colours = [], []
    for i, (name, a) in enumerate(anchors.items()):
        s = strides[name]
        n = size // s
        a = as_array(a, f"anchors[{name!r}]", shape=("K", 4))
        per = a.shape[0] // (n * n)
        cy, cx = int(location[1] * n), int(location[0] * n)
        cell = (cy * n + cx) * per
        boxes.append(a[cell:cell + per])
        colours += [cols[i % 4]] * per
        centres = (np.arange(n) * s)
        gx, gy = np.meshgrid(centres, centres)
        ax.plot(gx.ravel() - 0.5, gy.ravel() - 0.5, ".", ms=1.5 + i, color=cols[i % 4],
                label=f"stride {s}: {n}×{n} cells, anchors {sorted({int(round(float(np.sqrt((b[2] - b[0]) * (b[3] - b[1]))))) for b in a[cell:cell + per]})} px")
    art = draw_boxes(img, np.concatenate(boxes), colours, ax=ax, linewidth=0.9)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.32), fontsize=6.5, frameon=False, markerscale=3)
    finish(ax, title, own)
    return art


def draw_objectness(objectness, ax=None, title: str | None = None, vmax: float = 1.0):
    """The RPN's objectness of one level, (A, h, w) probabilities, as the max over the A anchors of
    each cell. Returns the AxesImage (with a colourbar)."""
    o = as_array(objectness, "objectness", ndim=3)
    ax, own = get_axes(ax)
    im = ax.imshow(o.max(0), cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    finish(ax, title, own)
    return im


def _detection_layers(image, detections: dict, class_names, alpha: float, max_labels=None):
    import matplotlib.colors as mcolors

    img = to_rgb(image).copy()
    boxes = as_array(detections["boxes"], "detections['boxes']", shape=("D", 4))
    d = len(boxes)
    labels = as_array(detections["labels"], "detections['labels']", shape=(d,), kind="int")
    scores = as_array(detections["scores"], "detections['scores']", shape=(d,))
    masks = as_array(detections["masks"], "detections['masks']", shape=(d,) + img.shape[:2]).astype(bool)
    colours = detection_colours(labels)
    rows, cols = masks.any(2), masks.any(1)                          # (D, H), (D, W): each mask's extent
    for k in reversed(range(d)):                                     # worst first, best last (on top)
        r, c = np.flatnonzero(rows[k]), np.flatnonzero(cols[k])
        if not len(r):
            continue
        sl = (slice(r[0], r[-1] + 1), slice(c[0], c[-1] + 1))      # blend inside the mask's extent only
        m, sub = masks[k][sl], img[sl]
        sub[m] = (1 - alpha) * sub[m] + alpha * np.array(mcolors.to_rgb(colours[k]), np.float32)
    text = [f"{class_names[int(c)]} {s:.2f}" for c, s in zip(labels, scores)]
    if max_labels is not None:             # the best max_labels (detections come best first)
        text = text[:max_labels]
    return img, boxes, colours, text


def draw_detections(image, detections: dict, class_names, ax=None, title: str | None = None,
                    alpha: float = 0.45) -> dict:
    """Detections over an image: each mask filled in its class colour, its box and "class score".

    detections: ``{"boxes": (D, 4), "labels": (D,), "scores": (D,), "masks": (D, H, W) bool}``,
    drawn best last (on top). Returns ``draw_boxes``' artists (update them with
    :func:`update_detections`)."""
    img, boxes, colours, text = _detection_layers(image, detections, class_names, alpha)
    return draw_boxes(img, boxes, colours, text, ax=ax, title=title)


def update_detections(artists: dict, image, detections: dict, class_names, alpha: float = 0.45,
                      max_labels: int | None = None) -> None:
    """Redraw :func:`draw_detections`' artists in place for new detections on ``image`` (text
    labels for the best ``max_labels`` only, if given: text boxes are slow to draw)."""
    img, boxes, colours, text = _detection_layers(image, detections, class_names, alpha, max_labels)
    artists["image"].set_data(img)
    x1, y1, x2, y2 = (boxes[:, i] - 0.5 for i in range(4))
    segs = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1), np.stack([x1, y2], 1),
                     np.stack([x1, y1], 1)], 1)
    artists["boxes"].set_segments(list(segs))
    artists["boxes"].set_color(colours)
    ax = artists["image"].axes
    labels = artists["labels"]
    while len(labels) < len(text):     # the text artists are reused: making one costs more than moving it
        labels.append(ax.text(0, 0, "", color="white", fontsize=6, bbox=dict(edgecolor="none", pad=0.8, alpha=0.85)))
    top = y1 < 8                       # near the top edge the label goes inside the box
    for k, t in enumerate(labels):
        t.set_visible(k < len(text))
        t.set_clip_on(True)            # inside the axes: a widget may redraw the axes' data alone
        if k < len(text):
            t.set_text(text[k])
            t.set_position((x1[k], y1[k] + 1 if top[k] else y1[k] - 1))
            t.set_verticalalignment("top" if top[k] else "bottom")
            t.get_bbox_patch().set_facecolor(colours[k])


TP_COLOUR, FP_COLOUR = "#1a9850", "#d73027"


def draw_ranked_detections(scores, tp, objects: int, threshold: float, ax=None, title: str | None = None) -> dict:
    """Every kept detection of a set of images in score order: its score (y) against its rank (x),
    green if it matches an object (mask IoU >= 0.5), red if not; a dashed line at the score
    threshold, a dotted one at the number of objects (the most true positives possible).
    Returns ``{"points", "threshold", "objects"}`` for :func:`update_ranked_detections`.

    Few ticks, short axis labels naming the lines, no legend (say in the text around it: green
    matches an object, red does not): a widget redraws this at every change, and drawing text,
    glyph by glyph, is most of the cost of a redraw."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    sc = as_array(scores, "scores", ndim=1)
    t = as_array(tp, "tp", shape=sc.shape).astype(bool)
    ax, own = get_axes(ax, figsize=(4, 3))
    pts = ax.scatter(np.arange(len(sc)), sc, s=6, c=[TP_COLOUR if v else FP_COLOUR for v in t], linewidths=0)
    thr = ax.axhline(threshold, color="#555555", ls="--", lw=0.8)
    obj = ax.axvline(objects - 0.5, color="#555555", ls=":", lw=0.8)
    ax.set_xlabel("rank (dotted: number of objects)", fontsize=8)
    ax.set_ylabel("score (dashed: threshold)", fontsize=8)
    ax.set_ylim(-0.03, 1.05)         # margins: no point touches the frame (a widget redraws the data alone)
    ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.yaxis.set_major_locator(FixedLocator([0, 0.5, 1]))
    finish(ax, title, own, axis_off=False)
    return {"points": pts, "threshold": thr, "objects": obj}


def update_ranked_detections(artists: dict, scores, tp, objects: int, threshold: float, max_rank: int) -> None:
    """Redraw :func:`draw_ranked_detections` in place; the x axis spans ``max_rank`` detections."""
    sc = as_array(scores, "scores", ndim=1)
    t = as_array(tp, "tp", shape=sc.shape).astype(bool)
    artists["points"].set_offsets(np.stack([np.arange(len(sc)), sc], 1) if len(sc) else np.zeros((0, 2)))
    artists["points"].set_facecolors([TP_COLOUR if v else FP_COLOUR for v in t])
    artists["threshold"].set_ydata([threshold, threshold])
    artists["objects"].set_xdata([objects - 0.5, objects - 0.5])
    artists["points"].axes.set_xlim(-6, max(max_rank, objects) + 6)
