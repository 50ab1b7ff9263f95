"""The checking machinery of the lessons' exercises.

A lesson asks the student for a function or a value, then calls ``sc.check("00.iou", answer)``.
The check runs the answer on named cases and says what is wrong (the type, the shape, which case,
which entries, too large or too small) without ever printing the expected value. Expected values
come from a library function whose own test checks it against a reference, or from a hand-worked
case: never from a private copy. Each ``exercises/lessonNN.py`` lists its exercises in a literal
``EXERCISES`` dict; ``tests/test_exercises.py`` checks that every one accepts its solution and
rejects typical mistakes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["CheckResult", "Case", "Exercise", "compare", "check_function", "check_value", "as_number",
           "number_matches", "numbers_match", "check_with_mistakes"]


@dataclass
class CheckResult:
    """What a check found: ``passed``, and lines of explanation. Truthy when passed."""
    exercise: str
    passed: bool
    lines: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        head = "[PASSED]" if self.passed else "[NOT YET]"
        return "\n".join([f"{head} {self.exercise}"] + ["   " + ln for ln in self.lines])


@dataclass(frozen=True)
class Case:
    """One test case of a function exercise: a name, the arguments, and the expected result."""
    name: str
    args: tuple
    expected: Any


@dataclass(frozen=True)
class Exercise:
    """One exercise: a title, ``checker(answer) -> (passed, lines)``, and optionally
    ``solution() -> answer`` (shown only on request by :func:`segcourse.exercises.solution`)."""
    title: str
    checker: Callable[[Any], tuple]
    solution: Callable[[], Any] | None = None


# -- helpers for writing checkers -------------------------------------------------------------

def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}, dtype {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}, dtype {x.dtype}"
    if x is None:
        return "None (did you forget `return`?)"
    return f"{type(x).__name__} {x!r}"[:120]


def _where(idx) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ")"


def _array_diff(g: np.ndarray, exp: np.ndarray, atol: float) -> str:
    """How two equal-shaped arrays differ, without their expected values: how many entries, where,
    too large or too small, and whether the answer is the expected one shifted by one along an axis
    or transposed."""
    g, exp = g.astype(float), exp.astype(float)
    bad = ~np.isclose(g, exp, atol=atol, equal_nan=True)
    idx = np.argwhere(bad)
    n = len(idx)
    parts = [f"{n} of {bad.size} value(s) differ"]
    shown = ", ".join(_where(i) for i in idx[:3]) + (", ..." if n > 3 else "")
    parts.append(f"at index {shown}")
    diff = (g - exp)[bad]
    finite = diff[np.isfinite(diff)]
    if finite.size and (finite > 0).all():
        parts.append("all of them too large")
    elif finite.size and (finite < 0).all():
        parts.append("all of them too small")
    for axis in range(g.ndim):
        for step in (1, -1):
            if g.shape[axis] > 1 and np.allclose(np.roll(g, -step, axis), exp, atol=atol):
                parts.append(f"your answer looks shifted by {step:+d} along axis {axis}")
    if g.ndim >= 2 and g.shape[-1] == g.shape[-2] and np.allclose(np.swapaxes(g, -1, -2), exp, atol=atol):
        parts.append("your answer looks transposed (rows and columns swapped)")
    if g.size > 1 and np.allclose(g * (exp.sum() / g.sum() if g.sum() else 1), exp, atol=atol):
        parts.append("the pattern is right but the scale is not")
    return "; ".join(parts)


def compare(got, expected, *, atol: float = 1e-6) -> str | None:
    """None if ``got`` matches ``expected`` (number, bool, set, str or array; lists and tuples are
    accepted where arrays are), else why not: never the expected value itself."""
    if isinstance(expected, (set, frozenset)):
        try:
            got_set = set(got)
        except TypeError:
            return f"expected a set (or a list) of items, got {_describe(got)}"
        if got_set == set(expected):
            return None
        missing, extra = set(expected) - got_set, got_set - set(expected)
        parts = []
        if missing:
            parts.append(f"{len(missing)} item(s) are missing")
        if extra:
            parts.append(f"{sorted(extra)} should not be there")
        return "; ".join(parts)
    if isinstance(expected, str):
        return None if got == expected else f"{_describe(got)} is not the answer"
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)):
            return f"expected True or False, got {_describe(got)}"
        return None if bool(got) == bool(expected) else f"{bool(got)} is not right"
    if isinstance(expected, (int, float, np.number)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float, np.number)):
            return f"expected a number, got {_describe(got)}"
        if np.isnan(expected) and np.isnan(got):
            return None
        if abs(float(got) - float(expected)) <= atol:
            return None
        return f"got {float(got):.4g}, which is too {'large' if got > expected else 'small'}"
    exp = np.asarray(expected)
    if isinstance(got, (list, tuple)):
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"expected an array of shape {exp.shape}, got a {type(got).__name__} that is not numeric"
    if not isinstance(got, (torch.Tensor, np.ndarray)):
        return f"expected an array of shape {exp.shape}, got {_describe(got)}"
    g = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
    if g.shape != exp.shape:
        return f"expected shape {exp.shape}, got shape {g.shape}"
    if not np.allclose(g.astype(float), exp.astype(float), atol=atol, equal_nan=True):
        return _array_diff(g, exp, atol)
    return None


def check_function(fn, cases: list[Case], *, atol: float = 1e-6, compare=None, diagnose=None) -> tuple[bool, list[str]]:
    """Run ``fn`` on every case; report the first failures with their case names.

    compare(got, expected, atol) -> None or why it is wrong (default :func:`compare`; it must never
    print the expected value). diagnose(case, got) -> a sentence naming a typical mistake the answer
    matches, or None; it is added to the case's line.
    """
    if not callable(fn):
        return False, [f"expected a function, got {_describe(fn)}"]
    cmp = compare if compare is not None else (lambda got, exp, tol: globals()["compare"](got, exp, atol=tol))
    lines, ok = [], 0
    for case in cases:
        args = [a.clone() if isinstance(a, torch.Tensor) else a.copy() if isinstance(a, np.ndarray) else a
                for a in case.args]  # a student's in-place change must not alter the cases
        try:
            got = fn(*args)
        except NotImplementedError:
            return False, ["the function still raises NotImplementedError: fill in its body"]
        except Exception as exc:  # the student's code failed: say where, keep going
            lines.append(f"case '{case.name}': raised {type(exc).__name__}: {exc}")
            continue
        why = cmp(got, case.expected, atol)
        if why is None:
            ok += 1
            continue
        hint = diagnose(case, got) if diagnose is not None else None
        lines.append(f"case '{case.name}': {why}" + (f"; {hint}" if hint else ""))
    lines.insert(0, f"{ok}/{len(cases)} cases correct")
    return ok == len(cases), lines[:6]


def check_value(answer, expected, *, what: str, hint: str = "", atol: float = 1e-6) -> tuple[bool, list[str]]:
    """Compare a single answer with the expected value; add ``hint`` when wrong."""
    why = compare(answer, expected, atol=atol)
    if why is None:
        return True, [f"{what}: correct"]
    return False, [f"{what}: {why}"] + ([hint] if hint else [])


def as_number(x) -> float | None:
    """``x`` as a float if it is one number (int, float, 0-d or 1-element array/tensor), else None."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        if (x.numel() if isinstance(x, torch.Tensor) else x.size) != 1:
            return None
        x = x.item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number)):
        return None
    return float(x)


