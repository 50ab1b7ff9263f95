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
#     seconds: 36.6
#     terms: "\u8FC1\u79FB\u5B66\u4E60 transfer learning, \u5B66\u4E60\u4E00\u4E2A\u6620\
#       \u5C04 learn a mapping, \u68C0\u6D4B\u6743\u91CD detection weights, \u63A9\u7801\
#       \u6743\u91CD mask weights, \u90E8\u5206\u76D1\u7763 partial supervision"
#     title: Learning to Segment Every Thing
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 12 · Learning to Segment Every Thing (迁移学习 · 学习一个映射)
#
# *Key terms: 迁移学习 transfer learning, 学习一个映射 learn a mapping (from detection weights to mask
# weights), 检测权重 detection weights, 掩码权重 mask weights, 部分监督 partial supervision, 类别无关
# class-agnostic*
#
# **Learning objectives.** After this lesson you can:
# 1. state the partially supervised problem (boxes for every class, masks for a subset A) and how
#    Learning to Segment Every Thing (LSE) answers it: the mask weights of class $c$ are a learned
#    function of its detection weights, $w^c_{seg} = \mathcal{T}(w^c_{det};\theta)$, trained on A only;
# 2. implement the weight-transfer head and the partial mask loss, and check them against torch's
#    convolution and torchvision's Mask R-CNN loss; show with autograd where the gradient stops;
# 3. read a like-for-like comparison of the class-agnostic, transfer and fully supervised (oracle)
#    mask heads on held-out classes, and test with a probe whether the transferred weights are
#    really class-specific.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The slide gives LSE one line: 迁移学习, 学习一个映射 from detection weights to mask weights, "may cut
# > the cost of training data sharply". The lesson builds that mapping on lesson 11's tiny Mask R-CNN.
# > A first attempt on the course's five shape classes (three with masks) taught nothing: with so few
# > classes, $\mathcal{T}$ learns one generic mask and swapping its outputs between classes changes
# > almost nothing. So this lesson uses a family of 24 shapes in related groups, where a 7-point star
# > has 6- and 8-point relatives with masks. The results are what they are at course scale: go
# > through the probe before claiming anything.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import segcourse as sc

