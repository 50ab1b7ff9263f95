# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: segcourse
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   segcourse:
#     seconds: 21.2
#     terms: "\u56DE\u987E\u4E00\u4E0BROI pooling recall RoI pooling, \u53CC\u7EBF\u6027\
#       \u63D2\u503C bilinear interpolation, \u975E\u6574\u6570\u50CF\u7D20\u7684\u5207\
#       \u5272\u70B9 non-integer cut points, RoIAlign, \u4F4D\u7F6E\u654F\u611F position-sensitive"
#     title: RoI pooling vs RoIAlign
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 10 · RoI pooling vs RoIAlign (回顾一下ROI pooling · RoIAlign)
#
# *Key terms: 回顾一下ROI pooling recall RoI pooling, 感兴趣区域 region of interest (RoI), 量化
# quantisation, 双线性插值 bilinear interpolation, 非整数像素的切割点 non-integer cut points,
# RoIAlign, 位置敏感 position-sensitive pooling*
#
# **Learning objectives.** After this lesson you can:
# 1. say why a two-stage detector cuts a fixed-size feature grid out of the map for every box, and
#    compute the cells RoIPool reads for a box exactly as torchvision does (rounding, the included
#    end cell, floor/ceil bins, clipping);
# 2. compute where RoIAlign samples (bin edges at non-integer positions, `sampling_ratio`,
#    `aligned=True`'s half-cell shift) and the bilinear weights of each sample;
# 3. explain, with numbers measured here, how RoIPool's quantisation moves a box by a fixed
#    fraction of the stride, and why masks suffer most at stride 16 and 32;
# 4. say where each op sends its gradient, and what position-sensitive pooling (R-FCN, FCIS) changes.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The slides spend three lines on this (Mask R-CNN "为了得到更精确的mask位置，加入RoI
# > Align"; "回顾一下ROI pooling"; "ROI Align：采用双线性插值的方式，允许非整数像素的切割点"). The
# > lesson makes each line concrete: the exact integer arithmetic of RoIPool, the exact sample
# > positions of RoIAlign, and a measurement of what the rounding costs a mask.

# %% slideshow={"slide_type": "skip"}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import torchvision.ops as tv
from matplotlib.patches import Rectangle

import segcourse as sc

sc.seed_everything(threads=1)   # every tensor here is tiny: a second thread only adds waiting

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Why detectors crop features per region (感兴趣区域 RoI)
#
# Fast R-CNN (arXiv:1504.08083) runs the backbone **once** per image. Each candidate box (a region
# of interest, from a proposal method or Faster R-CNN's region proposal network) is then cut out of
# the shared feature map and pooled to a fixed $P \times P$ grid (7×7 in the paper), so one
# fully connected head classifies boxes of every size. Mask R-CNN (arXiv:1703.06870) is Faster R-CNN
# plus a small FCN on each box's pooled features (14×14 in its FPN version) that predicts a 28×28
# mask.
#
# A box is given in image pixels; a map of stride $s$ sees it at $x/s$ (`spatial_scale` $=1/s$).
# That is rarely a whole cell. Below: a validation scene, and one channel of `pool4` (stride 16) of
# lesson 04's FCN-8s backbone, with the scene's object boxes divided by 16. Cell $j$ of the map
# covers image pixels $[16j, 16(j+1))$.

# %% slideshow={"slide_type": "subslide"}
net = sc.load_checkpoint("fcn8s").eval()
images, masks = sc.load_scenes("val")
with torch.no_grad():
    pool4 = net.backbone(images[:1])[3][0].double()       # (64, 8, 8): stride 16 on a 128 x 128 scene
inst = sc.semantic_to_instances(masks[0].numpy())
boxes = torch.as_tensor(sc.boxes_from_masks(inst["masks"]), dtype=torch.float64)
disc_box = boxes[0]
# the channel that responds most to the disc: mean inside its mask minus mean outside, in std units
inside = F.avg_pool2d(torch.as_tensor(inst["masks"][0], dtype=torch.float64)[None, None], 16)[0, 0]
contrast = ((pool4 * inside).sum((1, 2)) / inside.sum() - (pool4 * (1 - inside)).sum((1, 2)) / (1 - inside).sum())
channel = int((contrast / pool4.flatten(1).std(1)).argmax())
fmap = pool4[channel]
for c, b in zip(inst["classes"], boxes):
    print(f"{sc.CLASSES[c]:9s} box {b.tolist()} px  ->  {[round(v, 3) for v in (b / 16).tolist()]} cells")
