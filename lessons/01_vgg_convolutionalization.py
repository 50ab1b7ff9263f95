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
#     seconds: 28.2
#     terms: "\u56DE\u5FC6\u7ECF\u5178\u7684VGG-16 recall VGG-16, \u611F\u53D7\u91CE\
#       \ receptive field, \u6B65\u957F stride, \u5168\u5377\u79EF fully convolutional,\
#       \ \u5377\u79EF\u5316 convolutionalization"
#     title: VGG-16 and convolutionalization
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 01 · VGG-16 and convolutionalization (回忆经典的VGG-16 · 全卷积)
#
# *Key terms: 回忆经典的VGG-16 recall the classic VGG-16, 感受野 receptive field, 步长 stride (jump),
# 全卷积 fully convolutional, 卷积化 convolutionalization, 有效感受野 effective receptive field*
#
# **Learning objectives.** After this lesson you can:
# 1. compute, layer by layer, the output size, receptive field (感受野), jump (effective stride) and
#    the position of the first unit of VGG-16, with kernel, stride, padding and dilation;
# 2. explain why VGG-16's output stride is $32 = 2^5$ (the slide says $2^6$);
# 3. turn fc6, fc7, fc8 into 7×7, 1×1, 1×1 convolutions by reshaping weights, and prove the logits
#    do not change; explain what a larger input then produces;
# 4. say what SAME vs VALID padding of fc6 and FCN's 100-pixel padding do to sizes and alignment;
# 5. tell the theoretical receptive field from the effective one (Luo et al. 2016).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > FCN (arXiv:1411.4038) starts from an ImageNet classifier. Everything in lessons
# > 02-04 depends on two numbers computed here: the output stride (32) and where each output unit sits
# > in the image (its "start"). Spend time on the alignment part; students usually skip it and then
# > wonder why their upsampled maps are shifted.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

import segcourse as sc

sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Recall VGG-16 (回忆经典的VGG-16)
#
# VGG-16 (Simonyan & Zisserman, arXiv:1409.1556): 13 convolutions 3×3 (stride 1, padding 1) in five
# blocks, each block ended by a 2×2 max-pool with stride 2; then three fully connected layers fc6
# (25088→4096), fc7 (4096→4096), fc8 (4096→1000).
#
# For a layer with kernel $k$, stride $s$, padding $p$, dilation $d$ (effective kernel
# $k_e = d(k-1)+1$), with pixel centres at integers:
#
# $$n_{out} = \Big\lfloor \frac{n + 2p - k_e}{s} \Big\rfloor + 1,\qquad
# r_l = r_{l-1} + (k_e-1)\,j_{l-1},\qquad j_l = j_{l-1}\,s,\qquad
# \text{start}_l = \text{start}_{l-1} + \Big(\frac{k_e-1}{2} - p\Big) j_{l-1}$$
#
# starting from $r_0 = 1$, $j_0 = 1$, $\text{start}_0 = 0$. Unit $i$ of layer $l$ is centred at input
# pixel $\text{start}_l + i\,j_l$ and sees an $r_l \times r_l$ window (its **receptive field**, 感受野).

# %% [markdown] slideshow={"slide_type": "subslide"}
# The recursion from scratch, once, and `sc.receptive_fields` on torchvision's VGG-16 (random
# weights: geometry does not depend on them).

# %% slideshow={"slide_type": null}
def receptive_field_by_hand(layers):
    """layers: list of (kernel, stride, padding, dilation) -> list of (size, jump, start)."""
    size, jump, start, out = 1, 1, 0.0, []
    for k, s, p, d in layers:
        k_eff = d * (k - 1) + 1
        size, start, jump = size + (k_eff - 1) * jump, start + ((k_eff - 1) / 2 - p) * jump, jump * s
        out.append((size, jump, start))
    return out


