"""Judging: the hidden checks on the measurements a run stored in OUT/<student>/ (facts.json, run.json), then the
reports. It runs no notebook and no student code, so a change to the checks, the points or the reports reaches what
OUT holds in seconds per student (`make rejudge`, and `make grade` when only the judging changed). Re-judging keeps
what the run left in the outcome (failures, notes, problem, sandbox, seconds, flags, diagnostics) and replaces what
judging made of it (the checks, why they did not run, the judging version).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
import traceback
from pathlib import Path

from autograder import batch, checks, report
from autograder.results import Outcome, clean


class Stale(Exception):
    """An outcome that cannot be judged again; the message says why."""


def judge(outcome: Outcome, folder: Path, judging: str) -> None:
    """The hidden checks on `folder`'s facts.json and run.json, when the run measured them, into `outcome`."""
    outcome.judged = judging
    outcome.checks, outcome.judge_problem = [], ""
    if outcome.measured:
        outcome.checks, outcome.judge_problem = checks.run(folder / "facts.json", folder / "run.json")


def rejudge(folder: Path, versions: batch.Versions) -> Outcome:
    """Judge the outcome stored in OUT/<student>/ again and write its reports; Stale, with nothing written, when its
    measurements are not those the current measuring code would make."""
    try:
        outcome = Outcome.load(folder / "outcome.json")
    except ValueError as error:
        raise Stale("its outcome could not be read") from error
    if why := batch.stale(folder, outcome, versions.measuring):
        raise Stale(why)
    try:
        judge(outcome, folder, versions.judging)
        report.rewrite(folder, outcome)
    except Exception:  # noqa: BLE001 - judging code that breaks costs this student's checks, never the batch
        outcome.checks = []
        outcome.judge_problem = clean(traceback.format_exc(limit=-6))[-20_000:]
        print(f"grader error while re-judging {folder.name}: see its grader.log", file=sys.stderr)
        report.write_student(outcome, folder)
    return outcome


def _refusal(folder: Path, versions: batch.Versions) -> str | None:
    """Re-judge one student; why not, when it could not be."""
    try:
        rejudge(folder, versions)
    except Stale as why:
        return f"{folder.name}: {why}"
    return None


def rejudge_all(folders: list[Path], versions: batch.Versions) -> tuple[int, list[str]]:
    """Re-judge each of `folders` (OUT/<student>/), in one process per core (judging is the grader's own code, and
    each student's files are its own); how many were, and the students that could not be, with why."""
    workers = min(len(folders), os.cpu_count() or 1)
    if workers > 1:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process's threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            refusals = list(pool.map(_refusal, folders, [versions] * len(folders)))
    else:
        refusals = [_refusal(folder, versions) for folder in folders]
    refused = [why for why in refusals if why]
    return len(folders) - len(refused), refused


def advice(out: Path) -> str:
    """What the instructor runs for students whose measurements must be made again."""
    submissions = batch.submissions_root(out) or "<the submissions>"
    return f"run make grade SUBMISSIONS={submissions} OUT={out} (with the batch's PROFILE): it measures them again"