print(f"pool4 {tuple(pool4.shape)}; channel {channel} responds most to the disc")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), layout="constrained")
sc.draw_image(images[0], ax=axes[0], title="validation scene 0 (128 x 128), object boxes")
axes[1].imshow(fmap, cmap="viridis", extent=(0, 8, 8, 0))
axes[1].set_title(f"pool4 channel {channel} (8 x 8), boxes / 16", fontsize=10)
for b in boxes.tolist():
    axes[0].add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="yellow", lw=1.5))
    axes[1].add_patch(Rectangle((b[0] / 16, b[1] / 16), (b[2] - b[0]) / 16, (b[3] - b[1]) / 16, fill=False,
                                ec="yellow", lw=1.5))
axes[1].set_xlim(0, 8)
axes[1].set_ylim(8, 0)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. RoIPool (回顾一下ROI pooling): two roundings
#
# RoIPool (Fast R-CNN) quantises twice. First the box edges are rounded to whole cells, then the
# rounded box is cut into $P$ bins whose edges are rounded again (floor for the start, ceil for the
# end). With $r(\cdot)$ = C's `round` (halves away from zero), along $y$ (and the same along $x$):
# $$c_1 = r(y_1 s),\quad c_2 = r(y_2 s),\quad n = \max(c_2 - c_1 + 1,\ 1),\qquad
# \text{bin } p \text{ reads rows } \Big[\,c_1 + \big\lfloor p\,\tfrac{n}{P} \big\rfloor,\ \
# c_1 + \big\lceil (p+1)\,\tfrac{n}{P} \big\rceil\Big)$$
# clipped to the map; the output of bin $(p, q)$ is the **max** over its cells (0 for an empty bin).
# Note the $+1$: the end cell $c_2$ is read. From scratch, for one box, small loops over the bins:

# %% slideshow={"slide_type": "subslide"}
def c_round(v):
    """C's round(): halves away from zero (Python's round() sends 2.5 to 2)."""
    return math.copysign(math.floor(abs(v) + 0.5), v)


def roi_pool_one_box(fm, box, P, scale):
    """fm (H, W), box (x1, y1, x2, y2) in image pixels -> (P, P), RoIPool written out."""
    H, W = fm.shape
    x1, y1, x2, y2 = (int(c_round(v * scale)) for v in box)
    bin_h, bin_w = max(y2 - y1 + 1, 1) / P, max(x2 - x1 + 1, 1) / P
    out = torch.zeros(P, P, dtype=fm.dtype)
    for p in range(P):
        r0 = min(max(y1 + math.floor(p * bin_h), 0), H)
        r1 = min(max(y1 + math.ceil((p + 1) * bin_h), 0), H)
        for q in range(P):
            c0 = min(max(x1 + math.floor(q * bin_w), 0), W)
            c1 = min(max(x1 + math.ceil((q + 1) * bin_w), 0), W)
            if r1 > r0 and c1 > c0:
                out[p, q] = fm[r0:r1, c0:c1].max()
    return out


rois = torch.cat([torch.zeros(1, 1, dtype=torch.float64), disc_box[None]], 1)   # [batch index, x1, y1, x2, y2]
mine = roi_pool_one_box(fmap, disc_box.tolist(), 3, 1 / 16)
ref = tv.roi_pool(fmap[None, None], rois, 3, 1 / 16)[0, 0]
print(mine)
print("equals torchvision.ops.roi_pool:", torch.equal(mine, ref))

# %% [markdown] slideshow={"slide_type": "subslide"}
# `sc.roi_pool` is the vectorised version (no loop over boxes or bins, torchvision's signature).
# Against `torchvision.ops.roi_pool` on random boxes over two images, some partly outside the map,
# forward and backward (an upstream gradient through autograd):

