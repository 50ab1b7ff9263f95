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
#     seconds: 28.1
#     terms: "\u591A\u5B54\u5377\u79EF atrous convolution, \u7A7A\u6D1E\u5377\u79EF\
#       \ dilated convolution, \u611F\u53D7\u91CE receptive field, \u8F93\u51FA\u6B65\
#       \u957F output stride, \u7F51\u683C\u6548\u5E94 gridding"
#     title: Atrous (dilated) convolution
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 06 · Atrous (dilated) convolution (多孔卷积 · 空洞卷积)
#
# *Key terms: 多孔卷积 atrous convolution, 空洞卷积 dilated convolution, 感受野 receptive field,
# 输出步长 output stride, 网格效应 gridding*
#
# **Learning objectives.** After this lesson you can:
# 1. define an atrous convolution with rate $r$, give its span $r(k-1)+1$, and say where the name
#    *algorithme à trous* comes from;
# 2. show that three definitions compute the same thing: a kernel with $r-1$ zeros between its taps,
#    `F.conv2d(..., dilation=r)`, and space-to-batch → ordinary convolution → batch-to-space (how
#    `tf.nn.atrous_conv2d` computes it), and say what each costs;
# 3. translate the slide's TF-slim code (DeepLab v1) to PyTorch, explain why pool4 becomes the
#    identity and conv5 needs rate 2, with receptive fields layer by layer;
# 4. measure what output stride 32, 16 and 8 cost in map size, multiply-accumulates and memory;
# 5. explain gridding (网格效应) from the exact sampling footprint, and avoid it with hybrid rates.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > FCN (lessons 01-04) gets a large receptive field from five stride-2 pools and pays
# > with an output stride of 32, then tries to win the detail back with skips. DeepLab takes the other
# > road: keep the map large and spread the kernel's taps apart instead. Today: what that operation
# > is (three equal definitions), what the slide's code does to VGG-16, what it costs, and its one
# > trap, gridding.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import segcourse as sc

sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The idea: a kernel with holes (多孔卷积)
#
# A convolution with a $k$-tap kernel $w$ at **rate** $r$ (dilation) reads its input $r$ pixels
# apart (cross-correlation, as `F.conv2d` computes it; centre tap $c = (k-1)/2$):
# $$y[i] = \sum_{t=0}^{k-1} w[t]\; x\big[i + r\,(t - c)\big],$$
# in 2-D the same along both axes. It keeps the $k^2$ weights and the $k^2$ multiply-accumulates
# (MACs) per output value and input channel of an ordinary convolution ($r = 1$), but spans
# $$k_\text{eff} = r\,(k-1) + 1$$
# pixels. Stacked, such layers see far without pooling: the map keeps its resolution. The taps of
# one 3×3 kernel at three rates:

# %% slideshow={"slide_type": null}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, r in zip(axes, (1, 2, 4)):
    taps, inside = sc.tap_positions(11, (5, 5), r)
    sc.draw_aspp_taps(11, [(f"rate {r}", taps, inside)], ax=ax,
                      title=f"3x3 at rate {r}: 9 taps span {sc.effective_kernel_size(3, r)} px")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Where the name comes from.** *Algorithme à trous*, "the algorithm with holes" (French *trous*),
# is from wavelet analysis: Holschneider, Kronland-Martinet, Morlet and Tchamitchian (*A real-time
# algorithm for signal analysis with the help of the wavelet transform*, in *Wavelets:
# Time-Frequency Methods and Phase Space*, Springer, 1989) computed the undecimated wavelet
# transform by filtering at every scale with the *same* filter, upsampled by inserting zeros between
# its taps, instead of decimating the signal. Mallat's *A Wavelet Tour of Signal Processing*
# describes it, and DeepLab v1 (Chen et al., arXiv:1412.7062) takes the name from there. The
# same operation is the *dilated convolution* (空洞卷积) of Yu and Koltun, `dilation` in PyTorch and
# `atrous_conv2d(..., rate)` in TensorFlow.
#
# > **Note on the slide.** The slide cites *Multi-Scale Context Aggregation by Dilated Convolutions*
# > as arXiv:1511.01722. That paper, by Fisher Yu and Vladlen Koltun (ICLR 2016), is
# > **arXiv:1511.07122**.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Three definitions, one result
#
# **(a) Zeros inserted into the kernel** ("upsampled filters"): put $r-1$ zeros between
# neighbouring taps and run an ordinary convolution with the larger kernel. From scratch, once:

