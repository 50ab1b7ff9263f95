"""Lesson 12's study: Learning to Segment Every Thing in miniature (agnostic / transfer / oracle
mask heads under partial supervision, and the probe of the transfer's class specificity).

Every run builds :func:`~segcourse.models.lse.build_lse_mask_rcnn` from ``seed`` (one detector, the
three mask heads) and trains it with the checkpoint recipe (``train_lse``: scenes of dataset seed
``LSE_TRAIN_SEED + seed`` in a fixed order; equal iterations for the three heads by construction).
It is scored on ``LSE_VAL_SCENES`` validation scenes (dataset seed ``LSE_VAL_SEED``, never trained
on): mask AP of each head over all classes, A and B (mean per-class AP), box AP, and the probe (the
B classes' transferred mask weights replaced by their A relative's, by an unrelated A class's, by
the mean of A's), and the same heads and probe on ground-truth boxes (``gt_box_iou``: mask IoU, no
detection errors). ``curve``: B mask AP and IoU of each head on the first 100 val scenes during training.
One torch thread per process (run two side by side on 2 cores).

    python -m segcourse.tooling.lse_study --runs lse:0 --out /tmp/a.jsonl --write-checkpoints
    python -m segcourse.tooling.lse_study --runs lse:1 --out /tmp/b.jsonl
    python -m segcourse.tooling.lse_study --merge /tmp/a.jsonl /tmp/b.jsonl

``--rescore-checkpoint OLD.json``: score the shipped ``lse`` checkpoint (the seed-0 run, half
precision) on ``--val`` scenes and write it as the seed-0 record, keeping the training record of
OLD.json (an earlier results file): how the seed-0 run, scored first on 100 scenes, got its 400.

``name:seed[:iterations]`` (default ``LSE_ITERATIONS``). ``--write-checkpoints`` saves the seed-0
run of ``lse`` at the recipe's iterations as the shipped file (what ``./course retrain lse``
makes). ``--merge`` writes ``data/results/lse_study.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from .._paths import data_dir
from ..checkpoints import (CHECKPOINTS, LSE_ITERATIONS, LSE_STUDY_RESULTS, LSE_VAL_SCENES, _train_lse_recipe,
                           checkpoint_path, load_checkpoint, record_checksum, save_checkpoint)
from ..data.shapes import SHAPE_CLASSES, SHAPES_B
from ..models.lse import (build_lse_mask_rcnn, detect_lse, evaluate_lse, gt_box_mask_iou, lse_val_set, probe_mappings,
                          swapped_transfer)

#: The study's nets: name -> build_lse_mask_rcnn keyword arguments.
LSE_STUDY_NETS = {"lse": {}, "lse_linear": {"transfer": "linear"}, "lse_cls": {"source": "cls"},
                  "lse_box": {"source": "box"}}
PROBES = ("relative", "unrelated", "mean_A")


def probe(model, images, targets) -> dict:
    """B mask AP of the transfer head with B's mask weights swapped (:data:`PROBES`)."""
    out = {}
    for kind in PROBES:
        with swapped_transfer(model, probe_mappings(kind)):
            ev = evaluate_lse(model, images, targets, heads=("transfer",))["transfer"]
        out[kind] = {"AP_B": ev["AP_B"], "per_class": {c: ev["per_class"].get(c) for c in SHAPES_B}}
    return out


def score(model, images, targets) -> dict:
    dets = detect_lse(model, images)
    ev = evaluate_lse(model, images, targets, detections=dets)
    box = ev.pop("box")
    return {"heads": ev, "box": box, "probe": probe(model, images, targets),
            "gt_box_iou": gt_box_mask_iou(model, images, targets)}


