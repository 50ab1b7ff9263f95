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
#     seconds: 31.2
#     terms: "\u5B9E\u4F8B\u5206\u5272 instance segmentation, \u5168\u5377\u79EF fully\
#       \ convolutional, \u4F4D\u7F6E\u654F\u611F\u5F97\u5206\u56FE position-sensitive\
#       \ score maps, inside/outside score \u5185/\u5916\u5F97\u5206, \u611F\u5174\u8DA3\
#       \u533A\u57DF RoI, \u5E73\u79FB\u53EF\u53D8\u6027 translation variance, \u63A9\
#       \u7801\u5E73\u5747\u7CBE\u5EA6 mask AP"
#     title: 'FCIS: fully convolutional instance-aware segmentation'
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 09 · FCIS: fully convolutional instance-aware segmentation
#
# *Key terms: 实例分割 instance segmentation, 全卷积 fully convolutional, 位置敏感得分图
# position-sensitive score maps, Inside/outside score (内/外得分), 感兴趣区域 RoI (region of
# interest), 平移不变性 / 平移可变性 translation invariance / variance, 掩码平均精度 mask AP*
#
# **Learning objectives.** After this lesson you can:
# 1. explain, with a measurement, why a fully convolutional semantic network plus connected
#    components cannot separate two touching objects of one class;
# 2. say how $k\times k$ position-sensitive score maps make the same pixel score differently in
#    different RoIs (translation variance), and which map a pixel of a RoI reads;
# 3. assemble a RoI's inside and outside maps from the $2k^2C$ score maps, by hand and with
#    `ps_roi_pool` / `ps_roi_align`, and read FCIS's two outputs from them: the mask
#    (softmax over inside/outside) and the detection score (softmax over classes of the averaged
#    max);
# 4. state what a small FCIS head trained on the course scenes achieves in mask AP, against lesson
#    00's connected-components baseline, and what the evaluation assumes about the boxes.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The slide names FCIS and its "Inside/outside score" without the mechanism. The
# > story: lesson 00 showed that a perfect semantic map still loses objects (touching objects merge).
# > FCIS keeps the network fully convolutional but makes its output depend on the RoI, by giving every
# > class k^2 maps, one per part of an object, once for inside and once for outside. Spend time on the tiny translation-variance
# > example and on the widget (k = 1 versus k = 3).

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision

import segcourse as sc

_ = sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Why a class map alone cannot separate touching objects
#
# A semantic network labels pixels with classes (分类级别). Lesson 00 turned its map into objects with
# connected components (连通域): each component of one class is one object. Measured on the 80
# validation scenes with the **true** semantic maps, so that every pixel's class is right, the only
# errors left are the ones the idea itself makes:

# %% slideshow={"slide_type": null}
val_images, val_masks = sc.load_scenes("val")
val_instances = sc.load_scene_instances("val")
gt, gt_boxes = [], []
for sem, inst in zip(val_masks, val_instances):
    masks, classes, boxes = sc.instance_boxes(sem, inst)          # the objects, their classes, tight boxes
    gt.append({"masks": masks, "classes": classes})
    gt_boxes.append(boxes)
perfect_cc = [sc.semantic_to_instances(m) for m in val_masks]   # lesson 00's computation
ap_perfect_cc = sc.mask_ap(gt, perfect_cc)
n_true = np.array([len(g["classes"]) for g in gt])
n_comp = np.array([len(p["classes"]) for p in perfect_cc])
merged = split = 0                                              # per object: shares a component / is cut in pieces
for g_, p in zip(gt, perfect_cc):
    G = np.asarray(g_["masks"]).reshape(len(g_["classes"]), -1)
    P = np.asarray(p["masks"]).reshape(len(p["classes"]), -1)
    touches = (G[:, None, :] & P[None, :, :]).any(-1)            # (objects, components)
    merged += int((touches & (touches.sum(0) > 1)[None]).any(1).sum())
    split += int((touches.sum(1) > 1).sum())
print("perfect semantic map + connected components: mask AP "
      + ", ".join(f"{k} {v:.3f}" for k, v in ap_perfect_cc.items() if k in ("AP", "AP50", "AP75")))
