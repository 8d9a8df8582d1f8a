"""The master notebook and its nbgrader release: markup, points, parameters, sync, and what runs."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from harness import Batch
from mutants import RELEASE, SOLUTION, SOLUTION_STUDENT
from points_course import CHANGED, assert_notebook_states, changed_course

from assignment import points
from autograder import cells

ROOT = Path(__file__).resolve().parent.parent
SEED_SETTINGS = {"IMG_SIZE": 256, "BATCH_SIZE": 16, "EPOCHS": 10, "BASE_FILTERS": 32, "LEARNING_RATE": 1e-4}
SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def test_release_is_in_sync_with_solution(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent  # nbgrader runs alembic from the same environment
    command = [
        str(bin_dir / "nbgrader"),
        "generate_assignment",
        "tiny_unet",
        "--force",
        "--log-level=ERROR",
        f"--CourseDirectory.release_directory={tmp_path}",
        f"--CourseDirectory.db_url=sqlite:///{tmp_path}/gradebook.db",
    ]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    fresh = json.loads((tmp_path / "tiny_unet" / "tiny_unet.ipynb").read_text())
    committed = json.loads(RELEASE.read_text())
    assert fresh == committed, "release/ is out of date: run `make release` and commit the result"


def test_a_points_change_reaches_the_release(tmp_path: Path) -> None:
    """New numbers in points.py, written by `make release`'s first step, come out of nbgrader in the release."""
    course = changed_course(tmp_path)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [str(bin_dir / "nbgrader"), "generate_assignment", "tiny_unet", "--force", "--log-level=ERROR"]
    subprocess.run(command, cwd=course, env=env, check=True, capture_output=True, timeout=300)
    assert_notebook_states(course / "release" / "tiny_unet" / "tiny_unet.ipynb", CHANGED)


