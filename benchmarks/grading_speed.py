"""Grading overhead per profile: a sandboxed, probed, measured and checked run of the solution over a
bare headless run of the same parameterized notebook (plain nbclient, no sandbox, no probes), both
measured here one after the other. Only the ratio is comparable across machines.

    python benchmarks/grading_speed.py [smoke ci] [--repeat 2]

The graded run includes everything a batch pays per notebook: the kernel's, the probe's and the measuring
process's TensorFlow starts, the checks and the reports.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment import rundata
from assignment.profiles import PROFILES
from autograder import backends, pipeline, run, splits, zygote
from autograder.submission import discover

SOLUTION = next((Path(__file__).resolve().parent.parent / "solution").glob("*/*.ipynb"))
GOALS = {"smoke": 1.2, "ci": 1.1}  # the most a graded run may take over a bare one, per profile


def bare_run(profile_name: str, data_dir: Path) -> float:
    """Seconds for plain nbclient to run the parameterized notebook in an ordinary local kernel."""
    nb, _ = run.parameterize(nbformat.read(SOLUTION, as_version=4), PROFILES[profile_name].parameters.notebook())
    env = {**os.environ, **pipeline.KERNEL_ENV, "TFDS_DATA_DIR": str(data_dir)}
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        NotebookClient(
            nb,
            kernel_name="python3",
            timeout=PROFILES[profile_name].cell_timeout,
            resources={"metadata": {"path": workdir}},
        ).execute(env=env, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started


def graded_run(job: pipeline.Job) -> tuple[float, float]:
    """Seconds for the grader to grade the solution as a batch of one (its pristine process included), and its
    score."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "solution.ipynb").write_bytes(SOLUTION.read_bytes())
        started = time.perf_counter()
        with zygote.Zygote(job.backend, job.readonly(), job.environment()) as pristine:
            outcome = pipeline.grade(discover(Path(folder))[0], replace(job, pristine=pristine.address))
        return time.perf_counter() - started, outcome.total


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The profiles to measure (default smoke and ci) and the runs of each kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="*", help=f"of {', '.join(PROFILES)} (default: smoke ci)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each kind; the fastest counts")
    args = parser.parse_args(argv)
    if unknown := set(args.profiles) - set(
        PROFILES
    ):  # not argparse's choices: Python 3.11 checks an empty list against them
        parser.error(f"unknown profile(s): {', '.join(sorted(unknown))}")
    args.profiles = args.profiles or ["smoke", "ci"]
    return args


def main() -> None:
    args = arguments()
    backend = backends.detect()
    print(f"{'profile':8} {'bare s':>7} {'graded s':>9} {'overhead':>9}  sandbox / data")
    for name in args.profiles:
        profile = PROFILES[name]
        run_data = rundata.resolve(profile, dict(os.environ))
        with tempfile.TemporaryDirectory() as out:
            reference = splits.prepare(profile, run_data.path, Path(out))  # once per batch, as make grade does
            job = pipeline.Job.on(profile, run_data, backend, Path(out), reference)
            bare = min(bare_run(name, run_data.path) for _ in range(args.repeat))
            graded, score = min(graded_run(job) for _ in range(args.repeat))
            every_cell = replace(job, profile=replace(profile, run_showing_cells=True))
            alike = min(graded_run(every_cell)[0] for _ in range(args.repeat))
        print(line(name, bare, graded, f"{backend.name} / {run_data.origin}", score, alike), flush=True)


def line(name: str, bare: float, graded: float, where: str, score: float, alike: float) -> str:
    """One profile's line: the two runs, the overhead and its goal, and the overhead of a graded run that also runs
    the notebook's showing cells (which the grader skips, measuring the model itself), as the bare run does."""
    text = f"{name:8} {bare:7.1f} {graded:9.1f} {graded / bare:8.2f}x  {where} (score {score:g})"
    goal = GOALS.get(name)
    if goal is not None:
        met = "met" if graded / bare <= goal else "NOT met"
        text = f"{text}; overhead {graded / bare:.2f}x (goal at most {goal}x: {met})"
    return f"{text}; running the two showing cells too, as the bare run does: {alike / bare:.2f}x"


if __name__ == "__main__":
    main()
