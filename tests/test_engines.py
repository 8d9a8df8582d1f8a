"""Engines end to end: the Gradescope zip grading real notebooks, a Slurm array on a one-node cluster, the gradebook
from `make grade`.

The Slurm test starts the cluster with tools/slurm-one-node (packages: tools/system-packages slurmctld:slurm-wlm
munged:munge, which .ci/run installs) and compares its grades.csv with the local `make grade` of the same notebooks.
`make test-gradescope` also runs the zip's setup.sh for real (KIT_GRADESCOPE_SETUP=1).
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from harness import Batch
from mutants import RELEASE, SOLUTION, SOLUTION_STUDENT
from nbgrader.api import Gradebook

from assignment import private
from assignment.points import MAX_POINTS, SELF_CHECKS

ROOT = Path(__file__).resolve().parent.parent
GRADESCOPE_TEST_KEYS = {"name", "number", "score", "max_score", "status", "output", "output_format", "visibility"}
SLURM_PACKAGES = "tools/system-packages slurmctld:slurm-wlm munged:munge"
pytestmark = pytest.mark.slow


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# ---- Gradescope ----


def _unpack(archive: Path, root: Path) -> Path:
    """AUTOGRADER_ROOT as Gradescope lays it out: the zip in source/, an empty submission/."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    subprocess.run(["unzip", "-q", str(archive), "-d", str(root / "source")], check=True)
    return root


def _submit(root: Path, notebooks: dict[str, Path]) -> None:
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    for offset, (name, source) in enumerate(notebooks.items()):
        shutil.copyfile(source, root / "submission" / name)
        os.utime(root / "submission" / name, (1e9 + offset, 1e9 + offset))


