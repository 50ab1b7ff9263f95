"""The widgets' base: one figure canvas, one box, one way to wire controls to a picture.

Every explorer is built the same way (from ipympl's examples):

1. compute the default frame with a pure, tested function of ``segcourse.ops`` / ``models``;
2. make the figure once (:func:`new_figure`) and draw the frame with ``draw_*(..., ax=...)``
   functions, keeping the artists they return;
3. :func:`connect` the controls: on every change it calls the compute function, then a ``redraw``
   that changes the kept artists in place (``set_data`` / ``set_text`` / ``set_bounds``) and returns
   the readout, then ``draw_idle()``. A busy guard stops re-entrant updates; errors go to the
   widget's ``Output`` so a student sees them. State lives in the returned widget, never in module
   globals.

Displaying a :class:`FigureWidget` also emits a PNG of the default state, so GitHub, nbconvert and
exported slides show the figure where no widget can run.
"""
from __future__ import annotations

import base64
import functools
import io


__all__ = ["FigureWidget", "new_figure", "connect", "freeze_layout"]


def new_figure(figsize=(8, 3.2), ncols: int = 1, nrows: int = 1):
    """A matplotlib Figure on an ipympl canvas (an interactive widget), without touching pyplot.

    Returns ``(fig, axes)``; the canvas is ``fig.canvas``. Toolbar and header are hidden so the
    widget looks like a plain figure.
    """
    import matplotlib
    from matplotlib.figure import Figure

    backend = matplotlib.rcParams["backend"]
    from ipympl.backend_nbagg import Canvas, FigureManager  # importing ipympl switches pyplot's backend
    if matplotlib.rcParams["backend"] != backend:
        matplotlib.use(backend)  # ...so switch back: later plt figures stay static images

    fig = Figure(figsize=figsize, layout="constrained", dpi=90)
    canvas = _fast_png_canvas(Canvas)(fig)
    FigureManager(canvas, 0)
    canvas.header_visible = False
    canvas.footer_visible = False
    canvas.toolbar_visible = False
    canvas.resizable = False
    canvas.capture_scroll = False
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


@functools.cache
def _fast_png_canvas(Canvas):
    """ipympl's ``Canvas`` sending its redraws as PNGs compressed with zlib level 1, not PIL's default
    6: encoding a 650x330 frame takes ~12 ms instead of ~36 ms for ~10% more bytes, and the browser
    is on the same machine. The rest is matplotlib's ``FigureCanvasWebAggCore.get_diff_image``
    (a full frame if the size changed or pixels are transparent, else only the changed pixels)."""

    class FastPNGCanvas(Canvas):
        def get_diff_image(self):
            import numpy as np
            from PIL import Image
            if not self._png_is_old:
                return None
            pixels = np.asarray(self.get_renderer().buffer_rgba())
            buff = pixels.view(np.uint32).squeeze(2)
            if self._force_full or buff.shape != self._last_buff.shape or (pixels[:, :, 3] != 255).any():
                self.set_image_mode("full")
                output = buff
            else:
                self.set_image_mode("diff")
                output = np.where(buff != self._last_buff, buff, 0)
            self._last_buff = buff.copy()
            self._force_full = False
            self._png_is_old = False
            with io.BytesIO() as png:
                Image.fromarray(output.view(np.uint8).reshape(*output.shape, 4)).save(
                    png, format="png", compress_level=1)
                return png.getvalue()

    return FastPNGCanvas


def _widgets():
    import ipywidgets
    return ipywidgets


class _FigureWidgetBase:
    """Mixin giving a Box a static fallback: PNG of the figure plus a stable text summary."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        bundle["image/png"] = base64.b64encode(buf.getvalue()).decode("ascii")
        bundle["text/plain"] = self.summary()
        return bundle


def FigureWidget(controls, figure, readout=None, title: str = "widget"):
    """A VBox of ``controls``, the figure's canvas, a readout and an error ``Output``.

    ``widget.figure`` is the matplotlib figure, ``widget.readout`` the HTML readout,
    ``widget.errors`` the Output that shows exceptions raised in callbacks, and ``widget.summary()``
    a one-line text of the current state (used as the plain-text output).
    """
    w = _widgets()

    class _Box(_FigureWidgetBase, w.VBox):
        pass

    readout = readout if readout is not None else w.HTML()
    errors = w.Output()
    box = _Box([w.HBox(list(controls)), figure.canvas, readout, errors])
    box.figure, box.readout, box.errors, box.controls = figure, readout, errors, list(controls)
    box.summary = lambda: f"<{title}: " + ", ".join(
        f"{c.description or type(c).__name__}={c.value!r}" for c in controls if hasattr(c, "value")) + ">"
    box.add_class("segcourse-widget")
    return box


def freeze_layout(fig) -> None:
    """Run the constrained layout once, then keep the axes and their titles where they are: an
    update only changes data, so re-running the layout (and matplotlib's automatic title placement,
    which measures every tick label) on each redraw would cost time for nothing."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    for ax in fig.axes:
        t = ax.title
        if t.get_text():  # an explicit y switches the automatic placement off
            ax.set_title(t.get_text(), y=t.get_position()[1], fontsize=t.get_fontsize())