# %% slideshow={"slide_type": null}
def dilate_by_hand(weight, rate):
    """(..., k, k) kernel -> (..., r(k-1)+1, r(k-1)+1): tap (i, j) moves to (i*r, j*r), zeros between."""
    k = weight.shape[-1]
    out = torch.zeros(*weight.shape[:-2], rate * (k - 1) + 1, rate * (k - 1) + 1, dtype=weight.dtype)
    for i in range(k):
        for j in range(k):
            out[..., i * rate, j * rate] = weight[..., i, j]
    return out


w3 = torch.arange(1.0, 10.0).reshape(3, 3)
print(dilate_by_hand(w3, 2).int())
print("equals sc.dilate_kernel for rates 1-5:",
      all(torch.equal(dilate_by_hand(w3, r), sc.dilate_kernel(w3, r)) for r in range(1, 6)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **(b) `F.conv2d(x, w, dilation=r)`**: the taps read every $r$-th pixel; padding $r$ keeps a 3×3
# output the size of its input ("SAME"). Checked against (a) on a photo crop with random weights
# (float64), and the price of (a): it multiplies all $k_\text{eff}^2$ taps, zeros included.

# %% slideshow={"slide_type": null}
g = torch.Generator().manual_seed(0)
cat = sc.photo("chelsea", as_tensor=True)[None, :, 40:96, 120:176].double()     # 1 x 3 x 56 x 56
weight = torch.randn(8, 3, 3, 3, generator=g, dtype=torch.float64)                # 8 filters, 3 x 3
for r in (1, 2, 3, 4, 12):
    b = F.conv2d(cat, weight, padding=r, dilation=r)
    a = F.conv2d(cat, sc.dilate_kernel(weight, r), padding=r)
    print(f"rate {r:2d}: span {sc.effective_kernel_size(3, r):2d} px | (a) == (b): "
          f"{bool((a - b).abs().max() < 1e-12)} | MACs per output value and input channel: "
          f"(a) {sc.dilate_kernel(weight, r)[0, 0].numel():3d}, (b) {weight[0, 0].numel()}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **(c) Space-to-batch → ordinary convolution → batch-to-space.** A rate-$r$ kernel only ever
# combines pixels whose coordinates agree modulo $r$. So split the (padded) input into the $r^2$
# interleaved sub-images `x[..., i::r, j::r]`, convolve each with the *undilated* 3×3 kernel, and
# interleave the results back. From scratch for a 3×3 kernel with SAME padding:

# %% slideshow={"slide_type": null}
def atrous_by_sub_images(x, weight, rate):
    """SAME 3x3 atrous convolution as rate**2 ordinary (VALID) convolutions of sub-images."""
    xp = F.pad(x, (rate, rate, rate, rate))
    out = torch.zeros(x.shape[0], weight.shape[0], *x.shape[-2:], dtype=x.dtype)
    for i in range(rate):
        for j in range(rate):
            out[..., i::rate, j::rate] = F.conv2d(xp[..., i::rate, j::rate], weight)
    return out


for r in (2, 3, 4):
    c = atrous_by_sub_images(cat, weight, r)
    print(f"rate {r}: {r * r} sub-images of {tuple(cat[..., ::r, ::r].shape[-2:])} | (c) == (b): "
          f"{bool((c - F.conv2d(cat, weight, padding=r, dilation=r)).abs().max() < 1e-12)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# TensorFlow does exactly this in `tf.nn.atrous_conv2d` (the slide's code): `space_to_batch` stacks
# the $r^2$ sub-images into the batch, one ordinary convolution runs on all of them, `batch_to_space`
# interleaves. Stacking needs equal sub-images, so when the padded height or width is not a multiple
# of $r$ TensorFlow pads extra zeros **at the end** and crops the same rows off after. For a
# 9-pixel axis, a 3-tap kernel and rate 2, `sc.space_to_batch_paddings` gives (pad before, pad after,
# crop after):

# %% slideshow={"slide_type": null}
print("axis of 9, kernel 3, rate 2 ->", sc.space_to_batch_paddings(9, 3, 2))
x_odd = torch.randn(2, 3, 9, 13, generator=g, dtype=torch.float64)     # sizes that are not multiples of r
for r in (2, 3, 5):
    tf_way = sc.atrous_conv2d_space_to_batch(x_odd, weight, r, "SAME")
    (top, bottom, _), (left, right, _) = sc.space_to_batch_paddings(9, 3, r), sc.space_to_batch_paddings(13, 3, r)
    batch = sc.space_to_batch(x_odd, r, ((top, bottom), (left, right)))
    print(f"rate {r}: 2 images of 9 x 13 -> a batch of {tuple(batch.shape)}; "
          f"sc.atrous_conv2d_space_to_batch == F.conv2d(dilation={r}): "
          f"{bool((tf_way - F.conv2d(x_odd, weight, padding=r, dilation=r)).abs().max() < 1e-12)}")

# %% slideshow={"slide_type": "subslide"}
photo224 = sc.prepare_photo(sc.photo("chelsea"), 224)
subs = sc.space_to_batch(photo224[None], 2)                  # 4 x 3 x 112 x 112
fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
sc.draw_image(photo224, ax=axes[0], title="input 224 x 224")
for n, ax in enumerate(axes[1:]):
    i, j = divmod(n, 2)
    sc.draw_image(subs[n], ax=ax, title=f"sub-image x[{i}::2, {j}::2]")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > (a) is the definition that explains the name, and the worst way to compute it: a
# > 3x3 at rate 12 becomes a 25x25 kernel that multiplies mostly zeros. (b) and (c) cost the same as
# > a dense 3x3. (c) is why TensorFlow 1.x could offer atrous convolution before cuDNN had dilation:
# > each sub-image is a half-resolution copy of the photo, and on it the rate-2 kernel is an ordinary
# > 3x3.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · The span of an atrous kernel
#
# Write `effective_kernel(kernel, rate)`: how many input pixels, from the first tap to the last, a
# `kernel`-tap filter at `rate` spans along one axis.

# %% slideshow={"slide_type": null}
def effective_kernel(kernel, rate):
    raise NotImplementedError  # your code here


sc.check("06.effective_kernel", effective_kernel)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("06.effective_kernel"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The slide's TF-slim code, in PyTorch
#
# The slide (DeepLab v1, "利用多孔卷积替代掉原有VGG的Conv": replace VGG's convolutions with atrous ones):
#
# ```python
# net = slim.max_pool2d(net, [2, 2], scope='pool3')
# net = slim.repeat(net, 3, slim.conv2d, 512, [3, 3], scope='conv4')
# net = slim.max_pool2d(net, [1, 1], stride=1, scope='pool4')
# with tf.variable_scope('conv5'):
#     with tf.variable_scope('conv5_1'):
#         kernel = tf.Variable(tf.truncated_normal(shape=[3, 3, 512, 512]), name='weights')
#         biases = tf.Variable(tf.zeros([512]), name='biases')
#         net = tf.nn.atrous_conv2d(net, kernel, rate=2, padding='SAME', name='conv2d')
#         net = tf.nn.relu(net+biases)
# ```
#
# In PyTorch, layer for layer (TensorFlow stores a kernel as (kh, kw, in, out), PyTorch as (out, in,
# kh, kw)), run on a conv4_3-sized map (512 channels, 28×28 for a 224 input):

# %% slideshow={"slide_type": null}
pool4 = nn.MaxPool2d(kernel_size=1, stride=1)                        # slim.max_pool2d(net, [1, 1], stride=1)
conv5_1 = nn.Conv2d(512, 512, kernel_size=3, padding=2, dilation=2)  # tf.nn.atrous_conv2d(rate=2, 'SAME')
kernel_tf = torch.randn(3, 3, 512, 512, generator=g) * 0.01          # the slide's [3, 3, 512, 512] variable
with torch.no_grad():
    conv5_1.weight.copy_(kernel_tf.permute(3, 2, 0, 1))              # (kh, kw, in, out) -> (out, in, kh, kw)
    conv5_1.bias.zero_()                                             # biases = tf.zeros([512])
    conv4_3 = torch.rand(1, 512, 28, 28, generator=g)
    after_pool4 = pool4(conv4_3)
    conv5 = torch.relu(conv5_1(after_pool4))
    tf_way = torch.relu(sc.atrous_conv2d_space_to_batch(after_pool4, conv5_1.weight, 2, "SAME"))
print("pool4 output == its input (a 1x1 max-pool with stride 1 is the identity):", torch.equal(after_pool4, conv4_3))
print("conv5_1:", tuple(conv5.shape), "| PyTorch's dilation == TensorFlow's space-to-batch:",
      bool((conv5 - tf_way).abs().max() < 1e-4))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **What the two changes do.** A max-pool over a 1×1 window returns the pixel itself: pool4 now
# does *nothing* but no longer halves the map, so conv5 runs at stride 8 on a map twice as large in
# each direction. Every conv5 unit now sits half as far from its neighbour in input pixels, so a
# 3×3 kernel at rate 1 would reach only half as far: its **receptive field** (感受野) would shrink.
# Rate 2 spreads the taps to where they were before. `sc.atrous_vgg16` builds the three variants
# (VGG-16's geometry, 1/16 of the channels; geometry does not depend on the width) and
# `sc.receptive_field_table` runs lesson 01's `sc.receptive_fields` on each, layer by layer:

# %% slideshow={"slide_type": null}
variants = {"VGG-16": sc.atrous_vgg16(32, upto="conv5_3"),                              # pool4 2x2/2, conv5 rate 1
            "slide: rate 2": sc.atrous_vgg16(8, "identity", upto="conv5_3"),              # pool4 1x1/1, conv5 rate 2
            "rate 1": sc.atrous_vgg16(8, "identity", compensate=False, upto="conv5_3")}   # pool4 1x1/1, conv5 rate 1
table = sc.receptive_field_table(variants, 224)
print(f"{'':8s}" + "".join(f" | {v:^16s}" for v in variants))
print(f"{'layer':8s}" + " | field  jump  map" * len(variants))
for layer, row in table.items():
    if not layer.startswith("relu"):
        print(f"{layer:8s}" + "".join(f" | {row[v][0]:5d} {row[v][1]:5d} {row[v][2]:4d}" for v in variants))
f = {v: table["conv5_3"][v][0] for v in variants}
vgg, slide, no_rate = f.values()
print(f"\nconv5_3 sees {vgg} px in VGG-16, {slide} px with the slide's change ({vgg - slide} px less: pool4's own "
      f"2x2 window is gone), {no_rate} px without rate 2 ({vgg - no_rate} px less).")

# %% slideshow={"slide_type": "subslide"}
names = [n for n in table if not n.startswith("relu")]
fig, ax = plt.subplots(figsize=(9, 3))
for v, style in zip(variants, ("o-", "s--", "^:")):
    ax.plot(range(len(names)), [table[n][v][0] for n in names], style, label=v, ms=4)
ax.set_xticks(range(len(names)), names, rotation=60, fontsize=8)
ax.set_ylabel("receptive field (px)")
ax.set_title("receptive field layer by layer: rate 2 restores the growth pool4's stride gave")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The exact version: the *algorithme à trous* on a whole network
#
# Rate 2 restores the *span*, not the *function*: pool4's 2×2 window is gone. There is an exact
# version. Replace a removed stride-2 pool by a 2×2 max-pool with stride 1 *and dilation equal to
# the current rate*, double the rate of everything after it, and the network computes **the same
# values** as the original, at every position instead of every fourth (output stride 8 instead of
# 32). Same weights (same seed), on the photo, in float64:

# %% slideshow={"slide_type": null}
x = photo224[None].double()
seed = lambda: torch.Generator().manual_seed(0)                     # noqa: E731  same weights for every variant
with torch.no_grad():
    y32 = sc.atrous_vgg16(32, "exact", generator=seed()).double()(x)
    print(f"output stride 32: {tuple(y32.shape[-2:])} map, values up to {y32.abs().max():.3f}")
    for mode in ("exact", "deeplab", "identity"):
        y8 = sc.atrous_vgg16(8, mode, generator=seed()).double()(x)
        diffs = [(y8[..., a::4, b::4][..., :y32.shape[-2], :y32.shape[-1]] - y32).abs().max().item()
                 for a in range(4) for b in range(4)
                 if min(y8[..., a::4, b::4].shape[-2:]) >= y32.shape[-1]]
        print(f"output stride 8, pool4/pool5 '{mode}': {tuple(y8.shape[-2:])} map; every 4th value vs stride 32: "
              + ("equal (max |diff| < 1e-12)" if min(diffs) < 1e-12 else f"max |diff| {min(diffs):.3f} (best alignment)"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Only the exact mode reproduces the stride-32 network; DeepLab's pools and the slide's identity
# change the function, which is why DeepLab fine-tunes after the conversion.
#
# **What DeepLab released instead of the slide's 1×1 pool.** DeepLab-LargeFOV's Caffe
# `test.prototxt` uses 3×3 max-pools with padding 1 everywhere: stride 2 for pool1-3, **stride 1
# for pool4 and pool5** (so they still smooth, without downsampling), conv5 at rate ("hole") 2, an
# extra 3×3 stride-1 *average* pool (pool5a), then **fc6 as a 3×3 convolution at rate 12** with
# 1024 channels instead of VGG's 7×7×4096, fc7 1×1, fc8 1×1 to the classes. `sc.deeplab_largefov`
# builds it at full width; its receptive fields on the 321×321 training crop:

# %% slideshow={"slide_type": null}
largefov = sc.deeplab_largefov(num_classes=21)
lf = sc.receptive_field_table({"lf": largefov}, 321)
for layer in ("conv4_3", "pool4", "conv5_3", "pool5", "pool5a", "fc6", "fc8"):
    field, jump, n = lf[layer]["lf"]
    print(f"{layer:8s} field {field:3d} px, jump {jump} px, map {n} x {n}")
params = sum(p.numel() for p in largefov.parameters())
fc6 = largefov.fc6
span = (fc6.kernel_size[0] - 1) * fc6.dilation[0] * lf["pool5a"]["lf"][1]
print(f"parameters: {params:,} ({params / 1e6:.1f} M); fc6 {fc6.kernel_size[0]}x{fc6.kernel_size[0]} at rate "
      f"{fc6.dilation[0]} spans {span} px between its outer taps; that span + 32 = {span + 32}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# DeepLab v1's Table 2 lists LargeFOV with 20.5M parameters, which our count reproduces, and a
# "receptive field" of 224. That column is not the theoretical field of an fc6 unit: it matches
# fc6's tap span plus one 32-pixel cell (the last number printed), the field of view that fc6's taps
# cover. The theoretical field of the released geometry, which also counts the 3×3 pools and conv1-5,
# is the `fc6` row above. Both are "fields of view"; say which one you mean.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The table is the whole argument for rate 2: without it the conv5 fields stop
# > growing as fast as VGG's. The exact mode is a nice proof that the trick loses nothing, but nobody
# > ships it: DeepLab's 3x3 stride-1 pools are simpler and the net is fine-tuned anyway. Mention that
# > LargeFOV's fc6 (3x3 at rate 12, 1024 channels) is also what makes it small: 20.5 M parameters.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. What output stride 32, 16 and 8 cost (输出步长)
#
# Atrous convolution changes geometry, not weights: the parameters stay the same, but every layer
# after a removed stride runs on a map 2× larger in each direction. `sc.feature_costs` measures
# map size, MACs (every Conv2d, dilated or not: in/groups × kh × kw per output value) and
# activation memory (float32 outputs of every conv, pool and batch-norm layer, roughly what training
# keeps for the backward pass). It runs the model on an **empty batch** (0 images): every layer still
# computes its output shape, no arithmetic is done, so full-size networks on 513×513 cost
# milliseconds. VGG-16 with DeepLab's pools and fc6/fc7 (3×3, 1024), and torchvision's ResNet-50
# with `replace_stride_with_dilation` (the backbone of DeepLab v3):

# %% slideshow={"slide_type": null}
import torchvision  # noqa: E402  (only the ResNet-50 backbone below needs it)

nets = {}
for os_ in (32, 16, 8):
    nets["VGG-16 + fc6/fc7", os_] = sc.atrous_vgg16(os_, "deeplab", width_divisor=1)
    resnet = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, os_ <= 8, os_ <= 16])
    nets["ResNet-50 to layer4", os_] = nn.Sequential(*list(resnet.children())[:-2])
costs = {key: sc.feature_costs(nets[key], (1, 3, 513, 513)) for key in sorted(nets, key=lambda k: (k[0], -k[1]))}
print(f"input 513 x 513 | {'net':20s} | OS |   map   |  GMACs | activations (MiB) | parameters")
for (name, os_), c in costs.items():
    h, w = c["out_shape"][-2:]
    print(f"{'':15s} | {name:20s} | {os_:2d} | {h:3d}x{w:<3d} | {c['macs'] / 1e9:6.1f} | {c['activation_bytes'] / 2**20:17.0f} "
          f"| {c['params'] / 1e6:.1f} M")
for name in ("VGG-16 + fc6/fc7", "ResNet-50 to layer4"):
    a, b = costs[name, 32], costs[name, 8]
    print(f"{name}: OS 8 / OS 32 = {b['macs'] / a['macs']:.1f}x the MACs, {b['activation_bytes'] / a['activation_bytes']:.1f}x "
          f"the memory, same parameters: {a['params'] == b['params'] == costs[name, 16]['params']}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# For VGG-16 the extra cost stays small: most of its MACs are in the first blocks, which never
# change; only conv5, fc6 and fc7 move to the finer map. ResNet-50 keeps most of its blocks in
# layer3 and layer4, which is exactly what moves: output stride 8 multiplies its MACs and memory
# several times (the ratios printed). That is why DeepLab v3 (arXiv:1706.05587) trains at output
# stride 16 and evaluates at 8.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The empty-batch trick is worth a sentence: shapes propagate through every layer of
# > a batch of zero images, so counting costs is free. Activation memory, not MACs, is what usually
# > stops you from training at output stride 8 on a GPU.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Gridding (网格效应): what a stack of rates samples
#
# One output unit of a stack of 3×3 layers depends on the input through *paths*: one tap per layer.
# A path with taps $t_l \in \{-1, 0, 1\}$ at rates $r_l$ reaches the offset $\sum_l t_l r_l$ from the
# unit's centre. `sc.sampling_footprint` counts, exactly, how many paths reach each input pixel (a
# delta pushed back through the layers with all-ones kernels). Where the count is 0 the unit never
# sees the pixel, although it lies inside the receptive field. If all rates share a factor $r$,
# every offset is a multiple of $r$: the unit reads a **checkerboard**, one pixel in $r^2$, at any
# depth. The counts are also the unit's effective receptive field (Luo et al., arXiv:1701.04128) for
# uniform weights and no non-linearity: the last column gives the side of the central square holding
# 90 % of the paths.

# %% slideshow={"slide_type": null}
stacks = [[2, 2, 2], [2] * 8, [2, 4, 8], [1, 2, 3], [1, 2, 5], [1] * 6, [1, 2, 4, 8, 16]]
print(f"{'rates (3x3 each)':26s} | field | pixels reached | holes | coverage | 90 % of paths within")
for rates in stacks:
    s = sc.footprint_stats(sc.sampling_footprint(rates))
    print(f"{', '.join(map(str, rates)):26s} | {s['size'][0]:5d} | {s['support']:14d} | {s['holes']:5d} | "
          f"{s['coverage']:8.1%} | {s['erf_side']} px")

# %% [markdown] slideshow={"slide_type": "subslide"}
# On the photo (a 64×64 crop of the cat's forehead, the unit at its centre). Top: the footprint,
# coloured by path count; white: the receptive field; cyan dashed: 90 % of the paths. Bottom, zoomed
# on the central 32×32: the pixels the unit reads; holes are black, pixels outside the field dimmed.

# %% slideshow={"slide_type": null}
crop = photo224[:, 0:64, 80:144]                      # 64 x 64 of the striped forehead
crop_rgb = crop.permute(1, 2, 0).numpy()
fig, axes = plt.subplots(2, 4, figsize=(12, 6.4))
for k, rates in enumerate([[2, 2, 2], [4, 4, 4], [1, 2, 3], [1, 2, 5]]):
    frame = sc.footprint_frame(rates, (64, 64), (32, 32))
    st = frame["stats"]
    sc.draw_sampling_footprint(frame, crop_rgb, ax=axes[0, k],
                               title=f"rates {rates}: field {st['size'][0]} px\n{st['coverage']:.0%} of it sampled")
    top, left, bottom, right = frame["rf_box"]
    in_field = np.zeros((64, 64), bool)
    in_field[top:bottom, left:right] = True
    read = crop_rgb * (frame["counts"].numpy() > 0)[..., None]               # holes black
    sc.draw_image(np.where(in_field[..., None], read, 0.3 * crop_rgb)[16:48, 16:48], ax=axes[1, k],
                  title="pixels read (centre 32 x 32)")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The hybrid fix.** Wang et al. (*Understanding Convolution for Semantic Segmentation*,
# arXiv:1702.08502) stack groups of rates without a common factor, e.g. 1, 2, 3 or 1, 2, 5 (hybrid
# dilated convolution, HDC). Their rule: with $M_n = r_n$ and
# $M_i = \max\big(M_{i+1} - 2r_i,\; M_{i+1} - 2(M_{i+1} - r_i),\; r_i\big)$, a group of $k \times k$
# layers has no holes if $M_2 \le k$. `sc.hdc_max_gap` computes $M_2$; checked against the exact
# footprint:

# %% slideshow={"slide_type": null}
for rates in ([1, 2, 3], [1, 2, 5], [1, 2, 9], [1, 3, 7], [2, 2, 2], [8, 3, 7, 5]):
    m2 = sc.hdc_max_gap(rates)
    holes = sc.footprint_stats(sc.sampling_footprint(rates))["holes"]
    print(f"rates {str(rates):14s} M_2 = {m2} -> rule says {'no holes' if m2 <= 3 else 'holes':8s} | footprint: {holes:3d} holes"
          + ("   <- the rule is wrong here" if (m2 <= 3) != (holes == 0) else ""))

# %% [markdown] slideshow={"slide_type": "subslide"}
# The rule never looks at the first rate: it assumes the group starts at rate 1, as the paper's
# groups do. For groups like 1, 2, 5 it is right; for a group that does not start at 1 it can promise
# wrongly. Equal rates (2, 2, 2) share the factor 2, which the paper excludes separately; the last
# group has no common factor and still has holes. When in doubt, count the footprint. The rate-1
# stack in the first table shows the other half of the story: the field grows by 2 pixels per layer,
# but the paths concentrate in the middle, so the effective field grows more slowly:

# %% slideshow={"slide_type": null}
for n in (2, 4, 8, 16):
    s = sc.footprint_stats(sc.sampling_footprint([1] * n))
    print(f"{n:2d} layers at rate 1: field {s['size'][0]:2d} px, 90 % of the paths within {s['erf_side']:2d} px")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The bottom row of the photo figure is the point of the section: with 2, 2, 2 or
# > 4, 4, 4 the unit literally reads a sparse grid of the cat; neighbouring output units read
# > disjoint grids, which shows up as checkerboard artifacts in the predictions. 1, 2, 3 and 1, 2, 5
# > fill their boxes completely.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · Which offsets does a stack reach?
#
# Write `stack_offsets(rates)`: the set of 1-D input offsets (relative to the unit's centre pixel)
# that a stack of 3-tap layers at these rates reaches, e.g. `stack_offsets([1, 1])` is
# `{-2, -1, 0, 1, 2}`.

# %% slideshow={"slide_type": null}
def stack_offsets(rates):
    raise NotImplementedError  # your code here


sc.check("06.stack_offsets", stack_offsets)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("06.stack_offsets"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Explore: what one unit of a stack samples
#
# Choose the number of 3×3 layers, their rates (all equal to r, or a pattern) and where the unit
# sits. The photo shows the input pixels the unit reads, coloured by how many paths reach them (log
# scale; pixels it never reads keep the photo's colours), its theoretical receptive field (white
# box) and the central square holding 90 % of its paths (cyan dashed). Try rate 2 with 1 to 8
# layers, then the hybrid and HDC patterns, then the exponential pattern of Yu and Koltun's context
# module.

# %% slideshow={"slide_type": null}
sc.footprint_explorer(sc.photo("chelsea"), layers=3, rate=3)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > With equal rates the white box grows with every layer but the coloured dots stay a
# > grid; switch to 1, 2, 3 and the box fills. With many rate-1 layers the cyan square stays well
# > inside the white one: the effective field grows like the square root of the depth. Move the unit to
# > a corner: the footprint is cut by the image border, which is where real networks read padding.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - An atrous (dilated) convolution (多孔卷积, 空洞卷积) at rate $r$ reads its input $r$ pixels
#   apart: $k^2$ weights and MACs, span $r(k-1)+1$. The name is the wavelet *algorithme à trous*
#   (Holschneider et al., 1989).
# - Three definitions compute the same thing (checked above): zeros inserted into the kernel (costly:
#   it multiplies the zeros), `F.conv2d(..., dilation=r)`, and space-to-batch → ordinary convolution
#   → batch-to-space, TensorFlow's way, including its end padding.
# - The slide's TF-slim code: pool4 as a 1×1 max-pool with stride 1 is the identity (it only
#   removes the stride); conv5 at rate 2 keeps the receptive fields from shrinking (table above).
#   DeepLab-LargeFOV ships 3×3 stride-1 pools and fc6 as a 3×3 at rate 12. An exact version (dilated
#   stride-1 pools) computes the stride-32 network densely.
# - Lower output stride costs MACs and memory, not parameters; for ResNet-50 output stride 8 is
#   several times the cost of 32.
# - Equal rates grid: a stack at rate $r$ reads one pixel in $r^2$ at any depth. Rates without a
#   common factor starting at 1 (1, 2, 3; 1, 2, 5) cover the field (HDC).
#
# **References.** L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. Yuille, *Semantic Image
# Segmentation with Deep Convolutional Nets and Fully Connected CRFs* (DeepLab v1), arXiv:1412.7062.
# F. Yu, V. Koltun, *Multi-Scale Context Aggregation by Dilated Convolutions*, arXiv:1511.07122 (the
# slide's "1511.01722" is a typo). L.-C. Chen et al., *DeepLab: ... Atrous Convolution, and Fully
# Connected CRFs* (v2), arXiv:1606.00915. P. Wang et al., *Understanding Convolution for Semantic
# Segmentation*, arXiv:1702.08502. L.-C. Chen et al., *Rethinking Atrous Convolution for Semantic
# Image Segmentation* (v3), arXiv:1706.05587. W. Luo et al., *Understanding the Effective Receptive
# Field in Deep Convolutional Neural Networks*, arXiv:1701.04128. M. Holschneider, R.
# Kronland-Martinet, J. Morlet, Ph. Tchamitchian, *A real-time algorithm for signal analysis with the
# help of the wavelet transform*, in *Wavelets: Time-Frequency Methods and Phase Space*, Springer,
# 1989. S. Mallat, *A Wavelet Tour of Signal Processing*, Academic Press, 1998.

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← The fully connected CRF](05_dense_crf.ipynb) · [contents](00_overview.ipynb#Road-map) · [ASPP (DeepLab v2) and DeepLab v3's four ways to combine scales →](07_aspp_deeplab_v3.ipynb)
