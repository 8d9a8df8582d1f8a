"""The batch: a grading worker that dies costs only the notebook it was grading."""

from __future__ import annotations

import sys
from pathlib import Path

from assignment.profiles import PROFILES
from autograder import grade
from autograder.submission import Submission

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crashing_grader


def test_a_dying_worker_costs_one_row_and_the_batch_goes_on(tmp_path: Path) -> None:
    students = ["ann", "crasher", "dan"]
    submissions = [Submission(name, tmp_path / f"{name}.ipynb") for name in students]
    job = crashing_grader.Job(PROFILES["smoke"], tmp_path / "out")
    outcomes = {o.student: o for o in grade.grade_all(submissions, job, 2, crashing_grader.grade)}
    assert sorted(outcomes) == students
    assert outcomes["crasher"].problem.startswith("grader error") and "died while grading this notebook" in outcomes["crasher"].diagnostics[0]
    assert all(outcomes[s].problem == "" for s in students if s != "crasher")
    assert (tmp_path / "out" / "crasher" / "results.json").is_file()
