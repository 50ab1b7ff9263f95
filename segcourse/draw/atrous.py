"""Pictures for lessons 06-08: what one unit of an atrous stack samples on a photo, valid taps
against the rate, ASPP branches' taps on a small map, a GCN block's impulse response.

Each ``draw_*(..., ax=None)`` draws into ``ax`` or makes its own figure and shows it, and returns
its main artists (a dict) so a widget can update them in place. The numbers come from
:mod:`segcourse.ops.atrous` and the draft models; nothing is computed here but colours.
(The lead moves this file to ``segcourse/draw/atrous.py``.)
"""
from __future__ import annotations

import functools

import numpy as np

from .._validate import as_array, check_float
from .base import get_axes, to_rgb

__all__ = ["footprint_rgba", "footprint_overlay", "draw_sampling_footprint", "set_box", "draw_valid_taps", "draw_aspp_taps",
           "draw_gcn_impulse", "draw_kernel_footprints", "update_kernel_footprints",
           "draw_gcn_pipeline", "draw_aspp_footprint", "draw_context_schemes"]


@functools.lru_cache(maxsize=8)
def _lut(cmap: str) -> np.ndarray:
    import matplotlib
    return matplotlib.colormaps[cmap](np.linspace(0.25, 1.0, 256))[:, :3].astype(np.float32)


def _np_counts(counts, name: str = "counts") -> np.ndarray:
    """Counts as a NumPy array, checked with NumPy: torch's reductions wake its OpenMP threads, which
    costs milliseconds per call when the cores are busy, too much for a widget frame."""
    c = counts.detach().cpu().numpy() if hasattr(counts, "detach") else counts
    if not isinstance(c, np.ndarray) or c.ndim != 2:
        return as_array(counts, name, ndim=2, min_value=0)          # the slow path raises the clear error
    if c.size and c.min() < 0:
        raise ValueError(f"{name}: expected values >= 0, got minimum {c.min()}")
    return c


