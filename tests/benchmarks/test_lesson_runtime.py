"""Each lesson runs top to bottom in <= 60 s on 2 cores (the course's run-time budget).

Run with ``./course bench`` (or ``.venv/bin/python -m pytest tests/benchmarks --benchmark-only``).
Each lesson is executed once in a fresh kernel, the way ``./course build`` does, network blocked.
"""
import time

import jupytext
import pytest

from segcourse.tooling.notebooks import LESSONS, execute, lesson_paths

BUDGET_S = 60.0


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_lesson_runs_within_budget(benchmark, path):
    def run():
        nb = jupytext.read(path)
        start = time.perf_counter()
        execute(nb, LESSONS)
        return time.perf_counter() - start

    seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["seconds"] = round(seconds, 1)
    print(f"\n{path.stem}: {seconds:.1f} s")
    assert seconds <= BUDGET_S, f"{path.stem} took {seconds:.1f} s > {BUDGET_S} s"
