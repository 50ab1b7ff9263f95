"""Lesson 05's widget: the fully connected CRF's mean field, step by step, on a course scene or a photo.

The computation is :func:`segcourse.ops.crf.dense_crf_steps` (tested: Q, labels and F(Q) per step
and one pixel's appearance kernel, in one pure call); the pictures are
:func:`segcourse.draw.crf.draw_crf_kernel`, :func:`~segcourse.draw.crf.draw_crf_steps` and
:func:`~segcourse.draw.crf.draw_free_energy`. An update sets three images, a marker and one line.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_float, check_int
from ..data.voc import colorize
from ..draw.crf import _heat_rgba, draw_crf_kernel, draw_crf_steps, draw_free_energy
from ..ops.crf import COURSE_CRF, dense_crf_steps
from .base import _widgets, connect, new_figure

__all__ = ["crf_explorer"]

MAX_ITERATIONS = 10


def _course_scene(scene: int):
    """Val scene ``scene`` (uint8 image, FCN-8s softmax, mask): the default input."""
    from ..checkpoints import load_checkpoint
    from ..data.images import image_uint8
    from ..data.scene_dataset import load_scenes
    from ..train import predict_proba
    images, masks = load_scenes("val")
    scene = check_int(scene, "scene", min_value=0, max_value=images.shape[0] - 1)
    probs = predict_proba(load_checkpoint("fcn8s"), images[scene:scene + 1])[0]
    return image_uint8(images[scene]), probs, masks[scene]


def crf_explorer(image=None, probs=None, *, scene: int = 61, iterations: int = 5, theta_alpha=None,
                 theta_beta=None, theta_gamma=None, w_appearance=None, w_smoothness=None, pixel=None):
    """Mean field of the dense CRF live: the labels before (the unary's argmax) and after
    ``iterations`` steps, F(Q) per step, and for one pixel its appearance kernel (which pixels pull
    it, how hard: yellow, opacity ~ sqrt of the weight).

    image: (H, W, 3) uint8 and probs: (C, H, W) softmax probabilities, both or neither; neither: val
    course scene ``scene`` with lesson 04's FCN-8s softmax as the unary. Parameters default to
    :data:`segcourse.ops.crf.COURSE_CRF` (the values searched on the course scenes); pixel: (row,
    col), default the centre. Sliders: iterations (0-10), theta_alpha, theta_beta, theta_gamma,
    w1, w2, pixel row and column; they update on release (a frame of a 128 x 128 scene is ~60-100 ms).
    """
    if (image is None) != (probs is None):
        raise TypeError("image, probs: pass both (an (H, W, 3) uint8 image and (C, H, W) probabilities) "
                        "or neither (a course scene)")
    if image is None:
        image, probs, _ = _course_scene(scene)
    prm = dict(theta_alpha=COURSE_CRF.theta_alpha if theta_alpha is None else theta_alpha,
               theta_beta=COURSE_CRF.theta_beta if theta_beta is None else theta_beta,
               theta_gamma=COURSE_CRF.theta_gamma if theta_gamma is None else theta_gamma,
               w_appearance=COURSE_CRF.w_appearance if w_appearance is None else w_appearance,
               w_smoothness=COURSE_CRF.w_smoothness if w_smoothness is None else w_smoothness)
    for k, v in prm.items():
        check_float(v, k, min_value=0.0)
    iterations = check_int(iterations, "iterations", min_value=0, max_value=MAX_ITERATIONS)
    image = np.asarray(image)
    h, w_ = image.shape[:2] if image.ndim == 3 else (0, 0)
    pixel = (h // 2, w_ // 2) if pixel is None else pixel
    if not (isinstance(pixel, (tuple, list)) and len(pixel) == 2):
        raise TypeError(f"pixel: expected (row, col), got {pixel!r}")

    def compute(iterations, theta_alpha, theta_beta, theta_gamma, w_appearance, w_smoothness, row, col):
        st = dense_crf_steps(probs, image, (row, col), iterations=iterations, theta_alpha=theta_alpha,
                             theta_beta=theta_beta, theta_gamma=theta_gamma, w_appearance=w_appearance,
                             w_smoothness=w_smoothness)
        changed = int((st.labels[-1] != st.labels[0]).sum())
        return {"labels": st.labels, "free_energy": st.free_energy, "kernel": st.kernel,
                "pixel": (row, col), "iterations": iterations, "changed": changed}

    st = compute(iterations, *prm.values(), *pixel)     # validates image, probs and pixel
    fig, axes = new_figure((9.6, 2.9), ncols=4)
    k_img, k_heat, marker = draw_crf_kernel(image, st["kernel"], st["pixel"], ax=axes[0],
                                            title="appearance kernel of +")
    lab_imgs = draw_crf_steps(st["labels"][[0, -1]].numpy(), axes=axes[1:3],
                              titles=["unary argmax (step 0)", "after the last step"])
    line = draw_free_energy(st["free_energy"].numpy(), ax=axes[3], title="F(Q) per step")
    axes[3].set_xlim(-0.5, MAX_ITERATIONS + 0.5)
    title_last = axes[2].title

    w = _widgets()
    sl = dict(continuous_update=False, layout=w.Layout(width="220px"), style={"description_width": "70px"})
    fsl = dict(sl, readout_format=".1f")
    controls = {
        "iterations": w.IntSlider(value=iterations, min=0, max=MAX_ITERATIONS, description="iterations", **sl),
        "theta_alpha": w.FloatSlider(value=prm["theta_alpha"], min=1, max=120, step=1, description="θα (px)", **fsl),
        "theta_beta": w.FloatSlider(value=prm["theta_beta"], min=1, max=60, step=1, description="θβ (colour)",
                                    **fsl),
        "theta_gamma": w.FloatSlider(value=prm["theta_gamma"], min=0.5, max=10, step=0.5, description="θγ (px)",
                                     **fsl),
        "w_appearance": w.FloatSlider(value=prm["w_appearance"], min=0, max=40, step=1, description="w1", **fsl),
        "w_smoothness": w.FloatSlider(value=prm["w_smoothness"], min=0, max=10, step=0.5, description="w2", **fsl),
        "row": w.IntSlider(value=st["pixel"][0], min=0, max=h - 1, description="pixel row", **sl),
        "col": w.IntSlider(value=st["pixel"][1], min=0, max=w_ - 1, description="pixel col", **sl),
    }

    def redraw(st):
        k_heat.set_data(_heat_rgba(st["kernel"].numpy(), 0.65))
        r, c = st["pixel"]
        marker.set_data([c], [r])
        lab_imgs[1].set_data(colorize(st["labels"][-1].numpy()))
        f = st["free_energy"].numpy()
        line.set_data(np.arange(len(f)), f)
        ax = axes[3]
        lo, hi = float(f.min()), float(f.max())
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
        title_last.set_text(f"after step {st['iterations']}")
        k = st["kernel"]
        share = float(k.sum() - k[r, c]) / max(float(k.sum()), 1e-30)
        fs = ", ".join(f"{x:.1f}" for x in f)
        return (f"<code>pixel ({r}, {c}): its appearance kernel sums to {float(k.sum()):.1f} "
                f"(self {float(k[r, c]):.1f}, other pixels {share:.0%}); "
                f"{st['changed']} pixels changed label after {st['iterations']} steps"
                f"<br>F(Q_t), t = 0..{st['iterations']}: {fs}</code>")

    widget = connect(fig, controls, compute, redraw, title="crf_explorer")
    widget.image, widget.probs = image, probs
    return widget
