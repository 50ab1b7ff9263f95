"""Lesson 01's widget: a unit's theoretical and effective receptive field on a photo.

The computation is :func:`segcourse.ops.receptive_field.receptive_field_frame` (tested); this
module only draws its default frame and wires the controls with :func:`connect`.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validate import as_tensor, check_choice, check_int
from ..data.images import imagenet_normalize, prepare_photo
from ..draw.segmentation import draw_image
from ..models.vgg import slim_vgg16_features
from ..ops.receptive_field import ConeGradient, receptive_field_frame, receptive_fields, unit_centres
from .base import _widgets, connect, new_figure

__all__ = ["receptive_field_explorer"]


def receptive_field_explorer(image, features=None, layer: str = "pool3", unit=None):
    """Pick a layer and an output unit of VGG-16: see its theoretical receptive field (yellow square),
    the stride grid of the layer's unit centres (dots), and its effective receptive field
    (|gradient| of the unit w.r.t. the photo, Luo et al. arXiv:1701.04128), with the numbers.

    image: a photo ((H, W, 3) uint8 or (3, S, S) float in [0, 1]; centre-cropped and resized to
    224 x 224). features: a named ``nn.Sequential`` (default: :func:`slim_vgg16_features`, VGG-16's
    geometry with 1/16 of the channels, seeded). unit: (row, col), default the centre unit.
    """
    from matplotlib.patches import Rectangle

    if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3 and image.shape[1] == image.shape[2]:
        photo = as_tensor(image, "image", shape=(3, "S", "S"), kind="float", min_value=0, max_value=1)
    else:
        photo = prepare_photo(image, 224)
    size = photo.shape[-1]
    if features is None:
        features = slim_vgg16_features(16, generator=torch.Generator().manual_seed(0))
    records = {r.name: r for r in receptive_fields(features, input_size=size)}
    if not records:
        raise ValueError("features: has no convolution or pooling layer")
    layer = check_choice(layer, "layer", list(records))
    rec = records[layer]
    if unit is None:
        unit = (rec.out_size // 2, rec.out_size // 2)
    row = check_int(unit[0], "unit[0]", min_value=0, max_value=rec.out_size - 1)
    col = check_int(unit[1], "unit[1]", min_value=0, max_value=rec.out_size - 1)
    cone = ConeGradient(features, imagenet_normalize(photo)[None], until=list(records)[-1])
    base = photo.permute(1, 2, 0).numpy().astype(np.float32)
    red = np.array([1.0, 0.15, 0.0], np.float32)

    def photo_with_erf(erf):
        """The photo with the effective RF blended over it in red: one (H, W, 3) uint8 image, so a
        redraw resamples one picture instead of a photo plus a transparent overlay."""
        a = (np.clip(erf, 0, 1) ** 0.5 * 0.85).astype(np.float32)[..., None]
        return np.rint((base * (1 - a) + red * a) * 255).astype(np.uint8)

    st = receptive_field_frame(records, cone, layer, row, col)
    fig, (ax_img, ax_erf) = new_figure((7.2, 3.7), ncols=2)
    im_over = draw_image(photo_with_erf(st["erf"]), ax=ax_img, title="photo + effective RF (red), RF box, unit grid")
    (grid,) = ax_img.plot(*unit_centres(rec), ".", ms=1.5, color="cyan", alpha=0.8)
    x0, y0, s = st["rf_box"]
    box = Rectangle((x0, y0), s, s, fill=False, edgecolor="yellow", lw=1.6)
    ax_img.add_patch(box)
    (centre,) = ax_img.plot([st["centre"][1]], [st["centre"][0]], "+", color="yellow", ms=10, mew=2)
    ax_img.set_xlim(-0.5, size - 0.5)
    ax_img.set_ylim(size - 0.5, -0.5)
    im_erf = ax_erf.imshow(st["erf"], cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    box2 = Rectangle((x0, y0), s, s, fill=False, edgecolor="yellow", lw=1.2, ls="--")
    ax_erf.add_patch(box2)
    ax_erf.set_xlim(-0.5, size - 0.5)
    ax_erf.set_ylim(size - 0.5, -0.5)
    ax_erf.set_axis_off()
    ax_erf.set_title("effective RF: |d unit / d pixel| (normalised)", fontsize=10)

    w = _widgets()
    controls = {
        "layer": w.Dropdown(options=list(records), value=layer, description="layer",
                            layout=w.Layout(width="220px", min_width="180px")),
        "row": w.IntSlider(value=row, min=0, max=rec.out_size - 1, description="row", continuous_update=False,
                           layout=w.Layout(width="260px", min_width="220px")),
        "col": w.IntSlider(value=col, min=0, max=rec.out_size - 1, description="col", continuous_update=False,
                           layout=w.Layout(width="260px", min_width="220px")),
    }

    def adjust(ctl, change):
        n = records[ctl["layer"].value].out_size
        if ctl["row"].max != n - 1:  # a new layer: new map size, start at its centre
            ctl["row"].max = ctl["col"].max = n - 1
            ctl["row"].value = ctl["col"].value = n // 2

    def redraw(st):
        im_over.set_data(photo_with_erf(st["erf"]))
        im_erf.set_data(st["erf"])
        grid.set_data(*unit_centres(records[st["layer"]]))
        x0, y0, s = st["rf_box"]
        box.set_bounds(x0, y0, s, s)
        box2.set_bounds(x0, y0, s, s)
        centre.set_data([st["centre"][1]], [st["centre"][0]])
        cy, cx = st["centre"]
        return (f"<code>{st['layer']}: output {st['out_size']}x{st['out_size']}, unit ({st['unit'][0]}, "
                f"{st['unit'][1]}) centred at input pixel (y={cy:g}, x={cx:g}) = start + index x jump"
                f"<br>theoretical RF size = {st['size']} px, jump (stride) = {st['jump']} px, start = "
                f"{st['start']:g}<br>effective RF: 90% of |gradient| within a {st['erf90']} px square "
                f"({st['erf90'] / st['size']:.0%} of the theoretical side); mass outside the theoretical "
                f"RF = {st['outside_mass']:.1e}</code>")

    widget = connect(fig, controls, lambda layer, row, col: receptive_field_frame(records, cone, layer, row, col),
                     redraw, title="receptive_field_explorer", adjust=adjust)
    widget.records = records
    return widget
