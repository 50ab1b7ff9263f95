"""Segmentation metrics: confusion matrix, pixel accuracy, IoU, boundary F-score and COCO mask AP.

Label maps are integer (or bool) torch tensors or numpy arrays of shape ``(H, W)`` or batched
``(N, H, W)``. Pixels whose *ground-truth* label equals ``ignore_index`` (default 255, the PASCAL
VOC "void" label) are excluded from every metric; ``ignore_index=None`` disables this.

Conventions (chosen once, used everywhere):

* confusion matrix: rows = ground truth, columns = prediction, ``conf[t, p]`` = number of
  non-ignored pixels with true class ``t`` predicted as ``p``;
* a class absent from both ground truth and prediction has IoU ``nan`` (it says nothing about the
  model) and :func:`mean_iou` skips it (``nanmean``); 0 / 0 elsewhere is ``nan`` too, never 0 or 1,
  except for :func:`mask_iou` (two empty masks agree perfectly: 1.0) and :func:`boundary_fscore`
  (no boundary in either map: 1.0).
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ._validate import as_tensor, check_float, check_int
from .ops.labels import IGNORE_INDEX

__all__ = ["class_errors", "ERROR_KINDS", "error_kinds", "error_kind_counts", "SIZE_BUCKETS", "instance_size_iou",
    "boundary_band", "band_accuracy",
    "confusion_matrix",
    "pixel_accuracy",
    "iou_per_class",
    "mean_iou",
    "segmentation_scores",
    "mask_iou",
    "boundary_fscore",
    "mask_ap",
    "coco_ap",
    "COCO_AP_KEYS",
    "INSTANCE_ERROR_KINDS",
    "instance_errors",
    "greedy_match",
    "coco_ap_from_ious",
    "mask_ious",
]


# ----------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------

def _check_ignore_index(ignore_index) -> int | None:
    if ignore_index is None:
        return None
    return check_int(ignore_index, "ignore_index")


def _label_maps(pred, target, num_classes, ignore_index, *, require_num_classes: bool = True):
    """Validate a (pred, target) pair of label maps; return int64 tensors and the checked ints.

    pred: (H, W) or (N, H, W) integer, values in [0, num_classes).
    target: same shape, values in [0, num_classes) or == ignore_index.
    """
    pred = as_tensor(pred, "pred", kind="int", ndim=(2, 3))
    target = as_tensor(target, "target", kind="int", ndim=(2, 3))
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"target: expected the same shape as pred {tuple(pred.shape)}, "
                         f"got {tuple(target.shape)}")
    if num_classes is None:
        if require_num_classes:
            raise TypeError("num_classes: expected an int, got NoneType")
    else:
        num_classes = check_int(num_classes, "num_classes", min_value=1)
    ignore_index = _check_ignore_index(ignore_index)
    pred = pred.long()
    target = target.to(pred.device).long()
    upper = num_classes  # None: only non-negativity is checked
    if pred.numel():
        lo, hi = int(pred.min()), int(pred.max())
        if lo < 0 or (upper is not None and hi >= upper):
            bad = lo if lo < 0 else hi
            want = f"[0, {upper})" if upper is not None else ">= 0"
            raise ValueError(f"pred: expected class ids in {want} (num_classes={num_classes}), "
                             f"got {bad}")
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    tv = target[valid]
    if tv.numel():
        lo, hi = int(tv.min()), int(tv.max())
        if lo < 0 or (upper is not None and hi >= upper):
            bad = lo if lo < 0 else hi
            want = f"[0, {upper})" if upper is not None else ">= 0"
            raise ValueError(f"target: expected class ids in {want} or ignore_index={ignore_index} "
                             f"(num_classes={num_classes}), got {bad}")
    return pred, target, valid, num_classes, ignore_index


def _conf_matrix(conf) -> torch.Tensor:
    conf = as_tensor(conf, "conf", shape=("C", "C"), allow_empty=False, min_value=0)
    return conf.detach().cpu().to(torch.float64)


# ----------------------------------------------------------------------------------------------
# confusion-matrix based metrics
# ----------------------------------------------------------------------------------------------

def confusion_matrix(pred, target, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Confusion matrix of a predicted label map against the ground truth.

    pred: (H, W) or (N, H, W) integer tensor/array, values in [0, num_classes).
    target: same shape, values in [0, num_classes) or ``ignore_index`` (those pixels are skipped).
    Returns a (C, C) int64 CPU tensor, C = num_classes, rows = ground truth, columns = prediction:
    ``conf[t, p]`` counts the non-ignored pixels of true class t predicted as p. Matrices of
    several batches can simply be added.
    """
    pred, target, valid, c, _ = _label_maps(pred, target, num_classes, ignore_index)
    idx = target[valid] * c + pred[valid]
    return torch.bincount(idx.cpu(), minlength=c * c).reshape(c, c).to(torch.int64)