# %% slideshow={"slide_type": null}
g = torch.Generator().manual_seed(10)
x = torch.randn(2, 8, 40, 48, generator=g)                                   # stride 16: 640 x 768 images
bxs = sc.sub_pixel_boxes(300, 640, 8, 400, seed=1).float() - 40              # some reach past the top/left edge
many = torch.cat([torch.randint(0, 2, (300, 1), generator=g).float(), bxs], 1)
xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
ours, theirs = sc.roi_pool(xa, many, (7, 7), 1 / 16), tv.roi_pool(xb, many, (7, 7), 1 / 16)
up = torch.randn(ours.shape, generator=g)
(ours * up).sum().backward()
(theirs * up).sum().backward()
print(f"{len(many)} boxes, output {tuple(ours.shape)}: max |sc - torchvision| forward "
      f"{(ours - theirs).abs().max().item():.1e}, gradient {(xa.grad - xb.grad).abs().max().item():.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The disc's box on the map, cut into 3×3 bins. Yellow: the box $\times\,1/16$; red: the cells each
# bin reads. The rounded box reaches past the true box on the right and bottom (the end cell), and
# since its cell count is not a multiple of $P$, neighbouring bins share rows and columns (the
# ranges printed below the figure).

# %% slideshow={"slide_type": null}
fig, ax = plt.subplots(figsize=(4.6, 4.6))
sc.draw_roi_bins(fmap, disc_box, 3, 1 / 16, ax=ax, title="RoIPool, 3 x 3 bins, stride 16")
plt.show()
bins = sc.roi_pool_bins(disc_box, 3, 1 / 16, (8, 8))
print("rounded box in cells [x1, y1, x2, y2] (x2, y2 included):", bins.cells.tolist())
print("rows read by each bin [start, end):", bins.y.tolist())
print("columns read by each bin [start, end):", bins.x.tolist())

# %% [markdown] slideshow={"slide_type": "slide"}
# ### How torchvision rounds and clips: the surprises
#
# Each line of the formula has a consequence that surprises people who know only the picture.
# **(a) The end cell is included.** Box $(0, 0, 2, 2)$ at scale 1 on a 6×6 map holding $0..35$
# reads 3×3 cells, so its 1×1 RoIPool is cell $(2, 2)$, not the max of the 2×2 cells $(0..1, 0..1)$:

# %% slideshow={"slide_type": null}
grid36 = torch.arange(36.0).reshape(1, 1, 6, 6)
box0 = torch.tensor([[0.0, 0, 0, 2, 2]])
print("RoIPool:", tv.roi_pool(grid36, box0, 1, 1.0).item(), "| sc:", sc.roi_pool(grid36, box0, 1, 1.0).item(),
      "| max of cells 0..1 x 0..1:", grid36[0, 0, :2, :2].max().item())

# %% [markdown] slideshow={"slide_type": "subslide"}
# **(b) Halves round away from zero** (C's `round`), not to even as `torch.round` and Python's
# `round` do:

# %% slideshow={"slide_type": null}
edges = [2.5, -0.5, 0.5, 3.5]
print("C round (RoIPool's):   ", sc.roi_pool_bins(edges, 1).cells.tolist())
print("torch.round (half-even):", torch.round(torch.tensor(edges)).int().tolist())

# %% [markdown] slideshow={"slide_type": "subslide"}
# **(c) Bins are clipped to the map, and an empty bin gives 0**, whatever the map holds. A box
# hanging off the left edge of a map of $-1$s: its first bin lies wholly outside and returns 0,
# larger than any value on the map:

# %% slideshow={"slide_type": null}
minus_one = -torch.ones(1, 1, 4, 4)
hanging = torch.tensor([[0.0, -40, 0, 24, 16]])          # x from -2.5 to 1.5 cells at stride 16
print("columns per bin:", sc.roi_pool_bins(hanging[0, 1:], (1, 3), 1 / 16, (4, 4)).x.tolist())
print("RoIPool:", tv.roi_pool(minus_one, hanging, (1, 3), 1 / 16).flatten().tolist(),
      "| sc:", sc.roi_pool(minus_one, hanging, (1, 3), 1 / 16).flatten().tolist())

# %% [markdown] slideshow={"slide_type": "subslide"}
# **(d) Bin edges are computed in floating point, in the input's dtype.** A box of 29 cells into 7
# bins: in float64 $7 \cdot (29/7)$ is not exactly 29, its ceil is 30, and the last bin reads one
# cell *past* the box. In float32 the same box is fine; other sizes overshoot there:

# %% slideshow={"slide_type": null}
print("7 * (29 / 7) in float64 =", repr(7 * (29 / 7)))
n_cells = torch.arange(1, 200)
for dtype in (torch.float64, torch.float32):
    over = n_cells[torch.ceil(7 * (n_cells.to(dtype) / 7)) > n_cells]
    print(f"{str(dtype):14s} box sizes (cells) below 200 whose last of 7 bins overshoots: {over.tolist()}")
probe = torch.zeros(1, 1, 1, 40)
probe[..., 29] = 1.0                                    # one cell just past the box's last cell, 28
box29 = torch.tensor([[0.0, 0, 0, 28, 0]])
for dtype in (torch.float64, torch.float32):
    last = sc.roi_pool_bins(box29[0, 1:].to(dtype), (1, 7)).x[-1].tolist()
    out = tv.roi_pool(probe.to(dtype), box29.to(dtype), (1, 7), 1.0)[0, 0, 0, -1].item()
    print(f"{str(dtype):14s} last bin reads columns {last}; torchvision's last output = {out}")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > (a) and (b) are the ones students get wrong in the exercises; (d) is a curiosity,
# > but it is why the worst RoIPool edge error in section 5's table exceeds one and a half cells
# > (half a cell of rounding plus the end cell) at the fine strides, where boxes are many cells wide.
# > All of these are pinned by tests in tests/test_roi.py against torchvision's CPU kernel.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · The cells RoIPool snaps a box to
#
# Write `pool_cells(box, stride)`: for a box $(x_1, y_1, x_2, y_2)$ in image pixels, return the
# list `[x1, y1, x2, y2]` of feature cells RoIPool reads from ($x_2, y_2$ = the last cell read).

# %% slideshow={"slide_type": null}
def pool_cells(box, stride):
    raise NotImplementedError  # your code here


sc.check("10.pool_cells", pool_cells)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Exercise 2 · The rows each bin reads
#
# Write `pool_bins(y1, y2, stride, pooled)` returning `[[start, end), ...]`, one pair per bin, the
# rows RoIPool's `pooled` bins read (no clipping). For a solution, run
# `print(sc.solution("10.pool_cells"))` or `print(sc.solution("10.pool_bins"))`.

# %% slideshow={"slide_type": null}
def pool_bins(y1, y2, stride, pooled):
    raise NotImplementedError  # your code here


sc.check("10.pool_bins", pool_bins)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. RoIAlign (双线性插值, 允许非整数像素的切割点)
#
# RoIAlign (Mask R-CNN) rounds nothing: the cut points of the bins stay where they fall, between
# cells. Each bin is sampled at a $g \times g$ grid of points, each point's value is **bilinearly
# interpolated** from its 4 neighbouring cells, and the bin is their average. Along $y$, with
# $o = \tfrac12$ if `aligned=True` else 0:
# $$y_0 = y_1 s - o,\quad h = \begin{cases} (y_2 - y_1)\,s & \texttt{aligned=True}\\ \max\big((y_2 - y_1)\,s,\ 1\big) & \texttt{aligned=False}\end{cases},\quad
# b = \frac{h}{P},\qquad y_{p,i} = y_0 + p\,b + \big(i + \tfrac12\big)\frac{b}{g},\ \ i = 0..g-1$$
# with $g$ = `sampling_ratio`, or $\lceil h/P \rceil$ per box when `sampling_ratio` $\le 0$
# (adaptive). In these coordinates cell $j$'s value sits at $y = j$. With
# $y_\ell = \lfloor y \rfloor$, $\alpha = y - y_\ell$ (and $x_\ell$, $\beta$ the same along $x$):
# $$f(y, x) = (1-\alpha)(1-\beta)\,F_{y_\ell x_\ell} + (1-\alpha)\,\beta\,F_{y_\ell, x_\ell+1}
# + \alpha\,(1-\beta)\,F_{y_\ell+1, x_\ell} + \alpha\beta\,F_{y_\ell+1, x_\ell+1},
# \qquad \text{out}_{p,q} = \frac{1}{g^2}\sum_{i,j} f(y_{p,i}, x_{q,j}).$$
# At the border torchvision clamps: a sample with $y < -1$ or $y > H$ contributes 0 (but is still
# counted in the average), $y \le 0$ is read at 0, $y \ge H-1$ at $H-1$.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **`aligned=True`: the half-cell shift.** If cell $j$ covers $[j, j+1)$ in units of $x s$ (a cell is
# its $s \times s$ block of pixels), its centre is at $j + \tfrac12$, so a continuous coordinate must
# be shifted by $-\tfrac12$ before interpolating "value of $j$ at $j$". The original Detectron
# RoIAlign (and torchvision's default, `aligned=False`) skips the shift, so every sample lands half a cell
# right of and below where it should. On a ramp $F[\cdot, j] = j$, a box covering cells 0..3 exactly
# should average to the mean of cells 0..3:

# %% slideshow={"slide_type": null}
ramp = torch.arange(8.0).repeat(8, 1)[None, None]
exact = torch.tensor([[0.0, 0, 0, 4, 4]])                   # cells 0..3 at scale 1
for aligned in (True, False):
    pts = sc.roi_align_sample_points(exact[0, 1:], 1, 1.0, 2, aligned)[0, 0, 0, :, 0].tolist()
    val = tv.roi_align(ramp, exact, 1, 1.0, 2, aligned).item()
    print(f"aligned={aligned!s:5s}: samples at x = {pts}, RoIAlign = {val}  (mean of cells 0..3 = "
          f"{ramp[0, 0, 0, :4].mean().item()})")

# %% [markdown] slideshow={"slide_type": "subslide"}
# From scratch for **one bin**: bin $(1, 2)$ of the disc's box, $P = 3$, $g = 2$, `aligned=True`,
# with torchvision's border rules.

# %% slideshow={"slide_type": null}
def bilinear(fm, y, x):
    """fm (H, W) at a real position (y, x), torchvision's rules at the border."""
    H, W = fm.shape
    if y < -1 or y > H or x < -1 or x > W:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_lo, x_lo = int(y), int(x)
    if y_lo >= H - 1:
        y = y_lo = H - 1
    if x_lo >= W - 1:
        x = x_lo = W - 1
    y_hi, x_hi = min(y_lo + 1, H - 1), min(x_lo + 1, W - 1)
    a, b = y - y_lo, x - x_lo
    return ((1 - a) * (1 - b) * fm[y_lo, x_lo] + (1 - a) * b * fm[y_lo, x_hi]
            + a * (1 - b) * fm[y_hi, x_lo] + a * b * fm[y_hi, x_hi]).item()


def roi_align_one_bin(fm, box, P, scale, g, aligned, p, q):
    o = 0.5 if aligned else 0.0
    x0, y0 = box[0] * scale - o, box[1] * scale - o
    w, h = (box[2] - box[0]) * scale, (box[3] - box[1]) * scale
    if not aligned:
        w, h = max(w, 1.0), max(h, 1.0)
    bw, bh = w / P, h / P
    ys = [y0 + p * bh + (i + 0.5) * bh / g for i in range(g)]
    xs = [x0 + q * bw + (j + 0.5) * bw / g for j in range(g)]
    return sum(bilinear(fm, y, x) for y in ys for x in xs) / g**2


mine = roi_align_one_bin(fmap, disc_box.tolist(), 3, 1 / 16, 2, True, 1, 2)
ref = tv.roi_align(fmap[None, None], rois, 3, 1 / 16, 2, True)[0, 0, 1, 2].item()
print(f"bin (1, 2): from scratch {mine:.12f}, torchvision {ref:.12f}, difference {abs(mine - ref):.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# `sc.roi_align` against `torchvision.ops.roi_align` on the random boxes above, both `aligned`
# settings and three sampling ratios, forward and backward (float32):

# %% slideshow={"slide_type": null}
for aligned in (True, False):
    for ratio in (-1, 1, 2):
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = sc.roi_align(xa, many, (7, 7), 1 / 16, ratio, aligned)
        theirs = tv.roi_align(xb, many, (7, 7), 1 / 16, ratio, aligned)
        up = torch.randn(ours.shape, generator=g)
        (ours * up).sum().backward()
        (theirs * up).sum().backward()
        print(f"aligned={aligned!s:5s} sampling_ratio={ratio:2d}: max |sc - torchvision| forward "
              f"{(ours - theirs).abs().max().item():.1e}, gradient {(xa.grad - xb.grad).abs().max().item():.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The differences are float32 rounding (summation order). `sc.roi_align` writes each output bin as a
# fixed weighted sum of input cells, one sparse matrix product for all boxes and channels; how fast
# that is next to torchvision's C++ kernel is measured by `./course bench -k roi`, not in this lesson.
# The disc's box with RoIAlign's bins and samples, `aligned=True` and `False`:

# %% slideshow={"slide_type": null}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
sc.draw_roi_align_samples(fmap, disc_box, 3, 1 / 16, 2, True, ax=axes[0], title="RoIAlign, aligned=True")
sc.draw_roi_align_samples(fmap, disc_box, 3, 1 / 16, 2, False, ax=axes[1],
                          title="aligned=False: half a cell right and down")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Point at the green grid: its lines are the "非整数像素的切割点" of the slide. The
# > legacy picture is the same grid moved by half a cell; that is a constant shift, which a network
# > can learn to compensate, unlike RoIPool's rounding, which changes from box to box (section 5).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3 · Where RoIAlign samples
#
# Write `sample_ys(y1, y2, spatial_scale, pooled, sampling_ratio, aligned, p)`: the $y$ coordinates
# (cell $j$'s value at $y = j$) of the samples of bin row $p$, in order. A solution:
# `print(sc.solution("10.align_samples"))`.

# %% slideshow={"slide_type": null}
def sample_ys(y1, y2, spatial_scale, pooled, sampling_ratio, aligned, p):
    raise NotImplementedError  # your code here


sc.check("10.align_samples", sample_ys)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Where the gradient goes
#
# RoIPool's bin is a max: its gradient goes to **one** cell, the bin's (first) maximum. RoIAlign's bin
# is an average of bilinear samples: each sample passes its share $1/g^2$ to its **4** neighbouring
# cells, weighted by the bilinear weights. The gradient of the sum of the 3×3 output for the
# disc's box:

# %% slideshow={"slide_type": null}
grads = {}
for name, op in (("RoIPool", lambda t: sc.roi_pool(t, rois, 3, 1 / 16)),
                 ("RoIAlign", lambda t: sc.roi_align(t, rois, 3, 1 / 16, 2, True))):
    t = fmap[None, None].clone().requires_grad_()
    op(t).sum().backward()
    grads[name] = t.grad[0, 0]
    print(f"{name:8s}: gradient reaches {int((grads[name] != 0).sum())} of {fmap.numel()} cells, "
          f"largest {grads[name].max().item():.3f}, total {grads[name].sum().item():.3f} (one per output bin)")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), layout="constrained")
for ax, (name, gr) in zip(axes, grads.items()):
    im = ax.imshow(gr, cmap="magma", extent=(0, 8, 8, 0), vmin=0)
    b = (disc_box / 16).tolist()
    ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="#f2c14e", lw=2))
    ax.set_title(f"d(sum of output) / d(map): {name}", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > With RoIPool a cell that is not a bin's maximum learns nothing from this box, and a
# > cell that is the maximum of two neighbouring bins (they share rows) gets both gradients. RoIAlign's
# > gradient changes smoothly with the box position instead of jumping from cell to cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. What the rounding costs, measured
#
# Slide the disc's box right one image pixel ($1/16$ cell) at a time and record both outputs
# (`sc.roi_shift_trace`: the two ops on all shifted boxes at once). RoIPool's output is a step
# function of the position, RoIAlign's a continuous one:

# %% slideshow={"slide_type": null}
steps = torch.arange(-32, 33, dtype=torch.float64) / 16                     # -2 .. 2 cells
shifts = torch.stack([steps, torch.zeros_like(steps)], 1)
pooled, aligned_out = sc.roi_shift_trace(fmap, disc_box, shifts, 3, 1 / 16, 2, True)
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
ax.plot(steps, pooled.mean((1, 2)), color="#e4572e", label="RoIPool")
ax.plot(steps, aligned_out.mean((1, 2)), color="#29bf12", label="RoIAlign")
ax.set_xlabel("x shift of the box (cells; one step = one image pixel)")
ax.set_ylabel("mean of the 3x3 output")
ax.legend(frameon=False)
plt.show()
for name, out in (("RoIPool", pooled), ("RoIAlign", aligned_out)):
    d = (out[1:] - out[:-1]).abs().amax((1, 2))
    print(f"{name:8s}: output changed at {int((d > 1e-12).sum())} of {len(d)} one-pixel steps; "
          f"largest change of a bin in one step {d.max().item():.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The quantisation table.** 2,000 boxes at sub-pixel positions, 32 to 256 px wide and high, in an
# 800-px image (`sc.sub_pixel_boxes`). For each stride $s$, `sc.quantisation_error` maps the region
# each op reads back to image pixels (cell $j$ covers $[js, (j+1)s)$) and compares it with the box:
# the mean and max displacement of the box's 4 edges; the *jitter* (spread over boxes of the signed
# displacement: the part a network cannot learn away, unlike a constant shift); and the IoU between
# a 28×28 mask target of the ellipse filling the box, laid over the true box and over the region
# read (1 = no harm). `roi_align_legacy` is `aligned=False`.

# %% slideshow={"slide_type": null}
sub_boxes = sc.sub_pixel_boxes(2000, image_size=800, min_size=32, max_size=256, seed=0)
table = {s: sc.quantisation_error(sub_boxes, s) for s in (4, 8, 16, 32)}
print(f"{'stride':>6s}  {'method':16s} {'edge mean':>9s} {'edge max':>9s} {'jitter':>7s} "
      f"{'mask IoU mean':>13s} {'min':>6s}   (edges in image pixels)")
for s, res in table.items():
    for method, r in res.items():
        print(f"{s:6d}  {method:16s} {r['box_edge_mean']:9.2f} {r['box_edge_max']:9.2f} {r['box_edge_jitter']:7.2f} "
              f"{r['mask_iou_mean']:13.3f} {r['mask_iou_min']:6.3f}")
pool_rows = [table[s]["roi_pool"] for s in table]
for key in ("box_edge_mean", "box_edge_max", "box_edge_jitter"):
    print(f"RoIPool {key} / stride:", [round(r[key] / s, 3) for r, s in zip(pool_rows, table)])
print(f"1/sqrt(12) = {1 / math.sqrt(12):.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Reading the table:
# - RoIPool's error is a **fixed fraction of the stride** (the ratios printed last). Left and top
#   edges move by the rounding error, uniform in $[-s/2, s/2]$, mean $s/4$; right and bottom edges
#   also gain the included end cell, $+s$: a mean of about $(s/4 + s)/2 = 5s/8$ over the four
#   edges and a worst case of $s/2 + s$, more where (d) adds a cell. Its jitter is close to
#   $s/\sqrt{12}$, the spread of a uniform rounding error: it changes from box to box, so no learned
#   offset can undo it.
# - The mask damage grows with the stride: at stride 16 and 32 (the C4 and C5 heads of the paper)
#   a 28×28 mask laid over RoIPool's region misses a large part of the object.
# - RoIAlign with the right `aligned` flag reads exactly the box (0 px, IoU 1, by construction);
#   with the other flag it is off by a constant $s/2$, with zero jitter.
#
# Mask R-CNN's introduction (arXiv:1703.06870) says RoIAlign "improves mask accuracy by relative 10%
# to 50%, showing bigger gains under stricter localization metrics". This measurement is
# geometric, not a trained detector, but it points the same way: the loss is largest where the
# stride is coarse and the required overlap high.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Ask the room why the jitter column matters more than the mean: a constant shift
# > (RoIAlign legacy) is learnable, a random one is not. Then ask why FPN (arXiv:1612.03144) softens
# > RoIPool's damage: it sends small boxes to fine levels, so the error relative to the box size is
# > roughly the same at every level (sc.fpn_levels assigns the levels).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Position-sensitive pooling (位置敏感, R-FCN and FCIS)
#
# R-FCN (arXiv:1605.06409) makes the map carry the position: with $k \times k$ bins, the input has
# $C\,k^2$ channels, and output channel $c$ of bin $(p, q)$ averages only input channel
# $c\,k^2 + p\,k + q$ over that bin. Each bin reads its own score map, trained to fire on "the
# $(p, q)$ part of an object". FCIS (arXiv:1611.07709, lesson 09) assembles its inside/outside
# score maps in exactly this way. Below, nine ideal part maps for the disc (stride 4), the output
# for the disc's box and for the box moved by a third of its width:

# %% slideshow={"slide_type": null}
k, stride = 3, 4
disc = torch.as_tensor(inst["masks"][0], dtype=torch.float64)
x1, y1, x2, y2 = disc_box.tolist()
ys, xs = torch.meshgrid(torch.arange(128.0) + 0.5, torch.arange(128.0) + 0.5, indexing="ij")
part_maps = []
for p in range(k):
    for q in range(k):
        part = ((ys - y1) * k // (y2 - y1) == p) & ((xs - x1) * k // (x2 - x1) == q)
        part_maps.append(F.avg_pool2d((disc * part)[None, None], stride)[0, 0])
part_maps = torch.stack(part_maps)[None]                       # (1, 9, 32, 32): channel p*k + q
moved = disc_box + torch.tensor([1.0, 0, 1, 0], dtype=torch.float64) * (x2 - x1) / 3
two = torch.stack([torch.cat([torch.zeros(1, dtype=torch.float64), b]) for b in (disc_box, moved)])
ps = sc.ps_roi_pool(part_maps, two, k, 1 / stride)              # (2 boxes, 1 channel, 3, 3)
err_pool = (ps - tv.ps_roi_pool(part_maps, two, k, 1 / stride)).abs().max().item()
err_align = (sc.ps_roi_align(part_maps, two, k, 1 / stride, 2)
             - tv.ps_roi_align(part_maps, two, k, 1 / stride, 2)).abs().max().item()
print(f"max |sc - torchvision|: ps_roi_pool {err_pool:.1e}, ps_roi_align {err_align:.1e}")
print(f"mean score: the disc's box {ps[0].mean().item():.3f}, moved by a third of its width {ps[1].mean().item():.3f}")

fig = plt.figure(figsize=(10, 3.4), layout="constrained")
gs = fig.add_gridspec(k, 2 * k + 1)
for i in range(k * k):
    ax = fig.add_subplot(gs[i // k, i % k])
    ax.imshow(part_maps[0, i], cmap="viridis", vmin=0, vmax=1, extent=(0, 32, 32, 0))
    ax.set_xlim(x1 / stride - 2, x2 / stride + 2)
    ax.set_ylim(y2 / stride + 2, y1 / stride - 2)
    ax.set_axis_off()
    ax.set_title(f"channel {i} = part ({i // k}, {i % k})", fontsize=7)
for j, (name, out) in enumerate((("the disc's box", ps[0, 0]), ("the moved box", ps[1, 0]))):
    ax = fig.add_subplot(gs[:, k + 2 * j:k + 2 + 2 * j])
    sc.draw_pooled(out, ax=ax, vmin=0, vmax=1, title=f"ps_roi_pool, {name}")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The point is translation variance. A plain RoIPool of one "disc" map would score
# > the moved box almost as high; the position-sensitive maps only agree when every bin sees its own
# > part. That is what lets FCIS and R-FCN keep the whole network fully convolutional and still tell
# > neighbouring instances apart.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. See it: slide a box by sub-cell steps
#
# The disc's box on the same pool4 channel. The sliders move it by $1/16$ of a cell (one image
# pixel) and scale it. Left (red): the cells RoIPool's 2×2 bins read; they **snap** to the grid, and
# RoIPool's output (top right, framed red) jumps. Middle (green): RoIAlign's bins and 2×2 samples per
# bin; they move with every step, and RoIAlign's output (framed green) changes continuously.
# Bottom: the mean of each output along the whole x-shift range (grey lines: whole cells; dashed:
# the current shift). The readout under the figure prints the box, the cells and both outputs.

# %% slideshow={"slide_type": null}
sc.roi_explorer(fmap, disc_box, stride=16, output_size=2, sampling_ratio=2)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Press the right arrow on the x-shift slider a few times: the green points creep,
# > the red cells stay until a box edge crosses a half cell, then both red outlines and the RoIPool
# > output jump at once. Then push the size up and watch several bins share cells.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Two-stage detectors pool a fixed grid of features for every box (Fast R-CNN's RoIPool): one
#   backbone pass, any box size.
# - RoIPool (回顾一下ROI pooling) quantises twice: box edges with C's `round` (end cell included),
#   bin edges with floor/ceil (neighbouring bins can share cells), clipped to the map, max inside.
#   `sc.roi_pool` equals `torchvision.ops.roi_pool` exactly, forward and backward.
# - RoIAlign (双线性插值, 允许非整数像素的切割点) keeps real-valued bin edges and averages
#   $g \times g$ bilinear samples per bin; `aligned=True` removes a half-cell shift that
#   torchvision's default `aligned=False` keeps. `sc.roi_align` matches torchvision to float rounding.
# - Measured on sub-pixel boxes: RoIPool's edges move by a fixed fraction of the stride, with a
#   random part no head can learn away; the mask target suffers most at stride 16 and 32. RoIAlign
#   reads the box exactly.
# - RoIPool's gradient reaches one cell per bin, RoIAlign's spreads over 4 cells per sample.
# - Position-sensitive pooling (位置敏感) gives each bin its own channel group: the bridge from
#   RoI pooling to R-FCN and FCIS.
#
# **References.** R. Girshick, *Fast R-CNN*, arXiv:1504.08083 (RoIPool). S. Ren, K. He, R. Girshick,
# J. Sun, *Faster R-CNN*, arXiv:1506.01497. K. He, G. Gkioxari, P. Dollár, R. Girshick, *Mask R-CNN*,
# arXiv:1703.06870 (RoIAlign). J. Dai, Y. Li, K. He, J. Sun, *R-FCN*, arXiv:1605.06409
# (position-sensitive RoI pooling). Y. Li, H. Qi, J. Dai, X. Ji, Y. Wei, *Fully Convolutional
# Instance-aware Semantic Segmentation*, arXiv:1611.07709. K. He, X. Zhang, S. Ren, J. Sun, *Spatial
# Pyramid Pooling in Deep Convolutional Networks*, arXiv:1406.4729. T.-Y. Lin et al., *Feature
# Pyramid Networks for Object Detection*, arXiv:1612.03144.

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← FCIS: fully convolutional instance-aware segmentation](09_fcis.ipynb) · [contents](00_overview.ipynb#Road-map) · [Mask R-CNN →](11_mask_rcnn.ipynb)