def _run_autograder(root: Path, env: dict[str, str]) -> tuple[dict, str]:
    """results.json, and what the grader printed for the instructor."""
    done = subprocess.run(
        [str(root / "source" / "run_autograder")],
        env={**env, "AUTOGRADER_ROOT": str(root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert {"score", "execution_time", "output", "output_format", "stdout_visibility", "tests"} <= set(results)
    for test in results["tests"]:
        assert set(test) == (
            GRADESCOPE_TEST_KEYS
            if test["visibility"] != "hidden"
            else {"name", "score", "max_score", "output", "output_format", "visibility"}
        )
    return results, done.stderr


def _text(markup: str) -> str:
    """What a page shows of an HTML fragment: its text, without tags or entities, no space before punctuation."""
    return re.sub(r" ([,.;:])", r"\1", " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split()))


@pytest.fixture(scope="module")
def smoke_zip(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> Path:
    """`make gradescope PROFILE=smoke`, written to a scratch folder. Its synthetic data goes beside it: a copy of the
    suite's, which the build finds prepared and packs (tests/test_data.py tests the preparing)."""
    archive = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    data_dir = archive.parent / "tfds"
    shutil.copytree(synthetic_data_dir, data_dir, symlinks=True)
    shutil.copytree(private.private_dir(synthetic_data_dir), private.private_dir(data_dir), symlinks=True)
    command = [
        sys.executable,
        "-m",
        "autograder.engines.gradescope",
        "build",
        "--profile",
        "smoke",
        "--zip",
        str(archive),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "profile smoke, data synthetic" in done.stdout
    return archive


def test_gradescope_zip_grades_the_solution_and_the_release(smoke_zip: Path, tmp_path: Path) -> None:
    """run_autograder from the unpacked zip, with the kit's .venv as the python3 on PATH (the local test the README
    describes)."""
    root = _unpack(smoke_zip, tmp_path / "autograder")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("TFDS_DATA_DIR", None)  # the zip brings its own data
    _submit(
        root, {"tiny_unet.ipynb": SOLUTION, "scratch.ipynb": RELEASE}
    )  # the scratch copy is newer: the rule still picks tiny_unet.ipynb
    solved, printed = _run_autograder(root, env)
    assert "reference splits: computed, and kept in the grader's cache" in printed
    shown = _text(solved["output"])
    assert solved["score"] == MAX_POINTS and solved["output_format"] == "html" and "Run status: ok" in shown
    assert (
        "graded tiny_unet.ipynb, ignored scratch.ipynb" in shown
        and '<img src="data:image/png;base64,' in solved["output"]
    )
    assert solved["leaderboard"][0]["name"] == "Foreground IoU" and 0.6 <= solved["leaderboard"][0]["value"] <= 1
    assert {t["visibility"] for t in solved["tests"]} == {"visible", "hidden"}
    assert json.loads((root / "grading" / "submission" / "run.json").read_text())["data"]["path"] == str(
        root / "source" / "data" / "tfds"
    )
    _submit(root, {"my notebook (1).ipynb": RELEASE})
    unfilled, printed = _run_autograder(root, env)
    assert f"reference splits: from the grader's cache, {root / 'source' / 'build' / 'reference'}/" in printed
    assert (
        unfilled["score"] == 0
        and "Run status: error in cell" in _text(unfilled["output"])
        and "leaderboard" not in unfilled
    )
    assert all(t["score"] == 0 for t in unfilled["tests"])


@pytest.mark.skipif(
    os.environ.get("KIT_GRADESCOPE_SETUP") != "1",
    reason="make test-gradescope runs setup.sh for real (a fresh venv: minutes)",
)
def test_gradescope_setup_sh_then_user_sandbox(smoke_zip: Path) -> None:
    """setup.sh as Gradescope runs it (root), then run_autograder with the unprivileged-user sandbox of Gradescope's
    container."""
    if os.geteuid() != 0:
        pytest.skip("setup.sh installs system packages and the user sandbox needs root")
    # Like /autograder, a folder every user can pass through (pytest's and a clone's folders may be private; the venv
    # must not be).
    root = Path(tempfile.mkdtemp(prefix="tiny-unet-autograder-", dir="/tmp"))
    try:
        _unpack(smoke_zip, root)
        root.chmod(0o755)
        started = time.monotonic()
        done = subprocess.run(
            ["bash", str(root / "source" / "setup.sh")],
            env={**os.environ, "AUTOGRADER_ROOT": str(root)},
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        print(f"setup.sh: {time.monotonic() - started:.0f} s; {done.stdout.strip().splitlines()[0]}")
        _submit(root, {"submission.ipynb": SOLUTION})
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "AUTOGRADER_SANDBOX": "user",
        }
        assert "setup.sh: reference splits computed, and kept in the grader's cache" in done.stdout
        solved, printed = _run_autograder(root, env)
        assert "reference splits: from the grader's cache" in printed  # setup.sh's, found by the grading
        assert solved["score"] == MAX_POINTS and solved["extra_data"]["sandbox"].startswith(
            "user (a dedicated unprivileged uid"
        )
        assert (
            not (root / "source" / "autograder").stat().st_mode & 0o007
            and not (root / "grading").stat().st_mode & 0o007
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- Slurm ----


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    """A one-node cluster on localhost, started here unless one answers already (and stopped after, if started here)."""
    if os.geteuid() != 0:
        pytest.skip("the one-node Slurm cluster needs root")
    if not shutil.which("sbatch") or not Path("/usr/sbin/slurmctld").exists() or not Path("/usr/sbin/munged").exists():
        pytest.skip(f"Slurm is not installed here (install with: {SLURM_PACKAGES})")
    tool = ROOT / "tools" / "slurm-one-node"
    running = subprocess.run([str(tool), "status"], capture_output=True, check=False).returncode == 0
    if not running:
        done = subprocess.run([str(tool), "start"], capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    yield
    if not running:
        subprocess.run([str(tool), "stop"], check=False, timeout=120)


def _wait_for(jobs: list[str], timeout: float) -> None:
    """Poll squeue until none of `jobs` is queued or running (sbatch --wait polls too slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = subprocess.run(
            ["squeue", "-h", "-o", "%F", "-j", ",".join(jobs)], capture_output=True, text=True, check=False
        ).stdout
        if not queued.strip():
            return
        time.sleep(1)
    pytest.fail(
        f"Slurm jobs {jobs} still queued after {timeout:.0f} s: "
        f"{subprocess.run(['squeue'], capture_output=True, text=True).stdout}"
    )


SLURM_STUDENTS = ("broken_json", "broken_oversize", "unfilled_release", "untrained_solution")


def test_slurm_array_grades_as_make_grade_does(
    slurm_cluster: None, smoke_batch: Batch, synthetic_data_dir: Path, tmp_path: Path
) -> None:
    """A smoke batch as an array job plus an afterany merge, compared with the local `make grade` of the same
    notebooks."""
    local_out = smoke_batch.out
    batch = tmp_path / "submissions"
    batch.mkdir()
    for entry in (local_out.parent / "submissions" / "submitted").iterdir():
        if entry.name.removesuffix(".ipynb") in SLURM_STUDENTS:
            (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, batch / entry.name)
    out = tmp_path / "grades"
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_data_dir)}
    done = subprocess.run(
        ["make", "-s", "slurm", f"SUBMISSIONS={batch}", "PROFILE=smoke", f"OUT={out}", "CPUS_PER_TASK=1", "SUBMIT=1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    array, merge = re.search(r"submitted: array job (\d+), merge job (\d+) \(afterany:\1\)", done.stdout).groups()
    _wait_for([array, merge], timeout=1500)
    assert (out / "grades.csv").is_file(), "\n".join(p.read_text()[-1500:] for p in (out / "slurm" / "logs").iterdir())
    assert len(list((out / "slurm" / "logs").glob(f"grade-{array}_*.log"))) == len(SLURM_STUDENTS)
    slurm_csv = (out / "grades.csv").read_text()
    local = _rows(local_out / "grades.csv")
    assert _rows(out / "grades.csv") == {student: local[student] for student in SLURM_STUDENTS}
    assert slurm_csv.splitlines()[0] == (local_out / "grades.csv").read_text().splitlines()[0]

    # A failed task rerun alone, outside Slurm, then `make grade-merge`: the same grades.csv.
    index = sorted(SLURM_STUDENTS).index("broken_json")
    shutil.rmtree(out / "broken_json")
    (out / "grades.csv").unlink()
    done = subprocess.run(
        ["bash", str(out / "slurm" / "grade.sbatch")],
        env={**env, "SLURM_ARRAY_TASK_ID": str(index)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0 and (out / "broken_json" / "outcome.json").is_file(), done.stderr[-2000:]
    done = subprocess.run(
        ["make", "-s", "grade-merge", f"OUT={out}"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (out / "grades.csv").read_text() == slurm_csv


# ---- nbgrader's gradebook ----


def test_make_grade_records_the_gradebook(smoke_batch: Batch, synthetic_data_dir: Path, tmp_path: Path) -> None:
    """`make grade GRADEBOOK=` on notebooks that need no kernel, and `make grade-merge GRADEBOOK=` over the smoke
    batch's real outcomes."""
    local_out = smoke_batch.out
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "broken.ipynb").write_text("{not json")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("no code")]), folder / "empty.ipynb")
    book = tmp_path / "course" / "gradebook.db"
    book.parent.mkdir()
    done = subprocess.run(
        [
            "make",
            "-s",
            "grade",
            f"SUBMISSIONS={folder}",
            "PROFILE=smoke",
            f"OUT={tmp_path / 'out'}",
            f"GRADEBOOK={book}",
        ],
        cwd=ROOT,
        env={**os.environ, "TFDS_DATA_DIR": str(synthetic_data_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with Gradebook(f"sqlite:///{book}") as gradebook:
        assert sorted(s.id for s in gradebook.students) == ["broken", "empty"]
        assert [gradebook.find_submission("tiny_unet", s).score for s in ("broken", "empty")] == [0, 0]

    merged = tmp_path / "merged"
    for outcome in local_out.glob("*/outcome.json"):
        (merged / outcome.parent.name).mkdir(parents=True)
        shutil.copyfile(outcome, merged / outcome.parent.name / "outcome.json")
    done = subprocess.run(
        ["make", "-s", "grade-merge", f"OUT={merged}", f"GRADEBOOK={book}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    totals = {student: float(row["total"]) for student, row in _rows(local_out / "grades.csv").items()}
    with Gradebook(f"sqlite:///{book}") as gradebook:
        assert {
            s.student.id: s.score for s in gradebook.assignment_submissions("tiny_unet") if s.student.id in totals
        } == totals
        cells = {cell.name: cell.max_score for cell in gradebook.find_notebook("tiny_unet", "tiny_unet").grade_cells}
        assert cells == {cell: points for cell, (_, points) in SELF_CHECKS.items()}
        solution = gradebook.find_submission_notebook("tiny_unet", "tiny_unet", SOLUTION_STUDENT)
        assert {grade.name: grade.score for grade in solution.grades} == cells
