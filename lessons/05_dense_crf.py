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
#     seconds: 29.3
#     terms: "\u6761\u4EF6\u968F\u673A\u573A conditional random field, \u5168\u8FDE\u63A5\
#       \ fully connected, \u5E73\u5747\u573A mean field, \u4E00\u5143\u52BF unary potential,\
#       \ \u4E8C\u5143\u52BF pairwise potential"
#     title: The fully connected CRF
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Lesson 05 · The fully connected CRF (全连接条件随机场)
#
# *Key terms: 条件随机场 conditional random field, 全连接 fully connected, 平均场 mean field,
# 一元势 unary potential, 二元势 pairwise potential*
#
# **Learning objectives.** After this lesson you can:
# 1. write the fully connected CRF's Gibbs distribution: a unary from the network's softmax, a Potts
#    pairwise term weighted by two Gaussian kernels (appearance and smoothness), and say what each
#    term does on a picture;
# 2. run one mean-field step by hand (message passing = Gaussian filtering, compatibility transform,
#    add the unary, normalise) and say where the paper's update and pydensecrf's differ;
# 3. explain how the permutohedral lattice (splat, blur, slice) makes each step O(N);
# 4. measure what the CRF buys after FCN-8s on the course scenes, and where it hurts.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > DeepLab v1 (arXiv:1412.7062) put Kraehenbuehl and Koltun's fully connected CRF
# > (NIPS 2011, arXiv:1210.5644) after the network: the network says *what* is where, coarsely (stride
# > 8 here); the CRF moves the boundaries onto the colour edges of the image. The lesson builds the
# > inference from scratch on a tiny image, then uses the fast lattice version on real sizes.

# %% slideshow={"slide_type": "skip"}
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import segcourse as sc

sc.seed_everything()
torch.set_num_threads(1)   # the lattice's sparse products are memory-bound: one thread is as fast

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The model: a Gibbs distribution over label maps
#
# Every pixel $i$ gets a label $x_i\in\{0,\dots,C-1\}$. The CRF (条件随机场) defines, given the
# image $I$,
# $$P(X = x \mid I) = \frac{1}{Z(I)}\exp\big(-E(x\mid I)\big),\qquad
#   E(x) = \sum_i \psi_u(x_i) + \sum_{i<j}\psi_p(x_i, x_j).$$
# - **Unary potential** (一元势) $\psi_u(x_i) = -\log P_i(x_i)$, with $P_i$ the network's softmax at
#   pixel $i$: the network's opinion, pixel by pixel.
# - **Pairwise potential** (二元势), over *all* pairs (全连接 fully connected, not only neighbours):
# $$\psi_p(x_i,x_j) = \mu(x_i,x_j)\Big[w_1\exp\Big(-\tfrac{|p_i-p_j|^2}{2\theta_\alpha^2}
#   -\tfrac{|I_i-I_j|^2}{2\theta_\beta^2}\Big) + w_2\exp\Big(-\tfrac{|p_i-p_j|^2}{2\theta_\gamma^2}\Big)\Big],
#   \qquad \mu(l,l') = [l\neq l'] \text{ (Potts)}.$$
#   The **appearance** kernel ($w_1$) charges for giving different labels to pixels that are near
#   ($\theta_\alpha$ pixels) *and* of similar colour ($\theta_\beta$ levels): labels spread inside
#   regions of one colour and stop at colour edges. The **smoothness** kernel ($w_2$) charges for
#   label changes between close pixels ($\theta_\gamma$): it removes isolated specks.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > A note on the slides: the "FCN-CRF (conditional random fields)" slide writes
# > $P(X = x \mid I) = \exp(-E(x\mid I))/Z(I)$ twice, and the second copy has a stray "+" in it. It is
# > a typo; the formula above, one exponential of minus the energy over the partition function
# > $Z(I)=\sum_x \exp(-E(x\mid I))$, is the intended one (the paper's eq. 1).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What each kernel does on a picture
#
# The weight with which every pixel pulls the marked pixel (yellow; opacity ∝ √weight), computed by
# `sc.appearance_kernel`. With $\theta_\beta = 13$ same-coloured fur far away pulls; with
# $\theta_\beta = 5$ only near-identical colours do; the smoothness kernel ($\theta_\gamma = 3$) is
# a small blob that ignores colour.

