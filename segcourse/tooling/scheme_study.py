"""Lesson 07's study: DeepLab v3's four ways to use context (Fig. 2), v2's ASPP and "train at output
stride 16, infer at 8", each net trained with the checkpoint recipe (``train_scheme``: same budget,
data order and flips per seed) at several seeds and scored on ``scheme_val_set`` by object size.

    python -m segcourse.tooling.scheme_study --seeds 0 --out /tmp/seed0.jsonl [--write-checkpoints]
    python -m segcourse.tooling.scheme_study --seeds 1 --out /tmp/seed1.jsonl
    python -m segcourse.tooling.scheme_study --merge /tmp/seed0.jsonl /tmp/seed1.jsonl [more.jsonl ...]

One JSON line per run (appended as each finishes); ``--merge`` writes the lesson's results file,
``data/results/lesson07_schemes.json``. ``--write-checkpoints`` saves the seed-0 nets as the shipped
checkpoints (what ``./course retrain NAME`` makes, in half precision). Run each process with one thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from .._paths import data_dir
from ..checkpoints import (CHECKPOINTS, SCHEME_NETS, SCHEME_RESULTS, checkpoint_path, load_checkpoint, record_checksum, save_checkpoint,
                           scheme_val_set, size_scores, train_scheme, _val_miou)
from ..data.scenes import CLASSES
from ..models.common import feature_costs
from ..models.deeplab import build_scheme, with_output_stride

RESULTS = SCHEME_RESULTS


def one_thread() -> None:
    """One torch thread for this process (the recipe itself trains with one: ``train_scheme``)."""
    torch.set_num_threads(1)


def run(name: str, seed: int, write_checkpoint: bool = False) -> dict:
    scheme, kwargs = SCHEME_NETS[name]
    model = build_scheme(scheme, num_classes=len(CLASSES), seed=seed, **kwargs)
    meta = train_scheme(model, seed, progress=False, desc=name)
    costs = feature_costs(model, (1, 3, 128, 128))
    images, masks, inst = scheme_val_set()
    rec = {"net": name, "scheme": scheme, "seed": seed, **meta, "params": costs["params"], "macs": costs["macs"],
           "val80_miou": _val_miou(model), "val": size_scores(model, images, masks, inst)}
    if name == "deeplab_spp_os16":
        dense = with_output_stride(model, 8)
        rec["val_os8"] = size_scores(dense, images, masks, inst)
        rec["val80_miou_os8"] = _val_miou(dense)
        rec["macs_os8"] = feature_costs(dense, (1, 3, 128, 128))["macs"]
        # the pool that lost its stride dropped instead of kept at stride 1 (what the layers then see changes)
        rec["val_os8_dropped"] = size_scores(with_output_stride(model, 8, keep_pools=False), images, masks, inst)
    if write_checkpoint and seed == 0 and name in CHECKPOINTS:
        path = save_checkpoint(model, checkpoint_path(name), meta, half=CHECKPOINTS[name].half)
        record_checksum(name)
        rec["checkpoint_bytes"] = path.stat().st_size
        rec["checkpoint_val80_miou"] = _val_miou(load_checkpoint(name))
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m segcourse.tooling.scheme_study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    p.add_argument("--nets", nargs="*", default=list(SCHEME_NETS))
    p.add_argument("--out", help="JSON lines file to append each run to")
    p.add_argument("--write-checkpoints", action="store_true")
    p.add_argument("--scenes", type=int, help="train on this many scenes instead of SCHEME_SCENES (a smaller budget; "
                                              "the recorded file also holds 96-iteration runs: --scenes 768)")
    p.add_argument("--merge", nargs="*", help="JSON lines files to merge into data/" + RESULTS)
    a = p.parse_args(argv)
    one_thread()
    if a.merge:
        runs = [json.loads(line) for f in a.merge for line in Path(f).read_text().splitlines() if line.strip()]
        out = data_dir() / RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"threads": 1, "runs": runs}, indent=1) + "\n")
        print(f"wrote {out} ({len(runs)} runs)")
        return 0
    if a.scenes:
        from .. import checkpoints
        checkpoints.SCHEME_SCENES = a.scenes
    scheme_val_set()
    for seed in a.seeds:
        for name in a.nets:
            t = time.perf_counter()
            rec = run(name, seed, a.write_checkpoints)
            print(f"{name} seed {seed}: val mIoU {rec['val']['miou']:.3f} ({time.perf_counter() - t:.0f} s, "
                  f"{rec['seconds_per_step']:.3f} s/step)", flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
