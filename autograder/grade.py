"""`make grade`: grade a folder of submissions under a profile, each in its own sandboxed pipeline.

    python -m autograder.grade SUBMISSIONS [--profile ci] [--out grades] [--jobs 1] [--sandbox auto|bwrap|user] [--unsandboxed]
    python -m autograder.grade SUBMISSIONS --task I ...    grade only the I-th submission (a Slurm array task); no CSV
    python -m autograder.grade --merge OUT                 write OUT/grades.csv from whatever OUT/<student>/ holds
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from assignment import data
from assignment.profiles import PROFILES
from autograder import pipeline, report, sandbox
from autograder.engines import gradebook
from autograder.results import Outcome
from autograder.submission import Submission, discover, discover_one

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = [ROOT / name for name in ("autograder", "tests", "solution", "benchmarks", ".git")]


def grade_all(submissions: list[Submission], job: pipeline.Job, jobs: int) -> list[Outcome]:
    """Grade a batch with a progress bar, `jobs` submissions at a time; each process loads TensorFlow once.

    Workers are spawned, not forked: this process may already have started TensorFlow's threads
    (preparing data), and a forked copy of them deadlocks.
    """
    job.out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(submissions), desc=f"grading ({job.profile.name})", unit="notebook", file=sys.stderr)
    outcomes = []
    with contextlib.ExitStack() as stack:
        if jobs > 1 and len(submissions) > 1:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")))
            graded = pool.map(pipeline.grade, submissions, [job] * len(submissions))
        else:
            graded = (pipeline.grade(submission, job) for submission in submissions)
        for outcome in graded:
            outcomes.append(outcome)
            bar.set_postfix_str(f"{outcome.student}: {outcome.total:g}")
            bar.update()
    bar.close()
    return outcomes


def merge(out: Path) -> list[Outcome]:
    """Outcomes of every student graded into `out`, and grades.csv from them."""
    outcomes = [Outcome.load(path) for path in sorted(out.glob("*/outcome.json"))]
    report.write_csv(outcomes, out / "grades.csv")
    return outcomes


def _backend(args: argparse.Namespace) -> str:
    if args.unsandboxed:
        print("WARNING: --unsandboxed: student code runs as the grader's own user, with the grader's files; every report says so.",
              file=sys.stderr)
        return "none"
    backend = sandbox.detect(args.sandbox)
    if backend == "user":
        changed = sandbox.protect([*PRIVATE, args.out.resolve(), args.submissions.resolve()])
        print("sandbox: bubblewrap is unavailable here; student code runs as unprivileged users"
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
    data_run = data.resolve(profile.wants_sample, dict(os.environ))
    print(f"profile {profile.name}: {profile.description}\ndata: {data_run.origin}\nsandbox: {backend}", file=sys.stderr)
    job = pipeline.Job(profile, data_run, backend, args.out.resolve())
    problems = sandbox.unreadable(backend, job.readonly(), [data_run.path])
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