def number_matches(got, value, atol: float = 1e-9) -> bool:
    """Whether a student's answer is the number ``value`` (for recognising typical mistakes)."""
    g = as_number(got)
    return g is not None and abs(g - float(value)) <= atol


def numbers_match(got, expected, atol: float = 1e-6) -> bool:
    """Whether ``got`` holds the numbers of ``expected`` (to ``atol``, no relative tolerance).

    A tuple or list in ``expected`` is matched item by item (so a pair (mask, scores) of different
    shapes works), anything else as one array; tensors, arrays, lists and tuples are all accepted in
    ``got``. Used to recognise a typical mistake, never to print a value."""
    if isinstance(expected, (tuple, list)):
        if isinstance(got, (torch.Tensor, np.ndarray)) and got.ndim == 0:
            return False
        try:
            items = list(got)
        except TypeError:
            return False
        return len(items) == len(expected) and all(numbers_match(g, e, atol) for g, e in zip(items, expected))
    try:
        g = got.detach().cpu().double().numpy() if isinstance(got, torch.Tensor) else np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    e = expected.detach().cpu().double().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected, dtype=float)
    return g.shape == e.shape and bool(np.allclose(g, e, atol=atol, rtol=0.0, equal_nan=True))


def check_with_mistakes(fn, cases: list[Case], mistakes: dict, *, compare=None, atol: float = 1e-6) -> tuple[bool, list[str]]:
    """:func:`check_function` that also names a typical mistake.

    mistakes: name -> (wrong_fn, explanation); ``wrong_fn`` takes a case's arguments like the
    student's function. A mistake that reproduces the answer on every case the answer gets wrong is
    named on each of them; otherwise each wrong case gets the first mistake it matches. The
    explanation says how to think about it, never the expected value."""
    def same_as(wrong, case, got) -> bool:
        try:
            return numbers_match(got, wrong(*case.args), atol)
        except Exception:          # a mistake that cannot run on this case cannot match it
            return False

    wrong_cases = []
    if callable(fn):
        for case in cases:
            args = [a.clone() if isinstance(a, torch.Tensor) else a.copy() if isinstance(a, np.ndarray) else a
                    for a in case.args]
            try:
                got = fn(*args)
            except Exception:
                wrong_cases = []
                break
            if not numbers_match(got, case.expected, atol):
                wrong_cases.append((case, got))
    overall = next((text for wrong, text in mistakes.values()
                    if wrong_cases and all(same_as(wrong, c, g) for c, g in wrong_cases)), None)

    def diagnose(case, got):
        if overall is not None:
            return overall
        return next((text for wrong, text in mistakes.values() if same_as(wrong, case, got)), None)

    return check_function(fn, cases, atol=atol, compare=compare, diagnose=diagnose)
