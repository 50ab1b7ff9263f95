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
from ..checkpoints import LK_NETS, LK_RESULTS, LK_PROBE_BATCH, LK_PROBE_STEPS, build_large_kernel_net, large_kernel_val_set, save_checkpoint, train_large_kernel
from ..data.scenes import CLASSES
from ..metrics import band_accuracy, boundary_fscore, confusion_matrix, mean_iou
from ..models.common import feature_costs, upsample_to
from ..models.gcn import score_erf
from ..ops.receptive_field import mass_square_side
from ..seed import seed_everything
from ..ops.labels import IGNORE_INDEX
from ..train import predict

ERF_IMAGES = 32


def results_path() -> Path:
    """``data/results/large_kernels.json``: the recorded study lesson 08 shows."""
    return data_dir() / LK_RESULTS


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
                                "probe": {"steps": LK_PROBE_STEPS, "batch_size": LK_PROBE_BATCH, "runs": probes}}, indent=1))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.large_kernel_study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="*", default=[], help="NAME:SEED pairs (NAME a key of LK_NETS)")
    p.add_argument("--work", default="/tmp/large_kernel_study")
    p.add_argument("--merge", action="store_true", help=f"collect the runs into data/{LK_RESULTS}")
    p.add_argument("--probe", nargs="*", default=[], help="study .pt files whose frozen backbone the probe heads train on")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1], help="the probe's seeds")
    a = p.parse_args(argv)
    work = Path(a.work)
    for spec in a.runs:
        name, seed = spec.split(":")
        out = run(name, int(seed), work)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}), flush=True)
    for path in a.probe:
        work.mkdir(parents=True, exist_ok=True)
        tag = "_".join(map(str, a.seeds))
        probe(Path(path), seeds=a.seeds, work=work, out_file=work / f"probe_{Path(path).stem}_seeds{tag}.json")
    if a.merge:
        print("wrote", merge(work))
    return 0



# -- the k sweep on frozen features ------------------------------------------------------------------
#: Heads of the probe: (head, k) pairs trained on the frozen 16 x 16 feature maps of a trained net.
PROBE_HEADS = [("gcn", 15), ("conv", 15), ("stack", 15), ("conv", 1), ("gcn", 3), ("gcn", 7), ("gcn", 11),
               ("conv", 7), ("stack", 7)]


def probe(backbone_from: Path, seeds=(0, 1), heads=PROBE_HEADS, work: Path | None = None, out_file: Path | None = None) -> list:
    """Train only the head of each LargeKernelNet in ``heads`` on the frozen backbone of the net saved
    at ``backbone_from`` (a study ``.pt``), with ``segcourse.checkpoints.train_head_on_features`` (the
    recipe of the shipped ``lk_head_*`` nets); seeds set head init and data order. Scores: val mIoU and
    the head's effective field on the 16 x 16 map (centre unit, ERF_IMAGES val scenes). With ``work``,
    seed-0 nets are saved there as ``head_<backbone>_<head><k>.pt`` (half precision)."""
    from ..checkpoints import LK_PROBE_BATCH, LK_PROBE_STEPS, fcn_training_set, frozen_features, train_head_on_features
    from ..models.gcn import LargeKernelNet
    torch.set_num_threads(1)
    blob = torch.load(backbone_from, map_location="cpu", weights_only=True)
    name = Path(backbone_from).stem.rsplit("_s", 1)[0]
    net = build_large_kernel_net(name)
    net.load_state_dict(blob["state_dict"])
    images, masks = fcn_training_set()
    n = LK_PROBE_STEPS * LK_PROBE_BATCH
    feats = frozen_features(net, images[:n])
    vi, vm = large_kernel_val_set()
    vfeats = frozen_features(net, vi)
    out = []
    for seed in seeds:
        for head_name, k in heads:
            seed_everything(seed)
            model = LargeKernelNet(head_name, k, num_classes=len(CLASSES))
            model.backbone.load_state_dict(net.backbone.state_dict())
            meta = train_head_on_features(model, feats, masks[:n], seed, progress=False)
            with torch.no_grad():
                pred = torch.cat([upsample_to(model.br(model.head(vfeats[i:i + 64])), vm.shape[-2:]).argmax(1)
                                  for i in range(0, len(vfeats), 64)])
            f = vfeats[:ERF_IMAGES].clone().requires_grad_(True)
            model.head(f)[:, :, 8, 8].sum().backward()
            erf = f.grad.abs().sum(1).mean(0).double().numpy()
            r = {"backbone": name, "seed": seed, "head": head_name, "k": k,
                 "erf90_features": mass_square_side(erf, 8, 8),
                 "head_params": sum(p.numel() for p in model.head.parameters()),
                 "miou": mean_iou(confusion_matrix(pred, vm, num_classes=len(CLASSES))),
                 "seconds": meta["seconds"]}
            out.append(r)
            print(json.dumps(r), flush=True)
            if out_file is not None:                      # after every head: a partial sweep is still a record
                Path(out_file).write_text(json.dumps(out, indent=1))
            if work is not None and seed == 0:
                save_checkpoint(model, Path(work) / f"head_{name}_{head_name}{k}.pt", meta, half=True)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
