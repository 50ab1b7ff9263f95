"""Widgets of lessons 01 and 03: receptive fields on a photo, interpolation weights.

Same pattern as :mod:`segcourse.widgets`: the figure is drawn once, artists are kept in the
closure and updated in place (``set_data`` / ``set_bounds`` / ``set_text``) then ``draw_idle()``;
errors go to the widget's ``Output``. Each returned widget has ``update()`` and ``state`` (a dict
of the numbers the readout shows), so tests can check what is drawn.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from ._validate import as_tensor, check_choice, check_int

__all__ = ["receptive_field_explorer", "interpolation_explorer", "prepare_photo",
           "ConeGradient"]

_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def prepare_photo(image, size: int = 224) -> torch.Tensor:
    """Centre-crop an (H, W, 3) uint8 photo (or (3, H, W) float in [0, 1]) to a square and resize
    it to ``size`` x ``size`` (antialiased bilinear): returns (3, size, size) float in [0, 1]."""
    size = check_int(size, "size", min_value=8, max_value=1024)
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[-1] == 3:
        from .voc import image_tensor
        x = image_tensor(image)
    else:
        x = as_tensor(image, "image", shape=(3, None, None), kind="float", min_value=0, max_value=1)
    h, w = x.shape[1:]
    s = min(h, w)
    x = x[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return x.clamp(0, 1)


@contextlib.contextmanager
def _small_ops():
    """Many tiny tensor ops: one thread and the plain (non-oneDNN) kernels are fastest and do not
    fight other processes for cores. Global settings are restored on exit."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.set_num_threads(threads)


class ConeGradient:
    """Fast |d unit / d input| for a VGG-like ``nn.Sequential`` (Conv2d with stride 1, ReLU,
    MaxPool2d with kernel = stride and no padding): one forward pass stores the ReLU masks and the
    pools' argmax masks; each query back-propagates by hand through the unit's *cone* only (the
    window of each layer inside its receptive field), instead of through whole maps.

    ``cone(layer, (row, col))`` returns the same (H, W) tensor as
    :func:`segcourse.geometry.effective_receptive_field` (tested), typically 10x faster.
    Other layer types raise ValueError (use ``effective_receptive_field``).
    """

    def __init__(self, features, image, until: str | None = None):
        from torch import nn
        x = as_tensor(image, "image", ndim=4, kind="float")
        self.steps, self.shape = [], tuple(x.shape[-2:])
        h = x.detach()
        with torch.no_grad():
            for name, m in features.named_children():
                n_in = tuple(h.shape[-2:])
                if isinstance(m, nn.Conv2d):
                    if m.stride != (1, 1) or m.groups != 1 or isinstance(m.padding, str):
                        raise ValueError(f"features: layer {name} is not a stride-1 convolution")
                    self.steps.append((name, "conv", m.weight.detach(), m.padding[0], m.dilation[0], n_in))
                    h = m(h)
                elif isinstance(m, nn.ReLU):
                    self.steps.append((name, "relu", (h > 0).to(h.dtype), None, None, n_in))
                    h = torch.relu(h)
                elif isinstance(m, nn.MaxPool2d):
                    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                    s_ = m.stride if isinstance(m.stride, int) else m.stride[0]
                    if k != s_ or m.padding not in (0, (0, 0)) or m.ceil_mode:
                        raise ValueError(f"features: pool {name} must have kernel = stride, no padding")
                    out, idx = F.max_pool2d(h, k, k, return_indices=True)
                    mask = torch.zeros_like(h).flatten(2)
                    mask.scatter_(2, idx.flatten(2), 1.0)
                    self.steps.append((name, "pool", mask.view_as(h), k, None, n_in))
                    h = out
                else:
                    raise ValueError(f"features: layer {name} ({type(m).__name__}) is not supported")
                self.steps[-1] = self.steps[-1] + (tuple(h.shape[-2:]),)
                if name == until:
                    break
        self.names = [st[0] for st in self.steps]

    def __call__(self, layer: str, unit) -> torch.Tensor:
        # many tiny ops: one thread and the plain (non-oneDNN) kernels are fastest, and do not
        # fight other processes for cores; the global settings are restored afterwards
        with _small_ops():
            return self._grad(layer, unit)

    def _grad(self, layer: str, unit) -> torch.Tensor:
        check_choice(layer, "layer", self.names)
        i = self.names.index(layer)
        n_out = self.steps[i][-1]
        r = check_int(unit[0], "unit[0]", min_value=0, max_value=n_out[0] - 1)
        c = check_int(unit[1], "unit[1]", min_value=0, max_value=n_out[1] - 1)
        # gradient window of the current layer's output: G over rows [y0, y1), cols [x0, x1)
        chans = self._channels(i)
        G = torch.zeros(1, chans, 1, 1)
        G[0, :, 0, 0] = 1.0
        y0, x0 = r, c
        for name, kind, a, b, d, n_in, n_o in reversed(self.steps[:i + 1]):
            if kind == "relu":
                G = G * a[:, :, y0:y0 + G.shape[2], x0:x0 + G.shape[3]]
            elif kind == "pool":
                k = b
                G = G.repeat_interleave(k, 2).repeat_interleave(k, 3)
                y0, x0 = y0 * k, x0 * k
                G = G * a[:, :, y0:y0 + G.shape[2], x0:x0 + G.shape[3]]
            else:  # conv, stride 1: input row = output row - p + ky * d
                G = F.conv_transpose2d(G, a, dilation=d)
                y0, x0 = y0 - b, x0 - b
                top, left = max(0, -y0), max(0, -x0)
                bottom = max(0, y0 + G.shape[2] - n_in[0])
                right = max(0, x0 + G.shape[3] - n_in[1])
                G = G[:, :, top:G.shape[2] - bottom, left:G.shape[3] - right]
                y0, x0 = y0 + top, x0 + left
        out = torch.zeros(self.shape, dtype=G.dtype)
        out[y0:y0 + G.shape[2], x0:x0 + G.shape[3]] = G[0].abs().sum(0)
        return out

    def _channels(self, i):
        for name, kind, a, *_ in reversed(self.steps[:i + 1]):
            if kind == "conv":
                return a.shape[0]
        return 3


