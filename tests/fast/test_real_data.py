"""What a batch grades on: `full` refuses the synthetic set in make grade, make slurm and make gradescope before any
work; every batch says what data it grades on and report.html shows it, with thresholds not measured on such data
flagged; the reference-splits phase is announced and the progress bar estimates the time left."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from assignment import data, private, rundata
from assignment.profiles import PROFILES
from autograder import backends, dashboard, grade, leftovers, pipeline, report, splits
from autograder.results import CheckResult, CheckStatus, Outcome
from autograder.submission import Submission

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE_SIZES = {"train": 270, "test": 65}  # the real sample's visible part; its private part holds 64 test examples
SAMPLE_PRIVATE = 64
SAMPLE_SHOWN = "train 270, test 65, private test 64"
GRADED_ON = {"train": 270, "test": 65, "private": 64}  # the reference splits' counts under ci


def _part(root: Path, stamp: dict, sizes: dict[str, int]) -> None:
    dataset = root / data.DATASET / "4.0.0"
    dataset.mkdir(parents=True)
    splits_info = [{"name": name, "shardLengths": [str(count)]} for name, count in sizes.items()]
    (dataset / "dataset_info.json").write_text(json.dumps({"name": data.DATASET, "splits": splits_info}))
    (dataset / data.STAMP).write_text(json.dumps(stamp))


def prepared(root: Path, kind: str, sizes: dict[str, int], source: str = "", hidden: int = SAMPLE_PRIVATE) -> Path:
    """A data dir as the data tool leaves it: tfds's dataset_info.json (its split sizes) and the tool's stamp, with
    its private part beside it (`hidden` test examples, the same edition)."""
    stamp = {"kind": kind, "path": source, "fingerprint": f"{kind}:test", "edition": "test-edition"}
    _part(root, stamp, sizes)
    _part(private.private_dir(root), stamp, {"train": 1, "test": hidden})
    private.private_dir(root).chmod(0o700)
    return root


@pytest.fixture
def synthetic_dir(tmp_path: Path) -> Path:
    return prepared(tmp_path / "tfds-synthetic", "synthetic", {"train": 200, "test": 100}, hidden=200)


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), folder / "ann.ipynb")
    return folder


def _make(target: str, *variables: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", target, *variables], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def test_full_refuses_synthetic_data_in_grade_slurm_and_gradescope(
    tmp_path: Path, synthetic_dir: Path, submissions: Path
) -> None:
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_dir)}
    out = tmp_path / "out"
    for target in ("grade", "slurm"):
        done = _make(target, f"SUBMISSIONS={submissions}", "PROFILE=full", f"OUT={out}", env=env)
        assert done.returncode != 0 and f"make {target}: error:" in done.stderr, done.stderr
        for said in ("synthetic", f"the data in {synthetic_dir}", "kind: synthetic", "make data DATA_SRC="):
            assert said in done.stderr, (target, said, done.stderr)
        assert not out.exists(), f"make {target} wrote {out} before refusing"
    done = _make("gradescope", "PROFILE=full", env=env)
    assert done.returncode != 0 and "make gradescope: error:" in done.stderr
    assert "synthetic" in done.stderr and "kind: synthetic" in done.stderr and "make data DATA_SRC=" in done.stderr
    zipped = tmp_path / "zip" / "autograder.zip"
    command = [
        sys.executable,
        "-m",
        "autograder.engines.gradescope",
        "build",
        "--profile",
        "full",
        "--zip",
        str(zipped),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 2 and f"({zipped.parent / 'tfds'})" in done.stderr and not zipped.parent.exists()


def test_gradescope_refuses_full_on_real_data_too(tmp_path: Path) -> None:
    """Gradescope has no GPU: full's IoU checks would stay pending for everyone."""
    sample = tmp_path / "sample"
    for folder in ("images", "annotations/trimaps"):
        (sample / folder).mkdir(parents=True)
    (sample / "annotations" / "trainval.txt").write_text("cat_1 1 1 1\n")
    (sample / "annotations" / "test.txt").write_text("cat_2 1 1 1\ncat_3 1 1 1\n")
    for name in ("cat_1", "cat_2", "cat_3"):
        (sample / "images" / f"{name}.jpg").write_bytes(b"jpeg")
        (sample / "annotations" / "trimaps" / f"{name}.png").write_bytes(b"png")
    zipped = tmp_path / "zip" / "autograder.zip"
    command = [sys.executable, "-m", "autograder.engines.gradescope", "build", "--profile", "full"]
    command += ["--zip", str(zipped), "--data-src", str(sample)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 2 and "has none" in done.stderr and "make slurm" in done.stderr
    assert "synthetic" not in done.stderr and not zipped.parent.exists()


def test_full_never_makes_synthetic_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "tfds")
    with pytest.raises(data.DataError, match=r"holds no dataset, and the kit would make the synthetic set"):
        rundata.resolve(PROFILES["full"], {})
    assert not (tmp_path / "tfds").exists()


