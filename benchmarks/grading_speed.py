"""Seconds to grade one submission (the solution) per profile, and the grading overhead.

The overhead is a full graded run (headless run + probes + hidden checks + reports) divided by
a bare headless run of the same parameterized notebook, both measured here one after the other.

    python benchmarks/grading_speed.py [smoke ci]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment.profiles import PROFILES, resolve_data
from autograder import run
from autograder.grade import grade_one, kernel_env
from autograder.submission import Submission

SOLUTION = next((Path(__file__).resolve().parent.parent / "solution").glob("*/*.ipynb"))


def main(names: list[str]) -> None:
    print(f"{'profile':8} {'bare run s':>11} {'graded s':>9} {'overhead':>9}  data")
    for name in names:
        profile = PROFILES[name]
        data = resolve_data(profile, dict(os.environ))
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            run.execute(nbformat.read(SOLUTION, as_version=4), profile, Path(scratch), kernel_env(data.path), probes=[])
            bare = time.perf_counter() - started
            started = time.perf_counter()
            outcome = grade_one(Submission("solution", SOLUTION), profile, Path(scratch) / "out", data)
            graded = time.perf_counter() - started
        print(f"{name:8} {bare:11.1f} {graded:9.1f} {graded / bare:8.2f}x  {data.origin} (score {outcome.total:g})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["smoke", "ci"])
