"""Engines without a notebook run: the Gradescope zip's contents, the Slurm scripts, the gradebook mapping and
export."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from assignment import data
from assignment.points import SELF_CHECKS
from assignment.private import private_dir
from assignment.profiles import PROFILES
from autograder import checks
from autograder.engines import gradebook, gradescope, slurm
from autograder.results import CheckResult, CheckStatus, Outcome

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GRADESCOPE_TEST_KEYS = {"name", "number", "score", "max_score", "status", "output", "visibility"}


# ---- Gradescope ----


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir that looks prepared by the kit's data tool (the zip's contents do not depend on the records)."""
    root = tmp_path_factory.mktemp("tfds")
    dataset = root / data.DATASET / "4.0.0"
    dataset.mkdir(parents=True)
    (dataset / "dataset_info.json").write_text("{}")
    (dataset / "oxford_iiit_pet-test.tfrecord-00000-of-00001").write_bytes(b"records")
    stamp = {"kind": "synthetic", "path": "", "fingerprint": "synthetic:test", "edition": "e1"}
    (dataset / data.STAMP).write_text(json.dumps(stamp))
    hidden = private_dir(root) / data.DATASET / "4.0.0"
    hidden.mkdir(parents=True)
    (hidden / data.STAMP).write_text(json.dumps({**stamp, "seed": 7}))
    (hidden / "oxford_iiit_pet-test.tfrecord-00000-of-00001").write_bytes(b"private records")
    private_dir(root).chmod(0o700)
    (root / "downloads").mkdir()
    (root / "downloads" / "leftover.tar.gz").write_bytes(b"not for the zip")
    return root


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory, fake_data: Path) -> tuple[Path, list[str], zipfile.ZipFile]:
    """The smoke zip, built on the fake data and unpacked as Gradescope does (AUTOGRADER_ROOT/source)."""
    folder = tmp_path_factory.mktemp("gradescope")
    archive = folder / "autograder.zip"
    names = gradescope.build(PROFILES["smoke"], fake_data, archive, "after_published")
    (folder / "root" / "source").mkdir(parents=True)
    subprocess.run(["unzip", "-q", str(archive), "-d", str(folder / "root" / "source")], check=True)
    return folder / "root", names, zipfile.ZipFile(archive)


def test_zip_has_gradescopes_layout_and_the_kit(unpacked: tuple) -> None:
    root, names, archive = unpacked
    assert {"setup.sh", "run_autograder", "requirements.txt", "gradescope.json", gradescope.RELEASE} <= set(names)
    for script in ("setup.sh", "run_autograder"):
        assert archive.getinfo(script).external_attr >> 16 & 0o111, script
        assert os.access(root / "source" / script, os.X_OK), script
        subprocess.run(["bash", "-n", str(root / "source" / script)], check=True)
    shipped = {name for name in names if name.endswith(".py")}
    needed = {
        p.relative_to(ROOT).as_posix()
        for package in ("assignment", "autograder")
        for p in (ROOT / package).rglob("*.py")
    }
    assert shipped == needed
    assert json.loads(archive.read("gradescope.json")) == {
        "profile": "smoke",
        "visibility": "after_published",
        "data": {"kind": "synthetic", "fingerprint": "synthetic:test"},
    }


def test_zip_holds_nothing_private_or_foreign(unpacked: tuple) -> None:
    _, names, _ = unpacked
    forbidden = (
        ".venv/",
        ".git/",
        "build/",
        "tests/",
        "solution/",
        "benchmarks/",
        "shared/",
        "grades/",
        "data/tfds/downloads/",
    )
    assert not [n for n in names if n.startswith(forbidden) or "__pycache__" in n or n.endswith((".db", ".pyc"))]
    assert [n for n in names if n.startswith("data/")] == [
        "data/tfds/oxford_iiit_pet/4.0.0/dataset_info.json",
        "data/tfds/oxford_iiit_pet/4.0.0/kit_source.json",
        "data/tfds/oxford_iiit_pet/4.0.0/oxford_iiit_pet-test.tfrecord-00000-of-00001",
        "data/tfds.private/oxford_iiit_pet/4.0.0/kit_source.json",
        "data/tfds.private/oxford_iiit_pet/4.0.0/oxford_iiit_pet-test.tfrecord-00000-of-00001",
    ]


