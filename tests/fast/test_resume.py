"""Course-scale batches: what an outcome depends on (the notebook and settings it was run from, the versions of the
measuring and the judging code), what `make grade` does with a stored one (keep, re-judge, run), the manifest every
engine writes, grades.csv from whatever OUT holds, and a batch that would promise more memory than there is."""

from __future__ import annotations

import csv
import json
import shutil
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


def test_the_key_follows_the_notebook_and_the_settings(tmp_path: Path) -> None:
    ann = _submission(tmp_path, "ann")
    first = batch.key(ann, SETTINGS)
    assert batch.key(ann, dict(SETTINGS)) == first, "the same inputs give the same key"
    assert batch.key(ann, {**SETTINGS, "profile": "ci"}) != first
    assert batch.key(ann, {**SETTINGS, "data": "other"}) != first
    assert batch.key(ann, {**SETTINGS, "sandbox": "user"}) != first
    (tmp_path / "ann.ipynb").write_text('{"changed": 1}')
    assert batch.key(ann, SETTINGS) != first


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    """A copy of the kit's versioned files."""
    root = tmp_path / "kit"
    for top in batch.VERSIONED:
        shutil.copytree(batch.KIT / top, root / top, ignore=shutil.ignore_patterns("__pycache__"))
    for name in batch.DATA_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(batch.KIT / name, root / name)
    return root


def _append(path: Path, text: str) -> None:
    path.write_text((path.read_text() if path.exists() else "") + text)


@pytest.mark.parametrize(
    ("changed", "measuring", "judging"),
    [
        ("autograder/checks/test_training.py", False, True),
        ("autograder/checks/conftest.py", False, True),
        ("assignment/points.py", False, True),
        ("autograder/feedback.py", False, True),
        ("assignment/reference_curves.json", False, True),
        ("autograder/measure.py", True, False),
        ("autograder/run.py", True, False),
        ("autograder/probe/calls.py", True, False),
        ("autograder/measuring/training.py", True, False),
        ("assignment/profiles.py", True, False),
        ("release/tiny_unet/tiny_unet.ipynb", True, False),
        ("requirements.txt", True, False),
        ("autograder/a_new_module.py", True, False),
    ],
)
def test_a_changed_file_changes_the_version_of_its_part_only(
    kit: Path, changed: str, measuring: bool, judging: bool
) -> None:
    before = batch.Versions.current(kit)
    assert before == batch.Versions.current(), "the copy holds every file the versions cover"
    path = kit / changed
    if path.suffix == ".json":
        path.write_text(json.dumps({**json.loads(path.read_text()), "added": 1}))
    elif path.suffix == ".ipynb":
        _append(path, "\n")
    else:
        _append(path, "\n# an edit\n")
    after = batch.Versions.current(kit)
    assert (after.measuring != before.measuring, after.judging != before.judging) == (measuring, judging)


def test_the_graded_functions_in_points_py_are_part_of_the_measuring(kit: Path) -> None:
    """The probe calls the functions GRADED names with the blocks it lists: a change there is measured anew."""
    before = batch.Versions.current(kit)
    points = kit / "assignment" / "points.py"
    points.write_text(
        points.read_text().replace('Graded("make_unet", "unet", (', 'Graded("make_unet", "unet", ("preprocess", ')
    )
    after = batch.Versions.current(kit)
    assert after.measuring != before.measuring and after.judging != before.judging


VERSIONS = batch.Versions("measured-1", "judged-1")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, batch.Step.KEEP),
        ({"judged": "judged-0"}, batch.Step.REJUDGE),
        ({"judged": "judged-0", "measuring": "measured-0"}, batch.Step.RUN),
        ({"measuring": "measured-0"}, batch.Step.RUN),
        ({"measuring": ""}, batch.Step.RUN),  # graded before the versions were recorded
        ({"key": "k2"}, batch.Step.RUN),
        ({"judged": "judged-0", "facts": False}, batch.Step.RUN),  # its measurements are gone
    ],
)
def test_what_make_grade_does_with_a_stored_outcome(tmp_path: Path, stored: dict, expected: batch.Step) -> None:
    ann = _submission(tmp_path, "ann")
    out = tmp_path / "out"
    fields = {"key": "k1", "measuring": VERSIONS.measuring, "judged": VERSIONS.judging, "measured": True, **stored}
    facts = fields.pop("facts", True)
    report.write_student(Outcome("ann", **fields), out / "ann")
    for name in ("facts.json", "run.json") if facts else ():
        (out / "ann" / name).write_text("{}")
    assert batch.step(out, ann, "k1", VERSIONS) is expected


def test_an_outcome_that_is_missing_or_torn_is_run(tmp_path: Path) -> None:
    ann = _submission(tmp_path, "ann")
    out = tmp_path / "out"
    assert batch.step(out, ann, "k1", VERSIONS) is batch.Step.RUN
    report.write_student(Outcome("ann", key="k1", measuring="measured-1", judged="judged-1"), out / "ann")
    assert batch.step(out, ann, "k1", VERSIONS) is batch.Step.KEEP
    (out / "ann" / "outcome.json").write_text('{"student": "ann", "chec')  # a batch killed while writing
    assert batch.step(out, ann, "k1", VERSIONS) is batch.Step.RUN
    plan = batch.plan([ann], out, SETTINGS, VERSIONS, regrade=True)
    assert plan[batch.Step.RUN] == [(ann, batch.key(ann, SETTINGS))] and not plan[batch.Step.KEEP]


def test_a_grader_error_is_run_again_on_resume(tmp_path: Path) -> None:
    """A batch that resumes keeps what the notebook earned, even a limit it broke, but runs again every outcome the
    grader failed on (it may have been a passing fault, fixed since), without REGRADE=1."""
    problems = {
        "ok": "",
        "stopped": "stopped: scratch limit of 1024 MiB exceeded",
        "crashed": "grader error (your instructor has the details)",
        "no_kernel": "grader error: the sandbox could not start the notebook's kernel",
    }
    students = [_submission(tmp_path, name, json.dumps({"name": name})) for name in problems]
    out = tmp_path / "out"
    for submission in students:
        stored = {"key": batch.key(submission, SETTINGS), "measuring": "measured-1", "judged": "judged-0"}
        report.write_student(
            Outcome(submission.student, problem=problems[submission.student], **stored), out / submission.student
        )
    rejudging = batch.plan(students, out, SETTINGS, VERSIONS)
    assert [s.student for s, _ in rejudging[batch.Step.RUN]] == ["crashed", "no_kernel"]
    assert [s.student for s, _ in rejudging[batch.Step.REJUDGE]] == ["ok", "stopped"]
    for submission in students:
        path = out / submission.student / "outcome.json"
        path.write_text(path.read_text().replace('"judged-0"', '"judged-1"'))
    resumed = batch.plan(students, out, SETTINGS, VERSIONS)
    assert [s.student for s, _ in resumed[batch.Step.RUN]] == ["crashed", "no_kernel"]
    assert [s.student for s, _ in resumed[batch.Step.KEEP]] == ["ok", "stopped"]


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
