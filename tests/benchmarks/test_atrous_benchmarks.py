"""Benchmarks of lessons 06-08 (``./course bench``; not part of the unit tests).

* The footprint widget: one update (new unit or new layer stack -> frame -> composited photo ->
  set_data, set_bounds -> ``canvas.draw()``, Agg, 4 x 4 in) on a 224 x 224 photo; target: median <= 50 ms.
* Smoke training of v3's Figure 2 schemes and the GCN segmenter on :class:`SmallBackbone`:
  60 Adam steps, batch 8, on the first 64 training scenes, one thread. Records seconds per
  iteration and the loss of the first and last 5 steps; asserts only that the loss falls (this
  is *not* the comparison of the schemes, which needs real schedules).
* Output stride 32 / 16 / 8: feature-map size, MACs and activation memory of VGG-16 (DeepLab's
  atrous conversion) and ResNet-50 (torchvision's ``replace_stride_with_dilation``) on 513 x 513.
"""
import itertools
import statistics
import time

import pytest
import torch
import torch.nn.functional as F

import segcourse as sc
from segcourse.models import SCHEMES, atrous_vgg16, build_scheme, feature_costs
from segcourse.ops.atrous import footprint_frame

pytest.importorskip("pytest_benchmark")

STACKS = [[1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2], [1, 2, 5, 1, 2, 5], [1, 2, 4, 8, 16], [(3, 1, 2), (3, 1, 2), 2, 2, 4]]


def test_footprint_widget_update(benchmark):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from segcourse.draw.atrous import draw_sampling_footprint, footprint_overlay, set_box
    torch.set_num_threads(2)
    photo = sc.prepare_photo(sc.photo("chelsea"), 224).permute(1, 2, 0).numpy()   # once, as a widget would
    fig, ax = plt.subplots(figsize=(4, 4))
    art = draw_sampling_footprint(footprint_frame(STACKS[0], (224, 224), (112, 112)), photo, ax=ax)
    fig.canvas.draw()
    moves = itertools.cycle([(stack, (r, c)) for stack in STACKS for r, c in ((112, 112), (40, 180), (200, 30))])

    def one_update():
        stack, unit = next(moves)
        frame = footprint_frame(stack, (224, 224), unit)
        art["image"].set_data(footprint_overlay(photo, frame["counts"]))
        set_box(art["rf"], frame["rf_box"])
        set_box(art["erf"], frame["erf_box"])
        fig.canvas.draw()

    benchmark.pedantic(one_update, rounds=30, iterations=1, warmup_rounds=3)
    compute = []
    for stack, unit in itertools.islice(moves, 30):
        t = time.perf_counter()
        footprint_overlay(photo, footprint_frame(stack, (224, 224), unit)["counts"])
        compute.append(time.perf_counter() - t)
    benchmark.extra_info.update(compute_median_ms=round(1000 * statistics.median(compute), 2),
                                threads=torch.get_num_threads())
    plt.close(fig)
    assert benchmark.stats.stats.median <= 0.050


@pytest.fixture(scope="module")
def smoke_data():
    images, masks = sc.load_scenes("train")
    return images[:64], masks[:64]


def _smoke_train(model, images, masks, iters=60, batch=8, lr=3e-3, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    order, losses, times = torch.empty(0, dtype=torch.long), [], []
    for _ in range(iters):
        if order.numel() < batch:
            order = torch.cat([order, torch.randperm(images.shape[0], generator=g)])
        idx, order = order[:batch], order[batch:]
        t = time.perf_counter()
        loss = F.cross_entropy(model(images[idx]), masks[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
        losses.append(loss.item())
    return losses, times


@pytest.mark.parametrize("name", list(SCHEMES))
def test_scheme_smoke_training(benchmark, smoke_data, name):
    torch.set_num_threads(1)
    images, masks = smoke_data
    model = build_scheme(name, num_classes=len(sc.CLASSES), seed=0)
    out = {}
    benchmark.pedantic(lambda: out.update(zip(("losses", "times"), _smoke_train(model, images, masks))),
                       rounds=1, iterations=1)
    c = feature_costs(model, (1, 3, 128, 128))
    first, last = statistics.mean(out["losses"][:5]), statistics.mean(out["losses"][-5:])
    benchmark.extra_info.update(sec_per_iter=round(statistics.median(out["times"][1:]), 3),
                                loss_first5=round(first, 3), loss_last5=round(last, 3), params=c["params"],
                                mmacs_per_image=round(c["macs"] / 1e6, 1), threads=1, batch=8, iters=60)
    assert last < first


@pytest.mark.parametrize("arch", ["vgg16", "resnet50"])
def test_output_stride_costs(benchmark, arch):
    import torchvision

    def nets():
        if arch == "vgg16":
            return {os: atrous_vgg16(os, "deeplab", 1) for os in (32, 16, 8)}   # with LargeFOV's fc6, fc7
        out = {}
        for os, dil in ((32, [False, False, False]), (16, [False, False, True]), (8, [False, True, True])):
            r = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=dil)
            out[os] = torch.nn.Sequential(*list(r.children())[:-2])
        return out

    costs = {}
    benchmark.pedantic(lambda: costs.update({os: feature_costs(n, (1, 3, 513, 513)) for os, n in nets().items()}),
                       rounds=1, iterations=1)
    for os, c in costs.items():
        benchmark.extra_info[f"os{os}"] = (f"map {c['out_shape'][-1]}, {c['macs'] / 1e9:.1f} GMACs, "
                                           f"{c['activation_bytes'] / 2**20:.0f} MiB activations")
    assert costs[32]["macs"] < costs[16]["macs"] < costs[8]["macs"]
