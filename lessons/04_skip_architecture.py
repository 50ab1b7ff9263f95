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
#     seconds: 41.2
#     terms: "\u591A\u5C42feature\u8DF3\u63A5\u7ED3\u6784 skip architecture, FCN-32s/16s/8s,\
#       \ \u5168\u5377\u79EF fully convolutional, \u8F6C\u7F6E\u5377\u79EF transposed\
#       \ convolution"
#     title: The skip architecture
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 04 · The skip architecture (多层feature跳接结构 Skip Architecture · 发展)
#
# *Key terms: 多层feature跳接结构 skip architecture, FCN-32s / FCN-16s / FCN-8s, 全卷积 fully
# convolutional, 转置卷积 transposed convolution, 双线性插值 bilinear interpolation, boundary F-score*
#
# **Learning objectives.** After this lesson you can:
# 1. write down FCN-32s, FCN-16s and FCN-8s as equations: which layer's scores are upsampled, by
#    how much, and where the skip scores are added;
# 2. explain the two initialisations that make the skips safe to add (zero score layers,
#    bilinear transposed convolutions) and check the second against `F.interpolate`;
# 3. turn a trained classifier into an FCN (the paper's central move: convolutionalize, then
#    fine-tune), check the conversion exactly, and measure what starting from the classifier buys
#    against starting from scratch at the same budget;
# 4. compare FCN-32s, 16s and 8s with mIoU, per-class IoU, the boundary F-score and accuracy near
#    boundaries;
# 5. derive FCN's crop offsets from the layer geometry, and say why a centred crop is not the same;
# 6. read error maps that keep the class (correct class, wrong class, missed, false positive), and
#    judge whether the paper's ordering (8s ≥ 16s ≥ 32s) holds on our data, and why.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The slide only names the skip architecture (多层feature跳接结构). The point to
# > land: deep layers know *what*, shallow layers know *where*; the skips add "where" back. Keep the
# > results section for discussion: the numbers come from cells, so let the class read them first.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import segcourse as sc

sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Coarse scores, then finer ones
#
# The backbone is VGG-16's layout (13 3×3 convs, 5 max-pools; arXiv:1409.1556) at widths
# 8-16-32-64-64, with SAME padding, so a 128×128 image gives pool3 16×16 (stride 8), pool4 8×8
# (stride 16) and pool5 4×4 (stride 32). fc6 (a 3×3 conv: VGG-16's is 7×7, but our pool5 is only 4×4) and fc7 (1×1) are VGG's fully connected
# layers convolutionalized (lessons 01-02); a 1×1 conv gives class scores $s_{32}$ at stride 32.
# Write $U_f$ for upsampling by $f$ and $p_3, p_4$ for 1×1 score convolutions on pool3 and pool4:
#
# $$\text{FCN-32s:}\quad y = U_{32}(s_{32})$$
# $$\text{FCN-16s:}\quad s_{16} = U_2(s_{32}) + \mathrm{crop}\big(p_4(\mathrm{pool4})\big),\qquad y = U_{16}(s_{16})$$
# $$\text{FCN-8s:}\quad s_{8} = U_2(s_{16}) + \mathrm{crop}\big(p_3(\mathrm{pool3})\big),\qquad y = U_{8}(s_{8})$$
#
# (Long, Shelhamer, Darrell, arXiv:1411.4038, section 4.2.) Our choices, as in the paper:
# * $U_2$ is a **transposed convolution** (4×4, stride 2) **initialised to bilinear interpolation
#   and learned**; the final $U_{32}, U_{16}, U_8$ are **fixed bilinear interpolation**
#   (`F.interpolate`, not learned).
# * $p_3$, $p_4$ start at **zero**, so an untrained skip adds nothing: a fresh FCN-16s has its
#   parent's stride-32 scores, and its stride-16 map is their 2× bilinear upsampling (checked
#   below). Its output is close to FCN-32s's, not equal (2× then 16× bilinear is not 32×
#   bilinear). This is what makes the paper's staged training (16s started from a trained 32s)
#   safe; here every net starts from the same classifier (section 2), so a fresh FCN-16s or 8s
#   starts with exactly the classifier's stride-32 scores and its skips switched off.
# * crop: in FCN's Caffe nets the two maps to be added have different sizes and grids, so one is
#   cropped at an offset fixed by the layer geometry (section 1b computes it). In our net, with
#   SAME padding and sides that are multiples of 32, the maps already have equal sizes and
#   `sc.fuse_scores` crops the first map to the second's size, centred, which here cuts nothing and
#   agrees with the geometry (also computed in 1b). Exercise 1 writes the centred crop anyway.
#
# Not as in the paper: the paper trains in stages (16s from a trained 32s, 8s from a trained 16s);
# we start each net from the same classifier with the same seed and budget, so differences come
# from the architecture alone; and we use BatchNorm (also in the classifier) to train on a CPU.