def pixel_accuracy(conf) -> float:
    """Fraction of (non-ignored) pixels classified correctly: ``trace(conf) / conf.sum()``.

    conf: (C, C) confusion matrix (rows = ground truth), non-negative. Returns a Python float,
    ``nan`` if the matrix is all zeros (no pixel to score).
    """
    conf = _conf_matrix(conf)
    total = conf.sum().item()
    return float("nan") if total == 0 else conf.diagonal().sum().item() / total


def iou_per_class(conf) -> torch.Tensor:
    """Intersection over union of every class: ``TP / (TP + FP + FN)``.

    conf: (C, C) confusion matrix (rows = ground truth, columns = prediction), non-negative.
    Returns a (C,) float64 tensor; a class absent from both ground truth and prediction
    (denominator 0) gets ``nan``.
    """
    conf = _conf_matrix(conf)
    tp = conf.diagonal()
    denom = conf.sum(0) + conf.sum(1) - tp
    iou = torch.full_like(tp, float("nan"))
    nz = denom > 0
    iou[nz] = tp[nz] / denom[nz]
    return iou


def mean_iou(conf) -> float:
    """Mean IoU over the classes present in ground truth or prediction (``nanmean``).

    conf: (C, C) confusion matrix. Returns a Python float, ``nan`` if no class is present.
    """
    return torch.nanmean(iou_per_class(conf)).item()


def segmentation_scores(pred, target, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> dict:
    """Pixel accuracy, mean IoU and per-class IoU in one call.

    pred, target, num_classes, ignore_index: as in :func:`confusion_matrix`.
    Returns ``{"pixel_accuracy": float, "mean_iou": float, "iou": list of C floats (nan = class
    absent from both maps)}``.
    """
    conf = confusion_matrix(pred, target, num_classes, ignore_index)
    return {
        "pixel_accuracy": pixel_accuracy(conf),
        "mean_iou": mean_iou(conf),
        "iou": iou_per_class(conf).tolist(),
    }


def mask_iou(a, b) -> float:
    """IoU of two binary masks: ``|a & b| / |a | b|``.

    a, b: (H, W) bool tensors/arrays (or integer ones holding only 0 and 1), same shape.
    Returns a Python float. Two empty masks agree perfectly, so their IoU is defined as 1.0
    (note: pycocotools returns 0 in that case).
    """
    a = as_tensor(a, "a", kind="int", ndim=2, min_value=0, max_value=1)
    b = as_tensor(b, "b", kind="int", ndim=2, min_value=0, max_value=1)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"b: expected the same shape as a {tuple(a.shape)}, got {tuple(b.shape)}")
    a, b = a.bool(), b.to(a.device).bool()
    union = (a | b).sum().item()
    return 1.0 if union == 0 else (a & b).sum().item() / union


# ----------------------------------------------------------------------------------------------
# boundary F-score
# ----------------------------------------------------------------------------------------------