def _np_image(image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] NumPy images pass straight through; anything else via to_rgb."""
    if isinstance(image, np.ndarray) and image.dtype == np.float32 and image.ndim == 3 and image.shape[-1] == 3:
        if image.size and (image.min() < 0 or image.max() > 1):
            raise ValueError("image: expected float values in [0, 1] (or a uint8 image)")
        return image
    return to_rgb(image)


def _levels(c: np.ndarray) -> np.ndarray:
    """Counts -> 0..255 on a log scale (a pixel reached once still shows next to one reached 9**L times)."""
    top = np.log1p(c.max()) if c.max() > 0 else 1.0
    return (np.log1p(c) * (255.0 / top)).astype(np.uint8)


def footprint_rgba(counts, alpha: float = 0.75, cmap: str = "magma") -> np.ndarray:
    """Path counts (H, W) -> (H, W, 4) float32 RGBA: colour by count (log scale), transparent where
    the count is 0 (the holes)."""
    c = _np_counts(counts)
    alpha = check_float(alpha, "alpha", min_value=0.0, max_value=1.0)
    rgba = np.zeros(c.shape + (4,), np.float32)
    rgba[..., :3] = _lut(cmap)[_levels(c)]
    rgba[..., 3] = np.where(c > 0, alpha, 0.0)
    return rgba


def footprint_overlay(image, counts, alpha: float = 0.75, cmap: str = "magma") -> np.ndarray:
    """The photo with the footprint blended in: (H, W, 3) float32 in [0, 1]. Only the footprint's
    bounding box is recoloured, so a 224 x 224 frame costs about a millisecond (one image for
    matplotlib to draw instead of two layers: a widget redraw in half the time). image: pass a
    (H, W, 3) float32 NumPy array for speed (other forms are converted on every call)."""
    bg = _np_image(image) if image is not None else None
    c = _np_counts(counts)
    alpha = check_float(alpha, "alpha", min_value=0.0, max_value=1.0)
    if bg is None:
        bg = np.full(c.shape + (3,), 0.85, np.float32)
    elif bg.shape[:2] != c.shape:
        raise ValueError(f"image: expected an image of the footprint's size {c.shape}, got {bg.shape[:2]}")
    out = bg.copy()
    rows, cols = np.flatnonzero(c.any(1)), np.flatnonzero(c.any(0))
    if rows.size:
        sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        cc = c[sl]
        a = np.where(cc > 0, np.float32(alpha), np.float32(0))[..., None]
        out[sl] = (1 - a) * out[sl] + a * _lut(cmap)[_levels(cc)]
    return out


def _box_xywh(box):
    top, left, bottom, right = box
    return (left - 0.5, top - 0.5), right - left, bottom - top


def set_box(rect, box) -> None:
    """Move a Rectangle made by :func:`draw_sampling_footprint` to ``box`` (top, left, bottom, right)."""
    (x, y), w, h = _box_xywh(box)
    rect.set_bounds(x, y, w, h)


def draw_sampling_footprint(frame: dict, image=None, ax=None, title: str | None = None) -> dict:
    """One frame of the footprint widget: the photo with the input pixels one output unit samples
    blended in (coloured by how many paths reach them, log scale; holes show the photo), its
    theoretical receptive field (white box) and the square holding 90 % of its paths (cyan dashed:
    the effective field for uniform weights). frame: :func:`segcourse.ops.atrous.footprint_frame`;
    image: (H, W, 3) or (3, H, W) of the frame's size, or None (grey). Returns {"image", "rf",
    "erf", "text"}; a widget updates ``image.set_data(footprint_overlay(photo, counts))`` and the
    boxes with :func:`set_box`.
    """
    from matplotlib.patches import Rectangle
    counts = _np_counts(frame["counts"], "frame['counts']")
    H, W = counts.shape
    ax, own = get_axes(ax)
    im = ax.imshow(footprint_overlay(image, counts), interpolation="nearest")
    (x, y), w, h = _box_xywh(frame["rf_box"])
    rf = ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="white", linewidth=1.5))
    (x, y), w, h = _box_xywh(frame["erf_box"])
    erf = ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="cyan", linewidth=1.2, linestyle="--"))
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    s = frame["stats"]
    text = ax.set_title(title if title is not None else
                        f"field {s['size'][0]} px, {s['coverage']:.0%} of it sampled\n90 % of paths within {s['erf_side']} px",
                        fontsize=9)
    ax.set_axis_off()
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return {"image": im, "rf": rf, "erf": erf, "text": text}


def draw_valid_taps(stats: dict, ax=None, title: str | None = None) -> dict:
    """DeepLab v3's Figure 4: against the rate, the share of a 3 x 3 filter's taps that read the
    map (mean over positions), and the share of positions where only the centre tap / all 9 taps
    do. stats: :func:`segcourse.ops.atrous.valid_tap_stats`. Returns {"mean", "centre_only", "all_valid"} lines."""
    ax, own = get_axes(ax, figsize=(5, 3.2))
    r = as_array(stats["rates"], "stats['rates']", ndim=1)
    lines = {"mean": ax.plot(r, as_array(stats["mean_fraction"], "mean_fraction"), label="taps inside (mean share)")[0],
             "centre_only": ax.plot(r, as_array(stats["centre_only"], "centre_only"), label="positions: centre tap only")[0],
             "all_valid": ax.plot(r, as_array(stats["all_valid"], "all_valid"), label="positions: all taps inside")[0]}
    ax.set_xlabel("rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return lines


_BRANCH_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def draw_aspp_taps(size: int, branches: list, ax=None, title: str | None = None) -> dict:
    """Where the ASPP branches of one output unit read a ``size`` x ``size`` map: one colour per
    branch, filled dots for taps inside the map, hollow ones for taps that read padding.
    branches: [(label, taps (9, 2), inside (9,))] from :func:`segcourse.ops.atrous.tap_positions`.
    Returns {label: PathCollection}."""
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle
    ax, own = get_axes(ax, figsize=(4.2, 4.2))
    n = int(size)
    ax.add_patch(Rectangle((-0.5, -0.5), n, n, facecolor="0.93", edgecolor="0.3"))
    out, lo, hi = {}, -0.5, n - 0.5
    for (label, taps, inside), colour in zip(branches, _BRANCH_COLOURS):
        t = as_array(taps, "taps", shape=(None, 2))
        m = as_array(inside, "inside", shape=(t.shape[0],)).astype(bool)
        face = np.where(m[:, None], np.array(to_rgba(colour))[None], np.zeros((1, 4)))
        out[label] = ax.scatter(t[:, 1], t[:, 0], s=40, facecolors=face, edgecolors=colour, linewidths=1.3,
                                label=label, zorder=3)
        lo, hi = min(lo, t.min() - 1), max(hi, t.max() + 1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(hi, lo)
    ax.set_aspect("equal")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=lab)
               for (lab, _, _), c in zip(branches, _BRANCH_COLOURS)]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color="0.4", label="reads padding"))
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=min(len(handles), 4), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return out


def draw_gcn_impulse(kernel, ax=None, title: str | None = None) -> dict:
    """A k x k kernel (e.g. one channel pair of ``gcn_kernel``) as a diverging colour map centred
    on 0. Returns {"image"}."""
    k = as_array(kernel, "kernel", ndim=2).astype(np.float64)
    ax, own = get_axes(ax, figsize=(3.2, 3.2))
    v = float(np.abs(k).max()) or 1.0
    im = ax.imshow(k, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return {"image": im}


def _square(ax, side: float, n: int, **style):
    from matplotlib.patches import Rectangle
    c = (n - 1) / 2
    return ax.add_patch(Rectangle((c - side / 2, c - side / 2), side, side, fill=False, **style))


def _set_square(rect, side: float, n: int) -> None:
    c = (n - 1) / 2
    rect.set_bounds(c - side / 2, c - side / 2, side, side)


def draw_kernel_footprints(frame: dict, axes=None, titles: bool = True) -> dict:
    """Lesson 08's kernel explorer picture from a ``segcourse.models.gcn.kernel_footprints`` frame, on
    four axes: a random GCN's equivalent k x k kernel and a random stack of 3 x 3 convolutions' (blue
    negative, red positive), then the expected |weight| of each (0 to 1, white box: the k x k field;
    cyan dashed: the centred square with 90 % of it); short fixed titles. Returns {"images": 4 AxesImage, "fields": 4
    rectangles, "erf": 2 rectangles (on the expected maps), "titles": 4 Text}."""
    if not isinstance(frame, dict) or "gcn_rms" not in frame:
        raise TypeError("frame: expected a dict from kernel_footprints")
    own = axes is None
    if own:
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 4, figsize=(10, 2.9), layout="constrained")
    if len(axes) != 4:
        raise ValueError(f"axes: expected 4 axes, got {len(axes)}")
    n = frame["gcn"].shape[0]
    out = {"images": [], "fields": [], "erf": [], "titles": []}
    for ax, key in zip(axes, ("gcn", "stack", "gcn_rms", "stack_rms")):
        x = frame[key]
        if key.endswith("rms"):
            im = ax.imshow(x, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        else:
            v = float(np.nanmax(np.abs(x))) or 1.0
            im = ax.imshow(x, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        ax.set_facecolor("0.85")
        ax.set_xticks([])
        ax.set_yticks([])
        out["images"].append(im)
        out["fields"].append(_square(ax, frame["k"], n, edgecolor="black" if not key.endswith("rms") else "white",
                                     lw=1.2))
        if key.endswith("rms"):
            out["erf"].append(_square(ax, frame[key.replace("rms", "erf90")], n, edgecolor="cyan", lw=1.5, ls="--"))
        if titles:        # a widget leaves them out: every glyph costs time on each redraw; its readout names the panels
            out["titles"].append(ax.set_title(_footprint_title(frame, key), fontsize=9))
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return out


_FOOTPRINT_TITLES = {"gcn": "GCN (a draw)", "stack": "3x3 stack (a draw)", "gcn_rms": "GCN E|w|",
                     "stack_rms": "3x3 stack E|w|"}


def _footprint_title(frame: dict, key: str) -> str:
    # short and fixed: every glyph costs time on each redraw of a widget; the numbers go to its readout
    return _FOOTPRINT_TITLES[key]


def update_kernel_footprints(artists: dict, frame: dict) -> None:
    """Change :func:`draw_kernel_footprints`'s artists in place to show ``frame``."""
    n = frame["gcn"].shape[0]
    for i, key in enumerate(("gcn", "stack", "gcn_rms", "stack_rms")):
        x = frame[key]
        im = artists["images"][i]
        im.set_data(x)
        if not key.endswith("rms"):
            v = float(np.nanmax(np.abs(x))) or 1.0
            im.set_clim(-v, v)
        _set_square(artists["fields"][i], frame["k"], n)
    for rect, key in zip(artists["erf"], ("gcn_erf90", "stack_erf90")):
        _set_square(rect, frame[key], n)


