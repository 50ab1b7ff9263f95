"""Lesson 08's study (Large Kernel Matters, arXiv:1703.02719, at course scale): train every net of
``segcourse.checkpoints.LK_NETS`` with lesson 08's recipe at the given seeds, score each on the study's
480 val scenes, and record the results.

    python -m segcourse.tooling.large_kernel_study --runs lk_gcn15:0 lk_conv15:0 --work /tmp/lk
    python -m segcourse.tooling.large_kernel_study --probe /tmp/lk/lk_gcn15_s0.pt --work /tmp/lk
    python -m segcourse.tooling.large_kernel_study --merge --work /tmp/lk   # -> data/results/large_kernels.json

Each run writes ``<work>/<name>_s<seed>.json`` (and ``.pt``, half precision: a seed-0 ``.pt`` is
what ``./course retrain <name>`` writes), so runs can go in parallel processes. Per run: mIoU, boundary
F-score (tolerance 2 px) and pixel accuracy within 3 px of a class boundary, the head's parameters and
multiply-accumulates, and the effective receptive field of the centre score unit (side of the centred
square holding 90 % of the gradient mass, on the input and on the 16 x 16 feature map), averaged over
the first ERF_IMAGES val scenes.

The probe (``--probe``): the paper's k sweep is a change of the head on a 16 x 16 map; on a frozen
backbone of a trained study net, only heads (:data:`PROBE_HEADS`) train, PROBE_STEPS steps each,
seeds 0 and 1: a sweep that costs seconds per head instead of minutes per net.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .._paths import data_dir
from ..checkpoints import LK_NETS, build_large_kernel_net, large_kernel_val_set, save_checkpoint, train_large_kernel
from ..data.scenes import CLASSES
from ..metrics import band_accuracy, boundary_fscore, confusion_matrix, mean_iou
from ..models.common import feature_costs
from ..models.gcn import score_erf
from ..ops.receptive_field import mass_square_side
from ..seed import seed_everything
from ..ops.labels import IGNORE_INDEX
from ..train import predict

ERF_IMAGES = 32
RESULTS = "large_kernels.json"


def results_path() -> Path:
    """``data/results/large_kernels.json``: the recorded study lesson 08 shows."""
    return data_dir() / "results" / RESULTS


def score(model, images, masks) -> dict:
    """The study's scores of a trained net on (images, masks)."""
    pred = predict(model, images)
    erf = score_erf(model, images[:ERF_IMAGES])
    fin, ffe = erf["input"].numpy(), erf["features"].numpy()
    r, c = erf["unit"]
    head = feature_costs(model.head, (1, model.backbone.widths[-1], 16, 16))
    br = feature_costs(model.br, (1, len(CLASSES), 16, 16))
    return {"miou": mean_iou(confusion_matrix(pred, masks, num_classes=len(CLASSES))),
            "boundary_f": boundary_fscore(pred, masks, tolerance=2),
            "band3_accuracy": band_accuracy(pred, masks, 3),
            "head_params": head["params"] + br["params"], "head_macs": head["macs"] + br["macs"],
            "params": sum(p.numel() for p in model.parameters()),
            "erf90_input": mass_square_side(fin, *erf["centre"]), "erf90_features": mass_square_side(ffe, r, c)}


def run(name: str, seed: int, work: Path) -> dict:
    torch.set_num_threads(1)
    seed_everything(seed)
    model = build_large_kernel_net(name)
    meta = train_large_kernel(model, seed, progress=False, desc=name)
    images, masks = large_kernel_val_set()
    t = time.perf_counter()
    out = {"name": name, "seed": seed, **LK_NETS[name], **meta, **score(model, images, masks)}
    out["eval_seconds"] = time.perf_counter() - t
    work.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, work / f"{name}_s{seed}.pt", meta, half=True)
    (work / f"{name}_s{seed}.json").write_text(json.dumps(out, indent=1))
    return out


