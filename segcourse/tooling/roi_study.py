"""Lesson 11's study: Mask R-CNN with RoIAlign vs RoIPool (the paper's Table 2c/2d at course scale).

Every run trains a net of ``ROI_STUDY_NETS`` with the checkpoint recipe (``train_mask_rcnn``: same
seed, same scenes in the same order, same iterations; only the op in the box and mask RoI
extractors differs) and scores it on the 80 shipped val scenes and on 400 more rendered from a
seed no run trains on. One torch thread per process (run two side by side on 2 cores).

    python -m segcourse.tooling.roi_study --runs mrcnn_align:0 mrcnn_pool:0 --out /tmp/a.jsonl
    python -m segcourse.tooling.roi_study --runs mrcnn_pool:0:860 --out /tmp/b.jsonl    # equal time: 1000 x ratio
    python -m segcourse.tooling.roi_study --measure-ratio      # RoIAlign / RoIPool s per iteration
    python -m segcourse.tooling.roi_study --merge /tmp/a.jsonl /tmp/b.jsonl --equal-time-ratio 0.86
    python -m segcourse.tooling.roi_study --merge data/results/roi_study.json /tmp/more.jsonl   # add runs

``name:seed[:iterations]`` (default ``ROI_STUDY_ITERATIONS``); the equal-time run gives RoIPool
``ROI_STUDY_ITERATIONS x ratio`` iterations (rounded to tens), the ratio measured by
``--measure-ratio``; ``--write-checkpoints`` saves seed-0
runs of a name in ``CHECKPOINTS`` at the recipe's iterations as the shipped file (what
``./course retrain NAME`` makes). ``--merge`` writes ``data/results/roi_study.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .._paths import data_dir
from ..checkpoints import (CHECKPOINTS, ROI_STUDY_ITERATIONS, ROI_STUDY_NETS, ROI_STUDY_RESULTS, ROI_STUDY_VAL_EXTRA,
                           build_study_net, checkpoint_path, load_checkpoint, record_checksum, save_checkpoint,
                           _train_mask_rcnn_recipe)
from ..data.detection import detection_batch, detection_val_set
from ..models.mask_rcnn import detect, detection_scores, evaluate_mask_rcnn, set_roi_op


def score(model, images, targets) -> dict:
    """``val80`` (the shipped val scenes) and ``val`` (those plus the extra ones)."""
    dets = detect(model, images)
    return {"val80": detection_scores(dets[:80], targets[:80]), "val": detection_scores(dets, targets)}


def iteration_ratio(steps: int = 6) -> float:
    """RoIAlign seconds / RoIPool seconds per training iteration (median over ``steps``), the two nets
    built from seed 0 and stepped alternately on the same batches (learning rate 0), one thread:
    what sets the equal-time run's iterations (``ROI_STUDY_ITERATIONS`` x this ratio)."""
    import copy
    import statistics
    import time

    torch.set_num_threads(1)
    align = build_study_net("mrcnn_align", 0)
    nets = {"align": align, "pool": set_roi_op(copy.deepcopy(align), "pool")}
    opts = {k: torch.optim.SGD(n.parameters(), lr=0.0) for k, n in nets.items()}
    times = {k: [] for k in nets}
    for step in range(steps + 1):
        images, targets = detection_batch(step, 8)
        for k in (("align", "pool") if step % 2 else ("pool", "align")):
            net = nets[k].train()
            t = time.perf_counter()
            loss = sum(net(images, targets).values())
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            if step:                              # the first step warms up
                times[k].append(time.perf_counter() - t)
    return statistics.median(times["align"]) / statistics.median(times["pool"])


def run(name: str, seed: int, iterations: int, write_checkpoint: bool = False) -> dict:
    torch.set_num_threads(1)
    model = build_study_net(name, seed)
    meta = _train_mask_rcnn_recipe(iterations)(model, progress=False, seed=seed)
    images, targets = detection_val_set(ROI_STUDY_VAL_EXTRA)
    rec = {"net": name, "seed": seed, "op": ROI_STUDY_NETS[name][0], "levels": list(ROI_STUDY_NETS[name][1]),
           **meta, "seconds_per_iteration": meta["seconds"] / meta["iterations"], **score(model, images, targets)}
    if write_checkpoint and seed == 0 and name in CHECKPOINTS and iterations == ROI_STUDY_ITERATIONS:
        path = save_checkpoint(model, checkpoint_path(name), meta, half=CHECKPOINTS[name].half)
        record_checksum(name)
        rec["checkpoint_bytes"] = path.stat().st_size
        rec["checkpoint_val80_mask_ap"] = evaluate_mask_rcnn(load_checkpoint(name), images[:80], targets[:80])["mask"]["AP"]
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.roi_study", description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="*", default=[], help="name:seed[:iterations]")
    p.add_argument("--out", help="JSON lines file to append each run to")
    p.add_argument("--write-checkpoints", action="store_true")
    p.add_argument("--merge", nargs="*", help="JSON lines files -> data/results/roi_study.json")
    p.add_argument("--measure-ratio", action="store_true", help="print iteration_ratio() and exit")
    p.add_argument("--equal-time-ratio", type=float, default=None,
                   help="with --merge: RoIAlign seconds / RoIPool seconds per iteration, measured with interleaved "
                        "iterations on the same batches (it sets the equal-time run's iterations: 1000 x ratio)")
    a = p.parse_args(argv)
    if a.measure_ratio:
        print(f"RoIAlign / RoIPool seconds per iteration: {iteration_ratio():.3f}")
        return 0
    if a.merge:
        runs, ratio = [], a.equal_time_ratio
        for f in a.merge:                      # JSON lines of runs, or an earlier results file
            if f.endswith(".json"):
                earlier = json.loads(Path(f).read_text())
                runs += earlier["runs"]
                ratio = earlier.get("equal_time_ratio") if ratio is None else ratio
            else:
                runs += [json.loads(line) for line in Path(f).read_text().splitlines() if line.strip()]
        runs = list({(r["net"], r["seed"], r["iterations"]): r for r in runs}.values())   # a rerun replaces
        runs.sort(key=lambda r: (r["net"], r["seed"], r["iterations"]))
        out = data_dir() / ROI_STUDY_RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"val_extra": ROI_STUDY_VAL_EXTRA, "equal_time_ratio": ratio,
                                   "runs": runs}, indent=1) + "\n")
        print(f"wrote {out} ({len(runs)} runs)")
        return 0
    if not a.out:
        p.error("--out is required with --runs")
    for spec in a.runs:
        parts = spec.split(":")
        name, seed = parts[0], int(parts[1])
        iterations = int(parts[2]) if len(parts) > 2 else ROI_STUDY_ITERATIONS
        rec = run(name, seed, iterations, a.write_checkpoints)
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        m, b = rec["val"]["mask"], rec["val"]["box"]
        print(f"{name} seed {seed} {iterations} it {rec['seconds']:.0f} s: mask AP {m['AP']:.3f} "
              f"AP50 {m['AP50']:.3f} AP75 {m['AP75']:.3f} box AP {b['AP']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