def draw_gcn_pipeline(model=None, size: int = 128, ax=None) -> dict:
    """The Large Kernel Matters pipeline (Peng et al., Fig. 2A) as built by ``GCNNet``: one row per
    backbone level (stride 4 at the top to 32 at the bottom) with its map size and channels, its
    GCN (k x k) and BR, then coarse to fine: upsample x 2, add, BR; a last BR and x 4 to the input
    size. model: a ``GCNNet`` (default one with its default k); size: the input side. Returns
    {"boxes": list of patches}."""
    from matplotlib.patches import FancyBboxPatch
    if model is None:
        from ..models.gcn import GCNNet
        model = GCNNet()
    ks = [g.k for g in model.gcn]
    widths = model.backbone.widths[1:]
    ax, own = get_axes(ax, figsize=(9.5, 4.2))
    boxes = []

    def box(x, y, text, color, w=1.5, h=0.6):
        p = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03", fc=color, ec="0.3")
        ax.add_patch(p)
        ax.text(x, y, text, ha="center", va="center", fontsize=8)
        boxes.append(p)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="0.3", lw=1))

    ax.text(0, 4.1, "input " + f"{size} x {size}", ha="center", fontsize=8)
    for i, (stride, c, k) in enumerate(zip((4, 8, 16, 32), widths, ks)):
        y = 3 - i
        n = size // stride
        box(0, y, f"stage {i + 2}\nstride {stride}: {n}x{n}, {c} ch", "#dde8f5", w=1.9)
        arrow(0.95, y, 1.75, y)
        box(2.4, y, f"GCN {k}x{k}\n(B)", "#f7d9c4", w=1.2)
        arrow(3.0, y, 3.55, y)
        box(4.0, y, "BR\n(C)", "#d5ecd4", w=0.8)
        if i < 3:
            arrow(4.4, y, 5.05, y)
            ax.add_patch(__import__("matplotlib").patches.Circle((5.25, y), 0.2, fc="white", ec="0.3"))
            ax.text(5.25, y, "+", ha="center", va="center", fontsize=10)
            arrow(5.45, y, 5.95, y)
            box(6.35, y, "BR", "#d5ecd4", w=0.7)
    # coarse to fine: level 3's BR output goes up to level 2's sum, each fused BR up to the next
    arrow(4.0, 0 + 0.3, 5.25, 1 - 0.2)
    ax.text(4.75, 0.55, "up x2", fontsize=7, color="0.3")
    for y in (1, 2):
        arrow(6.35, y + 0.3, 5.25, y + 1 - 0.2)
        ax.text(5.9, y + 0.55, "up x2", fontsize=7, color="0.3")
    arrow(6.7, 3, 7.3, 3)
    box(7.7, 3, "BR", "#d5ecd4", w=0.7)
    arrow(8.05, 3, 8.55, 3)
    box(9.35, 3, f"up x4: scores\n{size} x {size}", "#eeeeee", w=1.4)
    ax.set_xlim(-1.1, 10.2)
    ax.set_ylim(-0.6, 4.4)
    ax.set_aspect("auto")
    ax.axis("off")
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return {"boxes": boxes}


