"""`make grade`: grade a folder of submissions under a profile, each in its own sandboxed pipeline.

    python -m autograder.grade SUBMISSIONS [--profile ci] [--out grades] [--jobs 1] [--sandbox auto|bwrap|user] [--unsandboxed]
    python -m autograder.grade SUBMISSIONS --task I ...    grade only the I-th submission (a Slurm array task); no CSV
    python -m autograder.grade --merge OUT                 write OUT/grades.csv from whatever OUT/<student>/ holds
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from assignment import data
from assignment.profiles import PROFILES
from autograder import leftovers, permissions, pipeline, report, sandbox
from autograder.engines import gradebook
from autograder.results import Outcome, cap
from autograder.submission import Submission, discover, discover_one

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = [ROOT / name for name in ("autograder", "tests", "solution", "benchmarks", ".git")]


def _limit_memory(mib: int) -> None:
    """In a grading worker: bound the grader's own memory, so a hostile model config fails there, not the machine.
    Only the soft limit: the sandboxes it starts set their own (a lower hard limit could not be raised for them)."""
    resource.setrlimit(resource.RLIMIT_DATA, (mib << 20, resource.getrlimit(resource.RLIMIT_DATA)[1]))


def _crashed(submission: Submission, job: pipeline.Job, why: str) -> Outcome:
    """The row of a notebook the grader could not finish: it keeps its place in the batch, the instructor learns why."""
    outcome = Outcome(submission.student, problem="grader error (your instructor has the details)", diagnostics=[why])
    report.write_student(outcome, job.out / submission.student, job.profile.details_visibility)
    return outcome


def _run(submissions: list[Submission], job: pipeline.Job, jobs: int, done: Callable[[Outcome], None], grade: Callable) -> list[Submission]:
    """Grade in workers forked from a clean server process (never from this one, which may run TensorFlow's threads),
    at most `jobs` at a time; return the submissions that were being graded when a worker died."""
    queue, running = list(submissions), {}
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["autograder.pipeline"])
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_limit_memory,
                             initargs=(job.profile.limits.grader_mib,)) as pool:
        while queue or running:
            while queue and len(running) < jobs:
                submission = queue.pop(0)
                running[pool.submit(grade, submission, job)] = submission
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                submission = running.pop(future)
                try:
                    done(future.result())
                except BrokenProcessPool:
                    return [submission, *running.values()]
                except Exception as error:  # noqa: BLE001 - a grader bug costs this notebook's row, not the batch
                    done(_crashed(submission, job, f"the grader failed on this notebook: {type(error).__name__}: {cap(str(error))}"))
    return []


def grade_all(submissions: list[Submission], job: pipeline.Job, jobs: int, grade: Callable = pipeline.grade) -> list[Outcome]:
    """Grade a batch with a progress bar, `jobs` at a time. A worker that dies costs only the notebooks it held:
    they are graded again one by one, and one that kills its worker again gets a grader-error row."""
    job.out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(submissions), desc=f"grading ({job.profile.name})", unit="notebook", file=sys.stderr)
    outcomes: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        bar.set_postfix_str(f"{outcome.student}: {outcome.total:g}")
        bar.update()

    left = submissions
    while left:
        suspects = _run(left, job, max(1, jobs), done, grade)
        graded = {o.student for o in outcomes}
        left = [s for s in left if s.student not in graded and s not in suspects]
        for suspect in suspects:
            if _run([suspect], job, 1, done, grade):
                done(_crashed(suspect, job, "the grader's worker process died while grading this notebook, twice (memory, or a crash in native code)"))
    bar.close()
    return outcomes


def merge(out: Path) -> list[Outcome]:
    """Outcomes of every student graded into `out`, and grades.csv from them. Students a Slurm batch listed
    (OUT/slurm/students.txt) whose task left nothing get a row saying so."""
    outcomes = [Outcome.load(path) for path in sorted(out.glob("*/outcome.json"))]
    listed = out / "slurm" / "students.txt"
    graded = {outcome.student for outcome in outcomes}
    for student in listed.read_text().split() if listed.is_file() else []:
        if student not in graded:
            outcomes.append(Outcome(student, problem=f"not graded: its grading task left no result; rerun it with make slurm ... ONLY={student}"))
    report.write_csv(outcomes, out / "grades.csv")
    return outcomes


def _backend(args: argparse.Namespace) -> str:
    if args.unsandboxed:
        print("WARNING: --unsandboxed: student code runs as the grader's own user, with the grader's files; every report says so.",
              file=sys.stderr)
        return "none"
    backend = sandbox.detect(args.sandbox)
    if backend == "user":
        args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        changed = permissions.protect([*PRIVATE, args.out.resolve(), args.submissions.resolve()])
        reason = "as asked" if args.sandbox == "user" else "bubblewrap is unavailable here"
        print(f"sandbox: {reason}; student code runs as unprivileged users"
              + (f" (made unreadable to them: {', '.join(changed)})" if changed else ""), file=sys.stderr)
    return backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade Tiny U-Net submissions.")
    parser.add_argument("submissions", type=Path, nargs="?", help="nbgrader submitted/ layout or a folder of <student>.ipynb")
    parser.add_argument("--profile", default="ci", choices=sorted(PROFILES))
    parser.add_argument("--out", type=Path, default=Path("grades"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--task", type=int, help="grade only the submission with this index (0-based, sorted by student)")
    parser.add_argument("--only", help="grade only this student")
    parser.add_argument("--single", metavar="STUDENT", help="SUBMISSIONS holds one student's notebook(s) (Gradescope); grade it as STUDENT")
    parser.add_argument("--merge", type=Path, metavar="OUT", help="write OUT/grades.csv from OUT/<student>/ and stop")
    parser.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "user"])
    parser.add_argument("--unsandboxed", action="store_true", help="run student code without a sandbox (reports say so)")
    parser.add_argument("--cell-timeout", type=int, help="seconds per cell, instead of the profile's")
    parser.add_argument("--gradebook", type=Path, metavar="DB", help="also record the points in this nbgrader gradebook (sqlite)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the grader's own TensorFlow (measuring) prints no C++ notices
    if args.merge:
        outcomes = merge(args.merge)
        if args.gradebook:
            gradebook.record(outcomes, args.gradebook)
        print(report.table(outcomes))
        return 0
    if args.submissions is None:
        parser.error("SUBMISSIONS is required")
    profile = PROFILES[args.profile]
    if args.cell_timeout:
        profile = replace(profile, cell_timeout=args.cell_timeout)
    try:
        submissions = [discover_one(args.submissions, args.single)] if args.single else discover(args.submissions)
        backend = _backend(args)
    except (FileNotFoundError, sandbox.SandboxUnavailable) as error:
        print(f"make grade: error: {error}", file=sys.stderr)
        return 2
    if args.task is not None or args.only:
        submissions = [s for i, s in enumerate(submissions) if i == args.task or s.student == args.only]
    if not submissions:
        print(f"make grade: error: no matching .ipynb files found in {args.submissions}", file=sys.stderr)
        return 2
    swept = leftovers.sweep()
    if swept:
        print(f"removed {len(swept)} folders left by the sandboxes of a grader that was killed", file=sys.stderr)
    data_run = data.resolve(profile.wants_sample, dict(os.environ))
    print(f"profile {profile.name}: {profile.description}\ndata: {data_run.origin}\nsandbox: {backend}", file=sys.stderr)
    job = pipeline.Job(profile, data_run, backend, args.out.resolve())
    problems = permissions.unreadable(backend, job.readonly(), [data_run.path])
    if problems:
        print(f"make grade: error: student code runs as an unprivileged user, who cannot read what it needs: {'; '.join(problems)}. "
              f"Make it readable (e.g. chmod -R o+rX {data_run.path}) or use data and a Python installation outside private folders.",
              file=sys.stderr)
        return 2
    outcomes = grade_all(submissions, job, args.jobs)
    if args.task is None and not args.only:
        report.write_csv(outcomes, job.out / "grades.csv")
    if args.gradebook:
        gradebook.record(outcomes, args.gradebook)
    print(report.table(outcomes))
    print(f"\nsandbox: {outcomes[0].sandbox or backend}")
    print(f"reports: {args.out / 'grades.csv'} and {args.out}/<student>/results.json, feedback.md, grader.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
