"""`make grade`: run every submission headless under a profile, probe it, check it and write reports.

    python -m autograder.grade SUBMISSIONS [--profile ci] [--out grades] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import nbformat
from tqdm import tqdm

from assignment.profiles import PROFILES, Profile, RunData, resolve_data
from autograder import probe, report, run
from autograder.submission import Submission, discover, load

CHECKS = Path(__file__).resolve().parent / "checks"
ROOT = CHECKS.parent.parent
PROBE_TIMEOUT = 600  # seconds for each probe; the training probe evaluates the model once or twice


def kernel_env(data_dir: Path) -> dict[str, str]:
    """The student kernel's environment: quiet TensorFlow, fixed hashing, the profile's data."""
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "PYTHONWARNINGS": "ignore",
                "TF_FORCE_GPU_ALLOW_GROWTH": "true",  # kernels graded side by side (JOBS > 1) share one GPU
                "TFDS_DATA_DIR": str(data_dir)})
    return env


def run_checks(facts_dir: Path, profile: Profile, data: RunData, results: Path) -> tuple[list[dict], str | None]:
    """Run the hidden pytest checks in a separate process; return their results and a problem, if any."""
    command = [sys.executable, "-m", "pytest", str(CHECKS), "-q", "-p", "no:cacheprovider", "--no-header",
               f"--facts={facts_dir}", f"--profile={profile.name}", f"--data-dir={data.path}", f"--data-kind={data.kind}",
               f"--results={results}"]
    done = subprocess.run(command, cwd=ROOT, env=kernel_env(data.path), capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or not results.is_file():
        return [], f"the grader's checks failed to run (exit {done.returncode}): {done.stdout[-800:]}{done.stderr[-800:]}"
    return json.loads(results.read_text()), None


def grade_one(submission: Submission, profile: Profile, out: Path, data: RunData) -> report.Outcome:
    """Grade one submission; whatever it does, return an outcome and write its reports."""
    folder = out / submission.student
    workdir = folder / "run"
    shutil.rmtree(folder, ignore_errors=True)
    workdir.mkdir(parents=True)
    notes = [submission.note] if submission.note else []
    seconds = 0.0
    try:
        nb = load(submission.path)
    except ValueError as error:
        status = f"invalid notebook: {error}"
    else:
        result = run.execute(nb, profile, workdir, kernel_env(data.path), probe.probe_cells(workdir, min(profile.cell_timeout, PROBE_TIMEOUT)))
        nbformat.write(result.notebook, folder / "executed.ipynb")
        status, seconds = result.status, result.seconds
        notes += result.notes + [result.describe(f) for f in result.failures]
        notes += [f"probe {f.detail}" for f in result.probe_failures]
    checks, problem = run_checks(workdir / probe.FACTS_DIR, profile, data, folder / "checks.json")
    if problem:
        status, notes = f"{status}; grader checks did not run", [*notes, problem]
    outcome = report.Outcome(submission.student, status, checks, notes, seconds)
    report.write_student(outcome, folder)
    return outcome


def _safe_grade(submission: Submission, profile: Profile, out: Path, data: RunData) -> report.Outcome:
    try:
        return grade_one(submission, profile, out, data)
    except Exception as error:  # noqa: BLE001 - one broken submission never stops the batch
        trace = traceback.format_exc(limit=-3)
        outcome = report.Outcome(submission.student, f"grader error: {type(error).__name__}: {error}", [], [trace], 0.0)
        report.write_student(outcome, out / submission.student)
        return outcome


def grade_all(submissions: list[Submission], profile: Profile, out: Path, data: RunData, jobs: int) -> list[report.Outcome]:
    """Grade a batch with a progress bar; `jobs` submissions at a time."""
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(submissions), desc=f"grading ({profile.name})", unit="notebook", file=sys.stderr)
    outcomes = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_safe_grade, s, profile, out, data) for s in submissions]
        for future in futures:
            outcomes.append(future.result())
            bar.set_postfix_str(f"{outcomes[-1].student}: {outcomes[-1].total:g}")
            bar.update()
    bar.close()
    report.write_csv(outcomes, out / "grades.csv")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade Tiny U-Net submissions.")
    parser.add_argument("submissions", type=Path, help="nbgrader submitted/ layout or a folder of <student>.ipynb")
    parser.add_argument("--profile", default="ci", choices=sorted(PROFILES))
    parser.add_argument("--out", type=Path, default=Path("grades"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--cell-timeout", type=int, help="seconds per cell, instead of the profile's")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    if args.cell_timeout:
        profile = replace(profile, cell_timeout=args.cell_timeout)
    try:
        submissions = discover(args.submissions)
    except FileNotFoundError as error:
        print(f"make grade: error: {error}", file=sys.stderr)
        return 2
    if not submissions:
        print(f"make grade: error: no .ipynb files found in {args.submissions}", file=sys.stderr)
        return 2
    if profile.needs_gpu and not shutil.which("nvidia-smi"):
        print(f"warning: the {profile.name} profile is a GPU job and no GPU driver (nvidia-smi) was found: "
              "training will be very slow and the IoU check will be skipped", file=sys.stderr)
    data = resolve_data(profile, dict(os.environ))
    print(f"profile {profile.name}: {profile.description}\ndata: {data.origin}", file=sys.stderr)
    outcomes = grade_all(submissions, profile, args.out.resolve(), data, args.jobs)
    print(report.table(outcomes))
    print(f"\nreports: {args.out / 'grades.csv'} and {args.out}/<student>/results.json, feedback.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