def _freeze_layout(fig) -> None:
    """Run the constrained layout once, then keep the axes and their titles where they are: an
    update only changes data, so re-running the layout (and matplotlib's automatic title placement,
    which measures every tick label) on each redraw would cost time for nothing."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    for ax in fig.axes:
        t = ax.title
        if t.get_text():  # an explicit y switches the automatic placement off
            ax.set_title(t.get_text(), y=t.get_position()[1], fontsize=t.get_fontsize())


def receptive_field_explorer(image, features=None, layer: str = "pool3", unit=None):
    """Pick a layer and an output unit of VGG-16: see its theoretical receptive field (yellow square),
    the stride grid of the layer's unit centres (dots), and its effective receptive field
    (|gradient| of the unit w.r.t. the photo, Luo et al. arXiv:1701.04128), with the numbers.

    image: a photo ((H, W, 3) uint8 or (3, S, S) float in [0, 1]; centre-cropped and resized to
    224 x 224). features: a named ``nn.Sequential`` (default: :func:`slim_vgg16_features`, VGG-16's
    geometry with 1/16 of the channels, seeded). unit: (row, col), default the centre unit.
    """
    from .draw import draw_image
    from .geometry import mass_square_side, receptive_fields, slim_vgg16_features
    from .widgets import FigureWidget, _widgets, new_figure
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
    x = ((photo - _MEAN) / _STD)[None]
    rec = records[layer]
    if unit is None:
        unit = (rec.out_size // 2, rec.out_size // 2)
    row = check_int(unit[0], "unit[0]", min_value=0, max_value=rec.out_size - 1)
    col = check_int(unit[1], "unit[1]", min_value=0, max_value=rec.out_size - 1)
    w = _widgets()
    state = {}

    cone = ConeGradient(features, x, until=list(records)[-1])

    def erf_of(name, r, c):
        return cone(name, (r, c))

    def compute(name, r, c):
        rec = records[name]
        erf = erf_of(name, r, c).numpy().astype(np.float64)
        cy, cx = rec.start + r * rec.jump, rec.start + c * rec.jump
        lo_y, lo_x = cy - (rec.size - 1) / 2, cx - (rec.size - 1) / 2
        peak = erf.max() if erf.max() > 0 else 1.0
        half = (rec.size - 1) / 2
        yy, xx = np.indices(erf.shape)
        inside = (np.abs(yy - cy) <= half) & (np.abs(xx - cx) <= half)
        st = dict(layer=name, unit=(r, c), size=rec.size, jump=rec.jump, start=rec.start,
                  out_size=rec.out_size, centre=(cy, cx), rf_box=(lo_x - 0.5, lo_y - 0.5, rec.size),
                  erf90=mass_square_side(erf, cy, cx, 0.9),
                  outside_mass=float(erf[~inside].sum() / max(erf.sum(), 1e-300)))
        return erf / peak, st

    def grid_points(rec):
        if rec.out_size > 56:
            return [], []
        c = rec.start + np.arange(rec.out_size) * rec.jump
        gy, gx = np.meshgrid(c, c, indexing="ij")
        return gx.ravel(), gy.ravel()

    base = photo.permute(1, 2, 0).numpy().astype(np.float32)
    red = np.array([1.0, 0.15, 0.0], np.float32)

    def photo_with_erf(erf):
        """The photo with the effective RF blended over it in red: one (H, W, 3) uint8 image, so a
        redraw resamples one picture instead of a photo plus a transparent overlay."""
        a = (np.clip(erf, 0, 1) ** 0.5 * 0.85).astype(np.float32)[..., None]
        return np.rint((base * (1 - a) + red * a) * 255).astype(np.uint8)

    erf, st = compute(layer, row, col)
    state.update(st)
    fig, (ax_img, ax_erf) = new_figure((7.2, 3.7), ncols=2)
    im_over = draw_image(photo_with_erf(erf), ax=ax_img, title="photo + effective RF (red), RF box, unit grid")
    gx, gy = grid_points(rec)
    (grid,) = ax_img.plot(gx, gy, ".", ms=1.5, color="cyan", alpha=0.8)
    x0, y0, s = st["rf_box"]
    box = Rectangle((x0, y0), s, s, fill=False, edgecolor="yellow", lw=1.6)
    ax_img.add_patch(box)
    (centre,) = ax_img.plot([st["centre"][1]], [st["centre"][0]], "+", color="yellow", ms=10, mew=2)
    ax_img.set_xlim(-0.5, size - 0.5)
    ax_img.set_ylim(size - 0.5, -0.5)
    im_erf = ax_erf.imshow(erf, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    box2 = Rectangle((x0, y0), s, s, fill=False, edgecolor="yellow", lw=1.2, ls="--")
    ax_erf.add_patch(box2)
    ax_erf.set_xlim(-0.5, size - 0.5)
    ax_erf.set_ylim(size - 0.5, -0.5)
    ax_erf.set_axis_off()
    ax_erf.set_title("effective RF: |d unit / d pixel| (normalised)", fontsize=10)

    names = list(records)
    dd = w.Dropdown(options=names, value=layer, description="layer")
    sl_r = w.IntSlider(value=row, min=0, max=rec.out_size - 1, description="row", continuous_update=False)
    sl_c = w.IntSlider(value=col, min=0, max=rec.out_size - 1, description="col", continuous_update=False)
    readout = w.HTML()

    def show(st):
        cy, cx = st["centre"]
        readout.value = (
            f"<code>{st['layer']}: output {st['out_size']}x{st['out_size']}, unit ({st['unit'][0]}, "
            f"{st['unit'][1]}) centred at input pixel (y={cy:g}, x={cx:g}) = start + index x jump"
            f"<br>theoretical RF size = {st['size']} px, jump (stride) = {st['jump']} px, start = "
            f"{st['start']:g}<br>effective RF: 90% of |gradient| within a {st['erf90']} px square "
            f"({st['erf90'] / st['size']:.0%} of the theoretical side); mass outside the theoretical "
            f"RF = {st['outside_mass']:.1e}</code>")

    show(st)
    _freeze_layout(fig)
    box_widget = FigureWidget([dd, sl_r, sl_c], fig, readout, title="receptive_field_explorer")
    busy = {"on": False}

    def update(_change=None):
        if busy["on"]:
            return
        with box_widget.errors:
            name = dd.value
            rec = records[name]
            if sl_r.max != rec.out_size - 1:  # a new layer: new map size, start at its centre
                busy["on"] = True
                try:
                    sl_r.max = sl_c.max = rec.out_size - 1
                    sl_r.value = sl_c.value = rec.out_size // 2
                finally:
                    busy["on"] = False
            erf, st = compute(name, sl_r.value, sl_c.value)
            state.clear()
            state.update(st)
            im_over.set_data(photo_with_erf(erf))
            im_erf.set_data(erf)
            gx, gy = grid_points(rec)
            grid.set_data(gx, gy)
            x0, y0, s = st["rf_box"]
            box.set_bounds(x0, y0, s, s)
            box2.set_bounds(x0, y0, s, s)
            centre.set_data([st["centre"][1]], [st["centre"][0]])
            show(st)
            fig.canvas.draw_idle()

    for c in (dd, sl_r, sl_c):
        c.observe(update, names="value")
    box_widget.update = update
    box_widget.state = state
    box_widget.records = records
    return box_widget


_METHOD_LABELS = {
    "nearest": "nearest",
    "bilinear": "bilinear, align_corners=False",
    "bilinear_align_corners": "bilinear, align_corners=True",
    "transposed_bilinear": "transposed conv, bilinear init",
    "transposed_random": "transposed conv, random kernel",
}


def _source_formula(method: str, factor: int, n_in: int, y: int) -> str:
    n_out = n_in * factor
    if method == "nearest":
        return f"src = floor({y} / {factor}) = {y // factor}"
    if method == "bilinear":
        return f"src = ({y} + 0.5) / {factor} - 0.5 = {(y + 0.5) / factor - 0.5:.3f} (clamped to >= 0)"
    if method == "bilinear_align_corners":
        return f"src = {y} x ({n_in} - 1) / ({n_out} - 1) = {y * (n_in - 1) / (n_out - 1):.3f}"
    k = 2 * factor - factor % 2
    return (f"y = {factor} i - {factor // 2} + k, kernel {k}x{k}: inputs i with 0 <= "
            f"{y} + {factor // 2} - {factor} i < {k}")


def interpolation_explorer(image=None, method: str = "bilinear", factor: int = 2, pixel=(0, 0),
                           patch: int = 6):
    """Choose an upsampling method, a factor and an output pixel: the input pixels that contribute
    are coloured by their weight (numbers printed in each cell); the output pixel is boxed.

    image: (H, W, 3) uint8 photo (default ``sc.photo("chelsea")``); a ``patch x patch`` grey patch of
    it (block-averaged, from a third of the way down and across: the cat's eye) is the input. Methods: :data:`INTERPOLATION_METHODS`.
    """
    from .geometry import INTERPOLATION_METHODS, interpolation_weights
    from .widgets import FigureWidget, _widgets, new_figure
    from matplotlib.patches import Rectangle

    method = check_choice(method, "method", INTERPOLATION_METHODS)
    factor = check_int(factor, "factor", min_value=1, max_value=4)
    patch = check_int(patch, "patch", min_value=2, max_value=12)
    if image is None:
        from .photos import photo
        image = photo("chelsea")
    img = np.asarray(as_tensor(image, "image", ndim=3).numpy(), np.float64)
    if img.shape[-1] != 3:
        raise ValueError(f"image: expected shape (H, W, 3), got {img.shape}")
    gray = img.mean(-1) / (255.0 if img.max() > 1 else 1.0)
    block = max(1, min(gray.shape) // (6 * patch))
    y0 = min(gray.shape[0] // 3, gray.shape[0] - patch * block)
    x0 = min(gray.shape[1] // 3, gray.shape[1] - patch * block)
    src = gray[y0:y0 + patch * block, x0:x0 + patch * block]
    src = src.reshape(patch, block, patch, block).mean((1, 3))
    n_out = patch * factor
    py = check_int(pixel[0], "pixel[0]", min_value=0, max_value=n_out - 1)
    px = check_int(pixel[1], "pixel[1]", min_value=0, max_value=n_out - 1)
    w = _widgets()
    state = {}

    def weights(m, f):
        with _small_ops():
            W = interpolation_weights(m, f, (patch, patch)).numpy()
        return W, np.einsum("yxij,ij->yx", W, src)

    def compute(m, f, y, x):
        W, out = weights(m, f)
        wt = W[y, x]
        nz = [(int(i), int(j), float(wt[i, j])) for i, j in zip(*np.nonzero(np.abs(wt) > 1e-12))]
        return wt, out, dict(method=m, factor=f, pixel=(y, x), total=float(wt.sum()),
                             contributors=nz, value=float(out[y, x]),
                             formula_y=_source_formula(m, f, patch, y),
                             formula_x=_source_formula(m, f, patch, x))

    wt, out, st = compute(method, factor, py, px)
    state.update(st)
    fig, (ax_in, ax_out) = new_figure((7.2, 3.6), ncols=2)
    ax_in.imshow(src, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    lim = 1.0
    im_w = ax_in.imshow(np.ma.masked_equal(wt, 0), cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.75,
                        interpolation="nearest")
    texts = [[ax_in.text(j, i, "", ha="center", va="center", fontsize=8) for j in range(patch)]
             for i in range(patch)]
    ax_in.set_axis_off()
    ax_out.set_axis_off()
    ax_in.set_title(f"input {patch}x{patch}: weight of each pixel in the boxed output pixel", fontsize=9)
    im_out = ax_out.imshow(out, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                           extent=(-0.5, n_out - 0.5, n_out - 0.5, -0.5))
    hi = Rectangle((px - 0.5, py - 0.5), 1, 1, fill=False, edgecolor="red", lw=2)
    ax_out.add_patch(hi)
    ax_out.set_xlim(-0.5, n_out - 0.5)
    ax_out.set_ylim(n_out - 0.5, -0.5)
    title_out = ax_out.set_title("", fontsize=10)

    dd = w.Dropdown(options=[(v, k) for k, v in _METHOD_LABELS.items()], value=method, description="method")
    sl_f = w.IntSlider(value=factor, min=1, max=4, description="factor")
    sl_y = w.IntSlider(value=py, min=0, max=n_out - 1, description="out row")
    sl_x = w.IntSlider(value=px, min=0, max=n_out - 1, description="out col")
    readout = w.HTML()

    def draw_state(wt, out, st):
        f = st["factor"]
        n = patch * f
        for i in range(patch):
            for j in range(patch):
                on = abs(wt[i, j]) > 1e-12
                texts[i][j].set_text(f"{wt[i, j]:.4f}".rstrip("0").rstrip(".") if on else "")
                texts[i][j].set_visible(on)
        im_w.set_data(np.ma.masked_equal(np.where(np.abs(wt) > 1e-12, wt, 0), 0))
        im_out.set_data(out)
        im_out.set_extent((-0.5, n - 0.5, n - 0.5, -0.5))
        ax_out.set_xlim(-0.5, n - 0.5)
        ax_out.set_ylim(n - 0.5, -0.5)
        y, x = st["pixel"]
        hi.set_xy((x - 0.5, y - 0.5))
        title_out.set_text(f"output {n}x{n} ({_METHOD_LABELS[st['method']]})")
        parts = ", ".join(f"({i},{j}): {v:.4f}" for i, j, v in st["contributors"])
        readout.value = (f"<code>output pixel (row {y}, col {x}) = {st['value']:.4f}<br>rows: "
                         f"{st['formula_y']}<br>cols: {st['formula_x']}<br>weights (input row, col): "
                         f"{parts}<br>sum of weights = {st['total']:.4f}</code>")

    draw_state(wt, out, st)
    _freeze_layout(fig)
    box_widget = FigureWidget([dd, sl_f, sl_y, sl_x], fig, readout, title="interpolation_explorer")
    busy = {"on": False}

    def update(_change=None):
        if busy["on"]:
            return
        with box_widget.errors:
            m, f = dd.value, sl_f.value
            n = patch * f
            if sl_y.max != n - 1:
                busy["on"] = True
                try:
                    sl_y.max = sl_x.max = n - 1
                finally:
                    busy["on"] = False
            wt, out, st = compute(m, f, sl_y.value, sl_x.value)
            state.clear()
            state.update(st)
            draw_state(wt, out, st)
            fig.canvas.draw_idle()

    for c in (dd, sl_f, sl_y, sl_x):
        c.observe(update, names="value")
    box_widget.update = update
    box_widget.state = state
    box_widget.source = src
    return box_widget
