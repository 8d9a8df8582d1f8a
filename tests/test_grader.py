"""The autograder end to end: `make grade` over a batch of real, unfilled, mistaken and broken notebooks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mutants import MUTANTS, Mutant

from assignment.points import MAX_POINTS, SECTIONS

ROOT = Path(__file__).resolve().parent.parent


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def test_every_submission_gets_a_row_and_reports(smoke_batch: tuple) -> None:
    out, kinds, _ = smoke_batch
    rows = _rows(out)
    assert set(rows) == set(kinds)
    assert list(next(iter(rows.values())))[:1] == ["student"] and {"total", "max", "status", *SECTIONS} <= set(next(iter(rows.values())))
    for student in kinds:
        results = _results(out, student)
        assert isinstance(results["score"], int | float) and results["tests"], student
        for test in results["tests"]:
            assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert (out / student / "feedback.md").read_text().startswith(f"# Feedback for {student}")


def test_solution_gets_full_marks_under_smoke(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["solution"]
    assert (row["total"], row["max"], row["status"]) == (str(MAX_POINTS), str(MAX_POINTS), "ok"), row
    iou = next(t for t in _results(out, "solution")["tests"] if "foreground IoU on the test split" in t["name"])
    assert "foreground IoU: 0." in iou["output"]
    assert "graded tiny_unet.ipynb, ignored tiny_unet-Copy1.ipynb" in (out / "solution" / "feedback.md").read_text()


def test_check_points_add_up_to_the_seed(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    per_section = {key: 0 for key in SECTIONS}
    for test in _results(out, "solution")["tests"]:
        per_section[next(k for k, (title, _) in SECTIONS.items() if test["name"].startswith(f"{title}: "))] += test["max_score"]
    assert per_section == {"preprocess": 10, "encoder": 30, "decoder": 20, "unet": 30, "training": 10}


def test_unfilled_release_gets_zero(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["unfilled_release"]
    assert row["total"] == "0" and row["status"].startswith("error in cell")
    assert "is not written yet" in (out / "unfilled_release" / "feedback.md").read_text()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_points_in_its_section_and_is_named(smoke_batch: tuple, mutant: Mutant) -> None:
    out, _, _ = smoke_batch
    student = f"mutant_{mutant.name}"
    row = _rows(out)[student]
    assert float(row[mutant.section]) < SECTIONS[mutant.section][1], f"{student} kept all {mutant.section} points: {row}"
    title = SECTIONS[mutant.section][0]
    failed = [t["output"] for t in _results(out, student)["tests"] if t["name"].startswith(title) and t["status"] == "failed"]
    assert any(mutant.message in output for output in failed), f"no failed {mutant.section} check says {mutant.message!r}: {failed}"


def test_invalid_json_is_reported_and_the_batch_goes_on(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["broken_json"]
    assert row["total"] == "0" and row["status"].startswith("invalid notebook: not a readable notebook")


def test_syntax_error_keeps_earned_points(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["broken_syntax"]
    assert row["total"] == str(MAX_POINTS) and row["status"].startswith("error in cell"), row
    assert "SyntaxError" in (out / "broken_syntax" / "feedback.md").read_text()


def test_infinite_loop_times_out_and_keeps_earned_points(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["broken_infinite_loop"]
    assert row["status"].startswith("timeout in cell") and row["total"] == str(MAX_POINTS), row


def test_dead_kernel_is_restarted_and_keeps_earned_points(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["broken_dead_kernel"]
    assert row["status"].startswith("kernel died in cell") and row["total"] == str(MAX_POINTS), row


def test_missing_parameters_tag_still_gets_the_profile(smoke_batch: tuple) -> None:
    out, _, _ = smoke_batch
    row = _rows(out)["broken_missing_parameters_tag"]
    assert row["total"] == str(MAX_POINTS), row
    assert "the `parameters` tag was missing" in (out / "broken_missing_parameters_tag" / "feedback.md").read_text()


def test_progress_and_table_are_printed(smoke_batch: tuple) -> None:
    _, kinds, stdout = smoke_batch
    assert stdout.splitlines()[0].split()[:2] == ["student", "preprocess"]
    assert all(student in stdout for student in kinds)


def test_bad_submissions_folder_is_a_clear_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "autograder.grade", str(tmp_path / "missing"), "--profile", "smoke", "--out", str(tmp_path / "o")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "is not a folder" in done.stderr


def test_solution_gets_full_marks_under_ci(tmp_path: Path, shared_sample: Path) -> None:
    """The ci profile on the real sample: a few minutes of CPU training."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "solution.ipynb").write_bytes((ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "TFDS_DATA_DIR"}
    command = [sys.executable, "-m", "autograder.grade", str(folder), "--profile", "ci", "--out", str(tmp_path / "grades")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    row = _rows(tmp_path / "grades")["solution"]
    assert (row["total"], row["status"]) == (str(MAX_POINTS), "ok"), (tmp_path / "grades" / "solution" / "feedback.md").read_text()


def test_regrading_gives_the_same_iou(smoke_batch: tuple) -> None:
    """The same code graded twice (once without its parameters tag) trains to the same model."""
    out, _, _ = smoke_batch

    def iou(student: str) -> str:
        return next(t["output"] for t in _results(out, student)["tests"] if "foreground IoU on the test split" in t["name"])

    assert iou("solution") == iou("broken_missing_parameters_tag")
