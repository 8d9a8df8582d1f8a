"""An OUT folder as `make grade` leaves it, built from the committed fact fixtures without running a notebook: each
student's facts.json and run.json (tests/fast/fixtures), a run part (notes, a failed cell, diagnostics, a flag, an
executed notebook), the hidden checks' results on those facts and every report."""

from __future__ import annotations

import json
from pathlib import Path

from grading import load_fixture

from autograder import batch, judge, report
from autograder.measuring.facts import Facts, parse
from autograder.results import CellFailure, FailureKind, Outcome

# student -> fixture; "refused" is a notebook refused before anything ran (no measurements)
STUDENTS = {"ann": "solution", "bob": "mutant_single_conv", "cy": "refused"}


def graded(out: Path, student: str, fixture: str, key: str = "", versions: batch.Versions | None = None) -> Outcome:
    """OUT/<student>/ as grading the notebook behind `fixture` leaves it; its outcome."""
    versions = versions or batch.Versions.current()
    folder = out / student
    folder.mkdir(parents=True)
    outcome = Outcome(student, key=key or f"key-{student}", measuring=versions.measuring)
    if fixture == "refused":
        outcome.problem = "refused: the notebook is a symbolic link"
        judge.judge(outcome, folder, versions.judging)
        report.write_student(outcome, folder)
        return outcome
    data = load_fixture(fixture)
    (folder / "facts.json").write_text(json.dumps(data["facts"]))
    (folder / "run.json").write_text(json.dumps(data["run"]))
    (folder / "executed.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    outcome.notes = ["the `parameters` tag was missing; the cell that sets IMG_SIZE was used"]
    outcome.failures = [CellFailure(30, FailureKind.ERROR, "NameError: name 'plot' is not defined", "plot(history)")]
    outcome.diagnostics = [f"probe challenge seed {len(student)}", "seconds: notebook 20.5"]
    outcome.flags = ["possibly trained on the test split (a flag of the run, kept when re-judged)"]
    outcome.sandbox = "bwrap (fixture)"
    outcome.seconds = 31.5
    outcome.measured = True
    judge.judge(outcome, folder, versions.judging)
    report.write_student(outcome, folder, "visible", parse(Facts, data["facts"]), data["run"])
    return outcome


def build(out: Path, keys: dict[str, str] | None = None) -> dict[str, Outcome]:
    """OUT with every student of STUDENTS graded (`keys`: each one's key, else a made-up one); their outcomes."""
    return {s: graded(out, s, fixture, (keys or {}).get(s, "")) for s, fixture in STUDENTS.items()}


def edit(out: Path, student: str, **fields: object) -> None:
    """Change fields of OUT/<student>/outcome.json, as another version of the grader would have written them."""
    path = out / student / "outcome.json"
    raw = json.loads(path.read_text())
    raw.update(fields)
    path.write_text(json.dumps(raw))


def run_part(outcome: Outcome) -> dict:
    """What the run left in an outcome: everything but the judging's fields and the adjustments."""
    judging = ("checks", "judged", "judge_problem", "adjustments")
    return {name: value for name, value in vars(outcome).items() if name not in judging}
