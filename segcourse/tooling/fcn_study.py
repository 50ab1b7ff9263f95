"""Lesson 04's study: FCN from a pre-trained classifier vs from scratch (the paper's central move,
convolutionalize a classifier and fine-tune it, measured at course scale).

Every run builds ``FCN(variant)`` after ``seed_everything(seed)`` and trains it with the checkpoint
recipe (``train_fcn``: FCN_EPOCHS epochs over the same 4,800 scenes in the order of ``seed``); the
two inits differ only in where the weights start: ``classifier`` copies the shipped
``fcn_classifier`` (``init_from_classifier``), ``scratch`` keeps the random ones. Equal iterations,
same data order. Scores on the 480 val scenes of ``scheme_val_set`` (the 80 shipped ones first):
mIoU after every epoch (the learning curve), and at the end mIoU, boundary F (2 px) and the pixel
accuracy within 3 px of a boundary. One torch thread per process (run two side by side on 2 cores).

    python -m segcourse.tooling.fcn_study --runs fcn8s:classifier:0 fcn8s:scratch:0 --out /tmp/a.jsonl
    python -m segcourse.tooling.fcn_study --runs fcn32s:classifier:0 --out /tmp/b.jsonl --write-checkpoints
    python -m segcourse.tooling.fcn_study --merge /tmp/a.jsonl /tmp/b.jsonl   # -> data/results/fcn_transfer.json

``--write-checkpoints`` saves a seed-0 ``classifier`` run as the shipped ``fcn32s`` / ``fcn16s`` /
``fcn8s`` (what ``./course retrain`` makes). Retrain ``fcn_classifier`` first.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .._paths import data_dir
from ..checkpoints import (FCN_RESULTS, checkpoint_path, record_checksum, save_checkpoint, scheme_val_set,
                           train_fcn)
from ..data.scenes import CLASSES
from ..metrics import band_accuracy, boundary_fscore, confusion_matrix, mean_iou
from ..models.fcn import FCN, FCN_VARIANTS
from ..seed import seed_everything
from ..train import predict

INITS = ("classifier", "scratch")


def run(variant: str, init: str, seed: int, write_checkpoint: bool = False) -> dict:
    seed_everything(seed, threads=1)
    model = FCN(variant, num_classes=len(CLASSES))
    images, masks, _ = scheme_val_set()
    curve = []

    def on_epoch(epoch, m):
        pred = predict(m, images)
        curve.append({"epoch": epoch, "miou": mean_iou(confusion_matrix(pred, masks, num_classes=len(CLASSES))),
                      "miou_val80": mean_iou(confusion_matrix(pred[:80], masks[:80], num_classes=len(CLASSES)))})
        print(f"  fcn{variant}:{init}:{seed} epoch {epoch}: val mIoU {curve[-1]['miou']:.3f}", flush=True)

    meta = train_fcn(model, seed, init, progress=False, on_epoch=on_epoch)
    pred = predict(model, images)
    rec = {"net": f"fcn{variant}", "variant": variant, **meta, "curve": curve, "val_scenes": int(images.shape[0]),
           "miou": mean_iou(confusion_matrix(pred, masks, num_classes=len(CLASSES))),
           "boundary_f": boundary_fscore(pred, masks, tolerance=2), "band3_accuracy": band_accuracy(pred, masks, 3)}
    if write_checkpoint and seed == 0 and init == "classifier":
        name = f"fcn{variant}"
        path = save_checkpoint(model, checkpoint_path(name), meta)
        record_checksum(name)
        rec["checkpoint_bytes"] = path.stat().st_size
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.fcn_study", description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="*", default=[], help="fcn<variant>:<init>:<seed>, e.g. fcn8s:scratch:1")
    p.add_argument("--out", help="JSON lines file to append each run to")
    p.add_argument("--write-checkpoints", action="store_true")
    p.add_argument("--merge", nargs="*", help="JSON lines files -> data/results/fcn_transfer.json")
    a = p.parse_args(argv)
    if a.merge:
        runs = [json.loads(line) for f in a.merge for line in Path(f).read_text().splitlines() if line.strip()]
        runs = list({(r["net"], r["init"], r["seed"]): r for r in runs}.values())   # a rerun replaces
        runs.sort(key=lambda r: (r["net"], r["init"], r["seed"]))
        out = data_dir() / FCN_RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"val_scenes": runs[0]["val_scenes"] if runs else None, "runs": runs},
                                  indent=1) + "\n")
        print(f"wrote {out} ({len(runs)} runs)")
        return 0
    if not a.out:
        p.error("--out is required with --runs")
    specs = []
    for spec in a.runs:
        parts = spec.split(":")
        if len(parts) != 3 or parts[0][3:] not in FCN_VARIANTS or parts[1] not in INITS or not parts[2].isdigit():
            p.error(f"--runs: expected fcn<{'|'.join(FCN_VARIANTS)}>:<{'|'.join(INITS)}>:<seed>, got {spec!r}")
        specs.append((parts[0][3:], parts[1], int(parts[2])))
    for variant, init, seed in specs:
        rec = run(variant, init, seed, a.write_checkpoints)
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"fcn{variant} {init} seed {seed}: {rec['seconds']:.0f} s, val mIoU {rec['miou']:.3f}, "
              f"boundary F {rec['boundary_f']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
