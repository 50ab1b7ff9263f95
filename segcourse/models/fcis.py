"""FCIS at course scale (Li et al., arXiv:1611.07709), lesson 09.

The score maps come from the FCN-8s of lesson 04 with ``2 k^2 C`` output channels instead of ``C``
(:class:`FCIS`): the same VGG backbone, fc6/fc7 and skip architecture, the position-sensitive
inside/outside maps at stride 8. Each RoI assembles its ``M x M`` inside/outside maps from them
(:func:`segcourse.ops.fcis.assemble_inside_outside`, RoIAlign sampling) and reads a mask and a
detection score (:func:`segcourse.ops.fcis.fcis_mask_and_score`). There is no RPN and no box
regression: the paper's RPN proposals are replaced, at training time, by ground-truth boxes
jittered (positives, IoU >= 0.5 with an object) plus random and badly shifted boxes (negatives,
IoU < 0.5: background), and at test time by boxes the caller gives (:func:`fcis_predict`).
The loss is the paper's: softmax cross-entropy of the detection logits over the C classes
(background included) on every RoI, plus per-pixel softmax (inside vs outside) cross-entropy of
the ground-truth class's maps on positive RoIs against the object's mask cut to the RoI.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_tensor, check_float, check_images, check_int
from ..ops.upsampling import bilinear_kernel
from ..ops.fcis import FCISScores, assemble_inside_outside, box_iou, fcis_mask_and_score, paste_masks
from .fcn import FCN
from .vgg import VGG_WIDTHS

__all__ = ["FCIS", "init_from_fcn", "fcn_channel_source", "instance_boxes", "sample_rois", "mask_targets", "fcis_loss", "fcis_predict",
           "train_fcis"]


class FCIS(nn.Module):
    """An FCIS head on the course FCN-8s: position-sensitive inside/outside score maps at stride 8.

    num_classes: C, background included (the paper's C + 1). k: the grid of the position-sensitive
    maps (k x k cells per RoI). mask_size: M, the side of the assembled maps (FCIS: k = 7, M = 21).
    ``score_maps(images)`` -> (N, 2*k*k*C, H/8, W/8); ``forward(images, boxes)`` ->
    :class:`~segcourse.ops.fcis.FCISScores` of every RoI (boxes: list of (R_i, 4) image pixels, or
    (R, 5) with batch indices). images: (N, 3, H, W), H and W multiples of 32. The first
    ``frozen_blocks`` VGG blocks get no gradient and keep their BatchNorm statistics.
    """

    stride = 8

    def __init__(self, num_classes: int = 6, k: int = 3, mask_size: int = 12, widths=VGG_WIDTHS,
                 fc_width: int = 128, frozen_blocks: int = 3):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", min_value=2)
        self.k = check_int(k, "k", min_value=1)
        self.mask_size = check_int(mask_size, "mask_size", min_value=1)
        channels = 2 * self.k * self.k * self.num_classes
        self.fcn = FCN("8s", num_classes=channels, widths=widths, fc_width=fc_width)
        # FCN's 2x upsamplers mix all channels (C x C x 4 x 4 weights); with 2k^2 C maps that would be
        # most of the net's weights and time, so here each map is upsampled on its own (groups =
        # channels), still initialised to bilinear interpolation and learned
        self.fcn.up_fr = _bilinear_per_channel(channels)
        self.fcn.up_pool4 = _bilinear_per_channel(channels)
        # the first blocks stay as initialised (FCIS freezes conv1 and res2 of its ResNet): no
        # gradient, and their BatchNorm keeps its statistics in training mode
        self.frozen_blocks = check_int(frozen_blocks, "frozen_blocks", min_value=0, max_value=5)
        for block in self.fcn.backbone.blocks[:self.frozen_blocks]:
            block.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for block in self.fcn.backbone.blocks[:self.frozen_blocks]:
            block.train(False)
        return self

    def score_maps(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> the position-sensitive maps (N, 2*k*k*C, H/8, W/8) (layout:
        :func:`segcourse.ops.fcis.ps_channel`)."""
        return self.fcn.score_maps(images)["stride8"]

    def frozen_features(self, images: torch.Tensor) -> torch.Tensor:
        """The output of the frozen blocks (no gradient): computed once per image for training."""
        x = check_images(images)
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"images: expected shape (N, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        with torch.no_grad():
            for block in self.fcn.backbone.blocks[:self.frozen_blocks]:
                x = block(x)
        return x

    def score_maps_from_frozen(self, features: torch.Tensor) -> torch.Tensor:
        """:meth:`score_maps` from :meth:`frozen_features` (the trainable blocks onwards)."""
        pools = [None] * self.frozen_blocks + []
        x = features
        if self.frozen_blocks:
            pools[-1] = x
        for block in self.fcn.backbone.blocks[self.frozen_blocks:]:
            x = block(x)
            pools.append(x)
        return self.fcn.scores_from_pools(pools)["stride8"]

    def assemble(self, maps: torch.Tensor, boxes):
        """Inside and outside maps (R, C, M, M) of every RoI (boxes in image pixels)."""
        return assemble_inside_outside(maps, boxes, self.k, self.num_classes, self.mask_size,
                                       spatial_scale=1.0 / self.stride, sampling_ratio=2)

    def forward(self, images: torch.Tensor, boxes) -> FCISScores:
        return fcis_mask_and_score(*self.assemble(self.score_maps(images), boxes))


def _bilinear_per_channel(channels: int) -> nn.ConvTranspose2d:
    """A 2x transposed convolution per channel (groups = channels), initialised to bilinear
    interpolation: :func:`segcourse.ops.upsampling.bilinear_upsampler` without channel mixing."""
    up = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, groups=channels, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(4).expand(channels, 1, 4, 4))
    return up


