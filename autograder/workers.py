"""Grading workers: every submission in a fresh process of its own, at most JOBS at a time, each stopped at its
profile's deadline. A worker runs no student code and loads no TensorFlow; being fresh, nothing one submission did
to a process can reach the next. A worker that dies or overruns costs only its own submission: it is graded once
more in a new worker if it died (a second death, or an overrun, gives it a grader-error row)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait

from autograder import batch, leftovers, report
from autograder.pipeline import Job
from autograder.results import Outcome
from autograder.submission import Submission

Grade = Callable[[Submission, Job, str], Outcome]


@dataclass
class _Running:
    submission: Submission
    key: str
    process: multiprocessing.process.BaseProcess
    deadline: float
    attempt: int


def _work(grade: Grade, submission: Submission, job: Job, key: str) -> None:
    """In the worker: bound its own memory (only the soft limit, so the sandboxes it starts can set theirs), grade."""
    limit = job.profile.limits.grader_mib << 20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    grade(submission, job, key)


def crashed(submission: Submission, job: Job, key: str, why: str) -> Outcome:
    """The row of a notebook the grader could not finish: it keeps its place in the batch, the instructor learns why
    (kept while the grader is unchanged, like any outcome)."""
    versions = batch.Versions.current()
    outcome = Outcome(
        submission.student,
        problem=report.GRADER_ERROR,
        diagnostics=[why],
        key=key,
        measuring=versions.measuring,
        judged=versions.judging,
    )
    try:
        report.write_student(outcome, job.out / submission.student, job.profile.details_visibility)
    except OSError as error:  # its folder is unusable: the row still counts, the batch goes on
        print(f"grader error on {submission.student}: its reports could not be written: {error}", file=sys.stderr)
    return outcome


def _finish(entry: _Running, job: Job, overdue: bool) -> Outcome | None:
    """The outcome a worker left, or None when it left none (it died or overran)."""
    if overdue:
        entry.process.kill()
    entry.process.join()
    if not overdue and entry.process.exitcode == 0:
        try:
            return Outcome.load(job.out / entry.submission.student / "outcome.json")
        except ValueError:
            pass
    leftovers.sweep()  # the sandboxes of a worker that died are left to the sweep: their lock died with it
    return None


def start_fork_server() -> multiprocessing.context.BaseContext:
    """The context the workers start in: a fork server's children (started here if it is not running, so that its
    imports overlap what the caller does next), its pipeline's objects frozen (autograder/preload.py)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["autograder.preload"])
    multiprocessing.forkserver.ensure_running()
    return context


def grade_all(
    todo: list[tuple[Submission, str]], job: Job, jobs: int, done: Callable[[Outcome], None], grade: Grade
) -> None:
    """Grade every (submission, key), `jobs` at a time; `done` gets each outcome as it comes."""
    context = start_fork_server()
    queue = [(submission, key, 1) for submission, key in todo]
    running: list[_Running] = []
    while queue or running:
        while queue and len(running) < max(1, jobs):
            submission, key, attempt = queue.pop(0)
            process = context.Process(
                target=_work, args=(grade, submission, job, key), name=f"grade {submission.student}"
            )
            process.start()
            running.append(_Running(submission, key, process, time.monotonic() + job.profile.deadline, attempt))
        now = time.monotonic()
        wait([entry.process.sentinel for entry in running], timeout=max(0.1, min(e.deadline for e in running) - now))
        for entry in list(running):
            alive = entry.process.is_alive()
            overdue = alive and time.monotonic() > entry.deadline  # one that ended just in time keeps its outcome
            if alive and not overdue:
                continue
            running.remove(entry)
            outcome = _finish(entry, job, overdue)
            if outcome is not None:
                done(outcome)
            elif overdue:
                done(
                    crashed(
                        entry.submission,
                        job,
                        entry.key,
                        f"grading took longer than the {job.profile.deadline} s "
                        "the profile allows; the grader stopped it",
                    )
                )
            elif entry.attempt == 1:
                queue.insert(0, (entry.submission, entry.key, 2))
            else:
                done(
                    crashed(
                        entry.submission,
                        job,
                        entry.key,
                        "the grader's worker process died while grading this "
                        "notebook, twice (memory, or a crash in native code)",
                    )
                )
