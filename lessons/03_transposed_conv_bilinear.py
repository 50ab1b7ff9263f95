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
#     seconds: 14.9
#     terms: "\u8F6C\u7F6E\u5377\u79EF transposed convolution, \u53CC\u7EBF\u6027\u63D2\
#       \u503C bilinear interpolation, \u4E0A\u91C7\u6837 upsampling, \u68CB\u76D8\u6548\
#       \u5E94 checkerboard artifacts"
#     title: Transposed convolution and bilinear interpolation
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 03 · Transposed convolution and bilinear interpolation (转置卷积 · 双线性插值)
#
# *Key terms: 转置卷积 transposed convolution (often mis-called "deconvolution"), 双线性插值 bilinear
# interpolation, 上采样 upsampling, 对齐角点 align_corners, 棋盘效应 checkerboard artifacts*
#
# **Learning objectives.** After this lesson you can:
# 1. write a convolution as a matrix $C$ and a transposed convolution as $C^\top$, and predict its
#    output size from stride, padding and output_padding;
# 2. build the bilinear filter on the FCN slide and use it to initialise a transposed convolution;
# 3. say exactly where that transposed convolution equals `F.interpolate(mode="bilinear")` and why
#    it differs at the border; give the coordinate formulas of `align_corners` False and True;
# 4. explain checkerboard artifacts from uneven kernel overlap, why a kernel divisible by the stride
#    reduces but does not prevent them, and why resize-then-convolve does.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > FCN's upsampling layers are transposed convolutions initialised to bilinear
# > interpolation (the 4×4 matrix on the FCN slide) and then learned. The lesson builds both from the
# > matrix view, so "transposed" stops being a mystery word.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import segcourse as sc

sc.seed_everything()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Convolution as a matrix
#
# A convolution is linear in its input: flattening the $H\times W$ input to $x\in\mathbb{R}^{HW}$ and
# the output to $y\in\mathbb{R}^{H_oW_o}$, there is a sparse matrix $C$ with $y = Cx$; row $o$ holds the
# kernel at the positions output $o$ reads. The **transposed convolution** (转置卷积) is
# $z = C^\top y$: it maps the small map back to the large one, each input value *spreading* a copy of
# the kernel. It is the gradient of the convolution, not its inverse.
#
# Output sizes (kernel $k$, stride $s$, padding $p$):
# $$\text{conv: } n_o = \Big\lfloor\frac{n + 2p - k}{s}\Big\rfloor + 1 \qquad
# \text{transposed: } n_o = (n-1)s - 2p + k + \text{output\_padding}$$
# Because the convolution floors, several input sizes give the same output size; `output_padding`
# picks which one the transposed convolution returns.

# %% [markdown] slideshow={"slide_type": "subslide"}
# From scratch once: a 3×3 kernel on a 4×4 input, no padding, stride 1, so $C$ is 4×16.

# %% slideshow={"slide_type": null}
kernel = torch.arange(1.0, 10.0).reshape(3, 3)
H = W = 4
C = torch.zeros(2 * 2, H * W)
for oy in range(2):
    for ox in range(2):
        for ky in range(3):
            for kx in range(3):
                C[oy * 2 + ox, (oy + ky) * W + (ox + kx)] = kernel[ky, kx]
print(C.int())
print("equals sc.conv_matrix:", torch.equal(C, sc.conv_matrix(kernel, (4, 4))))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Checked against torch, now with stride 2 and padding 1: $Cx$ is `F.conv2d`, $C^\top y$ is
# `F.conv_transpose2d`. With `output_padding` $=1$ the transposed output is one pixel larger: it is
# $C^\top$ for the convolution whose input had that larger size.