def fcn_channel_source(k: int, num_classes: int) -> torch.Tensor:
    """For each of the 2k^2 C score maps, the FCN class score it starts from: the inside map of
    class c (every cell) starts as class c's score, every outside map as the background's (class 0).
    Returns (2*k*k*C,) int64."""
    k = check_int(k, "k", min_value=1)
    c = check_int(num_classes, "num_classes", min_value=2)
    part = torch.arange(2)[None, :, None].expand(c, 2, k * k)
    cls = torch.arange(c)[:, None, None].expand(c, 2, k * k)
    return torch.where(part == 0, cls, 0).reshape(-1)


def init_from_fcn(model: FCIS, fcn: FCN, scores: bool = True) -> FCIS:
    """Start ``model`` from a trained FCN-8s (FCIS starts from an ImageNet ResNet-101; the course from
    the FCN-8s of lesson 04): copy its backbone and fc6/fc7; with ``scores``, also its score layers,
    each of the 2k^2 C maps from the class score :func:`fcn_channel_source` names (and the diagonal
    of its 2x upsamplers, which are per channel here). The fresh model is then FCN-8s in disguise:
    class c's mask is softmax(score_c, score_background) in every cell, the same for every cell.
    Training makes the cells differ. Returns ``model``."""
    if not isinstance(model, FCIS) or not isinstance(fcn, FCN):
        raise TypeError(f"model, fcn: expected an FCIS and an FCN, got {type(model).__name__}, {type(fcn).__name__}")
    own = model.fcn.state_dict()
    copied = {k: v for k, v in fcn.state_dict().items()
              if k.split(".")[0] in ("backbone", "fc6", "fc7") and k in own and own[k].shape == v.shape}
    if not copied:
        raise ValueError("fcn: no backbone/fc6/fc7 weights of matching shape to copy")
    model.fcn.load_state_dict(copied, strict=False)
    if scores:
        if fcn.variant != "8s" or fcn.num_classes != model.num_classes:
            raise ValueError(f"fcn: expected an FCN-8s with {model.num_classes} classes to copy scores from, got "
                             f"FCN-{fcn.variant} with {fcn.num_classes}")
        src = fcn_channel_source(model.k, model.num_classes)
        with torch.no_grad():
            for name in ("score_fr", "score_pool4", "score_pool3"):
                mine, theirs = getattr(model.fcn, name), getattr(fcn, name)
                mine.weight.copy_(theirs.weight[src])
                mine.bias.copy_(theirs.bias[src])
            for name in ("up_fr", "up_pool4"):
                w = getattr(fcn, name).weight                               # (C, C, 4, 4)
                getattr(model.fcn, name).weight.copy_(w[src, src][:, None])
    return model