def run(name: str, seed: int, iterations: int, write_checkpoint: bool = False, curve=(700, 1400),
        val_scenes: int = LSE_VAL_SCENES, progress_file: str | None = None) -> dict:
    torch.set_num_threads(1)
    model = build_lse_mask_rcnn(seed=seed, **LSE_STUDY_NETS[name])
    small = lse_val_set(min(100, val_scenes))
    points = []

    def point(m, it, seconds):
        ev, iou = evaluate_lse(m, *small), gt_box_mask_iou(m, *small, probes=())
        return {"iteration": it, "seconds": round(seconds, 1), **{h: ev[h]["AP_B"] for h in m.roi_heads.heads},
                "box_B": ev["box"]["AP_B"], **{f"iou_B_{h}": iou[h]["B"] for h in m.roi_heads.heads}}

    def on_checkpoint(m, it, seconds):
        points.append(point(m, it, seconds))
        if progress_file:   # a run cut short still leaves its curve
            with open(progress_file, "a") as f:
                f.write(json.dumps({"net": name, "seed": seed, **points[-1]}) + "\n")
        print(f"  {name}:{seed} it {it}: " + " ".join(f"{k} {v:.3f}" for k, v in points[-1].items()
                                                       if isinstance(v, float)), flush=True)

    marks = tuple(c for c in curve if c < iterations)
    meta = _train_lse_recipe(iterations)(model, progress=False, seed=seed, checkpoints=marks,
                                          on_checkpoint=on_checkpoint)
    t = time.perf_counter()
    images, targets = lse_val_set(val_scenes)
    saved = {}
    if write_checkpoint and seed == 0 and name in CHECKPOINTS and iterations == LSE_ITERATIONS:
        path = save_checkpoint(model, checkpoint_path(name), meta, half=CHECKPOINTS[name].half)   # first: the
        record_checksum(name)                                                                      # slow part follows
        back = gt_box_mask_iou(load_checkpoint(name), images, targets, probes=())   # half precision holds?
        saved = {"checkpoint_bytes": path.stat().st_size,
                 "checkpoint_gt_box_iou_B": {h: back[h]["B"] for h in model.roi_heads.heads}}
    rec = {"net": name, "seed": seed, **LSE_STUDY_NETS[name], **meta, "val_scenes": val_scenes,
           "seconds_per_iteration": meta["seconds"] / meta["iterations"], **score(model, images, targets), **saved}
    points.append(point(model, iterations, meta["seconds"]))
    rec["curve"] = points
    rec["eval_seconds"] = round(time.perf_counter() - t, 1)
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.lse_study", description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="*", default=[], help="name:seed[:iterations]")
    p.add_argument("--out", help="JSON lines file to append each run to")
    p.add_argument("--write-checkpoints", action="store_true")
    p.add_argument("--merge", nargs="*", help="JSON lines files -> data/results/lse_study.json")
    p.add_argument("--val", type=int, default=LSE_VAL_SCENES, help="validation scenes (smoke runs: fewer)")
    p.add_argument("--curve", type=int, nargs="*", default=[700, 1400], help="iterations of the B AP curve")
    p.add_argument("--rescore-checkpoint", metavar="OLD_JSON", help="score the shipped lse checkpoint as the seed-0 run")
    a = p.parse_args(argv)
    if a.rescore_checkpoint:
        if not a.out:
            p.error("--out is required with --rescore-checkpoint")
        torch.set_num_threads(1)
        old = next(r for r in json.loads(Path(a.rescore_checkpoint).read_text())["runs"]
                   if r["net"] == "lse" and r["seed"] == 0)
        t = time.perf_counter()
        images, targets = lse_val_set(a.val)
        rec = {**old, "val_scenes": a.val, **score(load_checkpoint("lse"), images, targets),
               "eval_seconds": round(time.perf_counter() - t, 1),
               "note": f"trained by this tool (seed 0); scored on {a.val} val scenes from the shipped half-precision "
                       "checkpoint (--rescore-checkpoint); the curve's points are on the first 100"}
        rec.pop("val100_transfer_AP", None)
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        h = rec["heads"]
        print("lse seed 0 (checkpoint): B mask AP " + " ".join(f"{k} {h[k]['AP_B']:.3f}" for k in h), flush=True)
        return 0
    if a.merge:
        runs = [json.loads(line) for f in a.merge for line in Path(f).read_text().splitlines() if line.strip()]
        runs.sort(key=lambda r: (r["net"], r["seed"], r["iterations"]))
        out = data_dir() / LSE_STUDY_RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"val_scenes": LSE_VAL_SCENES, "classes": list(SHAPE_CLASSES), "runs": runs},
                                  indent=1) + "\n")
        print(f"wrote {out} ({len(runs)} runs)")
        return 0
    if not a.out:
        p.error("--out is required with --runs")
    for spec in a.runs:
        parts = spec.split(":")
        name, seed = parts[0], int(parts[1])
        if name not in LSE_STUDY_NETS:
            p.error(f"unknown net {name!r}; expected one of {sorted(LSE_STUDY_NETS)}")
        iterations = int(parts[2]) if len(parts) > 2 else LSE_ITERATIONS
        rec = run(name, seed, iterations, a.write_checkpoints, tuple(a.curve), a.val, a.out + ".curve")
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        h = rec["heads"]
        print(f"{name} seed {seed} {iterations} it {rec['seconds']:.0f} s: B mask AP "
              + " ".join(f"{k} {h[k]['AP_B']:.3f}" for k in h) + " | probe "
              + " ".join(f"{k} {v['AP_B']:.3f}" for k, v in rec["probe"].items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
