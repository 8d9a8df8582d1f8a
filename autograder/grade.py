"""`make grade`: grade a folder of submissions under a profile, each in its own sandboxed pipeline.

    python -m autograder.grade SUBMISSIONS [--profile ci] [--out grades] [--jobs 1] [--sandbox auto|bwrap|user]
                               [--unsandboxed] [--only a,b] [--regrade] [--gradebook DB]
    python -m autograder.grade --merge OUT       write OUT/grades.csv from whatever OUT/<student>/ holds
    python -m autograder.grade --rejudge OUT     judge every student's stored measurements in OUT again

A student whose outcome in OUT was graded from the same notebook, profile, data, sandbox and grader is kept, not
graded again (--regrade grades everyone); one where only the judging code (hidden checks, points, reports) changed is
re-judged from its stored measurements, with no notebook run. grades.csv is always written from every outcome in OUT,
with the instructor's adjustments (OUT/adjustments.csv).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from assignment import data, rundata
from assignment.profiles import PROFILES, Profile
from autograder import (
    adjustments,
    backends,
    batch,
    dashboard,
    judge,
    leftovers,
    permissions,
    pipeline,
    report,
    splits,
    zygote,
)
from autograder.backends import Backend, SandboxUnavailable
from autograder.batch import Step, Versions
from autograder.cgroup import machine_memory_mib
from autograder.engines import gradebook
from autograder.results import Outcome
from autograder.submission import Submission, discover, discover_one
from autograder.workers import grade_all, start_fork_server

ROOT = Path(__file__).resolve().parent.parent
# What the `user` sandbox's uid must not read: the hidden checks, the solution and its copies (build/, the history),
# grades and other students' work (the kit is also nbgrader's course folder: submitted/, autograded/, feedback/)
CLOSED = "autograder tests solution benchmarks .git build gradebook.db submitted autograded feedback"
PRIVATE = [ROOT / name for name in CLOSED.split()]


class Refusal(Exception):
    """The batch cannot start; the message says what to change."""


def _backend(args: argparse.Namespace) -> Backend:
    if args.unsandboxed:
        print(
            "WARNING: --unsandboxed: student code runs as the grader's own user, with the grader's files; every report "
            "says so.",
            file=sys.stderr,
        )
        return backends.REGISTRY["none"]()
    backend = backends.detect(args.sandbox)
    if backend.shared_tmp:  # it sees the host's files: the grader's must be closed to it
        args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        changed = permissions.protect([*PRIVATE, args.out.resolve(), args.submissions.resolve()])
        reason = "as asked" if args.sandbox == backend.name else "bubblewrap is unavailable here"
        hidden = f" (made unreadable to them: {', '.join(changed)})" if changed else ""
        print(f"sandbox: {reason}; student code runs as unprivileged users{hidden}", file=sys.stderr)
    return backend


def check_memory(profile: Profile, jobs: int, available: int) -> None:
    """Refuse a batch whose submissions, graded `jobs` at a time, would be promised more RAM than there is."""
    each = profile.limits.memory_mib + profile.limits.grader_mib
    if jobs * each > available:
        fits = available // each
        advice = f"use JOBS={fits}" if fits else f"give the grader at least {each} MiB of RAM"
        raise Refusal(
            f"JOBS={jobs} grades {jobs} submissions at once, each promised {profile.limits.memory_mib} MiB for "
            f"its sandboxes and {profile.limits.grader_mib} MiB for its worker ({jobs * each} MiB in all), but "
            f"this machine has {available} MiB: {advice}."
        )


def _threads(jobs: int) -> int:
    """TensorFlow threads per sandbox: the cores shared out between the submissions graded at once."""
    return max(1, len(os.sched_getaffinity(0)) // max(1, jobs))


def _grade(todo: list[tuple[Submission, str]], kept: int, job: pipeline.Job, jobs: int) -> list[Outcome]:
    """Grade `todo` with a progress bar that shows what is kept, done and left, with an estimate of the time left."""
    bar = tqdm(total=len(todo), desc=f"grading ({job.profile.name})", unit="notebook", file=sys.stderr)
    outcomes: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        bar.set_postfix_str(f"kept {kept}, last {outcome.student}: {outcome.total:g}")
        bar.update()

    grade_all(todo, job, jobs, done, pipeline.grade)
    bar.close()
    return outcomes


def _submissions(args: argparse.Namespace) -> list[Submission]:
    """The batch's submissions: with --only, as OUT's manifest names them when it lists them all (so an engine's
    ids hold, e.g. a Slurm task's); else found anew, and the manifest written."""
    if args.single:
        return [discover_one(args.submissions, args.single)]
    listed = batch.read_manifest(args.out)
    wanted = set(args.only.split(",")) if args.only else set()
    if wanted and wanted <= {s.student for s in listed}:
        adjustments.read(args.out, batch.students(args.out, listed))  # a bad row stops the batch before it starts
        return listed
    found = discover(args.submissions)
    adjustments.read(args.out, batch.students(args.out, found))
    batch.write_manifest(args.out, found, args.submissions.resolve())
    return found


def _bare(args: argparse.Namespace, profile: Profile, backend: Backend, run_data: rundata.RunData) -> pipeline.Job:
    """The batch's settings, before its reference splits: what the pristine process is started from."""
    return pipeline.Job(profile, run_data, backend, args.out.resolve(), {}, _threads(args.jobs))


def _job(bare: pipeline.Job, private: Path) -> pipeline.Job:
    """`bare` (the batch's settings) with the reference splits it measures against."""
    profile, run_data = bare.profile, bare.data
    reference = splits.prepare(
        profile, run_data.path, private, announce=lambda line: print(line, file=sys.stderr, flush=True)
    )
    graded = ", ".join(f"{split} {count}" for split, count in reference.examples.items())
    basis, _ = profile.threshold_basis(run_data.label)
    print(
        f"graded on: {graded} examples at {profile.parameters.img_size} px; IoU threshold "
        f"{profile.iou_thresholds[run_data.kind]:.2f}, {basis}\nreference splits: {reference.origin}\n"
        f"sandbox: {bare.backend.name}",
        file=sys.stderr,
    )
    job = pipeline.Job.on(profile, run_data, bare.backend, bare.out, reference, bare.threads)
    problems = permissions.unreadable(bare.backend.name, job.readonly(), [run_data.path])
    if problems:
        raise Refusal(
            f"student code runs as an unprivileged user, who cannot read what it needs: {'; '.join(problems)}. "
            f"Make it readable (e.g. chmod -R o+rX {run_data.path}) or use data and a Python installation "
            "outside private folders."
        )
    return job


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Grade Tiny U-Net submissions.")
    parser.add_argument(
        "submissions", type=Path, nargs="?", help="nbgrader submitted/ layout or a folder of <student>.ipynb"
    )
    parser.add_argument("--profile", default="ci", choices=sorted(PROFILES))
    parser.add_argument("--out", type=Path, default=Path("grades"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", help="grade only these students (comma-separated ids)")
    parser.add_argument(
        "--regrade", action="store_true", help="grade again even what OUT holds graded from the same inputs"
    )
    parser.add_argument(
        "--single", metavar="STUDENT", help="SUBMISSIONS holds one student's notebook(s): grade it as STUDENT"
    )
    parser.add_argument("--merge", type=Path, metavar="OUT", help="write OUT/grades.csv from OUT/<student>/ and stop")
    parser.add_argument(
        "--rejudge", type=Path, metavar="OUT", help="judge every student's stored measurements in OUT again and stop"
    )
    parser.add_argument("--sandbox", default="auto", choices=backends.choices())
    parser.add_argument(
        "--unsandboxed", action="store_true", help="run student code without a sandbox (reports say so)"
    )
    parser.add_argument("--cell-timeout", type=int, help="seconds per cell, instead of the profile's")
    parser.add_argument(
        "--gradebook", type=Path, metavar="DB", help="also record the points in this nbgrader gradebook"
    )
    parser.add_argument(
        "--no-merge", action="store_true", help="grade only: leave grades.csv and report.html to a merge (array tasks)"
    )
    args = parser.parse_args(argv)
    if args.merge is None and args.rejudge is None and args.submissions is None:
        parser.error("SUBMISSIONS is required")
    return args


def _finish(out: Path, gradebook_path: Path | None, backend_name: str) -> list[Outcome]:
    """grades.csv, report.html and similarity.csv from every outcome in OUT; the gradebook; the table."""
    outcomes = batch.merge(out)
    dashboard.build(out)
    if gradebook_path:
        gradebook.record(outcomes, gradebook_path)
    print(report.table(outcomes))
    print(f"\nsandbox: {next((o.sandbox for o in outcomes if o.sandbox), backend_name)}")
    print(
        f"reports: {out / 'grades.csv'}, {out / 'report.html'}, {out / 'similarity.csv'} and "
        f"{out}/<student>/feedback.html, feedback.md, results.json, grader.log"
    )
    return outcomes


def _prepare(args: argparse.Namespace, profile: Profile) -> tuple[list[Submission], Backend, rundata.RunData]:
    """The submissions to consider, the sandbox and the data, or Refusal (and the errors below) saying why the batch
    cannot start."""
    run_data = rundata.resolve(profile, dict(os.environ))  # first: a profile that refuses the data says so at once
    check_memory(profile, args.jobs, machine_memory_mib())
    submissions = _submissions(args)
    backend = _backend(args)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {s.student for s in submissions}
        if unknown:
            raise Refusal(f"no submission for {', '.join(sorted(unknown))} in {args.submissions}")
        submissions = [s for s in submissions if s.student in wanted]
    if not submissions:
        raise Refusal(f"no .ipynb files found in {args.submissions}")
    if swept := leftovers.sweep():
        print(f"removed {len(swept)} folders left by the sandboxes of a grader that was killed", file=sys.stderr)
    print(f"profile {profile.name}: {profile.description}\ndata: {run_data.describe()}", file=sys.stderr)
    return submissions, backend, run_data


def _rejudge(out: Path, gradebook_path: Path | None) -> int:
    """`make rejudge`: judge every student's stored measurements in OUT again, then grades.csv and the report."""
    if not out.is_dir():
        print(f"make rejudge: error: {out} is not a folder", file=sys.stderr)
        return 2
    started = time.monotonic()
    adjustments.read(out, batch.students(out, []))
    done, refused = judge.rejudge_all(sorted(path.parent for path in out.glob("*/outcome.json")), Versions.current())
    _finish(out, gradebook_path, "see each student's grader.log")
    for line in refused:
        print(f"make rejudge: not re-judged {line}", file=sys.stderr)
    print(f"re-judged {done}, not re-judged {len(refused)}, in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if refused:
        print(f"make rejudge: {judge.advice(out)}", file=sys.stderr)
    return 1 if refused else 0


def _batch(args: argparse.Namespace) -> int:
    """`make grade`: keep what is current, re-judge what only the judging changed for, run the rest."""
    profile = PROFILES[args.profile]
    if args.cell_timeout:
        profile = replace(profile, cell_timeout=args.cell_timeout)
    started = time.monotonic()
    versions = Versions.current()
    with leftovers.batch_folder() as private, contextlib.ExitStack() as running:
        try:
            submissions, backend, run_data = _prepare(args, profile)
            settings = batch.settings(profile, run_data.path, backend.name)
            plan = batch.plan(submissions, args.out, settings, versions, args.regrade)
            runs = any(not submission.refused for submission, _ in plan[Step.RUN])  # else no program starts at all
            # The pristine process and the workers' fork server import what they need while the reference splits are
            # computed (they read nothing of those, and no student code has run yet).
            bare = _bare(args, profile, backend, run_data)
            pristine = running.enter_context(zygote.Zygote(backend, bare.readonly(), bare.environment(), runs))
            if runs:
                start_fork_server()
            job = _job(bare, private) if plan[Step.RUN] else None
        except (FileNotFoundError, SandboxUnavailable, Refusal, data.DataError) as error:
            print(f"make grade: error: {error}", file=sys.stderr)
            return 2
        kept = len(plan[Step.KEEP])
        if kept:
            print(
                f"kept {kept} outcomes graded from the same notebook, profile, data and grader (--regrade / "
                "REGRADE=1 grades them again)",
                file=sys.stderr,
            )
        folders = [args.out / s.student for s, _ in plan[Step.REJUDGE]]
        rejudged, refused = judge.rejudge_all(folders, versions)
        if rejudged:
            print(
                f"re-judged {rejudged} from their stored measurements (the checks or reports changed)", file=sys.stderr
            )
        for line in refused:
            print(f"not re-judged {line}", file=sys.stderr)
        if job:
            _grade(plan[Step.RUN], kept, replace(job, pristine=pristine.address), args.jobs)
    if not args.no_merge:
        _finish(args.out.resolve(), args.gradebook, backend.name)
    summary = f"graded {len(plan[Step.RUN])}, kept {kept}, re-judged {rejudged}"
    print(f"{summary}, in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.merge:
            _finish(args.merge, args.gradebook, "see each student's grader.log")
            return 0
        if args.rejudge:
            return _rejudge(args.rejudge, args.gradebook)
        return _batch(args)
    except adjustments.Invalid as error:  # nothing written
        print(f"make grade: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
