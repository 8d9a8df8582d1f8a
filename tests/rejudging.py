"""Checks for the slow suite on an OUT a real batch graded (the shared smoke batch: tests/conftest.py smoke_batch), on a
copy of it, so the batch stays as it was: re-judging instead of re-running.

A changed judging or measuring version is simulated in the copy's outcome.json files, which then say another version
of the code judged or measured them: to `make grade` that is exactly the state a changed check, or a changed
measuring module, leaves (tests/fast/test_resume.py shows which files change which version).

    check_rejudged_without_running(out, kinds, data_dir, scratch, "--cell-timeout", "120")
    check_measured_again(out, submissions, data_dir, scratch, "unfilled_release", "--cell-timeout", "120")

Re-judging runs on a copy without the hostile notebooks that earned nothing but one (`kinds`: student -> kind; about
35 of 62 students): the ones left out are judged as the unfilled release is, and cost a second each to re-judge.

`flags` are those the batch was graded with (the same profile and settings, else every notebook runs again).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from grading import grade_command
from harness import rows

from autograder import batch

ROOT = Path(__file__).resolve().parent.parent
MEASURED = ("executed.ipynb", "facts.json", "run.json")  # what a run leaves beside its outcome


def _copy(out: Path, scratch: Path, name: str) -> Path:
    copy = scratch / name
    shutil.copytree(out, copy, symlinks=True)
    return copy


def _claim(folder: Path, **fields: str) -> None:
    """Make OUT/<student>/outcome.json say that other versions of the grader's code judged or measured it."""
    path = folder / "outcome.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _grade(submissions: Path, out: Path, data_dir: Path, flags: tuple[str, ...]) -> tuple[str, float]:
    """`make grade` on `out` as the batch ran it; its stderr and how long it took."""
    env = {**os.environ, "TFDS_DATA_DIR": str(data_dir)}
    started = time.monotonic()
    done = subprocess.run(
        grade_command(submissions, out, *flags), cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr, time.monotonic() - started


def _measured(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/*")) if p.name in MEASURED}


def _outcome(folder: Path) -> dict:
    return json.loads((folder / "outcome.json").read_text())


def _part(out: Path, kinds: dict[str, str], scratch: Path) -> tuple[Path, Path]:
    """A copy of OUT and of its submissions with every student but the hostile notebooks that earned nothing (one of
    those stays): each mutant, broken, refused, colliding and cascading notebook, both honest ones, and every hostile
    one whose points judging must reproduce. The submissions keep their layout (links, stray copies), so each student
    keeps its id."""
    root = Path(batch.submissions_root(out))
    totals = {student: row["total"] for student, row in rows(out).items()}
    idle = sorted(s for s in kinds if kinds[s] == "attack" and totals.get(s) == "0")
    dropped = set(idle[1:])
    copy, submissions = scratch / "rejudged", scratch / "rejudged-submissions"
    shutil.copytree(root, submissions, symlinks=True)
    for entry in batch.read_manifest(out):
        if entry.student in dropped:
            top = submissions.joinpath(*entry.path.relative_to(root).parts[:2])  # submitted/<file or folder>
            if top.is_dir() and not top.is_symlink():
                shutil.rmtree(top)
            else:
                top.unlink()
        else:
            shutil.copytree(out / entry.student, copy / entry.student, symlinks=True)
    return copy, submissions


def check_rejudged_without_running(
    out: Path, kinds: dict[str, str], data_dir: Path, scratch: Path, *flags: str
) -> None:
    """(a) When only the judging changed, `make grade` re-judges every student from the stored measurements: no
    notebook runs (no reference splits, no progress bar of notebooks), what the runs left is untouched, each outcome
    keeps its run part and gets the current judging version, and grades.csv holds the batch's rows (the checks are the
    same)."""
    copy, submissions = _part(out, kinds, scratch)
    students = sorted(p.parent for p in copy.glob("*/outcome.json"))
    assert {kinds.get(folder.name) for folder in students} >= set(kinds.values()), "a kind is missing"
    before = {folder.name: _outcome(folder) for folder in students}
    listed = {entry.student: entry for entry in batch.read_manifest(out)}
    assert any(listed[folder.name].refused for folder in students), "no refused notebook is re-judged"
    assert not all(outcome["measured"] for outcome in before.values()), "no notebook that was not measured"
    for folder in students:
        _claim(folder, judged="another judging version")
    measured = _measured(copy)
    stderr, seconds = _grade(submissions, copy, data_dir, flags)
    assert f"graded 0, kept 0, re-judged {len(students)}," in stderr, stderr[-3000:]
    assert "reference splits:" not in stderr and "grading (" not in stderr, "nothing was to run"
    assert _measured(copy) == measured, "no executed notebook, facts.json or run.json was written again"
    judging = batch.Versions.current().judging
    for folder in students:
        after = _outcome(folder)
        assert after["judged"] == judging and after["checks"] == before[folder.name]["checks"]
        run = ("failures", "problem", "notes", "sandbox", "seconds", "flags", "edited", "key", "measuring")
        assert {f: after[f] for f in run} == {f: before[folder.name][f] for f in run}, folder.name
    whole = rows(out)
    assert rows(copy) == {folder.name: whole[folder.name] for folder in students}
    assert seconds < 60 + 5 * len(students), f"re-judging {len(students)} students took {seconds:.0f} s"


def check_measured_again(
    out: Path, submissions: Path, data_dir: Path, scratch: Path, student: str, *flags: str
) -> None:
    """(b) Measurements another version of the measuring code made are never judged: `make grade` runs that student's
    notebook again (the reference splits are prepared, its executed notebook is new) and keeps everyone else."""
    copy = _copy(out, scratch, "measured-again")
    _claim(copy / student, measuring="another measuring version", judged="another judging version")
    others = {k: v for k, v in _measured(copy).items() if not k.startswith(f"{student}/")}
    executed = (copy / student / "executed.ipynb").stat().st_mtime_ns
    stderr, _ = _grade(submissions, copy, data_dir, flags)
    kept = len(list(copy.glob("*/outcome.json"))) - 1
    assert f"graded 1, kept {kept}, re-judged 0," in stderr, stderr[-3000:]
    assert "reference splits:" in stderr
    assert (copy / student / "executed.ipynb").stat().st_mtime_ns != executed, "its notebook ran again"
    assert _outcome(copy / student)["measuring"] == batch.Versions.current().measuring
    assert {k: v for k, v in _measured(copy).items() if not k.startswith(f"{student}/")} == others
