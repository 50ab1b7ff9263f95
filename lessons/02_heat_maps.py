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
#     seconds: 30.2
#     terms: "\u70ED\u529B\u56FE heat map, \u5168\u5377\u79EF fully convolutional, convolutionalization,\
#       \ sliding window \u6ED1\u52A8\u7A97\u53E3"
#     title: Heat maps
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 02 · Heat maps (热力图 Heat map · 发展)
#
# *Key terms: 热力图 heat map, 全卷积 fully convolutional, convolutionalization, 滑动窗口 sliding window,
# 感受野 receptive field*
#
# **Learning objectives.** After this lesson you can:
# 1. turn a crop classifier with VGG-16's shape into a fully convolutional net by reshaping its
#    fully connected weights, and say why nothing is retrained;
# 2. prove, with numbers, that each cell of the resulting heat map is the classifier applied to
#    one crop (a sliding window), and say when that equality breaks (padding);
# 3. measure what the single fully convolutional pass saves over the sliding window;
# 4. read a coarse class heat map, and the slide's heat-map grid, for what they are.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > This is the "Heat map" slide of the FCN part. Lesson 01 did the reshaping on the
# > real VGG-16; here we *train* a small classifier and look at what the reshaped net outputs. The
# > key moment is the equality check in section 3: students usually believe it only after they see
# > the maximum difference printed.

# %% slideshow={"slide_type": "skip"}
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import segcourse as sc

sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A classifier, made fully convolutional (全卷积)
#
# A classifier $f$ maps one crop $x \in \mathbb{R}^{3\times S\times S}$ to class scores. Ours has
# VGG-16's shape (Simonyan & Zisserman, arXiv:1409.1556): 13 3×3 convolutions in blocks of
# 2, 2, 3, 3, 3, each block ending in a 2×2 max-pool, then fc6, fc7, fc8, at reduced width
# (4-8-16-32-32 channels instead of 64-128-256-512-512; fc6 and fc7 have 32 units, not 4096). fc6 reads a $k\times k$ window of pool5
# (VGG-16: $7\times 7$; ours: $2\times 2$) flattened to a vector of length $C k^2$:
#
# $$\mathrm{fc6}(z) = W\,\mathrm{vec}(z) + b,\qquad W \in \mathbb{R}^{F\times C k^2}.$$
#
# **Convolutionalization** reads the same numbers as a convolution kernel,
# $K_{f,c,i,j} = W_{f,\,c k^2 + i k + j}$ (the order in which `flatten` lays out $(c, i, j)$), and
# fc7, fc8 as $1\times1$ convolutions. On a pool5 map larger than $k\times k$ the convolution computes
# fc6 at every window: the classifier now slides over any input size and outputs one score map per
# class, a **heat map (热力图)**, with one cell every 32 pixels (five pools: $2^5 = 32$).

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **A note on the slides.** The VGG-16 slide says the spatial size shrinks by "$2^6=32$"; VGG-16
# > has five 2×2 max-pools, so the factor is $2^5 = 32$ (the 32 is right, the exponent is not).
#
# **Why our convolutions are unpadded.** VGG-16 pads every 3×3 convolution by 1 ("SAME"). On a crop,
# that padding puts zeros just outside the crop; on the whole image the same position holds real
# pixels. So with padding, a cell of the full-image output is *not* the classifier applied to its
# crop. Without padding every output depends only on the pixels of its window, and the equality is
# exact. The price is a large crop: walk back from fc6's $2\times2$ window through the layers (an
# unpadded 3×3 conv adds 2 pixels, a 2×2 pool doubles). Exercise 1 asks for that crop side, so the
# cell below prints only what fc6 sees; the side itself is printed after the exercise.

# %% slideshow={"slide_type": null}
clf = sc.VGGClassifier(num_classes=len(sc.CLASSES))
print("parameters:", sum(p.numel() for p in clf.parameters()))
print("fc6 weight (Linear):", tuple(clf.fc6.weight.shape), "-> as a conv kernel:", tuple(clf.conv_weights()[0][0].shape))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · The crop side
#
# Without running code: what crop side $S$ makes pool5 exactly $2\times2$ in our unpadded
# VGG-16-shaped net (blocks of 2, 2, 3, 3, 3 convs)? Answer with an int.

