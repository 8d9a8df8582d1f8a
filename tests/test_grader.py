"""The autograder end to end: `make grade` over real, unfilled, mistaken and broken notebooks (the shared smoke batch,
tests/batches.py, and a ci run on the real sample)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from batches import LAST_HONEST
from grading import grade_command, judge, load_fixture
from harness import Batch
from mutants import INFINITE_LOOP, LIVE, SOLUTION_STUDENT, UNTRAINED_TRAINING, Mutant
from PIL import Image

from assignment.points import MAX_POINTS, SECTIONS
from assignment.profiles import PROFILES
from autograder import markup

ROOT = Path(__file__).resolve().parent.parent
# The fixture name of a student of the shared batch: the batch grades the solution as SOLUTION_STUDENT
FIXTURE_NAME = {SOLUTION_STUDENT: "solution"}
pytestmark = pytest.mark.slow


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def _visible(results: dict) -> list[dict]:
    return [t for t in results["tests"] if t["visibility"] != "hidden"]


def test_every_submission_gets_a_row_and_reports(smoke_batch: Batch) -> None:
    out, kinds = smoke_batch.out, smoke_batch.kinds
    rows = _rows(out)
    assert set(rows) == set(kinds)
    assert list(next(iter(rows.values()))) == ["student", *SECTIONS, "total", "max", "status"]
    for student in kinds:
        results = _results(out, student)
        assert isinstance(results["score"], int | float) and results["stdout_visibility"] == "hidden", student
        for test in _visible(results):
            assert set(test) == {
                "name",
                "number",
                "score",
                "max_score",
                "status",
                "output",
                "output_format",
                "visibility",
            }
        assert [t["name"] for t in results["tests"] if t["visibility"] == "hidden"] == [
            "Grader diagnostics (instructor only)"
        ]
        assert "bwrap" in results["extra_data"]["sandbox"] or rows[student]["status"].startswith(("refused", "invalid"))
        assert (out / student / "feedback.md").read_text().startswith(f"# Feedback for {markup.markdown(student)}")
        assert (out / student / "grader.log").read_text().startswith(f"student: {student}")


def test_solution_gets_full_marks_under_smoke(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    row = _rows(out)[SOLUTION_STUDENT]
    assert (row["total"], row["max"], row["status"]) == (str(MAX_POINTS), str(MAX_POINTS), "ok"), row
    results = _results(out, SOLUTION_STUDENT)
    assert 0.6 <= results["leaderboard"][0]["value"] <= 1
    iou = next(t for t in results["tests"] if "foreground IoU on the held-out examples" in t["name"])
    assert "foreground_iou: 0." in iou["output"] and "threshold: 0.6" in iou["output"]
    facts = json.loads((out / SOLUTION_STUDENT / "facts.json").read_text())
    assert facts["training"]["evaluation"]["held_out"] == "private", "the IoU was not measured on the private part"
    feedback = (out / SOLUTION_STUDENT / "feedback.md").read_text()
    assert "graded `tiny_unet.ipynb`, ignored `tiny_unet-Copy1.ipynb`" in feedback


def test_check_points_add_up_to_the_sections(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    per_section = {key: 0 for key in SECTIONS}
    for test in _visible(_results(out, SOLUTION_STUDENT)):
        per_section[next(k for k, (title, _) in SECTIONS.items() if test["name"].startswith(f"{title}: "))] += test[
            "max_score"
        ]
    assert per_section == {key: points for key, (_, points) in SECTIONS.items()}


def test_committed_fact_fixtures_have_the_shape_of_fresh_facts(smoke_batch: Batch) -> None:
    """tests/fast judges committed facts; they must still look like what the grader writes today."""
    out = smoke_batch.out

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items() if key not in ("own_test_loss", "train_loss")}
        return (
            [shape(value[0])]
            if isinstance(value, list) and value and isinstance(value[0], dict)
            else type(value).__name__
        )

    for student in (SOLUTION_STUDENT, "mutant_single_conv", "unfilled_release"):
        fresh = json.loads((out / student / "facts.json").read_text())
        committed = load_fixture(FIXTURE_NAME.get(student, student))["facts"]
        assert shape(fresh) == shape(committed), (
            f"tests/fast/fixtures is stale: run tests/fast/regenerate_fixtures.py ({student})"
        )


@pytest.mark.parametrize("student", [SOLUTION_STUDENT, "unfilled_release", *(f"mutant_{m.name}" for m in LIVE)])
def test_live_facts_pass_and_fail_the_checks_the_committed_ones_do(
    smoke_batch: Batch, student: str, tmp_path: Path
) -> None:
    """tests/fast judges committed facts: live facts of the same notebook must still earn the same points per check."""
    out = smoke_batch.out
    committed = judge(tmp_path, load_fixture(FIXTURE_NAME.get(student, student)))
    live = json.loads((out / student / "outcome.json").read_text())["checks"]
    assert {c["id"]: c["score"] for c in live} == {r.id: r.score for r in committed}, (
        f"tests/fast/fixtures is stale: run tests/fast/regenerate_fixtures.py ({student})"
    )


def test_live_pages_hold_the_figures_the_grader_drew(smoke_batch: Batch) -> None:
    """feedback.html of trained notebooks shows the gauge, the curves and the predictions as PNGs that decode; one
    that never trained shows none; every page and results.json stays under 1 MB; report.html links everyone."""
    out = smoke_batch.out
    figures = {SOLUTION_STUDENT: 3, "mutant_single_conv": 3, "mutant_hard_coded_epochs": 3, "unfilled_release": 0}
    for student, count in figures.items():
        page = (out / student / "feedback.html").read_text()
        pngs = [base64.b64decode(data) for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]
        assert len(pngs) == count, (student, len(pngs))
        for png in pngs:
            Image.open(io.BytesIO(png)).verify()
        assert len(page.encode()) < 1 << 20 and (out / student / "results.json").stat().st_size < 1 << 20
    dashboard = (out / "report.html").read_text()
    unlinked = [student for student in _rows(out) if f'href="{quote(student, safe="")}/feedback.html"' not in dashboard]
    assert not unlinked, unlinked


def test_unfilled_release_gets_zero(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    row = _rows(out)["unfilled_release"]
    assert row["total"] == "0" and row["status"].startswith("error in cell")
    assert "is not written yet" in (out / "unfilled_release" / "feedback.md").read_text()


@pytest.mark.parametrize("mutant", LIVE, ids=[m.name for m in LIVE])
def test_mutant_loses_points_in_its_section_and_is_named(smoke_batch: Batch, mutant: Mutant) -> None:
    out = smoke_batch.out
    student = f"mutant_{mutant.name}"
    row = _rows(out)[student]
    assert float(row[mutant.section]) < SECTIONS[mutant.section][1], (
        f"{student} kept all {mutant.section} points: {row}"
    )
    title = SECTIONS[mutant.section][0]
    failed = [
        markup.plain(html.unescape(re.sub(r"<[^>]+>", "`", t["output"])))
        for t in _results(out, student)["tests"]
        if t["name"].startswith(title) and t["status"] == "failed"
    ]
    assert any(mutant.message in output for output in failed), (
        f"no failed {mutant.section} check says {mutant.message!r}: {failed}"
    )


def test_invalid_json_is_reported_and_the_batch_goes_on(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    row = _rows(out)["broken_json"]
    assert row["total"] == "0" and row["status"].startswith("invalid notebook: not a readable notebook")


def _untrained_total() -> str:
    """What mutants.untrained() earns: every point but the training checks that need a trained model."""
    return f"{MAX_POINTS - SECTIONS['training'][1] + UNTRAINED_TRAINING:g}"


def test_untrained_solution_earns_all_but_what_needs_training(smoke_batch: Batch) -> None:
    """The base of the broken notebooks below (training is not what they are about)."""
    row = _rows(smoke_batch.out)["untrained_solution"]
    assert (row["total"], row["training"]) == (_untrained_total(), f"{UNTRAINED_TRAINING:g}"), row


def test_syntax_error_keeps_earned_points(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    row = _rows(out)["broken_syntax"]
    assert row["total"] == _untrained_total() and row["status"].startswith("error in cell"), row
    assert "SyntaxError" in (out / "broken_syntax" / "feedback.md").read_text()


def test_infinite_loop_times_out_and_keeps_earned_points(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    row = _rows(out)[INFINITE_LOOP]
    assert row["status"].startswith("timeout in cell") and row["total"] == _untrained_total(), row


def test_dead_kernel_is_restarted_and_keeps_earned_points(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    row = _rows(out)["broken_dead_kernel"]
    assert row["status"].startswith("kernel died in cell") and row["total"] == _untrained_total(), row


def test_missing_parameters_tag_still_gets_the_profile(smoke_batch: Batch) -> None:
    """The cell that sets IMG_SIZE takes the profile's values: the notebook builds and compiles the model that
    untrained_solution (the same code, tagged) does, at the profile's size and learning rate."""
    out = smoke_batch.out
    row = _rows(out)["broken_missing_parameters_tag"]
    assert row["total"] == _untrained_total(), row
    assert "the `parameters` tag was missing" in (out / "broken_missing_parameters_tag" / "feedback.md").read_text()

    def built(student: str) -> dict:
        training = json.loads((out / student / "facts.json").read_text())["training"]
        model = {key: training["model"][key] for key in ("input_shape", "params", "learning_rate")}
        return {**model, "train_examples": training["train_examples"]}

    untagged, tagged = built("broken_missing_parameters_tag"), built("untrained_solution")
    parameters = PROFILES["smoke"].parameters
    assert untagged == tagged, (untagged, tagged)
    assert untagged["input_shape"][1:3] == [parameters.img_size] * 2, untagged
    assert untagged["learning_rate"] == pytest.approx(parameters.learning_rate), untagged