def test_what_the_data_is() -> None:
    assert rundata.label("synthetic", {"train": 200, "test": 100}) == "synthetic"
    assert rundata.label("real", rundata.OFFICIAL_EXAMPLES) == "real"
    assert rundata.label("real", {"train": 3680, "test": 1834, "private test": 1835}) == "real", "both test parts"
    assert rundata.label("real", {**SAMPLE_SIZES, "private test": SAMPLE_PRIVATE}) == "real sample"
    assert rundata.label("real", {}) == "not prepared"


def test_full_grades_a_real_sample_and_says_its_threshold_was_not_measured_there(tmp_path: Path) -> None:
    folder = prepared(tmp_path / "tfds", "extracted", SAMPLE_SIZES, "/data/oxford_pets_sample")
    found = rundata.resolve(PROFILES["full"], {"TFDS_DATA_DIR": str(folder)})
    assert (found.kind, found.label, found.sizes) == ("real", "real sample", {**SAMPLE_SIZES, "private test": 64})
    assert found.describe() == (
        f"real sample ({SAMPLE_SHOWN}) from TFDS_DATA_DIR={folder} (extracted /data/oxford_pets_sample)"
    )
    assert PROFILES["full"].threshold_basis("real sample") == ("not measured on real sample data", False)
    basis, measured = PROFILES["full"].threshold_basis("real")
    assert not measured and basis.startswith("not measured on real data") and "calibrate_profiles.py" in basis
    basis, measured = PROFILES["ci"].threshold_basis("real sample")
    assert measured and "0.590 / 0.601 / 0.606" in basis
    assert PROFILES["ci"].threshold_basis("real") == (
        "not measured on real data (measured on real sample, synthetic data only)",
        False,
    )


def test_slurm_says_what_its_tasks_grade_on(tmp_path: Path, synthetic_dir: Path, submissions: Path) -> None:
    command = [sys.executable, "-m", "autograder.engines.slurm", str(submissions), "--profile", "smoke"]
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_dir)}
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    shown = f"tasks grade on: synthetic (train 200, test 100, private test 200) from TFDS_DATA_DIR={synthetic_dir}"
    assert shown in done.stdout, done.stdout
    assert "IoU threshold 0.60, measured on synthetic data: solution on the synthetic set" in done.stdout


def _job(tmp_path: Path, folder: Path, name: str = "ci") -> pipeline.Job:
    run_data = rundata.resolve(PROFILES[name], {"TFDS_DATA_DIR": str(folder)})
    return pipeline.Job(PROFILES[name], run_data, backends.REGISTRY["none"](), tmp_path, dict(GRADED_ON))


