"""The batch: a grading worker that dies or hangs costs only the notebook it was grading."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from autograder import workers
from autograder.results import Outcome
from autograder.submission import Submission

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crashing_grader


def test_a_dying_or_hanging_worker_costs_one_row_and_the_batch_goes_on(tmp_path: Path) -> None:
    students = ["ann", "crasher", "dan", "sleeper"]
    todo = [(Submission(name, tmp_path / f"{name}.ipynb"), f"key-{name}") for name in students]
    job = crashing_grader.Job(crashing_grader.Profile(), tmp_path / "out")
    found: list[Outcome] = []
    started = time.monotonic()
    workers.grade_all(todo, job, 2, found.append, crashing_grader.grade)
    outcomes = {o.student: o for o in found}
    assert sorted(outcomes) == students and time.monotonic() - started < 60
    assert outcomes["crasher"].problem.startswith("grader error") and "died" in outcomes["crasher"].diagnostics[0]
    assert (
        outcomes["sleeper"].problem.startswith("grader error") and "longer than" in outcomes["sleeper"].diagnostics[0]
    )
    assert all(outcomes[s].problem == "" and outcomes[s].key == f"key-{s}" for s in ("ann", "dan"))
    pids = {outcomes[s].diagnostics[0] for s in ("ann", "dan")}
    assert len(pids) == 2, "every submission is graded in a fresh worker"
    for student in ("ann", "dan"):  # forked from a server that imported the pipeline and froze what it made
        assert outcomes[student].diagnostics[1] == "pipeline frozen True", outcomes[student].diagnostics
    assert (tmp_path / "out" / "crasher" / "results.json").is_file()
