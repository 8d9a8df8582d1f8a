"""Hostile notebooks graded before honest ones, one at a time (JOBS=1): what one leaves behind (a crafted model
file, named pipes) cannot change a later student's grade or stop the batch. The attack suite
(tests/test_attacks.py) grades them side by side at JOBS=2."""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from attacks import SOLUTION, Context
from attacks_leftovers import ATTACKS
from grading import folders, grade_command, sandbox_or_skip

from assignment.points import MAX_POINTS

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ("crafted_model_file", "named_pipes")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> dict[str, dict[str, str]]:
    backend = sandbox_or_skip()
    root = tmp_path_factory.mktemp("neighbours")
    submissions, planted = folders(root, "submissions", "planted")
    context = Context(port=1, out=root / "out", token=secrets.token_hex(8), planted=planted)
    for number, slug in enumerate(HOSTILE):
        attack = next(a for a in ATTACKS if a.slug == slug)
        nbformat.write(attack.build(context), submissions / f"{number}a_{slug}.ipynb")
        shutil.copyfile(SOLUTION, submissions / f"{number}b_honest.ipynb")
    command = grade_command(submissions, root / "out", "--cell-timeout", "120", "--sandbox", backend, jobs=1)
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_data_dir)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with (root / "out" / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_every_notebook_has_a_row(rows: dict[str, dict[str, str]]) -> None:
    assert len(rows) == 2 * len(HOSTILE), sorted(rows)


@pytest.mark.parametrize("number", range(len(HOSTILE)), ids=HOSTILE)
def test_an_honest_notebook_after_a_hostile_one_keeps_full_marks(rows: dict[str, dict[str, str]], number: int) -> None:
    row = rows[f"{number}b_honest"]
    assert (row["total"], row["status"]) == (str(MAX_POINTS), "ok"), row