def instance_boxes(semantic, instance, return_ids: bool = False):
    """The objects of one image: semantic (H, W) class ids, instance (H, W) ids (0 = none).

    Returns masks (n, H, W) bool, classes (n,) int64 (each object's class, read from the semantic
    map) and boxes (n, 4) float32 ``[x1, y1, x2, y2]`` tight around each mask, x2/y2 exclusive;
    with ``return_ids`` also the (n,) instance ids.
    """
    sem = as_tensor(semantic, "semantic", ndim=2, kind="int").long()
    inst = as_tensor(instance, "instance", shape=tuple(sem.shape), kind="int").long()
    ids = torch.unique(inst)
    ids = ids[ids > 0]
    masks = inst[None] == ids[:, None, None]
    classes, boxes = _classes_and_boxes(sem[None], masks[None])
    return (masks, classes[0], boxes[0], ids) if return_ids else (masks, classes[0], boxes[0])


def _classes_and_boxes(sem: torch.Tensor, masks: torch.Tensor):
    """sem (B, H, W), masks (B, K, H, W) bool -> classes (B, K) (0 for an empty mask) and tight
    boxes (B, K, 4) float32 (zeros for an empty mask)."""
    b, k, h, w = masks.shape
    classes = (sem[:, None] * masks).amax(dim=(2, 3)) if k else torch.zeros(b, 0, dtype=torch.long)
    rows, cols = masks.any(3), masks.any(2)                            # (B, K, H), (B, K, W)
    if not k:
        return classes, torch.zeros(b, 0, 4)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    y1 = torch.where(rows, ar_h, h).amin(2)
    y2 = torch.where(rows, ar_h + 1, 0).amax(2)
    x1 = torch.where(cols, ar_w, w).amin(2)
    x2 = torch.where(cols, ar_w + 1, 0).amax(2)
    boxes = torch.stack([x1, y1, x2, y2], -1).float()
    return classes, torch.where(rows.any(2)[..., None], boxes, torch.zeros_like(boxes))


def sample_rois(gt_boxes, image_size, generator: torch.Generator, *, n_jitter: int = 4, n_shifted: int = 2,
                n_random: int = 8, sigma: float = 0.1, sigma_shifted: float = 0.35, min_size: float = 4.0):
    """Training RoIs for one image: each ground-truth box, ``n_jitter`` copies whose edges move by
    ``sigma`` x its width/height (Gaussian), ``n_shifted`` copies moved by ``sigma_shifted`` (mostly
    negatives that overlap an object), and ``n_random`` boxes anywhere (side log-uniform in
    [8, image side]). Boxes are clipped to the image and at least ``min_size`` wide.

    gt_boxes: (n, 4) float. Returns (m, 4) float32 boxes (seeded by ``generator``).
    """
    gt = as_tensor(gt_boxes, "gt_boxes", shape=("n", 4)).float()
    h, w = (check_int(s, "image_size", min_value=1) for s in image_size)
    sigma = check_float(sigma, "sigma", min_value=0.0)
    sigma_shifted = check_float(sigma_shifted, "sigma_shifted", min_value=0.0)
    parts = [gt]
    size = torch.cat([gt[:, 2:] - gt[:, :2]] * 2, 1)                    # (n, 4): w, h, w, h
    for copies, s in ((n_jitter, sigma), (n_shifted, sigma_shifted)):
        if copies and len(gt):
            noise = torch.randn(copies, *gt.shape, generator=generator)
            parts.append((gt[None] + noise * s * size[None]).reshape(-1, 4))
    if n_random:
        side = torch.exp(torch.empty(n_random, 2).uniform_(torch.log(torch.tensor(8.0)).item(),
                                                           torch.log(torch.tensor(float(max(h, w)))).item(),
                                                           generator=generator))
        centre = torch.rand(n_random, 2, generator=generator) * torch.tensor([w, h], dtype=torch.float32)
        parts.append(torch.cat([centre - side / 2, centre + side / 2], 1))
    boxes = torch.cat(parts)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    x1 = torch.minimum(boxes[:, 0], boxes[:, 2]).clamp(max=w - min_size)
    y1 = torch.minimum(boxes[:, 1], boxes[:, 3]).clamp(max=h - min_size)
    x2 = torch.maximum(torch.maximum(boxes[:, 0], boxes[:, 2]), x1 + min_size)
    y2 = torch.maximum(torch.maximum(boxes[:, 1], boxes[:, 3]), y1 + min_size)
    return torch.stack([x1, y1, x2, y2], 1)


