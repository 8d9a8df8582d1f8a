"""Cells as the student sees them (autograder/cells.py) and the run status built on them: positions in the submitted
notebook (the grader's injected cell not counted), titles and headings, and a notebook that ran to its end with only
self-checks failing counted as ok."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
from mutants import SOLUTION, index_of

from assignment.profiles import PROFILES
from autograder import cells, dashboard, report, run, wording
from autograder.results import CellFailure, FailureKind, Outcome, literal


def _graded() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The solution as submitted, and as the grader runs it (the profile's values injected)."""
    submitted = nbformat.read(SOLUTION, as_version=4)
    ran, _ = run.parameterize(nbformat.read(SOLUTION, as_version=4), PROFILES["smoke"].parameters.notebook())
    return submitted, ran


def _failed(ran: nbformat.NotebookNode, grade_id: str, detail: str = "AssertionError: no") -> CellFailure:
    return cells.place(ran, [CellFailure(index_of(ran, grade_id), FailureKind.ERROR, detail)])[0]


def test_cells_are_numbered_as_in_the_submitted_notebook() -> None:
    submitted, ran = _graded()
    injected = next(i for i, c in enumerate(ran.cells) if cells.INJECTED in c.metadata.get("tags", []))
    assert len(ran.cells) == len(submitted.cells) + 1 and injected == index_of(submitted, "apply_config")
    for grade_id in ("setup", "check_preprocess", "build_model", "check_training"):
        failure = _failed(ran, grade_id)
        assert failure.position == index_of(submitted, grade_id) + 1, grade_id
        assert failure.grade_id == grade_id


def test_a_self_check_is_named_by_its_title_and_another_cell_by_its_first_line_and_heading() -> None:
    _, ran = _graded()
    check = _failed(ran, "check_preprocess")
    assert check.first_line == "Self-check: preprocess (run me)" and check.heading == ""
    built = _failed(ran, "build_model", "NameError: name 'skp' is not defined")
    assert built.first_line.startswith("model = make_unet(input_shape=(IMG_SIZE, IMG_SIZE, 3)")
    assert built.heading and "make_unet" in built.heading
    described = wording.describe_failure(built)
    assert (
        described.startswith(f"cell {built.position} `model = make_unet(") and f"(under `{built.heading}" in described
    )
    assert described.endswith("`NameError: name 'skp' is not defined`")


def test_only_an_unchanged_self_check_counts_as_one() -> None:
    _, ran = _graded()
    index = index_of(ran, "check_preprocess")
    ran.cells[index].source += "\nprint('edited')"
    copied = nbformat.v4.new_code_cell("raise ValueError('mine')", metadata=dict(ran.cells[index].metadata))
    ran.cells.insert(index_of(ran, "visualise"), copied)
    placed = cells.place(
        ran, [CellFailure(index, FailureKind.ERROR, "x"), CellFailure(index + 4, FailureKind.ERROR, "x")]
    )
    assert [f.grade_id for f in placed] == ["", ""]
    assert report.status(Outcome("a", failures=placed)).startswith("error in cell")


def test_a_run_whose_only_failures_are_self_checks_is_ok_and_says_which(tmp_path: Path) -> None:
    _, ran = _graded()
    failures = [_failed(ran, "check_preprocess"), _failed(ran, "check_training")]
    outcome = Outcome("seed_mapping", failures=failures)
    words = report.status(outcome)
    assert words == "ok (self-checks failed: check_preprocess, check_training)" and dashboard.kind(words) == "ok"
    report.write_csv([outcome], tmp_path / "grades.csv")
    assert next(csv.DictReader((tmp_path / "grades.csv").open()))["status"].startswith("ok")
    number = failures[0].position
    assert f"cell {number} `Self-check: preprocess (run me)`" in report.feedback_markdown(outcome)


def test_another_failure_makes_it_an_error_named_by_the_students_number_and_title() -> None:
    submitted, ran = _graded()
    failures = [_failed(ran, "check_preprocess"), _failed(ran, "build_model"), _failed(ran, "compile")]
    words = report.status(Outcome("a", failures=failures))
    built, compiled = (index_of(submitted, grade_id) + 1 for grade_id in ("build_model", "compile"))
    assert words == f"error in cell {built} {literal(failures[1].first_line, 40)}, {compiled}"
    assert dashboard.kind(words) == "error"
    timed_out = [_failed(ran, "check_preprocess"), CellFailure(3, FailureKind.TIMEOUT, "t")]
    assert report.status(Outcome("a", failures=timed_out)) == "timeout in cell 4"
    killed = [CellFailure(index_of(ran, "check_training"), FailureKind.KERNEL_DIED, "died", grade_id="check_training")]
    assert report.status(Outcome("a", failures=killed)).startswith("kernel died in cell")


def test_only_the_unchanged_showing_cells_at_the_end_are_skipped() -> None:
    _, ran = _graded()
    showing = {index_of(ran, grade_id) for grade_id in cells.SHOWING}
    assert set(cells.showing_only(ran)) == showing
    assert all(c.cell_type == "markdown" for c in ran.cells[max(showing) + 1 :])
    ran.cells.append(nbformat.v4.new_code_cell("   "))  # an empty cell changes nothing
    ran.cells.append(nbformat.v4.new_markdown_cell("my notes"))
    assert set(cells.showing_only(ran)) == showing
    ran.cells.append(nbformat.v4.new_code_cell("print(evaluate_segmentation(model, test))"))  # the student's own
    assert cells.showing_only(ran) == []
    ran.cells.pop()
    evaluate = ran.cells[index_of(ran, "evaluate")]
    evaluate.source += "\nmodel.fit(test)"  # an edited locked cell runs, and so does every cell before it
    assert cells.showing_only(ran) == []


def test_the_grader_skips_them_unless_the_profile_runs_them() -> None:
    _, ran = _graded()
    skipped = cells.not_run(ran, PROFILES["smoke"].run_showing_cells)
    assert skipped == {index_of(ran, grade_id) for grade_id in cells.SHOWING}
    assert all(ran.cells[i].outputs[0].text == cells.NOT_RUN_NOTE for i in skipped)
    _, ran = _graded()
    assert cells.not_run(ran, run_showing=True) == set()
    assert not any(c.get("outputs") for c in ran.cells)
