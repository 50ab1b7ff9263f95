"""A tiny Mask R-CNN (He et al. 2017, arXiv:1703.06870) that trains on 2 CPU cores (lesson 11).

It is torchvision's ``MaskRCNN`` class, every part sized for 128-px course scenes:

* backbone: :class:`~segcourse.models.common.SmallBackbone` (five conv-BN-ReLU stages, widths
  16/32/64/96/128, strides 2..32), its stride-8/16/32 outputs into an FPN of 64 channels
  (feature maps "0", "1", "2": 16x16, 8x8, 4x4 for a 128-px image);
* RPN: anchors (8, 16) / (32, 48) / (64, 128) px on the three levels x aspect ratios 0.5, 1, 2;
* RoI heads: 7x7 box RoIs -> two FC layers of 256 -> class scores and per-class box deltas;
  14x14 mask RoIs -> four 3x3 convs of 32 -> a 2x deconv -> per-class 28x28 mask logits;
* the RoI extractors are the course's :class:`~segcourse.ops.roi.MultiScaleRoIAlign` (lesson 10's
  ``roi_align`` / ``roi_pool``, checked equal to torchvision.ops), with FPN's level rule
  ``k = floor(4 + log2(sqrt(wh) / 64))`` (COCO's canonical 224 px would send every RoI of a
  128-px image to the finest level).

Images in: a list of (3, H, W) float tensors in [0, 1]; out (eval): torchvision's list of dicts
``boxes`` (K, 4), ``labels`` (K,) (class ids of ``CLASSES``, 1..5), ``scores`` (K,), ``masks``
(K, 1, H, W) probabilities.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict

import torch
from torch import nn

from .._validate import check_choice, check_float, check_int
from ..data.detection import DETECTION_TRAIN_SEED, detection_batch
from ..data.images import IMAGENET_MEAN, IMAGENET_STD
from ..data.scenes import NUM_CLASSES
from ..metrics import coco_ap
from ..ops.roi import MultiScaleRoIAlign
from ..seed import seed_everything
from .common import SmallBackbone

__all__ = ["MASK_RCNN_CONFIG", "FPNBackbone", "build_mask_rcnn", "roi_extractor", "set_roi_op",
           "train_mask_rcnn", "detect", "evaluate_mask_rcnn", "detection_scores",
           "mask_rcnn_losses_by_hand"]

#: The sizes every part of the course's Mask R-CNN is built with (see the module docstring).
MASK_RCNN_CONFIG = {
    "image_size": 128, "widths": (16, 32, 64, 96, 128), "fpn_channels": 64, "fpn_strides": (8, 16, 32),
    "anchor_sizes": ((8, 16), (32, 48), (64, 128)), "aspect_ratios": (0.5, 1.0, 2.0),
    "canonical_scale": 64, "canonical_level": 4, "box_roi": 7, "mask_roi": 14, "box_fc": 256,
    "mask_convs": (32, 32, 32, 32), "rpn_pre_nms": (1000, 500), "rpn_post_nms": (500, 250),
    "box_batch_per_image": 64, "detections_per_image": 50,
}


class FPNBackbone(nn.Module):
    """SmallBackbone's stride 8/16/32 stages -> a feature pyramid (Lin et al. 2017).

    forward: images (N, 3, H, W) normalised -> OrderedDict "0", "1", "2" of (N, 64, H/s, W/s) for
    s = 8, 16, 32 (top-down path: 1x1 lateral convs, nearest 2x upsampling, 3x3 output convs).
    ``out_channels`` is what torchvision's MaskRCNN reads.
    """

    def __init__(self, widths=MASK_RCNN_CONFIG["widths"], out_channels: int = MASK_RCNN_CONFIG["fpn_channels"]):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.body = SmallBackbone(widths=widths, output_stride=32)
        self.fpn = FeaturePyramidNetwork(list(self.body.widths[2:]), out_channels)
        self.out_channels = out_channels

    def forward(self, images: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        stages = self.body(images)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(stages[2:])))


def roi_extractor(output_size: int, op: str = "align", impl: str = "segcourse", levels=("0", "1", "2")):
    """The multi-scale RoI extractor of a head: ``op`` "align" (RoIAlign, sampling ratio 2,
    torchvision's ``aligned=False``) or "pool" (RoIPool); ``impl`` "segcourse" (lesson 10's ops)
    or "torchvision" (``torchvision.ops.MultiScaleRoIAlign``, "align" only). ``levels``: the FPN
    maps it may read ("0", "1", "2" = strides 8, 16, 32); one level = a single-scale head."""
    op = check_choice(op, "op", ("align", "pool"))
    impl = check_choice(impl, "impl", ("segcourse", "torchvision"))
    levels = list(levels)
    if not levels or any(lv not in ("0", "1", "2") for lv in levels):
        raise ValueError(f"levels: expected a non-empty subset of ('0', '1', '2'), got {levels}")
    kw = dict(canonical_scale=MASK_RCNN_CONFIG["canonical_scale"], canonical_level=MASK_RCNN_CONFIG["canonical_level"])
    if impl == "torchvision":
        if op != "align":
            raise ValueError("op: torchvision has no multi-scale RoIPool; use impl='segcourse' for op='pool'")
        from torchvision.ops import MultiScaleRoIAlign as TVMultiScaleRoIAlign
        return TVMultiScaleRoIAlign(levels, output_size, 2, **kw)
    return MultiScaleRoIAlign(levels, output_size, 2, op=op, **kw)


def build_mask_rcnn(num_classes: int = NUM_CLASSES, op: str = "align", impl: str = "segcourse",
                    levels=("0", "1", "2"), seed: int = 0):
    """The course's Mask R-CNN (a ``torchvision.models.detection.MaskRCNN``), weights from ``seed``.

    num_classes: including background (6 for the course scenes). op / impl / levels: the box and
    mask RoI extractors (:func:`roi_extractor`). Returns the model in train mode.
    """
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    num_classes = check_int(num_classes, "num_classes", min_value=2)
    seed = check_int(seed, "seed", min_value=0)
    cfg = MASK_RCNN_CONFIG
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        anchors = AnchorGenerator(cfg["anchor_sizes"], (cfg["aspect_ratios"],) * len(cfg["anchor_sizes"]))
        size = cfg["image_size"]
        model = MaskRCNN(
            FPNBackbone(), num_classes=num_classes, min_size=size, max_size=size,
            image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD), rpn_anchor_generator=anchors,
            rpn_pre_nms_top_n_train=cfg["rpn_pre_nms"][0], rpn_pre_nms_top_n_test=cfg["rpn_pre_nms"][1],
            rpn_post_nms_top_n_train=cfg["rpn_post_nms"][0], rpn_post_nms_top_n_test=cfg["rpn_post_nms"][1],
            box_roi_pool=roi_extractor(cfg["box_roi"], "align", "torchvision", levels),
            mask_roi_pool=roi_extractor(cfg["mask_roi"], "align", "torchvision", levels),
            box_batch_size_per_image=cfg["box_batch_per_image"], box_detections_per_img=cfg["detections_per_image"])
        # (lead's fix, 09:23) MaskRCNN silently ignores representation_size: the box head was 3136 -> 1024 -> 1024
        # (4.3 M parameters). Build the 2 FC of 256 the config says (model 1.55 M parameters).
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
        model.roi_heads.box_head = TwoMLPHead(cfg["fpn_channels"] * cfg["box_roi"] ** 2, cfg["box_fc"])
        model.roi_heads.box_predictor = FastRCNNPredictor(cfg["box_fc"], num_classes)
        from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
        model.roi_heads.mask_head = MaskRCNNHeads(cfg["fpn_channels"], list(cfg["mask_convs"]), 1)
        model.roi_heads.mask_predictor = MaskRCNNPredictor(cfg["mask_convs"][-1], cfg["mask_convs"][-1], num_classes)
    # MaskRCNN's constructor accepts only torchvision's extractor class; the heads just call it
    return set_roi_op(model, op, impl)


def set_roi_op(model, op: str, impl: str = "segcourse"):
    """Swap the box and mask RoI extractors of a built model (same levels, no weights change)."""
    cfg = MASK_RCNN_CONFIG
    levels = model.roi_heads.box_roi_pool.featmap_names
    model.roi_heads.box_roi_pool = roi_extractor(cfg["box_roi"], op, impl, levels)
    model.roi_heads.mask_roi_pool = roi_extractor(cfg["mask_roi"], op, impl, levels)
    model.roi_op = op
    return model


def train_mask_rcnn(model, iterations: int, *, seed: int = 0, batch_size: int = 8, lr: float = 2e-3,
                    warmup: int = 100, weight_decay: float = 1e-4, data_seed: int | None = None,
                    threads: int = 2, progress: bool = True, desc: str = "Mask R-CNN", checkpoints=(),
                    on_checkpoint=None, batch_fn=None) -> dict:
    """Train ``model`` for ``iterations`` steps on fresh scenes (:func:`detection_batch`).

    AdamW, linear warm-up over ``warmup`` steps then cosine decay to 0. ``data_seed`` (default
    ``DETECTION_TRAIN_SEED + seed``) fixes the scenes and their order, so runs with the same seed
    see the same batches whatever their RoI op. ``checkpoints``: iterations after which
    ``on_checkpoint(model, iteration, seconds)`` is called (the model is put in eval mode for the
    call, then back). ``batch_fn(step, batch_size, data_seed) -> (images, targets)`` replaces
    :func:`detection_batch` (e.g. lesson 12's 24-class scenes). Returns ``{"loss": [per-step total], "losses": {name: [per-step]},
    "seconds": float, "iterations": int}``; leaves the model in eval mode.
    """
    iterations = check_int(iterations, "iterations", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    lr = check_float(lr, "lr", min_value=0.0)
    warmup = check_int(warmup, "warmup", min_value=0)
    seed_everything(seed, threads=threads)
    data_seed = DETECTION_TRAIN_SEED + seed if data_seed is None else data_seed
    from tqdm.auto import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, iterations - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    history = {"loss": [], "losses": {}, "seconds": 0.0, "iterations": 0}
    marks = sorted(set(int(c) for c in checkpoints))
    start, spent = time.perf_counter(), 0.0
    model.train()
    bar = tqdm(total=iterations, desc=desc, disable=not progress, leave=True)
    for step in range(iterations):
        images, targets = (batch_fn or detection_batch)(step, batch_size, data_seed)
        losses = model(images, targets)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history["loss"].append(float(loss.detach()))
        for k, v in losses.items():
            history["losses"].setdefault(k, []).append(float(v.detach()))
        history["iterations"] = step + 1
        bar.update(1)
        if step % 10 == 9:
            bar.set_postfix(loss=f"{sum(history['loss'][-10:]) / 10:.3f}")
        if marks and step + 1 == marks[0]:
            marks.pop(0)
            spent += time.perf_counter() - start
            model.eval()
            on_checkpoint(model, step + 1, spent)
            model.train()
            start = time.perf_counter()
    bar.close()
    history["seconds"] = spent + time.perf_counter() - start
    model.eval()
    return history


@torch.no_grad()
def detect(model, images, batch_size: int = 16, mask_threshold: float = 0.5) -> list:
    """Run an eval-mode Mask R-CNN on images (N, 3, H, W) or a list of (3, H, W) floats in [0, 1].

    Returns one dict per image: torchvision's ``boxes`` (K, 4), ``labels`` (K,), ``scores`` (K,),
    ``mask_probs`` (K, H, W) float and ``masks`` (K, H, W) bool = ``mask_probs >= mask_threshold``.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected shape (N, 3, H, W), got {tuple(images.shape)}")
        images = list(images)
    if not isinstance(images, (list, tuple)) or not all(isinstance(i, torch.Tensor) and i.ndim == 3 for i in images):
        raise TypeError("images: expected a (N, 3, H, W) tensor or a list of (3, H, W) tensors")
    mask_threshold = check_float(mask_threshold, "mask_threshold", min_value=0.0, max_value=1.0)
    was_training = model.training
    model.eval()
    out = []
    for b in range(0, len(images), batch_size):
        for d in model(list(images[b:b + batch_size])):
            probs = d.pop("masks")[:, 0]
            d["mask_probs"] = probs
            d["masks"] = probs >= mask_threshold
            out.append(d)
    model.train(was_training)
    return out