# %% slideshow={"slide_type": null}
my_crop_size = 0  # your answer
sc.check("02.crop_size", my_crop_size)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("02.crop_size"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "subslide"}
# After you have answered: the net's own crop side and its maps, layer by layer.

# %% slideshow={"slide_type": null}
x = torch.zeros(1, 3, clf.crop_size, clf.crop_size)
print("crop side S:", clf.crop_size, "px")
for k, fmap in enumerate(clf.features(x), start=1):
    print(f"pool{k}: {tuple(fmap.shape[1:])}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Training the classifier, on every crop at once
#
# A crop's target is the share of each class in its central 32×32 block (`sc.block_targets`), and
# the loss is cross-entropy against those shares. To train on every crop of an image we do not cut
# crops: we zero-pad the 128×128 image by $(S-32)/2$ pixels (`sc.pad_for_heat_map`), so that every
# 32×32 block gets a crop centred on it, and run `forward_dense` once: its 4×4 output *is* the 16
# crops' scores. This is the FCN paper's observation that whole-image training equals patchwise
# training (arXiv:1411.4038, section 3.4). One epoch on 32 images, live:

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
train_images, train_masks = sc.load_scenes("train")
val_images, val_masks = sc.load_scenes("val")
demo = sc.VGGClassifier(num_classes=len(sc.CLASSES))
history = sc.train_heat_map_classifier(demo, train_images[:32], train_masks[:32], epochs=1,
                                       desc="one epoch, 32 images")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The shipped checkpoint ran the same loop for longer (`./course retrain vgg_heatmap`, i.e.
# `./course retrain vgg_heatmap`, about 15 minutes on two cores), on the training
# scenes of lesson 04's FCNs: the 320 shipped ones plus more rendered in memory by
# `sc.render_scenes(n, seed=1)`, none of them a validation scene (its `meta` prints how many). How
# well does it classify a crop? Compare the predicted share with the true share of each class,
# over all validation crops.

# %% slideshow={"slide_type": null}
net = sc.load_checkpoint("vgg_heatmap")
print("shipped checkpoint:", {k: round(v, 3) if isinstance(v, float) else v for k, v in net.meta.items() if k != "seconds"})
heat = sc.heat_maps(net, val_images)  # (N, C, 4, 4): one fully convolutional pass per image
share = sc.block_targets(val_masks, len(sc.CLASSES))
print("heat maps:", tuple(heat.shape))
print("mean |predicted share - true share| per class:")
for c, name in enumerate(sc.CLASSES):
    print(f"  {name:10s} {float((heat[:, c] - share[:, c]).abs().mean()):.3f}")
agree = float((heat.argmax(1) == share.argmax(1)).double().mean())
print(f"crops whose largest predicted share is the true largest class: {agree:.3f}")
print(f"  (baseline: crops whose true largest class is background: {float((share.argmax(1) == 0).double().mean()):.3f})")
print(f"largest object-class share predicted anywhere: {float(heat[:, 1:].max()):.2f}; true: {float(share[:, 1:].max()):.2f}")
is_object = share.argmax(1) != 0
print(f"crops whose true largest class is a shape: {int(is_object.sum())}, of which the largest predicted "
      f"class is right: {float((heat.argmax(1) == share.argmax(1))[is_object].double().mean()):.3f} "
      f"(guessing among the {len(sc.CLASSES) - 1} shapes: {1 / (len(sc.CLASSES) - 1):.3f})")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Proof: one heat-map cell = the classifier on one crop
#
# `sc.sliding_window` is the reference: it cuts each $S\times S$ crop (stride 32) out of the padded
# image and calls the *classifier* (`forward`, with its `Linear` layers) once per crop.
# `sc.heat_maps` runs the fully convolutional pass once. They should agree to float rounding; so
# should a standalone copy built with `net.convolutionalize()` (real `Conv2d` layers).

# %% slideshow={"slide_type": null}
few = val_images[:8]
dense = sc.heat_maps(net, few)
window = sc.sliding_window(net, few)
print("heat-map shape:", tuple(dense.shape), "| sliding-window shape:", tuple(window.shape))
print(f"max |dense - sliding window| = {float((dense - window).abs().max()):.1e}")
print("equal to float rounding (atol 1e-5):", torch.allclose(dense, window, atol=1e-5))
conv_net = net.convolutionalize()
with torch.no_grad():
    standalone = conv_net(sc.pad_for_heat_map(net, few)).softmax(1)
print("standalone Conv2d copy equal:", torch.allclose(standalone, dense, atol=1e-5))
print([type(m).__name__ for m in conv_net][-5:])

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the single pass saves
#
# Cost in multiply-accumulates (MACs) of every conv and fc layer, counted by `sc.conv_macs`: 16
# crops of $S\times S$ against one pass over the padded $(128 + S - 32)$-pixel image. Neighbouring
# crops overlap by $S - 32$ of their $S$ pixels; the fully convolutional pass computes each shared
# feature once.

# %% slideshow={"slide_type": null}
class Dense(torch.nn.Module):  # a wrapper so conv_macs can call forward_dense
    def __init__(self, clf):
        super().__init__()
        self.clf = clf

    def forward(self, x):
        return self.clf.forward_dense(x)


side = 128 + net.crop_size - 32
macs_window = 16 * sc.conv_macs(net, (1, 3, net.crop_size, net.crop_size))
macs_dense = sc.conv_macs(Dense(net), (1, 3, side, side))
print(f"sliding window: {macs_window / 1e9:.2f} GMAC per image; fully convolutional: {macs_dense / 1e9:.2f} GMAC")
print(f"MAC ratio sliding window / fully convolutional: {macs_window / macs_dense:.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# How does the saving change with the image? The same count for square images of growing side
# (an $n\times n$ heat map: $n^2$ crops against one pass over the padded image):

# %% slideshow={"slide_type": null}
macs_crop = sc.conv_macs(net, (1, 3, net.crop_size, net.crop_size))
ratios = {}
for img in (64, 128, 256, 512, 1024, 2048):
    n = img // 32
    ratios[img] = n * n * macs_crop / sc.conv_macs(Dense(net), (1, 3, img + net.crop_size - 32, img + net.crop_size - 32))
    print(f"image {img:4d} px: {n * n:5d} crops, MAC ratio {ratios[img]:5.1f}")
big = [sc.conv_macs(Dense(net), (1, 3, img + net.crop_size - 32, img + net.crop_size - 32)) for img in (2048, 4096)]
per_cell = (big[1] - big[0]) / ((4096 // 32) ** 2 - (2048 // 32) ** 2)
print(f"limit for very large images: one crop / the dense pass's cost per extra cell = {macs_crop / per_cell:.1f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The ratio grows with the image but **levels off**; it does not grow without bound. Both costs
# grow with the number of cells: the window pays one whole crop per cell, the dense pass pays, per
# extra cell, only the features of one new 32×32 block (plus, for small images, the padded border,
# which is why small images save less). So the ratio approaches a fixed limit, the last number
# printed: the cost of a crop over the dense pass's cost per cell.

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
def best_of(fn, repeat=2):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


t_window = best_of(lambda: sc.sliding_window(net, few[:4]))
t_dense = best_of(lambda: sc.heat_maps(net, few[:4]))
print(f"4 images: sliding window {t_window:.3f} s (timing), fully convolutional {t_dense:.3f} s (timing)")
print(f"measured time ratio: {t_window / t_dense:.1f}")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The measured ratio varies from run to run and machine to machine (its cell is
# > excluded from the output comparison); the MAC ratio does not. Time ratios on a small CPU net are
# > also distorted by per-call overheads, which is why the lesson argues with MACs.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · How many cells?
#
# Write `heat_map_side(input_side, crop_size, stride)`: the number of heat-map cells along one side
# when an unpadded classifier with crop side `crop_size` and total stride `stride` runs over an
# input of side `input_side` (≥ `crop_size`). Check: our padded 340-pixel input gives 4.

# %% slideshow={"slide_type": null}
def heat_map_side(input_side, crop_size, stride):
    raise NotImplementedError  # your code here


sc.check("02.heat_map_side", heat_map_side)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("02.heat_map_side"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Looking at heat maps
#
# Read the numbers above against their baselines: the "largest class" agreement against the
# all-background share printed under it, and the accuracy on crops dominated by a shape against
# guessing among the shapes. The classifier finds objects and often names the right shape, far
# from always. Each row: a validation image, its true classes, and the heat maps of the
# classes present (4×4 cells drawn as blocks). **All maps share one colour scale**, the predicted
# share from 0 to 1 (colourbar on the right), so a map whose peak is near 0 looks dark, not like a
# detection; each title prints its peak.

# %% slideshow={"slide_type": null}
rows = [0, 3, 6]
fig, axes = plt.subplots(len(rows), 5, figsize=(11, 2.5 * len(rows)))
for r, i in enumerate(rows):
    sc.draw_image(val_images[i], ax=axes[r, 0], title=f"val image {i}")
    sc.draw_labels(val_masks[i], ax=axes[r, 1], title="truth")
    present = [c for c in torch.unique(val_masks[i]).tolist() if c != 0]
    present = sorted(present, key=lambda c: -int((val_masks[i] == c).sum()))[:3]
    for col in range(3):
        ax = axes[r, 2 + col]
        if col < len(present):
            c = present[col]
            im = ax.imshow(heat[i, c].numpy(), vmin=0, vmax=1, cmap="magma")
            ax.set_title(f"{sc.CLASSES[c]}: peak {float(heat[i, c].max()):.2f}", fontsize=9)
        ax.axis("off")
fig.colorbar(im, ax=axes[:, 2:], shrink=0.8, label="predicted share of the class")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# A 4×4 map is coarse: one cell per 32×32 block. Upsampling it bilinearly to 128×128 gives a smooth
# map like the slide's, but adds no information. That coarseness is the problem the rest of the FCN
# part attacks: learned upsampling (lesson 03) and skip connections from finer layers (lesson 04).

# %% slideshow={"slide_type": null}
i = rows[0]
c = int(heat[i, 1:].amax(dim=(1, 2)).argmax()) + 1
smooth = F.interpolate(heat[i:i + 1], size=(128, 128), mode="bilinear", align_corners=False)[0, c]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
sc.draw_image(val_images[i], ax=axes[0], title=f"val image {i}")
im = axes[1].imshow(heat[i, c].numpy(), vmin=0, vmax=1, cmap="magma")
axes[1].set_title(f"{sc.CLASSES[c]}: 4x4 heat map", fontsize=9)
axes[2].imshow(val_images[i].permute(1, 2, 0).numpy())
axes[2].imshow(smooth.numpy(), vmin=0, vmax=1, cmap="magma", alpha=0.6)
axes[2].set_title("bilinear to 128x128, over the image", fontsize=9)
for ax in axes[1:]:
    ax.axis("off")
fig.colorbar(im, ax=axes[1:], shrink=0.8, label="predicted share")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The slide's heat-map grid
#
# The "Heat map" slide shows a grid of numbers peaking near the centre. It was copied from an image,
# and it is not a clean matrix: count the values in each row.

# %% slideshow={"slide_type": null}
slide_rows = sc.slide_heat_map_rows()
lengths = [len(r) for r in slide_rows]
print("rows:", len(slide_rows), "| values per row:", lengths)
print("shortest", min(lengths), "longest", max(lengths), "| rows longer than 32:",
      [k for k, n in enumerate(lengths) if n > 32])
row9 = slide_rows[9]
print("row 9 around its peak:", row9[13:20], "(0.58 appears again after 0.54: out of order)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The outline of the lecture says 27 to 33 values; the count above is what the slide text holds.
# Either way the grid is an **illustration, not data**: to display it we make it 32×32
# (`sc.slide_heat_map`) by *centring* every row, padding short rows with zeros (the
# grid's border value) and trimming long rows equally at both ends. Then we set our own heat map
# beside it: the cell of a class with the highest peak, upsampled bilinearly to the same 32×32.

# %% slideshow={"slide_type": null}
slide = sc.slide_heat_map(32)
peak = np.unravel_index(np.argmax(slide), slide.shape)
n_best, c_best = divmod(int(heat[:, 1:].amax(dim=(2, 3)).flatten().argmax()), len(sc.CLASSES) - 1)
c_best += 1
ours = F.interpolate(heat[n_best:n_best + 1, c_best:c_best + 1], size=(32, 32), mode="bilinear",
                     align_corners=False)[0, 0].numpy()
print(f"slide grid: shape {slide.shape}, peak {slide.max():.2f} at {tuple(int(v) for v in peak)}")
print(f"ours (val image {n_best}, {sc.CLASSES[c_best]}): 4x4 peak {float(heat[n_best, c_best].max()):.2f}, "
      f"after bilinear to 32x32 {ours.max():.2f}")
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
im = axes[0].imshow(slide, vmin=0, vmax=1, cmap="magma")
axes[0].set_title("slide grid (rows centred to 32)", fontsize=9)
axes[1].imshow(F.interpolate(torch.tensor(slide)[None, None], scale_factor=4, mode="bilinear",
                             align_corners=False)[0, 0].numpy(), vmin=0, vmax=1, cmap="magma")
axes[1].set_title("slide grid, bilinear x4", fontsize=9)
axes[2].imshow(ours, vmin=0, vmax=1, cmap="magma")
axes[2].set_title(f"ours: {sc.CLASSES[c_best]}, 4x4 -> 32x32", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.colorbar(im, ax=axes, shrink=0.8)  # one scale, 0 to 1, for all three
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Both are upsampled views of something coarser: the slide's grid falls off almost linearly from
# its centre, the mark of bilinear interpolation between a few coarse values, as ours does between
# its 4×4 cells (ours covers a large object, so it is a broad plateau over the object's blocks
# rather than a single bump). The jagged rows at the slide grid's centre are its irregular row
# lengths, made visible. Both peaks are printed above; all three panels share one colour scale.
# What the slide's numbers cannot tell us is the image, the class or
# the network behind them, and its irregular rows mean no cell should be read on its own.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A classifier becomes fully convolutional (全卷积) by reading its fc weights as convolution
#   kernels: fc6's $(F, C k^2)$ matrix becomes an $(F, C, k, k)$ kernel, fc7 and fc8 $1\times1$
#   kernels. No parameter changes.
# - Run on a whole image, it outputs a heat map (热力图) per class, one cell per 32 pixels. With
#   unpadded convolutions each cell *equals* the classifier on its crop (checked above to float
#   rounding); with SAME padding it would not.
# - The single pass shares the overlapping crops' computation: the MAC ratio grows with the image
#   and levels off at a fixed limit (one crop's cost over the dense pass's cost per cell).
# - Heat maps are coarse; lessons 03 and 04 make them dense. The slide's grid is an illustration
#   with irregular rows, shown here after centring each row.
#
# **References.** J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic
# Segmentation*, arXiv:1411.4038 (convolutionalization, heat maps, whole-image = patchwise
# training). K. Simonyan, A. Zisserman, *Very Deep Convolutional Networks for Large-Scale Image
# Recognition*, arXiv:1409.1556 (VGG-16). P. Sermanet et al., *OverFeat*, arXiv:1312.6229 (dense
# sliding windows computed by a convnet).

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← VGG-16 and convolutionalization](01_vgg_convolutionalization.ipynb) · [contents](00_overview.ipynb#Road-map) · [Transposed convolution and bilinear interpolation →](03_transposed_conv_bilinear.ipynb)
