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
from ..metrics import coco_ap, coco_ap_from_ious, greedy_match, mask_ious
from ..ops.roi import MultiScaleRoIAlign
from ..seed import seed_everything
from .common import SmallBackbone

__all__ = ["MASK_RCNN_CONFIG", "FPNBackbone", "build_mask_rcnn", "roi_extractor", "set_roi_op",
           "train_mask_rcnn", "iteration_seconds", "detect", "positive_rois", "evaluate_mask_rcnn", "detection_scores", "paste_mask_like_torchvision", "mask_rcnn_stages",
           "detection_candidates", "filter_detections", "mask_rcnn_shapes", "match_detections", "threshold_frame",
           "threshold_context", "scene_detections",
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


def iteration_seconds(model, steps: int = 3, batch_size: int = 8) -> list:
    """Wall-clock seconds of ``steps`` training iterations of ``model`` (forward, backward and an
    optimiser step with learning rate 0, so the weights do not change) on batches
    ``detection_batch(1..steps)``, after one warm-up iteration. Runs on ``model`` itself (train
    mode changes its BatchNorm statistics: pass a copy); leaves it in eval mode. Returns the list
    of ``steps`` durations."""
    steps = check_int(steps, "steps", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    times = []
    for step in range(steps + 1):
        images, targets = detection_batch(step, batch_size)
        t = time.perf_counter()
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step:                                   # step 0 warms up
            times.append(time.perf_counter() - t)
    model.eval()
    return times


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


def positive_rois(proposals: list, matched: list, labels: list) -> tuple[list, list, list]:
    """The RoIs the mask head trains on: per image, the sampled proposals whose label is an object
    (> 0), with their matched object index and label. Lists of (P_i, 4), (P_i,), (P_i,) in;
    the same three lists, positives only, out."""
    boxes, idx, labs = [], [], []
    for p, m, lb in zip(proposals, matched, labels):
        keep = torch.where(lb > 0)[0]
        boxes.append(p[keep])
        idx.append(m[keep])
        labs.append(lb[keep])
    return boxes, idx, labs


def mask_rcnn_losses_by_hand(model, images: list, targets: list) -> dict:
    """The five Mask R-CNN losses of one batch recomputed from the model's own intermediate
    tensors, next to torchvision's values (lesson 11). Deterministic given torch's RNG state; runs
    on a copy of ``model`` (a training-mode pass would change its BatchNorm statistics).

    Returns ``{name: (ours, torchvision's)}`` for loss_objectness, loss_rpn_box_reg,
    loss_classifier, loss_box_reg and loss_mask.
    """
    import copy

    model = copy.deepcopy(model).train()      # train mode updates BatchNorm statistics: not the caller's
    state = torch.get_rng_state()
    snapshot = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        theirs = {k: float(v) for k, v in model(images, targets).items()}
    model.load_state_dict(snapshot)           # the replay must see the same BatchNorm statistics
    torch.set_rng_state(state)
    with torch.no_grad():
        return _losses_by_hand(model, images, targets, theirs)


def _losses_by_hand(model, images, targets, theirs):
    import torch.nn.functional as F

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
    pos_props, pos_matched, mask_labels = positive_rois(props, matched, cls_labels)
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


# -- the stages of one image, for lesson 11's pictures ---------------------------------------------

def paste_mask_like_torchvision(prob: torch.Tensor, box, height: int, width: int, padding: int = 1) -> torch.Tensor:
    """Paste one M x M mask probability map into an image, as torchvision does at inference.

    prob: (M, M) float; box: [x1, y1, x2, y2] image pixels. The map is padded by ``padding`` zero
    cells and the box grown by the same factor ``(M + 2 padding) / M`` about its centre (so the
    map's border cells are not stretched over the box edge); the grown box's corners are truncated
    to integers (toward zero) and its last row and column are *included*; the padded map is
    resized bilinearly (align_corners=False) to that many pixels and clipped to the image.
    Returns (height, width) float, 0 outside the box.
    """
    import torch.nn.functional as F

    prob = torch.as_tensor(prob)
    if prob.ndim != 2 or prob.shape[0] != prob.shape[1] or not prob.is_floating_point():
        raise ValueError(f"prob: expected a float (M, M) map, got {tuple(prob.shape)} {prob.dtype}")
    box = torch.as_tensor(box, dtype=torch.float32)
    if box.shape != (4,):
        raise ValueError(f"box: expected [x1, y1, x2, y2], got shape {tuple(box.shape)}")
    height = check_int(height, "height", min_value=1)
    width = check_int(width, "width", min_value=1)
    m = prob.shape[0]
    scale = (m + 2 * padding) / m
    padded = F.pad(prob, (padding,) * 4)
    cx, cy = (box[0] + box[2]) * 0.5, (box[1] + box[3]) * 0.5
    hw, hh = (box[2] - box[0]) * 0.5 * scale, (box[3] - box[1]) * 0.5 * scale
    x1, y1, x2, y2 = (int(v) for v in torch.stack([cx - hw, cy - hh, cx + hw, cy + hh]))
    w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
    resized = F.interpolate(padded[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    out = prob.new_zeros(height, width)
    xa, xb, ya, yb = max(x1, 0), min(x2 + 1, width), max(y1, 0), min(y2 + 1, height)
    if xa < xb and ya < yb:
        out[ya:yb, xa:xb] = resized[ya - y1:yb - y1, xa - x1:xb - x1]
    return out


@torch.no_grad()
def mask_rcnn_stages(model, image: torch.Tensor, target: dict | None = None, seed: int = 0) -> dict:
    """Every stage of one image through a Mask R-CNN (eval mode; nothing is trained).

    image: (3, S, S) float in [0, 1] with S = the model's size (128: no resizing, so every box is
    in image pixels). target (optional, :func:`segcourse.data.detection.instance_targets`): adds
    the RoIs the box head would be trained on (``seed`` seeds their random sampling).

    Returns a dict:
      ``features``: {name: (C, h, w)} FPN maps; ``strides``: {name: stride};
      ``anchors``: {name: (h * w * A, 4)} anchors (A = 6 per location, location-major);
      ``objectness``: {name: (A, h, w)} RPN probabilities;
      ``pre_nms``: (P, 4) decoded proposals the RPN keeps before NMS (top-n per level by
      objectness, clipped, tiny ones dropped) and ``pre_nms_scores`` (P,);
      ``proposals``: (R, 4) after NMS (0.7) and the top-n cut, ``proposal_scores`` (R,);
      ``class_probs``: (R, K) softmax of the box head; ``class_boxes``: (R, K, 4) each class's
      refined box; ``detections``: {boxes (D, 4), labels (D,), scores (D,)} after score
      threshold, per-class NMS and the top-n cut; ``mask_logits``: (D, K, 28, 28) the mask head
      on the detections; ``masks``: (D, S, S) pasted probabilities of each detection's class;
      with ``target``: ``sampled`` {boxes (T, 4), labels (T,) (0 = background), iou (T,): the
      largest IoU with any object (a positive's is its matched object's)}.
    """
    from torchvision.models.detection.rpn import concat_box_prediction_layers
    from torchvision.ops import boxes as box_ops

    if not (isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3):
        raise ValueError(f"image: expected shape (3, H, W), got {getattr(image, 'shape', type(image).__name__)}")
    was_training = model.training
    model.eval()
    imgs, _ = model.transform([image])
    if tuple(imgs.image_sizes[0]) != tuple(image.shape[1:]):
        raise ValueError(f"image: expected the model's size {MASK_RCNN_CONFIG['image_size']} (no resizing), "
                         f"got {tuple(image.shape[1:])}")
    feats = model.backbone(imgs.tensors)
    names = list(feats)
    fl = list(feats.values())
    rpn = model.rpn
    logits, deltas = rpn.head(fl)
    anchors = rpn.anchor_generator(imgs, fl)[0]
    per_level = [o[0].numel() for o in logits]
    obj_flat, deltas_flat = concat_box_prediction_layers(logits, deltas)
    decoded = rpn.box_coder.decode(deltas_flat, [anchors]).view(-1, 4)
    obj = obj_flat.view(-1)
    out = {"features": {n: f[0] for n, f in feats.items()},
           "strides": {n: image.shape[-1] // f.shape[-1] for n, f in feats.items()},
           "anchors": dict(zip(names, anchors.split(per_level))),
           "objectness": {n: torch.sigmoid(o[0]) for n, o in zip(names, logits)}}
    # the RPN's filtering, step by step (torchvision's filter_proposals, one image)
    pre_n = rpn.pre_nms_top_n()
    keep, start = [], 0
    for n_l in per_level:
        k = min(pre_n, n_l)
        keep.append(obj[start:start + n_l].topk(k).indices + start)
        start += n_l
    keep = torch.cat(keep)
    boxes = box_ops.clip_boxes_to_image(decoded[keep], image.shape[1:])
    scores = torch.sigmoid(obj[keep])
    small = box_ops.remove_small_boxes(boxes, rpn.min_size)
    out["pre_nms"], out["pre_nms_scores"] = boxes[small], scores[small]
    proposals, prop_scores = rpn.filter_proposals(decoded.view(1, -1, 4), obj_flat.view(1, -1), imgs.image_sizes,
                                                  per_level)
    props = proposals[0]
    out["proposals"], out["proposal_scores"] = props, prop_scores[0]
    rh = model.roi_heads
    box_feats = rh.box_head(rh.box_roi_pool(feats, [props], imgs.image_sizes))
    class_logits, box_regression = rh.box_predictor(box_feats)
    out["class_probs"] = class_logits.softmax(-1)
    out["class_boxes"] = box_ops.clip_boxes_to_image(
        rh.box_coder.decode(box_regression, [props]), image.shape[1:])
    boxes, scores, labels = rh.postprocess_detections(class_logits, box_regression, [props], imgs.image_sizes)
    out["detections"] = {"boxes": boxes[0], "labels": labels[0], "scores": scores[0]}
    mlog = rh.mask_predictor(rh.mask_head(rh.mask_roi_pool(feats, boxes, imgs.image_sizes)))
    out["mask_logits"] = mlog
    d = len(labels[0])
    probs = mlog[torch.arange(d), labels[0]].sigmoid() if d else mlog.new_zeros(0, 28, 28)
    out["masks"] = torch.stack([paste_mask_like_torchvision(p, b, *image.shape[1:]) for p, b in zip(probs, boxes[0])]) \
        if d else probs.new_zeros(0, *image.shape[1:])
    if target is not None:
        gen_state = torch.get_rng_state()
        torch.manual_seed(seed)
        _, tgts = model.transform([image], [target])
        rois, matched, lab, _ = rh.select_training_samples([props], tgts)
        torch.set_rng_state(gen_state)
        iou = box_ops.box_iou(rois[0], tgts[0]["boxes"])
        best = iou.max(1).values if iou.shape[1] else iou.new_zeros(len(rois[0]))
        out["sampled"] = {"boxes": rois[0], "labels": lab[0], "iou": best}
    model.train(was_training)
    return out


@torch.no_grad()
def detection_candidates(model, images, score_floor: float = 0.05) -> list:
    """Everything the box head proposes before its final filtering, for the threshold explorer.

    images: (N, 3, S, S) float in [0, 1]. For every image: the (proposal, class) pairs whose class
    probability is at least ``score_floor`` (torchvision's ``box_score_thresh``), as
    ``{"boxes": (M, 4) refined for that class, "labels": (M,), "scores": (M,), "masks": (M, S, S)
    bool}`` (the mask head run on each refined box, pasted, thresholded at 0.5), sorted by score.
    Probabilities must exceed ``score_floor`` (torchvision keeps ``score > box_score_thresh``).
    """
    from torchvision.ops import boxes as box_ops

    score_floor = check_float(score_floor, "score_floor", min_value=0.0, max_value=1.0)
    model.eval()
    rh = model.roi_heads
    out = []
    for image in images:
        imgs, _ = model.transform([image])
        feats = model.backbone(imgs.tensors)
        props, _ = model.rpn(imgs, feats)
        box_feats = rh.box_head(rh.box_roi_pool(feats, props, imgs.image_sizes))
        logits, reg = rh.box_predictor(box_feats)
        probs = logits.softmax(-1)[:, 1:]
        boxes = box_ops.clip_boxes_to_image(rh.box_coder.decode(reg, props)[:, 1:], image.shape[1:])
        r, c = torch.where(probs > score_floor)
        b, lab, sc = boxes[r, c], c + 1, probs[r, c]
        ok = box_ops.remove_small_boxes(b, 1e-2)
        b, lab, sc = b[ok], lab[ok], sc[ok]
        order = sc.argsort(descending=True)
        b, lab, sc = b[order], lab[order], sc[order]
        mlog = rh.mask_predictor(rh.mask_head(rh.mask_roi_pool(feats, [b], imgs.image_sizes)))
        p = mlog[torch.arange(len(lab)), lab].sigmoid()
        masks = torch.stack([paste_mask_like_torchvision(pi, bi, *image.shape[1:]) for pi, bi in zip(p, b)]) >= 0.5 \
            if len(lab) else torch.zeros(0, *image.shape[1:], dtype=torch.bool)
        out.append({"boxes": b, "labels": lab, "scores": sc, "masks": masks})
    return out


def filter_detections(candidates: dict, score_threshold: float = 0.05, nms_iou: float = 0.5,
                      max_detections: int = 50) -> torch.Tensor:
    """torchvision's last step on one image's :func:`detection_candidates`: keep scores >
    ``score_threshold``, per-class NMS at ``nms_iou`` (a box is dropped when it overlaps a
    higher-scoring box of the same class by more than that IoU), then the ``max_detections``
    best. Returns the (D,) int64 indices into the candidates kept, best first."""
    from torchvision.ops import batched_nms

    score_threshold = check_float(score_threshold, "score_threshold", min_value=0.0, max_value=1.0)
    nms_iou = check_float(nms_iou, "nms_iou", min_value=0.0, max_value=1.0)
    max_detections = check_int(max_detections, "max_detections", min_value=1)
    for key in ("boxes", "labels", "scores"):
        if key not in candidates:
            raise ValueError(f"candidates: missing key {key!r} (expected detection_candidates' dict)")
    idx = torch.where(candidates["scores"] > score_threshold)[0]
    keep = batched_nms(candidates["boxes"][idx], candidates["scores"][idx], candidates["labels"][idx], nms_iou)
    return idx[keep[:max_detections]]


@torch.no_grad()
def mask_rcnn_shapes(model, image: torch.Tensor) -> dict:
    """The tensor shapes at every arrow of lesson 11's diagram for one image (eval mode), read from
    hooks on a real forward pass: ``image``; ``stages`` {C3, C4, C5} (the backbone outputs the FPN
    reads); ``fpn`` {P3, P4, P5}; ``anchors`` (total) and ``anchors_per_location``; ``proposals``
    (R, 4); ``box_rois`` (R, C, 7, 7); ``class_logits`` (R, K); ``box_regression`` (R, 4K);
    ``detections`` (D, 4); ``mask_rois`` (D, C, 14, 14); ``mask_logits`` (D, K, 28, 28); ``masks``
    (D, 1, H, W). Batch axes are per image."""
    seen = {}

    def keep(name):
        def hook(mod, inp, out):
            seen[name] = out
        return hook

    rh = model.roi_heads
    mods = {"stages": model.backbone.body, "fpn": model.backbone.fpn, "box_rois": rh.box_roi_pool,
            "predictor": rh.box_predictor, "mask_rois": rh.mask_roi_pool, "mask_logits": rh.mask_predictor,
            "rpn": model.rpn}
    handles = [m.register_forward_hook(keep(n)) for n, m in mods.items()]
    was_training = model.training
    model.eval()
    try:
        det = model([image])[0]
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    stages = seen["stages"][2:]
    per_loc = model.rpn.anchor_generator.num_anchors_per_location()[0]
    fpn = list(seen["fpn"].values())
    return {"image": tuple(image.shape),
            "stages": {f"C{i + 3}": tuple(t.shape[1:]) for i, t in enumerate(stages)},
            "fpn": {f"P{i + 3}": tuple(t.shape[1:]) for i, t in enumerate(fpn)},
            "anchors_per_location": per_loc, "anchors": sum(per_loc * t.shape[-1] * t.shape[-2] for t in fpn),
            "proposals": tuple(seen["rpn"][0][0].shape), "box_rois": tuple(seen["box_rois"].shape),
            "class_logits": tuple(seen["predictor"][0].shape), "box_regression": tuple(seen["predictor"][1].shape),
            "detections": tuple(det["boxes"].shape), "mask_rois": tuple(seen["mask_rois"].shape),
            "mask_logits": tuple(seen["mask_logits"].shape), "masks": tuple(det["masks"].shape)}


def match_detections(detections: dict, target: dict, iou_threshold: float = 0.5) -> torch.Tensor:
    """COCO's greedy matching of one image's detections to its objects by mask IoU
    (:func:`segcourse.metrics.greedy_match` in score order, same class only). detections: masks
    (D, H, W) bool, labels (D,), scores (D,); target: masks (N, H, W), labels (N,).
    Returns (D,) bool: True = true positive."""
    iou_threshold = check_float(iou_threshold, "iou_threshold", min_value=0.0, max_value=1.0)
    iou = mask_ious(detections["masks"], target["masks"])
    iou = torch.where(detections["labels"][:, None] == target["labels"][None, :], iou, torch.full_like(iou, -1.0))
    order = detections["scores"].argsort(descending=True, stable=True)
    tp = torch.zeros(len(order), dtype=torch.bool)
    tp[order] = torch.from_numpy(greedy_match(iou[order].double().numpy(), iou_threshold) >= 0)
    return tp


def threshold_context(candidates: list, targets: list) -> dict:
    """What every frame of the threshold explorer reuses: the candidates and each candidate mask's
    IoU with each object of its image (computed once)."""
    if len(candidates) != len(targets) or not candidates:
        raise ValueError("candidates: expected one entry per target (and at least one)")
    return {"candidates": list(candidates), "targets": list(targets),
            "ious": [mask_ious(c["masks"], t["masks"].bool()) for c, t in zip(candidates, targets)]}


def _kept(cand: dict, tgt: dict, iou: torch.Tensor, score_threshold: float, nms_iou: float):
    """One image's final filtering: kept indices (score order), their labels, scores, mask IoUs with
    the objects, and whether each matches an object of its class at mask IoU 0.5 (greedy, COCO's)."""
    keep = filter_detections(cand, score_threshold, nms_iou)
    lab, sco, i = cand["labels"][keep], cand["scores"][keep], iou[keep]
    same = torch.where(lab[:, None] == tgt["labels"][None, :], i, torch.full_like(i, -1.0))
    tp = torch.from_numpy(greedy_match(same.double().numpy(), 0.5) >= 0)     # keep is in score order
    return keep, lab, sco, i, tp


def scene_detections(context: dict, scene: int, score_threshold: float = 0.05, nms_iou: float = 0.5) -> dict:
    """:func:`threshold_frame`'s ``detections`` of one scene alone (no AP): what a widget needs when
    only the scene changes."""
    cands = context["candidates"]
    scene = check_int(scene, "scene", min_value=0, max_value=len(cands) - 1)
    keep, *_, tp = _kept(cands[scene], context["targets"][scene], context["ious"][scene], score_threshold, nms_iou)
    det = {key: cands[scene][key][keep] for key in ("boxes", "labels", "scores", "masks")}
    det["tp"] = tp
    return det


def threshold_frame(context: dict, scene: int = 0, score_threshold: float = 0.05, nms_iou: float = 0.5) -> dict:
    """Lesson 11's threshold explorer, one frame: the final filtering (:func:`filter_detections`)
    applied to every image's :func:`detection_candidates` at these thresholds, then scored.

    context: :func:`threshold_context`. Returns ``scene`` and its ``detections`` (boxes, labels,
    scores, masks, ``tp``: matches an object at mask IoU 0.5), ``ranked``: (M,) scores of every
    kept detection over all images, best first, and ``ranked_tp`` (M,) bool; ``objects``: the
    number of objects; ``AP``, ``AP50``, ``AP75``: COCO mask AP of the kept detections
    (:func:`segcourse.metrics.coco_ap_from_ious`, equal to pycocotools')."""
    cands, targets = context["candidates"], context["targets"]
    scene = check_int(scene, "scene", min_value=0, max_value=len(cands) - 1)
    ious, dcl, dsc, tps, keeps = [], [], [], [], []
    for cand, tgt, iou in zip(cands, targets, context["ious"]):
        keep, lab, sco, i, tp = _kept(cand, tgt, iou, score_threshold, nms_iou)
        keeps.append(keep)
        tps.append(tp)
        ious.append(i)
        dcl.append(lab)
        dsc.append(sco)
    det = {key: cands[scene][key][keeps[scene]] for key in ("boxes", "labels", "scores", "masks")}
    det["tp"] = tps[scene]
    scores, tp = torch.cat(dsc), torch.cat(tps)
    order = scores.argsort(descending=True, stable=True)
    ap = coco_ap_from_ious(ious, dcl, dsc, [t["labels"] for t in targets])
    return {"scene": scene, "detections": det, "ranked": scores[order], "ranked_tp": tp[order],
            "objects": sum(len(t["labels"]) for t in targets), "AP": ap["AP"], "AP50": ap["AP50"], "AP75": ap["AP75"],
            "score_threshold": float(score_threshold), "nms_iou": float(nms_iou)}
