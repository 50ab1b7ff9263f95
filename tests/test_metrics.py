"""Tests of segcourse.metrics: hand-computed cases, brute-force cross-checks, input validation."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from segcourse.metrics import (boundary_fscore, confusion_matrix, iou_per_class, mask_ap, mask_iou,
                               mean_iou, pixel_accuracy, segmentation_scores)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IGNORE = 255


# ----------------------------------------------------------------------------------------------
# strategies and brute-force references
# ----------------------------------------------------------------------------------------------

@st.composite
def label_pair(draw, max_side=7, batched=None, ignore=True, max_classes=4):
    """(pred, target, num_classes) with random shape (H, W) or (N, H, W) and some ignored pixels."""
    c = draw(st.integers(1, max_classes))
    if batched is None:
        batched = draw(st.booleans())
    shape = ((draw(st.integers(1, 3)),) if batched else ()) + (
        draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    labels = st.integers(0, c - 1)
    pred = draw(hnp.arrays(np.int64, shape, elements=labels))
    target = draw(hnp.arrays(np.int64, shape, elements=labels))
    if ignore:
        ign = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
        if draw(st.booleans()):  # often no ignored pixel at all
            ign[:] = False
        target = np.where(ign, IGNORE, target)
    return pred, target, c


def brute_confusion(pred, target, c, ignore=IGNORE):
    conf = np.zeros((c, c), dtype=np.int64)
    for p, t in zip(np.ravel(pred), np.ravel(target)):
        if t != ignore:
            conf[t, p] += 1
    return conf


def brute_iou(conf):
    out = []
    for k in range(len(conf)):
        tp = conf[k, k]
        fp = sum(conf[j, k] for j in range(len(conf)) if j != k)
        fn = sum(conf[k, j] for j in range(len(conf)) if j != k)
        out.append(math.nan if tp + fp + fn == 0 else tp / (tp + fp + fn))
    return out


def brute_boundary(lab, valid):
    """Set of (r, c) with a valid 4-neighbour of a different label, both pixels valid."""
    h, w = lab.shape
    pts = set()
    for r in range(h):
        for c in range(w):
            if not valid[r, c]:
                continue
            for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and valid[rr, cc] and lab[rr, cc] != lab[r, c]:
                    pts.add((r, c))
    return pts


def brute_f(pb, gb, tol):
    """O(n^2) boundary F-measure between two point sets (squared distances compared exactly)."""
    if not pb and not gb:
        return 1.0
    if not pb or not gb:
        return 0.0

    def frac_close(a, b):
        return sum(any((r - rr) ** 2 + (c - cc) ** 2 <= tol * tol for rr, cc in b) for r, c in a) / len(a)

    p, r = frac_close(pb, gb), frac_close(gb, pb)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def brute_boundary_fscore(pred, target, tol, ignore=IGNORE):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim == 2:
        pred, target = pred[None], target[None]
    scores = []
    for p, t in zip(pred, target):
        valid = t != ignore
        if valid.any():
            scores.append(brute_f(brute_boundary(p, valid), brute_boundary(t, valid), tol))
    return float(np.mean(scores)) if scores else math.nan


def brute_boundary_per_class(pred, target, tol, c, ignore=IGNORE):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim == 2:
        pred, target = pred[None], target[None]
    out = []
    for k in range(c):
        scores = []
        for p, t in zip(pred, target):
            valid = t != ignore
            if ((p == k) & valid).any() or ((t == k) & valid).any():
                scores.append(brute_f(brute_boundary(p == k, valid), brute_boundary(t == k, valid), tol))
        out.append(float(np.mean(scores)) if scores else math.nan)
    return out


def same_with_nan(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b)) and \
        np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=tol, rtol=0)


# ----------------------------------------------------------------------------------------------
# confusion matrix, pixel accuracy, IoU: hand-computed cases
# ----------------------------------------------------------------------------------------------

# A 3x3 example worked out by hand. (row, col): target -> pred
#   pred   = 0 1 1     target = 0 1 255
#            0 1 2              0 0 2
#            2 2 2              2 1 2
# The 255 pixel is skipped, 8 pixels remain. (true, predicted) pairs:
#   (0,0) (1,1) | (0,0) (0,1) (2,2) | (2,2) (1,2) (2,2)
PRED3 = np.array([[0, 1, 1], [0, 1, 2], [2, 2, 2]])
TARGET3 = np.array([[0, 1, 255], [0, 0, 2], [2, 1, 2]])
CONF3 = [[2, 1, 0],   # true 0: two right, one called 1
         [0, 1, 1],   # true 1: one right, one called 2
         [0, 0, 3]]   # true 2: three right


def test_confusion_matrix_hand_case():
    conf = confusion_matrix(PRED3, TARGET3, 3)
    assert conf.dtype == torch.int64 and conf.shape == (3, 3)
    assert conf.tolist() == CONF3


def test_pixel_accuracy_and_iou_hand_case():
    conf = confusion_matrix(PRED3, TARGET3, 3)
    # 6 correct out of 8 non-ignored pixels
    assert pixel_accuracy(conf) == pytest.approx(float(Fraction(6, 8)))
    # IoU_k = TP / (row sum + column sum - TP)
    #   class 0: 2 / (3 + 2 - 2) = 2/3; class 1: 1 / (2 + 2 - 1) = 1/3; class 2: 3 / (3 + 4 - 3) = 3/4
    expected = [Fraction(2, 3), Fraction(1, 3), Fraction(3, 4)]
    iou = iou_per_class(conf)
    assert iou.dtype == torch.float64 and iou.shape == (3,)
    assert iou.tolist() == pytest.approx([float(f) for f in expected])
    assert mean_iou(conf) == pytest.approx(float(sum(expected) / 3))  # 7/12
    scores = segmentation_scores(PRED3, TARGET3, 3)
    assert set(scores) == {"pixel_accuracy", "mean_iou", "iou"}
    assert scores["pixel_accuracy"] == pytest.approx(0.75)
    assert scores["mean_iou"] == pytest.approx(7 / 12)
    assert scores["iou"] == pytest.approx([2 / 3, 1 / 3, 3 / 4])
    assert isinstance(scores["iou"], list) and isinstance(scores["mean_iou"], float)


def test_absent_class_is_nan_and_skipped_by_mean():
    # same maps with num_classes=5: classes 3 and 4 appear nowhere -> NaN, mean over the 3 others
    conf = confusion_matrix(PRED3, TARGET3, 5)
    iou = iou_per_class(conf)
    assert torch.isnan(iou[3:]).all()
    assert mean_iou(conf) == pytest.approx(7 / 12)
    # a class predicted but absent from the ground truth is a real error: IoU 0, not NaN
    pred = np.array([[0, 3], [1, 1]])
    target = np.array([[0, 0], [1, 1]])
    iou = iou_per_class(confusion_matrix(pred, target, 4))
    # class 0: 1 / (2 + 1 - 1) = 1/2; class 1: 2/2; class 2: absent; class 3: 0 / (0 + 1 - 0) = 0
    assert same_with_nan(iou, [0.5, 1.0, math.nan, 0.0])


def test_empty_and_all_ignored():
    t = np.full((2, 2), IGNORE)
    conf = confusion_matrix(np.zeros((2, 2), int), t, 2)
    assert conf.sum() == 0
    assert math.isnan(pixel_accuracy(conf)) and math.isnan(mean_iou(conf))
    assert torch.isnan(iou_per_class(conf)).all()


def test_ignore_index_none_and_custom():
    pred = np.array([[0, 1], [1, 1]])
    target = np.array([[0, 1], [1, 0]])
    assert confusion_matrix(pred, target, 2, ignore_index=None).tolist() == [[1, 1], [0, 2]]
    # ignore_index=0 drops the ground-truth-0 pixels (predictions of 0 are still allowed)
    assert confusion_matrix(pred, target, 2, ignore_index=0).tolist() == [[0, 0], [0, 2]]
    assert confusion_matrix(pred, np.array([[-1, 1], [1, -1]]), 2, ignore_index=-1).tolist() == [[0, 0], [0, 2]]


def test_accepts_torch_numpy_bool_and_small_int_dtypes():
    pred = torch.tensor([[True, False], [True, True]])
    target = np.array([[1, 0], [0, 255]], dtype=np.uint8)
    conf = confusion_matrix(pred, target, 2)
    assert conf.tolist() == [[1, 1], [0, 1]]
    assert confusion_matrix(pred.to(torch.int16), torch.from_numpy(target), 2).tolist() == conf.tolist()
    assert pixel_accuracy(conf.numpy()) == pytest.approx(2 / 3)  # a numpy matrix works too
    assert pixel_accuracy(conf.double()) == pytest.approx(2 / 3)  # so does a float one


def test_mask_iou_hand_cases():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0:2, 0:2] = True   # 4 pixels
    b[0:2, 1:3] = True   # 4 pixels, 2 shared -> union 6
    assert mask_iou(a, b) == pytest.approx(2 / 6)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(a, ~a) == 0.0
    empty = np.zeros((4, 4), bool)
    assert mask_iou(empty, empty) == 1.0  # documented convention: two empty masks agree perfectly
    assert mask_iou(empty, a) == 0.0
    assert mask_iou(torch.from_numpy(a).int(), b.astype(np.uint8)) == pytest.approx(1 / 3)


# ----------------------------------------------------------------------------------------------
# confusion matrix etc.: properties on random valid inputs
# ----------------------------------------------------------------------------------------------

@FAST
@given(label_pair())
def test_confusion_matches_brute_force(args):
    pred, target, c = args
    conf = confusion_matrix(pred, target, c)
    ref = brute_confusion(pred, target, c)
    assert conf.tolist() == ref.tolist()
    assert conf.sum().item() == int((target != IGNORE).sum())
    # torch input gives the same answer
    assert torch.equal(confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), c), conf)
    assert same_with_nan(iou_per_class(conf), brute_iou(ref))
    n = ref.sum()
    acc = pixel_accuracy(conf)
    assert (math.isnan(acc) if n == 0 else acc == pytest.approx(np.trace(ref) / n))
    ious = [v for v in brute_iou(ref) if not math.isnan(v)]
    mi = mean_iou(conf)
    assert (math.isnan(mi) if not ious else mi == pytest.approx(np.mean(ious)))
    s = segmentation_scores(pred, target, c)
    assert same_with_nan([s["pixel_accuracy"], s["mean_iou"]], [acc, mi])
    assert same_with_nan(s["iou"], iou_per_class(conf))


@FAST
@given(label_pair(batched=True))
def test_batched_confusion_is_sum_of_per_image(args):
    pred, target, c = args
    total = sum(confusion_matrix(p, t, c) for p, t in zip(pred, target))
    assert torch.equal(confusion_matrix(pred, target, c), total)


@FAST
@given(label_pair(ignore=False))
def test_perfect_prediction_and_symmetry(args):
    pred, target, c = args
    conf = confusion_matrix(target, target, c)
    assert mean_iou(conf) == 1.0 and pixel_accuracy(conf) == 1.0
    # swapping prediction and ground truth transposes the matrix and leaves every IoU unchanged
    conf_pt = confusion_matrix(pred, target, c)
    conf_tp = confusion_matrix(target, pred, c)
    assert torch.equal(conf_pt.T, conf_tp)
    assert same_with_nan(iou_per_class(conf_pt), iou_per_class(conf_tp))
    assert pixel_accuracy(conf_pt) == pixel_accuracy(conf_tp)


@FAST
@given(hnp.arrays(np.bool_, st.tuples(st.integers(1, 6), st.integers(1, 6))), st.data())
def test_mask_iou_properties(a, data):
    b = data.draw(hnp.arrays(np.bool_, a.shape))
    v = mask_iou(a, b)
    assert v == mask_iou(b, a)
    assert 0.0 <= v <= 1.0
    union = (a | b).sum()
    assert v == (1.0 if union == 0 else pytest.approx((a & b).sum() / union))
    # agrees with class-1 IoU of the 2-class confusion matrix when the mask is non-empty somewhere
    if union:
        assert v == pytest.approx(iou_per_class(confusion_matrix(b, a, 2))[1].item())


# ----------------------------------------------------------------------------------------------
# boundary F-score
# ----------------------------------------------------------------------------------------------

def test_boundary_square_shifted_by_one_pixel():
    # A 3x3 square of class 1 on an 8x8 background; its boundary is the 8 square pixels around the
    # centre plus the 12 background pixels touching it by an edge: 20 pixels. The prediction is the
    # same square one column to the right, so its 20 boundary pixels are the gt ones shifted by
    # (0, +1). Checking each shifted pixel, 14 of the 20 are also gt boundary pixels (the misses
    # are the shifted centre, the two shifted top/bottom right corners of the outer ring and the
    # 3 right-outer pixels). Tolerance 0: P = R = 14/20 = 7/10, F = 7/10. Tolerance 1: every pixel
    # is at distance exactly 1 from its unshifted twin, so P = R = F = 1.
    gt = np.zeros((8, 8), int)
    gt[2:5, 2:5] = 1
    pred = np.roll(gt, 1, axis=1)
    assert boundary_fscore(pred, gt, tolerance=0) == pytest.approx(7 / 10)
    assert boundary_fscore(pred, gt, tolerance=1) == pytest.approx(1.0)
    # two classes, each binary mask has the same boundary as the label map
    per = boundary_fscore(pred, gt, tolerance=0, num_classes=3, per_class=True)
    assert per.dtype == torch.float64 and per.shape == (3,)
    assert same_with_nan(per, [0.7, 0.7, math.nan])


def test_boundary_vertical_edge_and_diagonal_shift():
    # left half 0 / right half 1: boundary = columns 3 and 4 (16 px). Moving the edge one column
    # right gives boundary columns 4 and 5: at tolerance 0 half of each set is matched -> F = 1/2.
    gt = np.zeros((8, 8), int)
    gt[:, 4:] = 1
    pred = np.zeros((8, 8), int)
    pred[:, 5:] = 1
    assert boundary_fscore(pred, gt, tolerance=0) == pytest.approx(0.5)
    assert boundary_fscore(pred, gt, tolerance=1) == 1.0
    # a square shifted diagonally by (1, 1): its corner moves sqrt(2) away -> the distance is
    # Euclidean, so tolerance 1 is not enough but sqrt(2) (and 1.5) is
    sq = np.zeros((9, 9), int)
    sq[2:5, 2:5] = 1
    diag = np.roll(sq, (1, 1), axis=(0, 1))
    assert boundary_fscore(diag, sq, tolerance=1) < 1.0
    assert boundary_fscore(diag, sq, tolerance=math.sqrt(2)) == 1.0
    assert boundary_fscore(diag, sq, tolerance=1.5) == 1.0


def test_boundary_edge_cases():
    zeros = np.zeros((5, 5), int)
    ones = np.ones((5, 5), int)
    sq = zeros.copy()
    sq[1:3, 1:3] = 1
    assert boundary_fscore(zeros, zeros) == 1.0          # no boundary anywhere -> 1
    assert boundary_fscore(ones, zeros) == 1.0           # (contours only: documented limitation)
    assert boundary_fscore(sq, zeros) == 0.0             # boundary only in the prediction -> 0
    assert boundary_fscore(zeros, sq) == 0.0             # boundary only in the ground truth -> 0
    assert boundary_fscore(sq, sq, tolerance=0) == 1.0
    # fully ignored image: nothing to score -> nan; in a batch it is skipped
    void = np.full((5, 5), IGNORE)
    assert math.isnan(boundary_fscore(sq, void))
    assert boundary_fscore(np.stack([sq, sq]), np.stack([void, zeros])) == 0.0
    # ignored pixels are excluded: a contour that lies inside the void region does not count
    target = sq.copy()
    target[0:4, 0:4] = IGNORE
    assert boundary_fscore(sq, target, tolerance=0) == 1.0
    # batched: mean of per-image scores
    gt = np.zeros((8, 8), int)
    gt[:, 4:] = 1
    shifted = np.zeros((8, 8), int)
    shifted[:, 5:] = 1  # the edge moved one column: F = 1/2 at tolerance 0 (see above)
    assert boundary_fscore(np.stack([gt, shifted]), np.stack([gt, gt]), tolerance=0) == pytest.approx(0.75)
    # per class: absent class -> nan, present class scored
    per = boundary_fscore(sq, sq, num_classes=4, per_class=True)
    assert same_with_nan(per, [1.0, 1.0, math.nan, math.nan])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label_pair(max_side=6, max_classes=3), st.sampled_from([0, 1, 1.5, 2, 3]))
def test_boundary_matches_brute_force(args, tol):
    pred, target, c = args
    got = boundary_fscore(pred, target, tolerance=tol)
    assert same_with_nan(got, brute_boundary_fscore(pred, target, tol))
    per = boundary_fscore(torch.from_numpy(pred), torch.from_numpy(target), tolerance=tol,
                          num_classes=c, per_class=True)
    assert same_with_nan(per, brute_boundary_per_class(pred, target, tol, c))
    # a prediction equal to the ground truth is perfect wherever something is scored
    same = np.where(target == IGNORE, 0, target)
    perfect = boundary_fscore(same, target, tolerance=0)
    assert math.isnan(perfect) or perfect == 1.0


# ----------------------------------------------------------------------------------------------
# mask AP (pycocotools)
# ----------------------------------------------------------------------------------------------

def _rect(h, w, r0, r1, c0, c1):
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return m


def _hand_ap_case():
    """One 40x40 image, three class-1 gt squares of 10x10, three predictions (score order):
    d1 = g1 exactly (IoU 1), d2 = a square touching no gt (IoU 0), d3 = a 7x9 box inside g2
    (IoU 63/100), and nothing for g3."""
    g = np.stack([_rect(40, 40, 0, 10, 0, 10), _rect(40, 40, 0, 10, 20, 30), _rect(40, 40, 25, 35, 0, 10)])
    d = np.stack([g[0], _rect(40, 40, 30, 40, 30, 40), _rect(40, 40, 0, 7, 20, 29)])
    gt = [{"masks": g, "classes": np.array([1, 1, 1])}]
    pr = [{"masks": d, "classes": np.array([1, 1, 1]), "scores": np.array([0.9, 0.8, 0.7])}]
    return gt, pr


def test_mask_ap_hand_case(capsys):
    gt, pr = _hand_ap_case()
    assert mask_iou(pr[0]["masks"][2], gt[0]["masks"][1]) == pytest.approx(0.63)
    out = mask_ap(gt, pr)
    assert capsys.readouterr().out == ""  # pycocotools' chatter is silenced
    # AP50: ranked list TP, FP, TP over 3 gts -> (recall, precision) = (1/3, 1), (1/3, 1/2),
    # (2/3, 2/3). COCO's interpolated precision at recall r is the max precision at recall >= r:
    # 1 for r <= 1/3, 2/3 for 1/3 < r <= 2/3, 0 beyond (recall never reaches it). Of the 101
    # recall points 0, 0.01, ..., 1: 34 are <= 1/3 (0..0.33), 33 in (1/3, 2/3] (0.34..0.66),
    # 34 above. AP50 = (34 * 1 + 33 * 2/3) / 101 = 56/101.
    assert out["AP50"] == pytest.approx(float(Fraction(56, 101)))
    # At IoU >= 0.65 d3 no longer matches: TP, FP, FP -> 1 on the 34 points <= 1/3 -> 34/101.
    assert out["AP75"] == pytest.approx(34 / 101)
    # AP averages the thresholds 0.50:0.05:0.95: d3 matches at 0.50, 0.55, 0.60 (IoU 0.63).
    assert out["AP"] == pytest.approx((3 * 56 / 101 + 7 * 34 / 101) / 10)
    # custom thresholds: only 0.5 -> AP == AP50, AP75 not computed -> nan
    custom = mask_ap(gt, pr, iou_thresholds=[0.5])
    assert custom["AP"] == pytest.approx(56 / 101) and custom["AP50"] == pytest.approx(56 / 101)
    assert math.isnan(custom["AP75"])


def test_mask_ap_perfect_empty_and_no_gt():
    rng = np.random.default_rng(0)
    gt, perfect = [], []
    for _ in range(3):
        n = int(rng.integers(1, 4))
        masks = np.stack([_rect(24, 32, *sorted(rng.choice(25, 2, replace=False)),
                                *sorted(rng.choice(33, 2, replace=False))) for _ in range(n)])
        classes = rng.integers(0, 3, n)
        gt.append({"masks": masks, "classes": classes})
        perfect.append({"masks": torch.from_numpy(masks), "classes": torch.from_numpy(classes),
                        "scores": torch.rand(n)})
    assert mask_ap(gt, perfect) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}
    empty = [{"masks": np.zeros((0, 24, 32), bool), "classes": np.zeros(0, int), "scores": np.zeros(0)}
             for _ in gt]
    assert mask_ap(gt, empty) == {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    # predictions of the wrong class do not count
    wrong = [dict(p, classes=p["classes"] + 10) for p in perfect]
    assert mask_ap(gt, wrong)["AP"] == 0.0
    # no ground-truth instance at all: AP undefined -> nan
    no_gt = [{"masks": np.zeros((0, 24, 32), bool), "classes": np.zeros(0, int)} for _ in gt]
    assert all(math.isnan(v) for v in mask_ap(no_gt, perfect).values())


def test_mask_ap_validation():
    gt, pr = _hand_ap_case()
    cases = [
        (lambda: mask_ap(gt[0], pr), TypeError, "gt:"),
        (lambda: mask_ap([], []), ValueError, "gt:"),
        (lambda: mask_ap(gt, pr + pr), ValueError, "predictions:"),
        (lambda: mask_ap([gt[0]["masks"]], pr), TypeError, "gt[0]:"),
        (lambda: mask_ap(gt, [{"masks": pr[0]["masks"], "classes": pr[0]["classes"]}]), ValueError,
         "predictions[0]:"),
        (lambda: mask_ap([dict(gt[0], masks=gt[0]["masks"].astype(float))], pr), TypeError, "gt[0]['masks']:"),
        (lambda: mask_ap([dict(gt[0], masks=gt[0]["masks"][0])], pr), ValueError, "gt[0]['masks']:"),
        (lambda: mask_ap([dict(gt[0], masks=gt[0]["masks"].astype(np.uint8) * 2)], pr), ValueError,
         "gt[0]['masks']:"),
        (lambda: mask_ap([dict(gt[0], classes=np.array([1, 1]))], pr), ValueError, "gt[0]['classes']:"),
        (lambda: mask_ap([dict(gt[0], classes=np.array([1.0, 1, 1]))], pr), TypeError, "gt[0]['classes']:"),
        (lambda: mask_ap(gt, [dict(pr[0], masks=pr[0]["masks"][:, :30])]), ValueError,
         "predictions[0]['masks']:"),
        (lambda: mask_ap(gt, [dict(pr[0], scores=np.array([1, 2, 3]))]), TypeError, "predictions[0]['scores']:"),
        (lambda: mask_ap(gt, [dict(pr[0], scores=np.array([0.5, np.nan, 1]))]), ValueError,
         "predictions[0]['scores']:"),
        (lambda: mask_ap(gt, [dict(pr[0], classes=np.array([1, -1, 1]))]), ValueError,
         "predictions[0]['classes']:"),
        (lambda: mask_ap([dict(gt[0], masks=np.zeros((3, 40, 40), bool))], pr), ValueError, "gt[0]['masks']:"),
        (lambda: mask_ap(gt, pr, iou_thresholds=[0.5, 1.5]), ValueError, "iou_thresholds:"),
        (lambda: mask_ap(gt, pr, iou_thresholds=[]), ValueError, "iou_thresholds:"),
    ]
    for fn, exc, prefix in cases:
        with pytest.raises(exc) as info:
            fn()
        assert str(info.value).startswith(prefix), (prefix, str(info.value))


# ----------------------------------------------------------------------------------------------
# malformed inputs: every function names the offending argument
# ----------------------------------------------------------------------------------------------

LABEL_FUNCS = {
    "confusion_matrix": lambda p, t, c, i: confusion_matrix(p, t, c, ignore_index=i),
    "segmentation_scores": lambda p, t, c, i: segmentation_scores(p, t, c, ignore_index=i),
    "boundary_fscore": lambda p, t, c, i: boundary_fscore(p, t, num_classes=c, ignore_index=i),
    "boundary_fscore_per_class": lambda p, t, c, i: boundary_fscore(p, t, num_classes=c, ignore_index=i,
                                                                   per_class=True),
}


@st.composite
def malformed_labels(draw):
    """A corrupted (pred, target, num_classes) plus the expected exception and argument name."""
    c = draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    shape = (draw(st.integers(1, 3)), h, w) if draw(st.booleans()) else (h, w)
    pred = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, c - 1)))
    target = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, c - 1)))
    which = draw(st.sampled_from(["pred", "target"]))
    kind = draw(st.sampled_from(["ndim", "shape", "float", "range", "negative", "list",
                                 "num_classes_value", "num_classes_type", "ignore_type"]))
    arrays = {"pred": pred, "target": target}
    exc, name = ValueError, which
    if kind == "ndim":
        nd = draw(st.sampled_from([0, 1, 4]))
        arrays[which] = np.zeros((2,) * nd, np.int64)
    elif kind == "shape":
        which, name = "target", "target"
        arrays["target"] = np.zeros(shape[:-1] + (shape[-1] + draw(st.integers(1, 3)),), np.int64)
    elif kind == "float":
        exc = TypeError
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        arrays[which] = arrays[which].astype(dtype)
        if draw(st.booleans()):
            arrays[which] = torch.from_numpy(arrays[which])
    elif kind == "range":
        bad = draw(st.integers(c, 254) if which == "target" else st.integers(c, 1000))
        arr = arrays[which].copy()
        arr.flat[draw(st.integers(0, arr.size - 1))] = bad
        arrays[which] = arr
    elif kind == "negative":
        arr = arrays[which].copy()
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.integers(-100, -1))
        arrays[which] = arr
    elif kind == "list":
        exc = TypeError
        arrays[which] = arrays[which].tolist()
    elif kind == "num_classes_value":
        name = "num_classes"
        c = draw(st.integers(-5, 0))
    elif kind == "num_classes_type":
        exc, name = TypeError, "num_classes"
        c = draw(st.sampled_from([2.0, "3", True, None, np.float64(2)]))
    elif kind == "ignore_type":
        exc, name = TypeError, "ignore_index"
        return arrays["pred"], arrays["target"], c, exc, name, draw(st.sampled_from([255.0, "255", True]))
    return arrays["pred"], arrays["target"], c, exc, name, 255


@settings(max_examples=150, deadline=None)
@given(malformed_labels(), st.sampled_from(sorted(LABEL_FUNCS)))
def test_malformed_label_maps_raise_naming_the_argument(case, func):
    pred, target, c, exc, name, ignore = case
    fn = LABEL_FUNCS[func]
    assume(not (func == "boundary_fscore" and c is None))  # num_classes is optional there
    if func == "boundary_fscore_per_class" and c is None:
        exc = ValueError  # per_class needs num_classes: a ValueError that names it
    with pytest.raises(exc) as info:
        fn(pred, target, c, ignore)
    assert str(info.value).startswith(name + ":"), str(info.value)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_malformed_conf_raises(data):
    c = data.draw(st.integers(1, 4))
    kind = data.draw(st.sampled_from(["ndim", "nonsquare", "negative", "nan", "list", "empty"]))
    conf = np.ones((c, c), np.int64)
    exc = ValueError
    if kind == "ndim":
        conf = np.ones((c,) * data.draw(st.sampled_from([0, 1, 3])), np.int64)
    elif kind == "nonsquare":
        conf = np.ones((c, c + data.draw(st.integers(1, 3))), np.int64)
    elif kind == "negative":
        conf.flat[data.draw(st.integers(0, conf.size - 1))] = -data.draw(st.integers(1, 9))
    elif kind == "nan":
        conf = conf.astype(float)
        conf.flat[data.draw(st.integers(0, conf.size - 1))] = data.draw(st.sampled_from([np.nan, np.inf]))
    elif kind == "list":
        conf, exc = conf.tolist(), TypeError
    elif kind == "empty":
        conf = np.ones((0, 0), np.int64)
    fn = data.draw(st.sampled_from([pixel_accuracy, iou_per_class, mean_iou]))
    with pytest.raises(exc) as info:
        fn(conf)
    assert str(info.value).startswith("conf:"), str(info.value)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_malformed_masks_and_boundary_args_raise(data):
    a = data.draw(hnp.arrays(np.bool_, st.tuples(st.integers(1, 5), st.integers(1, 5))))
    b = a.copy()
    which = data.draw(st.sampled_from(["a", "b"]))
    kind = data.draw(st.sampled_from(["float", "ndim", "values", "shape"]))
    args = {"a": a, "b": b}
    exc, name = ValueError, which
    if kind == "float":
        args[which], exc = args[which].astype(np.float32), TypeError
    elif kind == "ndim":
        args[which] = args[which][None] if data.draw(st.booleans()) else args[which].ravel()
    elif kind == "values":
        arr = args[which].astype(np.int64)
        arr.flat[0] = data.draw(st.sampled_from([-1, 2, 7]))
        args[which] = arr
    elif kind == "shape":
        args["b"], name = np.zeros((a.shape[0] + 1, a.shape[1]), bool), "b"
    with pytest.raises(exc) as info:
        mask_iou(args["a"], args["b"])
    assert str(info.value).startswith(name + ":"), str(info.value)

    # boundary_fscore's own arguments
    lab = a.astype(np.int64)
    bad = data.draw(st.sampled_from([("tolerance", -1, ValueError), ("tolerance", math.nan, ValueError),
                                     ("tolerance", "2", TypeError), ("per_class", 1, TypeError),
                                     ("num_classes", None, ValueError)]))
    kwargs = {"tolerance": 2, "num_classes": 2, "per_class": bad[0] == "num_classes"}
    kwargs[bad[0]] = bad[1]
    with pytest.raises(bad[2]) as info:
        boundary_fscore(lab, lab, **kwargs)
    assert str(info.value).startswith(bad[0] + ":"), str(info.value)


def test_class_errors_counts_tp_fp_fn():
    from segcourse.metrics import class_errors
    t = np.array([[1, 1, 0], [2, 1, 0]])
    p = np.array([[1, 0, 1], [1, 1, 0]])
    e = class_errors(p, t, 1)
    assert (e["tp"], e["fp"], e["fn"]) == (2, 2, 1) and e["iou"] == pytest.approx(2 / 5)
    assert e["pred_mask"].sum() == 4 and e["true_mask"].sum() == 3
    with pytest.raises(ValueError, match="target"):
        class_errors(p, t[:1], 1)


def test_error_kinds_hand_case_tells_wrong_class_from_correct():
    from segcourse.metrics import ERROR_KINDS, error_kind_counts, error_kinds
    t = np.array([[0, 1, 1], [2, 255, 0]])
    p = np.array([[0, 1, 2], [0, 0, 3]])
    assert error_kinds(p, t).tolist() == [[0, 1, 2], [3, -1, 4]]
    assert error_kind_counts(p, t) == dict.fromkeys(ERROR_KINDS, 1)
    # binarising (pred > 0) == (target > 0) would call the wrong-class pixel correct
    assert ((p > 0) & (t > 0) & (t != 255)).sum() == error_kind_counts(p, t)["correct class"] + 1
    assert error_kinds(p, t, ignore_index=None)[1, 1] == 3
    assert error_kinds(p[None], t[None]).shape == (1, 2, 3)


@given(label_pair(ignore=True))
@FAST
def test_error_kinds_partition_agrees_with_confusion_matrix(args):
    from segcourse.metrics import error_kind_counts
    pred, target, c = args
    conf = confusion_matrix(pred, target, num_classes=c).numpy()
    n = error_kind_counts(pred, target)
    diag = np.diag(conf)
    assert n["correct background"] == conf[0, 0]
    assert n["correct class"] == diag[1:].sum()
    assert n["wrong class"] == conf[1:, 1:].sum() - diag[1:].sum()
    assert n["missed"] == conf[1:, 0].sum() and n["false positive"] == conf[0, 1:].sum()


def test_error_kinds_validation():
    from segcourse.metrics import error_kinds
    with pytest.raises(ValueError, match="^target"):
        error_kinds(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(TypeError, match="^pred"):
        error_kinds(np.zeros((2, 2)), np.zeros((2, 2), int))
