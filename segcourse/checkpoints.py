"""The shipped checkpoints: how each was made, how to load it, and the command that remakes it.

    python -m segcourse.checkpoints --list
    python -m segcourse.checkpoints tiny_fcn      # retrain one (deterministic, seeded)
    python -m segcourse.checkpoints --all

A checkpoint file holds ``{"state_dict": ..., "meta": {...}}`` and loads with
``torch.load(..., weights_only=True)``: plain tensors and numbers, no pickled code.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ._validate import check_choice
from .voc import data_dir

__all__ = ["CHECKPOINTS", "CheckpointSpec", "register_checkpoint", "checkpoint_path", "load_checkpoint", "retrain", "save_checkpoint",
           "train_checkpoint"]


@dataclass(frozen=True)
class CheckpointSpec:
    """How to build a model and how to train it (``train(model) -> meta dict``)."""
    build: Callable[[], nn.Module]
    train: Callable[[nn.Module, bool], dict]
    description: str
    used_in: tuple = field(default_factory=tuple)


def _build_tiny_fcn() -> nn.Module:
    from .models import TinyFCN
    from .scenes import CLASSES
    return TinyFCN(num_classes=len(CLASSES), width=16)


def _train_tiny_fcn(model: nn.Module, progress: bool = True) -> dict:
    from .train import train_segmentation
    from .voc import load_scenes
    images, masks = load_scenes("train")
    hist = train_segmentation(model, images, masks, epochs=TINY_FCN_EPOCHS, batch_size=16, lr=3e-3,
                              seed=0, progress=progress, desc="tiny_fcn")
    return {"epochs": TINY_FCN_EPOCHS, "final_loss": hist["loss"][-1], "seconds": hist["seconds"]}


#: Epochs of the shipped tiny_fcn (lesson 00 reruns a few of them live).
TINY_FCN_EPOCHS = 30

CHECKPOINTS: dict[str, CheckpointSpec] = {
    "tiny_fcn": CheckpointSpec(_build_tiny_fcn, _train_tiny_fcn,
                               "TinyFCN (output stride 8, dilated) on the course scenes", ("00",)),
}


def register_checkpoint(name: str, spec: CheckpointSpec) -> None:
    """Add a checkpoint to the registry (modules of later lessons call this at import)."""
    CHECKPOINTS[name] = spec


def checkpoint_path(name: str) -> Path:
    """Where checkpoint ``name`` lives: ``data/checkpoints/<name>.pt``."""
    check_choice(name, "name", tuple(CHECKPOINTS))
    return data_dir() / "checkpoints" / f"{name}.pt"


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict | None = None) -> Path:
    """Save ``model``'s weights and a metadata dict of plain numbers and strings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": dict(meta or {})}, path)
    return path


def load_checkpoint(name: str) -> nn.Module:
    """Build model ``name`` and load its shipped weights (``weights_only=True``); eval mode."""
    spec = CHECKPOINTS[check_choice(name, "name", tuple(CHECKPOINTS))]
    path = checkpoint_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segcourse.checkpoints {name}`")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = spec.build()
    model.load_state_dict(blob["state_dict"])
    model.meta = blob.get("meta", {})
    return model.eval()


def train_checkpoint(name: str, progress: bool = True) -> nn.Module:
    """Train checkpoint ``name``'s model from its seed with its shipped recipe (nothing written);
    ``model.meta`` holds what the recipe reports (epochs, seconds, val mIoU, ...)."""
    spec = CHECKPOINTS[check_choice(name, "name", tuple(CHECKPOINTS))]
    from .seed import seed_everything
    seed_everything(0)
    model = spec.build()
    model.meta = spec.train(model, progress)
    return model


def retrain(name: str, progress: bool = True) -> Path:
    """Train checkpoint ``name`` from its seed and overwrite the shipped file."""
    model = train_checkpoint(name, progress)
    return save_checkpoint(model, checkpoint_path(name), model.meta)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segcourse.checkpoints", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="checkpoints to retrain")
    parser.add_argument("--all", action="store_true", help="retrain every checkpoint")
    parser.add_argument("--list", action="store_true", help="list the checkpoints")
    args = parser.parse_args(argv)
    if args.list or not (args.names or args.all):
        for name, spec in CHECKPOINTS.items():
            print(f"{name:12s} lessons {','.join(spec.used_in):6s} {spec.description}")
        return 0
    for name in (list(CHECKPOINTS) if args.all else args.names):
        path = retrain(name)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    # Run as `python -m`, this file is a second module (__main__) with an empty registry; the
    # package's own segcourse.checkpoints holds the checkpoints every lesson module registered.
    from segcourse.checkpoints import main as _main
    raise SystemExit(_main())
