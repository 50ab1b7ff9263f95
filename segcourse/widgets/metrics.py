"""Lesson 00's widget: one class in one image as TP / FP / FN pixels, and its IoU.

The computation is :func:`segcourse.metrics.class_errors` (tested); this module only draws its
default frame and wires the controls with :func:`connect`.
"""
from __future__ import annotations

from .._validate import as_array, check_images, check_int
from ..draw.segmentation import draw_error_map, draw_image, error_map
from ..metrics import class_errors
from .base import _widgets, connect, new_figure

__all__ = ["iou_explorer"]


def iou_explorer(images, targets, preds, class_names, index: int = 0, cls: int = 1):
    """Pick an image and a class: see prediction vs ground truth as TP/FP/FN pixels, and the IoU.

    images: (N, 3, H, W) float in [0, 1]; targets, preds: (N, H, W) int class ids.
    The readout shows |TP|, |FP|, |FN| and IoU = TP / (TP + FP + FN) for the chosen class.
    """
    imgs = check_images(images)
    tg = as_array(targets, "targets", shape=(imgs.shape[0], *imgs.shape[2:]), kind="int")
    pr = as_array(preds, "preds", shape=(imgs.shape[0], *imgs.shape[2:]), kind="int")
    index = check_int(index, "index", min_value=0, max_value=imgs.shape[0] - 1)
    cls = check_int(cls, "cls", min_value=0, max_value=len(class_names) - 1)

    def compute(index, cls):
        return dict(class_errors(pr[index], tg[index], cls), index=index, cls=cls)

    st = compute(index, cls)
    fig, (ax_img, ax_err) = new_figure((6.4, 3.4), ncols=2)
    im_img = draw_image(imgs[index], ax=ax_img, title=f"image {index}")
    im_err = draw_error_map(st["pred_mask"], st["true_mask"], ax=ax_err,
                            title=f"class '{class_names[cls]}': IoU {st['iou']:.3f}")
    w = _widgets()
    controls = {
        "index": w.IntSlider(value=index, min=0, max=imgs.shape[0] - 1, description="image",
                             continuous_update=True),
        "cls": w.Dropdown(options=[(n, k) for k, n in enumerate(class_names)][1:], value=cls,
                          description="class"),
    }

    def redraw(st):
        i, c = st["index"], st["cls"]
        im_img.set_data(imgs[i].permute(1, 2, 0).numpy())
        im_err.set_data(error_map(st["pred_mask"], st["true_mask"]))
        ax_img.set_title(f"image {i}", fontsize=10)
        ax_err.set_title(f"class '{class_names[c]}': IoU {st['iou']:.3f}", fontsize=10)
        return (f"<code>TP={st['tp']}  FP={st['fp']}  FN={st['fn']}  IoU = TP/(TP+FP+FN) = "
                f"{st['iou']:.3f}</code>")

    return connect(fig, controls, compute, redraw, title="iou_explorer")