# %% slideshow={"slide_type": null}
g = torch.Generator().manual_seed(0)
k3 = torch.randn(3, 3, generator=g, dtype=torch.float64)
x = torch.randn(7, 7, generator=g, dtype=torch.float64)
C = sc.conv_matrix(k3, (7, 7), stride=2, padding=1)
y = F.conv2d(x[None, None], k3[None, None], stride=2, padding=1)[0, 0]
print("C:", tuple(C.shape), "| C x == conv2d:", torch.allclose(C @ x.flatten(), y.flatten()))
for op in (0, 1):
    n = sc.transposed_output_size(y.shape[0], 3, stride=2, padding=1, output_padding=op)
    Ct = sc.conv_matrix(k3, (n, n), stride=2, padding=1).T
    z = F.conv_transpose2d(y[None, None], k3[None, None], stride=2, padding=1, output_padding=op)[0, 0]
    print(f"output_padding={op}: size (4-1)*2 - 2 + 3 + {op} = {n}, torch gives {z.shape[0]}; "
          f"C^T y == conv_transpose2d: {torch.allclose(Ct @ y.flatten(), z.flatten())}")

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 2, figsize=(10, 2.6), gridspec_kw={"width_ratios": [3, 1.2]})
small = sc.conv_matrix(kernel, (4, 4))
axes[0].imshow(small, cmap="Blues")
for (r, c), v in np.ndenumerate(small.numpy()):
    if v:
        axes[0].text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=8)
axes[0].set_title("C (4 x 16): 3x3 kernel on a 4x4 input; row = one output pixel")
axes[0].set_xticks(range(16))
axes[0].set_yticks(range(4))
axes[1].imshow(small.T, cmap="Blues")
axes[1].set_title("C^T (16 x 4)")
axes[1].set_xticks(range(4))
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · Output size of a transposed convolution
#
# Write `transposed_size(n, kernel, stride, padding, output_padding)` (dilation 1).

# %% slideshow={"slide_type": null}
def transposed_size(n, kernel, stride, padding, output_padding):
    raise NotImplementedError  # your code here


