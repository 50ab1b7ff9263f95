"""Every registered exercise accepts its reference solution and explains typical mistakes."""
import numpy as np
import pytest
import torch

import segcourse as sc
from segcourse.exercises import EXERCISES, compare
from segcourse.exercises.lesson00 import quiz_panels


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
    assert not r and "case 'small square inside a big one'" in repr(r) and "too large" in repr(r)
    assert "0.25" not in repr(r)  # feedback never gives the expected value away
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


def test_array_feedback_describes_the_mistake_without_the_answer():
    exp = np.arange(12.0).reshape(3, 4)
    why = compare(np.roll(exp, 1, axis=0), exp)
    assert "shifted by" in why and "axis 0" in why and "11" not in why
    assert "transposed" in compare(np.arange(9.0).reshape(3, 3).T, np.arange(9.0).reshape(3, 3))
    assert "too large" in compare(exp + 1, exp)
    assert compare([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], exp) is None  # lists are arrays too
    assert "scale" in compare(exp * 2, exp)


def test_every_key_is_defined_once_and_solutions_only_on_request():
    from segcourse import exercises
    keys = [k for m in exercises._LESSONS for k in m.EXERCISES]
    assert len(keys) == len(set(keys)) == len(EXERCISES)
    with pytest.raises(ValueError, match="key"):
        sc.solution("99.nope")
    for key, ex in EXERCISES.items():
        if ex.solution is not None:  # a solution shown on request passes its own check
            assert sc.check(key, ex.solution()), key
            assert "def " in sc.solution(key) or "return" in sc.solution(key)


def test_numbers_match_accepts_lists_tensors_and_pairs_of_different_shapes():
    from segcourse.exercises.checking import numbers_match
    pair = (np.ones((2, 3, 3)), np.array([0.25, 0.75]))
    assert numbers_match((torch.ones(2, 3, 3), [0.25, 0.75]), pair)
    assert numbers_match(torch.tensor([1, 2]), (1, 2)) and numbers_match([[1, 2], [3, 4]], torch.tensor([[1, 2], [3, 4]]))
    assert not numbers_match((torch.ones(2, 3, 3), [0.25, 0.7]), pair)       # one score differs
    assert not numbers_match(torch.ones(2, 3, 3), pair)                       # not a pair
    assert not numbers_match(torch.tensor(1.0), (1,)) and not numbers_match("ab", [1, 2])
    assert not numbers_match([1.0, 2.0 + 1e-5], [1, 2], atol=1e-9) and numbers_match([1.0, 2.0 + 1e-5], [1, 2], atol=1e-4)


def test_check_with_mistakes_names_the_mistake_without_the_answer():
    from segcourse.exercises.checking import Case, check_with_mistakes
    cases = [Case(f"n={n}", (n,), 2 * n + 1) for n in (3, 5, 8)]
    mistakes = {"no_plus_one": (lambda n: 2 * n, "the +1 is missing: count the centre once"),
                "square": (lambda n: n * n, "that squares n")}
    ok, lines = check_with_mistakes(lambda n: 2 * n + 1, cases, mistakes)
    assert ok and lines[0] == "3/3 cases correct"
    ok, lines = check_with_mistakes(lambda n: 2 * n, cases, mistakes)
    text = "\n".join(lines)
    assert not ok and text.count("the +1 is missing") == 3 and "that squares" not in text
    assert not any(str(2 * n + 1) in line for n in (3, 5, 8) for line in lines[1:])
    ok, lines = check_with_mistakes(lambda n: n * n if n == 3 else 2 * n + 1, cases, mistakes)
    assert not ok and "that squares n" in "\n".join(lines) and lines[0] == "2/3 cases correct"
