"""Course-scale batches, for real: a batch killed with SIGKILL and started again ends with the grades.csv of an
uninterrupted one; an unchanged notebook is kept, a changed one graded again; a changed profile grades everyone."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from grading import grade_command
from mutants import RELEASE, untrained

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ("a_untrained", "b_release", "c_broken")  # one that earns points, two that earn none; none trains


def _grade(submissions: Path, out: Path, data_dir: Path, *extra: str, kill_after_first: bool = False) -> str:
    command = grade_command(submissions, out, *extra)
    env = {**os.environ, "TFDS_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    if kill_after_first:
        deadline = time.monotonic() + 900
        while not list(out.glob("*/outcome.json")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)  # the grader, its workers and its forkserver, as a reboot would
        process.communicate()
        return ""
    _, stderr = process.communicate(timeout=1800)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def _mtimes(out: Path) -> dict[str, int]:
    return {student: (out / student / "outcome.json").stat().st_mtime_ns for student in STUDENTS}


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("resume") / "submissions"
    folder.mkdir()
    nbformat.write(untrained(), folder / "a_untrained.ipynb")
    shutil.copyfile(RELEASE, folder / "b_release.ipynb")
    (folder / "c_broken.ipynb").write_text('{"cells": "not a notebook"')
    return folder


@pytest.fixture(scope="module")
def whole(submissions: Path, synthetic_data_dir: Path) -> Path:
    """An uninterrupted batch."""
    out = submissions.parent / "whole"
    _grade(submissions, out, synthetic_data_dir)
    with (out / "grades.csv").open() as handle:
        totals = {row["student"]: row["total"] for row in csv.DictReader(handle)}
    assert totals == {"a_untrained": "94", "b_release": "0", "c_broken": "0"}, totals
    return out


def test_a_killed_batch_started_again_ends_with_the_same_grades(
    whole: Path, submissions: Path, synthetic_data_dir: Path
) -> None:
    out = submissions.parent / "killed"
    _grade(submissions, out, synthetic_data_dir, kill_after_first=True)
    left = {path.parent.name for path in out.glob("*/outcome.json")}
    assert 0 < len(left) < len(STUDENTS), f"the kill came too late or too early to test anything: {left}"
    stderr = _grade(submissions, out, synthetic_data_dir)
    assert f"graded {len(STUDENTS) - len(left)}, kept {len(left)}" in stderr
    assert (out / "grades.csv").read_text() == (whole / "grades.csv").read_text()


def test_unchanged_notebooks_are_kept_and_a_changed_one_graded_again(
    whole: Path, submissions: Path, synthetic_data_dir: Path
) -> None:
    out = submissions.parent / "changed"
    shutil.copytree(whole, out)
    before = _mtimes(out)
    assert "graded 0, kept 3" in _grade(submissions, out, synthetic_data_dir)
    assert _mtimes(out) == before and (out / "grades.csv").read_text() == (whole / "grades.csv").read_text()
    changed = submissions.parent / "changed-submissions"
    shutil.copytree(submissions, changed)
    nb = nbformat.read(changed / "b_release.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("a note added after the deadline"))
    nbformat.write(nb, changed / "b_release.ipynb")
    assert "graded 1, kept 2" in _grade(changed, out, synthetic_data_dir)
    after = _mtimes(out)
    assert after["b_release"] != before["b_release"] and all(
        after[s] == before[s] for s in STUDENTS if s != "b_release"
    )


def test_a_changed_profile_grades_everyone_again(whole: Path, submissions: Path, synthetic_data_dir: Path) -> None:
    out = submissions.parent / "profile"
    shutil.copytree(whole, out)
    assert "graded 3, kept 0" in _grade(submissions, out, synthetic_data_dir, "--cell-timeout", "170")
    assert (out / "grades.csv").read_text() == (whole / "grades.csv").read_text()