def merge(work: Path) -> Path:
    runs = [json.loads(p.read_text()) for p in sorted(work.glob("lk_*_s*.json"))]
    probes = [r for p in sorted(work.glob("probe_*.json")) for r in json.loads(p.read_text())]
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"val_scenes": int(large_kernel_val_set()[0].shape[0]), "erf_images": ERF_IMAGES,
                                "runs": runs,
                                "probe": {"steps": PROBE_STEPS, "batch_size": PROBE_BATCH, "runs": probes}}, indent=1))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.large_kernel_study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="*", default=[], help="NAME:SEED pairs (NAME a key of LK_NETS)")
    p.add_argument("--work", default="/tmp/large_kernel_study")
    p.add_argument("--merge", action="store_true", help=f"collect the runs into data/results/{RESULTS}")
    p.add_argument("--probe", nargs="*", default=[], help="study .pt files whose frozen backbone the probe heads train on")
    a = p.parse_args(argv)
    work = Path(a.work)
    for spec in a.runs:
        name, seed = spec.split(":")
        out = run(name, int(seed), work)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}), flush=True)
    for path in a.probe:
        rows = probe(Path(path))
        work.mkdir(parents=True, exist_ok=True)
        (work / f"probe_{Path(path).stem}.json").write_text(json.dumps(rows, indent=1))
    if a.merge:
        print("wrote", merge(work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# -- the k sweep on frozen features ------------------------------------------------------------------
#: Heads of the probe: (head, k) pairs trained on the frozen 16 x 16 feature maps of a trained net.
PROBE_HEADS = [("conv", 1)] + [("gcn", k) for k in (3, 7, 11, 15)] + [("conv", k) for k in (3, 7, 11, 15)] + \
              [("stack", k) for k in (7, 15)]
PROBE_STEPS = 640
PROBE_BATCH = 8


@torch.no_grad()
def _features(model, images, batch_size: int = 32) -> torch.Tensor:
    model.eval()
    return torch.cat([model.backbone(images[i:i + batch_size])[-1] for i in range(0, len(images), batch_size)])


def probe(backbone_from: Path, seeds=(0, 1), heads=PROBE_HEADS) -> list:
    """Train only a head (``large_kernel_head``) on the frozen backbone of the net saved at
    ``backbone_from`` (a study ``.pt``), PROBE_STEPS steps of PROBE_BATCH scenes of
    ``fcn_training_set``, Adam 3e-3 one-cycle, seeded data order and head init; score val mIoU."""
    from ..checkpoints import fcn_training_set
    from ..models.gcn import large_kernel_head
    from ..models.common import upsample_to
    from ..train import fit
    import torch.nn.functional as F
    torch.set_num_threads(1)
    blob = torch.load(backbone_from, map_location="cpu", weights_only=True)
    name = Path(backbone_from).stem.rsplit("_s", 1)[0]
    net = build_large_kernel_net(name)
    net.load_state_dict(blob["state_dict"])
    images, masks = fcn_training_set()
    n = PROBE_STEPS * PROBE_BATCH
    feats = _features(net, images[:n])
    vi, vm = large_kernel_val_set()
    vfeats = _features(net, vi)
    out = []
    for seed in seeds:
        for head_name, k in heads:
            seed_everything(seed)
            head = large_kernel_head(head_name, feats.shape[1], len(CLASSES), k)
            hist = fit(head, feats, masks[:n], lambda x, y: F.cross_entropy(upsample_to(head(x), y.shape[-2:]), y,
                                                                           ignore_index=IGNORE_INDEX),
                       epochs=1, batch_size=PROBE_BATCH, lr=3e-3, seed=seed, flip=False, progress=False)
            with torch.no_grad():
                pred = torch.cat([upsample_to(head(vfeats[i:i + 64]), vm.shape[-2:]).argmax(1)
                                  for i in range(0, len(vfeats), 64)])
            r = {"backbone": name, "seed": seed, "head": head_name, "k": k,
                 "head_params": sum(p.numel() for p in head.parameters()),
                 "miou": mean_iou(confusion_matrix(pred, vm, num_classes=len(CLASSES))),
                 "seconds": hist["seconds"]}
            out.append(r)
            print(json.dumps(r), flush=True)
    return out