# %% slideshow={"slide_type": null}
cat = sc.photo("chelsea")                                   # (300, 451, 3) uint8
px = (150, 290)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, (ta, tb, ttl) in zip(axes, [(80, 13, "appearance, θα=80, θβ=13"), (80, 5, "appearance, θα=80, θβ=5"),
                                    (3, 1e9, "smoothness, θγ=3 (no colour)")]):
    k = sc.appearance_kernel(cat, px, theta_alpha=ta, theta_beta=tb, w_appearance=1.0)
    sc.draw_crf_kernel(cat, k, px, ax=ax, title=f"{ttl}: sum {k.sum():.0f}")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Mean-field inference (平均场), from scratch once
#
# $Z$ sums over $C^N$ labellings, so $P$ is intractable. Mean field approximates it by a product
# $Q(x)=\prod_i Q_i(x_i)$ and iterates (paper, eq. 5 / Algorithm 1):
# $$Q_i(l) \leftarrow \frac{1}{Z_i}\exp\Big(-\psi_u(l) - \sum_{l'}\mu(l,l')\sum_m w_m\sum_{j\neq i}
#   k_m(f_i,f_j)\,Q_j(l')\Big)$$
# in four steps: **message passing** $\tilde Q = A Q$ (a Gaussian filter of every label's $Q$),
# **compatibility transform** $\hat Q = \tilde Q\,\mu^\top$, **local update** $-\psi_u - \hat Q$,
# **normalise** (softmax over labels). Below: a 20×24 crop of a course scene with lesson 04's FCN-8s
# softmax as the unary, the exact $N\times N$ kernels ($N = 480$).

# %% slideshow={"slide_type": null}
val_images, val_masks = sc.load_scenes("val")
fcn8s = sc.load_checkpoint("fcn8s")
t0 = time.perf_counter()
val_probs = sc.predict_proba(fcn8s, val_images)                 # (80, 6, 128, 128) softmax
fcn_seconds = time.perf_counter() - t0
val_u8 = np.stack([sc.image_uint8(im) for im in val_images])    # (80, 128, 128, 3) uint8
img = np.ascontiguousarray(val_u8[61, 40:60, 40:64])            # a 20 x 24 crop: objects and edges
P = val_probs[61, :, 40:60, 40:64].double()
print("crop", img.shape, "probs", tuple(P.shape))

# %% slideshow={"slide_type": null}
def dense_kernels(img, theta_alpha, theta_beta, theta_gamma):
    """K_app, K_smooth: (N, N) Gaussian kernel matrices over pixels (row-major), diagonal = 1."""
    h, w = img.shape[:2]
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).double()
    rgb = torch.from_numpy(img).reshape(-1, 3).double()
    f_app = torch.cat([pos / theta_alpha, rgb / theta_beta], 1)
    f_sm = pos / theta_gamma
    gauss = lambda f: torch.exp(-0.5 * torch.cdist(f, f) ** 2)   # noqa: E731
    return gauss(f_app), gauss(f_sm)


def paper_A(k_app, k_sm, w1, w2):
    A = w1 * k_app + w2 * k_sm
    return A.fill_diagonal_(0)                       # sum over j != i


def mean_field(P, A, iterations):
    C, H, W = P.shape
    U = -torch.log(P.clamp_min(1e-5)).reshape(C, -1).T  # unary (N, C)
    mu = 1 - torch.eye(C, dtype=torch.float64)          # Potts
    Q = torch.softmax(-U, 1)
    for _ in range(iterations):
        messages = A @ Q                                 # 1. message passing (Gaussian filtering)
        pairwise = messages @ mu.T                       # 2. compatibility transform
        Q = torch.softmax(-U - pairwise, 1)              # 3. add the unary, 4. normalise
    return Q.T.reshape(C, H, W)


