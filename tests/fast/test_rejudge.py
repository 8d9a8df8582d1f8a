"""Re-judging instead of re-running: `make rejudge` and `make grade` judge the measurements OUT holds again when only
the judging code changed, keep what the run left, and never run a notebook or compute the reference splits for it;
measurements from another version of the measuring code are never judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixture_out import STUDENTS, build, edit, graded, run_part

from assignment.profiles import PROFILES
from autograder import batch, grade, splits
from autograder.results import Outcome
from autograder.submission import discover


def _load(out: Path, student: str) -> Outcome:
    return Outcome.load(out / student / "outcome.json")


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_rejudge_judges_the_stored_measurements_again_and_keeps_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    made = build(out)
    for student in STUDENTS:  # as the hidden checks of another judging version left them
        edit(out, student, judged="judged-before", checks=[], judge_problem="the old checks did not load")
    names = ("facts.json", "run.json", "executed.ipynb")
    measured = {s: {n: (out / s / n).read_bytes() for n in names} for s in made if STUDENTS[s] != "refused"}
    assert grade.main(["--rejudge", str(out)]) == 0
    assert "re-judged 3, not re-judged 0" in capsys.readouterr().err
    current = batch.Versions.current()
    for student, before in made.items():
        after = _load(out, student)
        assert after.judged == current.judging and after.judge_problem == ""
        assert after.checks == before.checks and run_part(after) == run_part(before)
        if student in measured:
            assert {n: (out / student / n).read_bytes() for n in names} == measured[student]
    assert [c.id for c in _load(out, "bob").checks if c.score < c.max_score] == ["test_double_conv_two_3x3_relu_convs"]
    feedback = (out / "ann" / "feedback.md").read_text()
    assert (
        "No points lost" in feedback and "the old checks did not load" not in (out / "ann" / "grader.log").read_text()
    )
    rows = {line.split(",")[0]: line for line in (out / "grades.csv").read_text().splitlines()[1:]}
    assert rows["ann"].split(",")[6] == "100" and rows["cy"].endswith("refused: the notebook is a symbolic link")
    assert (out / "report.html").is_file()


def test_rejudge_refuses_measurements_of_another_measuring_version(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    build(out)
    edit(out, "ann", measuring="measured-elsewhere", judged="judged-before", checks=[])
    edit(out, "bob", judged="judged-before")
    batch.write_manifest(out, [], tmp_path / "submissions")
    before = _files(out / "ann")
    assert grade.main(["--rejudge", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not re-judged ann: its measurements were made by another version of the grader's measuring code" in err
    assert (
        f"make grade SUBMISSIONS={tmp_path / 'submissions'} OUT={out}" in err and "re-judged 2, not re-judged 1" in err
    )
    assert _files(out / "ann") == before, "nothing of a student whose measurements are stale is rewritten"
    assert _load(out, "bob").judged == batch.Versions.current().judging


@pytest.fixture
def batch_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list]:
    """Submissions, and OUT graded from them under `smoke` (sandbox none) as `make grade` would leave it; running a
    notebook or computing the reference splits is recorded, not done."""
    data_dir = tmp_path / "tfds"
    data_dir.mkdir()
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for student in STUDENTS:
        (submissions / f"{student}.ipynb").write_text(json.dumps({"cells": [], "student": student}))
    settings = batch.settings(PROFILES["smoke"], data_dir, "none")
    found = {s.student: s for s in discover(submissions)}
    out = tmp_path / "out"
    build(out, {student: batch.key(found[student], settings) for student in STUDENTS})
    ran: list = []
    monkeypatch.setattr(grade.leftovers, "sweep", lambda: [])
    monkeypatch.setattr(grade, "grade_all", lambda todo, *rest: ran.append([s.student for s, _ in todo]))

    def reference(profile, data_path, folder, announce=None):
        ran.append("reference splits")
        return splits.Reference({"train": 200, "test": 100}, None, "made up for the test")

    monkeypatch.setattr(grade.splits, "prepare", reference)
    return submissions, out, ran


def _grade(submissions: Path, out: Path, *extra: str) -> int:
    argv = [str(submissions), "--profile", "smoke", "--out", str(out), "--unsandboxed", *extra]
    return grade.main(argv)


def test_make_grade_keeps_current_outcomes_and_runs_nothing(batch_out: tuple, capsys: pytest.CaptureFixture) -> None:
    submissions, out, ran = batch_out
    before = {student: _files(out / student) for student in STUDENTS}
    assert _grade(submissions, out) == 0
    assert "graded 0, kept 3, re-judged 0" in capsys.readouterr().err and ran == []
    assert {student: _files(out / student) for student in STUDENTS} == before


def test_make_grade_rejudges_when_only_the_judging_changed(batch_out: tuple, capsys: pytest.CaptureFixture) -> None:
    submissions, out, ran = batch_out
    made = {student: _load(out, student) for student in STUDENTS}
    for student in STUDENTS:
        edit(out, student, judged="judged-before", checks=[])
    (out / "adjustments.csv").write_text("student,section,points,note\nbob,encoder,2,regrade accepted\n")
    assert _grade(submissions, out) == 0
    err = capsys.readouterr().err
    assert "graded 0, kept 0, re-judged 3" in err and ran == [], "no notebook run, no reference splits"
    assert "reference splits:" not in err
    for student, before in made.items():
        assert _load(out, student).checks == before.checks and run_part(_load(out, student)) == run_part(before)
    assert _grade(submissions, out) == 0 and "graded 0, kept 3, re-judged 0" in capsys.readouterr().err
    bob = [line for line in (out / "grades.csv").read_text().splitlines() if line.startswith("bob,")]
    assert bob[0].split(",")[6] == f"{made['bob'].total + 2:g}", "adjusted once, after a re-judge and a resume"


def test_make_grade_runs_again_what_another_measuring_version_measured(
    batch_out: tuple, capsys: pytest.CaptureFixture
) -> None:
    submissions, out, ran = batch_out
    edit(out, "bob", measuring="measured-elsewhere", judged="judged-before")
    edit(out, "ann", judged="judged-before")
    assert _grade(submissions, out) == 0
    assert "graded 1, kept 1, re-judged 1" in capsys.readouterr().err
    assert ran == ["reference splits", ["bob"]]


def test_a_rejudge_whose_checks_break_costs_that_student_its_checks_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    before = graded(out, "ann", "solution")
    edit(out, "ann", judged="judged-before")

    def broken(facts: Path, run_config: Path) -> tuple:
        raise RuntimeError("a hidden check that does not import")

    monkeypatch.setattr(grade.judge.checks, "run", broken)
    assert grade.main(["--rejudge", str(out)]) == 0
    after = _load(out, "ann")
    assert after.checks == [] and "a hidden check that does not import" in after.judge_problem
    assert run_part(after) == run_part(before) and "grader error" in (out / "grades.csv").read_text()
    assert "grader error while re-judging ann" in capsys.readouterr().err
