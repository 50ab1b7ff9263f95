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
#     seconds: 35.2
#     terms: "Mask R-CNN, \u7ED3\u6784\u4E0A Faster R-CNN+FCN structure, RoI Align,\
#       \ \u66F4\u7CBE\u786E\u7684mask\u4F4D\u7F6E more precise mask positions"
#     title: Mask R-CNN
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 11 · Mask R-CNN (结构上：Faster R-CNN + FCN)
#
# *Key terms: 结构上 Faster R-CNN+FCN (structurally, Faster R-CNN plus an FCN), 区域建议网络 region
# proposal network (RPN), 锚框 anchors, 非极大值抑制 non-maximum suppression (NMS), RoI Align,
# 为了得到更精确的mask位置 (for more precise mask positions)*
#
# **Learning objectives.** After this lesson you can:
# 1. draw Mask R-CNN with the tensor shape at every arrow, and say what each stage hands the next;
# 2. follow one scene through anchors, RPN objectness, proposals before and after NMS, the RoIs a
#    training step samples, the box head's classes and refined boxes, the mask head's 28×28 logits
#    and how they are pasted back into the image;
# 3. write the five losses and compute them by hand, and say why only the ground-truth class's
#    mask is trained and why masks use a per-pixel sigmoid, not a softmax over classes;
# 4. read a detector's AP (per class, per size, AP50 vs AP75) and its errors;
# 5. say, with numbers measured here, what RoIAlign buys over RoIPool inside Mask R-CNN, and why
#    the gap depends on how many feature cells an object spans.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The slide says two things: "结构上：Faster R-CNN+FCN" and "为了得到更精确的mask位置，加入RoI
# > Align". This lesson opens a real Mask R-CNN (torchvision's class, sized for 128-px scenes and
# > trained on a CPU, one thread, by `./course retrain mask_rcnn`) stage by stage, then measures the
# > second sentence. Lesson 10 built RoIPool and RoIAlign from scratch; this model uses those ops.
# > Two kinds of model appear: the shipped one (3,000 iterations, sections 1-9 and 11) and the
# > study's nets (1,000 iterations each, section 10).

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision

import segcourse as sc

sc.seed_everything()