def test_progress_and_table_are_printed(smoke_batch: Batch) -> None:
    kinds, stdout = smoke_batch.kinds, smoke_batch.stdout
    assert stdout.splitlines()[0].split()[:2] == ["student", "preprocess"]
    assert all(student in stdout for student in kinds)


def test_bad_submissions_folder_is_a_clear_error(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "autograder.grade",
        str(tmp_path / "missing"),
        "--profile",
        "smoke",
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "is not a folder" in done.stderr


def test_solution_gets_full_marks_under_ci(tmp_path: Path, shared_sample: Path) -> None:
    """The ci profile on the real sample: a few minutes of CPU training."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "solution.ipynb").write_bytes((ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "TFDS_DATA_DIR"}
    command = grade_command(folder, tmp_path / "grades", profile="ci", jobs=1)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    row = _rows(tmp_path / "grades")["solution"]
    assert (row["total"], row["status"]) == (str(MAX_POINTS), "ok"), (
        tmp_path / "grades" / "solution" / "feedback.md"
    ).read_text()
    facts = json.loads((tmp_path / "grades" / "solution" / "facts.json").read_text())
    assert facts["training"]["evaluation"]["held_out"] == "private", "the IoU was not measured on the private part"


def test_regrading_gives_the_same_iou(smoke_batch: Batch) -> None:
    """The same code graded twice (first and last in the batch, on other probe inputs, every hostile notebook graded
    between) trains to the same model."""
    out = smoke_batch.out
    assert _results(out, SOLUTION_STUDENT)["leaderboard"] == _results(out, LAST_HONEST)["leaderboard"]


def test_refused_notebooks_get_a_clear_status_and_a_row(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    rows = _rows(out)
    assert (
        rows["broken_symlink"]["status"]
        == "refused: the notebook (or its folder) is a symbolic link; hand in the notebook file itself"
    )
    assert rows["broken_oversize"]["status"].startswith("refused: the notebook is 21 MB, over the 20 MB limit")
    assert rows["broken_symlink"]["total"] == rows["broken_oversize"]["total"] == "0"


def test_colliding_ids_are_both_graded_and_the_instructor_is_told(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    assert {"colliding_id", "colliding_id-2"} <= set(_rows(out))
    assert "is graded as 'colliding_id-2'" in (out / "colliding_id-2" / "grader.log").read_text()


def test_edited_locked_cell_is_reported_to_the_instructor_only(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    assert _rows(out)["broken_edited_locked_cell"]["total"] == _untrained_total()
    assert "locked cell `check_preprocess` was edited" in (out / "broken_edited_locked_cell" / "grader.log").read_text()
    assert "locked cell" not in (out / "broken_edited_locked_cell" / "feedback.md").read_text()
    assert "locked cell" not in (out / SOLUTION_STUDENT / "grader.log").read_text()