def mask_rcnn_losses_by_hand(model, images: list, targets: list) -> dict:
    """The five Mask R-CNN losses of one batch recomputed from the model's own intermediate
    tensors, next to torchvision's values (lesson 11). Deterministic given torch's RNG state.

    Returns ``{name: (ours, torchvision's)}`` for loss_objectness, loss_rpn_box_reg,
    loss_classifier, loss_box_reg and loss_mask.
    """
    import torch.nn.functional as F

    model.train()
    state = torch.get_rng_state()
    theirs = {k: float(v) for k, v in model(images, targets).items()}
    torch.set_rng_state(state)

    # -- replay the forward pass, keeping every intermediate -------------------------------------
    imgs, tgts = model.transform(images, targets)
    feats = model.backbone(imgs.tensors)
    rpn = model.rpn
    fl = list(feats.values())
    objectness, deltas = rpn.head(fl)
    anchors = rpn.anchor_generator(imgs, fl)
    n = len(anchors)
    per_level = [o[0].numel() for o in objectness]
    from torchvision.models.detection.rpn import concat_box_prediction_layers
    obj_flat, deltas_flat = concat_box_prediction_layers(objectness, deltas)
    proposals = rpn.box_coder.decode(deltas_flat.detach(), anchors).view(n, -1, 4)
    boxes, _ = rpn.filter_proposals(proposals, obj_flat.detach(), imgs.image_sizes, per_level)
    labels, matched = rpn.assign_targets_to_anchors(anchors, tgts)
    reg_targets = rpn.box_coder.encode(matched, anchors)
    pos, neg = rpn.fg_bg_sampler(labels)
    pos = torch.where(torch.cat(pos))[0]
    neg = torch.where(torch.cat(neg))[0]
    sampled = torch.cat([pos, neg])
    lab = torch.cat(labels)
    # RPN objectness: binary cross-entropy over the sampled anchors (positives = 1, negatives = 0)
    z, y = obj_flat.flatten()[sampled], lab[sampled]
    ours = {"loss_objectness": float((torch.clamp(z, min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean())}
    # RPN box: smooth L1 (beta 1/9) of the positives' deltas, summed, divided by the sampled count
    d = deltas_flat[pos] - torch.cat(reg_targets)[pos]
    beta = 1 / 9
    sl1 = torch.where(d.abs() < beta, 0.5 * d ** 2 / beta, d.abs() - 0.5 * beta)
    ours["loss_rpn_box_reg"] = float(sl1.sum() / sampled.numel())

    rh = model.roi_heads
    props, matched, cls_labels, reg_t = rh.select_training_samples(boxes, tgts)
    box_feats = rh.box_head(rh.box_roi_pool(feats, props, imgs.image_sizes))
    class_logits, box_regression = rh.box_predictor(box_feats)
    cl = torch.cat(cls_labels)
    # classification: softmax cross-entropy over the K+1 classes of every sampled RoI
    logp = class_logits.log_softmax(1)
    ours["loss_classifier"] = float(-logp[torch.arange(len(cl)), cl].mean())
    # box regression: smooth L1 (beta 1/9) of the *true class's* 4 deltas of the positives / all RoIs
    rt = torch.cat(reg_t)
    p = torch.where(cl > 0)[0]
    br = box_regression.reshape(len(cl), -1, 4)[p, cl[p]]
    d = br - rt[p]
    sl1 = torch.where(d.abs() < beta, 0.5 * d ** 2 / beta, d.abs() - 0.5 * beta)
    ours["loss_box_reg"] = float(sl1.sum() / cl.numel())
    # mask: per-pixel sigmoid BCE of the ground-truth class's 28 x 28 logits, positives only
    pos_props, mask_labels, pos_matched = [], [], []
    for pr, lb, mi in zip(props, cls_labels, matched):
        keep = torch.where(lb > 0)[0]
        pos_props.append(pr[keep])
        mask_labels.append(lb[keep])
        pos_matched.append(mi[keep])
    logits = rh.mask_predictor(rh.mask_head(rh.mask_roi_pool(feats, pos_props, imgs.image_sizes)))
    m = logits.shape[-1]
    from torchvision.models.detection.roi_heads import project_masks_on_boxes
    mask_t = torch.cat([project_masks_on_boxes(t["masks"], pr, mi, m)
                        for t, pr, mi in zip(tgts, pos_props, pos_matched)])
    ml = torch.cat(mask_labels)
    z = logits[torch.arange(len(ml)), ml]
    ours["loss_mask"] = float(F.binary_cross_entropy_with_logits(z, mask_t))
    return {k: (ours[k], theirs[k]) for k in theirs}


def detection_scores(detections: list, targets: list) -> dict:
    """COCO mask and box AP of :func:`detect`'s output against targets as
    :func:`segcourse.data.detection.instance_targets`: ``{"mask": coco_ap(segm), "box":
    coco_ap(bbox)}`` (each with AP, AP50, AP75, AP_small/medium/large and per_class)."""
    if not isinstance(targets, (list, tuple)) or not isinstance(detections, (list, tuple)) \
            or len(targets) != len(detections):
        raise ValueError("targets: expected one target dict per detection dict")
    gt = [{"masks": t["masks"].bool(), "boxes": t["boxes"], "classes": t["labels"]} for t in targets]
    pr = [{"masks": d["masks"], "boxes": d["boxes"], "classes": d["labels"], "scores": d["scores"]} for d in detections]
    return {"mask": coco_ap(gt, pr, "segm"), "box": coco_ap(gt, pr, "bbox")}


def evaluate_mask_rcnn(model, images, targets: list, batch_size: int = 16) -> dict:
    """:func:`detection_scores` of ``model``'s detections on images (N, 3, H, W)."""
    if not isinstance(targets, (list, tuple)) or len(targets) != len(images):
        raise ValueError(f"targets: expected one target dict per image ({len(images)}), got "
                         f"{len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__}")
    return detection_scores(detect(model, images, batch_size), targets)
