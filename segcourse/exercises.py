"""Automatic checks for the lessons' exercises.

A lesson asks the student for a function or a value, then calls ``sc.check("00.iou", answer)``.
The check runs the answer on named cases against a reference and says what is wrong: the type,
the shape, or which case gave which value. Solutions live in hidden cells of the lesson.

Each exercise is registered with :func:`exercise`; ``tests/test_exercises.py`` checks that every
registered exercise accepts its reference and rejects typical mistakes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["check", "CheckResult", "exercise", "EXERCISES", "Case"]


@dataclass
class CheckResult:
    """What a check found: ``passed``, and lines of explanation. Truthy when passed."""
    exercise: str
    passed: bool
    lines: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        head = "PASSED" if self.passed else "NOT YET"
        mark = "\u2705" if self.passed else "\u274c"
        return "\n".join([f"{mark} {head} [{self.exercise}]"] + ["   " + ln for ln in self.lines])


@dataclass(frozen=True)
class Case:
    """One test case of a function exercise: a name, the arguments, and the expected result."""
    name: str
    args: tuple
    expected: Any


@dataclass(frozen=True)
class Exercise:
    title: str
    checker: Callable[[Any], CheckResult]


EXERCISES: dict[str, Exercise] = {}


def exercise(key: str, title: str):
    """Register ``checker(answer) -> (passed, lines)`` as exercise ``key``."""
    def deco(fn):
        def run(answer):
            passed, lines = fn(answer)
            return CheckResult(key, passed, list(lines))
        EXERCISES[key] = Exercise(title, run)
        return fn
    return deco


def check(key: str, answer) -> CheckResult:
    """Check a student's ``answer`` to exercise ``key`` and explain the verdict."""
    if key not in EXERCISES:
        raise ValueError(f"key: expected one of {sorted(EXERCISES)}, got {key!r}")
    return EXERCISES[key].checker(answer)


# -- helpers for writing checkers -------------------------------------------------------------

def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}, dtype {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}, dtype {x.dtype}"
    if x is None:
        return "None (did you forget `return`?)"
    return f"{type(x).__name__} {x!r}"[:120]


def compare(got, expected, *, atol: float = 1e-6) -> str | None:
    """None if ``got`` matches ``expected`` (number, bool, set, str or array), else why not."""
    if isinstance(expected, (set, frozenset)):
        try:
            got_set = set(got)
        except TypeError:
            return f"expected a set like {sorted(expected)}, got {_describe(got)}"
        if got_set == set(expected):
            return None
        missing, extra = set(expected) - got_set, got_set - set(expected)
        parts = []
        if missing:
            parts.append(f"missing {sorted(missing)}")
        if extra:
            parts.append(f"should not contain {sorted(extra)}")
        return "; ".join(parts)
    if isinstance(expected, str):
        return None if got == expected else f"expected {expected!r}, got {_describe(got)}"
    if isinstance(expected, (bool, np.bool_)):
        return None if isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected) else \
            f"expected {bool(expected)}, got {_describe(got)}"
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
        return f"expected {float(expected):.4g}, got {float(got):.4g}"
    exp = np.asarray(expected)
    if not isinstance(got, (torch.Tensor, np.ndarray)):
        return f"expected an array of shape {exp.shape}, got {_describe(got)}"
    g = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
    if g.shape != exp.shape:
        return f"expected shape {exp.shape}, got shape {g.shape}"
    if not np.allclose(g.astype(float), exp.astype(float), atol=atol, equal_nan=True):
        bad = np.argwhere(~np.isclose(g.astype(float), exp.astype(float), atol=atol, equal_nan=True))
        where = tuple(int(i) for i in bad[0])
        return (f"{len(bad)} value(s) differ, first at index {where}: expected "
                f"{exp[where]:.4g}, got {g[where]:.4g}")
    return None


def check_function(fn, cases: list[Case], *, atol: float = 1e-6) -> tuple[bool, list[str]]:
    """Run ``fn`` on every case; report the first failures with their case names."""
    if not callable(fn):
        return False, [f"expected a function, got {_describe(fn)}"]
    lines, ok = [], 0
    for case in cases:
        try:
            got = fn(*case.args)
        except NotImplementedError:
            return False, ["the function still raises NotImplementedError: fill in its body"]
        except Exception as exc:  # the student's code failed: say where, keep going
            lines.append(f"case '{case.name}': raised {type(exc).__name__}: {exc}")
            continue
        why = compare(got, case.expected, atol=atol)
        if why is None:
            ok += 1
        else:
            lines.append(f"case '{case.name}': {why}")
    lines.insert(0, f"{ok}/{len(cases)} cases correct")
    return ok == len(cases), lines[:6]


def check_value(answer, expected, *, what: str, hint: str = "", atol: float = 1e-6) -> tuple[bool, list[str]]:
    """Compare a single answer with the expected value; add ``hint`` when wrong."""
    why = compare(answer, expected, atol=atol)
    if why is None:
        return True, [f"{what}: correct"]
    return False, [f"{what}: {why}"] + ([hint] if hint else [])