vgg = torchvision.models.vgg16(weights=None).eval()
records = sc.receptive_fields(vgg.features, input_size=224)
by_hand = receptive_field_by_hand([(r.kernel, r.stride, r.padding, r.dilation) for r in records])
print("by hand == sc.receptive_fields:", by_hand == [(r.size, r.jump, r.start) for r in records])
names = [n for n in sc.vgg16_layer_names() if not n.startswith("relu")]
print(f"{'layer':8s} {'k':>2s} {'s':>2s} {'p':>2s} {'out':>4s} {'RF size':>8s} {'jump':>5s} {'start':>6s}")
for name, r in zip(names, records):
    print(f"{name:8s} {r.kernel:2d} {r.stride:2d} {r.padding:2d} {r.out_size:4d} {r.size:8d} {r.jump:5d} {r.start:6.1f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Checked against a brute-force measurement
#
# The receptive field of a unit is the set of input pixels its value depends on: the support of its
# gradient. We build VGG-16's geometry with one channel, all weights 1, average pools (a max-pool
# passes gradient to one pixel only) and no ReLU, so every path counts; then we measure the support of
# the gradient of the centre unit of each pooling layer.

# %% slideshow={"slide_type": null}
def geometry_copy(features):
    """Same kernels/strides/paddings, 1 channel, positive weights, linear: gradient support = RF."""
    layers = []
    for m in features:
        if isinstance(m, torch.nn.Conv2d):
            conv = torch.nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation, bias=False)
            torch.nn.init.constant_(conv.weight, 1.0)
            layers.append(conv)
        elif isinstance(m, torch.nn.MaxPool2d):
            layers.append(torch.nn.AvgPool2d(m.kernel_size, m.stride, m.padding))
    return torch.nn.Sequential(*layers).double()


probe = geometry_copy(vgg.features)
x = torch.ones(1, 1, 224, 224, dtype=torch.float64, requires_grad=True)
acts, h = [], x
for m in probe:
    h = m(h)
    acts.append(h)
for name, r, a in zip(names, records, acts):
    if not name.startswith("pool"):
        continue
    i = a.shape[-1] // 2
    (g,) = torch.autograd.grad(a[0, 0, i, i], x, retain_graph=True)
    rows = torch.nonzero(g[0, 0].abs().sum(1)).flatten()
    size, centre = int(rows[-1] - rows[0] + 1), float(rows[0] + rows[-1]) / 2
    print(f"{name}: unit {i}: gradient support {size} px centred at {centre:5.1f} | formula: size "
          f"{r.size}, centre start + i*jump = {r.start + i * r.jump:5.1f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The output stride is $2^5 = 32$, not $2^6$
#
# > **Note on the slide.** The slide says the spatial size shrinks "2^6 = 32" times. VGG-16 has
# > **five** 2×2 max-pools with stride 2 and every convolution has stride 1, so the factor is
# > $2^5 = 32$ ($2^6$ would be 64). The last record's jump confirms it:

# %% slideshow={"slide_type": null}
n_pools = sum(isinstance(m, torch.nn.MaxPool2d) for m in vgg.features)
print(f"max-pools: {n_pools}, 2**{n_pools} = {2 ** n_pools}, jump after pool5 = {records[-1].jump}, "
      f"224 / {records[-1].jump} = {224 // records[-1].jump} = pool5 output size {records[-1].out_size}")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(9, 3.2))
