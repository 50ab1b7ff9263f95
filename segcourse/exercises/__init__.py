"""The lessons' exercises: ``sc.check(key, answer)`` checks an answer, ``sc.solution(key)`` shows a
solution on request. Each lesson's exercises live in ``lessonNN.py`` as a literal ``EXERCISES``
dict, gathered here explicitly (no scanning, nothing registers itself on import).
"""
from __future__ import annotations

from . import lesson00, lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08, lesson09, lesson10, lesson11, lesson12
from .checking import Case, CheckResult, Exercise, check_function, check_value, compare

__all__ = ["check", "solution", "EXERCISES", "CheckResult", "Case", "Exercise", "check_function",
           "check_value", "compare"]

_LESSONS = (lesson00, lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08, lesson09, lesson10, lesson11, lesson12)


def _gather() -> dict:
    out: dict[str, Exercise] = {}
    for module in _LESSONS:
        for key, ex in module.EXERCISES.items():
            if key in out:
                raise RuntimeError(f"exercise {key!r} is defined twice")
            out[key] = ex
    return out


#: Every exercise of the course: key ("NN.name") -> :class:`Exercise`.
EXERCISES: dict[str, Exercise] = _gather()


def check(key: str, answer) -> CheckResult:
    """Check a student's ``answer`` to exercise ``key`` and explain the verdict."""
    if key not in EXERCISES:
        raise ValueError(f"key: expected one of {sorted(EXERCISES)}, got {key!r}")
    passed, lines = EXERCISES[key].checker(answer)
    return CheckResult(key, passed, list(lines))


def solution(key: str) -> str:
    """A solution of exercise ``key``, as source text (print it to read it). Only on request: the
    lessons never run this for you."""
    import inspect
    import textwrap
    if key not in EXERCISES:
        raise ValueError(f"key: expected one of {sorted(EXERCISES)}, got {key!r}")
    fn = EXERCISES[key].solution
    if fn is None:
        raise ValueError(f"key: exercise {key!r} has its solution in the lesson's hidden cell")
    return textwrap.dedent(inspect.getsource(fn))