class _DataRedraw:
    """Redraw the data of some axes and nothing else: restore a saved picture of the figure without
    those axes' data artists and frame over each axes' region (its box, padded), draw the data
    artists and the frame in the order ``Axes.draw`` uses (by zorder), send the result
    (``canvas.blit``). A full draw re-renders every tick label and title glyph by glyph; an update
    that only moves data skips all of that and leaves the same pixels (tested).

    Only where it is safe: every data artist clipped to its axes (no legend, no inset axes), the
    region clear of other axes (so the saved picture never holds another axes' stale pixels); the
    background is saved again when an axes' limits change."""

    PAD = 3  # pixels around the axes box: the frame's line width and its antialiasing

    def __init__(self, figure):
        self.figure = figure
        self.saved = {}          # axes -> (region, background, limits) or None where not safe

    @staticmethod
    def _frame(ax) -> list:      # the spines Axes.draw draws (none with the axis off)
        return list(ax.spines.values()) if ax.axison and ax.get_frame_on() else []

    @staticmethod
    def _data(ax) -> list | None:
        if ax.get_legend() is not None or ax.child_axes:
            return None
        data = {*ax.images, *ax.collections, *ax.patches, *ax.lines, *ax.texts, *ax.artists, *ax.tables}
        if any(a.get_visible() and not a.get_clip_on() for a in data):
            return None
        return [a for a in ax.get_children() if a in data]     # in the axes' own order

    def _save(self, ax):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.transforms import Bbox

        data = self._data(ax)
        if data is None:
            return None
        canvas = self.figure.canvas
        FigureCanvasAgg.draw(canvas)            # draw without sending a frame to the front end
        renderer = canvas.get_renderer()
        region = Bbox.intersection(ax.bbox.padded(self.PAD), self.figure.bbox)
        others = [o.get_tightbbox(renderer) for o in self.figure.axes if o is not ax and o.get_visible()]
        if region is None or any(o is not None and region.overlaps(o) for o in others):
            return None
        hidden = [a for a in data + self._frame(ax) if a.get_visible()]
        for a in hidden:
            a.set_visible(False)
        try:
            FigureCanvasAgg.draw(canvas)
            background = canvas.copy_from_bbox(region)
        finally:
            for a in hidden:
                a.set_visible(True)
        FigureCanvasAgg.draw(canvas)
        return region, background, (ax.get_xlim(), ax.get_ylim())

    def __call__(self, axes) -> bool:
        """Redraw the data of ``axes`` and send it; False (nothing done) where that is not safe."""
        from matplotlib.transforms import Bbox

        for ax in axes:
            if ax not in self.saved or (self.saved[ax] and self.saved[ax][2] != (ax.get_xlim(), ax.get_ylim())):
                self.saved[ax] = self._save(ax)
            if self.saved[ax] is None:
                return False
        canvas = self.figure.canvas
        for ax in axes:
            region, background, _ = self.saved[ax]
            canvas.restore_region(background)
            data = self._data(ax)
            if data is None:                    # a legend or an unclipped artist appeared since
                self.saved[ax] = None
                return False
            for a in sorted(data + self._frame(ax), key=lambda a: a.get_zorder()):
                ax.draw_artist(a)
        canvas.blit(Bbox.union([self.saved[ax][0] for ax in axes]))
        return True


def connect(figure, controls: dict, compute, redraw, *, title: str, adjust=None, alone=None):
    """Wire ``controls`` -> ``compute`` -> ``redraw``: the one update loop of every explorer.

    figure: from :func:`new_figure`, with the default frame already drawn. controls: {name:
    ipywidget with ``.value``}, shown in this order. compute(**values) -> frame: a pure, tested
    function of the controls' values (a dict is best: it becomes ``widget.state``).
    redraw(frame) -> str | None: changes the figure's artists in place and returns the readout
    HTML (or None). adjust(controls, change): optional, runs first with the busy guard on, to
    change other controls (e.g. a slider's range after a layer change) without triggering updates.
    alone(previous, frame) -> list of Axes | None: optional; the axes whose *data* ``redraw``
    changed, when nothing else in the figure did (limits aside, no tick, label or title). Only those
    artists are redrawn, over a saved background, and sent (:class:`_DataRedraw`), instead of a full
    ``draw_idle``, which re-renders every text; None means a full redraw.

    The first frame is computed and redrawn at once, then the layout is frozen
    (:func:`freeze_layout`). Returns the :class:`FigureWidget` with ``update()`` (what a control
    change runs), ``state`` (the last frame) and ``controls`` (the widgets, in order).
    """
    if not isinstance(controls, dict) or not controls:
        raise TypeError(f"controls: expected a non-empty dict of name -> widget, got {type(controls).__name__}")
    if not (callable(compute) and callable(redraw)):
        raise TypeError("compute, redraw: expected functions")
    w = _widgets()
    readout = w.HTML()
    box = FigureWidget(list(controls.values()), figure, readout, title=title)
    if alone is not None and not callable(alone):
        raise TypeError(f"alone: expected a function (previous, frame) -> axes list | None, got {type(alone).__name__}")
    busy = [False]
    data_redraw = _DataRedraw(figure)

    def render():
        previous = getattr(box, "state", None)
        frame = compute(**{k: c.value for k, c in controls.items()})
        box.state = frame
        html = redraw(frame)
        if html is not None:
            readout.value = html
        return None if alone is None or previous is None else alone(previous, frame)

    def update(change=None):
        if busy[0]:
            return
        busy[0] = True
        try:
            with box.errors:
                if adjust is not None:
                    adjust(controls, change)
                axes = render()
                if axes is None or not data_redraw(axes):
                    figure.canvas.draw_idle()
        finally:
            busy[0] = False

    render()
    freeze_layout(figure)
    for c in controls.values():
        c.observe(update, names="value")
    box.update = update
    return box
