"""Course-scale batches: what an outcome is graded from (so an unchanged submission is kept), the manifest every
engine writes, grades.csv from whatever OUT holds, and a batch that would promise more memory than there is."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from assignment.profiles import PROFILES
from autograder import batch, grade, report
from autograder.results import Outcome
from autograder.submission import Submission

SETTINGS = {"profile": "smoke", "data": "abc", "sandbox": "bwrap"}


def _submission(tmp_path: Path, name: str, text: str = "{}") -> Submission:
    (tmp_path / f"{name}.ipynb").write_text(text)
    return Submission(name, tmp_path / f"{name}.ipynb")


def test_the_key_follows_the_notebook_the_settings_and_the_grader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = _submission(tmp_path, "ann")
    first = batch.key(ann, SETTINGS)
    assert batch.key(ann, dict(SETTINGS)) == first, "the same inputs give the same key"
    assert batch.key(ann, {**SETTINGS, "profile": "ci"}) != first
    assert batch.key(ann, {**SETTINGS, "data": "other"}) != first
    monkeypatch.setattr(batch, "grader_version", lambda: "a changed hidden check")
    assert batch.key(ann, SETTINGS) != first
    monkeypatch.undo()
    (tmp_path / "ann.ipynb").write_text('{"changed": 1}')
    assert batch.key(ann, SETTINGS) != first


def test_the_grader_version_covers_the_hidden_checks() -> None:
    checks = Path(batch.KIT, "autograder", "checks", "test_training.py")
    assert checks in [p for top in batch.VERSIONED for p in Path(batch.KIT, top).rglob("*.py")]


def test_only_a_complete_outcome_of_the_same_key_is_kept(tmp_path: Path) -> None:
    ann = _submission(tmp_path, "ann")
    out = tmp_path / "out"
    assert not batch.unchanged(out, ann, "k1")
    report.write_student(Outcome("ann", key="k1"), out / "ann")
    assert batch.unchanged(out, ann, "k1") and not batch.unchanged(out, ann, "k2")
    (out / "ann" / "outcome.json").write_text('{"student": "ann", "chec')  # a batch killed while writing
    assert not batch.unchanged(out, ann, "k1")


def test_grades_csv_holds_every_outcome_and_every_student_the_manifest_expects(tmp_path: Path) -> None:
    out = tmp_path / "out"
    students = [_submission(tmp_path, name) for name in ("ann", "bob", "cy")]
    batch.write_manifest(out, students, tmp_path)
    report.write_student(Outcome("ann", key="k"), out / "ann")
    report.write_student(Outcome("dan", key="k"), out / "dan")  # graded by an earlier batch, no longer submitted
    (out / "cy").mkdir()
    (out / "cy" / "outcome.json").write_text("not json")
    outcomes = {o.student: o for o in batch.merge(out)}
    assert sorted(outcomes) == ["ann", "bob", "cy", "dan"]
    assert "ONLY=bob" in outcomes["bob"].problem and "could not be read" in outcomes["cy"].problem
    with (out / "grades.csv").open() as handle:
        assert [row["student"] for row in csv.DictReader(handle)] == ["ann", "bob", "cy", "dan"]
    assert [s.student for s in batch.read_manifest(out)] == ["ann", "bob", "cy"]


def test_a_batch_that_would_promise_more_memory_than_there_is_is_refused() -> None:
    limits = PROFILES["ci"].limits
    each = limits.memory_mib + limits.grader_mib
    grade.check_memory(PROFILES["ci"], 2, 2 * each)
    with pytest.raises(grade.Refusal, match=r"JOBS=3 .* use JOBS=2"):
        grade.check_memory(PROFILES["ci"], 3, 2 * each + 100)
    with pytest.raises(grade.Refusal, match="give the grader at least"):
        grade.check_memory(PROFILES["ci"], 1, each - 1)