def mask_targets(instance, rois, ids, mask_size: int, samples: int = 2) -> torch.Tensor:
    """Each RoI's mask target: (R, M, M) bool, cell inside when at least half of its ``samples`` x
    ``samples`` sample points (RoIAlign's points, ``aligned=True``) fall on a pixel of object ``ids[r]``.

    instance: (B, H, W) int instance maps; rois: (R, 5) [batch_index, x1, y1, x2, y2]; ids: (R,).
    """
    inst = as_tensor(instance, "instance", ndim=3, kind="int")
    rois = as_tensor(rois, "rois", shape=("R", 5)).float()
    ids = as_tensor(ids, "ids", shape=(rois.shape[0],), kind="int").long()
    m = check_int(mask_size, "mask_size", min_value=1)
    g = check_int(samples, "samples", min_value=1)
    b, h, w = inst.shape
    t = ((torch.arange(m)[:, None] + (torch.arange(g)[None, :] + 0.5) / g) / m).reshape(-1)   # (M*g,)
    ys = rois[:, 2:3] + t * (rois[:, 4:5] - rois[:, 2:3])                  # (R, M*g) image coordinates
    xs = rois[:, 1:2] + t * (rois[:, 3:4] - rois[:, 1:2])
    yi = ys.floor().long().clamp(0, h - 1)
    xi = xs.floor().long().clamp(0, w - 1)
    n = rois[:, 0].long()
    hit = inst[n[:, None, None], yi[:, :, None], xi[:, None, :]].long() == ids[:, None, None]   # (R, Mg, Mg)
    frac = hit.float().reshape(-1, m, g, m, g).mean(dim=(2, 4))
    return frac >= 0.5


def fcis_loss(model: FCIS, images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator,
              mask_weight: float = 1.0, positive_iou: float = 0.5, parts: bool = False, features: bool = False,
              **sampling):
    """FCIS's training loss on a batch.

    images: (B, 3, H, W), or with ``features=True`` the model's :meth:`FCIS.frozen_features` of them;
    targets: (B, 2, H, W) int: the semantic map and the instance map of each image. RoIs come from :func:`sample_rois` (``sampling`` keywords go there); a RoI whose best IoU
    with an object is >= ``positive_iou`` is that object's class, with the object's mask cut to the
    RoI (:func:`mask_targets`) as its mask target; any other RoI is background (class 0).
    Loss = cross-entropy of the detection logits + ``mask_weight`` x the mean per-pixel
    inside/outside cross-entropy on positive RoIs. parts=True returns (loss, class_loss, mask_loss).
    """
    x = as_tensor(images, "images", ndim=4, kind="float") if features else check_images(images)
    t = as_tensor(targets, "targets", shape=(x.shape[0], 2, None, None), kind="int")
    h, w = t.shape[2:]
    sem, inst = t[:, 0].long(), t[:, 1].long()
    ids_all = torch.arange(1, int(inst.max()) + 1) if inst.numel() and int(inst.max()) > 0 else torch.zeros(0, dtype=torch.long)
    classes_all, boxes_all = _classes_and_boxes(sem, inst[:, None] == ids_all[None, :, None, None])
    rois, labels, matched = [], [], []
    for b in range(x.shape[0]):
        present = classes_all[b] > 0
        classes, gt, ids = classes_all[b][present], boxes_all[b][present], ids_all[present]
        boxes = sample_rois(gt, (h, w), generator, **sampling)
        label = torch.zeros(len(boxes), dtype=torch.long)
        match = torch.zeros(len(boxes), dtype=torch.long)
        if len(gt):
            best, j = box_iou(boxes, gt).max(1)
            pos = best >= positive_iou
            label = torch.where(pos, classes[j], 0)
            match = torch.where(pos, ids[j], 0)
        rois.append(torch.cat([torch.full((len(boxes), 1), float(b)), boxes], 1))
        labels.append(label)
        matched.append(match)
    rois, labels, matched = torch.cat(rois), torch.cat(labels), torch.cat(matched)
    inside, outside = model.assemble(model.score_maps_from_frozen(x) if features else model.score_maps(x), rois)
    logits = torch.maximum(inside, outside).mean(dim=(2, 3))
    class_loss = F.cross_entropy(logits, labels)
    pos = torch.nonzero(labels > 0)[:, 0]
    if len(pos):
        cut = mask_targets(t[:, 1], rois[pos], matched[pos], model.mask_size)
        cls = labels[pos]
        margin = inside[pos, cls] - outside[pos, cls]                   # the logit of softmax(I, O)
        mask_loss = F.binary_cross_entropy_with_logits(margin, cut.float())
    else:
        mask_loss = logits.sum() * 0
    loss = class_loss + check_float(mask_weight, "mask_weight", min_value=0.0) * mask_loss
    return (loss, class_loss.detach(), mask_loss.detach()) if parts else loss