# %% [markdown] slideshow={"slide_type": "subslide"}
# The score maps of each variant on one 128×128 image, and a check of the upsampling against a
# reference: the fresh transposed convolution must equal `F.interpolate(..., mode="bilinear")`
# away from the border (at the border the transposed conv sees zeros outside the map).

# %% slideshow={"slide_type": null}
x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
for v in sc.FCN_VARIANTS:
    net = sc.FCN(v, num_classes=len(sc.CLASSES)).eval()
    with torch.no_grad():
        maps = net.score_maps(x)
    print(f"FCN-{v}: " + ", ".join(f"{k} {tuple(m.shape[2:])}" for k, m in maps.items())
          + f" -> output {tuple(net(x).shape[2:])}, {sum(p.numel() for p in net.parameters())} parameters")
with torch.no_grad():
    coarse = maps["stride32"]
    ours = net.up_fr(coarse)
    reference = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
    print("up_fr's kernel for class 0:\n", net.up_fr.weight[0, 0].numpy())
    print("interior equal to F.interpolate:", torch.allclose(ours[..., 1:-1, 1:-1], reference[..., 1:-1, 1:-1], atol=1e-6))
    print("fresh stride16 map == upsampled stride32 map (zero skip):", torch.allclose(maps["stride16"], ours, atol=1e-6))

# %% [markdown] slideshow={"slide_type": "subslide"}
# The three nets' layers and tensor sizes for one 128×128 image (`sc.draw_fcn_architecture`):
# grey boxes are the backbone's pools and fc6/fc7, coloured boxes class scores, arrows labelled
# "2×" learned transposed convolutions, "+" the sum fusion.

# %% slideshow={"slide_type": null}
sc.draw_fcn_architecture(128, num_classes=len(sc.CLASSES), widths=sc.VGG_WIDTHS)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1b. Where FCN's crop offsets come from
#
# FCN's fc6 is VGG-16's first fully connected layer turned into a 7×7 convolution *without*
# padding (VALID, lesson 01): it gives an output only where a whole 7×7 window of pool5 exists, so
# it needs a pool5 map of at least 7×7, that is an input of at least the size printed below. To
# accept images of any size, FCN's Caffe nets pad conv1_1 by **100** pixels: then even a 1-pixel
# image gives a pool5 map of at least 7×7. The price: every map covers more than the image and is
# shifted against it, so wherever two maps meet (a skip and the upsampled scores; the output and
# the image) one is cropped, at an offset that follows from where each map's units sit.
#
# A unit's centre in input pixels is $\text{start} + i\cdot\text{jump}$ (lesson 01's recursions,
# `sc.receptive_fields`). A transposed convolution with kernel $k$, stride $s$, padding $p$ maps
# a grid $(\text{start}, \text{jump})$ to
# $$\text{start}' = \text{start} + \text{jump}\cdot\frac{p - (k-1)/2}{s},\qquad \text{jump}' = \frac{\text{jump}}{s}$$
# (`sc.transposed_grid`; Caffe's `coord_map` does the same). Cropping map A onto map B of the same
# jump starts at A's unit $(\text{start}_B - \text{start}_A)/\text{jump}$ (`sc.crop_offset`).
# `sc.fcn_crop_offsets` chains both through FCN-8s. VGG-16's geometry (slim widths, since only
# the geometry matters), padded and with ceil-mode pools as in Caffe:

# %% slideshow={"slide_type": null}
import copy
from collections import OrderedDict


