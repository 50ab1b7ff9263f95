"""Pictures and widgets: what the figure shows is checked through the numbers that made it."""
import base64

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import segcourse as sc


def test_colorize_uses_voc_palette():
    lab = np.array([[0, 1], [2, 255]])
    rgb = sc.colorize(lab)
    pal = np.asarray(sc.VOC_PALETTE, np.uint8).reshape(-1, 3)
    assert rgb.shape == (2, 2, 3) and (rgb[0, 1] == pal[1]).all() and (rgb[1, 1] == pal[255]).all()
    assert tuple(pal[1]) == (128, 0, 0) and tuple(pal[2]) == (0, 128, 0)


def test_error_map_colours_each_pixel_by_its_outcome():
    p = np.array([[1, 1], [0, 0]], bool)
    t = np.array([[1, 0], [1, 0]], bool)
    e = sc.error_map(p, t)
    assert tuple(e[0, 0]) == sc.ERROR_COLORS["TP"] and tuple(e[0, 1]) == sc.ERROR_COLORS["FP"]
    assert tuple(e[1, 0]) == sc.ERROR_COLORS["FN"] and tuple(e[1, 1]) == sc.ERROR_COLORS["TN"]
    with pytest.raises(ValueError, match="target"):
        sc.error_map(p, t[:1])


def test_overlay_blends_only_labelled_pixels():
    img = np.full((2, 2, 3), 255, np.uint8)
    lab = np.array([[0, 1], [0, 0]])
    out = sc.overlay(img, lab, alpha=1.0)
    assert np.allclose(out[0, 0], 1.0) and np.allclose(out[0, 1], np.array([128, 0, 0]) / 255)
    with pytest.raises(ValueError, match="labels"):
        sc.overlay(img, np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="alpha"):
        sc.overlay(img, lab, alpha=2)


def test_draw_functions_draw_into_given_axes_and_return_artists():
    fig, axes = plt.subplots(1, 4)
    img = np.zeros((8, 8, 3), np.uint8)
    inst = np.zeros((8, 8), int)
    inst[1:4, 1:4] = 1
    arts = [sc.draw_image(img, ax=axes[0]), sc.draw_labels(inst, ax=axes[1]),
            sc.draw_instances(img, inst, np.array([2]), np.array([[1, 1, 4, 4.0]]),
                              class_names=sc.CLASSES, ax=axes[2]),
            sc.draw_confusion(np.eye(3, dtype=int) * 5, ax=axes[3])]
    assert [a.axes for a in arts] == list(axes)
    assert axes[2].texts[0].get_text() == "square"
    plt.close(fig)
    with pytest.raises(ValueError, match="instance"):
        sc.draw_instances(img, inst * 3, np.array([1]))


def small_case():
    images = torch.rand(3, 3, 16, 16)
    targets = torch.zeros(3, 16, 16, dtype=torch.long)
    targets[:, 4:12, 4:12] = 1
    preds = targets.clone()
    preds[1, 4:12, 4:8] = 0       # image 1 misses half of the square
    preds[2, 0:2, 0:2] = 2
    return images, targets, preds


def test_iou_explorer_updates_artists_in_place():
    images, targets, preds = small_case()
    w = sc.iou_explorer(images, targets, preds, ("bg", "a", "b"), index=0, cls=1)
    err_artist = w.figure.axes[1].images[0]
    assert "IoU = TP/(TP+FP+FN) = 1.000" in w.readout.value
    slider, dropdown = w.controls
    slider.value = 1
    assert w.figure.axes[1].images[0] is err_artist  # same artist, new data
    assert "FN=32" in w.readout.value and "0.500" in w.readout.value
    shown = np.asarray(err_artist.get_array())
    assert (shown == sc.error_map(preds[1] == 1, targets[1] == 1)).all()
    slider.value = 2
    dropdown.value = 2            # image 2 predicts 4 pixels of class 2 that are not there
    assert "TP=0  FP=4  FN=0" in w.readout.value and "= 0.000" in w.readout.value
    assert not w.errors.outputs


def test_figure_widget_has_a_static_fallback():
    images, targets, preds = small_case()
    w = sc.iou_explorer(images, targets, preds, ("bg", "a", "b"))
    bundle = w._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"])[:4] == b"\x89PNG"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("<iou_explorer: image=0")


def test_iou_explorer_validates():
    images, targets, preds = small_case()
    with pytest.raises(ValueError, match="preds"):
        sc.iou_explorer(images, targets, preds[:2], ("bg", "a", "b"))
    with pytest.raises(ValueError, match="index"):
        sc.iou_explorer(images, targets, preds, ("bg", "a", "b"), index=5)