def test_release_holds_no_solution_and_no_hidden_tests() -> None:
    release_code = "\n".join(c.source for c in _cells(RELEASE) if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in release_code and "END SOLUTION" not in release_code
    solution_lines = {
        line.strip()
        for cell in _cells(SOLUTION)
        for region in SOLUTION_REGION.findall(cell.source)
        for line in region.splitlines()
        if re.search(r"\w{3}", line) and not line.strip().startswith("#")
    }
    assert len(solution_lines) > 15
    leaked = [line for line in solution_lines if line in release_code]
    assert not leaked, f"solution code leaked into the release: {leaked}"
    hidden = "\n".join(p.read_text() for p in (ROOT / "autograder" / "checks").glob("test_*.py"))
    for name in re.findall(r"^def (test_\w+)", hidden, re.M):
        assert name not in release_code


def test_every_section_has_its_points_from_points_py() -> None:
    graded = {
        _grade_id(c): c.metadata["nbgrader"]["points"]
        for c in _cells(SOLUTION)
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert graded == {grade_id: worth for grade_id, (_, worth) in points.SELF_CHECKS.items()}
    answers = [_grade_id(c) for c in _cells(SOLUTION) if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers == [
        "preprocess",
        "double_conv_block",
        "encoder_block",
        "decoder_block",
        "make_unet",
        "compile",
        "fit",
    ]


SELF_CHECKS = tuple(points.SELF_CHECKS)


def test_self_checks_show_their_message_not_their_code() -> None:
    """Each self-check's code is folded: `jupyter.source_hidden` for JupyterLab and Notebook 7, Colab's form view
    with a title."""
    for path in (SOLUTION, RELEASE):
        checks = {_grade_id(c): c for c in _cells(path) if _grade_id(c) in SELF_CHECKS}
        assert sorted(checks) == sorted(SELF_CHECKS), path
        for grade_id, cell in checks.items():
            where = f"{grade_id} in {path.relative_to(ROOT)}"
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, (
                f"{where}: its code is not folded in Jupyter"
            )
            assert cell.metadata.get("cellView") == "form", f"{where}: Colab shows its code (no cellView: form)"
            first = cell.source.split("\n", 1)[0]
            assert re.fullmatch(r"#@title Self-check: \S.*\S", first), (
                f"{where}: its first line is not a `#@title Self-check: ...` title: {first!r}"
            )


def test_parameters_cell_holds_the_seed_settings() -> None:
    for path in (SOLUTION, RELEASE):
        tagged = [c for c in _cells(path) if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path
        values = {}
        names = set()
        for node in ast.parse(tagged[0].source).body:
            assert isinstance(node, ast.Assign)
            name = node.targets[0].id
            names.add(name)
            if isinstance(node.value, ast.Constant):
                values[name] = node.value.value
        assert {k: values[k] for k in SEED_SETTINGS} == SEED_SETTINGS
        assert "AUTOTUNE" in names and "tf.data.AUTOTUNE" in tagged[0].source


def test_notebook_teaches_the_real_trimap_values() -> None:
    text = "\n".join(c.source for c in _cells(RELEASE))
    assert "`1` = pet, `2` = background" in text and "`3` = the thin unclassified border" in text
    assert "2 = border" not in text and "3 = background" not in text
    assert "nearest" in text and "bilinear" in text


@pytest.mark.slow
def test_solution_runs_headless_with_passing_self_checks(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    executed = _cells(out / SOLUTION_STUDENT / "executed.ipynb")
    errors = [o for c in executed if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    passed = [c for c in executed if _grade_id(c) and _grade_id(c).startswith("check_")]
    for cell in passed:
        assert any("self-checks passed" in o.get("text", "") for o in cell.outputs), _grade_id(cell)
    showing = [c for c in executed if _grade_id(c) in cells.SHOWING]  # skipped: the grader measures the model itself
    assert len(showing) == 2 and all([o.get("text") for o in c.outputs] == [cells.NOT_RUN_NOTE] for c in showing)


@pytest.mark.slow
def test_stub_raises_not_implemented_and_self_checks_explain(smoke_batch: Batch) -> None:
    out = smoke_batch.out
    executed = {_grade_id(c): c for c in _cells(out / "unfilled_release" / "executed.ipynb") if _grade_id(c)}

    def error(grade_id: str) -> dict:
        found = [o for o in executed[grade_id].outputs if o.output_type == "error"]
        assert found, f"{grade_id} ran without an error in the unfilled release"
        return found[0]

    for grade_id in ("compile", "fit"):
        assert error(grade_id)["ename"] == "NotImplementedError"
    for name in ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet"):
        failure = error(f"check_{name}")
        assert failure["ename"] == "AssertionError" and f"{name} is not written yet" in failure["evalue"]
    assert error("check_training")["ename"] == "AssertionError"


def test_notebook_tells_students_what_is_graded_with_the_profiles_numbers() -> None:
    """The IoU thresholds, the download and the training time it states; the thresholds are assignment/profiles.py's."""
    from assignment.profiles import PROFILES

    for path in (SOLUTION, RELEASE):
        graded = next(c.source for c in _cells(path) if c.source.startswith("## How this is graded"))
        full, ci = (PROFILES[name].iou_thresholds["real"] for name in ("full", "ci"))
        assert f"the threshold is **{full:.2f}**" in graded and f"({ci:.2f} for 64 px on a 400-image sample" in graded
        assert PROFILES["ci"].parameters.img_size == 64 and PROFILES["full"].parameters.img_size == 256
        assert "3 are for the trained model's foreground IoU" in graded and "about 800 MB" in graded
        assert "T4 GPU" in graded and "laptop CPU" in graded and "estimate" in graded
        assert all(p.carry_forward for p in PROFILES.values()) and "runs your notebook once more" in graded
        training = next(c.source for c in _cells(path) if c.get("id") == "1a2fbcea")
        assert "3 are for the trained model's foreground IoU on the grader's held-out test images" in training
