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
#     seconds: 41.9
#     terms: "\u5206\u5272 segmentation, \u5206\u7C7B\u7EA7\u522B class level (semantic),\
#       \ \u5B9E\u4F8B\u7EA7\u522B instance level, \u4EA4\u5E76\u6BD4 IoU, \u5E73\u5747\
#       \u4EA4\u5E76\u6BD4 mIoU, \u6DF7\u6DC6\u77E9\u9635 confusion matrix, \u63A9\u7801\
#       \u5E73\u5747\u7CBE\u5EA6 mask AP"
#     title: Segmentation overview
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 00 · Segmentation overview (分割 Segmentation · 介绍)
#
# *Key terms: 分割 segmentation, 分类级别 class level (semantic segmentation), 实例级别 instance
# level (instance segmentation), 交并比 IoU, 平均交并比 mIoU, 混淆矩阵 confusion matrix,
# 掩码平均精度 mask AP*
#
# **Learning objectives.** After this lesson you can:
# 1. say what semantic (分类级别) and instance (实例级别) segmentation output, as tensors;
# 2. read the course dataset: images, class masks, instance masks, boxes, in the Pascal VOC layout;
# 3. compute pixel accuracy, per-class IoU and mIoU from a confusion matrix, and the boundary
#    F-score from the label maps; explain why pixel accuracy flatters a bad model;
# 4. explain mask AP, and why a semantic segmentation is not an instance segmentation;
# 5. find your way through the rest of the course (the road map at the end).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > This lesson is the lecture's first part (介绍). Spend most of the time on the two
# > outputs and on the metrics: every later lesson reports mIoU or mask AP, so students must know
# > exactly what those numbers count.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch

import segcourse as sc

_ = sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Two kinds of segmentation
#
# An image is a tensor $I \in [0,1]^{3\times H\times W}$. Given $C$ classes (class 0 = background):
#
# * **Semantic segmentation** (分类级别, class level) labels every pixel with a class:
#   $\;S \in \{0,\dots,C-1\}^{H\times W}$. Two touching discs are one blob of "disc" pixels.
# * **Instance segmentation** (实例级别, instance level) outputs a *set* of objects
#   $\{(M_k, c_k, s_k)\}_{k=1}^{N}$: a binary mask $M_k \in \{0,1\}^{H\times W}$, a class $c_k$ and
#   a confidence score $s_k$ each. Two touching discs are two objects.
#
# Semantic output is a map; instance output is a list whose length depends on the image.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The course dataset
#
# Real datasets (Pascal VOC, COCO) need downloads and a GPU, so the course ships its own: synthetic
# 128×128 scenes made by `sc.render_scene(seed)`, same bytes on every machine. The **class is decided
# by shape** (disc, square, triangle, star, cross), never by colour: every object gets a random
# colour and texture, on a textured background. Objects range from a few pixels to most of the
# image, crosses have thin arms, stars sharp spikes, and objects occlude each other.

# %% slideshow={"slide_type": null}
train_images, train_masks = sc.load_scenes("train")
val_images, val_masks = sc.load_scenes("val")
print("train:", tuple(train_images.shape), train_images.dtype, "| masks:", tuple(train_masks.shape), train_masks.dtype)
print("val:  ", tuple(val_images.shape))
print("classes:", sc.CLASSES)

# %% slideshow={"slide_type": "subslide"}
val = sc.VOCSegmentation(sc.data_dir() / "scenes", "val")
fig, axes = plt.subplots(3, 4, figsize=(10, 7.6))
for col, i in enumerate([0, 1, 2, 3]):
    image, mask = val[i]
    inst = val.instances(i)
    sc.draw_image(image, ax=axes[0, col], title=val.ids[i])
    sc.draw_labels(mask, ax=axes[1, col], title="semantic (class level)")
    sc.draw_instances(image, inst["instance"], inst["classes"], inst["boxes"], class_names=sc.CLASSES,
                      ax=axes[2, col], title=f"instance level: {len(inst['classes'])} objects")