print(f"{n_true.sum()} objects in {len(gt)} scenes, {n_comp.sum()} components: {merged} objects share a component "
      f"with another object (merged), {split} are cut into several components (split by an occluder)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Both errors come from the same blindness. Where two objects of one class touch, their pixels form
# one component (merged); where an object is partly covered by another, its visible pieces form
# several components (split). The scene with the most merged objects: the components cannot tell
# where one object stops and the next begins, because nothing in a class map says so.

# %% slideshow={"slide_type": null}
demo = int(np.argmax(n_true - n_comp))
comp = perfect_cc[demo]
comp_map = np.zeros(val_masks[demo].shape, np.int64)
for j, m in enumerate(comp["masks"], start=1):
    comp_map[m] = j
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
sc.draw_image(val_images[demo], ax=axes[0], title=f"val scene {demo}")
sc.draw_instances(val_images[demo], val_instances[demo], gt[demo]["classes"], gt_boxes[demo],
                  class_names=sc.CLASSES, ax=axes[1], title=f"true objects: {n_true[demo]}")
sc.draw_instances(val_images[demo], comp_map, comp["classes"], class_names=sc.CLASSES, ax=axes[2],
                  title=f"components of the true map: {n_comp[demo]}")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Translation invariance.** A convolution computes the same function at every position: a
# fully convolutional network's score at a pixel depends on the image around that pixel, not on
# which object we are asking about. Put a box (RoI, 感兴趣区域) around each of two touching discs:
# a pixel where they touch gets *one* disc score, whichever box it is read in.
#
# **Position-sensitive score maps** (InstanceFCN, arXiv:1603.08678; R-FCN, arXiv:1605.06409) break
# this on purpose. Instead of one map per class, the network outputs $k\times k$ maps, map $(i, j)$
# scoring "this pixel is in the $(i, j)$-th part of an object" (top-left, top-middle, ...). A RoI
# is cut into a $k\times k$ grid and each grid cell reads **its own** map. A pixel near the right
# edge of one disc is in the right column of that disc's RoI but in the left column of the next
# disc's RoI, so the two RoIs read it from different maps and get different values: the output is
# **translation-variant** (平移可变), as an instance must be.
#
# A tiny example: $k = 2$, four $6\times 8$ maps whose values name the map (11, 12, 21, 22 for map
# (0,0), (0,1), (1,0), (1,1)), and two overlapping RoIs.

# %% slideshow={"slide_type": null}
k = 2
ps_maps = torch.tensor([[10.0 * (i + 1) + (j + 1) for j in range(k)] for i in range(k)]).reshape(k * k, 1, 1)
ps_maps = ps_maps.expand(k * k, 6, 8)                      # map (i, j) = channel i*k + j
fcn_map = torch.full((6, 8), 7.0)                          # an FCN: one map, the same everywhere
rois = {"A": (0, 0, 4, 4), "B": (2, 1, 8, 6)}              # (x1, y1, x2, y2), pixels
y, x = 2, 3                                                # one pixel inside both RoIs
for name, (x1, y1, x2, y2) in rois.items():
    i, j = sc.ps_cell(y - y1, x - x1, y2 - y1, x2 - x1, k)   # its grid cell in this RoI (exercise 1)
    print(f"RoI {name} {x2 - x1}x{y2 - y1}: pixel ({y}, {x}) is RoI pixel ({y - y1}, {x - x1}), cell ({i}, {j}) "
          f"-> reads map ({i}, {j}): value {ps_maps[i * k + j, y, x]:.0f}; an FCN map gives {fcn_map[y, x]:.0f}")

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, (name, (x1, y1, x2, y2)) in zip(axes, rois.items()):
    assembled = np.zeros((6, 8))
    for yy in range(y1, y2):
        for xx in range(x1, x2):
            i, j = sc.ps_cell(yy - y1, xx - x1, y2 - y1, x2 - x1, k)
            assembled[yy, xx] = ps_maps[i * k + j, yy, xx]
    ax.imshow(np.ma.masked_equal(assembled, 0), cmap="tab20c", vmin=10, vmax=25)
    for (r, c), v in np.ndenumerate(assembled):
        if v:
            ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=9,
                    fontweight="bold" if (r, c) == (y, x) else None)
    ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=2, ec="k"))
    ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, lw=2, ec="red"))   # the shared pixel
    ax.set_title(f"RoI {name}: every pixel reads the map of its cell")
    ax.set_xticks(range(8))
    ax.set_yticks(range(6))
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. FCIS: inside and outside maps, one mask and one score
#
# FCIS (Li, Qi, Dai, Ji, Wei, arXiv:1611.07709) asks two questions of every pixel and part: is the
# pixel **inside** an object of class $c$ at part $(i, j)$, or **outside** it (in the RoI but not
# the object's)? So the network's last $1\times1$ convolution outputs $2k^2C$ score maps (the paper
# writes $C+1$ classes with background; here $C$ counts the background). The course's layout is
# torchvision's position-sensitive one: channel
# $$\text{ch}(c, s, i, j) = ((2c + s)\,k + i)\,k + j,\qquad s = 0 \text{ inside},\; s = 1 \text{ outside}.$$
#
# **Assembling** (组装). A RoI is resampled to $M\times M$ cells; cell $(p, q)$ lies in grid cell
# $g(p, q) = (\lfloor pk/M \rfloor, \lfloor qk/M \rfloor)$ and reads that map at its own position:
# $$I_c(p, q) = S_{\text{ch}(c, 0, g(p,q))}(\text{cell } (p, q)),\qquad
#   O_c(p, q) = S_{\text{ch}(c, 1, g(p,q))}(\text{cell } (p, q)).$$
# With $M = k$ this is R-FCN's position-sensitive RoI pooling (`ps_roi_pool` / `ps_roi_align`);
# FCIS's code uses the same operator with $M = 21$ cells from $k = 7$ groups.
#
# **Two readings of the same maps.**
# * Mask (per pixel, per class): $P_c(p, q) = \dfrac{e^{I_c(p,q)}}{e^{I_c(p,q)} + e^{O_c(p,q)}}$, a
#   softmax over (inside, outside).
# * Detection score: $s_c = \frac{1}{M^2}\sum_{p,q} \max\big(I_c(p,q), O_c(p,q)\big)$, then
#   $\text{score}_c = \operatorname{softmax}_c(s)$. If the RoI holds an object of class $c$, *every*
#   pixel is confidently inside or confidently outside it, so the max is high everywhere; for a
#   wrong class both are low.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Stress that FCIS has no per-RoI layers at all: everything learnable is in the fully
# > convolutional part; per RoI there is only copying (assembling), a softmax and an average. That is
# > why it is fast, and why the same maps serve detection and segmentation.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · Which map does a pixel read?
#
# Three exercises before the code: the next section shows the course's implementation, so try
# them first.
#
# Write `which_cell(y, x, h, w, k)`: pixel $(y, x)$ (row, column, from 0) of an $h\times w$ RoI with a
# $k\times k$ grid. Return the grid cell $(i, j)$ whose score map it reads. The grid cuts the RoI
# into $k$ equal bands of $h/k$ rows (and $w/k$ columns), which need not be whole pixels.