def test_a_batch_says_what_it_grades_on_before_it_computes_its_reference(
    tmp_path: Path, submissions: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    folder = prepared(tmp_path / "tfds", "extracted", SAMPLE_SIZES, "/data/oxford_pets_sample")
    monkeypatch.setenv("TFDS_DATA_DIR", str(folder))
    monkeypatch.setattr(leftovers, "sweep", list)  # other graders' leftovers on this machine are not this test's
    monkeypatch.setattr(splits, "CACHE", tmp_path / "build" / "reference")
    monkeypatch.setattr(splits, "_compute", lambda *_: (dict(GRADED_ON), None))
    args = grade.arguments([str(submissions), "--out", str(tmp_path / "out"), "--unsandboxed"])
    _, backend, run_data = grade._prepare(args, PROFILES["ci"])
    bare = grade._bare(args, PROFILES["ci"], backend, run_data)
    grade._job(bare, tmp_path)
    said = capsys.readouterr().err
    lines = [
        f"data: real sample ({SAMPLE_SHOWN}) from TFDS_DATA_DIR={folder}",
        "reference splits: computing the grader's copy of train, test and the private test part (preprocessing 399 "
        "examples at 64 px; "
        "once for this data, profile and grader); about 8 s on 2 cores ...",
        "graded on: train 270, test 65, private 64 examples at 64 px; IoU threshold 0.50, measured on real sample "
        "data: ",
        "reference splits: computed, and kept in the grader's cache",
    ]
    at = [said.index(line) for line in lines]
    assert at == sorted(at), said
    grade._job(bare, tmp_path)
    assert "computing" not in capsys.readouterr().err, "a cached reference is not announced"


def test_the_progress_bar_estimates_the_time_left_from_the_first_finished_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def grade_all(todo, _job, _jobs, done, _grade) -> None:
        for submission, _ in todo:
            time.sleep(0.3)
            done(Outcome(submission.student))

    monkeypatch.setattr(grade, "grade_all", grade_all)
    todo = [(Submission(name, tmp_path / f"{name}.ipynb"), "") for name in ("ann", "bob", "cy")]
    grade._grade(todo, 0, _job(tmp_path, prepared(tmp_path / "tfds", "extracted", SAMPLE_SIZES)), 1)
    shown = re.split(r"[\r\n]", capsys.readouterr().err)
    first = next(line for line in shown if " 1/3 " in line)
    assert re.search(r"<00:0\d", first), f"no estimate of the time left after the first notebook: {first!r}"
    assert all("<?" in line for line in shown if " 0/3 " in line)


def test_run_json_and_report_html_show_the_data_and_unmeasured_thresholds(tmp_path: Path) -> None:
    sample = _job(tmp_path, prepared(tmp_path / "sample", "extracted", SAMPLE_SIZES, "/data/oxford_pets_sample"))
    official = {"train": 3680, "test": 1834}
    whole = _job(tmp_path, prepared(tmp_path / "whole", "archives", official, "/data/archives", hidden=1835))
    config = sample.run_config()
    assert config["data"]["label"] == "real sample" and config["data"]["sizes"] == {**SAMPLE_SIZES, "private test": 64}
    assert config["data"]["examples"] == GRADED_ON and config["iou_threshold_measured"] is True
    assert whole.run_config()["iou_threshold_measured"] is False
    out = tmp_path / "out"
    passed = CheckResult("test_preprocess_x", "preprocess", "a check", 10, 10, CheckStatus.PASSED)
    for student, job in (("ann", sample), ("bob", sample), ("cy", whole)):
        report.write_student(Outcome(student, checks=[passed]), out / student)
        (out / student / "run.json").write_text(json.dumps(job.run_config()))
    page = (dashboard.build(out)).read_text()
    section = page.split("<h2>Data</h2>", 1)[1].split("</section>", 1)[0]
    assert section.count("<tr>") == 3, "one row per set of settings, under the header"
    assert "real sample" in section and SAMPLE_SHOWN in section and "/data/oxford_pets_sample" in section
    assert "train 3680, test 1834, private test 1835" in section and section.count("not measured on this data") == 1
    assert "not measured on real data (measured on real sample, synthetic data only)" in section
    rows = section.split("<tr>")[1:]
    assert "ann" in rows[1] and "bob" in rows[1] and "cy" in rows[2] and "measured on real sample data" in rows[1]


def test_make_setup_says_what_it_installs_and_requirements_name_only_real_files() -> None:
    """Each phase of `make setup` is announced and pip is not silenced; the CUDA build's version is the pin's."""
    done = subprocess.run(
        ["make", "-n", "-B", ".venv/.installed"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert sorted(set(re.findall(r"setup \[(\d)/4\]", done.stdout))) == ["1", "2", "3", "4"], done.stdout
    install = next(line for line in done.stdout.splitlines() if "-r requirements.txt" in line)
    assert "--quiet" not in install and "--progress-bar on" in install
    pinned = re.search(r"^tensorflow-cpu==([0-9.]+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert pinned not in done.stdout and "sed -n 's/^tensorflow-cpu==" in done.stdout, "read from requirements.txt"
    for name in re.findall(r"requirements[\w-]*\.txt", (ROOT / "requirements.txt").read_text()):
        assert (ROOT / name).is_file(), f"requirements.txt names {name}, which does not exist"