fig.legend(handles=sc.legend_patches({n: sc.VOC_PALETTE[k] for k, n in enumerate(sc.CLASSES)}),
           loc="lower center", ncol=6, frameon=False, title="colours of the semantic row")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# What the lessons rely on, measured on the training split: how many instances of each class, and
# how widely their sizes range (box side in pixels).

# %% slideshow={"slide_type": null}
train = sc.VOCSegmentation(sc.data_dir() / "scenes", "train")
sides, classes = [], []
for i in range(len(train)):
    inst = train.instances(i)
    boxes = np.asarray(inst["boxes"])
    sides += list(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
    classes += list(np.asarray(inst["classes"]))
sides, classes = np.array(sides), np.array(classes)
for k, name in enumerate(sc.CLASSES[1:], start=1):
    s = sides[classes == k]
    print(f"{name:9s} {len(s):4d} instances, box side {s.min():5.0f} to {s.max():4.0f} px (median {np.median(s):3.0f})")
pixel_share = torch.bincount(train_masks.flatten(), minlength=len(sc.CLASSES)).double()
pixel_share /= pixel_share.sum()
print("share of pixels per class:", {n: round(float(p), 3) for n, p in zip(sc.CLASSES, pixel_share)})

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · Spot the instance maps
#
# Each panel below colours a scene's pixels by a label map, in the VOC palette. Two panels are
# semantic maps (a colour per class, as in the legend above) and two are instance maps (a colour per
# object). Which letters are instance maps? Answer with a set such as `{"A", "B"}`. Hint: look for two
# objects of the same shape, and compare the colours with the class legend above.

# %% slideshow={"slide_type": null}
panels, _ = sc.exercises.lesson00.quiz_panels()
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
for ax, letter, labels in zip(axes, "ABCD", panels):
    sc.draw_labels(labels, ax=ax, title=letter)
plt.show()

# %% slideshow={"slide_type": null}
my_answer = set()  # your answer, e.g. {"A", "B"}
sc.check("00.which_instance", my_answer)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("00.which_instance"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Metrics for semantic segmentation
#
# Count pixels in a **confusion matrix** $N \in \mathbb{N}^{C\times C}$: $N_{ij}$ = number of pixels of
# true class $i$ predicted as class $j$ (pixels labelled 255, "void", are skipped). For class $c$:
#
# $$\mathrm{TP}_c = N_{cc},\quad \mathrm{FP}_c = \sum_{i\ne c} N_{ic},\quad \mathrm{FN}_c = \sum_{j\ne c} N_{cj},\qquad
# \mathrm{IoU}_c = \frac{\mathrm{TP}_c}{\mathrm{TP}_c+\mathrm{FP}_c+\mathrm{FN}_c} = \frac{|P_c\cap G_c|}{|P_c\cup G_c|}$$
#
# $$\text{pixel accuracy} = \frac{\sum_c N_{cc}}{\sum_{ij} N_{ij}},\qquad
# \mathrm{mIoU} = \frac{1}{|\mathcal{C}|}\sum_{c\in\mathcal{C}} \mathrm{IoU}_c$$
#
# where $\mathcal{C}$ are the classes present in the ground truth or the prediction. As in Pascal VOC
# and the FCN paper, the confusion matrix is summed over the **whole split** first, then IoU is taken:
# averaging per-image mIoUs gives a different (and noisier) number.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The boundary F-score (边界F值)
#
# IoU barely changes when an edge is one pixel off, so we also ask whether the *edges* are in the
# right place. Boundary pixels are pixels with a 4-neighbour of another label (class-agnostic
# contours of the whole map). A predicted boundary pixel is correct if a true boundary pixel lies within
# $d$ pixels: that fraction is the precision $P$ (精确率); the fraction of true boundary pixels with a
# predicted one within $d$ is the recall $R$ (召回率); $F = 2PR/(P+R)$, computed per image and averaged
# over the images. A prediction with no boundary at all scores $F = 0$.

# %% [markdown] slideshow={"slide_type": "subslide"}
# `sc.confusion_matrix` counts with one `bincount`; here it is checked against the definition, a
# double loop over every pixel, on a small random case.

# %% slideshow={"slide_type": null}
g = torch.Generator().manual_seed(0)
pred = torch.randint(0, 4, (2, 9, 7), generator=g)
target = torch.randint(0, 4, (2, 9, 7), generator=g)
target[0, 0, :3] = 255  # void pixels are skipped
brute = torch.zeros(4, 4, dtype=torch.int64)
for t, p in zip(target.flatten().tolist(), pred.flatten().tolist()):
    if t != 255:
        brute[t, p] += 1
conf = sc.confusion_matrix(pred, target, num_classes=4)
print(conf)
print("matches the pixel-by-pixel count:", torch.equal(conf, brute))
tp = brute.diag().double()
print("IoU per class, by the formula:", (tp / (brute.sum(0) + brute.sum(1) - tp)).numpy().round(4))
print("IoU per class, sc.iou_per_class:", sc.iou_per_class(conf).numpy().round(4))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · IoU by hand
#
# Write `iou(pred, target)` for two boolean masks of the same shape: $|P\cap G|/|P\cup G|$.
# (Both masks non-empty in every test case.)

# %% slideshow={"slide_type": null}
def iou(pred, target):
    raise NotImplementedError  # your code here


sc.check("00.iou", iou)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("00.iou"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Two predictions, measured
#
# * **Baseline**: predict background everywhere. It needs no training.
# * **TinyFCN**: a small fully convolutional net (`sc.TinyFCN`: three pools, so output stride 8, then
#   dilated convs with rates 1, 2, 4; lessons 01-07 explain every piece). Its checkpoint ships in `data/checkpoints/`, made by
#   `./course retrain tiny_fcn`. Below, one epoch of that training runs live, to show the loop; then
#   we load the shipped weights.

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
demo = sc.TinyFCN(num_classes=len(sc.CLASSES))
history = sc.train_segmentation(demo, train_images[:64], train_masks[:64], epochs=1, desc="one epoch, 64 images")

# %% slideshow={"slide_type": null}
print(f"mean loss of the live epoch: {history['loss'][0]:.3f}")
net = sc.load_checkpoint("tiny_fcn")
print("shipped checkpoint:", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in net.meta.items() if k != "seconds"})
with torch.no_grad():
    probs = sc.predict_proba(net, val_images)
preds = {"all background": torch.zeros_like(val_masks), "TinyFCN": probs.argmax(1)}
rows = {}
for name, p in preds.items():
    s = sc.segmentation_scores(p, val_masks, num_classes=len(sc.CLASSES))
    rows[name] = (s["pixel_accuracy"], s["mean_iou"], sc.boundary_fscore(p, val_masks, tolerance=2))
print(f"{'prediction':16s} {'pixel acc':>9s} {'mIoU':>6s} {'boundary F (d=2)':>17s}")
for name, (acc, miou, bf) in rows.items():
    print(f"{name:16s} {acc:9.3f} {miou:6.3f} {bf:17.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The all-background baseline's pixel accuracy is exactly the share of background pixels in the
# validation split, printed below; its mIoU is tiny because the only class it gets right is
# background (IoU = that share), and the five object classes score IoU 0, so mIoU = share / 6. **Pixel accuracy flatters a model that ignores
# small classes; mIoU does not.** That is why segmentation papers report mIoU.

# %% slideshow={"slide_type": null}
bg_share = float((val_masks == 0).double().mean())
print(f"background share of val pixels: {bg_share:.3f} = baseline pixel accuracy {rows['all background'][0]:.3f}")
print(f"background share / 6 = {bg_share / 6:.3f} = baseline mIoU {rows['all background'][1]:.3f}")
conf = sc.confusion_matrix(preds["TinyFCN"], val_masks, num_classes=len(sc.CLASSES))
for name, v in zip(sc.CLASSES, sc.iou_per_class(conf)):
    print(f"IoU {name:10s} {float(v):.3f}")

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.9), gridspec_kw={"width_ratios": [1.25, 1, 1, 1]})
sc.draw_confusion(conf, sc.CLASSES, ax=axes[0], title="TinyFCN on val (rows: truth)\ndiagonal = recall, not IoU")
i = int(np.argmax([len(val.instances(k)["classes"]) for k in range(len(val))]))  # the busiest image
sc.draw_image(val_images[i], ax=axes[1], title=f"val image {i}")
sc.draw_labels(val_masks[i], ax=axes[2], title="ground truth")           # pure class colours: as the legend
sc.draw_labels(preds["TinyFCN"][i], ax=axes[3], title="TinyFCN prediction")
fig.legend(handles=sc.legend_patches({n: sc.VOC_PALETTE[k] for k, n in enumerate(sc.CLASSES)}),
           loc="lower right", ncol=6, frameon=False)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Explore: where do the errors come from?
#
# Pick an image and a class. Green pixels are true positives, red false positives, blue false
# negatives; the readout recomputes IoU from those three counts. First, where the wrong pixels are,
# over the whole validation split:

# %% slideshow={"slide_type": null}
wrong = preds["TinyFCN"] != val_masks
shape_mixup = wrong & (val_masks > 0) & (preds["TinyFCN"] > 0)
edge = torch.zeros_like(val_masks, dtype=torch.bool)  # a 4-neighbour has another label
edge[:, 1:] |= val_masks[:, 1:] != val_masks[:, :-1]
edge[:, :-1] |= val_masks[:, 1:] != val_masks[:, :-1]
edge[:, :, 1:] |= val_masks[:, :, 1:] != val_masks[:, :, :-1]
edge[:, :, :-1] |= val_masks[:, :, 1:] != val_masks[:, :, :-1]
near_edge = torch.nn.functional.max_pool2d(edge[:, None].float(), 5, 1, 2)[:, 0].bool()  # within 2 px
print(f"wrong pixels: {int(wrong.sum())} ({float(wrong.double().mean()):.3f} of all)")
print(f"  object pixels given another object class (shape confusions): {float(shape_mixup.sum() / wrong.sum()):.2f}")
print(f"  within 2 px of a true boundary: {float((wrong & near_edge).sum() / wrong.sum()):.2f} "
      f"(such pixels are {float(near_edge.double().mean()):.2f} of all pixels)")

# %% [markdown] slideshow={"slide_type": "fragment"}
# Most errors are **shape confusions**, a recognition problem: the network sees that an object is there
# but not which shape it is (deeper, wider features and more data help: lessons 01-02, 06-08). Boundary
# pixels are over-represented among the errors; sharpening them is what the skip architecture (lesson 04)
# and the CRF (lesson 05) go after.

# %% slideshow={"slide_type": null}
biggest_class = int(torch.bincount(val_masks[i].flatten(), minlength=len(sc.CLASSES))[1:].argmax()) + 1
sc.iou_explorer(val_images, val_masks, preds["TinyFCN"], sc.CLASSES, index=i, cls=biggest_class)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Instance metrics: mask AP
#
# An instance prediction is a list of (mask, class, score). **Matching**, per image and class: take the
# predictions in decreasing score; each is a **true positive** if its mask has IoU ≥ $t$ with a true
# object of its class not matched yet, else a false positive. **Ranking**: pool the predictions of a
# class over all images, sort by score, and trace precision and recall as the score threshold falls.
# **AP** (平均精度) averages, over 101 recall levels $r$, the best precision at recall ≥ $r$, then over
# classes. COCO's headline "AP" also averages over $t \in \{0.50, 0.55, \dots, 0.95\}$; AP50 and AP75 use
# $t=0.5$ and $t=0.75$ only (at most 100 predictions per image). We compute it with `pycocotools`, the
# reference implementation, through `sc.mask_ap`.
#
# A semantic network has no instances. The naive fix: each connected component (连通域) of a class is
# an object (`sc.semantic_to_instances`), scored by its mean class probability (components of the true
# map all get score 1, so their ranking is a tie).

# %% slideshow={"slide_type": null}
gt, dt, n_true, n_comp = [], [], [], []
val_set = sc.VOCSegmentation(sc.data_dir() / "scenes", "val")
for i in range(len(val_set)):
    inst = val_set.instances(i)
    masks = np.stack([np.asarray(inst["instance"]) == k + 1 for k in range(len(inst["classes"]))])
    gt.append({"masks": masks, "classes": np.asarray(inst["classes"])})
    comp = sc.semantic_to_instances(preds["TinyFCN"][i], probs[i], min_area=4)
    dt.append(comp)
    n_true.append(len(inst["classes"]))
    n_comp.append(len(sc.semantic_to_instances(val_masks[i])["classes"]))
ap = sc.mask_ap(gt, dt)
print("TinyFCN + connected components:", {k: round(v, 3) for k, v in ap.items()})
print("perfect semantic map + connected components:",
      {k: round(v, 3) for k, v in sc.mask_ap(gt, [sc.semantic_to_instances(m) for m in val_masks]).items()})
n_true, n_comp = np.array(n_true), np.array(n_comp)
print(f"true objects: {n_true.sum()}; components of the true semantic maps: {n_comp.sum()}")
print(f"images with net fewer components than objects (merges win): {(n_comp < n_true).sum()} of {len(n_true)}; "
      f"with net more (objects cut in two by an occluder): {(n_comp > n_true).sum()}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Even a *perfect* semantic map gives AP below 1: touching objects of one class merge into a single
# component, and an object cut by an occluder in front of it falls apart into two. Below, the image
# with the most merged objects. Instance segmentation needs a method that
# knows about objects: FCIS (lesson 09) and Mask R-CNN (lessons 10-11).

# %% slideshow={"slide_type": null}
i = int(np.argmax(n_true - n_comp))
inst = val_set.instances(i)
comp = sc.semantic_to_instances(val_masks[i])
comp_map = np.zeros(val_masks[i].shape, np.int64)
for k, m in enumerate(comp["masks"], start=1):
    comp_map[m] = k
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
sc.draw_instances(val_images[i], inst["instance"], inst["classes"], inst["boxes"], class_names=sc.CLASSES,
                  ax=axes[0], title=f"true instances: {len(inst['classes'])}")
sc.draw_instances(val_images[i], comp_map, comp["classes"], class_names=sc.CLASSES, ax=axes[1],
                  title=f"components of the true semantic map: {len(comp['classes'])}")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3 · IoU for every class from the confusion matrix
#
# Write `iou_from_confusion(conf)`: given a $C\times C$ confusion matrix (rows = truth, columns =
# prediction), return the length-$C$ vector of IoUs. Use the formulas of section 2; no loops needed.
# (Every class occurs in the test cases, so there is no 0/0.)

# %% slideshow={"slide_type": null}
def iou_from_confusion(conf):
    conf = np.asarray(conf, dtype=float)
    raise NotImplementedError  # your code here


sc.check("00.iou_from_confusion", iou_from_confusion)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("00.iou_from_confusion"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"} tags=["roadmap"]
# ## Road map
#
# The lecture (分割 Segmentation) has three parts: 介绍 introduction (this lesson), 发展 development,
# 前沿 frontier. Each later lesson implements one idea from scratch, checks it against a reference,
# and makes it visible. Lessons marked *coming* are not written yet.
#
# | lesson | idea (slide term) | paper |
# |---|---|---|
# | [01](01_vgg_convolutionalization.ipynb) | VGG-16 and convolutionalization (全卷积 fully convolutional) | Long, Shelhamer, Darrell, arXiv:1411.4038 |
# | [02](02_heat_maps.ipynb) | heat maps from a convolutionalized classifier | arXiv:1411.4038 |
# | [03](03_transposed_conv_bilinear.ipynb) | transposed convolution and bilinear upsampling | arXiv:1411.4038; Odena et al. 2016 |
# | [04](04_skip_architecture.ipynb) | skip architecture (多层feature跳接结构): FCN-32s/16s/8s | arXiv:1411.4038 |
# | [05](05_dense_crf.ipynb) | fully connected CRF (条件随机场) after the network | Chen et al., DeepLab v1, arXiv:1412.7062 |
# | [06](06_atrous_dilated_convolution.ipynb) | atrous convolution (多孔卷积) | arXiv:1412.7062; Yu & Koltun, arXiv:1511.07122 |
# | [07](07_aspp_deeplab_v3.ipynb) | ASPP and multi-scale context (多尺度信息结合) | DeepLab v2 arXiv:1606.00915; v3 arXiv:1706.05587 |
# | [08](08_large_kernels_gcn.ipynb) | large kernels (大内核): GCN and boundary refinement | Peng et al., arXiv:1703.02719 |
# | [09](09_fcis.ipynb) | position-sensitive inside/outside scores (FCIS) | Li et al., arXiv:1611.07709 |
# | [10](10_roi_pool_vs_roi_align.ipynb) | RoI pooling vs RoIAlign (双线性插值) | He et al., Mask R-CNN, arXiv:1703.06870 |
# | [11](11_mask_rcnn.ipynb) | Mask R-CNN = Faster R-CNN + FCN | arXiv:1703.06870 |
# | [12](12_learning_to_segment_every_thing.ipynb) | learning to segment every thing (迁移学习, 学习一个映射) | Hu et al., arXiv:1711.10370 |

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Glossary · 术语
#
# | English | 中文 | meaning |
# |---|---|---|
# | segmentation | 分割 | a label for every pixel (or a mask for every object) |
# | semantic segmentation | 语义分割 (分类级别) | per-pixel class labels |
# | instance segmentation | 实例分割 (实例级别) | per-object masks with class and score |
# | fully convolutional network | 全卷积网络 | a network with no fully connected layer, so any input size gives an output map |
# | skip architecture | 跳接结构 | fusing coarse deep features with fine shallow ones |
# | transposed convolution | 转置卷积 | learned upsampling: the adjoint of a strided convolution |
# | bilinear interpolation | 双线性插值 | weights linear in each axis between the 4 nearest samples |
# | conditional random field | 条件随机场 | a model of label agreement between pixels |
# | atrous / dilated convolution | 多孔卷积 / 空洞卷积 | a convolution whose taps are spaced `rate` apart |
# | receptive field | 感受野 | the input pixels that can affect one output unit |
# | intersection over union | 交并比 | $\lvert P\cap G\rvert / \lvert P\cup G\rvert$ |
# | mean IoU | 平均交并比 | IoU averaged over classes |
# | confusion matrix | 混淆矩阵 | pixel counts, true class × predicted class |
# | pixel accuracy | 像素准确率 | share of pixels labelled correctly |
# | precision / recall | 精确率 / 召回率 | share of predictions that are right / of truths that are found |
# | boundary F-score | 边界F值 | how well predicted edges match true edges |
# | mask AP | 掩码平均精度 | area under the precision-recall curve of instance masks |
# | connected component | 连通域 | a maximal set of touching pixels with one label |

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Semantic segmentation (分类级别) outputs an $H\times W$ class map; instance segmentation
#   (实例级别) a variable-length list of (mask, class, score).
# - Metrics come from a confusion matrix: pixel accuracy is dominated by background; per-class IoU
#   and mIoU are not. The boundary F-score measures edges; mask AP (pycocotools) measures instances.
# - Connected components of a semantic map are not instances: touching objects merge and occluded
#   objects fall apart, even with a perfect map, as the measured AP above shows.
#
# **References.** J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic
# Segmentation*, arXiv:1411.4038 (defines pixel accuracy, mean IU). M. Everingham et al., *The Pascal
# Visual Object Classes Challenge*, IJCV 2010 (the VOC layout and IoU). T.-Y. Lin et al., *Microsoft
# COCO: Common Objects in Context*, arXiv:1405.0312 (mask AP). G. Csurka, D. Larlus, F. Perronnin,
# *What is a good evaluation measure for semantic segmentation?*, BMVC 2013 (boundary F-score).

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [contents](00_overview.ipynb#Road-map) · [VGG-16 and convolutionalization →](01_vgg_convolutionalization.ipynb)
