"""Learning to Segment Every Thing (Hu, Dollár, He, Darrell, Girshick 2018, arXiv:1711.10370) in
miniature (lesson 12): partial supervision on the course's tiny Mask R-CNN.

Boxes are given for every class, masks only for the classes of a set A. The box head (class
scores and box deltas) trains on every class; the mask head's loss counts only the RoIs whose
ground-truth class is in A; mask quality is measured on the held-out classes B. Three mask heads,
all reading the same RoIs of the same detector:

* ``"agnostic"``: one mask channel for every class (the paper's class-agnostic baseline);
* ``"transfer"``: the paper's weight transfer: the mask weights of class c (the last 1x1 conv's
  weight vector and bias) are ``T(w_det^c)``, with ``w_det^c`` the box predictor's weights of class c
  (``"cls"``: its row of the classification layer; ``"box"``: its 4 rows of the box-regression
  layer; ``"cls+box"``: both, concatenated) taken with the gradient stopped, and T a small MLP
  (``"mlp"``: Linear, LeakyReLU, Linear) or one linear layer (``"linear"``), trained on A only;
* ``"oracle"``: the ordinary per-class mask head trained with the masks of every class.

:func:`build_lse_mask_rcnn` puts all three on one detector (backbone, RPN, box head shared), each
with its own four-conv mask trunk. The shared features get the gradients of the two partially
supervised heads only (A masks); the oracle head reads them with the gradient stopped, so nothing
in the detector ever sees a B mask. In eval mode the model is an ordinary torchvision ``MaskRCNN``
(``masks`` from the head ``model.roi_heads.active``) plus ``mask_probs_heads`` (K, heads, 28, 28).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_tensor, check_choice, check_int
from ..data.detection import detection_batch, instance_targets, dihedral
from ..data.images import image_tensor
from ..data.shapes import NUM_SHAPE_CLASSES, SHAPE_CLASSES, SHAPES_A, SHAPES_B, render_shapes_scene, shape_class_ids
from .mask_rcnn import MASK_RCNN_CONFIG, build_mask_rcnn, positive_rois, train_mask_rcnn

__all__ = ["LSE_HEADS", "LSE_VARIANTS", "LSE_SOURCES", "LSE_TRAIN_SEED", "LSE_VAL_SEED", "WeightTransfer", "TransferMaskPredictor",
           "detection_weights", "partial_mask_loss", "LSERoIHeads", "build_lse_mask_rcnn", "lse_batch",
           "lse_val_set", "train_lse", "detect_lse", "evaluate_lse", "swapped_transfer", "probe_mappings",
           "transfer_mask_frame", "head_masks_on_gt_boxes", "gt_box_mask_iou"]

LSE_HEADS = ("agnostic", "transfer", "oracle")
#: The paper's other transfer functions, as extra heads on the transfer head's trunk (read with the
#: gradient stopped, so they change nothing else): name -> (T kind, w_det source).
LSE_VARIANTS = {"transfer_linear": ("linear", "cls+box"), "transfer_cls": ("mlp", "cls")}
LSE_SOURCES = ("cls", "box", "cls+box")
#: Training run ``s`` renders its scenes from dataset seed ``LSE_TRAIN_SEED + s``.
LSE_TRAIN_SEED = 31
#: The validation scenes' dataset seed (never trained on): scene k = ``render_shapes_scene(LSE_VAL_SEED * 10**6 + k)``.
LSE_VAL_SEED = 9


# -- the transfer function ---------------------------------------------------------------------------

def detection_weights(box_predictor, source: str = "cls+box") -> torch.Tensor:
    """The detection weights ``w_det`` (K, D) of torchvision's ``FastRCNNPredictor``, one row per
    class, gradient stopped: ``"cls"`` (D = fc width), ``"box"`` (D = 4 x fc width) or ``"cls+box"``."""
    source = check_choice(source, "source", LSE_SOURCES)
    cls = box_predictor.cls_score.weight
    k = cls.shape[0]
    parts = {"cls": [cls], "box": [box_predictor.bbox_pred.weight.reshape(k, -1)]}
    parts["cls+box"] = parts["cls"] + parts["box"]
    return torch.cat(parts[source], 1).detach()


class WeightTransfer(nn.Module):
    """T: detection weights (K, D) -> mask weights (K, C + 1) (C weights of a 1x1 conv and a bias
    per class). ``kind`` "mlp" = Linear(D, hidden), LeakyReLU(0.01), Linear(hidden, C + 1);
    "linear" = Linear(D, C + 1)."""

    def __init__(self, in_features: int, out_features: int, kind: str = "mlp", hidden: int = 128):
        super().__init__()
        self.kind = check_choice(kind, "kind", ("mlp", "linear"))
        if kind == "mlp":
            self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, out_features))
        else:
            self.net = nn.Linear(in_features, out_features)

    def forward(self, w_det: torch.Tensor) -> torch.Tensor:
        return self.net(w_det)


class TransferMaskPredictor(nn.Module):
    """The transfer head's predictor: 2x deconv + ReLU (as torchvision's ``MaskRCNNPredictor``), then
    a 1x1 conv whose per-class weights are ``T(w_det)``.

    forward(x (R, in_channels, 14, 14), w_det (K, D), labels=None) -> logits (R, K, 28, 28), or
    with ``labels`` (R,) only each RoI's own class: (R, 1, 28, 28) (K times cheaper). ``override``
    (K, C + 1) or None: mask weights that replace T's output (the probe; see :func:`swapped_transfer`).
    """

    def __init__(self, in_channels: int, dim_reduced: int, det_features: int, kind: str = "mlp", hidden: int = 128):
        super().__init__()
        self.conv5_mask = nn.ConvTranspose2d(in_channels, dim_reduced, 2, 2, 0)
        nn.init.kaiming_normal_(self.conv5_mask.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.conv5_mask.bias)
        self.transfer = WeightTransfer(det_features, dim_reduced + 1, kind, hidden)
        self.override = None

    def mask_weights(self, w_det: torch.Tensor) -> torch.Tensor:
        """(K, C + 1) mask weights: T(w_det), or ``override`` when set."""
        return self.transfer(w_det) if self.override is None else self.override

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(R, C, 28, 28): the features the class-specific 1x1 conv reads."""
        return F.relu(self.conv5_mask(x))

    def forward(self, x: torch.Tensor, w_det: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        w = self.mask_weights(w_det)
        if labels is not None:
            w = w[labels]
            return (torch.einsum("rchw,rc->rhw", self.features(x), w[:, :-1]) + w[:, -1][:, None, None])[:, None]
        return torch.einsum("rchw,kc->rkhw", self.features(x), w[:, :-1]) + w[:, -1][None, :, None, None]


def partial_mask_loss(mask_logits: torch.Tensor, labels: torch.Tensor, mask_targets: torch.Tensor,
                      has_mask: torch.Tensor) -> torch.Tensor:
    """Mask R-CNN's mask loss under partial supervision: the per-pixel binary cross-entropy of each
    RoI's own-class logits (channel 0 for a class-agnostic head), averaged over the RoIs whose
    ground-truth class has masks (``has_mask[label]``). No such RoI: 0, still connected to the graph.

    mask_logits (R, K or 1, M, M); labels (R,) int64; mask_targets (R, M, M) in [0, 1]; has_mask (K,) bool.
    With every class in ``has_mask`` it is torchvision's ``maskrcnn_loss``.
    """
    if mask_logits.ndim != 4:
        raise ValueError(f"mask_logits: expected shape (R, K, M, M), got {tuple(mask_logits.shape)}")
    r = mask_logits.shape[0]
    if labels.shape != (r,) or mask_targets.shape != (r, *mask_logits.shape[2:]):
        raise ValueError(f"labels / mask_targets: expected shapes ({r},) and ({r}, {mask_logits.shape[2]}, "
                         f"{mask_logits.shape[3]}), got {tuple(labels.shape)} and {tuple(mask_targets.shape)}")
    keep = has_mask[labels]
    if r == 0 or not bool(keep.any()):
        return mask_logits.sum() * 0
    channel = labels if mask_logits.shape[1] > 1 else torch.zeros_like(labels)
    z = mask_logits[torch.arange(r), channel]
    return F.binary_cross_entropy_with_logits(z[keep], mask_targets[keep])


# -- the RoI heads with three mask branches ----------------------------------------------------------

class LSERoIHeads(nn.Module):
    """torchvision's ``RoIHeads`` box part (reused as is) + the mask heads of :data:`LSE_HEADS`.

    ``mask_roi_pool``: the 14 x 14 mask RoI extractor; ``heads``: the mask heads to build (of
    :data:`LSE_HEADS`, then any of :data:`LSE_VARIANTS`, which need "transfer"); ``has_mask`` (K,)
    bool buffer: the classes A whose masks the partial heads train on; ``detach``: heads whose loss
    does not reach the shared features.
    """

    def __init__(self, roi_heads, mask_roi_pool, num_classes: int, heads=LSE_HEADS, has_mask=None,
                 source: str = "cls+box", transfer: str = "mlp", hidden: int = 128, detach=("oracle",)):
        super().__init__()
        from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

        heads = tuple(heads)
        main = tuple(h for h in heads if h not in LSE_VARIANTS)
        if not main or any(h not in LSE_HEADS for h in main) or len(set(heads)) < len(heads) or \
                (len(main) < len(heads) and (heads[:len(main)] != main or "transfer" not in main)):
            raise ValueError(f"heads: expected a subset of {LSE_HEADS}, then optionally of {tuple(LSE_VARIANTS)} "
                             f"(which need 'transfer'), got {heads}")
        self.box = roi_heads                       # torchvision's RoIHeads: sampling, box head, postprocess
        self.box.mask_roi_pool = self.box.mask_head = self.box.mask_predictor = None
        self.heads, self.detach, self.source = heads, tuple(detach), check_choice(source, "source", LSE_SOURCES)
        self.active = "transfer" if "transfer" in heads else heads[0]
        self.eval_heads = None                     # eval: the heads to compute (None = all); see detect_lse
        cfg = MASK_RCNN_CONFIG
        c = cfg["mask_convs"][-1]
        self.mask_roi_pool = mask_roi_pool         # shared by the mask heads
        self.mask_heads = nn.ModuleDict({h: MaskRCNNHeads(cfg["fpn_channels"], list(cfg["mask_convs"]), 1) for h in main})
        fc = roi_heads.box_predictor.cls_score.in_features
        dims = {"cls": fc, "box": 4 * fc, "cls+box": 5 * fc}
        self.sources = {"transfer": self.source, **{h: v[1] for h, v in LSE_VARIANTS.items()}}
        preds = {"agnostic": lambda: MaskRCNNPredictor(c, c, 1),
                 "transfer": lambda: TransferMaskPredictor(c, c, dims[self.source], transfer, hidden),
                 "oracle": lambda: MaskRCNNPredictor(c, c, num_classes),
                 **{h: (lambda k=k, src=src: TransferMaskPredictor(c, c, dims[src], k, hidden))
                    for h, (k, src) in LSE_VARIANTS.items()}}
        self.mask_predictors = nn.ModuleDict({h: preds[h]() for h in heads})
        hm = torch.ones(num_classes, dtype=torch.bool) if has_mask is None else torch.as_tensor(has_mask, dtype=torch.bool)
        if hm.shape != (num_classes,):
            raise ValueError(f"has_mask: expected shape ({num_classes},), got {tuple(hm.shape)}")
        hm = hm.clone()
        hm[0] = False
        self.register_buffer("has_mask", hm)

    def all_mask_logits(self, mask_features: torch.Tensor, heads=None, labels=None) -> dict:
        """{head: (R, K or 1, 28, 28) logits} from pooled mask RoIs (R, 64, 14, 14), each trunk run once;
        with ``labels`` (R,) the transfer heads give only each RoI's own class (R, 1, 28, 28)."""
        out, trunk = {}, {}
        wanted = set(self.heads if heads is None else heads)
        needed = wanted | ({"transfer"} if wanted & set(LSE_VARIANTS) else set())
        for h in self.heads:
            if h not in needed:
                continue
            if h in LSE_VARIANTS:
                x = trunk["transfer"].detach()
            else:
                x = mask_features.detach() if (self.training and h in self.detach) else mask_features
                x = trunk[h] = self.mask_heads[h](x)
            if h not in wanted:
                continue
            pred = self.mask_predictors[h]
            if isinstance(pred, TransferMaskPredictor):
                out[h] = pred(x, detection_weights(self.box.box_predictor, self.sources[h]), labels)
            else:
                out[h] = pred(x)
        return out

    def mask_logits(self, head: str, mask_features: torch.Tensor, labels=None) -> torch.Tensor:
        """(R, K or 1, 28, 28) logits of ``head`` from pooled mask RoIs (R, 64, 14, 14)."""
        return self.all_mask_logits(mask_features, (head,), labels)[head]

    def forward(self, features, proposals, image_shapes, targets=None):
        from torchvision.models.detection.roi_heads import fastrcnn_loss, project_masks_on_boxes

        b = self.box
        if self.training:
            proposals, matched_idxs, labels, regression_targets = b.select_training_samples(proposals, targets)
        box_features = b.box_head(b.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = b.box_predictor(box_features)
        result, losses = [], {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
            mask_props, pos_matched, pos_labels = positive_rois(proposals, matched_idxs, labels)
            pooled = self.mask_roi_pool(features, mask_props, image_shapes)
            m = 2 * pooled.shape[-1]
            tgt = torch.cat([project_masks_on_boxes(t["masks"], p, i, m) for t, p, i in zip(targets, mask_props, pos_matched)]) \
                if pooled.shape[0] else pooled.new_zeros(0, m, m)
            lab = torch.cat(pos_labels)
            everything = torch.ones_like(self.has_mask)
            for h, z in self.all_mask_logits(pooled, labels=lab).items():
                has = everything if h == "oracle" else self.has_mask
                losses[f"loss_mask_{h}"] = partial_mask_loss(z, lab, tgt, has)
            return result, losses
        boxes, scores, labels = b.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        result = [{"boxes": bx, "labels": lb, "scores": sc} for bx, lb, sc in zip(boxes, labels, scores)]
        pooled = self.mask_roi_pool(features, boxes, image_shapes)
        lab = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.int64)
        probs = []
        for h, logits in self.all_mask_logits(pooled, self.eval_heads, labels=lab).items():
            ch = lab if logits.shape[1] > 1 else torch.zeros_like(lab)
            probs.append(logits[torch.arange(len(lab)), ch].sigmoid())
        shown = self.eval_heads or self.heads
        probs = torch.stack(probs, 1) if len(lab) else pooled.new_zeros(0, len(shown), 28, 28)
        a = shown.index(self.active) if self.active in shown else 0
        for r, p in zip(result, probs.split([len(x) for x in boxes])):
            r["masks"] = p[:, a:a + 1]
            r["mask_probs_heads"] = p
        return result, losses


def build_lse_mask_rcnn(heads=LSE_HEADS + tuple(LSE_VARIANTS), source: str = "cls+box", transfer: str = "mlp", hidden: int = 128,
                        mask_classes=SHAPES_A, detach=("oracle",), seed: int = 0, op: str = "align"):
    """The course's Mask R-CNN (:func:`~segcourse.models.mask_rcnn.build_mask_rcnn`) for the 24
    shape classes, with :class:`LSERoIHeads`: the mask heads ``heads`` (:data:`LSE_HEADS` and the
    transfer variants :data:`LSE_VARIANTS` by default), masks
    of ``mask_classes`` (names, default :data:`SHAPES_A`) for the partial heads, transfer input
    ``source`` and ``transfer`` "mlp"/"linear". Weights from ``seed``; train mode."""
    seed = check_int(seed, "seed", min_value=0)
    model = build_mask_rcnn(NUM_SHAPE_CLASSES, op=op, seed=seed)
    has = torch.zeros(NUM_SHAPE_CLASSES, dtype=torch.bool)
    has[shape_class_ids(mask_classes)] = True
    pool = model.roi_heads.mask_roi_pool
    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        model.roi_heads = LSERoIHeads(model.roi_heads, pool, NUM_SHAPE_CLASSES, heads, has, source, transfer,
                                      hidden, detach)
    return model


# -- data, training, evaluation -----------------------------------------------------------------------

def lse_batch(step: int, batch_size: int = 8, data_seed: int = LSE_TRAIN_SEED):
    """Training batch ``step`` of 24-class scenes (:func:`detection_batch` with
    :func:`render_shapes_scene`)."""
    data_seed = check_int(data_seed, "data_seed", min_value=1)
    if data_seed == LSE_VAL_SEED:
        raise ValueError(f"data_seed: {LSE_VAL_SEED} renders lesson 12's validation scenes; pick another")
    return detection_batch(step, batch_size, data_seed, renderer=render_shapes_scene)


def lse_val_set(n: int = 400, start: int = 0):
    """Validation scenes ``start .. start + n - 1`` of the 24-class family (dataset seed
    :data:`LSE_VAL_SEED`, never trained on). Returns (images (n, 3, 128, 128), list of n targets)."""
    n = check_int(n, "n", min_value=1)
    start = check_int(start, "start", min_value=0)
    images, targets = [], []
    for k in range(start, start + n):
        s = render_shapes_scene(LSE_VAL_SEED * 10**6 + k)
        images.append(image_tensor(s.image))
        targets.append(instance_targets(torch.from_numpy(s.instance), torch.from_numpy(s.semantic)))
    return torch.stack(images), targets


def train_lse(model, iterations: int, *, seed: int = 0, threads: int = 1, progress: bool = True, **kw) -> dict:
    """:func:`~segcourse.models.mask_rcnn.train_mask_rcnn` on :func:`lse_batch` (dataset seed
    ``LSE_TRAIN_SEED + seed``): same optimiser and schedule as lesson 11."""
    return train_mask_rcnn(model, iterations, seed=seed, threads=threads, progress=progress,
                           data_seed=LSE_TRAIN_SEED + seed, batch_fn=lse_batch, desc=kw.pop("desc", "LSE"), **kw)


@torch.no_grad()
def detect_lse(model, images, batch_size: int = 16, mask_threshold: float = 0.5, heads=None) -> list:
    """Detections of an eval-mode LSE model with every head's masks: one dict per image with
    ``boxes``, ``labels``, ``scores`` and ``masks_<head>`` (K, H, W) bool for each head (of
    ``heads``, default all; fewer heads, less work)."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    if isinstance(images, torch.Tensor):
        images = list(images)
    was = model.training
    rh = model.roi_heads
    model.eval()
    rh.eval_heads = tuple(h for h in rh.heads if heads is None or h in heads)
    out = []
    try:
        for b in range(0, len(images), batch_size):
            chunk = list(images[b:b + batch_size])
            for im, d in zip(chunk, model(chunk)):
                probs = d.pop("mask_probs_heads")
                d.pop("masks")
                for i, h in enumerate(rh.eval_heads):
                    d[f"masks_{h}"] = paste_masks_in_image(probs[:, i:i + 1], d["boxes"], im.shape[-2:])[:, 0] >= mask_threshold
                out.append(d)
    finally:
        rh.eval_heads = None
        model.train(was)
    return out


def _class_means(per_class: dict, ids) -> float:
    vals = [per_class[c] for c in ids if c in per_class]
    return float(sum(vals) / len(vals)) if vals else float("nan")


def evaluate_lse(model, images, targets, heads=None, detections=None) -> dict:
    """COCO mask AP of each head on ``images``: ``{head: {"AP", "AP_A", "AP_B", "per_class": {name:
    AP}}, "box": {"AP", "AP_A", "AP_B"}}``; AP_A / AP_B = the mean per-class AP over the classes
    of A / B (:data:`SHAPES_A`, :data:`SHAPES_B`)."""
    from ..metrics import coco_ap

    heads = tuple(heads or model.roi_heads.heads)
    dets = detect_lse(model, images, heads=heads) if detections is None else detections
    ids_a, ids_b = shape_class_ids(SHAPES_A), shape_class_ids(SHAPES_B)
    gt = [{"masks": t["masks"].bool(), "boxes": t["boxes"], "classes": t["labels"]} for t in targets]
    out = {}
    for h in heads:
        s = coco_ap(gt, [{"masks": d[f"masks_{h}"], "classes": d["labels"], "scores": d["scores"]} for d in dets], "segm")
        pc = s["per_class"]
        out[h] = {"AP": s["AP"], "AP_A": _class_means(pc, ids_a), "AP_B": _class_means(pc, ids_b),
                  "per_class": {SHAPE_CLASSES[c]: v for c, v in pc.items()}}
    s = coco_ap(gt, [{"boxes": d["boxes"], "classes": d["labels"], "scores": d["scores"]} for d in dets], "bbox")
    out["box"] = {"AP": s["AP"], "AP_A": _class_means(s["per_class"], ids_a), "AP_B": _class_means(s["per_class"], ids_b)}
    return out


# -- the probe ---------------------------------------------------------------------------------------

def probe_mappings(kind: str) -> dict:
    """``{B class id: what replaces its transferred mask weights}`` for a probe ``kind``:
    ``"relative"`` (the weights of its nearest relative in A, :data:`SHAPE_RELATIVES`),
    ``"unrelated"`` (an A class of another group: the shift of SHAPES_A by half its length),
    ``"mean_A"`` (the mean of the A classes' weights: the value ``"mean_A"``)."""
    from ..data.shapes import SHAPE_RELATIVES

    kind = check_choice(kind, "kind", ("relative", "unrelated", "mean_A"))
    ids_b = shape_class_ids(SHAPES_B)
    if kind == "mean_A":
        return {b: "mean_A" for b in ids_b}
    if kind == "relative":
        return {SHAPE_CLASSES.index(b): SHAPE_CLASSES.index(a) for b, a in SHAPE_RELATIVES.items()}
    unrelated = {"pentagon": "ring", "star7": "L", "T": "star6", "ellipse": "chevron", "frame": "star8",
                 "double_arrow": "octagon"}
    return {SHAPE_CLASSES.index(b): SHAPE_CLASSES.index(a) for b, a in unrelated.items()}


@contextlib.contextmanager
def swapped_transfer(model, mapping: dict):
    """Inside the block, the transfer head's mask weights of class b are those of class
    ``mapping[b]`` (a class id) or the mean over A (``"mean_A"``); other classes keep T's output."""
    pred = model.roi_heads.mask_predictors["transfer"]
    with torch.no_grad():
        w = pred.transfer(detection_weights(model.roi_heads.box.box_predictor, model.roi_heads.source)).clone()
        mean_a = w[model.roi_heads.has_mask].mean(0)
        new = w.clone()
        for b, src in mapping.items():
            new[int(b)] = mean_a if src == "mean_A" else w[int(src)]
    pred.override = new
    try:
        yield new
    finally:
        pred.override = None


# -- the widget's frame ----------------------------------------------------------------------------

def transfer_mask_frame(features: torch.Tensor, weights: torch.Tensor, index: int, source: int,
                        target: torch.Tensor | None = None) -> dict:
    """One frame of lesson 12's widget: RoI ``index``'s 28 x 28 mask probabilities when the mask
    weights of class ``source`` (row of ``weights`` (K, C + 1)) are used.

    features: (R, C, 28, 28) from :func:`head_masks_on_gt_boxes`; target: optional (R, 28, 28) masks.
    Returns ``{"probs": (28, 28) float, "iou": IoU of probs >= 0.5 with the target (nan without)}``.
    """
    features = as_tensor(features, "features", ndim=4)
    weights = as_tensor(weights, "weights", ndim=2)
    if weights.shape[1] != features.shape[1] + 1:
        raise ValueError(f"weights: expected shape (K, {features.shape[1] + 1}), got {tuple(weights.shape)}")
    index = check_int(index, "index", min_value=0, max_value=features.shape[0] - 1)
    source = check_int(source, "source", min_value=0, max_value=weights.shape[0] - 1)
    w = weights[source]
    probs = (torch.einsum("chw,c->hw", features[index], w[:-1]) + w[-1]).sigmoid()
    iou = float("nan")
    if target is not None:
        m, t = probs >= 0.5, target[index] >= 0.5
        union = (m | t).sum()
        iou = float((m & t).sum() / union) if union else float("nan")
    return {"probs": probs, "iou": iou}


@torch.no_grad()
def head_masks_on_gt_boxes(model, images: torch.Tensor, targets: list, classes=SHAPES_B, per_class: int = 2,
                           crop: int = 56) -> dict:
    """The mask heads on ground-truth boxes: the first ``per_class`` instances of each class of
    ``classes`` (names) in ``images`` / ``targets`` (as :func:`lse_val_set`).

    Returns ``{"labels" (R,), "image_index" (R,), "boxes" (R, 4), "crops" (R, 3, crop, crop),
    "gt" (R, 28, 28) target masks, "probs": {head: (R, 28, 28) own-class probabilities},
    "features" (R, C, 28, 28) the transfer head's features, "weights" (K, C + 1) T's output}``."""
    from torchvision.models.detection.roi_heads import project_masks_on_boxes
    from torchvision.ops import roi_align

    images = as_tensor(images, "images", ndim=4)
    want = shape_class_ids(classes)
    per_class = check_int(per_class, "per_class", min_value=1)
    picked = {c: [] for c in want}
    for i, t in enumerate(targets):
        for j, c in enumerate(t["labels"].tolist()):
            if c in picked and len(picked[c]) < per_class:
                picked[c].append((i, j))
    items = [(c, i, j) for c in want for i, j in picked[c]]
    if not items:
        raise ValueError("targets: no instance of the requested classes")
    model.eval()
    rh = model.roi_heads
    il, _ = model.transform(list(images))
    feats = model.backbone(il.tensors)
    boxes = [torch.zeros(0, 4) for _ in range(len(images))]
    order = []
    for c, i, j in items:
        boxes[i] = torch.cat([boxes[i], targets[i]["boxes"][j:j + 1]])
        order.append((i, j, c))
    # the pooler returns RoIs image by image: put the items in that order
    order.sort(key=lambda x: x[0])
    pooled = rh.mask_roi_pool(feats, boxes, il.image_sizes)
    labels = torch.tensor([c for _, _, c in order])
    probs = {}
    for h, z in rh.all_mask_logits(pooled, labels=labels).items():
        probs[h] = z[torch.arange(len(labels)), labels if z.shape[1] > 1 else torch.zeros_like(labels)].sigmoid()
    box_t = torch.stack([targets[i]["boxes"][j] for i, j, _ in order])
    gt = torch.cat([project_masks_on_boxes(targets[i]["masks"], targets[i]["boxes"][j:j + 1],
                                           torch.tensor([j]), 28) for i, j, _ in order])
    idx = torch.tensor([i for i, _, _ in order], dtype=torch.float32)
    crops = roi_align(images, torch.cat([idx[:, None], box_t], 1), crop, 1.0, 2, aligned=True).clamp(0, 1)
    out = {"labels": labels, "image_index": idx.long(), "boxes": box_t, "crops": crops, "gt": gt, "probs": probs}
    if "transfer" in rh.heads:
        pred = rh.mask_predictors["transfer"]
        out["features"] = pred.features(rh.mask_heads["transfer"](pooled))
    # back to the order of ``classes`` (the pooler wanted the RoIs image by image)
    perm = torch.tensor(sorted(range(len(order)), key=lambda k: (want.index(order[k][2]), order[k][0])))
    out = {k: ({h: p[perm] for h, p in v.items()} if isinstance(v, dict) else v[perm]) for k, v in out.items()}
    if "transfer" in rh.heads:
        out["weights"] = pred.mask_weights(detection_weights(rh.box.box_predictor, rh.source))
    return out


@torch.no_grad()
def gt_box_mask_iou(model, images: torch.Tensor, targets: list, probes=("relative", "unrelated", "mean_A"),
                    batch_size: int = 50) -> dict:
    """The mask heads alone: every object's ground-truth box as its RoI, the 28 x 28 mask of its
    own class (threshold 0.5) against the projected ground truth. No detection, so no
    classification or box error: only what each mask head draws.

    Returns ``{head: {"A", "B" (mean IoU over the objects of A / B), "per_class": {name: IoU}},
    "probe": {kind: {"B", "per_class"}}}`` (probe: the transfer head with B's weights swapped as
    :func:`probe_mappings`; needs a transfer head)."""
    rows = {"labels": [], "gt": [], "probs": {h: [] for h in model.roi_heads.heads}, "probe": {k: [] for k in probes}}
    names = list(SHAPE_CLASSES[1:])
    for b in range(0, len(images), batch_size):
        d = head_masks_on_gt_boxes(model, images[b:b + batch_size], targets[b:b + batch_size], names, 10**6)
        rows["labels"].append(d["labels"])
        rows["gt"].append(d["gt"] >= 0.5)
        for h in model.roi_heads.heads:
            rows["probs"][h].append(d["probs"][h])
        for kind in probes:
            with swapped_transfer(model, probe_mappings(kind)) as w:
                f, lab = d["features"], d["labels"]
                z = torch.einsum("rchw,rc->rhw", f, w[lab, :-1]) + w[lab, -1][:, None, None]
            rows["probe"][kind].append(z.sigmoid())
    lab = torch.cat(rows["labels"])
    gt = torch.cat(rows["gt"])
    in_b = torch.isin(lab, torch.tensor(shape_class_ids(SHAPES_B)))

    def ious(probs):
        m = probs >= 0.5
        inter, union = (m & gt).sum((1, 2)).float(), (m | gt).sum((1, 2)).float()
        return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))

    def per_class(iou):
        return {SHAPE_CLASSES[c]: float(iou[lab == c].mean()) for c in lab.unique().tolist()}

    out = {}
    for h in model.roi_heads.heads:
        iou = ious(torch.cat(rows["probs"][h]))
        out[h] = {"A": float(iou[~in_b].mean()), "B": float(iou[in_b].mean()), "per_class": per_class(iou)}
    out["probe"] = {}
    for kind in probes:
        iou = ious(torch.cat(rows["probe"][kind]))
        out["probe"][kind] = {"B": float(iou[in_b].mean()),
                              "per_class": {k: v for k, v in per_class(iou).items() if k in SHAPES_B}}
    out["objects"] = {"A": int((~in_b).sum()), "B": int(in_b.sum())}
    return out