def test_widget_canvas_sends_exact_full_then_diff_frames():
    """The canvas's faster PNG encoding keeps matplotlib's protocol: a full frame first, then only the
    changed pixels (others 0); decoded, both equal the rendered figure."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image
    fig, (ax,) = sc.new_figure((2, 1.5))
    im = ax.imshow(np.zeros((4, 4)), vmin=0, vmax=1, cmap="gray")
    canvas = fig.canvas
    modes = []
    canvas.set_image_mode = modes.append

    def frame():  # render (Agg only, nothing sent), then encode as the canvas would send it
        FigureCanvasAgg.draw(canvas)
        canvas._png_is_old = True
        png = canvas.get_diff_image()
        return np.asarray(Image.open(io.BytesIO(png))), np.asarray(canvas.get_renderer().buffer_rgba()).copy()

    canvas._force_full = True
    full, before = frame()
    assert modes[-1] == "full" and np.array_equal(full, before)
    data = np.zeros((4, 4))
    data[1, 2] = 1.0
    im.set_data(data)
    diff, after = frame()
    changed = (after != before).any(-1)
    assert modes[-1] == "diff" and changed.any() and not changed.all()
    assert np.array_equal(diff[changed], after[changed]) and (diff[~changed] == 0).all()


# -- widgets/base.connect: the one update loop -------------------------------------------------------

def test_connect_computes_redraws_guards_and_reports_errors():
    import ipywidgets as w
    from segcourse.widgets import connect, new_figure

    fig, (ax,) = new_figure((2, 2))
    (line,) = ax.plot([0, 1], [0, 0])
    calls = []

    def compute(a, b):
        calls.append((a, b))
        if a == 13:
            raise ValueError("a: unlucky")
        return {"sum": a + b}

    def redraw(frame):
        line.set_ydata([0, frame["sum"]])
        return f"<code>sum={frame['sum']}</code>"

    def adjust(ctl, change):  # changing b here must not trigger a second update
        ctl["b"].value = ctl["a"].value * 10

    ctl = {"a": w.IntSlider(value=1, min=0, max=20, description="a"), "b": w.IntSlider(value=0, max=500)}
    box = connect(fig, ctl, compute, redraw, title="t", adjust=adjust)
    assert calls == [(1, 0)] and box.state == {"sum": 1} and "sum=1" in box.readout.value
    ctl["a"].value = 2
    assert calls[-1] == (2, 20) and len(calls) == 2 and box.state == {"sum": 22}
    assert list(line.get_ydata()) == [0, 22] and ax.lines[0] is line
    assert box.controls == list(ctl.values())
    with pytest.raises(ValueError, match="unlucky"):  # outside a kernel the Output lets it through
        ctl["a"].value = 13
    ctl["a"].value = 3  # the busy guard was released by the failed update
    assert box.state == {"sum": 33}
    with pytest.raises(TypeError, match="controls"):
        connect(fig, [ctl["a"]], compute, redraw, title="t")


def _buffer(canvas):
    return np.asarray(canvas.get_renderer().buffer_rgba()).copy()


def test_connect_alone_redraws_only_data_with_the_pixels_of_a_full_draw():
    """``alone``: an update that changed only the data of some axes redraws those artists and their
    frame over a saved background and blits; the canvas then holds exactly what a full draw gives,
    no draw_idle is asked for, and the changed pixels lie in the sent region. A limit change saves
    the background again; overlapping axes, a legend or an unclipped text fall back to a full draw."""
    import ipywidgets as w
    from segcourse.widgets import connect, new_figure

    fig, (left, right) = new_figure((4, 2), ncols=2)
    im = left.imshow(np.zeros((4, 4)), vmin=0, vmax=3, cmap="gray")
    left.set_title("left")
    (line,) = right.plot([0, 1], [0, 1])
    (dots,) = right.plot([0.2, 0.8], [0.5, 0.5], "o")
    right.set_xlabel("x label")
    ctl = {"a": w.IntSlider(value=0, max=3), "b": w.IntSlider(value=0, max=3)}

    def redraw(frame):
        data = np.zeros((4, 4))
        data[frame["a"], :] = 3
        im.set_data(data)
        line.set_ydata([0, frame["b"] / 3])
        dots.set_ydata([frame["b"] / 4, 0.5])

    box = connect(fig, ctl, lambda a, b: {"a": a, "b": b}, redraw, title="t",
                  alone=lambda prev, frame: [left] if prev["b"] == frame["b"] else [left, right])
    canvas = fig.canvas
    asked, sent = [], []
    canvas.draw_idle = lambda: asked.append(True)
    canvas.blit = lambda bbox=None: sent.append(bbox)
    canvas.draw()

    def check(change, n_sent, in_region=True):
        before = _buffer(canvas)
        change()
        assert not asked and len(sent) == n_sent
        after = _buffer(canvas)
        canvas.draw()
        assert np.array_equal(after, _buffer(canvas))        # the blit left what a full draw leaves
        if not in_region:                                    # a new save redrew (and sends) the whole figure
            return
        changed = np.argwhere((after != before).any(-1))     # rows, cols (from the top) that changed
        x0, y0, x1, y1 = sent[-1].extents                    # display coordinates (from the bottom)
        height = after.shape[0]
        assert changed.size and (changed[:, 1] >= x0 - 1).all() and (changed[:, 1] <= x1 + 1).all()
        assert ((height - changed[:, 0]) >= y0 - 1).all() and ((height - changed[:, 0]) <= y1 + 1).all()

    check(lambda: setattr(ctl["a"], "value", 2), 1)          # the image only
    assert sent[-1].x1 < right.bbox.x0                       # that region stays clear of the other axes
    check(lambda: setattr(ctl["b"], "value", 3), 2)          # both axes' data
    right.set_ylim(-1, 2)                                    # new limits: the background is saved again
    check(lambda: setattr(ctl["b"], "value", 1), 3, in_region=False)
    right.text(0.5, 0.5, "unclipped", clip_on=False)         # an unclipped text may leave the box
    ctl["b"].value = 2
    assert asked and len(sent) == 3
    with pytest.raises(TypeError, match="alone"):
        connect(fig, ctl, lambda a, b: {}, redraw, title="t", alone=3)

    fig2, (ax1, ax2) = new_figure((2, 2), nrows=2)       # overlapping regions: no blit
    ax1.set_xlabel("a long label under the first axes")
    ax2.set_title("a title over the second")
    im2 = ax1.imshow(np.zeros((2, 2)), vmin=0, vmax=1)
    ctl2 = {"a": w.IntSlider(value=0, max=1)}
    fig2.set_layout_engine("none")
    ax1.set_position([0.1, 0.5, 0.8, 0.45])              # ax2's title lies over ax1's box
    ax2.set_position([0.1, 0.05, 0.8, 0.45])
    connect(fig2, ctl2, lambda a: a, lambda a: im2.set_data(np.full((2, 2), a)), title="t",
            alone=lambda prev, frame: [ax1])
    asked2 = []
    fig2.canvas.draw_idle = lambda: asked2.append(True)
    ctl2["a"].value = 1
    assert asked2


def test_class_error_map_colours_match_the_legend():
    t = np.array([[0, 1, 1], [2, 255, 0]])
    p = np.array([[0, 1, 2], [0, 0, 3]])
    e = sc.class_error_map(p, t)
    want = ["correct background", "correct class", "wrong class", "missed", "ignored", "false positive"]
    got = [tuple(e.reshape(-1, 3)[i]) for i in range(6)]
    assert got == [sc.CLASS_ERROR_COLORS[k] for k in want]
    fig, ax = plt.subplots()
    im = sc.draw_class_errors(p, t, ax=ax)
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert labels == ["correct class", "wrong class", "missed", "false positive"]
    for h in ax.get_legend().legend_handles:
        assert np.allclose(h.get_facecolor()[:3], np.asarray(sc.CLASS_ERROR_COLORS[h.get_label()]) / 255)
    assert (im.get_array() == e).all()
    plt.close(fig)


def test_fcn_architecture_sizes_match_a_forward_pass():
    x = torch.zeros(1, 3, 128, 128)
    net = sc.FCN("8s", num_classes=6).eval()
    sizes = sc.fcn_tensor_sizes(128, 6, sc.VGG_WIDTHS)
    with torch.no_grad():
        pools = net.backbone._pools(x)
        maps = net.score_maps(x)
        fc7 = net.fc7(net.fc6(pools[4]))
        out = net(x)
    for k in range(5):
        assert sizes[f"pool{k + 1}"] == (pools[k].shape[1], pools[k].shape[2])
    assert sizes["fc7"] == (fc7.shape[1], fc7.shape[2])
    assert sizes["score_fr"] == (6, maps["stride32"].shape[2])
    assert sizes["score_pool4"] == (6, maps["stride16"].shape[2])
    assert sizes["score_pool3"] == (6, maps["stride8"].shape[2])
    assert sizes["output"] == (out.shape[1], out.shape[2])
    fig, ax = plt.subplots()
    art = sc.draw_fcn_architecture(128, 6, sc.VGG_WIDTHS, ax=ax)
    texts = [t.get_text() for t in art["boxes"]]
    assert "conv3 + pool3\n32×16×16" in texts and "output\n6×128×128" in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="^size"):
        sc.fcn_tensor_sizes(100, 6)
