"""Every registered exercise accepts its reference solution and explains typical mistakes."""
import numpy as np
import pytest

import segcourse as sc
from segcourse.exercises import EXERCISES, compare
from segcourse.lesson00 import quiz_panels


def good_iou(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return (a & b).sum() / (a | b).sum()


def good_iou_from_confusion(conf):
    conf = np.asarray(conf, float)
    tp = np.diag(conf)
    return tp / (conf.sum(0) + conf.sum(1) - tp)


def test_lesson00_exercises_accept_solutions():
    assert sc.check("00.iou", good_iou)
    assert sc.check("00.iou", sc.mask_iou)  # the library agrees with the hand-worked cases
    assert sc.check("00.iou_from_confusion", good_iou_from_confusion)
    _, kinds = quiz_panels()
    letters = {l for l, k in zip("ABCD", kinds) if k == "instance"}
    assert sc.check("00.which_instance", letters)
    assert sc.check("00.which_instance", " ".join(sorted(letters)).lower())


def test_lesson00_checks_explain_mistakes():
    r = sc.check("00.iou", lambda a, b: (a & b).sum() / a.sum())  # divides by |pred|, not union
    assert not r and "case 'small square inside a big one'" in repr(r) and "expected 0.25" in repr(r)
    r = sc.check("00.iou", lambda a, b: None)
    assert not r and "forget `return`" in repr(r)
    def todo(a, b):
        raise NotImplementedError
    r = sc.check("00.iou", todo)
    assert not r and "NotImplementedError" in repr(r)
    # rows vs columns swapped in FP/FN is still symmetric for IoU; dropping FP is not:
    r = sc.check("00.iou_from_confusion", lambda c: np.diag(c) / np.asarray(c).sum(1))
    assert not r and "3 classes" in repr(r)
    r = sc.check("00.iou_from_confusion", lambda c: np.ones(3))
    assert not r and "expected shape (2,)" in repr(r)
    r = sc.check("00.which_instance", {"A"})
    assert not r and "Hint" in repr(r)


def test_every_exercise_rejects_nonsense():
    for key in EXERCISES:
        assert not sc.check(key, None)


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(ValueError, match="key"):
        sc.check("99.nope", 1)


@pytest.mark.parametrize("got,expected,ok", [
    (0.5, 0.5, True), (np.float32(0.5), 0.5, True), (True, 1.0, False), ("a", 1.0, False),
    (np.zeros(3), np.zeros(3), True), (np.zeros(2), np.zeros(3), False), ({1, 2}, {1, 2}, True),
    ({1}, {1, 2}, False), (float("nan"), float("nan"), True)])
def test_compare(got, expected, ok):
    assert (compare(got, expected) is None) == ok