def test_zip_carries_the_private_part_closed_to_others(unpacked: tuple) -> None:
    _, names, archive = unpacked
    hidden = [n for n in names if n.startswith(gradescope.PRIVATE_DATA + "/")]
    assert hidden and all(archive.getinfo(n).external_attr >> 16 & 0o077 == 0 for n in hidden)


def test_zip_refuses_unprepared_data_and_the_projects_shared_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no dataset prepared"):
        gradescope.contents(PROFILES["smoke"], tmp_path, "visible")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder.engines.gradescope",
            "build",
            "--profile",
            "ci",
            "--zip",
            str(tmp_path / "a.zip"),
            "--data-src",
            str(gradescope.SHARED / "data" / "oxford_pets_sample"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "may not redistribute" in done.stderr and not (tmp_path / "a.zip").exists()


def test_run_autograder_without_a_notebook_still_writes_results(unpacked: tuple) -> None:
    root, _, _ = unpacked
    (root / "submission").mkdir(exist_ok=True)
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert (
        results["score"] == 0
        and "not graded: no .ipynb file in" in results["output"]
        and "tiny_unet.ipynb" in results["output"]
    )
    assert results["tests"][0]["visibility"] == "hidden"


def test_the_feedback_page_is_titled_with_the_submitters_names(unpacked: tuple) -> None:
    """Gradescope's submission_metadata.json (users[].name) titles the page; student-made text stays text."""
    root, _, _ = unpacked
    (root / "submission").mkdir(exist_ok=True)
    metadata = {"id": 1, "users": [{"name": "Ana <b>López</b>", "email": "a@example.invalid"}, {"name": "Bo"}]}
    (root / gradescope.METADATA).write_text(json.dumps(metadata))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        done = subprocess.run(
            [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, check=False, timeout=120
        )
    finally:
        (root / gradescope.METADATA).unlink()
    assert done.returncode == 0, done.stderr
    output = json.loads((root / "results" / "results.json").read_text())["output"]
    assert "<h1>Ana &lt;b&gt;López&lt;/b&gt;, Bo</h1>" in output and ">submission<" not in output


def test_submission_metadata_is_read_defensively(tmp_path: Path) -> None:
    def named(content: object, raw: bytes | None = None) -> str:
        (tmp_path / gradescope.METADATA).unlink(missing_ok=True)
        (tmp_path / gradescope.METADATA).write_bytes(raw if raw is not None else json.dumps(content).encode())
        return gradescope.submitters(tmp_path)

    assert gradescope.submitters(tmp_path) == "", "no metadata (a local run)"
    assert named({"users": [{"name": " Ana\n Li "}, {"name": 7}, "x", {"email": "e"}]}) == "Ana Li"
    assert named({"users": {"name": "Ana"}}) == "" and named(["Ana"]) == "" and named({}) == ""
    assert named(None, b"{not json") == "" and named(None, b"\xff\xfe") == ""
    assert len(named({"users": [{"name": "A" * 5000}]})) <= gradescope.NAME_LIMIT
    assert named(None, b" " * (gradescope.METADATA_LIMIT + 1)) == "", "a file past the size bound is not read"
    (tmp_path / gradescope.METADATA).unlink()
    (tmp_path / "elsewhere.json").write_text(json.dumps({"users": [{"name": "Eve"}]}))
    (tmp_path / gradescope.METADATA).symlink_to(tmp_path / "elsewhere.json")
    assert gradescope.submitters(tmp_path) == "", "a link is not followed"


# ---- Slurm ----


@pytest.fixture
def batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three students in nbgrader's layout and flat; TFDS_DATA_DIR so the scripts need no prepared data."""
    for path in (
        "submitted/ann/tiny_unet/tiny_unet.ipynb",
        "submitted/bob.ipynb",
        "submitted/cy/tiny_unet/tiny_unet.ipynb",
    ):
        (tmp_path / "subs" / path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "subs" / path)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    return tmp_path / "subs"


def _directives(script: Path) -> dict[str, str]:
    lines = [line.removeprefix("#SBATCH --") for line in script.read_text().splitlines() if line.startswith("#SBATCH")]
    return dict(line.split("=", 1) for line in lines)


def test_sbatch_array_has_one_task_per_submission(batch: Path, tmp_path: Path) -> None:
    grade, merge, _ = slurm.write(
        batch, PROFILES["smoke"], tmp_path / "out", slurm.Options(max_parallel=2, grade_flags=("--sandbox", "auto"))
    )
    assert grade == tmp_path / "out" / "slurm" / "grade.sbatch" and (tmp_path / "out" / "slurm" / "logs").is_dir()
    directives = _directives(grade)
    assert directives["array"] == "0-2%2" and directives["mem"] == "3072M" and directives["time"] == "0:42:00"
    assert "gres" not in directives and "partition" not in directives
    assert "STUDENTS=(ann bob cy)" in grade.read_text()
    assert f'--profile smoke --out {tmp_path / "out"} --only "$STUDENT" --sandbox auto' in grade.read_text()
    assert f"export TFDS_DATA_DIR={tmp_path / 'tfds'}" in grade.read_text()
    assert f"-m autograder.grade --merge {tmp_path / 'out'}" in merge.read_text() and "array" not in _directives(merge)
    subprocess.run(["bash", "-n", str(grade)], check=True)


def test_sbatch_full_profile_asks_for_gpus_and_the_cluster(batch: Path, tmp_path: Path) -> None:
    options = slurm.Options(partition="gpu", account="course42", gpus_per_task=2, gradebook=tmp_path / "gb.db")
    grade, merge, _ = slurm.write(batch, PROFILES["full"], tmp_path / "out", options)
    directives = _directives(grade)
    assert (directives["gres"], directives["partition"], directives["account"], directives["array"]) == (
        "gpu:2",
        "gpu",
        "course42",
        "0-2",
    )
    assert directives["time"] == "6:53:00" and directives["mem"] == "41984M"
    assert "gres" not in _directives(merge) and _directives(merge)["account"] == "course42"
    assert f"--gradebook {tmp_path / 'gb.db'}" in merge.read_text()


def test_only_reruns_the_named_students_and_refuses_unknown_ones(batch: Path, tmp_path: Path) -> None:
    grade, _, _ = slurm.write(batch, PROFILES["smoke"], tmp_path / "out", slurm.Options(), only=["cy", "ann"])
    assert _directives(grade)["array"] == "0,2" and "STUDENTS=(ann bob cy)" in grade.read_text()
    grade, _, _ = slurm.write(batch, PROFILES["smoke"], tmp_path / "out", slurm.Options(), only=["bob"])
    assert _directives(grade)["array"] == "1"
    with pytest.raises(FileNotFoundError, match="no submission for zed"):
        slurm.write(batch, PROFILES["smoke"], tmp_path / "out", slurm.Options(), only=["zed"])


def test_sbatch_outside_slurm_needs_a_valid_task_id(batch: Path, tmp_path: Path) -> None:
    grade, _, _ = slurm.write(batch, PROFILES["smoke"], tmp_path / "out", slurm.Options())
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    done = subprocess.run(["bash", str(grade)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode and "set SLURM_ARRAY_TASK_ID=<i> (0 to 2)" in done.stderr
    done = subprocess.run(
        ["bash", str(grade)], env={**env, "SLURM_ARRAY_TASK_ID": "3"}, capture_output=True, text=True, check=False
    )
    assert done.returncode and "no submission with index 3" in done.stderr


def test_make_slurm_without_submit_prints_how_to_submit(batch: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "make",
            "-s",
            "slurm",
            f"SUBMISSIONS={batch}",
            "PROFILE=smoke",
            f"OUT={tmp_path / 'out'}",
            "SUBMIT=0",
            "MAX_PARALLEL=8",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"wrote {tmp_path / 'out' / 'slurm' / 'grade.sbatch'} (0-2%8)" in done.stdout
        and "sbatch --dependency=afterany:" in done.stdout
    )


def test_array_spec_and_time_limit() -> None:
    assert (
        slurm.array_spec([0, 1, 2, 3], None) == "0-3"
        and slurm.array_spec([5], 3) == "5%3"
        and slurm.array_spec([1, 4], None) == "1,4"
    )
    assert slurm.time_limit(PROFILES["ci"]) == "1:01:45"


# ---- nbgrader's gradebook ----


def _outcome(tmp_path: Path, fixture: str, student: str) -> Outcome:
    raw = json.loads((FIXTURES / f"{fixture}.json").read_text())
    (tmp_path / "facts.json").write_text(json.dumps(raw["facts"]))
    (tmp_path / "run.json").write_text(json.dumps(raw["run"]))
    results, problem = checks.run(tmp_path / "facts.json", tmp_path / "run.json")
    assert not problem, problem
    return Outcome(student, checks=results)


def _grades(path: Path, student: str) -> dict[str, tuple[float, float, bool]]:
    with Gradebook(f"sqlite:///{path}") as book:
        return {
            cell: (grade.score, grade.max_score, grade.needs_manual_grade)
            for cell in SELF_CHECKS
            for grade in [book.find_grade(cell, gradebook.NOTEBOOK, gradebook.ASSIGNMENT, student)]
        }


def test_every_hidden_check_maps_to_one_cell_and_each_cell_adds_up_to_its_points(tmp_path: Path) -> None:
    solution = _outcome(tmp_path, "solution", "sol")
    scores = gradebook.cell_scores(solution)
    assert {cell: s.max_score for cell, s in scores.items()} == {
        cell: points for cell, (_, points) in SELF_CHECKS.items()
    }
    assert {cell: s.score for cell, s in scores.items()} == {cell: points for cell, (_, points) in SELF_CHECKS.items()}
    with pytest.raises(ValueError, match="maps to 0 graded cells"):
        gradebook.cell_of(CheckResult("test_pooling_size", "encoder", "x", 5, 5, CheckStatus.PASSED))


def test_record_in_a_fresh_gradebook_and_export(tmp_path: Path) -> None:
    db = tmp_path / "course" / "gradebook.db"
    db.parent.mkdir()
    outcomes = [
        _outcome(tmp_path, "solution", "sol"),
        _outcome(tmp_path, "mutant_single_conv", "mut"),
        _outcome(tmp_path, "unfilled_release", "stub"),
        Outcome("refused", problem="refused: a symbolic link"),
    ]
    gradebook.record(outcomes, db)
    gradebook.record(outcomes[:1], db)  # grading again updates in place
    assert _grades(db, "sol") == {cell: (points, points, False) for cell, (_, points) in SELF_CHECKS.items()}
    mutant = _grades(db, "mut")
    assert (
        mutant["check_double_conv_block"][0] < 15 and sum(score for score, _, _ in mutant.values()) == outcomes[1].total
    )
    assert {score for score, _, _ in _grades(db, "refused").values()} == {0}
    export = tmp_path / "course" / "grades.csv"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "nbgrader"),
            "export",
            f"--CourseDirectory.db_url=sqlite:///{db}",
            f"--CsvExportPlugin.to={export}",
            "--log-level=WARN",
        ],
        cwd=db.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["student_id"]: row for row in csv.DictReader(export.open())}
    assert {student: float(rows[student]["score"]) for student in rows} == {o.student: o.total for o in outcomes}
    assert {float(row["max_score"]) for row in rows.values()} == {100.0}


def test_pending_checks_ask_for_manual_grading_and_a_mismatched_gradebook_is_refused(tmp_path: Path) -> None:
    solution = _outcome(tmp_path, "solution", "gpu")
    solution.checks = [
        c
        if c.id != "test_final_foreground_iou"
        else CheckResult(c.id, c.section, c.name, c.max_score, 0, CheckStatus.PENDING)
        for c in solution.checks
    ]
    gradebook.record([solution], tmp_path / "gb.db")
    graded = _grades(tmp_path / "gb.db", "gpu")
    assert graded["check_training"][2] and not graded["check_make_unet"][2] and graded["check_training"][0] < 10
    with Gradebook(f"sqlite:///{tmp_path / 'gb.db'}") as book:
        book.find_grade_cell("check_make_unet", gradebook.NOTEBOOK, gradebook.ASSIGNMENT).max_score = 25
        book.db.commit()
    with pytest.raises(ValueError, match="check_make_unet is worth 25 points, the notebook's 30"):
        gradebook.record([solution], tmp_path / "gb.db")