sc.check("03.transposed_size", transposed_size)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("03.transposed_size"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The bilinear kernel (双线性插值)
#
# For upsampling factor $f$ FCN uses a kernel of size $K = 2f - f \bmod 2$, centre $c$ ($c = f - 1$ for
# odd $K$, $c = f - \tfrac12$ for even $K$) and
# $$k[i, j] = \Big(1 - \frac{|i - c|}{f}\Big)\Big(1 - \frac{|j - c|}{f}\Big),$$
# separable: the outer product of a 1-D "tent". For $f = 2$, $K = 4$ the tent is
# $[0.25, 0.75, 0.75, 0.25]$ and the kernel is the matrix on the FCN slide:

# %% slideshow={"slide_type": null}
tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
print(sc.bilinear_kernel(4))
print("== outer product of the tent:", torch.equal(sc.bilinear_kernel(4), torch.outer(tent, tent)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# A transposed convolution with stride $f$, padding $\lfloor f/2\rfloor$ and this kernel (one per
# channel, `sc.bilinear_upsampler(f)`) maps $n \to nf$. Against `F.interpolate(mode="bilinear",
# align_corners=False)` on a photo, which rows and columns differ?

# %% slideshow={"slide_type": null}
cat = sc.photo("chelsea", as_tensor=True)[None, :, ::8, ::8]   # 1 x 3 x 38 x 57
for f in (2, 3, 4):
    up = sc.bilinear_upsampler(f, channels=3)
    with torch.no_grad():
        a = up(cat)
    b = F.interpolate(cat, scale_factor=f, mode="bilinear", align_corners=False)
    differs = (a - b).abs().amax(dim=(0, 1)) > 1e-5          # (rows, cols) of the output
    rows, cols = torch.meshgrid(torch.arange(differs.shape[0]), torch.arange(differs.shape[1]), indexing="ij")
    to_border = torch.minimum(torch.minimum(rows, differs.shape[0] - 1 - rows),
                              torch.minimum(cols, differs.shape[1] - 1 - cols))
    width = int(to_border[differs].max()) + 1
    print(f"f={f}: kernel {2 * f - f % 2}, output {tuple(a.shape[2:])}: {int(differs.sum())} pixels differ, all "
          f"within {width} px of the border; all pixels beyond agree to 1e-5: "
          f"{bool((a - b)[..., width:-width, width:-width].abs().max() < 1e-5)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Why the border differs.** With `align_corners=False`, output pixel $y$ samples the input at
# $$\text{src}(y) = \frac{y + 0.5}{f} - 0.5 .$$
# For $f=2$, output 0 samples $-0.25$: outside the input. `F.interpolate` **clamps** src to $0$, i.e.
# it repeats the edge pixel: output 0 $= x_0$. The transposed convolution has no such rule: output 0
# gets $0.75\,x_0 + 0.25\cdot 0$ from the zero beyond the edge, so it is **darker** by a quarter of the
# edge value. Inside, both compute the same two weights $0.75, 0.25$. In general the pixels that
# differ are exactly those with $\text{src}(y) < 0$ (or $> n-1$ at the far end), i.e. $y < f/2 - 1/2$:
# the outermost $\lfloor f/2 \rfloor$ rows and columns, the widths printed above. In 1-D:

# %% slideshow={"slide_type": null}
sig = torch.tensor([[[[1.0, 1.0, 1.0, 1.0, 1.0]]]])
t1 = F.conv_transpose2d(sig, tent.reshape(1, 1, 1, 4), stride=(1, 2), padding=(0, 1))  # 1-D tent
print("constant 1 in, transposed conv out:", t1.flatten().tolist())
print("constant 1 in, F.interpolate out:  ",
      F.interpolate(sig, scale_factor=(1, 2), mode="bilinear", align_corners=False).flatten().tolist())

# %% [markdown] slideshow={"slide_type": "subslide"}
# **align_corners.** With $n$ input and $N = nf$ output pixels:
#
# | | source coordinate of output $y$ | corners |
# |---|---|---|
# | `align_corners=False` | $\text{src} = (y + 0.5)\,n/N - 0.5$ (clamped at 0) | pixel *edges* align: a pixel is a unit square |
# | `align_corners=True` | $\text{src} = y\,(n-1)/(N-1)$ | pixel *centres* of the corners align; the step is not $1/f$ |
#
# The bilinear transposed convolution reproduces `align_corners=False` (inside); `True` uses weights
# that change from pixel to pixel, so no single kernel gives it.

# %% slideshow={"slide_type": null}
n, f = 4, 2
N = n * f
fig, ax = plt.subplots(figsize=(9, 2.2))
ax.scatter(range(n), [1] * n, s=80, color="k")
ax.scatter([(y + 0.5) / f - 0.5 for y in range(N)], [0.5] * N, color="tab:blue", label="align_corners=False")
ax.scatter([y * (n - 1) / (N - 1) for y in range(N)], [0] * N, color="tab:orange", label="align_corners=True")
for xs in (-0.5, n - 0.5):
    ax.axvline(xs, color="gray", ls=":")
ax.set_yticks([0, 0.5, 1], ["align_corners=True", "align_corners=False", "input"])
ax.set_ylim(-0.3, 1.3)
ax.set_xlabel("source coordinate in input pixels (the image spans -0.5 .. n-0.5)")
ax.set_title(f"where the {N} output pixels of a x{f} upsampling of {n} pixels sample the input")
plt.show()
print("False:", [round((y + 0.5) / f - 0.5, 3) for y in range(N)])
print("True: ", [round(y * (n - 1) / (N - 1), 3) for y in range(N)])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · The bilinear kernel
#
# Write `bilinear(size)` returning the `size × size` bilinear filter (numpy or torch), for even and odd
# sizes. `bilinear(4)` must be the slide's matrix.

# %% slideshow={"slide_type": null}
def bilinear(size):
    raise NotImplementedError  # your code here


sc.check("03.bilinear_kernel", bilinear)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("03.bilinear_kernel"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Checkerboard artifacts (棋盘效应)
#
# Odena, Dumoulin and Olah (Distill 2016): in a transposed convolution with stride $s$ every input
# pixel stamps a $k\times k$ kernel, the stamps $s$ apart. If $k$ is not a multiple of $s$, output
# pixels are covered by **different numbers** of stamps, a periodic pattern a learned kernel must
# fight. Count the stamps per output pixel (`sc.overlap_count`):

# %% slideshow={"slide_type": null}
for k, s in ((3, 2), (4, 2), (5, 3), (6, 3)):
    cnt = sc.overlap_count(6, k, s)[k:-k, k:-k]   # away from the border
    print(f"kernel {k}, stride {s}: stamps per interior pixel {sorted(set(cnt.int().flatten().tolist()))}"
          f"{'  (even)' if k % s == 0 else '  (uneven: checkerboard)'}")

# %% slideshow={"slide_type": "subslide"}
small = sc.photo("chelsea", as_tensor=True)[None, :, 60:220:4, 120:320:4]   # 1 x 3 x 40 x 50
uniform3 = torch.ones(3, 3) / 4                  # a kernel of size 3, stride 2: overlap 1, 2 or 4
eye = torch.eye(3)[:, :, None, None]
with torch.no_grad():
    naive = F.conv_transpose2d(small, eye * uniform3, stride=2, padding=1, output_padding=1)
    smooth = sc.bilinear_upsampler(2, channels=3)(small)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2), layout="constrained")
sc.draw_image(small[0], ax=axes[0], title="input 40x50")
count = sc.overlap_count(8, 3, 2)
im = axes[1].imshow(count, cmap="viridis", vmin=0, vmax=int(count.max()))
fig.colorbar(im, ax=axes[1], shrink=0.8, ticks=range(int(count.max()) + 1), label="stamps")
axes[1].set_title("stamps per pixel, k=3, s=2", fontsize=10)
axes[1].set_axis_off()
sc.draw_image(naive[0].clamp(0, 1), ax=axes[2], title="transposed conv k=3, s=2 (uniform)")
sc.draw_image(smooth[0].clamp(0, 1), ax=axes[3], title="k=4, s=2, bilinear init")
plt.show()
print("k=3 output: mean of even-even pixels / mean of odd-odd pixels =",
      round((naive[..., 0::2, 0::2].mean() / naive[..., 1::2, 1::2].mean()).item(), 2))

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The uniform k=3 kernel is the worst case on purpose: pixels hit by one stamp get a
# > quarter of the brightness of pixels hit by four. The next slide is the correction students need:
# > an even overlap is not enough.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A kernel divisible by the stride reduces the artifacts; it does not prevent them
#
# Odena et al. say so explicitly. With $k$ a multiple of $s$ every output pixel gets the same
# *number* of stamps, but each of the $s\times s$ output phases gets a different *subset of the
# kernel's taps*: unless those subsets sum to the same total (the bilinear kernel's do), a flat
# input still comes out periodic. Stacked upsampling layers compound the pattern (each layer
# repeats it at its own scale), and the gradients of strided convolutions carry the same pattern
# backwards. Their fix: **resize, then convolve** (nearest-neighbour or bilinear upsampling, then
# an ordinary stride-1 convolution), whose output on a flat input is flat whatever the kernel.
#
# A **random kernel** below is a kernel whose weights are drawn independently and uniformly from
# $[0, 1)$: what an untrained layer looks like, with no structure that balances the phases. The
# input is a flat 8×8 map; the artifact is measured as the coefficient of variation (std / mean)
# of the central half of the output (`sc.checkerboard_strength`, 0 = flat), after 1 to 4 stacked
# ×2 layers (`sc.checkerboard_stack`), averaged over 20 random draws:

# %% slideshow={"slide_type": null}
variants = {"transposed k=3, s=2": dict(method="transposed", kernel=3),
            "transposed k=4, s=2": dict(method="transposed", kernel=4),
            "resize (nearest x2) + conv 3x3": dict(method="resize_conv")}
depth = 4
print(f"{'layers':32s}" + "".join(f"{n:>8d}" for n in range(1, depth + 1)))
for label, kw in variants.items():
    strength = np.mean([[sc.checkerboard_strength(o) for o in sc.checkerboard_stack(depth, seed=i, **kw)]
                        for i in range(20)], axis=0)
    print(f"{label:32s}" + "".join(f"{v:8.3f}" for v in strength))
# gradients: d(sum of a stride-2 convolution's output) / d(input) is a transposed convolution of ones
for k in (3, 4):
    x = torch.ones(1, 1, 32, 32, requires_grad=True)
    w = torch.rand(1, 1, k, k, generator=torch.Generator().manual_seed(0))
    F.conv2d(x, w, stride=2, padding=(k - 1) // 2).sum().backward()
    print(f"gradient of a stride-2 conv (random {k}x{k} kernel) w.r.t. a flat input: "
          f"strength {sc.checkerboard_strength(x.grad[0, 0]):.3f}")

# %% slideshow={"slide_type": null}
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, (label, kw) in zip(axes, variants.items()):
    out = sc.checkerboard_stack(3, seed=0, **kw)[-1][0, 0]
    n = out.shape[-1]
    centre = (out / out[n // 4:-(n // 4), n // 4:-(n // 4)].mean())[n // 4:-(n // 4), n // 4:-(n // 4)]
    im = ax.imshow(centre.numpy(), cmap="magma", vmin=0, vmax=2)
    ax.set_title(f"{label}\n3 layers, central half", fontsize=9)
    ax.set_axis_off()
fig.colorbar(im, ax=axes, shrink=0.8, label="output / its mean (flat input)")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the table: the uneven overlap (k=3) is much worse than the even one (k=4), but k=4 with a
# random kernel is *not* flat: a divisible kernel reduces the artifact, it does not remove it.
# Across layers, k=3's artifact compounds (it grows with every layer, and its picture shows
# patterns at several scales); k=4's stays at about the same strength over these four layers.
# Resize-then-convolve is flat at every depth. The strided convolution's gradient carries the
# pattern too, again weaker with the divisible kernel. A learned transposed
# convolution *can* learn balanced taps (FCN initialises them to bilinear, which is balanced);
# resize-then-convolve does not have to.

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Explore: which input pixels make an output pixel?
#
# Choose the method, the factor and an output pixel (red box, right). Left: a 6×6 grey patch of the
# photo, with the weight of each input pixel in that output pixel (numbers; red positive, blue
# negative). Compare an edge pixel under bilinear interpolation and under the transposed convolution
# (weights sum to less than 1 there), and `align_corners=True` (weights change from pixel to pixel).

# %% slideshow={"slide_type": null}
sc.interpolation_explorer(sc.photo("chelsea"), method="transposed_bilinear", factor=2, pixel=(0, 3))

# %% [markdown] slideshow={"slide_type": "subslide"}
# The numbers the widget shows come from `sc.interpolation_weights`, which upsamples one-hot images;
# one output pixel, read as a table:

# %% slideshow={"slide_type": null}
for method in sc.INTERPOLATION_METHODS[:4]:
    wts = sc.interpolation_weights(method, 2, (6, 6))[0, 3]
    nz = {(int(i), int(j)): round(float(wts[i, j]), 4) for i, j in zip(*torch.nonzero(wts, as_tuple=True))}
    print(f"{method:24s} output (0, 3): {nz}  sum {float(wts.sum()):.4f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A convolution is a sparse matrix $C$; the transposed convolution (转置卷积) is $C^\top$, checked
#   against `F.conv_transpose2d`; its size is $(n-1)s - 2p + k + \text{output\_padding}$.
# - The FCN slide's 4×4 matrix is the bilinear kernel for factor 2, the outer product of
#   $[0.25, 0.75, 0.75, 0.25]$. With stride $f$ and padding $\lfloor f/2 \rfloor$ it equals
#   `F.interpolate(mode="bilinear", align_corners=False)` except in the outermost rows and
#   columns printed above, where interpolate repeats the edge and the transposed convolution sees zeros.
# - `align_corners=True` aligns corner pixel centres, $\text{src} = y(n-1)/(N-1)$; no fixed kernel
#   gives it.
# - Kernel sizes that are not a multiple of the stride overlap unevenly: checkerboard artifacts.
#   A divisible kernel reduces them but a random (unbalanced) one still leaves a pattern, which
#   compounds over stacked layers and shows in gradients too; resize-then-convolve removes it.
#
# **References.** J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic
# Segmentation*, arXiv:1411.4038. V. Dumoulin, F. Visin, *A guide to convolution arithmetic for deep
# learning*, arXiv:1603.07285. A. Odena, V. Dumoulin, C. Olah, *Deconvolution and Checkerboard
# Artifacts*, Distill 2016, doi:10.23915/distill.00003.

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← Heat maps](02_heat_maps.ipynb) · [contents](00_overview.ipynb#Road-map) · [The skip architecture →](04_skip_architecture.ipynb)