@torch.no_grad()
def fcis_predict(model: FCIS, images: torch.Tensor, boxes: list, batch_size: int = 16, threshold: float = 0.5) -> list:
    """Instances from given boxes: for each image, each box gets the best foreground class of its
    detection scores, that score, and that class's mask pasted into the image (probability >=
    ``threshold``). images: (N, 3, H, W); boxes: list of N (R_i, 4) image boxes (R_i may be 0).
    Returns a list of N dicts ``{"masks": (R_i, H, W) bool, "classes": (R_i,) int64, "scores":
    (R_i,) float32, "probs": (R_i, C) float32}`` (the format of :func:`segcourse.metrics.mask_ap`).
    """
    x = check_images(images)
    if not isinstance(boxes, (list, tuple)) or len(boxes) != x.shape[0]:
        raise ValueError(f"boxes: expected a list of {x.shape[0]} (R_i, 4) tensors, one per image")
    bx = [as_tensor(b, f"boxes[{i}]", shape=("R", 4)).float() for i, b in enumerate(boxes)]
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    threshold = check_float(threshold, "threshold", min_value=0.0, max_value=1.0)
    model.eval()
    h, w = x.shape[2:]
    out = []
    for s in range(0, x.shape[0], batch_size):
        chunk = bx[s:s + batch_size]
        scores = model(x[s:s + batch_size], chunk)
        start = 0
        for b in chunk:
            r = len(b)
            probs = scores.probs[start:start + r]
            cls = probs[:, 1:].argmax(1) + 1 if r else torch.zeros(0, dtype=torch.long)
            conf = probs.gather(1, cls[:, None])[:, 0] if r else torch.zeros(0)
            m = scores.mask[start:start + r][torch.arange(r), cls] if r else torch.zeros(0, 1, 1)
            pasted = paste_masks(m, b, (h, w)) >= threshold
            out.append({"masks": pasted, "classes": cls, "scores": conf.float(), "probs": probs.float()})
            start += r
    return out


def train_fcis(model: FCIS, images: torch.Tensor, targets: torch.Tensor, *, epochs: int, batch_size: int = 16,
               lr: float = 2e-3, seed: int = 0, progress: bool = True, desc: str = "fcis", **loss_kwargs) -> dict:
    """Train ``model`` with :func:`fcis_loss` in the course's seeded loop (:func:`segcourse.train.fit`:
    Adam, one-cycle schedule). The frozen blocks' output is computed once per image first, so each
    step runs only the trainable layers (no flips: a flipped image's features are not the flipped
    features). images (N, 3, H, W) in [0, 1]; targets (N, 2, H, W) int (semantic, instance).
    Returns fit's history."""
    from ..train import fit

    x = check_images(images, min_value=0.0, max_value=1.0)
    t = as_tensor(targets, "targets", shape=(x.shape[0], 2, x.shape[2], x.shape[3]), kind="int")
    gen = torch.Generator().manual_seed(check_int(seed, "seed", min_value=0) + 1)
    model.eval()
    feats = torch.cat([model.frozen_features(x[i:i + 64]) for i in range(0, x.shape[0], 64)])
    return fit(model, feats, t, lambda fb, yb: fcis_loss(model, fb, yb, gen, features=True, **loss_kwargs),
               epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, flip=False, progress=progress, desc=desc)
