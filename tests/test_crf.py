"""Lesson 05: the fully connected CRF (segcourse.ops.crf) against exact dense mean field, a brute
force over all labellings, and pydensecrf (the library DeepLab used)."""
import itertools

import numpy as np
import pytest
import torch

import segcourse as sc
from segcourse.ops import crf

PARAM_SETS = {
    "deeplab_v1": crf.DEEPLAB_V1.as_kwargs(),
    "pydensecrf_example": crf.CRFParams().as_kwargs(),   # the library README's 80/13/3, 10/3
    "tight": dict(theta_alpha=20., theta_beta=10., theta_gamma=1., w_appearance=5., w_smoothness=1.),
}
CROPS = [(100, 200), (0, 0), (150, 300), (60, 120)]


def _smooth_probs(c, h, w, seed, scale=3.0, blur=5):
    """A seeded random unary with some spatial structure (blurred logits): (C, H, W) float32."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(c, h, w, generator=g)
    logits = torch.nn.functional.avg_pool2d(logits[None], blur, 1, blur // 2, count_include_pad=False)[0]
    return (logits * scale).softmax(0)


def _agree(a, b) -> float:
    return (torch.as_tensor(a).argmax(0) == torch.as_tensor(b).argmax(0)).double().mean().item()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def chelsea():
    return sc.photo("chelsea")


def _pydensecrf(probs, image, prm, iterations=5):
    dcrf = pytest.importorskip("pydensecrf.densecrf", reason="pydensecrf (pydensecrf2 on PyPI) is the "
                               "reference for these tests and is not installed")
    c, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(np.ascontiguousarray(crf.unary_from_probs(probs).reshape(c, -1).numpy()))
    d.addPairwiseGaussian(sxy=prm["theta_gamma"], compat=prm["w_smoothness"])
    d.addPairwiseBilateral(sxy=prm["theta_alpha"], srgb=prm["theta_beta"], rgbim=np.ascontiguousarray(image),
                           compat=prm["w_appearance"])
    return torch.from_numpy(np.array(d.inference(iterations)).reshape(c, h, w))


# ---------------------------------------------------------------------------------------------
# exact dense mean field: the four steps, the energies, a brute force
# ---------------------------------------------------------------------------------------------

def test_mean_field_step_is_the_four_steps(chelsea):
    img = np.ascontiguousarray(chelsea[100:112, 200:216])
    p = _smooth_probs(4, 12, 16, 0)
    a = crf.message_matrix(img, normalisation="paper", theta_alpha=20., w_appearance=0.5, w_smoothness=0.3)
    u = crf.unary_from_probs(p).double()
    q = torch.softmax(-u, 0)
    mu = crf.potts_compatibility(4)
    assert torch.equal(mu, 1 - torch.eye(4, dtype=torch.float64))
    msg = crf.message_passing(q, a)
    # message passing is a sum over the other pixels j != i (paper form: zero diagonal)
    i = 37
    expect = (a[i, :, None] * q.reshape(4, -1).T).sum(0)
    assert torch.allclose(msg.reshape(4, -1)[:, i], expect)
    pair = crf.compatibility_transform(msg, mu)
    assert torch.allclose(pair, msg.sum(0, keepdim=True) - msg)        # Potts: sum over l' != l
    by_hand = torch.exp(-u - pair)
    by_hand = by_hand / by_hand.sum(0, keepdim=True)
    assert torch.allclose(crf.mean_field_step(q, u, a), by_hand)


def test_message_matrices(chelsea):
    img = np.ascontiguousarray(chelsea[50:60, 80:92])
    prm = dict(theta_alpha=15., theta_beta=9., theta_gamma=2., w_appearance=4., w_smoothness=3.)
    f_app, f_sm = crf.crf_features(img, prm["theta_alpha"], prm["theta_beta"], prm["theta_gamma"])
    # hand-computed kernel between pixel (r, c) = (0, 0) and (2, 3)
    i, j = 0, 2 * 12 + 3
    dcol = ((img[0, 0].astype(float) - img[2, 3].astype(float)) ** 2).sum()
    k_app = np.exp(-(4 + 9) / (2 * 15. ** 2) - dcol / (2 * 9. ** 2))
    k_sm = np.exp(-(4 + 9) / (2 * 2. ** 2))
    paper = crf.message_matrix(img, normalisation="paper", **prm)
    assert paper[i, j].item() == pytest.approx(4 * k_app + 3 * k_sm, rel=1e-6)
    assert torch.all(torch.diagonal(paper) == 0)
    lib = crf.message_matrix(img, normalisation="pydensecrf", **prm)
    assert torch.allclose(lib, lib.T)
    ka, ks = crf.gaussian_kernel_matrix(f_app), crf.gaussian_kernel_matrix(f_sm)
    da, ds = ka.sum(1).numpy(), ks.sum(1).numpy()
    assert lib[i, j].item() == pytest.approx(4 * k_app / np.sqrt(da[i] * da[j]) + 3 * k_sm / np.sqrt(ds[i] * ds[j]),
                                             rel=1e-6)
    assert torch.linalg.eigvalsh(lib).min() > -1e-9   # PSD: why parallel updates are a CCCP step


def test_free_energy_matches_brute_force_and_bounds_log_z():
    """2 x 3 pixels, 2 labels: all 64 labellings. F(Q) = E_Q[E(x)] - H(Q) >= -log Z, equality at Q = P."""
    h, w, c = 2, 3, 2
    img = np.array([[[10, 10, 10], [12, 9, 11], [200, 190, 180]],
                    [[11, 10, 12], [190, 200, 185], [195, 185, 190]]], np.uint8)
    p = _smooth_probs(c, h, w, 3, scale=1.0, blur=1)
    prm = dict(theta_alpha=2., theta_beta=20., theta_gamma=1., w_appearance=1.5, w_smoothness=0.7)
    a = crf.message_matrix(img, normalisation="paper", **prm)
    u = crf.unary_from_probs(p).double()
    labellings = torch.tensor(list(itertools.product(range(c), repeat=h * w)))
    energies = torch.tensor([crf.gibbs_energy(x.reshape(h, w), u, a) for x in labellings], dtype=torch.float64)
    # Gibbs energy by its definition, for one labelling
    x = labellings[21]
    direct = sum(u.reshape(c, -1)[x[i], i] for i in range(h * w)) + sum(
        a[i, j] * (x[i] != x[j]) for i in range(h * w) for j in range(i + 1, h * w))
    assert energies[21].item() == pytest.approx(float(direct))
    log_z = torch.logsumexp(-energies, 0).item()
    qs = crf.dense_crf_exact(p, img, iterations=10, normalisation="paper", return_all=True, **prm)
    for q in qs:
        qf = q.reshape(c, -1)
        prob = qf[labellings, torch.arange(h * w)].prod(1)                  # Q(x) = prod_i Q_i(x_i)
        entropy = -(qf * qf.log()).sum()
        f = crf.mean_field_free_energy(q, u, a)
        assert f == pytest.approx(float((prob * energies).sum() - entropy), rel=1e-9)
        assert f >= -log_z - 1e-9
    # mean field is close to (not equal to) the true marginals here
    true_marg = torch.zeros(c, h * w, dtype=torch.float64)
    post = torch.softmax(-energies, 0)
    for lab in range(c):
        true_marg[lab] = (post[:, None] * (labellings == lab)).sum(0)
    assert (qs[-1].reshape(c, -1) - true_marg).abs().max() < 0.15


def test_parallel_updates_decrease_free_energy_only_with_self_terms():
    """pydensecrf's form (PSD kernel incl. self-terms): each parallel update is a concave-convex
    step, F never increases. The paper's form (j != i) has no such guarantee: on a checkerboard
    unary with strong smoothing the labels flip back and forth and F goes up."""
    h = w = 8
    img = np.full((h, w, 3), 128, np.uint8)
    cb = torch.from_numpy((np.add.outer(np.arange(h), np.arange(w)) % 2).astype(np.float32))
    p = torch.stack([0.4 + 0.2 * cb, 0.6 - 0.2 * cb])
    u = crf.unary_from_probs(p).double()
    prm = dict(theta_alpha=10., theta_beta=13., theta_gamma=1., w_appearance=0.)
    for norm, w2 in (("pydensecrf", 3.0), ("pydensecrf", 30.0)):
        a = crf.message_matrix(img, normalisation=norm, w_smoothness=w2, **prm)
        qs = crf.dense_crf_exact(p, img, iterations=8, normalisation=norm, w_smoothness=w2, return_all=True, **prm)
        f = np.array([crf.mean_field_free_energy(q, u, a) for q in qs])
        assert np.all(np.diff(f) <= 1e-9 * np.abs(f[:-1])), (norm, w2, f)
    a = crf.message_matrix(img, normalisation="paper", w_smoothness=3.0, **prm)
    qs = crf.dense_crf_exact(p, img, iterations=3, normalisation="paper", w_smoothness=3.0, return_all=True, **prm)
    f = np.array([crf.mean_field_free_energy(q, u, a) for q in qs])
    assert np.all(np.diff(f) > 0.5), f                      # F rises at every step ...
    q00 = [q[0, 0, 0].item() for q in qs]
    assert q00[0] < 0.5 < q00[1] and q00[2] < 0.5           # ... while pixel (0, 0) flips back and forth


def test_parallel_updates_decrease_free_energy_on_a_photo(chelsea):
    img = np.ascontiguousarray(chelsea[100:116, 200:220])
    for seed, prm in enumerate(PARAM_SETS.values()):
        p = _smooth_probs(3, 16, 20, seed, scale=1.0)
        a = crf.message_matrix(img, **prm)
        u = crf.unary_from_probs(p).double()
        f = np.array([crf.mean_field_free_energy(q, u, a)
                      for q in crf.dense_crf_exact(p, img, iterations=8, return_all=True, **prm)])
        assert np.all(np.diff(f) <= 1e-9 * np.abs(f[:-1])) and f[-1] < f[0]


# ---------------------------------------------------------------------------------------------
# the permutohedral lattice
# ---------------------------------------------------------------------------------------------

def test_lattice_structure(chelsea):
    f_app, f_sm = crf.crf_features(chelsea[:60, :80], 30., 13., 3.)
    for f in (f_app, f_sm):
        lat = crf.build_lattice(f)
        n, d = f.shape
        assert lat.vertex.shape == (n, d + 1) and lat.d == d
        assert torch.all(lat.weight >= -1e-6)
        assert torch.allclose(lat.weight.sum(1), torch.ones(n), atol=1e-5)
        # the d+1 vertices of a point's simplex are distinct
        assert torch.all(lat.vertex.sort(1).values.diff(1) > 0)
        assert lat.num_vertices == len(torch.unique(lat.vertex))
        # neighbours are symmetric: lo of v along j has v as its hi neighbour
        m = lat.num_vertices
        for j in range(d + 1):
            has = lat.blur_lo[j] < m
            assert torch.equal(lat.blur_hi[j][lat.blur_lo[j][has]], torch.arange(m)[has])
        # splat CSR entries: every (point, weight) once, grouped by vertex
        assert lat.splat_point.numel() == n * (d + 1)
        assert torch.isclose(lat.splat_weight.double().sum(), torch.tensor(float(n), dtype=torch.float64))


def test_lattice_filter_approximates_the_gaussian(chelsea):
    """2-D: the lattice's filter is c * (Gaussian filter) with c from the mass argument (within 2%).
    5-D on an image: only roughly, the pixels lie on a surface of the 5-D space."""
    f_app, f_sm = crf.crf_features(chelsea[100:140, 150:210], 30., 13., 3.)
    for f, tol in ((f_sm, 0.05), (f_app, 0.25)):
        lat = crf.build_lattice(f)
        v = torch.rand(f.shape[0], 2, generator=torch.Generator().manual_seed(0))
        out = crf.lattice_filter(v, lat).double()
        exact = crf.gaussian_kernel_matrix(f) @ v.double()
        gain = (out * exact).sum() / (exact * exact).sum()
        assert ((out / gain - exact).abs() / exact).median() < tol
        if f.shape[1] == 2:
            assert gain.item() == pytest.approx(crf._lattice_gain(2), rel=0.02)


@pytest.mark.parametrize("norm", ["pydensecrf", "paper"])
def test_lattice_agrees_with_exact_dense(chelsea, norm):
    prm = (crf.DEEPLAB_V1.as_kwargs() if norm == "pydensecrf" else
           dict(theta_alpha=20., theta_beta=13., theta_gamma=3., w_appearance=0.2, w_smoothness=0.3))
    agreements = []
    for k, (r, c) in enumerate(CROPS):
        img = np.ascontiguousarray(chelsea[r:r + 24, c:c + 32])
        p = _smooth_probs(5, 24, 32, k)
        qe = crf.dense_crf(p, img, method="exact", normalisation=norm, **prm)
        ql = crf.dense_crf(p, img, method="lattice", normalisation=norm, **prm)
        assert _agree(p, qe) < 0.8           # the CRF changes many labels: a real test
        agreements.append(_agree(ql, qe))
    assert min(agreements) >= 0.93 and np.mean(agreements) >= 0.96, agreements


# ---------------------------------------------------------------------------------------------
# against pydensecrf
# ---------------------------------------------------------------------------------------------

def test_same_as_pydensecrf_on_chelsea_with_deeplab_parameters(chelsea):
    h, w = chelsea.shape[:2]
    g = torch.Generator().manual_seed(0)
    coarse = torch.randn(21, h // 8 + 1, w // 8 + 1, generator=g) * 3
    p = torch.nn.functional.interpolate(coarse[None], size=(h, w), mode="bilinear",
                                        align_corners=False)[0].softmax(0)
    prm = crf.DEEPLAB_V1.as_kwargs()
    ref = _pydensecrf(p, chelsea, prm)
    ours = crf.dense_crf(p, chelsea, **prm)
    assert ours.shape == (21, h, w)
    assert _agree(ours, ref) >= 0.99
    assert (ours - ref).abs().mean() < 1e-6
    assert _agree(p, ref) < 0.9               # and the CRF did change the labels


def test_at_least_as_close_to_pydensecrf_as_exact_dense(chelsea):
    """pydensecrf's lattice is itself an approximation: exact dense mean field agrees with it on
    83-100% of labels (96-100% with DeepLab's parameters). Ours reproduces the library's approximation, so it agrees at least as well."""
    for name, prm in PARAM_SETS.items():
        for k, (r, c) in enumerate(CROPS[:3]):
            img = np.ascontiguousarray(chelsea[r:r + 24, c:c + 32])
            p = _smooth_probs(5, 24, 32, 10 + k)
            ref = _pydensecrf(p, img, prm)
            exact = crf.dense_crf(p, img, method="exact", **prm)
            ours = crf.dense_crf(p, img, **prm)
            assert _agree(ours, ref) >= max(_agree(exact, ref), 0.999), (name, r, c)


@pytest.mark.parametrize("name", ["coffee", "scene"])
def test_same_as_pydensecrf_on_other_images(name):
    if name == "scene":
        images, _ = sc.load_scenes("val")
        img = (images[0] * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    else:
        img = np.ascontiguousarray(sc.photo(name)[::3, ::3])
    h, w = img.shape[:2]
    for k, prm in enumerate([PARAM_SETS["pydensecrf_example"], PARAM_SETS["tight"]]):
        p = _smooth_probs(6, h, w, 20 + k, blur=7)
        ref = _pydensecrf(p, img, prm, iterations=3)
        ours = crf.dense_crf(p, img, iterations=3, **prm)
        assert _agree(ours, ref) >= 0.999 and (ours - ref).abs().mean() < 1e-6


# ---------------------------------------------------------------------------------------------
# lesson helpers
# ---------------------------------------------------------------------------------------------

def test_dense_crf_steps_and_kernel():
    images, _ = sc.load_scenes("val")
    img = (images[1] * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
    p = _smooth_probs(6, 128, 128, 5)
    out = crf.dense_crf_steps(p, img, (40, 70), iterations=4)
    assert out.q.shape == (5, 6, 128, 128) and out.labels.shape == (5, 128, 128)
    assert torch.allclose(out.q[-1], crf.dense_crf(p, img, iterations=4))
    assert torch.equal(out.labels, out.q.argmax(1))
    assert out.kernel[40, 70].item() == pytest.approx(10.0)              # w1 at the pixel itself
    assert out.kernel.max().item() == pytest.approx(10.0)
    same_colour = (img.float() - img[40, 70].float()).abs().sum(2) == 0
    # among pixels at the same distance band, same-coloured ones pull harder
    assert out.kernel[same_colour].mean() > out.kernel[~same_colour].mean()
    assert out.free_energy.shape == (5,) and out.free_energy[-1] < out.free_energy[0]


def test_coarse_probs_and_edge_snapping(chelsea):
    coarse = crf.coarse_probs(chelsea, n_clusters=4, stride=8)
    assert coarse.probs.shape == (4, 300, 451) and coarse.labels.shape == (300, 451)
    assert torch.allclose(coarse.probs.sum(0), torch.ones(300, 451), atol=1e-5)
    before = (coarse.probs.argmax(0) == coarse.labels).double().mean().item()
    q = crf.dense_crf(coarse.probs, chelsea, **crf.DEEPLAB_V1.as_kwargs())
    after = (q.argmax(0) == coarse.labels).double().mean().item()
    assert after > before + 0.01                      # the CRF snaps the blocky labels to colour edges
    assert torch.equal(crf.coarse_probs(chelsea).probs, coarse.probs)   # seeded


def test_grid_search_orders_by_score():
    images, masks = sc.load_scenes("val")
    imgs = (images[:2] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    onehot = torch.nn.functional.one_hot(masks[:2].clamp_max(5), 6).permute(0, 3, 1, 2).float()
    probs = (torch.nn.functional.avg_pool2d(onehot, 8, 8) * 4).softmax(1)
    probs = torch.nn.functional.interpolate(probs, size=(128, 128), mode="bilinear", align_corners=False)
    acc = lambda pred, m: (pred == m).double()[m != 255].mean().item()   # noqa: E731
    res = crf.crf_grid_search(probs, imgs, masks[:2], {"w_appearance": [0.0, 5.0], "theta_beta": [5.0, 20.0]},
                              acc, iterations=3)
    assert len(res) == 4 and [s for _, s in res] == sorted((s for _, s in res), reverse=True)
    prm, best = res[0]
    pred = torch.stack([crf.dense_crf(probs[i], imgs[i], iterations=3, **prm).argmax(0) for i in range(2)])
    assert best == pytest.approx(acc(pred, masks[:2]))
    assert prm["w_appearance"] == 5.0                  # the appearance kernel helps on these scenes


# ---------------------------------------------------------------------------------------------
# input errors
# ---------------------------------------------------------------------------------------------

def test_input_errors(chelsea):
    img = np.ascontiguousarray(chelsea[:10, :12])
    p = _smooth_probs(3, 10, 12, 0)
    with pytest.raises(ValueError, match=r"probs: expected a 3-D"):
        crf.dense_crf(p[None], img)
    with pytest.raises(ValueError, match="sum to 1"):
        crf.dense_crf(p * 2, img)
    with pytest.raises(ValueError, match=">= 0"):
        crf.dense_crf(p - p.min() * 0 - 0.5 * (p < 0.1), img)
    with pytest.raises(ValueError, match="C >= 2"):
        crf.dense_crf(torch.ones(1, 10, 12), img)
    with pytest.raises(TypeError, match="floating-point"):
        crf.dense_crf(p.argmax(0, keepdim=True).repeat(2, 1, 1), img)
    with pytest.raises(TypeError, match="uint8"):
        crf.dense_crf(p, img.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"image: expected shape \(None, None, 3\)"):
        crf.dense_crf(p, img[..., :2].copy())
    with pytest.raises(ValueError, match=r"image: expected shape \(10, 12, 3\) to match probs"):
        crf.dense_crf(p, np.ascontiguousarray(chelsea[:12, :10]))
    with pytest.raises(TypeError, match="image: expected an"):
        crf.dense_crf(p, img.tolist())
    with pytest.raises(ValueError, match="theta_alpha: expected a positive"):
        crf.dense_crf(p, img, theta_alpha=-1.)
    with pytest.raises(ValueError, match="theta_gamma: expected a positive"):
        crf.dense_crf(p, img, theta_gamma=0)
    with pytest.raises(ValueError, match="w_appearance"):
        crf.dense_crf(p, img, w_appearance=-2.)
    with pytest.raises(ValueError, match="iterations"):
        crf.dense_crf(p, img, iterations=-1)
    with pytest.raises(ValueError, match="method"):
        crf.dense_crf(p, img, method="fast")
    with pytest.raises(ValueError, match="normalisation"):
        crf.dense_crf(p, img, normalisation="symmetric")
    with pytest.raises(ValueError, match="max_pixels"):
        crf.dense_crf_exact(torch.full((2, 200, 200), 0.5), np.zeros((200, 200, 3), np.uint8))
    with pytest.raises(ValueError, match=r"pixel\[0\]"):
        crf.appearance_kernel(img, (10, 0))
    with pytest.raises(ValueError, match="features"):
        crf.build_lattice(torch.zeros(5, 0))
    with pytest.raises(ValueError, match="grid key"):
        crf.crf_grid_search(p[None], img[None], torch.zeros(1, 10, 12), {"sigma": [1]}, lambda a, b: 0.)


def test_numpy_and_torch_inputs_agree(chelsea):
    img = np.ascontiguousarray(chelsea[:20, :30])
    p = _smooth_probs(3, 20, 30, 1)
    a = crf.dense_crf(p, img)
    b = crf.dense_crf(p.numpy(), torch.from_numpy(img))
    assert torch.equal(a, b)
    assert crf.dense_crf(p, img, iterations=0).allclose(p, atol=1e-6)   # Q_0 = softmax(-U) = P


# ---------------------------------------------------------------------------------------------
# exercises (draft) and pictures
# ---------------------------------------------------------------------------------------------

def test_exercise_solutions_pass():
    from segcourse.exercises import lesson05 as ex
    for key, exercise in ex.EXERCISES.items():
        passed, lines = exercise.checker(exercise.solution())
        assert passed, (key, lines)


def _feedback(check, fn):
    passed, lines = check(fn)
    assert not passed
    return "\n".join(lines)


def test_exercise_mistakes_fail_with_hints_not_answers():
    import math
    from segcourse.exercises import lesson05 as ex
    potts = ex.EXERCISES["05.potts"].checker
    assert "other way round" in _feedback(potts, lambda c: torch.eye(c))
    assert "pydensecrf" in _feedback(potts, lambda c: -torch.eye(c))
    assert "shape" in _feedback(potts, lambda c: torch.ones(c))

    app = ex.EXERCISES["05.appearance_weight"].checker

    def no_colour(pi, pj, ii, ij, ta, tb, w1):
        return w1 * math.exp(-sum((a - b) ** 2 for a, b in zip(pi, pj)) / (2 * ta ** 2))

    def no_two(pi, pj, ii, ij, ta, tb, w1):
        dp = sum((a - b) ** 2 for a, b in zip(pi, pj))
        dc = sum((float(a) - float(b)) ** 2 for a, b in zip(ii, ij))
        return w1 * math.exp(-dp / ta ** 2 - dc / tb ** 2)
    fb = _feedback(app, no_colour)
    assert "theta_beta is what makes it stop at colour edges" in fb
    assert "2 theta^2" in _feedback(app, no_two)

    mf = ex.EXERCISES["05.mean_field_step"].checker
    good = ex.EXERCISES["05.mean_field_step"].solution()
    mu = lambda q: 1.0 - torch.eye(q.shape[1], dtype=q.dtype)   # noqa: E731
    assert "normalise" in _feedback(mf, lambda q, u, a: torch.exp(-u - (a @ q) @ mu(q).T))
    assert "not over pixels" in _feedback(mf, lambda q, u, a: torch.softmax(-u - (a @ q) @ mu(q).T, 0))
    assert "cost" in _feedback(mf, lambda q, u, a: torch.softmax(-u + (a @ q) @ mu(q).T, 1))
    assert "unary" in _feedback(mf, lambda q, u, a: torch.softmax(-(a @ q) @ mu(q).T, 1))
    assert "just softmax(-U)" in _feedback(mf, lambda q, u, a: torch.softmax(-u, 1))
    # pydensecrf's form softmax(-U + A Q) is the same update for Potts: accepted
    assert mf(lambda q, u, a: torch.softmax(-u + a @ q, 1))[0]
    assert mf(good)[0]
    # feedback never prints the expected numbers
    for key, check in ((k, e.checker) for k, e in ex.EXERCISES.items()):
        for wrong in (lambda *a: torch.zeros(3), lambda *a: 0.5):
            _, lines = check(wrong)
            text = " ".join(lines)
            assert "expected 0." not in text and "expected 1." not in text


def test_drawing_returns_updatable_artists():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from segcourse.draw import crf as drawing_crf
    images, _ = sc.load_scenes("val")
    img = (images[2] * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
    out = crf.dense_crf_steps(_smooth_probs(6, 128, 128, 2), img, (30, 90), iterations=3)
    fig, axes = plt.subplots(1, 6)
    base, heat, marker = drawing_crf.draw_crf_kernel(img, out.kernel, (30, 90), ax=axes[0])
    assert heat.get_array().shape == (128, 128, 4)
    assert tuple(marker.get_data()[0]) == (90,) and tuple(marker.get_data()[1]) == (30,)
    ims = drawing_crf.draw_crf_steps(out.labels, axes=axes[1:5])
    assert len(ims) == 4
    line = drawing_crf.draw_free_energy(out.free_energy, ax=axes[5])
    assert np.allclose(line.get_ydata(), out.free_energy.numpy())
    with pytest.raises(ValueError, match="axes"):
        drawing_crf.draw_crf_steps(out.labels, axes=axes[1:3])
    plt.close(fig)


# ------------------------------------------------------------------ the widget

def test_crf_explorer_updates_artists_in_place():
    import segcourse as sc
    rng = np.random.default_rng(0)
    img = np.zeros((24, 32, 3), np.uint8)
    img[:, 16:] = (200, 40, 40)
    img += rng.integers(0, 10, img.shape, dtype=np.uint8)
    p = torch.full((3, 24, 32), 0.2)
    p[0, :, :18], p[1, :, 18:] = 0.6, 0.6
    p /= p.sum(0, keepdim=True)
    w = sc.crf_explorer(img, p, iterations=2, pixel=(5, 6))
    it, ta, tb, tg, w1, w2, row, col = w.controls
    assert type(it).__name__ == "IntSlider" and all(not c.continuous_update for c in w.controls)
    ax_k, ax_0, ax_t, ax_f = w.figure.axes
    heat, last, line = ax_k.images[1], ax_t.images[0], ax_f.lines[0]
    ref = sc.dense_crf_steps(p, img, (5, 6), iterations=2, **sc.COURSE_CRF.as_kwargs())
    assert torch.equal(w.state["labels"], ref.labels) and torch.allclose(w.state["free_energy"], ref.free_energy)
    assert len(line.get_xdata()) == 3
    before_heat = np.asarray(heat.get_array()).copy()
    it.value = 4
    assert ax_t.images[0] is last and ax_f.lines[0] is line and len(ax_f.lines) == 1
    assert len(line.get_xdata()) == 5 and "after step 4" == ax_t.get_title()
    tb.value = 40.0
    ref = sc.dense_crf_steps(p, img, (5, 6), iterations=4, **{**sc.COURSE_CRF.as_kwargs(), "theta_beta": 40.0})
    assert torch.equal(w.state["labels"], ref.labels) and torch.allclose(w.state["kernel"], ref.kernel)
    assert not np.array_equal(before_heat, np.asarray(heat.get_array()))
    row.value, col.value = 20, 30
    assert ax_k.images[1] is heat and list(ax_k.lines[0].get_xdata()) == [30] and "pixel (20, 30)" in w.readout.value
    assert np.array_equal(np.asarray(last.get_array()), sc.colorize(w.state["labels"][-1].numpy()))
    assert not w.errors.outputs
    assert w._repr_mimebundle_()["text/plain"].startswith("<crf_explorer: iterations=4")


def test_crf_explorer_validates():
    import segcourse as sc
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(TypeError, match="image, probs"):
        sc.crf_explorer(img)
    with pytest.raises(ValueError, match="iterations"):
        sc.crf_explorer(img, torch.full((2, 8, 8), 0.5), iterations=11)
    with pytest.raises(ValueError, match="probs"):
        sc.crf_explorer(img, torch.full((2, 8, 8), 0.7))
    with pytest.raises(ValueError, match="pixel"):
        sc.crf_explorer(img, torch.full((2, 8, 8), 0.5), pixel=(8, 0))