prm = sc.COURSE_CRF
K_app, K_sm = dense_kernels(img, prm.theta_alpha, prm.theta_beta, prm.theta_gamma)
Q_paper = mean_field(P, paper_A(K_app, K_sm, prm.w_appearance, prm.w_smoothness), 5)
ref = sc.dense_crf_exact(P, img, iterations=5, normalisation="paper", **prm.as_kwargs())
print("ours vs sc.dense_crf_exact (paper): max |dQ| < 1e-10:", bool((Q_paper - ref).abs().max() < 1e-10))
A = paper_A(K_app, K_sm, prm.w_appearance, prm.w_smoothness)
U = sc.unary_from_probs(P).double()
Q1 = mean_field(P, A, 1)
print("one step vs sc.mean_field_step:", torch.allclose(Q1, sc.mean_field_step(torch.softmax(-U, 0), U, A)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The update pydensecrf computes
#
# Reading pydensecrf's C++ (`densecrf.cpp`, `pairwise.cpp`, `labelcompatibility.cpp`), its default
# update differs from the paper's in three places:
#
# | | paper (eq. 5) | pydensecrf (default `NORMALIZE_SYMMETRIC`) |
# |---|---|---|
# | kernel matrix | raw $K_m$ | $D_m^{-1/2} K_m D_m^{-1/2}$, $D_m = \mathrm{diag}(K_m\mathbf 1)$ |
# | self term $j = i$ | excluded | included (the lattice sums over all $j$) |
# | compatibility | $-\mu\,(AQ)$, $\mu = [l\ne l']$ | $+w\,(AQ)$ (Potts written as $-w I$) |
#
# The third is not a difference: $\sum_{l'}[l\neq l'] m(l') = \sum_{l'}m(l') - m(l)$, and the first
# term is the same for every label, so the softmax removes it. The first two change the numbers.

# %% slideshow={"slide_type": null}
def pydensecrf_A(k_app, k_sm, w1, w2):
    A = 0
    for w, K in ((w1, k_app), (w2, k_sm)):           # self term kept; symmetric normalisation
        d = K.sum(1).rsqrt()
        A = A + w * d[:, None] * K * d[None, :]
    return A


A_lib = pydensecrf_A(K_app, K_sm, prm.w_appearance, prm.w_smoothness)
Q_lib = mean_field(P, A_lib, 5)
ref = sc.dense_crf_exact(P, img, iterations=5, normalisation="pydensecrf", **prm.as_kwargs())
print("ours vs sc.dense_crf_exact (pydensecrf): max |dQ| < 1e-10:", bool((Q_lib - ref).abs().max() < 1e-10))
Q0 = torch.softmax(-U.reshape(6, -1).T, 1)
mu = 1 - torch.eye(6, dtype=torch.float64)
same = torch.allclose(torch.softmax(-U.reshape(6, -1).T - (A_lib @ Q0) @ mu.T, 1),
                      torch.softmax(-U.reshape(6, -1).T + A_lib @ Q0, 1))
print("Potts as -mu vs as +I: the same update:", same)
print(f"row sums of A: paper {A.sum(1).mean():.1f} on average, pydensecrf {A_lib.sum(1).mean():.2f}")
print(f"labels: paper vs pydensecrf form agree on {(Q_paper.argmax(0) == Q_lib.argmax(0)).double().mean():.1%} "
      "of the crop's pixels")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The symmetric normalisation divides each kernel by (roughly) its row sum, so the pairwise weight
# > no longer grows with the number of similar pixels: $w_1 = 10$ means very different things in the
# > two forms. Parameters searched for one form do not transfer to the other; DeepLab's released values
# > are for the library's form.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The fast version: the permutohedral lattice
#
# Message passing is a Gaussian filter in feature space: 5-D $(x, y, R, G, B)$ for the appearance
# kernel. Exactly it costs $O(N^2)$. Adams, Baek and Davis (Eurographics 2010) filter on the
# **permutohedral lattice** $A_d^*$, which tiles $\mathbb R^d$ with simplices:
# 1. **splat**: each pixel adds its value to the $d+1$ vertices of its enclosing simplex, with
#    barycentric weights;
# 2. **blur**: along each of the $d+1$ lattice directions, convolve the vertex values with
#    $[\tfrac12, 1, \tfrac12]$;
# 3. **slice**: read each pixel's value back from the same $d+1$ vertices with the same weights.
#
# Only vertices near data exist (a hash table), so the cost is $O(Nd^2)$. In 2-D the lattice is
# triangular; below, each point of a grid of 2-D features is coloured by the vertex that gets its
# largest splat weight: the hexagonal cells of the triangular lattice (three points starred). Right:
# a 1-D step filtered by splat, blur, slice against the exact Gaussian filter.

# %% slideshow={"slide_type": null}
g = torch.linspace(0, 6, 121)
yy, xx = torch.meshgrid(g, g, indexing="ij")
feats = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
lat = sc.build_lattice(feats)
nearest = lat.vertex.gather(1, lat.weight.argmax(1, keepdim=True)).reshape(121, 121)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].imshow((nearest * 7919 % 97).numpy(), cmap="tab20", extent=(0, 6, 6, 0), interpolation="nearest")
for i in (1250, 7300, 11000):
    axes[0].plot(*feats[i], "k*", markersize=10)
    axes[0].set_title(f"2-D lattice cells: {lat.num_vertices} vertices for {len(feats)} points", fontsize=10)
# splat -> blur -> slice of a 1-D step vs the exact Gaussian filter
x = torch.arange(200.0)[:, None] / 8                         # positions, theta = 8 px
step = (torch.arange(200) >= 100).float()[:, None]
lat1 = sc.build_lattice(x)
ones = torch.ones(200, 1)
lat_out = sc.lattice_filter(step, lat1) / sc.lattice_filter(ones, lat1)
K1 = torch.exp(-0.5 * torch.cdist(x, x) ** 2)
exact = (K1 @ step) / K1.sum(1, keepdim=True)
axes[1].plot(step, "k:", label="signal")
axes[1].plot(exact, label="exact Gaussian (normalised)")
axes[1].plot(lat_out, "--", label="lattice: splat, blur, slice")
axes[1].legend(fontsize=8)
axes[1].set_title(f"1-D, θ = 8 px: max difference {(lat_out - exact).abs().max():.3f}", fontsize=10)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Checked: against the exact version, and against pydensecrf
#
# `sc.dense_crf` builds the lattice the way pydensecrf's C++ does (same elevation, rounding, blur
# order). On the crop it approximates the exact dense CRF; on the cat it matches the library.

# %% slideshow={"slide_type": null}
Q_lat = sc.dense_crf(P.float(), img, iterations=5, **prm.as_kwargs())
print(f"crop: lattice vs exact labels agree on {(Q_lat.argmax(0) == Q_lib.argmax(0)).double().mean():.1%}, "
      f"mean |dQ| = {(Q_lat.double() - Q_lib).abs().mean():.3f}")
coarse = sc.coarse_probs(cat, n_clusters=4, stride=8)           # a stride-8 unary for the cat (section 6)
Q_cat = sc.dense_crf(coarse.probs, cat, iterations=5, **sc.DEEPLAB_V1.as_kwargs())
try:
    import pydensecrf.densecrf as dcrf
except ImportError:
    dcrf = None
    print("pydensecrf is not installed here (a dev dependency: pip install pydensecrf2), so the comparison "
          "with the C++ library is skipped; tests/test_crf.py runs it where it is installed.")
if dcrf is not None:
    H, W = cat.shape[:2]
    d = dcrf.DenseCRF2D(W, H, 4)
    d.setUnaryEnergy(np.ascontiguousarray(sc.unary_from_probs(coarse.probs).reshape(4, -1).numpy(), dtype=np.float32))
    d.addPairwiseGaussian(sxy=sc.DEEPLAB_V1.theta_gamma, compat=sc.DEEPLAB_V1.w_smoothness)
    d.addPairwiseBilateral(sxy=sc.DEEPLAB_V1.theta_alpha, srgb=sc.DEEPLAB_V1.theta_beta, rgbim=cat,
                           compat=sc.DEEPLAB_V1.w_appearance)
    Q_ref = torch.from_numpy(np.array(d.inference(5))).reshape(4, H, W)
    agree = (Q_ref.argmax(0) == Q_cat.argmax(0)).double().mean()
    print(f"chelsea {H}x{W}, 4 labels, 5 iterations: ours vs pydensecrf labels agree on {agree:.3%}; "
          f"max |dQ| < 1e-5: {bool((Q_ref - Q_cat).abs().max() < 1e-5)}")

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
t0 = time.perf_counter()
sc.dense_crf_exact(P, img, iterations=5, **prm.as_kwargs())
t_exact = time.perf_counter() - t0
t0 = time.perf_counter()
sc.dense_crf(P.float(), img, iterations=5, **prm.as_kwargs())
t_lat = time.perf_counter() - t0
t0 = time.perf_counter()
sc.dense_crf(coarse.probs, cat, iterations=5, **sc.DEEPLAB_V1.as_kwargs())
t_cat = time.perf_counter() - t0
print(f"crop N = {P.shape[1] * P.shape[2]}: exact {t_exact * 1e3:.0f} ms, lattice {t_lat * 1e3:.0f} ms; "
      f"chelsea N = {cat.shape[0] * cat.shape[1]}: lattice {t_cat:.2f} s (exact would need "
      f"{(cat.shape[0] * cat.shape[1]) ** 2 * 8 / 1e9:.0f} GB per kernel matrix).")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The lattice is itself an approximation: on small crops where $\theta_\alpha$ covers the whole
# > crop, label agreement with the exact dense CRF is 85-100 % (tests and notes); pydensecrf computes
# > the *same* approximation, which is why ours agrees with the library to float rounding.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. What mean field decreases
#
# The mean-field free energy
# $F(Q) = \sum_i\sum_l Q_i(l)\psi_u(l) + \tfrac12\sum_{i,j}A_{ij}\sum_{l,l'}\mu(l,l')Q_i(l)Q_j(l')
#  + \sum_i\sum_l Q_i(l)\log Q_i(l)$ (`sc.mean_field_free_energy`) is $\mathrm{KL}(Q\|P) - \log Z$
# for the paper's $A$. With pydensecrf's $A$ (positive semi-definite, self terms included) the
# parallel update is a concave-convex step: $F$ never rises. With the paper's $A$ (zero diagonal:
# negative eigenvalues) the *parallel* update can rise and oscillate. The checkerboard: an 8×8
# flat image, unary $P = 0.6/0.4$ alternating, smoothness kernel only ($\theta_\gamma=1$, $w_2=3$).

# %% slideshow={"slide_type": null}
flat = np.full((8, 8, 3), 128, np.uint8)
checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
Pc = torch.stack([0.4 + 0.2 * checker, 0.6 - 0.2 * checker]).double()
Uc = sc.unary_from_probs(Pc).double()
ka, ks = dense_kernels(flat, 1.0, 1.0, 1.0)
curves = {}
for name, Ak in (("paper (raw, j ≠ i)", paper_A(ka, ks, 0.0, 3.0)), ("pydensecrf (symmetric, j = i kept)",
                                                                   pydensecrf_A(ka, ks, 0.0, 3.0))):
    Qs = [torch.softmax(-Uc, 0)]
    for _ in range(6):
        Qs.append(sc.mean_field_step(Qs[-1], Uc, Ak))
    curves[name] = [sc.mean_field_free_energy(q, Uc, Ak) for q in Qs]
    print(f"{name:36s} F:", " ".join(f"{f:7.2f}" for f in curves[name]),
          f"| Q_(0,0)(label 1): {' '.join(f'{q[1, 0, 0]:.2f}' for q in Qs[:4])}")
crop_curve = sc.dense_crf_steps(P.float(), img, iterations=8, method="exact", **prm.as_kwargs()).free_energy
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, (name, f) in zip(axes, curves.items()):
    sc.draw_free_energy(np.array(f), ax=ax, title=f"checkerboard, {name}")
sc.draw_free_energy(crop_curve.numpy(), ax=axes[2], title="the scene crop, pydensecrf form")
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > The paper's form oscillates here because every pixel looks at its neighbours' *old* labels at
# > once and all flip together; a sequential (one pixel at a time) update would be coordinate descent
# > on $F$ and decrease it, but is not parallel. The library's self term $A_{ii}$ makes each pixel
# > also vote for its own old label, which damps the flip (Kraehenbuehl & Koltun, ICML 2013, prove
# > convergence for this kind of concave pairwise term).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. After FCN-8s on the course scenes
#
# Unary: lesson 04's FCN-8s softmax. Parameters: searched with `sc.crf_grid_search` on 40 seeded
# train scenes (never on val), scoring mIoU; the grid and its best combination are constants
# (`sc.COURSE_CRF_GRID`, `sc.COURSE_CRF`); the search is not rerun here.

# %% slideshow={"slide_type": null}
n_combos = int(np.prod([len(v) for v in sc.COURSE_CRF_GRID.values()]))
print("grid:", sc.COURSE_CRF_GRID, f"-> {n_combos} combinations")
print("chosen:", sc.COURSE_CRF)
print("DeepLab v1's values (513-px PASCAL images):", sc.DEEPLAB_V1)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Rerunning the search: `sc.crf_grid_search(probs, images_uint8, masks, sc.COURSE_CRF_GRID, score)`
# > with the 40 scenes of `torch.randperm(320, generator=torch.Generator().manual_seed(0))[:40]`. It
# > builds each image's lattices once per $(\theta_\alpha,\theta_\beta,\theta_\gamma)$ and reuses
# > them for every $(w_1, w_2)$; on this shared 2-core machine 54 combinations took 73 s, and the
# > first version needed 1395 s for the 480 (measured by the helper who wrote it). DeepLab's
# > $\theta_\alpha = 121$ px spans a quarter of a PASCAL image and most of a 128-px scene.

# %% slideshow={"slide_type": "subslide"}
t0 = time.perf_counter()
runs = [sc.dense_crf(val_probs[i], val_u8[i], iterations=5, return_all=True, **sc.COURSE_CRF.as_kwargs())
        for i in range(len(val_u8))]
crf_seconds = time.perf_counter() - t0
steps = torch.stack([torch.stack([q.argmax(0) for q in r]) for r in runs], 1)   # (6 steps, 80, H, W)
before, after = steps[0], steps[-1]
conf_b = sc.confusion_matrix(before, val_masks, num_classes=sc.NUM_CLASSES)
conf_a = sc.confusion_matrix(after, val_masks, num_classes=sc.NUM_CLASSES)
rows = [("mIoU", sc.mean_iou(conf_b), sc.mean_iou(conf_a)),
        ("pixel accuracy", sc.pixel_accuracy(conf_b), sc.pixel_accuracy(conf_a)),
        ("boundary F (2 px)", sc.boundary_fscore(before, val_masks, tolerance=2),
         sc.boundary_fscore(after, val_masks, tolerance=2)),
        ("band accuracy, 1 px", sc.band_accuracy(before, val_masks, 1), sc.band_accuracy(after, val_masks, 1)),
        ("band accuracy, 3 px", sc.band_accuracy(before, val_masks, 3), sc.band_accuracy(after, val_masks, 3))]
print(f"{'80 val scenes':22s} {'FCN-8s':>7s} {'+ CRF':>7s}")
for name, b, a in rows:
    print(f"{name:22s} {b:7.3f} {a:7.3f}")
iou_b, iou_a = sc.iou_per_class(conf_b), sc.iou_per_class(conf_a)
print("\nper-class IoU:", "  ".join(f"{c} {b:.3f}->{a:.3f}" for c, b, a in zip(sc.CLASSES, iou_b, iou_a)))
print("val mIoU after t mean-field steps:", "  ".join(
    f"{t}: {sc.mean_iou(sc.confusion_matrix(steps[t], val_masks, num_classes=sc.NUM_CLASSES)):.3f}"
    for t in range(len(steps))))

# %% slideshow={"slide_type": null} tags=["nbval-ignore-output"]
print(f"FCN-8s on 80 scenes: {fcn_seconds:.1f} s; the CRF, 5 steps each: {crf_seconds:.1f} s "
      f"({crf_seconds / len(runs) * 1e3:.0f} ms per 128x128 scene; shared, loaded machine)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Thin parts, and the scenes where it helps and hurts
#
# Thin parts: the object pixels that a 3×3 morphological opening removes (arms and spikes about 2 px
# wide). Per scene: the change in mIoU (classes present in the scene or the predictions).

# %% slideshow={"slide_type": null}
obj = (val_masks > 0).float()[:, None]
opened = F.max_pool2d(-F.max_pool2d(-obj, 3, 1, 1), 3, 1, 1)           # erode, then dilate
thin = (obj - opened)[:, 0] > 0
for name, pred in (("FCN-8s", before), ("+ CRF", after)):
    print(f"{name:7s} accuracy on {int(thin.sum())} thin-part pixels: "
          f"{(pred[thin] == val_masks[thin]).double().mean():.3f}")


def scene_miou(pred, i):
    return sc.mean_iou(sc.confusion_matrix(pred[i], val_masks[i], num_classes=sc.NUM_CLASSES))


delta = torch.tensor([scene_miou(after, i) - scene_miou(before, i) for i in range(len(val_u8))])
order = delta.argsort()
helps, hurts = order[-3:].flip(0).tolist(), order[:3].tolist()
print("helps most:", ", ".join(f"scene {i} ({delta[i]:+.3f})" for i in helps))
print("hurts most:", ", ".join(f"scene {i} ({delta[i]:+.3f})" for i in hurts))
print(f"scenes better / worse / unchanged: {(delta > 1e-9).sum()} / {(delta < -1e-9).sum()} / "
      f"{(delta.abs() <= 1e-9).sum()}")

# %% slideshow={"slide_type": null}
fig, axes = plt.subplots(4, 6, figsize=(12, 8.4))
for col, i in enumerate(helps + hurts):
    for row, (pic, ttl) in enumerate(((val_u8[i], f"scene {i} ({delta[i]:+.2f})"), (sc.colorize(val_masks[i]), "truth"),
                                       (sc.colorize(before[i]), "FCN-8s"), (sc.colorize(after[i]), "+ CRF"))):
        axes[row, col].imshow(pic, interpolation="nearest")
        axes[row, col].set_title(ttl, fontsize=9)
        axes[row, col].set_axis_off()
fig.suptitle("left three: where the CRF helps most; right three: where it hurts most", fontsize=10)
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Why it hurts on the right: the model's only evidence is colour and position. In the figure the
# > tiny objects of the first two of the right three columns, which FCN-8s found with a few pixels,
# > vanish, and in the third the pieces of the objects cut by the image's corner merge into one blob
# > of one class (the square inside the large disc is a disc for FCN-8s, and stays one). A tiny
# > object found with a few low-confidence pixels is outvoted by the background around it and erased;
# > a striped object's stripes do not pull each other (two colours), so its arms can break up; a
# > region the network labelled partly with the wrong class becomes consistently labelled with the
# > majority, which can be the wrong class. The CRF sharpens what the network says; it cannot fix a wrong class. Thin parts,
# > which the lecture lists as a typical CRF failure, gain on average here: FCN-8s had already lost
# > them, and the appearance kernel recovers some along the colour edges.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Edge snapping at full resolution
#
# A stride-8 unary for the cat (`sc.coarse_probs`: k-means colour clusters averaged over 8×8 blocks
# and upsampled, as a stride-8 network would output), then the CRF with DeepLab v1's values at full
# resolution. Agreement with the full-resolution clusters measures how far the boundaries snapped.

# %% slideshow={"slide_type": null}
cat_steps = sc.dense_crf_steps(coarse.probs, cat, iterations=5, **sc.DEEPLAB_V1.as_kwargs())
agree = [(lab == coarse.labels).double().mean().item() for lab in cat_steps.labels]
print("agreement with the full-resolution clusters, step 0..5:", " ".join(f"{a:.3f}" for a in agree))
fig, axes = plt.subplots(1, 4, figsize=(13, 2.9))
axes[0].imshow(cat)
axes[0].set_title("chelsea", fontsize=10)
axes[0].set_axis_off()
sc.draw_crf_steps(torch.stack([coarse.labels, cat_steps.labels[0], cat_steps.labels[-1]]).numpy(), axes=axes[1:],
                  titles=["full-resolution clusters", "coarse unary (stride 8)", "after 5 CRF steps"])
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Explore: mean field step by step
#
# A val scene with FCN-8s as the unary and the searched parameters. The first slider sets the number
# of mean-field steps (the third panel shows the labels after the last one, the fourth $F(Q_t)$);
# move θβ to see the appearance kernel of the marked pixel (first panel) widen in colour and the
# labels leak across edges; set w1 = 0 to keep only the smoothness kernel; move the pixel with the
# row/column sliders. For a photo: `sc.crf_explorer(cat, coarse.probs, theta_alpha=80, theta_beta=13)`.

# %% slideshow={"slide_type": null}
sc.crf_explorer(scene=61, iterations=5, pixel=(64, 64))

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Instructor notes** · for whoever presents the lesson; in the slides they show only in the speaker view.
# >
# > Start at iterations 0 (the FCN-8s labels), step to 1, 2, 5: most of the change is in
# > the first step. Then θβ from 10 to 60: the kernel stops respecting colour and the labels bleed.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · The Potts compatibility
#
# Write `potts(num_labels)`: the $(C, C)$ matrix $\mu(l, l') = [l \neq l']$.

# %% slideshow={"slide_type": null}
def potts(num_labels):
    raise NotImplementedError  # your code here


sc.check("05.potts", potts)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* A solution opens only on request: run `print(sc.solution("05.potts"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2 · The appearance kernel between two pixels
#
# Write `appearance_weight(p_i, p_j, I_i, I_j, theta_alpha, theta_beta, w1)`: positions `(row, col)`,
# colours `(R, G, B)`, returns $w_1\exp(-|p_i-p_j|^2/2\theta_\alpha^2 - |I_i-I_j|^2/2\theta_\beta^2)$
# as a float. What happens to two neighbours across an edge when $\theta_\beta$ is huge?

# %% slideshow={"slide_type": null}
def appearance_weight(p_i, p_j, I_i, I_j, theta_alpha, theta_beta, w1):
    raise NotImplementedError  # your code here


sc.check("05.appearance_weight", appearance_weight)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* Run `print(sc.solution("05.appearance_weight"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3 · One mean-field step
#
# Write `mean_field_step(Q, U, A)`: `Q`, `U` are $(N, C)$ (pixels as rows), `A` is the $(N, N)$
# weighted kernel with zero diagonal; return the new $Q$ after message passing, the Potts
# compatibility transform, adding the unary and normalising.

# %% slideshow={"slide_type": null}
def mean_field_step(Q, U, A):
    raise NotImplementedError  # your code here


sc.check("05.mean_field_step", mean_field_step)

# %% [markdown] slideshow={"slide_type": null}
# *Stuck?* Run `print(sc.solution("05.mean_field_step"))` in a new cell.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - The fully connected CRF (全连接条件随机场) is a Gibbs distribution over label maps: unary
#   $-\log P$ from the network, Potts pairwise over all pairs weighted by an appearance kernel
#   (position + colour) and a smoothness kernel (position).
# - Mean field (平均场) updates a factorised $Q$ in four steps; the expensive one, message passing,
#   is a Gaussian filter, which the permutohedral lattice (splat, blur, slice) does in $O(N)$.
# - pydensecrf's update differs from the paper's: symmetric normalisation and the self term (the
#   compatibility sign is only notation). Its form decreases the free energy at every parallel
#   step; the paper's parallel form can rise and oscillate (checkerboard above).
# - On the course scenes, after FCN-8s the CRF raises mIoU, boundary F and accuracy near
#   boundaries (table above), most of it in the first step; it erases tiny low-confidence objects
#   and cannot fix a region the network gave the wrong class (the right three columns above).
#
# **References.** L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. Yuille, *Semantic Image
# Segmentation with Deep Convolutional Nets and Fully Connected CRFs* (DeepLab v1), arXiv:1412.7062.
# P. Krähenbühl, V. Koltun, *Efficient Inference in Fully Connected CRFs with Gaussian Edge
# Potentials*, NIPS 2011, arXiv:1210.5644. P. Krähenbühl, V. Koltun, *Parameter Learning and
# Convergent Inference for Dense Random Fields*, ICML 2013. A. Adams, J. Baek, M. A. Davis, *Fast
# High-Dimensional Filtering Using the Permutohedral Lattice*, Eurographics 2010. L.-C. Chen et al.,
# *DeepLab: ... Atrous Convolution, and Fully Connected CRFs* (v2), arXiv:1606.00915.

# %% [markdown] slideshow={"slide_type": "skip"} tags=["nav"]
# [← The skip architecture](04_skip_architecture.ipynb) · [contents](00_overview.ipynb#Road-map) · [Atrous (dilated) convolution →](06_atrous_dilated_convolution.ipynb)