def _tap_faces(inside, colour) -> np.ndarray:
    """Face colours of one branch's taps: filled (``colour``) inside the map, transparent outside."""
    from matplotlib.colors import to_rgba
    m = as_array(inside, "inside", ndim=1).astype(bool)
    return np.where(m[:, None], np.array(to_rgba(colour))[None], np.zeros((1, 4)))


def _tap_limits(frame: dict) -> tuple[float, float]:
    """Axis limits (low, high) holding the map and every tap of ``frame`` (one unit of margin)."""
    t = as_array(frame["taps"], "frame['taps']")
    return min(-1.5, float(t.min()) - 1), max(frame["size"] + 0.5, float(t.max()) + 1)


def draw_aspp_footprint(frame: dict, axes=None, legend: bool = True) -> dict:
    """Lesson 07's widget picture of :func:`segcourse.ops.atrous.aspp_tap_frame`: left, the
    ``size`` x ``size`` feature map (grey square) and where each ASPP branch's taps read it (filled:
    inside, hollow: zero padding), the unit as a black cross; right, the share of taps inside
    against the rate on this map (v3's Figure 4) with each branch's rate marked.
    axes: two axes (default: a new figure); legend: label the branches under the map (a widget
    leaves it out: text is most of a redraw's cost). Returns the artists: ``map`` (Rectangle), ``branches``
    (list of PathCollection), ``unit``, ``curve`` (Line2D), ``marks`` (PathCollection)."""
    from matplotlib.patches import Rectangle
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(1, 2, figsize=(8.4, 3.8))
        own = True
    else:
        own = False
    ax, bx = axes
    n = frame["size"]
    rect = ax.add_patch(Rectangle((-0.5, -0.5), n, n, facecolor="0.9", edgecolor="0.3"))
    branches = []
    for b, r in enumerate(frame["rates"]):
        c = _BRANCH_COLOURS[b % len(_BRANCH_COLOURS)]
        t = as_array(frame["taps"][b], "taps")
        branches.append(ax.scatter(t[:, 1], t[:, 0], s=36, facecolors=_tap_faces(frame["inside"][b], c),
                                   edgecolors=c, linewidths=1.3, zorder=3, label=f"3x3, rate {r}"))
    unit = ax.scatter([frame["position"][1]], [frame["position"][0]], marker="x", s=60, color="k", zorder=4)
    lo, hi = _tap_limits(frame)
    ax.set_xlim(lo, hi)
    ax.set_ylim(hi, lo)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=7, frameon=False)
    curve = frame["curve"]
    rr = as_array(curve["rates"], "curve['rates']")
    line, = bx.plot(rr, as_array(curve["mean_fraction"], "mean_fraction"), color="0.3", lw=1.5)
    marks = bx.scatter(list(frame["rates"]), as_array(frame["mean_fraction"], "mean_fraction"), s=50, zorder=3,
                       c=[_BRANCH_COLOURS[b % len(_BRANCH_COLOURS)] for b in range(len(frame["rates"]))])
    bx.set_xlim(0, rr.max() + 1)
    bx.set_ylim(0, 1.02)
    bx.set_yticks([0, 0.5, 1])
    bx.set_xticks(np.linspace(0, rr.max(), 4).round().astype(int))
    bx.tick_params(labelsize=8)
    if legend:
        bx.set_title("mean share of the 9 taps inside, against the rate", fontsize=9)
    bx.grid(alpha=0.3)
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return {"map": rect, "branches": branches, "unit": unit, "curve": line, "marks": marks}