# %% slideshow={"slide_type": null}
def which_cell(y, x, h, w, k):
    raise NotImplementedError  # your code here


sc.check("09.which_cell", which_cell)

# %% [markdown] slideshow={"slide_type": "fragment"}
# *Stuck?* A solution opens only on request: run `print(sc.solution("09.which_cell"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · Assemble a position-sensitive map by hand
#
# `maps` is a $(k, k, h, w)$ array: map $(i, j)$ already cut to the RoI's $h\times w$ pixels. Write
# `assemble(maps)` returning the $(h, w)$ map in which every pixel reads the map of its own cell, at
# its own position. First do the $2\times2$ case on paper: maps filled with 0, 1, 10, 11 on a
# $4\times 4$ RoI.

# %% slideshow={"slide_type": null}
def assemble(maps):
    raise NotImplementedError  # your code here


sc.check("09.assemble", assemble)

# %% [markdown] slideshow={"slide_type": "fragment"}
# *Stuck?* A solution opens only on request: run `print(sc.solution("09.assemble"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3 · Mask and detection score
#
# Given one RoI's assembled `inside` and `outside` maps, $(C, h, w)$ each, return `(mask, scores)`:
# the $(C, h, w)$ mask probabilities and the $(C,)$ detection scores of section 2.

# %% slideshow={"slide_type": null}
def mask_and_score(inside, outside):
    raise NotImplementedError  # your code here


sc.check("09.mask_and_score", mask_and_score)

# %% [markdown] slideshow={"slide_type": "fragment"}
# *Stuck?* A solution opens only on request: run `print(sc.solution("09.mask_and_score"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Give the class two minutes for exercise 1 on paper (a 5 x 7 RoI, k = 3: which rows
# > and columns fall in which band); exercises 2 and 3 are then a few lines each. Section 3 shows the
# > course's version right after, so students can compare.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. From scratch, then checked
#
# The paper's assembling at the maps' own resolution, for an integer box: every pixel of the RoI
# copies its cell's map. Plain indexing, one RoI:

# %% slideshow={"slide_type": null}
def assemble_one_roi(maps, box, k, num_classes):
    """maps: (2*k*k*C, H, W) score maps; box: (x1, y1, x2, y2) whole pixels -> inside, outside (C, h, w)."""
    x1, y1, x2, y2 = box
    h, w = y2 - y1, x2 - x1
    inside = torch.zeros(num_classes, h, w, dtype=maps.dtype)
    outside = torch.zeros(num_classes, h, w, dtype=maps.dtype)
    for c in range(num_classes):
        for yy in range(h):
            for xx in range(w):
                i, j = yy * k // h, xx * k // w                  # the grid cell of this RoI pixel
                inside[c, yy, xx] = maps[((c * 2 + 0) * k + i) * k + j, y1 + yy, x1 + xx]
                outside[c, yy, xx] = maps[((c * 2 + 1) * k + i) * k + j, y1 + yy, x1 + xx]
    return inside, outside


C = len(sc.CLASSES)
score_maps = torch.randn(2 * 3 * 3 * C, 20, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
box = (3, 2, 17, 13)                                             # 14 x 11 pixels: cells of unequal size
mine = assemble_one_roi(score_maps, box, 3, C)
print("cells of the 11 rows:", [yy * 3 // 11 for yy in range(11)])

# %% [markdown] slideshow={"slide_type": "subslide"}
# Checked three ways. Against `sc.assemble_inside_outside` with `op="pool"` and one output cell per
# pixel. Against **torchvision's `ps_roi_pool`**, R-FCN's operator: it cuts the RoI into
# $M_h\times M_w$ output cells, and output cell $(p, q)$ of output group $t$ *averages* its bin of
# input channel $t\,M_hM_w + pM_w + q$. FCIS needs a $k\times k$ group of maps spread over
# $M_h\times M_w$ cells, so the maps' channels are first repeated (`sc.group_channels`), with
# $t = 2c + s$ the (class, inside/outside) pair; each output cell then finds its grid cell's map. And,
# with $M = k$, against `ps_roi_pool` and `ps_roi_align` directly (R-FCN's own case).
# Then with RoIAlign sampling (`op="align"`, what the model trains with: bilinear reads at
# real-valued sample points, so boxes need not sit on whole pixels; lesson 10 builds it), against
# torchvision's `ps_roi_align` on 200 random boxes at stride 8, for $M = 12$ (equal groups) and
# $M = 7$ (unequal groups).

# %% slideshow={"slide_type": null}
h, w = box[3] - box[1], box[2] - box[0]
rois = torch.tensor([[0.0, *box]], dtype=torch.float64)
lib_in, lib_out = sc.assemble_inside_outside(score_maps[None], rois, 3, C, (h, w), op="pool")
expanded = score_maps[None][:, sc.group_channels(3, (h, w), 2 * C)]
tv = torchvision.ops.ps_roi_pool(expanded, rois, (h, w), 1.0).reshape(1, C, 2, h, w)
print("from scratch == sc.assemble_inside_outside(op='pool'):",
      torch.equal(mine[0], lib_in[0]) and torch.equal(mine[1], lib_out[0]))
print("from scratch == torchvision.ops.ps_roi_pool on the expanded maps:",
      torch.equal(mine[0], tv[0, :, 0]) and torch.equal(mine[1], tv[0, :, 1]))
pool_k = torch.stack(sc.assemble_inside_outside(score_maps[None], rois, 3, C, op="pool"), 2).reshape(1, 2 * C, 3, 3)
at_k = torch.stack(sc.assemble_inside_outside(score_maps[None], rois, 3, C, op="align"), 2).reshape(1, 2 * C, 3, 3)
print("M = k: equals torchvision.ops.ps_roi_pool:",
      torch.allclose(pool_k, torchvision.ops.ps_roi_pool(score_maps[None], rois, 3, 1.0), atol=1e-12),
      "| equals torchvision.ops.ps_roi_align:",
      torch.allclose(at_k, torchvision.ops.ps_roi_align(score_maps[None], rois, 3, 1.0, 2), atol=1e-12))
g = torch.Generator().manual_seed(1)
maps2 = torch.randn(2, 2 * 9 * C, 16, 16, generator=g)         # two images' maps at stride 8 (128 px)
xy = torch.rand(200, 2, generator=g) * 110
boxes200 = torch.cat([torch.randint(0, 2, (200, 1), generator=g).float(), xy, xy + 4 + torch.rand(200, 2, generator=g) * 80], 1)
for M in (12, 7):
    ours = torch.stack(sc.assemble_inside_outside(maps2, boxes200, 3, C, M, spatial_scale=1 / 8), 2)
    ref = torchvision.ops.ps_roi_align(maps2[:, sc.group_channels(3, M, 2 * C)], boxes200, M, 1 / 8, 2)
    print(f"op='align', M={M}: max |ours - torchvision| = {(ours.reshape(200, 2 * C, M, M) - ref).abs().max():.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The mask and the score, from scratch, against `sc.fcis_mask_and_score`:

# %% slideshow={"slide_type": null}
inside, outside = mine                                           # (C, h, w) of the RoI above
mask = inside.exp() / (inside.exp() + outside.exp())             # softmax over (inside, outside)
logits = torch.maximum(inside, outside).mean(dim=(1, 2))         # per class
scores = logits.exp() / logits.exp().sum()                       # softmax over the classes
lib = sc.fcis_mask_and_score(inside[None], outside[None])
print("mask equal:", torch.allclose(mask, lib.mask[0]), "| scores equal:", torch.allclose(scores, lib.probs[0]),
      "| scores sum to", round(float(scores.sum()), 6))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The maps a perfect FCIS would output
#
# Before training anything: what should the score maps be? Take the ground truth and, for every
# object and every pixel of its box, write `strength` (here 4) into the inside map of its class and
# of the pixel's grid cell if the pixel is the object's, else into the outside map
# (`sc.gt_score_maps`). On the merged scene above, the $3\times3$ inside maps of the class that
# merged:

# %% slideshow={"slide_type": null}
cls_counts = np.bincount(comp["classes"], minlength=C) - np.bincount(gt[demo]["classes"].numpy(), minlength=C)
merged_class = int(np.argmin(cls_counts))                        # the class that lost objects to merging
ideal = sc.gt_score_maps(val_instances[demo], gt[demo]["classes"], 3, C)
fig, axes = plt.subplots(3, 3, figsize=(6.4, 6.4))
for i in range(3):
    for j in range(3):
        sc.draw_score_map(ideal[sc.ps_channel(merged_class, 0, i, j, 3)], ax=axes[i, j], vmin=0, vmax=4,
                          title=f"inside map ({i}, {j})")
fig.suptitle(f"class '{sc.CLASSES[merged_class]}', val scene {demo}: one map per part of an object")
fig.colorbar(axes[0, 0].images[0], ax=axes, shrink=0.6, label="inside score (0 = nothing, 4 = strength)")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Each map holds one cell of every object's box: map $(i, j)$ is bright where an object's pixels
# fall in cell $(i, j)$ of its own box (the small squares are such cells of small objects, the
# curved pieces corners of discs). Assembled in each object's box, these maps give each object
# **only its own pixels**, even where
# two objects of one class touch. Mask AP over the 80 validation scenes, with the ground-truth boxes
# as RoIs, for $k = 1$ (one map per class: an FCN, no position) and $k = 3$, against the perfect
# semantic map + connected components:

# %% slideshow={"slide_type": null}
def ideal_fcis(k, M=28):
    preds = []
    for inst, g_, boxes in zip(val_instances, gt, gt_boxes):
        maps = sc.gt_score_maps(inst, g_["classes"], k, C)
        out = sc.fcis_mask_and_score(*sc.assemble_inside_outside(maps[None], [boxes], k, C, M))
        cls = out.probs[:, 1:].argmax(1) + 1
        pasted = sc.paste_masks(out.mask[torch.arange(len(cls)), cls], boxes, inst.shape) >= 0.5
        preds.append({"masks": pasted, "classes": cls, "scores": out.probs.gather(1, cls[:, None])[:, 0]})
    return preds


ideal_ap = {k: sc.mask_ap(gt, ideal_fcis(k)) for k in (1, 3)}
print(f"{'instances from':52s} {'AP':>6s} {'AP50':>6s} {'AP75':>6s}")
for name, ap in (("perfect semantic map + connected components", ap_perfect_cc),
                 ("ground-truth score maps, k = 1 (no position), GT boxes", ideal_ap[1]),
                 ("ground-truth score maps, k = 3, GT boxes", ideal_ap[3])):
    print(f"{name:52s} {ap['AP']:6.3f} {ap['AP50']:6.3f} {ap['AP75']:6.3f}")

# %% [markdown] slideshow={"slide_type": "fragment"}
# With $k = 1$ the boxes alone already help (each mask is cut to its box), but every pixel of
# another object of the same class inside the box leaks into the mask; with $k = 3$ almost nothing
# leaks. Read the $k = 3$ row as an upper bound on *assembling*, given the true instances and their
# boxes: the maps were written from those very boxes, so reading them back in the same boxes is nearly
# exact by construction. It says what the mechanism can represent, not that a network can produce
# such maps; the trained head below is not trained towards these maps either (its loss compares the
# *assembled* masks with the objects).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > With k = 1 the inside map is just "pixel of class c", so inside a box every pixel of
# > another object of the same class leaks in: that is the connected-components failure again, now
# > inside a box. With k = 3 the leak disappears except where two objects' cells coincide.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. An FCIS head at course scale
#
# The diagram below is the head the course trains (`sc.FCIS`). Its score maps come from the FCN-8s
# of lesson 04 with $2k^2C$ output channels instead of $C$, at stride 8; each RoI is assembled at
# $M\times M$ cells with RoIAlign sampling ($k$ and $M$ are printed with the checkpoint below).

# %% slideshow={"slide_type": null}
fig, ax = plt.subplots(figsize=(12, 4.2))
sc.draw_fcis_head(k=3, num_classes=C, ax=ax)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **What differs from the paper, and why.**
# * *No RPN, no box regression.* FCIS scores the proposals of a region proposal network (RPN) and
#   refines their boxes. The course head trains on RoIs made from the **ground-truth boxes**: each box,
#   copies with edges jittered by 10% of the box size (positives: IoU ≥ 0.5 with an object), copies
#   jittered by 35% and random boxes (mostly negatives, class background), `sc.sample_rois`.
# * *Start.* FCIS starts from an ImageNet ResNet-101; the course head starts from the FCN-8s
#   checkpoint: its backbone, and its class scores copied into every cell (`sc.init_from_fcn`):
#   the fresh head *is* FCN-8s, every cell of class $c$'s inside map equal to $c$'s score and every
#   outside map the background's. Training makes the cells differ. The first three VGG blocks stay
#   frozen (FCIS freezes its first ResNet stages too).
# * *Loss* as in the paper: cross-entropy of the detection logits over the $C$ classes on every
#   RoI, plus the per-pixel inside/outside cross-entropy of the true class on positive RoIs against the
#   object's mask cut to the RoI (`sc.fcis_loss`; the recipe weighs the mask part 3 times the class
#   part).
#
# A few training steps live, from the FCN-8s start (the loss is the weighted sum of the two parts):

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
train_images, train_masks = sc.load_scenes("train")
train_targets = torch.stack([train_masks, sc.load_scene_instances("train")], 1)
live = sc.init_from_fcn(sc.FCIS(num_classes=C), sc.load_checkpoint("fcn8s"))
history = sc.train_fcis(live, train_images[:48], train_targets[:48], epochs=1, batch_size=8, desc="FCIS, 6 steps",
                        **sc.checkpoints.FCIS_LOSS)             # the shipped recipe's RoIs and loss weights
print(f"{history['steps']} steps, mean loss {history['loss'][0]:.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The shipped head (`./course retrain fcis`) ran the longer schedule below; it is loaded here.

# %% slideshow={"slide_type": null}
fcis = sc.load_checkpoint("fcis")
meta = fcis.meta
print(f"FCIS head: k = {fcis.k}, M = {fcis.mask_size}, {meta['train_scenes']} training scenes, {meta['epochs']} epochs "
      f"({meta['steps']} steps of {meta['batch_size']} images), final loss {meta['final_loss']:.3f}")
print(f"parameters: {sum(p.numel() for p in fcis.parameters()):,}, of which trained (not in the frozen blocks): "
      f"{sum(p.numel() for p in fcis.parameters() if p.requires_grad):,}; the recipe took {meta['seconds'] / 60:.1f} min")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Mask AP on the 80 validation scenes
#
# Which boxes, and why. Mask AP needs each object found *and* its mask right. Without an RPN, the
# head can only be evaluated on boxes someone gives it, so two settings are measured and kept apart:
# * **ground-truth boxes** (an oracle, like the perfect semantic map): the head must classify each
#   box and draw its mask. The boxes fix three things the head would otherwise have to get right:
#   the number of objects (it cannot miss one or invent one), their extent (a mask is pasted only
#   inside its box, so nothing outside the box can be a false positive), and the kind of box it
#   sees (it was trained on jittered ground-truth boxes, so these are the boxes it knows best). This
#   isolates what the inside/outside maps do.
# * **boxes of the FCN-8s map's connected components** (no ground truth at all): a fair comparison
#   with FCN-8s + connected components, but merged components give merged boxes, so the head can at
#   best re-draw the masks and re-score them; it cannot split what the boxes merged (an RPN would).

# %% slideshow={"slide_type": null}
fcn8s = sc.load_checkpoint("fcn8s")
probs = sc.predict_proba(fcn8s, val_images)
fcn_cc = [sc.semantic_to_instances(p.argmax(0), p, min_area=4) for p in probs]
cc_boxes = [torch.as_tensor(sc.boxes_from_masks(d["masks"])).float() for d in fcn_cc]
fresh = sc.init_from_fcn(sc.FCIS(num_classes=C), fcn8s)
fcis_gt = sc.fcis_predict(fcis, val_images, gt_boxes)             # per image: masks, classes, scores
results = {
    "perfect semantic map + connected components": ap_perfect_cc,
    "FCN-8s map + connected components": sc.mask_ap(gt, fcn_cc),
    "FCIS at its start (= FCN-8s), ground-truth boxes": sc.mask_ap(gt, sc.fcis_predict(fresh, val_images, gt_boxes)),
    "FCIS trained, ground-truth boxes": sc.mask_ap(gt, fcis_gt),
    "FCIS trained, boxes of FCN-8s components": sc.mask_ap(gt, sc.fcis_predict(fcis, val_images, cc_boxes)),
}
print(f"{'instances from':50s} {'AP':>6s} {'AP50':>6s} {'AP75':>6s}")
for name, ap in results.items():
    print(f"{name:50s} {ap['AP']:6.3f} {ap['AP50']:6.3f} {ap['AP75']:6.3f}")
ap = {name: r["AP"] for name, r in results.items()}
print("same boxes, trained - start:",
      f"{ap['FCIS trained, ground-truth boxes'] - ap['FCIS at its start (= FCN-8s), ground-truth boxes']:+.3f} AP on GT boxes;",
      "no ground truth, FCIS on FCN-8s component boxes - FCN-8s + components:",
      f"{ap['FCIS trained, boxes of FCN-8s components'] - ap['FCN-8s map + connected components']:+.3f} AP")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Read the table row by row. The first row is an oracle of the semantic kind, the
# > ground-truth-box rows an oracle of the detection kind; neither is a deployable system. The last
# > row is the honest end-to-end comparison with FCN-8s + components, and there the head is limited
# > by the boxes it is given. What FCIS adds over the FCN is visible in section 4 (k = 1 against
# > k = 3) and in the merged scene.

# %% [markdown] slideshow={"slide_type": "subslide"}
# Where the trained head stands, on the ground-truth boxes: how often its best class is the object's;
# and the IoU of the true class's mask with the object, at the start and after training, for
# "crowded" objects (the box holds at least 10 pixels of another object of the same class: where
# position sensitivity matters) and for the others.

# %% slideshow={"slide_type": null}
def true_class_ious(model):
    out = []
    with torch.no_grad():
        for image, g_, boxes in zip(val_images, gt, gt_boxes):
            s = model(image[None], [boxes])
            m = s.mask[torch.arange(len(boxes)), g_["classes"]]
            pasted = sc.paste_masks(m, boxes, image.shape[1:]) >= 0.5
            out.append((pasted & g_["masks"]).sum((1, 2)) / (pasted | g_["masks"]).sum((1, 2)).clamp(min=1))
    return torch.cat(out)


crowded = []
for sem, inst, g_, boxes in zip(val_masks, val_instances, gt, gt_boxes):
    for r, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        other = (sem[y1:y2, x1:x2] == g_["classes"][r]) & ~g_["masks"][r, y1:y2, x1:x2]
        crowded.append(int(other.sum()) >= 10)
crowded = torch.tensor(crowded)
right = torch.cat([p["classes"] == g_["classes"] for p, g_ in zip(fcis_gt, gt)])
print(f"best class = true class for {right.float().mean():.1%} of the {len(right)} objects")
print(f"mean mask IoU, true class   crowded ({int(crowded.sum())})   others ({int((~crowded).sum())})")
for name, model in (("FCIS at its start", fresh), ("FCIS trained", fcis)):
    iou = true_class_ious(model)
    print(f"{name:27s} {iou[crowded].mean():13.3f} {iou[~crowded].mean():12.3f}")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Findings.** The fair gain of training is read on the same boxes: on ground-truth boxes the
# trained head is above its own start (FCN-8s's scores copied into every cell). Rows that mix an
# oracle with a system without one (ground-truth boxes against FCN-8s + components) are not a
# comparison of methods. Its masks improved mostly on the
# objects that have no neighbour of their class in the box; on the crowded ones, where the cells
# would have to differ, they barely moved: at this scale and budget the head learned little
# position sensitivity, and it often picks the wrong class. It stays far below both oracles
# (sections 1 and 4). On the boxes of FCN-8s's components it is about level with FCN-8s +
# components: those boxes already merged what FCIS could have split. FCIS's gains in the paper come
# with a ResNet-101 and an RPN that proposes one box per object; at course scale the mechanism shows
# with ground-truth maps (section 4) and the end-to-end gain does not.

# %% [markdown] slideshow={"slide_type": "subslide"}
# The merged scene again, with the trained head on the ground-truth boxes: one object per box, each
# with the mask the head draws for it (where the discs overlap, compare with the ground-truth maps of
# section 4 and with the widget below).

# %% slideshow={"slide_type": null}
pred = fcis_gt[demo]
pred_map = np.zeros(val_masks[demo].shape, np.int64)
for j in np.argsort(pred["scores"].numpy()):                    # best scores painted last
    pred_map[pred["masks"][j].numpy()] = j + 1
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
sc.draw_instances(val_images[demo], val_instances[demo], gt[demo]["classes"], gt_boxes[demo],
                  class_names=sc.CLASSES, ax=axes[0], title="true objects")
sc.draw_instances(val_images[demo], comp_map, comp["classes"], class_names=sc.CLASSES, ax=axes[1],
                  title="perfect map + components")
sc.draw_instances(val_images[demo], pred_map, pred["classes"], gt_boxes[demo], class_names=sc.CLASSES,
                  ax=axes[2], title="trained FCIS, ground-truth boxes")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Explore: one RoI, its k x k maps, its mask
#
# Pick a RoI (an object's box) and $k$. Left to right: the scene with the RoI and its $k\times k$
# grid; the $k\times k$ inside maps of the object's class, each shown over the whole RoI and bright
# only in the cell the RoI reads from it; the assembled inside and outside maps, side by side; the
# mask $P(\text{inside}) = \operatorname{softmax}(\text{inside}, \text{outside})$. The scene is the one
# whose discs merged in section 1. With the ground-truth maps, compare $k = 1$ (one map per class:
# the other discs leak into the mask) with $k = 3$; the readout under the controls gives the mask's
# IoU with the object. Even at $k = 3$ the ground-truth maps are not perfect: where the box of this
# object and the box of a neighbour put a pixel in the same grid cell, that pixel is written both
# "inside" (for one object) and "outside" (for the other), both at strength 4, and its mask value is
# 0.5 (the mid-colour blocks). Then switch the maps to the trained head.

# %% slideshow={"slide_type": null}
sc.fcis_explorer(val_images[demo], val_instances[demo], gt[demo]["classes"], model=fcis, roi=0, k=3,
                 class_names=sc.CLASSES)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Live, start on the ground-truth maps with k = 1 and step through the RoIs of the
# > merged discs: the neighbour leaks into every mask. Then k = 3: the leak is gone except for the
# > mid-colour blocks (pixels two boxes put in the same cell). Last, the trained head's maps: its cells
# > barely differ, which is the section 6 finding seen directly.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A fully convolutional semantic map is translation-invariant: a pixel has one score per class,
#   so connected components merge touching objects of a class. Even a *perfect* semantic map loses
#   mask AP that way (section 1).
# - Position-sensitive score maps make the output depend on the RoI: a RoI's $k\times k$ grid cell
#   $(i, j)$ reads map $(i, j)$, cell of pixel $(y, x)$ = $(\lfloor yk/h \rfloor, \lfloor xk/w \rfloor)$,
#   so one pixel scores differently in different RoIs.
# - FCIS outputs $2k^2C$ inside/outside maps; per RoI it assembles them (`ps_roi_pool` /
#   `ps_roi_align` with a $k\times k$ group, checked against torchvision), reads the mask as
#   softmax(inside, outside) and the detection score as the softmax over classes of the mean of
#   max(inside, outside). No per-RoI layers.
# - With ground-truth score maps, $k = 3$ separates what $k = 1$ (an FCN) merges. The course head,
#   trained by a short recipe on 128-pixel scenes (its time is printed in section 5), is measured in section 6, on ground-truth boxes (an
#   oracle) and on the boxes of FCN-8s's components (no ground truth), against lesson 00's baseline.
#
# **References.** Y. Li, H. Qi, J. Dai, X. Ji, Y. Wei, *Fully Convolutional Instance-aware Semantic
# Segmentation*, arXiv:1611.07709. J. Dai, K. He, Y. Li, S. Ren, J. Sun, *Instance-sensitive Fully
# Convolutional Networks* (InstanceFCN), arXiv:1603.08678. J. Dai, Y. Li, K. He, J. Sun, *R-FCN:
# Object Detection via Region-based Fully Convolutional Networks*, arXiv:1605.06409. J. Long,
# E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic Segmentation*,
# arXiv:1411.4038. Next: RoIPool and RoIAlign (Mask R-CNN, arXiv:1703.06870).

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← Large kernels matter: GCN and boundary refinement](08_large_kernels_gcn.ipynb) · [contents](00_overview.ipynb#Road-map) · [RoI pooling vs RoIAlign →](10_roi_pool_vs_roi_align.ipynb)