def caffe_geometry(first_padding):
    f = sc.slim_vgg16_features(16)
    f.conv1_1.padding = (first_padding, first_padding)
    for m in f.modules():
        if isinstance(m, torch.nn.MaxPool2d):
            m.ceil_mode = True  # Caffe's pools round up
    head = [("fc6", torch.nn.Conv2d(32, 8, 7)), ("fc7", torch.nn.Conv2d(8, 8, 1)), ("score_fr", torch.nn.Conv2d(8, 6, 1))]
    return torch.nn.Sequential(OrderedDict(list(f.named_children()) + head))


def smallest_input(net):
    for n in range(1, 512):
        try:
            sc.receptive_fields(net, n)
            return n
        except ValueError:
            continue


caffe = caffe_geometry(100)
print("smallest input giving a 7x7 pool5 (any fc6 output): conv1_1 padding 1:",
      smallest_input(caffe_geometry(1)), "px; padding 100:", smallest_input(caffe), "px")
recs = {r.name: r for r in sc.receptive_fields(caffe)}
for name in ("pool3", "pool4", "score_fr"):
    print(f"  {name:8s}: unit 0 centred at {recs[name].start:+7.1f} px, jump {recs[name].jump}")
geo = sc.fcn_crop_offsets(caffe, "score_fr", "pool4", "pool3", up=(4, 2, 0), final=(16, 8, 0))
print("Caffe FCN-8s crop offsets from the geometry:", geo)
print(f"{'input':>5s}  {'geometric (pool4, pool3, output)':>32s}  {'centred':>12s}  shift of the centred crop in image px")
for n in (224, 300, 500):
    g = sc.fcn_crop_offsets(caffe, "score_fr", "pool4", "pool3", input_size=n)
    keys = ("score_pool4", "score_pool3", "upscore8")
    shift = [(g["centred"][k] - g[k]) * j for k, j in zip(keys, (16, 8, 1))]
    print(f"{n:5d}  {str(tuple(g[k] for k in keys)):>32s}  {str(tuple(g['centred'][k] for k in keys)):>12s}  {shift}")
ours = sc.fcn_crop_offsets(sc.FCN("8s", num_classes=len(sc.CLASSES)), "score_fr", "backbone.blocks.3.9", "backbone.blocks.2.9",
                           up=(4, 2, 1), final=(16, 8, 4), input_size=128)
print("our FCN-8s (SAME padding, 2x transposed convs with padding 1, bilinear 8x), 128 px:",
      {k: ours[k] for k in ("score_pool4", "score_pool3", "upscore8")}, "| centred:", ours["centred"])

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Which is right?** The geometric offset: it lays on top of each other the units whose centres
# sit on the same image pixel, for every input size. A centred crop assumes the surplus is split
# evenly between the two sides; it is not (the 100 px of padding sit on both sides, but the VALID
# fc6, the rounded-up pools and the transposed convolutions' kernels remove and add different
# amounts), and the centred offset changes with the input size, so the fused maps would be
# misaligned by the shifts printed above. Caffe's FCN uses the geometric offsets (Caffe's
# `crop` layer computes them from `coord_map`). In our net all three geometric offsets are 0 and
# equal the centred ones: with SAME padding everywhere and padding 1 in the transposed
# convolutions, the maps already line up, so `sc.fuse_scores`'s centred crop is right *here*.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · Crop and add
#
# Write `fuse(upsampled, skip)`: both `(N, C, ·, ·)`; `upsampled` is at least as large as `skip`.
# Crop `upsampled` to `skip`'s height and width, **centred** (offset `(H' - H) // 2` from the top,
# where `H'` is `upsampled`'s height and `H` is `skip`'s,
# likewise from the left), and add `skip`.

# %% slideshow={"slide_type": null}
def fuse(upsampled, skip):
    raise NotImplementedError  # your code here