def _box(ax, x, yc, h, label, colour, w=0.55, fontsize=7):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((x, yc - h / 2), w, h, facecolor=colour, edgecolor="0.25", lw=0.8))
    if label:
        ax.text(x + w / 2, yc - h / 2 - 0.12, label, ha="center", va="top", fontsize=fontsize)
    return x + w


def _arrow(ax, x0, y0, x1, y1, **kw):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="-|>", lw=0.8, color=kw.get("color", "0.3"),
                                                         linestyle=kw.get("ls", "-"),
                                                         connectionstyle=kw.get("cs", "arc3")))


def draw_context_schemes(axes=None) -> list:
    """DeepLab v3's Figure 2 (arXiv:1706.05587) as course-scale diagrams: (a) image pyramid, (b)
    encoder-decoder, (c) deeper with atrous convolution, (d) spatial pyramid pooling. Each box is a
    feature map, its height proportional to its resolution (1 / output stride; labels: stride or
    rate). axes: four axes (default: a new 1 x 4 figure). Returns the four axes."""
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(1, 4, figsize=(14, 3.6))
        own = True
    else:
        own = False
    H = 2.4                                   # box height of a stride-1 map (the image)
    enc, dec, ctx = "#c6dbef", "#fdd0a2", "#c7e9c0"
    # (a) image pyramid: the same net on three scales, max over the upsampled scores
    ax = axes[0]
    for i, s in enumerate((1.0, 0.75, 0.5)):
        y = 3.2 - i * 1.35
        x = _box(ax, 0, y, 1.0 * s, f"x{s:g}", "0.85", w=1.0 * s)
        _arrow(ax, x + 0.05, y, 1.45, y)
        x = _box(ax, 1.5, y, 0.9 * s / 2, "", enc, w=0.9)
        ax.text(1.95, y, "same net", ha="center", va="center", fontsize=6)
        _arrow(ax, x + 0.05, y, 2.95, 1.85 + (1 - i) * 0.3)
    _box(ax, 3.0, 1.85, 0.9, "max", ctx, w=0.55)
    ax.set_title("(a) image pyramid", fontsize=9)
    # (b) encoder-decoder
    ax = axes[1]
    x, tops = 0.0, {}
    for k, s in enumerate((2, 4, 8, 16, 32)):
        tops[s] = x
        x = _box(ax, x, 2.0, H / s * 2, str(s), enc, w=0.42) + 0.12
    for s in (16, 8, 4):
        px = x
        x = _box(ax, x, 2.0, H / s * 2, str(s), dec, w=0.42) + 0.12
        _arrow(ax, tops[s] + 0.21, 2.0 + H / s + 0.05, px + 0.21, 2.0 + H / s + 0.05, ls="--", cs="arc3,rad=-0.35")
    ax.set_title("(b) encoder-decoder", fontsize=9)
    # (c) deeper with atrous convolution
    ax = axes[2]
    x = 0.0
    for s in (2, 4, 8):
        x = _box(ax, x, 2.0, H / s * 2, str(s), enc, w=0.42) + 0.12
    for r in ("8\nr2", "8\nr4", "8\nr8", "8\nr16"):
        x = _box(ax, x, 2.0, H / 8 * 2, r, ctx, w=0.42) + 0.12
    ax.set_title("(c) deeper with atrous convolution", fontsize=9)
    # (d) spatial pyramid pooling (ASPP)
    ax = axes[3]
    x = 0.0
    for s in (2, 4, 8):
        x = _box(ax, x, 2.0, H / s * 2, str(s), enc, w=0.42) + 0.12
    x = _box(ax, x, 2.0, H / 8 * 2, "8\nr2", enc, w=0.42)
    for i, lab in enumerate(("1x1", "r3", "r6", "r9", "pool")):
        y = 3.4 - i * 0.7
        _arrow(ax, x + 0.02, 2.0, x + 0.45, y)
        _box(ax, x + 0.5, y, 0.3, "", ctx, w=0.5)
        ax.text(x + 0.75, y, lab, ha="center", va="center", fontsize=6)
        _arrow(ax, x + 1.02, y, x + 1.45, 2.0)
    _box(ax, x + 1.5, 2.0, 0.6, "concat\n+1x1", dec, w=0.5)
    ax.set_title("(d) spatial pyramid pooling (ASPP)", fontsize=9)
    for ax in axes:
        ax.set_xlim(-0.2, 4.5)
        ax.set_ylim(-0.2, 4.0)
        ax.set_aspect("equal")
        ax.set_axis_off()
    if own:
        import matplotlib.pyplot as plt
        plt.show()
    return list(axes)