xs = np.arange(len(records))
ax.plot(xs, [r.size for r in records], "o-", label="receptive field size (px)")
ax.plot(xs, [r.jump for r in records], "s-", label="jump = effective stride (px)")
ax.set_yscale("log", base=2)
ax.set_xticks(xs, names, rotation=60, fontsize=8)
ax.axhline(224, color="gray", ls=":", lw=1)
ax.text(0, 240, "input 224", fontsize=8, color="gray")
ax.set_title("VGG-16: receptive field grows by (k-1) x jump per layer; jump doubles at each pool")
ax.legend(fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Theoretical vs effective receptive field (有效感受野)
#
# Luo et al. (arXiv:1701.04128) measure the **effective receptive field**: the magnitude of
# $\partial y_{unit} / \partial x$ over the input. Paths through the centre of the theoretical window
# are far more numerous than paths to its edge, so the gradient is roughly Gaussian and occupies a
# fraction of the theoretical square.
#
# `sc.effective_receptive_field` computes it with one backward pass. The widget uses a *slim* VGG-16
# (`sc.slim_vgg16_features`: the same 13 convolutions and 5 pools, 1/16 of the channels) so the
# widget's backward pass stays fast on a laptop CPU; its geometry is identical. Its weights are
# **random** (Kaiming initialisation, untrained): everything in this section measures the ERF of an
# untrained net; how training changes it comes at the end of the section. One image gives a noisy
# gradient, so we average over eight (the course's four photos and their mirror images):

# %% slideshow={"slide_type": null}
slim = sc.slim_vgg16_features(16, generator=torch.Generator().manual_seed(0))
slim_records = sc.receptive_fields(slim, input_size=224)
print("same geometry as torchvision's VGG-16:",
      [(r.size, r.jump, r.start, r.out_size) for r in slim_records] == [(r.size, r.jump, r.start, r.out_size) for r in records])
def normalise(img):
    return (img - torch.tensor(sc.IMAGENET_MEAN)[:, None, None]) / torch.tensor(sc.IMAGENET_STD)[:, None, None]


cat = sc.prepare_photo(sc.photo("chelsea"), 224)
cat_input = normalise(cat)
inputs = [normalise(sc.prepare_photo(sc.photo(name), 224)) for name in sc.PHOTOS]
inputs += [x.flip(-1) for x in inputs]
erf_mean = {}
for r in slim_records:
    if r.name.startswith("pool"):
        i = r.out_size // 2
        c = r.start + i * r.jump
        maps = [sc.effective_receptive_field(slim, x, r.name, (i, i)).numpy() for x in inputs]
        erf_mean[r.name] = (np.mean([m / m.sum() for m in maps], axis=0), c, r.size)
        sides = [sc.mass_square_side(m, c, c, 0.9) for m in maps]
        print(f"{r.name}: theoretical RF {r.size:3d} px; 90% of |gradient| inside a square of "
              f"{np.mean(sides):5.1f} px (mean over {len(maps)} images, range {min(sides)}-{max(sides)}), "
              f"{np.mean(sides) / r.size:.0%} of the RF")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The averaged ERF as a **radial profile** (`sc.radial_profile`: the mean over rings at each
# distance from the unit's centre), each scaled to its peak; dotted lines mark half the
# theoretical RF, where the theoretical field ends.

# %% slideshow={"slide_type": null}
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for name, (m, c, size) in erf_mean.items():
    prof = sc.radial_profile(m, c, c, max_radius=120)
    (line,) = ax.plot(prof / np.nanmax(prof), label=f"{name} (RF {size} px)")
    if (size - 1) / 2 <= 120:
        ax.axvline((size - 1) / 2, color=line.get_color(), ls=":", lw=1)
ax.set_xlabel("distance from the unit's centre (px)")
ax.set_ylabel("mean |gradient|, peak = 1")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Luo et al. (arXiv:1701.04128) show that for $n$ stacked layers the ERF tends to a Gaussian whose
# radius grows like $\sqrt{n}$, while the theoretical RF grows like $n$: the ERF fills a shrinking
# fraction of the theoretical field, as the shares printed above do from pool1 to pool5, and its
# profile is a bell, not a plateau. They also find that **training enlarges the ERF** (their
# CIFAR-10 and CamVid experiments). Does it at course scale? The course's trained VGG backbone is
# lesson 04's FCN-8s (same VGG-16 layout at widths 8-64, trained on 128×128 scenes; loaded here,
# explained there), against the same architecture freshly initialised, averaged over 16 validation
# scenes:

# %% slideshow={"slide_type": null}
from collections import OrderedDict


def backbone_of(fcn_net):
    blocks = fcn_net.backbone.blocks
    return torch.nn.Sequential(OrderedDict((f"pool{k + 1}", b) for k, b in enumerate(blocks))).eval()


scenes, _ = sc.load_scenes("val")
sc.seed_everything()
nets_erf = {"random weights": backbone_of(sc.FCN("8s", num_classes=len(sc.CLASSES))),
            "trained (lesson 04)": backbone_of(sc.load_checkpoint("fcn8s"))}
pools = [r for r in sc.receptive_fields(nets_erf["random weights"], 128) if r.kind == "pool"]
sides = {}
for label, f in nets_erf.items():
    sides[label] = []
    for k, r in enumerate(pools[2:], start=3):
        i = r.out_size // 2 - 1
        c = r.start + i * r.jump
        erf = sum(sc.effective_receptive_field(f, scenes[n], f"pool{k}", (i, i)).numpy() for n in range(16))
        sides[label].append(sc.mass_square_side(erf, c, c, 0.9))
    print(f"{label:20s}: 90% square " + ", ".join(f"pool{k} {side:3d} px (RF {r.size})"
                                                  for k, side, r in zip(range(3, 6), sides[label], pools[2:])))
grew = [t > u for t, u in zip(sides["trained (lesson 04)"], sides["random weights"])]
print("trained larger than random at pool3, pool4, pool5:", grew)

# %% [markdown] slideshow={"slide_type": "subslide"}
# Compare the two rows and the last line: at course scale the trained net's 90% squares are not
# larger than the random net's. Luo et al.'s growth with training does not show here; a plausible reason (not
# measured here) is the task: our shapes are small and their class is decided by their outline,
# which rewards local evidence. The numbers hold for this one net and data set only.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Explore: a unit's receptive field on a photo
#
# Pick a layer and a unit (row, col). Left: the photo, the unit's theoretical receptive field (yellow
# square, centre +), the stride grid of all unit centres of that layer (cyan dots, spaced `jump`
# apart; shown from pool2 on), and the effective receptive field in red. Right: the gradient
# magnitude alone. Corner units have receptive fields that stick out of the image: they see
# zero padding there.

# %% slideshow={"slide_type": null}
sc.receptive_field_explorer(sc.photo("chelsea"), features=slim, layer="pool4", unit=(6, 8))

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Move from pool1 to pool5 at the centre unit: the yellow square grows to pool5's full receptive field (the readout gives its size), but
# > the red blob grows much more slowly. Then pick a corner unit of pool5: half its square lies outside
# > the image: those units see zero padding, so the border of a padded net behaves differently
# > from its centre.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · Receptive field of a stack
#
# Write `rf(layers)` where `layers` is a list of `(kernel, stride, padding)` (dilation 1), returning
# `(size, jump, start)` of the last layer. The cases include VGG blocks and a ResNet stem.

# %% slideshow={"slide_type": null}
def rf(layers):
    raise NotImplementedError  # your code here


sc.check("01.receptive_field", rf)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("01.receptive_field"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Convolutionalization (全卷积)
#
# fc6 computes $y = W x + b$ with $x \in \mathbb{R}^{512\cdot 7\cdot 7}$, the pool5 map flattened in
# (channel, row, column) order. A 7×7 convolution with $512$ input channels and no padding computes,
# at its single output position on a 7×7 map,
#
# $$y_o = b_o + \sum_{c,u,v} K_{o,c,u,v}\, x_{c,u,v},$$
#
# the same sum if $K = W$ reshaped to $(4096, 512, 7, 7)$. fc7 and fc8 are 1×1 convolutions
# ($K = W$ reshaped to $(n_{out}, n_{in}, 1, 1)$). No new parameters: the classifier now **slides**
# over a feature map of any size, with a stride of 32 input pixels.

# %% slideshow={"slide_type": "subslide"}
fcn = sc.convolutionalize(vgg).eval()
print([name for name, _ in fcn.named_children()][-9:])
print("fc6 weight:", tuple(vgg.classifier[0].weight.shape), "->", tuple(fcn.fc6.weight.shape))
x224 = cat_input[None]
with torch.no_grad():
    logits = vgg(x224)
    fmap = fcn(x224)
print("classifier logits:", tuple(logits.shape), "| convolutionalized output:", tuple(fmap.shape))
print("identical logits (max |diff| < 1e-4):", bool((fmap.flatten(1) - logits).abs().max() < 1e-4),
      "| same top-5 classes:", torch.equal(fmap.flatten(1).topk(5).indices, logits.topk(5).indices))

# %% [markdown] slideshow={"slide_type": "subslide"}
# On the whole 300×451 photo the convolutionalized network outputs a **map** of class scores (the
# torchvision classifier would average-pool pool5 to 7×7 first and give one vector). The map's size
# follows from the records:

# %% slideshow={"slide_type": null}
full = sc.photo("chelsea", as_tensor=True)
full = (full - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
with torch.no_grad():
    big = fcn(full[None])
h, w = full.shape[1:]
predicted = (sc.receptive_fields(fcn, h)[-1].out_size, sc.receptive_fields(fcn, w)[-1].out_size)
print(f"input {h}x{w} -> fc8 map {tuple(big.shape)}; predicted by the formula: {predicted}")
print(f"pool5: {sc.receptive_fields(fcn, h)[17].out_size}x{sc.receptive_fields(fcn, w)[17].out_size}; "
      f"fc6 (7x7 VALID) removes 6 rows and 6 columns")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · A fully connected layer as a convolution
#
# Write `fc_to_conv_weight(weight, channels, k)`: `weight` has shape `(out, channels*k*k)`, the input
# having been flattened from `(channels, k, k)` as torch does; return the `(out, channels, k, k)`
# convolution weight that gives the same outputs.

# %% slideshow={"slide_type": null}
def fc_to_conv_weight(weight, channels, k):
    raise NotImplementedError  # your code here


sc.check("01.fc_to_conv", fc_to_conv_weight)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("01.fc_to_conv"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. SAME vs VALID padding of fc6
#
# The slide gives fc6 **SAME** padding (pad 3 for a 7×7 kernel); FCN uses **VALID** (no padding):
#
# | fc6 padding | output for pool5 size $m$ | 224 input | first unit centred at |
# |---|---|---|---|
# | VALID | $m - 6$ | 1×1, exactly the classifier | pool5's unit 3 |
# | SAME | $m$ | 7×7; only the centre unit equals the classifier, the others see zeros | pool5's unit 0 |
#
# VALID keeps only positions where the whole 7×7 window is real features; SAME keeps one unit per
# pool5 unit but the outer units mix in padding the classifier never saw.

# %% slideshow={"slide_type": null}
fcn_same = sc.convolutionalize(vgg, fc6_padding="same").eval()
with torch.no_grad():
    same_map = fcn_same(x224)
centre = same_map[0, :, 3, 3]
corner = same_map[0, :, 0, 0]
print("SAME: output", tuple(same_map.shape), "| centre unit == classifier logits:",
      bool((centre - logits[0]).abs().max() < 1e-4), "| corner unit == logits:",
      bool((corner - logits[0]).abs().max() < 1e-4))
for label, net in (("VALID", fcn), ("SAME", fcn_same)):
    r = sc.receptive_fields(net, 224)[-1]
    print(f"{label:5s} fc8: {r.out_size}x{r.out_size}, RF {r.size} px, jump {r.jump}, first unit at {r.start}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### FCN's 100-pixel padding and the crop it forces
#
# With VALID fc6 an input smaller than the smallest size below yields no output at all. FCN
# (arXiv:1411.4038, reference Caffe code) pads conv1_1 by **100** pixels so that any image gives a
# map, and its Caffe pools round up (`ceil_mode=True`). Why: the VALID 7×7 fc6 needs a pool5 map of
# at least 7×7, which an unpadded net only gets from inputs of at least the size printed below;
# with 100 px of padding even a 1-pixel image gives one. The padding shifts the grid: the first
# output unit now sits at `start`. FCN-32s then upsamples the score map 32× with a *transposed
# convolution* (lesson 03 builds it; here only its output size matters: an $n$-unit map with a
# 64-wide kernel and stride 32 gives $(n-1)\cdot 32 + 64$ pixels, `sc.transposed_output_size`).
# That map is larger than the image and must be **cropped** by an offset
# $= (64-1)/2 - \text{start}$ (lesson 04 derives the offsets of FCN-16s and FCN-8s the same way):

# %% slideshow={"slide_type": null}
def min_input(net):
    for n in range(1, 400):
        try:
            sc.receptive_fields(net, n)
            return n
        except ValueError:
            continue


print("smallest input with an output, VALID fc6, torchvision pools:", min_input(fcn))
import copy
caffe_fcn = copy.deepcopy(fcn)
caffe_fcn.conv1_1.padding = (100, 100)
for m in caffe_fcn.modules():
    if isinstance(m, torch.nn.MaxPool2d):
        m.ceil_mode = True
print("with conv1_1 padding 100 and ceil-mode pools:", min_input(caffe_fcn))
for n in (224, 300, 500):
    r = sc.receptive_fields(caffe_fcn, n)[-1]
    up = sc.transposed_output_size(r.out_size, 64, 32)
    offset = (64 - 1) / 2 - r.start
    print(f"input {n}: fc8 {r.out_size}x{r.out_size}, first unit at {r.start}; upsampled {up}, "
          f"crop offset {offset:g} -> keep [{offset:g}, {offset + n:g}) of {up}")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The printed offset is the value FCN's `crop` layer computes from the net's coordinate
# > maps. The derivation: upsampled pixel $o$ is centred at input coordinate
# > $\text{start} + (o - 31.5)\cdot 32/32$, so pixel $o$ = image pixel $o - (31.5 - \text{start})$.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Receptive field (感受野), jump and start follow three recursions; `sc.receptive_fields` applies
#   them (kernel, stride, padding, dilation, ceil mode) and matches a brute-force gradient support.
# - VGG-16's output stride is $2^5 = 32$ (five pools), not $2^6$ as the slide says; pool5's and fc6's
#   receptive fields (the table in section 1) cover most of the image, but the effective receptive
#   field (Luo et al.) is much smaller: a bell-shaped fraction of it, measured here with random
#   weights and averaged over images; in our trained lesson-04 backbone it did not grow.
# - Convolutionalization (全卷积) reshapes fc6/fc7/fc8 into 7×7/1×1/1×1 convolutions: identical logits
#   at 224×224, a score map on larger inputs (lesson 02 turns it into heat maps).
# - VALID fc6 aligns with the classifier; SAME keeps the pool5 grid but the border units see padding.
#   FCN's 100-pixel padding guarantees an output and forces the crop offset computed above.
#
# **References.** K. Simonyan, A. Zisserman, *Very Deep Convolutional Networks for Large-Scale Image
# Recognition*, arXiv:1409.1556. J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for
# Semantic Segmentation*, arXiv:1411.4038. W. Luo, Y. Li, R. Urtasun, R. Zemel, *Understanding the
# Effective Receptive Field in Deep Convolutional Neural Networks*, arXiv:1701.04128. A. Araujo,
# W. Norris, J. Sim, *Computing Receptive Fields of Convolutional Neural Networks*, Distill 2019.

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← Segmentation overview](00_overview.ipynb) · [contents](00_overview.ipynb#Road-map) · [Heat maps →](02_heat_maps.ipynb)
