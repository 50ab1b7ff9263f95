"""A small, seeded training loop with a progress bar, and batched prediction.

Pure tensor code: the loop takes tensors already in memory (the course data fits in RAM).
"""
from __future__ import annotations

import time

import torch
from torch import nn
import torch.nn.functional as F

from ._validate import as_tensor, check_float, check_images, check_int
from .ops.labels import IGNORE_INDEX
from .seed import seed_everything

__all__ = ["fit", "train_segmentation", "predict", "predict_proba"]


def train_segmentation(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, *, epochs: int,
                       batch_size: int = 16, lr: float = 3e-3, weight_decay: float = 1e-4,
                       seed: int = 0, ignore_index: int = IGNORE_INDEX, flip: bool = True,
                       progress: bool = True, desc: str = "training", on_epoch=None, threads: int = 2) -> dict:
    """Train ``model`` with Adam and pixel-wise cross-entropy, deterministically.

    images: (N, 3, H, W) float in [0, 1]; masks: (N, H, W) int64 class ids (``ignore_index`` is
    skipped by the loss). Each epoch visits the images in a seeded random order; ``flip`` adds
    seeded horizontal flips. The learning rate follows a cosine schedule to zero.

    Returns a history dict: ``loss`` (per epoch mean), ``seconds`` (wall time), ``steps``.
    """
    images = check_images(images, min_value=0.0, max_value=1.0)
    masks = paired_masks(images, masks)
    return fit(model, images, masks,
               lambda x, y: F.cross_entropy(model(x), y, ignore_index=ignore_index),
               epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
               flip=flip, progress=progress, desc=desc, on_epoch=on_epoch, threads=threads)


def paired_masks(images: torch.Tensor, masks) -> torch.Tensor:
    """Check that ``masks`` are (N, H, W) int class maps matching ``images`` (N, C, H, W); returns int64."""
    masks = as_tensor(masks, "masks", kind="int")
    if masks.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"masks: expected shape (N, H, W) = {(images.shape[0], *images.shape[2:])} "
                         f"to match images {tuple(images.shape)}, got {tuple(masks.shape)}")
    return masks.long()


def fit(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn, *, epochs: int,
        batch_size: int = 16, lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0,
        flip: bool = True, progress: bool = True, desc: str = "training", on_epoch=None, threads: int = 2) -> dict:
    """The seeded loop every course trainer shares: Adam, one-cycle schedule, tqdm progress bar.

    ``on_epoch(epoch, model)``, if given, is called after each epoch (1, 2, ...) with the model in
    eval mode (e.g. to score it for a learning curve; it draws nothing from the training's random
    stream, so the run is the same with or without it); training resumes in train mode. ``threads``:
    torch's CPU threads (``seed_everything``), part of the recipe: another count may differ in the
    last bits.

    inputs: (N, 3, H, W); targets: (N, ...) whose last axis is the image's x axis (``flip``
    mirrors both, with a seeded coin per image). ``loss_fn(x_batch, y_batch) -> scalar loss``.
    Each epoch visits the images in a seeded random order. Returns ``{"loss": [per-epoch mean],
    "seconds": float, "steps": int}`` and leaves the model in eval mode.
    """
    epochs = check_int(epochs, "epochs", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    lr = check_float(lr, "lr", min_value=0.0)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable (x, y) -> loss, got {type(loss_fn).__name__}")
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(f"on_epoch: expected a callable (epoch, model) or None, got {type(on_epoch).__name__}")
    if targets.shape[0] != inputs.shape[0]:
        raise ValueError(f"targets: expected {inputs.shape[0]} entries to match inputs, got {targets.shape[0]}")
    gen = seed_everything(seed, threads=threads)
    from tqdm.auto import tqdm

    n = inputs.shape[0]
    steps_per_epoch = (n + batch_size - 1) // batch_size
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.15)
    history = {"loss": [], "seconds": 0.0, "steps": 0}
    start = time.perf_counter()
    model.train()
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress, leave=True)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x, y = inputs[idx], targets[idx]
            if flip:
                f = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(f.view(-1, *[1] * (x.ndim - 1)), x.flip(-1), x)
                y = torch.where(f.view(-1, *[1] * (y.ndim - 1)), y.flip(-1), y)
            loss = loss_fn(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            history["steps"] += 1
            bar.update(1)
        history["loss"].append(total / n)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
        if on_epoch is not None:
            model.eval()
            with torch.no_grad():
                on_epoch(epoch + 1, model)
            model.train()
    bar.close()
    model.eval()
    history["seconds"] = time.perf_counter() - start
    return history


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 32, forward=None) -> torch.Tensor:
    """Softmax class probabilities: images (N, 3, H, W) float -> (N, C, h, w) float, in batches.

    forward: the method to call (default ``model`` itself, e.g. ``model.forward_dense``).
    """
    images = check_images(images)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    model.eval()
    forward = model if forward is None else forward
    out = [forward(images[i:i + batch_size]).softmax(1) for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)


def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Per-pixel labels: images (N, 3, H, W) float -> (N, H, W) int64 (argmax of the scores)."""
    return predict_proba(model, images, batch_size).argmax(1)
