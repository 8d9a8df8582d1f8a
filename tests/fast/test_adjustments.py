"""The instructor's adjustments (OUT/adjustments.csv): read as typed rows, kept within each section's bounds, shown
with their note in every report and the gradebook, applied once however often OUT is merged, reported or re-judged,
and a bad row stops everything before anything is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fixture_out import STUDENTS, build, edit
from nbgrader.api import Gradebook

from assignment.points import SECTIONS, SELF_CHECKS
from autograder import adjustments, batch, dashboard, grade
from autograder.adjustments import Adjustment
from autograder.engines import gradebook
from autograder.results import CheckResult, CheckStatus, Outcome


def _write(out: Path, *rows: str, header: str = "student,section,points,note") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / adjustments.FILE).write_text("\n".join([header, *rows]) + "\n")


def _totals(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _outcome(**points: float) -> Outcome:
    """An outcome whose checks give each section `points` (the rest of its maximum lost)."""
    checks = []
    for section, (_, maximum) in SECTIONS.items():
        got = points.get(section, maximum)
        checks += [CheckResult(f"test_{section}_a", section, "a", got, got, CheckStatus.PASSED)]
        if got < maximum:
            checks += [CheckResult(f"test_{section}_b", section, "b", maximum - got, 0, CheckStatus.FAILED, "lost")]
    return Outcome("ann", checks=checks)


def test_rows_are_read_typed_negative_and_with_a_spreadsheet_bom(tmp_path: Path) -> None:
    (tmp_path / adjustments.FILE).write_text(
        "\ufeffstudent,section,points,note\nann,training,2.5,regrade accepted\n\nbob,encoder,-3,copied the block\n"
        'ann,unet,1,"a note, with a comma"\n',
        encoding="utf-8",
    )
    read = adjustments.read(tmp_path, {"ann", "bob", "cy"})
    assert read == {
        "ann": [
            Adjustment("ann", "training", 2.5, "regrade accepted"),
            Adjustment("ann", "unet", 1, "a note, with a comma"),
        ],
        "bob": [Adjustment("bob", "encoder", -3, "copied the block")],
    }
    assert adjustments.read(tmp_path / "none", {"ann"}) == {}, "no file, no adjustments"


@pytest.mark.parametrize(
    ("rows", "header", "said"),
    [
        (
            ["zed,training,1,x"],
            None,
            "row 2: no student 'zed' in OUT",
        ),
        (["ann,trainin,1,x"], None, "row 2: no section 'trainin'"),
        (["ann,training,lots,x"], None, "row 2: points 'lots' is not a number"),
        (["ann,training,nan,x"], None, "row 2: points 'nan' is not a number"),
        (["ann,training,1"], "student,section,points", "the header must be student,section,points,note"),
    ],
)
def test_a_bad_row_is_an_error_naming_what_is_valid(tmp_path: Path, rows: list, header: str | None, said: str) -> None:
    _write(tmp_path, *rows, header=header or "student,section,points,note")
    with pytest.raises(adjustments.Invalid) as raised:
        adjustments.read(tmp_path, {"ann", "bob"})
    assert said in str(raised.value)
    if header is None:
        assert "The students: ann, bob." in str(raised.value)
        assert f"The sections: {', '.join(SECTIONS)}." in str(raised.value)


def test_a_section_stays_within_0_and_its_maximum() -> None:
    outcome = _outcome(training=7, encoder=10)
    outcome.adjustments = [
        Adjustment("ann", "training", 5, "regrade: full marks"),  # 7 + 5 stays at 10
        Adjustment("ann", "encoder", -4, "a deduction"),
        Adjustment("ann", "encoder", -20, "another"),  # 10 - 24 stays at 0
        Adjustment("ann", "decoder", -2.5, "late"),
    ]
    points = outcome.section_points()
    assert (points["training"], points["encoder"], points["decoder"], points["preprocess"]) == (10, 0, 17.5, 10)
    assert outcome.total == sum(points.values()) == 10 + 0 + 17.5 + 30 + 10
    assert outcome.checked_points()["training"] == 7 and outcome.adjusted() == {
        "training": 3,
        "encoder": -10,
        "decoder": -2.5,
    }


def _feedback(out: Path, student: str) -> tuple[str, str, dict]:
    folder = out / student
    return (
        (folder / "feedback.md").read_text(),
        (folder / "feedback.html").read_text(),
        json.loads((folder / "results.json").read_text()),
    )


def test_adjustments_reach_every_report_once_however_often_out_is_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    made = build(out)
    raw = made["bob"].total
    _write(
        out, "bob,encoder,5,regrade request: the block was right", "bob,training,-2,late by a day", "cy,preprocess,4,"
    )
    for _ in range(2):
        batch.merge(out)
        dashboard.build(out)
        assert grade.main(["--merge", str(out)]) == 0
    edit(out, "bob", judged="judged-before")
    assert grade.main(["--rejudge", str(out)]) == 0
    assert dashboard.main([str(out)]) == 0
    rows = _totals(out)
    assert float(rows["bob"]["total"]) == raw + 5 - 2 and rows["bob"]["training"] == "8" and rows["cy"]["total"] == "4"
    assert rows["ann"]["total"] == "100"
    stored = json.loads((out / "bob" / "outcome.json").read_text())
    assert sum(c["score"] for c in stored["checks"]) == raw, "the outcome keeps the checks' own points"
    markdown, page, results = _feedback(out, "bob")
    assert markdown.count("## Adjusted by your instructor") == 1 and markdown.count("regrade request") == 1
    assert "- **Compile, train and final IoU** (-2): your instructor's note: late by a day" in markdown
    assert f"**Score: {raw + 3:g} / 100**" in markdown and "| Compile, train and final IoU | 8 / 10 |" in markdown
    assert page.count("Adjusted by your instructor") == 1 and "regrade request: the block was right" in page
    assert results["score"] == raw + 3
    adjusted = [t for t in results["tests"] if t["name"].endswith("adjusted by your instructor")]
    assert [(t["score"], t["max_score"]) for t in adjusted] == [(5, 0), (-2, 0)]
    report = (out / "report.html").read_text()
    assert report.count("regrade request: the block was right") == 1 and "adjusted by the instructor" in report
    assert "adjustment: encoder +5: regrade request" in (out / "bob" / "grader.log").read_text()
    assert "Adjusted by your instructor" not in _feedback(out, "ann")[0]


def test_a_removed_row_leaves_the_reports_and_a_changed_row_replaces_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    made = build(out)
    _write(out, "ann,unet,-10,wrong")
    batch.merge(out)
    _write(out, "ann,unet,-5,right")
    batch.merge(out)
    markdown = _feedback(out, "ann")[0]
    assert "right" in markdown and "wrong" not in markdown and _totals(out)["ann"]["total"] == "95"
    (out / adjustments.FILE).unlink()
    batch.merge(out)
    markdown, page, results = _feedback(out, "ann")
    assert "Adjusted by your instructor" not in markdown + page and results["score"] == made["ann"].total == 100


def test_a_bad_row_stops_merge_report_rejudge_and_grade_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    build(out)
    batch.merge(out)
    dashboard.build(out)
    before = {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    _write(out, "ann,training,1,fine", "zed,training,1,who?", "bob,extra credit,2,what?")
    before[out / adjustments.FILE] = (out / adjustments.FILE).read_bytes()
    assert grade.main(["--merge", str(out)]) == 2
    assert dashboard.main([str(out)]) == 2
    edit(out, "ann", judged="judged-before")
    before[out / "ann" / "outcome.json"] = (out / "ann" / "outcome.json").read_bytes()
    assert grade.main(["--rejudge", str(out)]) == 2
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for student in STUDENTS:
        (submissions / f"{student}.ipynb").write_text("{}")
    assert grade.main([str(submissions), "--out", str(out), "--profile", "smoke", "--unsandboxed"]) == 2
    err = capsys.readouterr().err
    assert err.count("row 3: no student 'zed' in OUT") == 4 and err.count("row 4: no section 'extra credit'") == 4
    assert "The students: ann, bob, cy." in err and "Nothing was written." in err
    assert {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()} == before


def _cells(path: Path, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{path}") as book:
        return {
            cell: book.find_grade(cell, gradebook.NOTEBOOK, gradebook.ASSIGNMENT, student).score for cell in SELF_CHECKS
        }


def test_the_gradebook_gets_the_adjusted_points_cell_by_cell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(out)
    _write(out, "ann,encoder,-20,copied", "ann,training,3,regrade (already full)", "bob,encoder,4,regrade")
    db = tmp_path / "gradebook.db"
    for _ in range(2):  # recorded again: set, never added
        assert grade.main(["--merge", str(out), "--gradebook", str(db)]) == 0
    ann = _cells(db, "ann")
    assert (ann["check_double_conv_block"], ann["check_encoder_block"], ann["check_training"]) == (0, 10, 10)
    totals = _totals(out)
    for student in ("ann", "bob"):
        assert sum(_cells(db, student).values()) == float(totals[student]["total"])
    bob = Outcome.load(out / "bob" / "outcome.json")
    cells = gradebook.cell_scores(bob)
    assert all(0 <= cells[cell].score <= points for cell, (_, points) in SELF_CHECKS.items())