sc.seed_everything(threads=1)   # small tensors: a second thread mostly waits

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Masks are expensive, boxes are cheap (部分监督 partial supervision)
#
# Mask R-CNN (lesson 11) predicts, for a RoI of class $c$, an $M \times M$ mask from the mask head's
# last features $\phi \in \mathbb{R}^{C \times M \times M}$ with a $1 \times 1$ convolution of **class
# $c$'s** weights $w^c_{seg} \in \mathbb{R}^{C}$, bias $b^c$:
# $$m_c(u) = \sigma\big(w^{c\top}_{seg}\,\phi(u) + b^c\big), \qquad
# L_{mask} = \frac{1}{|R_A|\,M^2}\sum_{r \in R_A} \sum_u \mathrm{BCE}\big(m_{c_r}(u),\ y_r(u)\big).$$
# Learning $w^c_{seg}$ needs masks of class $c$. Boxes and labels are far cheaper to annotate (COCO
# has masks for 80 classes, Visual Genome boxes for thousands), so Hu, Dollár, He, Darrell and
# Girshick (arXiv:1711.10370) split the classes: A with masks, B with boxes only. The box branch
# trains on $A \cup B$; the mask loss runs over $R_A$, the positive RoIs whose ground-truth class is
# in A. The question is how to get $w^c_{seg}$ for $c \in B$.
#
# * **Class-agnostic** (类别无关) baseline: one $w_{seg}$ for every class.
# * **Weight transfer** (学习一个映射 learn a mapping): the detector already learned, for every class,
#   classification weights $w^c_{cls}$ and box-regression weights $w^c_{box}$. LSE predicts
#   $$w^c_{seg} = \mathcal{T}\big(\mathrm{sg}[\,w^c_{det}\,];\ \theta\big),$$
#   one small network $\mathcal{T}$ shared by all classes and trained on A's masks, then applied to
#   B's detection weights. $\mathrm{sg}$ = stop-gradient: the mask loss trains $\theta$ but never
#   moves $w_{det}$ (otherwise A's detection weights would be pulled by a loss B's never see, and
#   $\mathcal{T}$ would learn on inputs unlike the ones it is applied to).
# * **Oracle**: the ordinary per-class head trained with the masks of every class (an upper bound).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The paper's variants
#
# | choice | options in the paper | this lesson |
# |---|---|---|
# | input $w_{det}$ | `cls` (classification row), `box` (the class's 4 box-regression rows), `cls+box` (concatenated) | `cls+box` (256 + 4 × 256 = 1,280 numbers) |
# | $\mathcal{T}$ | linear, or a 2-layer MLP with LeakyReLU | MLP 1,280 → 128 → 33 (32 weights + 1 bias), LeakyReLU 0.01; linear built too (`transfer="linear"`) |
# | training | stage-wise (detector first, then frozen) or end-to-end with the stop-gradient | end-to-end, stop-gradient |
# | extra | *transfer + MLP*: add a class-agnostic fully connected mask branch, fused with the transferred FCN mask | not built |
#
# In the paper's ablations the `cls+box` input, the MLP and end-to-end training with the
# stop-gradient work best, and transfer beats the class-agnostic baseline on held-out classes. The
# slide's "may cut the cost of training data sharply" is that result: masks annotated for a
# fraction of the classes, masks predicted for all of them.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. A shape family with relatives
#
# Transfer can only help if $\mathcal{T}$ can learn something **class-specific** that carries over
# from A to B. The course scenes have five classes; here the course renderer (same backgrounds,
# textures, sizes, occlusion, exact labels) draws 24 shapes in five groups. Six are held out (B,
# orange), each with relatives in A: the 7-point star between the 6- and 8-point stars, the pentagon
# between the square and the hexagon, the T next to the L and the plus, the ellipse next to the disc
# and the bar, the square frame next to the square and the ring, the double arrow next to the arrow.

# %% slideshow={"slide_type": "subslide"}
gallery, ids = sc.shape_gallery()
fig, ax = plt.subplots(figsize=(8, 5.2), layout="constrained")
sc.draw_shape_family(gallery, ids, sc.SHAPE_CLASSES, sc.SHAPES_B, ax=ax,
                     title=f"{len(sc.SHAPES_A)} classes with masks (A, blue), {len(sc.SHAPES_B)} with boxes only (B, orange)")
plt.show()
print("B and its nearest relative in A:", ", ".join(f"{b} -> {a}" for b, a in sc.SHAPE_RELATIVES.items()))

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 4, figsize=(11, 3), layout="constrained")
for ax, k in zip(axes, range(4)):
    s = sc.render_shapes_scene(sc.LSE_VAL_SEED * 10**6 + k)
    sc.draw_instances(s.image, s.instance, s.classes, s.boxes, class_names=s.names, ax=ax,
                      title=f"validation scene {k}")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > > Ask the room which B class should be easiest to transfer to. The 7-point star sits between two
# > > A stars; the frame has no close relative with a hole of its shape (the ring's hole is round).
# > > Class is shape only: colours and textures are drawn from one distribution for every class.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The model: one detector, three mask heads
#
# The three heads are compared on **one** detector: lesson 11's tiny Mask R-CNN (backbone, FPN, RPN,
# box head with two FC layers of 256) for 24 classes, with three mask branches side by side, each
# with its own four 3×3 convolutions. Same weights at the start, same scenes in the same order,
# same iterations, same RoIs, same detections: only the mask head differs. The shared features get
# the gradients of the two partially supervised heads (A masks only); the oracle reads them with the
# gradient stopped, so nothing outside its own head ever sees a B mask. Two more small heads try the
# paper's other transfer functions ($\mathcal{T}$ linear on `cls+box`; an MLP on `cls` only) on the
# transfer head's trunk features, with the gradient stopped: they change nothing else.

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(11, 4.4), layout="constrained")
sc.draw_lse_diagram(ax=ax)
plt.show()
model0 = sc.build_lse_mask_rcnn(seed=0)
rh = model0.roi_heads
parts = {"backbone + FPN": model0.backbone, "RPN": model0.rpn, "box head + predictor": rh.box,
         **{f"{h} mask head": torch.nn.ModuleList([rh.mask_heads[h], rh.mask_predictors[h]]) for h in sc.LSE_HEADS},
         **{f"{h} (on transfer's trunk)": rh.mask_predictors[h] for h in sc.LSE_VARIANTS}}