sc.check("04.fuse", fuse)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("04.fuse"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. FCN as the paper tells it: a classifier first, then fine-tuning
#
# The paper's central move (arXiv:1411.4038, sections 3.1 and 4.1): take a classifier trained on
# ImageNet (VGG-16), convolutionalize its fully connected layers (lesson 01), add the score layers,
# and fine-tune the whole net for segmentation. Its classifier learned from 1.2 M pictures with one
# label each, no masks.
#
# At course scale, `sc.load_checkpoint("fcn_classifier")` has exactly the FCN's layers (the backbone
# above; fc6 a fully connected layer on a 3×3 window of pool5, so its input is a 96×96 crop; fc7;
# fc8 to the six classes) and learned the course's ImageNet: **name what is at the centre of a
# 96×96 crop**, one label per crop: the class that covers most of the crop's central 16×16 pixels,
# background included (`sc.classification_crops`). Its crops come from scenes of a dataset seed no
# segmenter trains on; part of them are centred on an object, or background would be nearly every
# label.

# %% slideshow={"slide_type": null}
clf = sc.load_checkpoint("fcn_classifier")
val_crops, val_labels = sc.fcn_classifier_crops("val")          # 4 crops per val scene
named = sc.predict_proba(clf, val_crops).argmax(1)
print(f"pre-training: {clf.meta['train_crops']:,} crops, {clf.meta['epochs']} epochs; labels per class "
      + ", ".join(f"{n} {c:,}" for n, c in zip(sc.CLASSES, clf.meta["label_counts"])))
print(f"val crops named right: {(named == val_labels).double().mean():.1%} "
      f"(always answering 'background': {(val_labels == 0).double().mean():.1%})")
pick = [int((val_labels == c).nonzero()[j]) for j in (0, 1) for c in range(len(sc.CLASSES))][:8]  # one of each class first
fig, axes = plt.subplots(1, 8, figsize=(12, 1.9))
for ax, k in zip(axes, pick):
    sc.draw_image(val_crops[k], ax=ax)
    ax.add_patch(plt.Rectangle((39.5, 39.5), 16, 16, fill=False, ec="white", lw=1))
    ax.set_title(f"{sc.CLASSES[val_labels[k]]}\nsaid: {sc.CLASSES[named[k]]}", fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# `sc.init_from_classifier` turns it into an FCN: the backbone copied as it is, fc6's weight
# reshaped into a 3×3 convolution (`sc.fc_as_conv`, lesson 01), fc7 and fc8 into 1×1
# convolutions (fc8 becomes `score_fr`); the skip scores start at zero and the upsamplers
# bilinear. The check: on a 96×96 crop the FCN's pool5 is 3×3, so the centre cell of its
# stride-32 scores sees exactly the crop and must equal the classifier's scores. And before any
# fine-tuning, the convolutionalized classifier already segments (coarsely: one label per 32×32
# cell, like lesson 02's heat maps):

# %% slideshow={"slide_type": null}
fcn_from_clf = sc.init_from_classifier(sc.FCN("32s", num_classes=len(sc.CLASSES)), clf).eval()
with torch.no_grad():
    centre = fcn_from_clf.score_maps(val_crops)["stride32"][:, :, 1, 1]
    print(f"centre cell vs classifier, largest difference over {len(val_crops)} crops: "
          f"{(centre - clf(val_crops)).abs().max():.1e}")
train_images, train_masks = sc.load_scenes("train")
val_images, val_masks = sc.load_scenes("val")
C = len(sc.CLASSES)
untuned = sc.mean_iou(sc.confusion_matrix(sc.predict(fcn_from_clf, val_images), val_masks, num_classes=C))
print(f"FCN-32s straight from the classifier, no fine-tuning: val mIoU {untuned:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Fine-tuning
#
# Each net trains with `sc.train_segmentation` (pixel-wise cross-entropy, Adam, a one-cycle
# schedule: the learning rate rises from small to its maximum over the first part of training,
# then anneals to near zero (Smith and Topin, arXiv:1708.07120), seeded flips). A short live run
# of FCN-8s from the classifier on 48 images, to show the loop:

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
demo = sc.init_from_classifier(sc.FCN("8s", num_classes=C), clf)
history = sc.train_segmentation(demo, train_images[:48], train_masks[:48], epochs=1, desc="FCN-8s, one epoch, 48 images")
print(f"{history['steps']} steps, mean training loss {history['loss'][0]:.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The shipped checkpoints ran a longer schedule, each made by `./course retrain fcn32s` (and
# `fcn16s`, `fcn8s`; retrain `fcn_classifier` first). On the 320 shipped training scenes alone
# these nets overfit (they learn the training shapes, not shapes in general), so the schedule adds
# scenes rendered in memory by `sc.render_scenes(n, seed=1)`: the same generator as the shipped
# data with another dataset seed, so none of them is a validation scene. The budget is the same for
# all three nets (wall time is not printed because it depends on the machine's load):

# %% slideshow={"slide_type": null}
nets = {v: sc.load_checkpoint(f"fcn{v}") for v in sc.FCN_VARIANTS}
for v, net in nets.items():
    print(f"FCN-{v}: from the {net.meta['init']}, {net.meta['train_scenes']:,} training scenes, "
          f"{net.meta['epochs']} epochs, final training loss {net.meta['final_loss']:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Does starting from the classifier help?
#
# The paper's claim is that a classifier's features transfer: fine-tuning it beats training the
# segmenter from scratch. The study behind this table (`python -m segcourse.tooling.fcn_study`,
# results in `data/results/fcn_transfer.json`) trains FCN-8s both ways with the same recipe: the
# same scenes in the same order, the same number of iterations, per seed; only the starting
# weights differ. Scores on 480 val scenes (the 80 shipped ones and 400 more from a dataset seed no
# net trains on), after every epoch (the learning curves) and at the end:

# %% slideshow={"slide_type": null}
study = sc.fcn_study_results()
runs8 = [r for r in study["runs"] if r["net"] == "fcn8s"]
print(f"{'FCN-8s':22s} {'mIoU':>6s} {'bnd F':>6s} {'band acc':>8s}   mIoU after epoch 1 / 4 / 8 / last")
for r in runs8:
    c = {p["epoch"]: p["miou"] for p in r["curve"]}
    print(f"from {r['init']:10s} seed {r['seed']} {r['miou']:6.3f} {r['boundary_f']:6.3f} {r['band3_accuracy']:8.3f}   "
          + " / ".join(f"{c[e]:.3f}" for e in (1, 4, 8, r["epochs"])))
by_seed = {}
for r in runs8:
    by_seed.setdefault(r["seed"], {})[r["init"]] = r
pairs = [d for d in by_seed.values() if len(d) == 2]
gains = [d["classifier"]["miou"] - d["scratch"]["miou"] for d in pairs]
early = [d["classifier"]["curve"][0]["miou"] - d["scratch"]["curve"][0]["miou"] for d in pairs]
print(f"from the classifier - from scratch, seed by seed: after epoch 1 " + ", ".join(f"{g:+.3f}" for g in early)
      + "; at the end " + ", ".join(f"{g:+.3f}" for g in gains))
sc.draw_learning_curves(runs8, title="FCN-8s: val mIoU (480 scenes) after each epoch")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the curves before the last numbers: where the two starts differ most is early, when the
# net from scratch still has to learn what the classifier already knows; the printed differences
# say how much of that is left at the end of this budget. The study has one training seed: a final
# difference of a point or two could move with another seed, the early one is far larger than that.
# Our "ImageNet" is small and close to the segmentation data (the same renderer), so this measures
# the paper's mechanism, not its scale.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Ask the class before showing the curves: what can a net that only ever saw one label per crop
# > know that helps draw outlines? (Edges, textures, what each shape looks like; not where its
# > outline is.) Then point at the first epoch, where that knowledge shows, and at the last one,
# > where both nets have seen the same masks (the recipe printed above), and ask whether a larger,
# > more varied pre-training set (ImageNet is both) would keep its lead longer.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Results on the validation split
#
# mIoU and per-class IoU from `sc.confusion_matrix`; the boundary F-score `sc.boundary_fscore`
# with a 2-pixel tolerance; and the pixel accuracy of the pixels within 3 px of a true boundary
# (`sc.band_accuracy`), distance measured as the chessboard distance $\max(|\Delta y|, |\Delta x|)$
# (the 3 px band is a 7×7 square around each boundary pixel). Such a band around the boundaries is
# what the segmentation literature calls a *trimap* (Kohli et al., 2009; DeepLab uses it too): it
# splits the image into a narrow band around the true boundaries, where accuracy is measured, and
# the rest.

# %% slideshow={"slide_type": null}
preds, scores = {}, {}
for v, net in nets.items():
    preds[v] = sc.predict(net, val_images)
    conf = sc.confusion_matrix(preds[v], val_masks, num_classes=C)
    scores[v] = {"mIoU": sc.mean_iou(conf), "iou": sc.iou_per_class(conf).tolist(),
                 "boundary F": sc.boundary_fscore(preds[v], val_masks, tolerance=2),
                 "band acc": sc.band_accuracy(preds[v], val_masks, 3)}
header = f"{'model':8s} {'mIoU':>6s} {'bnd F':>6s} {'band acc':>8s} " + " ".join(f"{n[:8]:>8s}" for n in sc.CLASSES)
print(header)
for v, s in scores.items():
    print(f"FCN-{v:4s} {s['mIoU']:6.3f} {s['boundary F']:6.3f} {s['band acc']:8.3f} "
          + " ".join(f"{u:8.3f}" for u in s["iou"]))

# %% slideshow={"slide_type": "subslide"}
order = ["8s", "16s", "32s"]
for metric in ["mIoU", "boundary F", "band acc"]:
    vals = [scores[v][metric] for v in order]
    holds = vals[0] >= vals[1] >= vals[2]
    print(f"{metric:10s}: 8s >= 16s >= 32s {'holds' if holds else 'does NOT hold'} "
          f"({' / '.join(f'{x:.3f}' for x in vals)}); 8s - 32s = {vals[0] - vals[2]:+.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Where the difference is: distance to the nearest boundary
#
# Accuracy inside bands of growing width around the true boundaries. Accuracy rises with the band
# width for every net; if the skips add detail, the gap between the nets should be largest within a
# few pixels of the boundaries and shrink farther out.

# %% slideshow={"slide_type": null}
widths = [0, 1, 2, 4, 8, 16]
fig, ax = plt.subplots(figsize=(6, 3.4))
for v in sc.FCN_VARIANTS:
    acc = [sc.band_accuracy(preds[v], val_masks, w) for w in widths]
    ax.plot(widths, acc, marker="o", label=f"FCN-{v}")
    print(f"FCN-{v}: " + " ".join(f"w={w}: {a:.3f}" for w, a in zip(widths, acc)))
ax.set_xlabel("band half-width around true boundaries (px)")
ax.set_ylabel("pixel accuracy in the band")
ax.set_xticks(widths)
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Error maps that keep the class
#
# Comparing only "object or background" would call a square predicted as a disc correct. The error
# maps below keep the class (`sc.error_kinds`, `sc.draw_class_errors`): **correct class** (green),
# **wrong class** (orange: both say "object", of different classes), **missed** (blue: an object
# pixel predicted background), **false positive** (red: a background pixel predicted an object);
# correct background is light grey. Correct class, missed and false positive keep lesson 00's
# TP/FN/FP colours.

# %% slideshow={"slide_type": null}
show = [1, 4, 9]
fig, axes = plt.subplots(len(show), 5, figsize=(12, 2.5 * len(show) + 0.5))
for r, i in enumerate(show):
    sc.draw_image(val_images[i], ax=axes[r, 0], title=f"val image {i}")
    sc.draw_labels(val_masks[i], ax=axes[r, 1], title="truth")
    for col, v in enumerate(["32s", "16s", "8s"]):
        conf_i = sc.confusion_matrix(preds[v][i], val_masks[i], num_classes=C)
        sc.draw_class_errors(preds[v][i], val_masks[i], ax=axes[r, 2 + col], legend=False,
                             title=f"FCN-{v} errors, mIoU {sc.mean_iou(conf_i):.2f}")
kinds = ["correct class", "wrong class", "missed", "false positive"]
fig.legend(handles=sc.legend_patches({k: sc.CLASS_ERROR_COLORS[k] for k in kinds}), loc="lower center",
           ncol=4, fontsize=9, frameon=False)
fig.tight_layout(rect=(0, 0.04, 1, 1))
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same counts as numbers: on val scene 1, the pixels a binarised comparison (`pred > 0` and
# `truth > 0`) calls "correct foreground", and what they really are; then the whole validation split.

# %% slideshow={"slide_type": null}
counts = {v: sc.error_kind_counts(preds[v], val_masks) for v in order[::-1]}
for v in order[::-1]:
    p, t = preds[v][1], val_masks[1]
    binarised = int(((p > 0) & (t > 0)).sum())
    n = sc.error_kind_counts(p, t)
    print(f"scene 1, FCN-{v:3s}: binarised 'correct foreground' {binarised:5,d} = correct class {n['correct class']:5,d}"
          f" + wrong class {n['wrong class']:5,d}; missed {n['missed']:4,d}, false positive {n['false positive']:4,d}")
print(f"\nall {len(val_masks)} val scenes   " + " ".join(f"{k:>15s}" for k in kinds))
for v in order[::-1]:
    print(f"FCN-{v:3s}            " + " ".join(f"{counts[v][k]:15,d}" for k in kinds))
for k in kinds:
    vals = [counts[v][k] for v in order[::-1]]
    trend = "falls" if vals[0] > vals[1] > vals[2] else "rises" if vals[0] < vals[1] < vals[2] else "is not monotone"
    print(f"{k:15s} from FCN-32s to FCN-8s: {trend}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# What the corrected maps and counts show, read from the trends printed above. FCN-32s's scores
# live on a 4×4 grid, so its outlines can only be bilinear interpolations of 16 numbers per class;
# FCN-8s's live on a 16×16 grid. The skips pay off in *where*: from FCN-32s to FCN-8s the missed
# and false-positive pixels, the errors along and around the outlines, fall several-fold, and the
# correct-class pixels rise. The wrong-class pixels, shapes taken for other shapes, change far less
# from net to net (printed above): naming a shape is the job of the deep, coarse layers, which the
# skips do not change. A binarised error map would count every one of them as correct, on scene 1
# as on every scene.

# %% [markdown] slideshow={"slide_type": "slide"}
# ### What can each output stride express? An estimate
#
# Take away the network: give the end of FCN-$s$ (upsampling, then argmax) the *true* labels and ask what a score map on the stride-$s$
# grid, upsampled by the same fixed bilinear interpolation, can draw. `sc.stride_oracle` builds that
# score map two ways: each cell's class shares (the one-hot truth averaged over $s \times s$ blocks),
# and those shares then fitted to the truth through the upsampling (30 Adam steps on the pixel
# cross-entropy, learning rate 0.5: sharper scores). Both are perfect recognisers limited only by
# the grid. Neither is a proven ceiling: they are **estimates of what a stride-$s$ grid can
# represent**. The block averages are the obvious score map, not the best one; the fitted scores
# are better but stop after 30 steps and optimise cross-entropy, not IoU, so a trained net could
# in principle beat either. The last numbers printed in section 4 compare our nets with the
# fitted estimate.

# %% slideshow={"slide_type": null}
ceiling = {}
for v in sc.FCN_VARIANTS:
    s = int(v[:-1])
    shares = sc.stride_oracle(val_masks, s, C)
    fitted = sc.stride_oracle(val_masks, s, C, steps=30)
    ceiling[v] = {name: sc.mean_iou(sc.confusion_matrix(p, val_masks, num_classes=C))
                  for name, p in [("shares", shares), ("fitted", fitted)]}
    print(f"stride {s:2d}: block-average estimate mIoU {ceiling[v]['shares']:.3f}, fitted estimate "
          f"{ceiling[v]['fitted']:.3f}; trained FCN-{v}: {scores[v]['mIoU']:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Does the paper's ordering hold here?
#
# The paper reports FCN-32s < FCN-16s < FCN-8s (mean IU 59.4, 62.4, 62.7 on a subset of Pascal
# VOC 2011 val, its table 2): fusing finer layers improves the detail of the output, and the last
# step, 16s to 8s, adds only a little, mostly in how smooth and detailed the outlines are. Our verdict,
# metric by metric, is printed in section 3. On 128-pixel images a stride-32 grid is far coarser
# relative to the objects than on VOC's ~500-pixel images, so the grid costs much more here (the
# estimates above), and because our classes *are* outlines, boundary detail is also class evidence.
#
# The estimates also show how much of the room each grid leaves the trained nets use: compare the
# gain of the fitted estimate from stride 32 to stride 8 with the nets' gain, and read the last
# numbers below (trained mIoU as a share of the fitted estimate). Where that share falls as the
# stride gets finer, recognition and training, not the grid, are what limit the finer nets; the
# wrong-class counts of section 3, which the skips barely move, say the same.
#
# **Be careful with what these numbers can prove.** One seed per net, one training budget, each net
# fine-tuned from the same small classifier (the paper fine-tunes an ImageNet VGG-16 in stages).

# %% slideshow={"slide_type": null}
print(f"FCN-8s: val mIoU {scores['8s']['mIoU']:.3f} after {nets['8s'].meta['epochs']} epochs on "
      f"{nets['8s'].meta['train_scenes']:,} scenes, from the {nets['8s'].meta['init']}")
gain_ceiling = ceiling["8s"]["fitted"] - ceiling["32s"]["fitted"]
gain_nets = scores["8s"]["mIoU"] - scores["32s"]["mIoU"]
print(f"stride 32 -> 8: the fitted estimate gains {gain_ceiling:+.3f}, the trained nets gain {gain_nets:+.3f}")
for v in order:
    print(f"FCN-{v}: trained mIoU / fitted estimate = {scores[v]['mIoU'] / ceiling[v]['fitted']:.0%}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · Boundary pixels
#
# Write `boundary_pixels(mask)`: for an `(H, W)` integer class map, a boolean `(H, W)` array that is
# True where a pixel has at least one 4-neighbour (up, down, left, right) of a *different* class.
# This is the band of width 0 behind `sc.band_accuracy`.

# %% slideshow={"slide_type": null}
def boundary_pixels(mask):
    mask = np.asarray(mask)
    raise NotImplementedError  # your code here


sc.check("04.boundary_pixels", boundary_pixels)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("04.boundary_pixels"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - FCN's central move: a classifier's fully connected layers become convolutions (fc6's weight
#   reshaped), and the whole net is fine-tuned for segmentation. Converted exactly, the classifier
#   already segments coarsely; the study above measured what starting from it buys over starting
#   from scratch at the same budget (learning curves, one seed).
# - The skip architecture (多层feature跳接结构) adds class scores computed from shallower, finer
#   layers (pool4 at stride 16, pool3 at stride 8) to 2× upsampled coarse scores: FCN-32s, 16s, 8s.
# - Zero-initialised skip scores and bilinear-initialised transposed convolutions make a fresh
#   finer net start from its coarser parent's scores; the final upsampling is fixed bilinear
#   interpolation.
# - On the course data the table and the band-accuracy curve above show where the finer nets
#   gain: near boundaries, where a stride-32 grid cannot follow an outline.
# - Error maps must keep the class (`sc.error_kinds`): the finer nets miss fewer pixels and paint
#   fewer false positives; the wrong-class pixels, which a binarised map hides, barely move.
# - Caffe's crop offsets for the 100-px-padded VGG-16 follow from the layer geometry
#   (`sc.fcn_crop_offsets`, section 1b); a centred crop differs from them and depends on the input
#   size. In our net the two agree.
# - The output stride alone limits the score: even a perfect recogniser is limited by the grid it
#   draws through; `sc.stride_oracle` estimates what each grid can represent (section 3), and the
#   estimate falls steeply as the stride grows.
#
# **References.** J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic
# Segmentation*, arXiv:1411.4038 (FCN-32s/16s/8s, skip architecture). K. Simonyan, A. Zisserman,
# *Very Deep Convolutional Networks for Large-Scale Image Recognition*, arXiv:1409.1556 (VGG-16).
# S. Ioffe, C. Szegedy, *Batch Normalization*, arXiv:1502.03167. G. Csurka, D. Larlus,
# F. Perronnin, *What is a good evaluation measure for semantic segmentation?*, BMVC 2013
# (boundary F-score). L. N. Smith, N. Topin, *Super-Convergence*, arXiv:1708.07120 (one-cycle
# schedule). P. Kohli, L. Ladický, P. Torr, *Robust Higher Order Potentials*, IJCV 2009 (trimap).

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← Transposed convolution and bilinear interpolation](03_transposed_conv_bilinear.ipynb) · [contents](00_overview.ipynb#Road-map) · [The fully connected CRF →](05_dense_crf.ipynb)