model = sc.load_checkpoint("mask_rcnn")           # a torchvision MaskRCNN, eval mode
images, targets = sc.detection_val_set()           # the 80 shipped val scenes
print(f"{type(model).__module__}.{type(model).__name__}: {sum(p.numel() for p in model.parameters()):,} parameters, "
      f"trained {model.meta['iterations']} iterations of 8 scenes in {model.meta['seconds'] / 60:.1f} min "
      f"({model.meta['threads']} thread)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 0. The vocabulary in five lines
#
# - A **detector** outputs boxes, each with a class and a score. **Fast R-CNN** (lesson 10) classifies
#   given candidate boxes (**proposals**) from RoI-pooled features; **Faster R-CNN** makes the
#   proposals itself with a small network on the same features, the RPN.
# - A box is predicted as **deltas** from a reference box (an anchor, or a proposal): a shift of its
#   centre in units of its size and a log-scale of its width and height.
# - The classifier scores $K$ classes = the 5 shapes + **background** (class 0, "no object"), and
#   predicts a separate box refinement for each class.
# - A **feature pyramid network (FPN)** turns the backbone's stride 8, 16 and 32 maps into maps of
#   equal width (here 64 channels) by a top-down path: each coarser map is upsampled 2× and added
#   to a 1×1 projection of the finer backbone map (a lateral connection), so every level has
#   both fine position and deep context. Small boxes are pooled from fine levels, large from coarse.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The architecture: Faster R-CNN + an FCN head (结构上：Faster R-CNN+FCN)
#
# Two stages share one backbone:
# 1. **Region proposal network (RPN).** At every cell of every pyramid level, for each of $A$ anchor
#    boxes (sizes × aspect ratios), a small conv head predicts an objectness logit and 4 box
#    deltas. Decoded, sorted and thinned by NMS, they become a few hundred **proposals**.
# 2. **RoI heads.** Each proposal is cut out of the feature pyramid (RoIAlign, 7×7) and a box head
#    of two FC layers predicts $K$ class scores and $4K$ per-class box deltas (Fast R-CNN). The
#    detections that survive are cut out again (14×14) and a small **FCN** (four 3×3 convs, a 2×
#    transposed conv, a 1×1 conv) predicts a 28×28 mask logit **per class**: Mask R-CNN's addition.
#
# The course model is torchvision's `MaskRCNN` class with every part shrunk for 128-px scenes. The
# shapes below were read by hooks on a forward pass of one validation scene.

# %% slideshow={"slide_type": "subslide"}
shapes = sc.mask_rcnn_shapes(model, images[1])
fig, ax = plt.subplots(figsize=(12, 5))
sc.draw_mask_rcnn_architecture(shapes, ax=ax, title="Mask R-CNN on one 128 x 128 scene (shapes per image)")
plt.show()
parts = {"backbone": model.backbone.body, "FPN": model.backbone.fpn, "RPN head": model.rpn.head,
         "box head + predictor": [model.roi_heads.box_head, model.roi_heads.box_predictor],
         "mask head + predictor": [model.roi_heads.mask_head, model.roi_heads.mask_predictor]}
for name, mods in parts.items():
    mods = mods if isinstance(mods, list) else [mods]
    print(f"{name:22s} {sum(p.numel() for m in mods for p in m.parameters()):>9,} parameters")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Point at the two RoIAlign boxes: the box head reads 7×7 crops of every proposal, the mask head
# > 14×14 crops of the final detections only (at inference; in training, of the positive RoIs).
# > In this tiny model the box head's first FC layer (64·7·7 → 256) holds half the parameters;
# > the compute is in the backbone. FPN's level rule is
# > $k = \lfloor 4 + \log_2(\sqrt{wh}/64) \rfloor$ here (COCO uses 224 for 800-px images; on 128-px
# > scenes 224 would send every RoI to the finest level).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Anchors and the RPN (区域建议网络)
#
# Each level $l$ of stride $s_l$ centres its anchors at $(s_l j, s_l i)$, the top-left pixel of each
# cell (torchvision's convention): here two sizes × three aspect ratios $h/w \in \{0.5, 1, 2\}$ = 6
# per cell. For each anchor the RPN predicts an objectness logit $o$ (probability $\sigma(o)$ that
# the anchor covers an object) and deltas $(t_x, t_y, t_w, t_h)$ that turn anchor
# $(x_a, y_a, w_a, h_a)$ (centre, size) into a box
# $$x = x_a + t_x w_a,\quad y = y_a + t_y h_a,\quad w = w_a e^{t_w},\quad h = h_a e^{t_h}.$$
# Left: the anchors of the cell at the image centre on each level, and each level's grid. Middle:
# the largest objectness probability of each cell at stride 8 (the level where most course objects
# fall).

# %% slideshow={"slide_type": "subslide"}
scene = 1
st = sc.mask_rcnn_stages(model, images[scene], targets[scene])
fig, axes = plt.subplots(1, 3, figsize=(12, 4.3), layout="constrained")
sc.draw_anchors(images[scene], st["anchors"], st["strides"], ax=axes[0], title="anchors at the centre cell")
sc.draw_objectness(st["objectness"]["0"], ax=axes[1], title="RPN objectness, stride 8 (max of 6 anchors)")
sc.draw_boxes(images[scene], targets[scene]["boxes"], sc.detection_colours(targets[scene]["labels"]),
              [sc.CLASSES[int(c)] for c in targets[scene]["labels"]], ax=axes[2], title="the scene's objects")
plt.show()
for name in st["anchors"]:
    o = st["objectness"][name]
    print(f"level {name} (stride {st['strides'][name]:2d}): {o.shape[1]}x{o.shape[2]} cells x {o.shape[0]} anchors"
          f" = {st['anchors'][name].shape[0]:4d} anchors, {int((o > 0.5).sum()):3d} with objectness > 0.5")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Proposals before and after NMS (非极大值抑制)
#
# The RPN keeps each level's top-scoring decoded boxes, clips them to the image and drops tiny ones;
# NMS at IoU 0.7, run separately on each level, then removes every box that overlaps a better one
# of its level by more than 0.7, and the best few hundred over all levels remain. Colour:
# objectness probability (bright = high). Most of what NMS removes are near-copies of the same
# object.

# %% slideshow={"slide_type": null}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), layout="constrained")
for ax, (boxes, scores, what) in zip(axes, [(st["pre_nms"], st["pre_nms_scores"], "before NMS"),
                                             (st["proposals"], st["proposal_scores"], "after NMS (0.7) and top-n")]):
    top = scores.argsort(descending=True)[:60]
    colours = plt.cm.plasma(scores[top].numpy())
    sc.draw_boxes(images[scene], boxes[top], colours, ax=ax, linewidth=0.8,
                  title=f"{what}: {len(boxes)} boxes (60 best drawn)")
plt.show()
above = lambda s: int((s > 0.5).sum())
print(f"objectness > 0.5: {above(st['pre_nms_scores'])} boxes before NMS, {above(st['proposal_scores'])} after")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · How many anchors?
#
# Write `anchors(size)`: the number of anchors the course RPN scores on a `size` × `size` image
# (levels at strides 8, 16 and 32; on each, two anchor sizes × three aspect ratios per cell).
# For a solution: `print(sc.solution("11.anchors"))`.

# %% slideshow={"slide_type": null}
def anchors(size):
    raise NotImplementedError  # your code here


sc.check("11.anchors", anchors)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Exercise 2 · Which level pools a box?
#
# FPN pools a RoI of width $w$ and height $h$ from level
# $k = \lfloor k_0 + \log_2(\sqrt{wh} / s_0) \rfloor$, clamped to the levels that exist. Write
# `fpn_level(w, h)` for the course model: $k_0 = 4$, $s_0 = 64$ px, levels 3 to 5 (strides 8 to
# 32). For a solution: `print(sc.solution("11.fpn_level"))`.

# %% slideshow={"slide_type": null}
def fpn_level(w, h):
    raise NotImplementedError  # your code here


sc.check("11.fpn_level", fpn_level)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The RoIs a training step learns from
#
# In training, the box head does not see all proposals: each image's proposals (plus its
# ground-truth boxes) are matched to the objects, and a fixed number is sampled: **positives** have
# IoU ≥ 0.5 with an object (at most a quarter of the sample), **negatives** IoU < 0.5 (background,
# class 0). The RPN samples its anchors the same way with thresholds 0.7 / 0.3: an anchor with
# IoU ≥ 0.7 is positive, below 0.3 negative, in between ignored, and each object's best anchor is
# positive even below 0.7 (so every object has one). Below, the sample drawn for this scene
# (green: positive, red: negative, each with its largest IoU with any object).

# %% slideshow={"slide_type": null}
smp = st["sampled"]
pos = smp["labels"] > 0
order = torch.cat([torch.where(~pos)[0][:25], torch.where(pos)[0]])
colours = ["#1a9850" if bool(pos[i]) else "#d73027" for i in order]
fig, ax = plt.subplots(figsize=(5, 5))
sc.draw_boxes(images[scene], smp["boxes"][order], colours, [f"{float(smp['iou'][i]):.2f}" for i in order], ax=ax,
              linewidth=0.8, title=f"sampled RoIs: {int(pos.sum())} positive, {int((~pos).sum())} negative "
                                   f"(25 negatives drawn)")
plt.show()
print(f"positives: IoU {smp['iou'][pos].min():.2f} to {smp['iou'][pos].max():.2f} "
      f"(the ground-truth boxes are added to the proposals before sampling: IoU 1)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The box head: a class and a refined box per proposal
#
# For every proposal the box head outputs a softmax over the $K = 6$ classes (background + 5) and,
# for **each** class, its own 4 deltas (decoded as the RPN's, with the deltas divided by
# (10, 10, 5, 5): torchvision's box-head weights keep the regression targets near unit scale). The
# proposal with the highest non-background probability, its probabilities, and the box refined
# for its best class:

# %% slideshow={"slide_type": null}
probs = st["class_probs"]
best = int(probs[:, 1:].max(1).values.argmax())
cls = int(probs[best, 1:].argmax()) + 1
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained", gridspec_kw={"width_ratios": [1, 1.2]})
sc.draw_boxes(images[scene], torch.stack([st["proposals"][best], st["class_boxes"][best, cls]]),
              ["#ffdd00", "#00e5ff"], ["proposal", f"refined for '{sc.CLASSES[cls]}'"], ax=axes[0], linewidth=1.2)
axes[1].bar(range(len(sc.CLASSES)), probs[best].numpy(), color="#6baed6")
axes[1].set_xticks(range(len(sc.CLASSES)), sc.CLASSES, rotation=30, fontsize=8)
axes[1].set_ylabel("softmax probability")
axes[1].set_title(f"class probabilities of proposal {best}", fontsize=10)
plt.show()
print(f"final detections after score threshold 0.05, per-class NMS 0.5 and the top 50: {len(st['detections']['scores'])}; "
      f"{int((st['detections']['scores'] > 0.5).sum())} with score > 0.5")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The mask head: 28×28 logits per class, pasted back
#
# The mask head sees a 14×14 RoIAlign crop of each detection and outputs $K$ maps of 28×28
# logits, one per class; at inference the map of the **detected** class is taken, passed through a
# sigmoid, and pasted into the image: resized to the box and thresholded at 0.5. torchvision first
# pads the map by one zero cell on every side and grows the box by the same factor (28+2)/28, so
# the border cells are not stretched over the box edge; the grown box's corners are truncated to
# integers and its last row and column are included. From scratch:

# %% slideshow={"slide_type": "subslide"}
import torch.nn.functional as F


def paste(prob, box, height, width):
    """One (M, M) mask probability map into a height x width image, as torchvision pastes it."""
    m = prob.shape[0]
    grow = (m + 2) / m
    padded = F.pad(prob, (1, 1, 1, 1))                                   # (M + 2, M + 2)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) / 2 * grow, (box[3] - box[1]) / 2 * grow
    x1, y1, x2, y2 = (int(v) for v in torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h]))
    w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)                      # last row/column included
    resized = F.interpolate(padded[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    out = torch.zeros(height, width)
    xa, xb, ya, yb = max(x1, 0), min(x2 + 1, width), max(y1, 0), min(y2 + 1, height)
    out[ya:yb, xa:xb] = resized[ya - y1:yb - y1, xa - x1:xb - x1]
    return out


det = st["detections"]
d = 0                                            # the best detection
prob28 = st["mask_logits"][d, det["labels"][d]].sigmoid()
ours = paste(prob28, det["boxes"][d], 128, 128)
from torchvision.models.detection.roi_heads import paste_masks_in_image
theirs = paste_masks_in_image(prob28[None, None], det["boxes"][d:d + 1], (128, 128))[0, 0]
print(f"our paste vs torchvision's paste_masks_in_image: max |difference| = {(ours - theirs).abs().max():.1e}")
print(f"sc.paste_mask_like_torchvision agrees too: "
      f"{(sc.paste_mask_like_torchvision(prob28, det['boxes'][d], 128, 128) - theirs).abs().max():.1e}")

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 4, figsize=(12, 3.3), layout="constrained")
k_logits = st["mask_logits"][d]
vmax = float(k_logits.abs().max())
for ax, c in zip(axes[:2], [int(det["labels"][d]), 1 if int(det["labels"][d]) != 1 else 2]):
    im = ax.imshow(k_logits[c], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_title(f"28x28 logits, class '{sc.CLASSES[c]}'" + (" (detected)" if c == int(det["labels"][d]) else ""),
                 fontsize=9)
    ax.set_axis_off()
fig.colorbar(im, ax=axes[:2], fraction=0.03)
im2 = axes[2].imshow(ours, cmap="magma", vmin=0, vmax=1)
axes[2].set_title("sigmoid, pasted into the box", fontsize=9)
axes[2].set_axis_off()
fig.colorbar(im2, ax=axes[2], fraction=0.046)
one = {k: v[d:d + 1] for k, v in det.items()}
one["masks"] = (ours >= 0.5)[None]
sc.draw_detections(images[scene], one, sc.CLASSES, ax=axes[3], title="thresholded at 0.5")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The second logit map is another class's opinion about the same box. It is never used for this
# > detection, and during training it gets no loss for this RoI (next section). This is what the
# > paper calls decoupling mask and class prediction.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The five losses, by hand
#
# With $\sigma$ the sigmoid and $\ell_{\text{BCE}}(z, t) = -t\log\sigma(z) - (1-t)\log(1-\sigma(z))$:
# - **RPN objectness**: mean $\ell_{\text{BCE}}$ over the sampled anchors (256 per image, up to half
#   positive; 1 = IoU ≥ 0.7, 0 = IoU < 0.3);
# - **RPN box**: smooth-L1 ($\beta = 1/9$) between the positives' deltas and their targets, summed
#   and divided by the number of sampled anchors;
# - **classification**: softmax cross-entropy over the $K$ classes of every sampled RoI;
# - **box regression**: smooth-L1 of the **true class's** 4 deltas of the positive RoIs, summed and
#   divided by the number of sampled RoIs;
# - **mask**: for each positive RoI of ground-truth class $c$, the mean of
#   $\ell_{\text{BCE}}(z^{(c)}_{ij}, t_{ij})$ over the 28×28 cells, where $t$ is the object's mask
#   cropped to the RoI (RoIAlign of the binary mask) and $z^{(c)}$ the logits of class $c$ **only**.
#
# `sc.mask_rcnn_losses_by_hand` replays one training forward pass of the shipped model on a batch
# of 4 training scenes, keeps every intermediate tensor, and recomputes each loss from these
# formulas:

# %% slideshow={"slide_type": null}
batch_images, batch_targets = sc.detection_batch(0, 4)
torch.manual_seed(0)
losses = sc.mask_rcnn_losses_by_hand(model, batch_images, batch_targets)
print(f"{'loss':18s} {'by hand':>10s} {'torchvision':>12s}")
for name, (ours_v, theirs_v) in losses.items():
    print(f"{name:18s} {ours_v:10.6f} {theirs_v:12.6f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why only the ground-truth class's mask, and why a sigmoid
#
# The box head already decides the class. If the mask head also had to pick it, with a softmax over
# classes at each pixel, the classes would compete per pixel and the mask would have to learn the
# classification again. With one sigmoid per class and the loss on the true class's map only, a mask
# map only has to answer "is this pixel inside the object of my class, given that it is one?". The
# paper measures this (Table 2b, COCO, ResNet-50-C4): the softmax version loses 5.5 mask AP
# (24.8 vs 30.3).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3 · The mask loss of one RoI
#
# Write `mask_loss(logits, label, target)`: `logits` is a `(K, M, M)` tensor of one RoI's mask
# logits, `label` its ground-truth class, `target` a `(M, M)` tensor of values in $[0, 1]$ (the
# object's mask cropped to the RoI: 0/1 here). Return the mask loss as a float. For a solution:
# `print(sc.solution("11.mask_loss"))`.

# %% slideshow={"slide_type": null}
def mask_loss(logits, label, target):
    raise NotImplementedError  # your code here


sc.check("11.mask_loss", mask_loss)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Training on two CPU cores
#
# `./course retrain mask_rcnn` trains the shipped model: AdamW, learning rate $2\cdot10^{-3}$ with
# 100 warm-up iterations then cosine decay, batches of 8 **fresh** scenes rendered in memory, each
# under one of the 8 flips/rotations. Here, 10 iterations from scratch on batches of 4 (same
# recipe, 3 warm-up iterations) show the loss falling:

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
live = sc.build_mask_rcnn(seed=0)
history = sc.train_mask_rcnn(live, 10, batch_size=4, warmup=3, threads=2, desc="10 live iterations")
first, last = np.mean(history["loss"][:3]), np.mean(history["loss"][-3:])

# %% slideshow={"slide_type": null}
print(f"total loss: {first:.2f} over the first 3 iterations -> {last:.2f} over the last 3"
      if last < first else "the loss did not fall in 10 iterations")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. How good is the shipped model?
#
# COCO AP (pycocotools) on the 80 validation scenes: for each class, detections are ranked by
# score and matched to objects (mask IoU at least a threshold); precision is read at the 101 recall
# levels 0, 0.01, …, 1 and averaged, then averaged over the classes and over the IoU thresholds
# 0.50:0.05:0.95; AP50 and AP75 use one threshold. "small" objects cover fewer than $32^2$ pixels
# (area of the ground-truth annotation), "medium" up to $96^2$ (a 128-px scene has almost no "large").

# %% slideshow={"slide_type": null}
dets = sc.detect(model, images)
scores = sc.detection_scores(dets, targets)
for kind in ("mask", "box"):
    s = scores[kind]
    print(f"{kind:4s} AP {s['AP']:.3f}  AP50 {s['AP50']:.3f}  AP75 {s['AP75']:.3f}  "
          f"small {s['AP_small']:.3f}  medium {s['AP_medium']:.3f}")
print("mask AP per class: " + ", ".join(f"{sc.CLASSES[c]} {v:.3f}" for c, v in scores["mask"]["per_class"].items()))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Class confusions or mask errors?
#
# Each object against the confident detections (score ≥ 0.5), by its best mask IoU with any of
# them: **correct** (IoU ≥ 0.5, right class), **wrong class** (IoU ≥ 0.5, another class), **poor
# mask** (0.1 ≤ IoU < 0.5), **missed** (IoU < 0.1 with every confident detection). A **false alarm**
# is a confident detection with IoU < 0.1 with every object. The confusion matrix counts the
# objects found with IoU ≥ 0.5.

# %% slideshow={"slide_type": null}
gt = [{"masks": t["masks"].bool(), "classes": t["labels"]} for t in targets]
pred = [{"masks": d["masks"], "classes": d["labels"], "scores": d["scores"]} for d in dets]
errors = sc.instance_errors(pred, gt, num_classes=len(sc.CLASSES))
print(", ".join(f"{k}: {v}" for k, v in errors["counts"].items()) + f"; false alarms: {errors['false_alarms']}")
conf = errors["confusion"][1:, 1:]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), layout="constrained",
                         gridspec_kw={"width_ratios": [1.3, 1, 1, 1]})
axes[0].imshow(conf, cmap="Blues")
for (i, j), v in np.ndenumerate(conf.numpy()):
    axes[0].text(j, i, str(v), ha="center", va="center", fontsize=8, color="black" if v < conf.max() / 2 else "white")
axes[0].set_xticks(range(5), sc.CLASSES[1:], rotation=30, fontsize=7)
axes[0].set_yticks(range(5), sc.CLASSES[1:], fontsize=7)
axes[0].set_xlabel("predicted", fontsize=8)
axes[0].set_ylabel("true", fontsize=8)
axes[0].set_title("objects found (IoU >= 0.5)", fontsize=9)
for ax, i in zip(axes[1:], (0, 3, 5)):
    keep = dets[i]["scores"] >= 0.5
    sc.draw_detections(images[i], {k: v[keep] for k, v in dets[i].items() if k != "mask_probs"}, sc.CLASSES, ax=ax,
                       title=f"val scene {i}: {int(keep.sum())} detections, {len(targets[i]['labels'])} objects")
plt.show()
worst = max(((i, j) for i in range(1, 6) for j in range(1, 6) if i != j), key=lambda p: int(errors["confusion"][p]))
print(f"most frequent confusion: {sc.CLASSES[worst[0]]} taken for {sc.CLASSES[worst[1]]} "
      f"({int(errors['confusion'][worst])} objects)")
main_error = max(("wrong class", "poor mask", "missed"), key=lambda k: errors["counts"][k])
print(f"the largest error kind here is '{main_error}'")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. Our RoIAlign inside torchvision's model
#
# The model's two RoI extractors are `sc.MultiScaleRoIAlign` (lesson 10's `roi_align` and
# `roi_pool`, equal to `torchvision.ops`), not torchvision's. Same features, same boxes: do the
# pooled crops and the detections agree with torchvision's extractor?

# %% slideshow={"slide_type": null}
import copy

reference = sc.set_roi_op(copy.deepcopy(model), "align", impl="torchvision")
print(type(model.roi_heads.box_roi_pool).__module__, "vs", type(reference.roi_heads.box_roi_pool).__module__)
with torch.no_grad():
    imgs_t, _ = model.transform([images[scene]])
    feats = model.backbone(imgs_t.tensors)
    ours_crop = model.roi_heads.box_roi_pool(feats, [st["proposals"]], imgs_t.image_sizes)
    ref_crop = reference.roi_heads.box_roi_pool(feats, [st["proposals"]], imgs_t.image_sizes)
print(f"box RoIs {tuple(ours_crop.shape)}: max |ours - torchvision's| = {(ours_crop - ref_crop).abs().max():.1e}")
ref_dets = sc.detect(reference, images[:8])
same = all(torch.allclose(a["boxes"], b["boxes"], atol=1e-3) and torch.equal(a["labels"], b["labels"])
           for a, b in zip(dets[:8], ref_dets))
print(f"detections on 8 val scenes identical (boxes to 1e-3 px, labels): {same}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# How fast does each train? Two training iterations each on the same batches of 4 scenes (one measurement,
# two threads; `./course bench -k mask_rcnn` measures it properly): our RoIAlign, torchvision's, and
# our RoIPool. torchvision's CPU RoIAlign backward loops over every sample of every RoI; ours is a
# sparse matrix product whose backward is the transposed product. Our RoIPool gathers every cell of
# every bin, takes the max and scatters the gradient back.

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
def seconds_per_iteration(net):
    """Mean of 2 timed training iterations on batches of 4 scenes (after one warm-up)."""
    return float(np.mean(sc.iteration_seconds(net, steps=2, batch_size=4)))


torch.set_num_threads(2)
t_ours = seconds_per_iteration(copy.deepcopy(model))
t_tv = seconds_per_iteration(reference)
t_pool = seconds_per_iteration(sc.set_roi_op(copy.deepcopy(model), "pool"))
print(f"one training iteration (4 scenes): our RoIAlign {t_ours:.2f} s, torchvision's RoIAlign {t_tv:.2f} s "
      f"(torchvision / ours = {t_tv / t_ours:.2f}); our RoIPool {t_pool:.2f} s")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 10. RoIAlign vs RoIPool inside Mask R-CNN (为了得到更精确的mask位置，加入RoI Align)
#
# The paper compares the two ops in single-level Mask R-CNNs (Table 2c: ResNet-50-C4, stride 16;
# 2d: C5, stride 32; COCO mask AP / AP50 / AP75): RoIPool 26.9 / 48.8 / 26.4 against RoIAlign
# 30.3 / 51.2 / 31.5 at stride 16, and 23.6 / 46.5 / 21.6 against 30.9 / 51.8 / 32.1 at stride
# 32: the gap is largest at AP75 and grows with the stride. Here, with the course's FPN model: the
# same model, seed, scenes in the same order and the same 1,000 iterations; only the op in the box
# and mask RoI extractors changes (RoIAlign with torchvision's `aligned=False`, as in the rest of
# the lesson). Scored on the 80 shipped val scenes plus 400 rendered from a seed no run trains on.
# (`python -m segcourse.tooling.roi_study`; the seed-0 nets ship as `mrcnn_align` and `mrcnn_pool`.)

# %% slideshow={"slide_type": null}
study = sc.roi_study_results()
runs = study["runs"]


def row(run, kind="mask"):
    s = run["val"][kind]
    return s["AP"], s["AP50"], s["AP75"]


print(f"val: {80 + study['val_extra']} scenes; mask AP / AP50 / AP75 (box AP)")
print(f"{'net':16s} {'seed':>4s} {'iter.':>6s} {'AP':>7s} {'AP50':>7s} {'AP75':>7s} {'box AP':>7s}")
for r in runs:
    ap, ap50, ap75 = row(r)
    print(f"{r['net']:16s} {r['seed']:4d} {r['iterations']:6d} {ap:7.3f} {ap50:7.3f} {ap75:7.3f} "
          f"{r['val']['box']['AP']:7.3f}")

# %% slideshow={"slide_type": "subslide"}
def pick(net, seed, iterations=1000):
    return next(r for r in runs if r["net"] == net and r["seed"] == seed and r["iterations"] == iterations)


seeds = sorted({r["seed"] for r in runs if r["net"] == "mrcnn_align"})
gaps = np.array([[a - p for a, p in zip(row(pick("mrcnn_align", s)), row(pick("mrcnn_pool", s)))] for s in seeds])
for s, g in zip(seeds, gaps):
    print(f"seed {s}: RoIAlign - RoIPool = AP {g[0]:+.3f}, AP50 {g[1]:+.3f}, AP75 {g[2]:+.3f}")
print(f"mean over {len(seeds)} seeds: AP {gaps[:, 0].mean():+.3f}, AP50 {gaps[:, 1].mean():+.3f}, "
      f"AP75 {gaps[:, 2].mean():+.3f}")
print("at equal iterations the gap is " + ("larger at AP75 than at AP50: alignment matters most for precise masks"
                                             if gaps[:, 2].mean() > gaps[:, 1].mean() else
                                             "not larger at AP75 than at AP50 here"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### At equal time
#
# A max over cells sounds cheaper than bilinear sampling; with our implementations the two cost
# about the same, and which is faster depends on the machine's load and on the model (section 9
# timed the trained model; the study timed the two untrained nets stepping alternately on the same
# batches, one thread, while other jobs shared the cores). The study gave RoIPool, in a run of its
# own (seed 0, full schedule), the number of iterations that fitted in the time RoIAlign needed
# for 1,000. RoIPool's AP rises slowly with iterations (860 vs 1,000 in the table above), so a
# ratio a little above 1 would not close a gap of this size either.

# %% slideshow={"slide_type": null}
ratio = study["equal_time_ratio"]
print(f"RoIAlign / RoIPool seconds per iteration in the study: {ratio:.2f} -> at equal time RoIPool ran "
      + ("more" if ratio > 1 else "fewer") + " iterations than RoIAlign")
eq = [r for r in runs if r["net"] == "mrcnn_pool" and r["iterations"] != 1000]
align0 = pick("mrcnn_align", 0)
for r in eq:
    g = [a - p for a, p in zip(row(align0), row(r))]
    print(f"RoIPool, {r['iterations']} iterations vs RoIAlign, 1000 iterations (seed 0): "
          f"RoIAlign - RoIPool = AP {g[0]:+.3f}, AP50 {g[1]:+.3f}, AP75 {g[2]:+.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same scenes under both ops
#
# Masks of the seed-0 nets (score ≥ 0.5). RoIPool's crops start and end on whole cells, so its
# masks sit on a grid of the stride: edges shift and corners are cut.

# %% slideshow={"slide_type": null}
nets = {"RoIAlign": sc.load_checkpoint("mrcnn_align"), "RoIPool": sc.load_checkpoint("mrcnn_pool")}
show = [3, 7, 12]
fig, axes = plt.subplots(2, len(show), figsize=(10, 6.6), layout="constrained")
for row_axes, (name, net) in zip(axes, nets.items()):
    out = sc.detect(net, images[show])
    for ax, i, d in zip(row_axes, show, out):
        keep = d["scores"] >= 0.5
        sc.draw_detections(images[i], {k: v[keep] for k, v in d.items() if k != "mask_probs"}, sc.CLASSES, ax=ax,
                           title=f"{name}, val scene {i}")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ### The stride trend: it is about object size in cells
#
# The paper finds the gap larger at stride 32 than at 16 (Table 2c vs 2d). What matters is how
# many feature cells an object spans: RoIPool moves the edges of the region it reads by a fixed
# fraction of a cell (rounding, plus the end cell it includes: lesson 10), which is a small part of
# an object many cells wide and most of one a cell or two wide. COCO's objects in a ResNet at
# stride 16 span many cells; ours, at each stride (side = $\sqrt{wh}$ of the box):

# %% slideshow={"slide_type": null}
sides = torch.cat([((t["boxes"][:, 2] - t["boxes"][:, 0]) * (t["boxes"][:, 3] - t["boxes"][:, 1])).sqrt()
                   for t in targets])
for stride in (8, 16, 32):
    cells = sides / stride
    print(f"stride {stride:2d}: median object side {cells.median():.1f} cells, "
          f"{(cells < 2).float().mean():.0%} of objects under 2 cells")
lv = sc.fpn_levels([t["boxes"] for t in targets], 3, 5, 64, 4)
print("FPN heads pool from: " + ", ".join(f"stride {8 * 2 ** k}: {(lv == k).float().mean():.0%}" for k in range(3)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# With FPN, most of our objects are pooled at stride 8, where the median object spans only a few
# cells (printed above). What the pooling does at each stride, on **our** validation objects: the region
# each op reads against the true box (lesson 10's `sc.quantisation_error`: edge displacement in
# pixels, and the IoU of a 28×28 mask target laid over that region instead of the box: 1 = no
# harm; "spread" = how much the displacement varies from box to box, the part no head can learn
# away). RoIAlign with `aligned=False` (this model's) reads the box shifted by about half a cell:
# at stride 8 nearly the same shift for every box, which the heads can learn; at coarse strides
# its minimum RoI size of one cell also stretches small boxes. RoIPool's displacement varies from
# box to box at every stride. Our objects are only a few cells wide even at stride 8: a likely
# reason the course's gap is far larger than the paper's.

# %% slideshow={"slide_type": null}
all_boxes = torch.cat([t["boxes"] for t in targets]).double()
for stride in (8, 16, 32):
    q = sc.quantisation_error(all_boxes, stride, 7)
    p, a = q["roi_pool"], q["roi_align_legacy"]
    print(f"stride {stride:2d}: RoIPool edge error {p['box_edge_mean']:5.2f} px (spread {p['box_edge_jitter']:.2f}), "
          f"mask-target IoU {p['mask_iou_mean']:.3f} | RoIAlign (aligned=False) {a['box_edge_mean']:5.2f} px "
          f"(spread {a['box_edge_jitter']:.2f}), IoU {a['mask_iou_mean']:.3f}")
print("trained, seed 0 (mask AP / AP50 / AP75 of RoIAlign | of RoIPool | gap):")
for suffix, what in (("", "FPN, most RoIs at stride 8"), ("_s8", "heads on stride 8 only"),
                     ("_s32", "heads on stride 32 only")):
    nets = {r["net"] for r in runs if r["seed"] == 0 and r["iterations"] == 1000}
    if {f"mrcnn_align{suffix}", f"mrcnn_pool{suffix}"} <= nets:
        a, p = (row(pick(f"mrcnn_{op}{suffix}", 0)) for op in ("align", "pool"))
        print(f"  {what:28s}: {' / '.join(f'{x:.3f}' for x in a)} | {' / '.join(f'{x:.3f}' for x in p)} | "
              + " / ".join(f"{x - y:+.3f}" for x, y in zip(a, p)))
        print(f"  {'':28s}  RoIAlign / RoIPool: " + " / ".join(f"{x / y:.1f}x" for x, y in zip(a, p)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# The last rows are the study's single-level nets: both RoI heads read one map only, same recipe
# and seed. **At stride 8** (16×16 cells) they land where the FPN nets do, whose heads read stride 8
# for most RoIs, and so does the gap. **At stride 32** (4×4 cells for a 128-px scene) both ops lose
# nearly everything: our objects are under one cell wide there, so a RoI covers one or two cells
# shared with the background and its neighbours, and neither op has detail left to keep. The gap in
# AP points is then much smaller than at stride 8, not larger as in the paper's Table 2c/2d: there
# is little AP left to lose. RoIAlign stays ahead in proportion (the ratios printed above), but on
# numbers this small one seed says little more. The paper's trend needs objects many cells wide at
# the coarse stride (COCO's at stride 16 and 32); at 128 px the course cannot show it.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Read the study's numbers with the seeds: a difference smaller than the spread between seeds is
# > not a finding. AP75 asks for a mask that overlaps the object by 75 %, so an edge that moves by
# > half a cell matters more there than at AP50.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 11. See it: the last two knobs
#
# torchvision ends with a score threshold (0.05) and a per-class NMS (IoU 0.5). Move them: left,
# the detections kept in one scene; right, every detection kept in 10 val scenes by rank and score
# (green: it matches an object at mask IoU ≥ 0.5, red: it does not; dashed line: the score
# threshold, dotted: the number of objects). The readout gives the mask AP on those scenes.
# AP ranks detections by score, so low-scoring ones at the end of the list cost little; a high
# threshold throws away recall.

# %% slideshow={"slide_type": null}
sc.detection_explorer(model, images[:10], targets[:10], scene=1)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Push the score threshold to 0.9 and watch AP fall while the picture looks cleaner: a clean
# > picture is not a good ranking. Then raise the NMS IoU to 0.95: duplicates of the same object
# > appear in red (false positives), and AP falls again.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Mask R-CNN (结构上：Faster R-CNN+FCN) = an RPN that turns anchors into proposals, a box head that
#   classifies and refines them, and a small FCN that predicts a 28×28 mask per class for each
#   detection; all heads read one feature pyramid through RoIAlign.
# - The mask loss is a per-pixel sigmoid on the ground-truth class's map only: mask and class are
#   decoupled. The five losses were recomputed by hand above and equal torchvision's.
# - A tiny Mask R-CNN trains on two CPU cores; its AP, per class and size, and its error kinds were
#   measured above.
# - Inside the model, RoIAlign (为了得到更精确的mask位置) beats RoIPool at equal iterations (two seeds)
#   and at equal time, by most at AP75, as in the paper. Our two ops cost about the same per iteration.
# - How much the rounding costs depends on how many feature cells an object spans: on our small
#   objects RoIPool's region misses the box by several pixels already at stride 8, which is why the
#   course's gap is larger than the paper's. Heads on stride 8 alone give the FPN model's gap; at
#   stride 32 our objects are under a cell wide and both ops fail, so the gap shrinks instead of
#   growing: the paper's stride trend does not show at 128 px.
#
# **References.** K. He, G. Gkioxari, P. Dollár, R. Girshick, *Mask R-CNN*, arXiv:1703.06870.
# S. Ren, K. He, R. Girshick, J. Sun, *Faster R-CNN*, arXiv:1506.01497. R. Girshick, *Fast R-CNN*,
# arXiv:1504.08083. T.-Y. Lin et al., *Feature Pyramid Networks for Object Detection*,
# arXiv:1612.03144. J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic
# Segmentation*, arXiv:1411.4038. T.-Y. Lin et al., *Microsoft COCO*, arXiv:1405.0312 (AP).

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← RoI pooling vs RoIAlign](10_roi_pool_vs_roi_align.ipynb) · [contents](00_overview.ipynb#Road-map) · [Learning to Segment Every Thing →](12_learning_to_segment_every_thing.ipynb)