for name, m in parts.items():
    print(f"{name:36s} {sum(p.numel() for p in m.parameters()):>9,d} parameters")
print(f"of which T: {sum(p.numel() for p in rh.mask_predictors['transfer'].transfer.parameters()):,d}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The transfer head from scratch, checked
#
# The transfer head is a $1 \times 1$ convolution whose weights come out of $\mathcal{T}$: for the
# features $\phi$ of $R$ RoIs, the logits of every class $c$ are $w^{c\top}_{seg}\phi(u) + b^c$. Written
# once here with `einsum`, then checked against `torch.nn.functional.conv2d` with the same
# weights, and against the library's head.

# %% slideshow={"slide_type": "subslide"}
def transfer_logits(features, w_det, T):
    """features (R, C, M, M): the mask head's last features; w_det (K, D): detection weights of every
    class; T: the transfer function (K, D) -> (K, C + 1). Returns logits (R, K, M, M)."""
    w = T(w_det.detach())                        # stop-gradient: w_det is an input, never trained here
    weight, bias = w[:, :-1], w[:, -1]            # (K, C) and (K,)
    return torch.einsum("rchw,kc->rkhw", features, weight) + bias[None, :, None, None]


head = rh.mask_predictors["transfer"]
w_det = sc.detection_weights(rh.box.box_predictor, "cls+box")
phi = torch.relu(torch.randn(3, 32, 28, 28))
with torch.no_grad():
    ours = transfer_logits(phi, w_det, head.transfer)
    w = head.transfer(w_det)
    ref = F.conv2d(phi, w[:, :-1, None, None], w[:, -1])
    lib = head(torch.randn(3, 32, 14, 14), w_det)
print(f"w_det {tuple(w_det.shape)} -> T -> mask weights {tuple(w.shape)}; logits {tuple(ours.shape)}")
print(f"max |ours - conv2d| = {float((ours - ref).abs().max()):.2e}; library head output {tuple(lib.shape)}")
assert torch.allclose(ours, ref, atol=1e-5)

# %% [markdown] slideshow={"slide_type": "subslide"}
# `sc.partial_mask_loss(logits, labels, targets, has_mask)` is Mask R-CNN's mask loss over the RoIs
# whose class has masks. With every class in `has_mask` it must be torchvision's `maskrcnn_loss`;
# with a held-out class, that RoI must get no gradient. Then, on the model and one training batch,
# autograd says where each mask loss reaches.

# %% slideshow={"slide_type": "subslide"}
from torchvision.models.detection.roi_heads import maskrcnn_loss, project_masks_on_boxes

g = torch.Generator().manual_seed(0)
gt_masks = [(torch.rand(2, 32, 32, generator=g) > 0.5).to(torch.uint8)]
props = [torch.tensor([[2.0, 3.0, 20.0, 25.0], [5.0, 1.0, 30.0, 14.0], [0.0, 0.0, 31.0, 31.0]])]
matched, gt_labels = [torch.tensor([0, 1, 1])], [torch.tensor([2, 1])]
logits = torch.randn(3, 3, 28, 28, generator=g, requires_grad=True)
targets28 = project_masks_on_boxes(gt_masks[0], props[0], matched[0], 28)
labels = gt_labels[0][matched[0]]
every = sc.partial_mask_loss(logits, labels, targets28, torch.tensor([False, True, True]))
tv_loss = maskrcnn_loss(logits, props, gt_masks, gt_labels, matched)
print(f"all classes with masks: ours {every.item():.6f}, torchvision {tv_loss.item():.6f}")
only_1 = sc.partial_mask_loss(logits, labels, targets28, torch.tensor([False, True, False]))   # class 2 held out
(grad,) = torch.autograd.grad(only_1, logits)
print("gradient per RoI (labels", labels.tolist(), "):", [f"{float(v):.2e}" for v in grad.abs().sum((1, 2, 3))])
assert torch.allclose(every, tv_loss, atol=1e-6) and grad[0].abs().sum() == 0

model0.train()
images_b, targets_b = sc.lse_batch(0, 4)
losses = model0(images_b, targets_b)
bp = rh.box.box_predictor
backbone_w = next(model0.backbone.parameters())
for name in ("loss_mask_agnostic", "loss_mask_transfer", "loss_mask_oracle", "loss_classifier"):
    gs = torch.autograd.grad(losses[name], [bp.cls_score.weight, bp.bbox_pred.weight, backbone_w],
                             retain_graph=True, allow_unused=True)
    print(f"{name:19s} = {losses[name].item():.3f}; reaches w_cls: {gs[0] is not None}, "
          f"w_box: {gs[1] is not None}, backbone: {gs[2] is not None}")
_ = model0.eval()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > > The autograd table is the whole design in four lines: no mask loss reaches the detection weights
# > > (stop-gradient); the partial heads' losses train the backbone; the oracle's does not; the
# > > classifier's loss trains the detection weights of every class, A and B alike.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Training (a short live run)
#
# The shipped model trains in a `./course retrain lse` recipe (lesson 11's optimiser and schedule,
# fresh scenes every step, one torch thread). Here, a few steps of the same recipe from scratch: the
# seven losses of the three-head model.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-ignore-output"]
live = sc.build_lse_mask_rcnn(seed=0)
hist = sc.train_lse(live, 6, seed=0, threads=1, warmup=3)
print({k: round(v[-1], 3) for k, v in hist["losses"].items()})
print(f"{hist['seconds'] / hist['iterations']:.2f} s per iteration of 8 scenes here")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The shipped model: held-out masks under each head
#
# `sc.load_checkpoint("lse")` is the seed-0 run of the study below. Each row is one B object of
# the validation scenes (rendered from a dataset seed no run trains on) with its ground-truth box
# as the RoI; the columns are the 28×28 masks of the three heads.

# %% slideshow={"slide_type": "subslide"}
model = sc.load_checkpoint("lse")
val_images, val_targets = sc.lse_val_set(100)
shown = sc.head_masks_on_gt_boxes(model, val_images, val_targets, sc.SHAPES_B, per_class=1)
fig, axes = plt.subplots(len(shown["labels"]), 5, figsize=(6.5, 1.35 * len(shown["labels"])), layout="constrained",
                         squeeze=False)
sc.draw_head_masks(shown["crops"], shown["gt"], {h: shown["probs"][h] for h in sc.LSE_HEADS},
                   [sc.SHAPE_CLASSES[c] for c in shown["labels"]], axes=axes)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# And on whole scenes: the model's own detections (score ≥ 0.5), each drawn with the mask of the head
# of its column. The boxes and labels are the same in the three columns; only the masks differ.

# %% slideshow={"slide_type": "subslide"}
b_ids = torch.tensor(sc.shape_class_ids(sc.SHAPES_B))
scenes = [i for i, t in enumerate(val_targets) if torch.isin(t["labels"], b_ids).sum() >= 2][:2]
dets = sc.detect_lse(model, val_images[scenes])
fig, axes = plt.subplots(len(scenes), 4, figsize=(11, 2.9 * len(scenes)), layout="constrained", squeeze=False)
for row, i, d in zip(axes, scenes, dets):
    t = val_targets[i]
    gt_inst = (t["masks"].long() * torch.arange(1, len(t["labels"]) + 1)[:, None, None]).amax(0)
    sc.draw_instances(val_images[i], gt_inst, t["labels"], t["boxes"], class_names=sc.SHAPE_CLASSES, ax=row[0],
                      title=f"scene {i}: ground truth")
    keep = torch.where(d["scores"] >= 0.5)[0].flip(0)          # paint the most confident last
    for ax, h in zip(row[1:], sc.LSE_HEADS):
        inst = torch.zeros(128, 128, dtype=torch.long)
        for k, j in enumerate(keep.tolist()):
            inst[d[f"masks_{h}"][j]] = k + 1
        sc.draw_instances(val_images[i], inst, d["labels"][keep], d["boxes"][keep], class_names=sc.SHAPE_CLASSES,
                          ax=ax, title=f"{h} head")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > > On ground-truth boxes every head draws the object's own class (the transfer and oracle heads pick
# > > their class channel from the true label, not a prediction). On the model's detections they use
# > > the predicted label, so a B object taken for its A relative gets that relative's mask.

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same measured over every object of 100 validation scenes: each head draws the mask of the
# object's own class in its ground-truth box (no detection, so no misclassified or misplaced box),
# and we take the IoU with the ground truth at 28×28.

# %% slideshow={"slide_type": "subslide"}
iou = sc.gt_box_mask_iou(model, val_images, val_targets)
print(f"{iou['objects']['A']} objects of A, {iou['objects']['B']} of B; mean mask IoU on ground-truth boxes:")
print(f"{'head':10s} {'A':>6s} {'B':>6s}")
for h in sc.LSE_HEADS:
    print(f"{h:10s} {iou[h]['A']:6.3f} {iou[h]['B']:6.3f}")
print("per B class:", "  ".join(f"{c}: " + "/".join(f"{iou[h]['per_class'].get(c, float('nan')):.2f}"
                                                 for h in sc.LSE_HEADS) for c in sc.SHAPES_B), "(agnostic/transfer/oracle)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. The study: agnostic vs transfer vs oracle
#
# `python -m segcourse.tooling.lse_study` trained the model twice, seeds 0 and 1 (within a run the
# heads share the detector, so they see the same weights at the start, the same scenes in the same
# order and the same number of iterations), and scored every head with COCO mask AP on 400
# validation scenes never trained on (detections of the model, masks of each head; the seed-0 run
# is scored from the shipped half-precision checkpoint). AP of a group = the mean of its classes'
# APs. Box AP on B says how well the detector finds the held-out classes at all: a mask head cannot
# score on objects the detector misses or mislabels. Compare a gap between heads with the gap
# between the two seeds: a smaller one is not a finding.

# %% slideshow={"slide_type": "subslide"}
study = sc.lse_study_results()
runs = [r for r in study["runs"] if r["net"] == "lse"]
print(f"{study['val_scenes']} validation scenes; {runs[0]['iterations']} iterations per run, "
      f"{runs[0]['seconds_per_iteration']:.2f} s per iteration (one thread, shared machine)")
print(f"{'seed':>4s} {'box AP B':>9s} | {'mask AP on B: agnostic':>22s} {'transfer':>9s} {'oracle':>7s} | "
      f"{'mask AP on A: agnostic':>22s} {'transfer':>9s} {'oracle':>7s}")
for r in runs:
    h = r["heads"]
    print(f"{r['seed']:>4d} {r['box']['AP_B']:9.3f} | {h['agnostic']['AP_B']:22.3f} {h['transfer']['AP_B']:9.3f} "
          f"{h['oracle']['AP_B']:7.3f} | {h['agnostic']['AP_A']:22.3f} {h['transfer']['AP_A']:9.3f} {h['oracle']['AP_A']:7.3f}")
gap = [r["heads"]["transfer"]["AP_B"] - r["heads"]["agnostic"]["AP_B"] for r in runs]
print("transfer - agnostic on B (AP points):", ", ".join(f"{100 * v:+.1f}" for v in gap))
print("mask IoU on ground-truth boxes, B (agnostic / transfer / oracle):",
      "; ".join("seed {}: {}".format(r["seed"], " / ".join(f"{r['gt_box_iou'][h]['B']:.3f}" for h in sc.LSE_HEADS))
                for r in runs))
print("mask AP per B class (agnostic / transfer / oracle), mean of the seeds:")
for c in sc.SHAPES_B:
    print(f"  {c:13s}", " / ".join(f"{np.mean([r['heads'][h]['per_class'].get(c, np.nan) for r in runs]):.3f}" for h in sc.LSE_HEADS))

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
for r in runs:
    its = [p["iteration"] for p in r["curve"]]
    for h, colour in zip(sc.LSE_HEADS, ("C0", "C1", "0.4")):
        ls = "-" if r["seed"] == 0 else "--"
        axes[0].plot(its, [p[h] for p in r["curve"]], ls, color=colour, marker="o", label=f"{h}, seed {r['seed']}")
        axes[1].plot(its, [p[f"iou_B_{h}"] for p in r["curve"]], ls, color=colour, marker="o")
axes[0].set(xlabel="iteration", ylabel="mask AP on B (100 val scenes)")
axes[1].set(xlabel="iteration", ylabel="mask IoU on B, ground-truth boxes")
axes[0].legend(fontsize=7)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The paper's variants of $\mathcal{T}$ (section 1), trained on the same trunk features as the
# transfer head (so only $\mathcal{T}$ and its input differ):

# %% slideshow={"slide_type": "subslide"}
variants = {"transfer": "MLP on cls+box (the transfer head)", "transfer_linear": "linear on cls+box",
            "transfer_cls": "MLP on cls only"}
print(f"{'T':36s} {'mask AP on B':>14s} {'mask IoU on B (gt boxes)':>26s}   (seed " +
      ", ".join(str(r["seed"]) for r in runs) + ")")
for h, label in variants.items():
    ap = " ".join(f"{r['heads'][h]['AP_B']:.3f}" for r in runs)
    iou_b = " ".join(f"{r['gt_box_iou'][h]['B']:.3f}" for r in runs)
    print(f"{label:36s} {ap:>14s} {iou_b:>26s}")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > > Within a seed the heads share everything, so their differences are not initialisation luck;
# > > but with a few dozen objects per B class per run, a point or two of AP is noise. The mask
# > > IoU on ground-truth boxes (thousands of pixels per object, no detection in the way) is the
# > > steadier measure. Box AP on B bounds what any mask head can reach on B.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. The probe: is the transfer class-specific?
#
# If $\mathcal{T}$ learned a class-specific mapping, a B class's own transferred weights should
# draw its masks better than any other class's. The probe replaces, at test time, the mask weights of
# every B class by those of its nearest relative in A, of an unrelated A class, or by the mean of the
# A classes' weights, and measures B again (detections unchanged: only the transfer head's B masks
# change).

# %% slideshow={"slide_type": "subslide"}
print(f"{'seed':>4s} {'B weights from:':>16s} {'own':>7s} {'relative':>9s} {'unrelated':>10s} {'mean of A':>10s}  (mask AP on B)")
for r in runs:
    p = r["probe"]
    print(f"{r['seed']:>4d} {'':>16s} {r['heads']['transfer']['AP_B']:7.3f} {p['relative']['AP_B']:9.3f} "
          f"{p['unrelated']['AP_B']:10.3f} {p['mean_A']['AP_B']:10.3f}")
for r in runs:
    q = r["gt_box_iou"]
    print(f"{r['seed']:>4d} {'':>16s} {q['transfer']['B']:7.3f} {q['probe']['relative']['B']:9.3f} "
          f"{q['probe']['unrelated']['B']:10.3f} {q['probe']['mean_A']['B']:10.3f}  (mask IoU on B, ground-truth boxes)")
live_probe = {k: v["B"] for k, v in iou["probe"].items()}
print("this checkpoint on 100 scenes, ground-truth boxes:", {k: round(v, 3) for k, v in live_probe.items()},
      f"own {iou['transfer']['B']:.3f}")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > > Read the probe row by row: if "own" is clearly above "unrelated" and "mean of A", $\mathcal{T}$
# > > gives B classes weights of their own; if "relative" is close to "own", what it gives them is
# > > close to their relatives'; if all columns are equal, $\mathcal{T}$ draws one generic mask and the
# > > class-specific machinery is idle.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Swap the weights yourself
#
# Pick a held-out object and the class whose transferred mask weights draw it (the slider; it
# starts at the object's own class). The third panel keeps the object's own weights, the fourth
# uses the chosen class's; the readout gives both IoUs with the truth.

# %% slideshow={"slide_type": "subslide"}
sc.transfer_explorer(model, val_images, val_targets, per_class=2)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. What the numbers say
#
# - At course scale the transfer head is ahead of the class-agnostic head on B by only a fraction of
#   a point of mask AP, in both seeds (and by a little more in mask IoU on ground-truth boxes), and
#   the oracle, which trained on B's own masks, is no better than the transfer head: the three heads draw the
#   held-out shapes nearly equally well (tables of section 7; two seeds, 400 validation scenes). The
#   paper's gain does not show here, and the probe says the transfer's small edge is not specific
#   to each class.
# - The probe shows why. Replacing a B class's transferred weights by an **unrelated** A class's
#   weights costs a lot of B mask AP, so $\mathcal{T}$'s outputs do differ between classes; but
#   replacing them by the **mean of A's** weights costs nothing: what B receives from $\mathcal{T}$
#   is close to a generic mask, not a mask of its own shape.
# - Why a generic mask suffices: in these scenes an object is a saturated, textured region on a
#   muted background, so the class-agnostic trunk segments any shape from appearance inside its
#   box; knowing the class adds little (the oracle gains nothing). The paper's setting differs:
#   in COCO boxes the foreground is ambiguous (a rider on a horse), and the class is what decides
#   it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · What $\mathcal{T}$ outputs
#
# Write `transfer(w_det, W1, b1, W2, b2)`: the 2-layer MLP $\mathcal{T}$ applied to the detection
# weights of $K$ classes, `w_det` (K, D). The layers use torch's `Linear` layout: `W1` (H, D), `b1`
# (H,), `W2` (C+1, H), `b2` (C+1,), with a LeakyReLU of negative slope 0.01 between them. Return the
# (K, C+1) mask weights (per class: C weights of the $1\times1$ convolution and a bias).

# %% slideshow={"slide_type": null}
def transfer(w_det, W1, b1, W2, b2):
    raise NotImplementedError  # your code here


sc.check("12.transfer", transfer)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("12.transfer"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · The partial mask loss
#
# Write `partial_loss(logits, labels, targets, has_mask)`: `logits` (R, K, M, M) mask logits of
# every class for R positive RoIs, `labels` (R,) their ground-truth classes, `targets` (R, M, M) their
# mask targets in {0, 1}, `has_mask` (K,) bool, True for the classes of A. Return Mask R-CNN's mask
# loss (a number) over the RoIs whose class has masks only.

# %% slideshow={"slide_type": null}
def partial_loss(logits, labels, targets, has_mask):
    raise NotImplementedError  # your code here


sc.check("12.partial_loss", partial_loss)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("12.partial_loss"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Partial supervision (部分监督): boxes for every class, masks for a subset A. The box branch trains
#   on every class; the mask loss counts only RoIs of A (`sc.partial_mask_loss`).
# - LSE learns a mapping (学习一个映射) from detection weights to mask weights,
#   $w^c_{seg} = \mathcal{T}(\mathrm{sg}[w^c_{det}])$, so every class with a box classifier gets mask
#   weights, B included. Inputs `cls`, `box` or `cls+box`; $\mathcal{T}$ linear or an MLP; trained
#   end-to-end with the stop-gradient on $w_{det}$ (checked here with autograd).
# - The class-agnostic head is the baseline, the fully supervised head the oracle; comparing them
#   fairly means one detector, the same scenes, the same RoIs.
# - A transfer is only useful if it is class-specific: the probe (swap B's transferred weights for
#   another class's) measures that directly.
#
# **References.** R. Hu, P. Dollár, K. He, T. Darrell, R. Girshick, *Learning to Segment Every
# Thing*, arXiv:1711.10370. K. He, G. Gkioxari, P. Dollár, R. Girshick, *Mask R-CNN*,
# arXiv:1703.06870. T.-Y. Lin et al., *Feature Pyramid Networks for Object Detection*, arXiv:1612.03144.

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← Mask R-CNN](11_mask_rcnn.ipynb) · [contents](00_overview.ipynb#Road-map)