def _boundary(lab: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Boundary pixels of an (..., H, W) label map: valid pixels with a valid 4-neighbour of a
    different label (both sides of every contour; the image border is not a contour)."""
    b = np.zeros(lab.shape, dtype=bool)
    d = (lab[..., 1:] != lab[..., :-1]) & valid[..., 1:] & valid[..., :-1]
    b[..., 1:] |= d
    b[..., :-1] |= d
    d = (lab[..., 1:, :] != lab[..., :-1, :]) & valid[..., 1:, :] & valid[..., :-1, :]
    b[..., 1:, :] |= d
    b[..., :-1, :] |= d
    return b


def boundary_band(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels within ``width`` pixels (chessboard distance) of a class boundary.

    mask (H, W) or (N, H, W) int -> bool of the same shape. A boundary pixel has a 4-neighbour of
    another class; the band dilates those pixels by ``width`` (``width=0``: the boundary itself).
    """
    m = as_tensor(mask, "mask", ndim=(2, 3), kind="int").long()
    width = check_int(width, "width", min_value=0)
    edge = torch.from_numpy(_boundary(m.numpy(), np.ones(m.shape, dtype=bool)))
    band = torch.nn.functional.max_pool2d(edge.reshape(-1, 1, *m.shape[-2:]).float(), 2 * width + 1,
                                          stride=1, padding=width) > 0
    return band.reshape(m.shape)


def band_accuracy(pred: torch.Tensor, target: torch.Tensor, width: int) -> float:
    """Pixel accuracy inside the band of ``width`` pixels around the true boundaries (a "trimap").

    pred, target: (N, H, W) or (H, W) int class maps of the same shape.
    """
    p = as_tensor(pred, "pred", ndim=(2, 3), kind="int")
    t = as_tensor(target, "target", ndim=(2, 3), kind="int")
    if p.shape != t.shape:
        raise ValueError(f"pred: expected the shape of target {tuple(t.shape)}, got {tuple(p.shape)}")
    band = boundary_band(t, width)
    if not band.any():
        raise ValueError("target: has no class boundary, so the band is empty")
    return float((p[band] == t[band]).double().mean())


def _sq_dist_to(mask: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance (integer) from every pixel to the nearest True of mask."""
    from scipy import ndimage

    idx = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    rows, cols = np.indices(mask.shape)
    return (idx[0] - rows) ** 2 + (idx[1] - cols) ** 2


def _fscore(pb: np.ndarray, gb: np.ndarray, tol2: float) -> float:
    n_p, n_g = int(pb.sum()), int(gb.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    precision = np.count_nonzero(_sq_dist_to(gb)[pb] <= tol2) / n_p
    recall = np.count_nonzero(_sq_dist_to(pb)[gb] <= tol2) / n_g
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def boundary_fscore(pred, target, tolerance: float = 2, num_classes: int | None = None,
                    ignore_index: int | None = IGNORE_INDEX, per_class: bool = False):
    """Boundary F-measure (Csurka et al., BMVC 2013; the "F" of DAVIS).

    pred, target: (H, W) or (N, H, W) integer label maps of the same shape; target pixels equal to
    ``ignore_index`` are excluded. tolerance: non-negative distance in pixels. num_classes: if
    given, labels are checked to lie in [0, num_classes); required when ``per_class=True``.

    * Boundary pixels of a label map: non-ignored pixels with a non-ignored 4-neighbour of a
      different label (so both sides of a contour; the image border is not a boundary).
    * precision = fraction of predicted boundary pixels whose Euclidean distance (between pixel
      centres, exact, e.g. a diagonal neighbour is at sqrt(2)) to the nearest ground-truth
      boundary pixel is ``<= tolerance``; recall = the same with the roles swapped;
      F = 2PR / (P + R). ``tolerance=0`` demands exact coincidence.
    * Edge cases: no boundary in either map -> 1.0; boundary in only one of them -> 0.0.
      (So a map with a single label scores 1.0 against any other single-label map: the measure
      looks at contours only; pair it with IoU.)
    * (N, H, W) input: each image is scored on its own and the scores are averaged; images with
      no non-ignored pixel are skipped (``nan`` if none remain).

    per_class=False returns a Python float. per_class=True returns a (C,) float64 tensor, entry c
    being the F-score of the binary masks ``pred == c`` vs ``target == c`` (ignored pixels
    excluded), averaged over the images where class c occurs in ground truth or prediction;
    ``nan`` for a class that occurs nowhere.
    """
    if not isinstance(per_class, bool):
        raise TypeError(f"per_class: expected a bool, got {type(per_class).__name__}")
    if per_class and num_classes is None:
        raise ValueError("num_classes: required when per_class=True")
    pred, target, valid, c, _ = _label_maps(pred, target, num_classes, ignore_index,
                                            require_num_classes=False)
    tol = check_float(tolerance, "tolerance", min_value=0)
    tol2 = tol * tol + 1e-9  # squared distances are integers; the epsilon absorbs rounding of tol
    p = pred.cpu().numpy().reshape(-1, *pred.shape[-2:])
    t = target.cpu().numpy().reshape(-1, *target.shape[-2:])
    v = valid.cpu().numpy().reshape(-1, *valid.shape[-2:])

    if not per_class:
        scores = [_fscore(_boundary(pi, vi), _boundary(ti, vi), tol2)
                  for pi, ti, vi in zip(p, t, v) if vi.any()]
        return float(np.mean(scores)) if scores else float("nan")

    sums = np.zeros(c)
    counts = np.zeros(c)
    for pi, ti, vi in zip(p, t, v):
        present = np.unique(np.concatenate([pi[vi], ti[vi]]))
        for k in present:
            pm, tm = pi == k, ti == k
            sums[k] += _fscore(_boundary(pm, vi), _boundary(tm, vi), tol2)
            counts[k] += 1
    out = np.full(c, np.nan)
    out[counts > 0] = sums[counts > 0] / counts[counts > 0]
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------------------------
# COCO mask AP
# ----------------------------------------------------------------------------------------------

def _instances(entry, name: str, *, scores: bool, boxes: bool, hw: tuple[int, int] | None = None):
    keys = (("boxes",) if boxes else ("masks",)) + (("classes", "scores") if scores else ("classes",))
    if not isinstance(entry, Mapping):
        raise TypeError(f"{name}: expected a dict with keys {list(keys)}, got {type(entry).__name__}")
    for k in keys:
        if k not in entry:
            raise ValueError(f"{name}: missing key {k!r} (expected keys {list(keys)})")
    if boxes:
        geo = as_tensor(entry["boxes"], f"{name}['boxes']", kind="float", shape=("N", 4))
        geo = geo.detach().cpu().double().numpy()
        if (geo[:, 2] < geo[:, 0]).any() or (geo[:, 3] < geo[:, 1]).any():
            raise ValueError(f"{name}['boxes']: expected [x1, y1, x2, y2] with x2 >= x1 and y2 >= y1")
    else:
        shape = ("N", hw[0], hw[1]) if hw is not None else ("N", "H", "W")
        geo = as_tensor(entry["masks"], f"{name}['masks']", kind="int", shape=shape, min_value=0, max_value=1)
        geo = geo.detach().cpu().bool().numpy()
    n = geo.shape[0]
    classes = as_tensor(entry["classes"], f"{name}['classes']", kind="int", shape=(n,), min_value=0)
    sc = None
    if scores:
        sc = as_tensor(entry["scores"], f"{name}['scores']", kind="float", shape=(n,))
        sc = sc.detach().cpu().double().numpy()
    return geo, classes.detach().cpu().long().numpy(), sc


def _rles(masks: np.ndarray) -> list:
    from pycocotools import mask as mask_utils

    if masks.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))


def _check_image_lists(gt, predictions) -> None:
    for obj, name in ((gt, "gt"), (predictions, "predictions")):
        if isinstance(obj, (str, bytes, Mapping)) or not isinstance(obj, Sequence):
            raise TypeError(f"{name}: expected a list with one dict per image, got {type(obj).__name__}")
    if len(gt) == 0:
        raise ValueError("gt: expected at least one image, got an empty list")
    if len(predictions) != len(gt):
        raise ValueError(f"predictions: expected one entry per gt image ({len(gt)}), got {len(predictions)}")


def _iou_thresholds(iou_thresholds):
    if iou_thresholds is None:
        return None
    thrs = as_tensor(iou_thresholds if isinstance(iou_thresholds, (np.ndarray, torch.Tensor))
                     else np.asarray(iou_thresholds, dtype=np.float64),
                     "iou_thresholds", ndim=1, allow_empty=False, min_value=0, max_value=1)
    thrs = np.sort(thrs.detach().cpu().double().numpy())
    # summarize() looks 0.5 and 0.75 up with ==; snap near-equal values so AP50/AP75 are found
    for exact in (0.5, 0.75):
        thrs[np.isclose(thrs, exact)] = exact
    return thrs


#: The keys :func:`coco_ap` returns besides ``per_class``: COCO's stats[0..5].
COCO_AP_KEYS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")


def coco_ap(gt: Sequence, predictions: Sequence, iou_type: str = "segm", iou_thresholds=None) -> dict:
    """COCO average precision of masks (``iou_type="segm"``) or boxes (``"bbox"``), computed by
    pycocotools' ``COCOeval``.

    gt: list with one dict per image, ``{"masks": (N, H, W) bool, "classes": (N,) int}`` for
    "segm" or ``{"boxes": (N, 4) float [x1, y1, x2, y2], "classes": (N,) int}`` for "bbox"
    (extra keys are ignored); every ground-truth mask must be non-empty (an empty one could never
    be matched). predictions: list of the same length, the same keys plus ``"scores": (M,)``
    (M may be 0; masks of the matching gt image's H, W).
    iou_thresholds: optional sequence of IoU thresholds in [0, 1]; default COCO's 0.50:0.05:0.95.

    Returns ``{"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large"}``: COCO's stats[0..5]
    (101-point interpolated precision averaged over the IoU thresholds and the classes present in
    the ground truth, at most 100 detections per image; small / medium / large = area below 32^2,
    up to 96^2, above, in pixels: mask area for "segm", box area for "bbox"), plus ``"per_class"``:
    ``{class id: AP}`` over all sizes. AP50 / AP75 are ``nan`` when 0.5 / 0.75 is not among
    ``iou_thresholds``; a size with no ground truth is ``nan``; everything is ``nan`` when the
    ground truth has no instance.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from pycocotools import mask as mask_utils

    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"iou_type: expected 'segm' or 'bbox', got {iou_type!r}")
    boxes = iou_type == "bbox"
    _check_image_lists(gt, predictions)
    thrs = _iou_thresholds(iou_thresholds)

    images, gt_anns, dt_anns, cats = [], [], [], set()
    for i, (g, d) in enumerate(zip(gt, predictions)):
        gm, gc, _ = _instances(g, f"gt[{i}]", scores=False, boxes=boxes)
        if boxes:
            h = w = 1
            dm, dc, ds = _instances(d, f"predictions[{i}]", scores=True, boxes=True)
        else:
            h, w = gm.shape[1:]
            dm, dc, ds = _instances(d, f"predictions[{i}]", scores=True, boxes=False, hw=(h, w))
            empty = np.flatnonzero(~gm.any(axis=(1, 2)))
            if empty.size:
                raise ValueError(f"gt[{i}]['masks']: instance {int(empty[0])} is empty; an empty "
                                 "ground-truth mask can never be matched")
        images.append({"id": i + 1, "height": int(h), "width": int(w)})
        for geo, classes, sc, out in ((gm, gc, None, gt_anns), (dm, dc, ds, dt_anns)):
            if boxes:
                shapes = [{"bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                           "area": float((b[2] - b[0]) * (b[3] - b[1]))} for b in geo]
            else:
                shapes = [{"segmentation": rle, "area": float(mask_utils.area(rle)),
                           "bbox": mask_utils.toBbox(rle).tolist()} for rle in _rles(geo)]
            for j, (shape, cls) in enumerate(zip(shapes, classes)):
                ann = {"id": len(out) + 1,  # ids must start at 1: COCOeval treats id 0 as "unmatched"
                       "image_id": i + 1, "category_id": int(cls), "iscrowd": 0, **shape}
                if sc is not None:
                    ann["score"] = float(sc[j])
                out.append(ann)
                cats.add(int(cls))
    nan = float("nan")
    if not gt_anns:
        return {**{k: nan for k in COCO_AP_KEYS}, "per_class": {}}

    categories = [{"id": c, "name": str(c)} for c in sorted(cats)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset = {"images": images, "annotations": gt_anns, "categories": categories}
        coco_dt.dataset = {"images": images, "annotations": dt_anns, "categories": categories}
        coco_gt.createIndex()
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        if thrs is not None:
            ev.params.iouThrs = thrs
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(s) for s in ev.stats[:6]]
    out = {k: (nan if s == -1 else s) for k, s in zip(COCO_AP_KEYS, stats)}
    # precision: (T, R, K, A, M); area "all" = 0, maxDets 100 = last; -1 marks "no gt of class k"
    prec = ev.eval["precision"][:, :, :, 0, -1]
    gt_classes = {a["category_id"] for a in gt_anns}
    out["per_class"] = {}
    for k, cat in enumerate(ev.params.catIds):
        if cat in gt_classes:
            p = prec[:, :, k]
            out["per_class"][int(cat)] = float(p[p > -1].mean()) if (p > -1).any() else 0.0
    return out


def mask_ap(gt: Sequence, predictions: Sequence, iou_thresholds=None) -> dict:
    """COCO mask average precision: :func:`coco_ap` with ``iou_type="segm"``, its first three
    numbers ``{"AP": float, "AP50": float, "AP75": float}``.

    gt: list with one dict per image, ``{"masks": (N, H, W) bool, "classes": (N,) int}``;
    predictions: the same plus ``"scores": (M,) float`` (M may be 0).
    """
    full = coco_ap(gt, predictions, "segm", iou_thresholds)
    return {k: full[k] for k in ("AP", "AP50", "AP75")}


def mask_ious(a, b) -> torch.Tensor:
    """IoU of every mask of ``a`` (A, H, W) with every mask of ``b`` (B, H, W), bool or 0/1:
    (A, B) float64 (0 where both are empty; pixel counts are exact, the ratio in float64 as
    pycocotools computes it, so an IoU of exactly 0.9 stays 0.9)."""
    fa = as_tensor(a, "a", ndim=3).reshape(len(a), -1).float()
    fb = as_tensor(b, "b", ndim=3).reshape(len(b), -1).float()
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"b: expected masks of the same H, W as a, got {tuple(b.shape)} and {tuple(a.shape)}")
    inter = (fa @ fb.T).double()                                   # counts < 2^24: exact in float32
    union = fa.sum(1).double()[:, None] + fb.sum(1).double()[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def _greedy_multi(iou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """:func:`greedy_match` at several thresholds at once: (T, D) int64 object taken or -1."""
    d, n = iou.shape
    t = len(thresholds)
    out = np.full((t, d), -1, dtype=np.int64)
    if n == 0:
        return out
    taken = np.zeros((t, n), dtype=bool)
    rows = np.arange(t)
    for k in range(d):
        row = np.where(taken, -1.0, iou[k][None, :])              # (T, N)
        j = n - 1 - row[:, ::-1].argmax(1)                         # ties: the last object, as COCOeval
        hit = row[rows, j] >= thresholds
        taken[rows[hit], j[hit]] = True
        out[hit, k] = j[hit]
    return out


def greedy_match(iou: np.ndarray, threshold: float) -> np.ndarray:
    """COCO's matching of one image's detections (rows, already in score order) to its objects
    (columns): each detection in turn takes, among the objects not yet taken, the one it overlaps
    most (the last of equals, as pycocotools' loop does), if that IoU is at least ``threshold``
    (IoU -1 marks a pair that may not match, e.g. of different classes). iou: (D, N).
    Returns (D,) int64: the object taken, or -1."""
    iou = np.asarray(iou, dtype=np.float64)
    if iou.ndim != 2:
        raise ValueError(f"iou: expected a (D, N) array, got shape {iou.shape}")
    return _greedy_multi(iou, np.array([float(threshold)]))[0]


def coco_ap_from_ious(ious: Sequence, det_classes: Sequence, det_scores: Sequence, gt_classes: Sequence,
                      iou_thresholds=None) -> dict:
    """COCO AP from precomputed IoUs, equal to :func:`coco_ap` (tested) without pycocotools'
    per-call set-up: what a widget can afford at every slider move.

    Per image: ``ious[i]`` (D_i, N_i) IoU of each detection with each object (any class: pairs of
    different classes never match), ``det_classes[i]`` (D_i,), ``det_scores[i]`` (D_i,),
    ``gt_classes[i]`` (N_i,). At most 100 detections per image (the best) count, as in COCO.
    For every IoU threshold and every class with objects: detections of that class over all images
    in score order (stable), :func:`greedy_match` per image, precision made non-increasing, sampled
    at the 101 recall points 0, 0.01, ..., 1 (0 beyond the largest recall reached), averaged.
    Returns ``{"AP", "AP50", "AP75"}`` (``nan`` without objects).
    """
    thrs = _iou_thresholds(iou_thresholds)
    thrs = np.linspace(0.5, 0.95, 10) if thrs is None else thrs
    images = []
    for iou, dc, ds, gc in zip(ious, det_classes, det_scores, gt_classes):
        iou, dc, ds, gc = (np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x) for x in (iou, dc, ds, gc))
        order = np.argsort(-ds, kind="mergesort")[:100]
        iou = iou.reshape(len(dc), len(gc))[order].astype(np.float64)
        dc, ds = dc[order], ds[order]
        images.append((np.where(dc[:, None] == gc[None, :], iou, -1.0), dc, ds, gc))
    classes = sorted({int(c) for _, _, _, gc in images for c in gc})
    nan = float("nan")
    if not classes:
        return {"AP": nan, "AP50": nan, "AP75": nan}
    rec_pts = np.linspace(0, 1, 101)
    ap = np.zeros((len(thrs), len(classes)))
    for ci, c in enumerate(classes):
        per = []
        n_gt = 0
        for iou, dc, ds, gc in images:
            dsel, gsel = dc == c, gc == c
            n_gt += int(gsel.sum())
            per.append((iou[np.ix_(dsel, gsel)], ds[dsel]))
        scores = np.concatenate([sc for _, sc in per]) if per else np.zeros(0)
        order = np.argsort(-scores, kind="mergesort")
        hits = np.concatenate([_greedy_multi(iou, thrs) >= 0 for iou, _ in per], axis=1)[:, order]   # (T, D)
        for ti in range(len(thrs)):
            tp = hits[ti]
            ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
            rec = ctp / n_gt
            prec = ctp / np.maximum(ctp + cfp, np.spacing(1))
            prec = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
            idx = np.searchsorted(rec, rec_pts, side="left")       # the first detection reaching each recall
            q = np.zeros(len(rec_pts))
            ok = idx < len(prec)                                     # recalls never reached count 0
            q[ok] = prec[idx[ok]]
            ap[ti, ci] = q.mean()
    out = {"AP": float(ap.mean())}
    for key, t in (("AP50", 0.5), ("AP75", 0.75)):
        hit = np.flatnonzero(np.isclose(thrs, t))
        out[key] = float(ap[hit[0]].mean()) if hit.size else nan
    return out


#: What :func:`instance_errors` calls each ground-truth object.
INSTANCE_ERROR_KINDS = ("correct", "wrong class", "poor mask", "missed")


def instance_errors(detections: Sequence, gt: Sequence, score_threshold: float = 0.5, iou: float = 0.5,
                    touch: float = 0.1, num_classes: int | None = None) -> dict:
    """Why an instance segmenter misses: each ground-truth object against the confident detections.

    detections / gt: lists (one entry per image) as :func:`coco_ap`'s "segm" input (masks, classes,
    and scores for detections). Only detections with score >= ``score_threshold`` count. For each
    object, its best detection is the one with the highest mask IoU (any class): "correct" if that
    IoU >= ``iou`` and the class is right, "wrong class" if IoU >= ``iou`` and the class is wrong,
    "poor mask" if ``touch`` <= IoU < ``iou``, "missed" below ``touch``. A confident detection whose
    IoU with every object is below ``touch`` is a "false alarm".

    Returns ``{"counts": {kind: n}, "false_alarms": n, "confusion": (C, C) int64 tensor
    [true class, predicted class] of the objects found with IoU >= ``iou``, "kinds": list per
    image of (N_i,) kind indices into INSTANCE_ERROR_KINDS}``.
    """
    _check_image_lists(gt, detections)
    score_threshold = check_float(score_threshold, "score_threshold", min_value=0.0, max_value=1.0)
    iou = check_float(iou, "iou", min_value=0.0, max_value=1.0)
    touch = check_float(touch, "touch", min_value=0.0, max_value=iou)
    per_image, alarms, pairs = [], 0, []
    for i, (g, d) in enumerate(zip(gt, detections)):
        gm, gc, _ = _instances(g, f"gt[{i}]", scores=False, boxes=False)
        dm, dc, ds = _instances(d, f"detections[{i}]", scores=True, boxes=False, hw=gm.shape[1:])
        keep = ds >= score_threshold
        dm, dc = dm[keep], dc[keep]
        m = mask_ious(torch.from_numpy(gm), torch.from_numpy(dm)).numpy() if len(dm) else np.zeros((len(gm), 0))
        kinds = np.full(len(gm), 3, dtype=np.int64)
        for k in range(len(gm)):
            if m.shape[1] == 0:
                continue
            j = int(m[k].argmax())
            best = m[k, j]
            if best >= iou:
                kinds[k] = 0 if dc[j] == gc[k] else 1
                pairs.append((int(gc[k]), int(dc[j])))
            elif best >= touch:
                kinds[k] = 2
        if m.shape[1]:
            alarms += int((m.max(0, initial=0.0) < touch).sum())
        per_image.append(kinds)
    n = num_classes if num_classes is not None else 1 + max([c for p in pairs for c in p] + [0])
    conf = torch.zeros(n, n, dtype=torch.int64)
    for t, p in pairs:
        conf[t, p] += 1
    allk = np.concatenate(per_image) if per_image else np.zeros(0, np.int64)
    return {"counts": {k: int((allk == i).sum()) for i, k in enumerate(INSTANCE_ERROR_KINDS)},
            "false_alarms": alarms, "confusion": conf, "kinds": per_image}


def class_errors(pred, target, cls: int) -> dict:
    """One class in one image, as lesson 00's IoU explorer shows it: the predicted and true masks
    and their counts. pred, target: (H, W) int class ids. Returns ``pred_mask``, ``true_mask``
    (H, W) bool, ``tp``, ``fp``, ``fn`` (pixel counts) and ``iou`` = tp / (tp + fp + fn)."""
    p = as_tensor(pred, "pred", ndim=2, kind="int").numpy()
    t = as_tensor(target, "target", shape=tuple(p.shape), kind="int").numpy()
    cls = check_int(cls, "cls", min_value=0)
    pm, tm = p == cls, t == cls
    return dict(pred_mask=pm, true_mask=tm, tp=int((tm & pm).sum()), fp=int((pm & ~tm).sum()),
                fn=int((tm & ~pm).sum()), iou=mask_iou(pm, tm))


#: What :func:`error_kinds` tells apart, in code order (code -1 = ignored pixel).
ERROR_KINDS = ("correct background", "correct class", "wrong class", "missed", "false positive")


def error_kinds(pred, target, background: int = 0, ignore_index: int | None = IGNORE_INDEX) -> np.ndarray:
    """Each pixel's outcome for multi-class label maps, without binarising them (lesson 04).

    pred, target: (H, W) or (N, H, W) int class ids of one shape. Returns an int8 array of that
    shape with codes indexing :data:`ERROR_KINDS`: 0 correct background (both ``background``),
    1 correct class (same foreground class), 2 wrong class (both foreground, different classes),
    3 missed (true foreground predicted ``background``), 4 false positive (true ``background``
    predicted foreground); -1 where the target is ``ignore_index``. Comparing ``pred > 0`` with
    ``target > 0`` instead would count code 2 as correct.
    """
    p = as_tensor(pred, "pred", ndim=(2, 3), kind="int").numpy()
    t = as_tensor(target, "target", ndim=(2, 3), kind="int").numpy()
    if p.shape != t.shape:
        raise ValueError(f"target: expected the same shape as pred {p.shape}, got {t.shape}")
    background = check_int(background, "background")
    ignore_index = _check_ignore_index(ignore_index)
    pf, tf = p != background, t != background
    out = np.zeros(p.shape, np.int8)
    out[pf & tf & (p == t)] = 1
    out[pf & tf & (p != t)] = 2
    out[~pf & tf] = 3
    out[pf & ~tf] = 4
    if ignore_index is not None:
        out[t == ignore_index] = -1
    return out


def error_kind_counts(pred, target, background: int = 0, ignore_index: int | None = IGNORE_INDEX) -> dict:
    """Pixel counts of each of :data:`ERROR_KINDS` (ignored pixels excluded): ``{kind: int}``."""
    codes = error_kinds(pred, target, background, ignore_index)
    return {k: int((codes == i).sum()) for i, k in enumerate(ERROR_KINDS)}


# -- IoU by object size (lessons 07-08) ------------------------------------------------------------
# IoU by object size: do small objects pay for a coarse output stride, do large ones gain from
# context? (lessons 07-08).
# 
# Each ground-truth instance i (a connected object of class c_i from the SegmentationObject maps) is
# scored on its own:
# 
# * TP_i: its pixels predicted c_i; FN_i: its pixels predicted anything else;
# * FP_i: pixels predicted c_i whose true class is not c_i, inside the instance's *context box*: its
#   tight bounding box scaled by ``context`` about its centre (cut at the image border). A blob that
#   bleeds around a small object counts against it; a false alarm across the image does not.
#   Pixels of another instance of the same class predicted c_i are correct, not false positives.
# * IoU_i = TP_i / (TP_i + FP_i + FN_i).
# 
# Instances are bucketed by area (pixels): small < edges[0] <= medium < edges[1] <= large. The
# default edges (144 = 12**2, 576 = 24**2) are about the terciles of the 1,116 instances of the
# course's training scenes (33rd percentile 152 px, 67th 596 px). Void pixels (``ignore_index``)
# count nowhere.

#: Names of the three size buckets.
SIZE_BUCKETS = ("small", "medium", "large")


def _maps(x, name: str) -> torch.Tensor:
    t = as_tensor(x, name, ndim=(2, 3), kind="int")
    return (t[None] if t.ndim == 2 else t).long()


def instance_size_iou(pred, target, instances, num_classes: int, edges=(144, 576), context: float = 2.0,
                      ignore_index: int | None = IGNORE_INDEX) -> dict:
    """IoU per object-size bucket.

    pred, target: (N, H, W) or (H, W) int class ids; instances: same shape, int, 0 = no instance and
    1..K the instances of each image (ids need not be contiguous). ``num_classes``: class ids are in
    [0, num_classes). edges: two increasing areas (pixels). context: the scale >= 1 of the box
    around each instance in which its false positives are counted.

    Returns a dict: ``buckets`` :data:`SIZE_BUCKETS`; per bucket (tensors of shape (3,)):
    ``count`` instances, ``mean_iou`` the mean of their IoU_i, ``pooled_iou`` sum TP / sum (TP + FP
    + FN), ``recall`` sum TP / sum area (NaN for an empty bucket); and ``per_instance``: a dict of
    (K,) tensors ``image``, ``id``, ``cls`` (majority true class of its pixels), ``area``, ``tp``,
    ``fp``, ``fn``, ``iou``, ``bucket`` (0, 1, 2). Instances whose pixels are all void are dropped.
    """
    p, t, inst = _maps(pred, "pred"), _maps(target, "target"), _maps(instances, "instances")
    if p.shape != t.shape or inst.shape != t.shape:
        raise ValueError(f"instances: expected pred, target and instances of one shape, got "
                         f"{tuple(p.shape)}, {tuple(t.shape)}, {tuple(inst.shape)}")
    C = check_int(num_classes, "num_classes", min_value=1)
    if not (isinstance(edges, (tuple, list)) and len(edges) == 2):
        raise TypeError(f"edges: expected two areas (small/medium, medium/large), got {edges!r}")
    e0, e1 = check_int(edges[0], "edges[0]", min_value=1), check_int(edges[1], "edges[1]", min_value=1)
    if e1 <= e0:
        raise ValueError(f"edges: expected increasing areas, got {edges!r}")
    context = check_float(context, "context", min_value=1.0)
    valid = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
    for x, name in ((p, "pred"), (t.masked_fill(~valid, 0), "target")):
        if x.numel() and (x.min() < 0 or x.max() >= C):
            raise ValueError(f"{name}: expected class ids in [0, {C}) (or ignore_index), got range "
                             f"[{x.min().item()}, {x.max().item()}]")
    if inst.numel() and inst.min() < 0:
        raise ValueError(f"instances: expected ids >= 0, got minimum {inst.min().item()}")
    N, H, W = t.shape
    per_image = int(inst.max().item()) + 1 if inst.numel() else 1     # instance ids per image
    key = torch.arange(N)[:, None, None] * per_image + inst
    on = (inst > 0) & valid
    ids, where = torch.unique(key[on], return_inverse=True)           # one entry per instance
    K = ids.numel()
    n_of = ids // per_image
    area = torch.bincount(where, minlength=K)
    cls = torch.bincount(where * C + t[on], minlength=K * C).reshape(K, C).argmax(1)
    tp = torch.bincount(where, weights=(p[on] == cls[where]).double(), minlength=K).long()
    # tight boxes, then the context box around each
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ys, xs = yy.expand(N, H, W)[on], xx.expand(N, H, W)[on]
    y0 = torch.full((K,), H).scatter_reduce(0, where, ys, "amin")
    y1 = torch.zeros(K, dtype=torch.long).scatter_reduce(0, where, ys + 1, "amax")
    x0 = torch.full((K,), W).scatter_reduce(0, where, xs, "amin")
    x1 = torch.zeros(K, dtype=torch.long).scatter_reduce(0, where, xs + 1, "amax")
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    hh, hw = (y1 - y0) * context / 2, (x1 - x0) * context / 2
    by0, by1 = (cy - hh).floor().clamp(0, H), (cy + hh).ceil().clamp(0, H)
    bx0, bx1 = (cx - hw).floor().clamp(0, W), (cx + hw).ceil().clamp(0, W)
    inside = ((yy[None] >= by0[:, None, None]) & (yy[None] < by1[:, None, None])
              & (xx[None] >= bx0[:, None, None]) & (xx[None] < bx1[:, None, None]))    # (K, H, W)
    c3 = cls[:, None, None]
    fp = (inside & (p[n_of] == c3) & (t[n_of] != c3) & valid[n_of]).sum((1, 2))
    fn = area - tp
    iou = tp.double() / (tp + fp + fn).double()
    bucket = (area >= e0).long() + (area >= e1).long()
    count = torch.bincount(bucket, minlength=3)
    nan = torch.full((3,), float("nan"), dtype=torch.float64)

    def per_bucket(num, den):
        s_num = torch.zeros(3, dtype=torch.float64).index_add_(0, bucket, num.double())
        s_den = torch.zeros(3, dtype=torch.float64).index_add_(0, bucket, den.double())
        return torch.where(count > 0, s_num / s_den.clamp_min(1e-300), nan)

    return {"buckets": SIZE_BUCKETS, "edges": (e0, e1), "count": count,
            "mean_iou": per_bucket(iou, torch.ones_like(iou)), "pooled_iou": per_bucket(tp, tp + fp + fn),
            "recall": per_bucket(tp, area),
            "per_instance": {"image": n_of, "id": ids - n_of * per_image,
                             "cls": cls, "area": area, "tp": tp, "fp": fp, "fn": fn, "iou": iou, "bucket": bucket}}
