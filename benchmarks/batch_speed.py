"""Batch throughput: N copies of the solution graded by `make grade` at JOBS=1 and JOBS=2 (sandboxed, probed,
measured, checked, reported) and by `nbgrader autograde` (unsandboxed, the notebook alone) on the same N notebooks,
all at the smoke profile's sizes on the same data. Prints notebooks per minute and the ratios, the CPU seconds
the machine spent per notebook in each, and the most JOBS=2 could reach over nbgrader with every core busy at that
cost. Run it on an idle machine (the CPU time is the whole machine's), and compare ratios, not seconds, across
machines.

    python benchmarks/batch_speed.py [--copies 6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assignment import rundata  # noqa: E402
from assignment.profiles import PROFILES  # noqa: E402
from autograder import run, splits  # noqa: E402

SOLUTION = ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb"
ASSIGNMENT = "tiny_unet"


def _env(data_dir: Path) -> dict[str, str]:
    """The environment both graders run in: the same data, the venv's programs first (nbgrader calls alembic)."""
    return {
        **os.environ,
        "TFDS_DATA_DIR": str(data_dir),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _busy() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system) since it started."""
    fields = Path("/proc/stat").read_text().split(maxsplit=4)[1:4]
    return sum(map(int, fields)) / os.sysconf("SC_CLK_TCK")


def kit(copies: int, jobs: int, data_dir: Path, scratch: Path) -> float:
    """Seconds for `make grade` to grade `copies` copies of the solution at `jobs` workers."""
    folder = scratch / f"kit{jobs}"
    out = scratch / f"out{jobs}"
    folder.mkdir()
    for i in range(copies):
        shutil.copyfile(SOLUTION, folder / f"student{i}.ipynb")
    flags = ["--profile", "smoke", "--out", str(out), "--jobs", str(jobs)]
    command = [sys.executable, "-m", "autograder.grade", str(folder), *flags]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=_env(data_dir), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode or "100/100" not in done.stdout:
        raise SystemExit(f"make grade failed: {done.stdout[-1000:]}{done.stderr[-2000:]}")
    return seconds


def nbgrader(copies: int, data_dir: Path, scratch: Path) -> float:
    """Seconds for `nbgrader autograde` to grade the same copies (the profile's values injected the same way)."""
    course = scratch / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copyfile(SOLUTION, course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.ExecutePreprocessor.timeout = 600\n"
    )
    env = _env(data_dir)
    subprocess.run(
        ["nbgrader", "generate_assignment", ASSIGNMENT, "--force", "--log-level=ERROR"],
        cwd=course,
        env=env,
        check=True,
        capture_output=True,
    )
    parameterized, _ = run.parameterize(nbformat.read(SOLUTION, as_version=4), PROFILES["smoke"].parameters.notebook())
    for i in range(copies):
        folder = course / "submitted" / f"student{i}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(parameterized, folder / f"{ASSIGNMENT}.ipynb")
    started = time.perf_counter()
    subprocess.run(
        ["nbgrader", "autograde", ASSIGNMENT, "--log-level=ERROR"], cwd=course, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    args = parser.parse_args(argv)
    run_data = rundata.resolve(PROFILES["smoke"], dict(os.environ))
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        splits.prepare(PROFILES["smoke"], run_data.path, scratch)  # in the grader's cache before any timed run
        runs = {
            "nbgrader": lambda: nbgrader(args.copies, run_data.path, scratch),
            "JOBS=1": lambda: kit(args.copies, 1, run_data.path, scratch),
            "JOBS=2": lambda: kit(args.copies, 2, run_data.path, scratch),
        }
        seconds, cpu = {}, {}
        for name, timed in runs.items():
            before = _busy()
            seconds[name] = timed()
            cpu[name] = (_busy() - before) / args.copies
    print(line(args.copies, run_data.kind, seconds, cpu, len(os.sched_getaffinity(0))), flush=True)


GOAL_RATE = 1.2  # JOBS=2 grades at least this many times the notebooks a minute of `nbgrader autograde`
GOAL_CPU = 1.45  # a graded notebook costs at most this many times nbgrader's CPU seconds


def line(copies: int, kind: str, seconds: dict[str, float], cpu: dict[str, float], cores: int) -> str:
    """The `batch` line: rates, CPU seconds a notebook, the ratios against their goals, and the ratio all cores busy
    would allow."""
    rate = {name: 60 * copies / value for name, value in seconds.items()}
    ceiling = 60 * cores / cpu["JOBS=2"] / rate["nbgrader"]
    over = rate["JOBS=2"] / rate["nbgrader"]
    costs = cpu["JOBS=2"] / cpu["nbgrader"]
    return (
        f"batch {copies} copies (smoke sizes, {kind} data): "
        + ", ".join(f"{name} {rate[name]:.2f}/min ({seconds[name]:.0f} s, {cpu[name]:.0f} CPU-s each)" for name in rate)
        + f"; JOBS=2 over nbgrader {over:.2f}x ({_goal(over >= GOAL_RATE, f'at least {GOAL_RATE}x')}), JOBS=2 over "
        f"JOBS=1 {rate['JOBS=2'] / rate['JOBS=1']:.2f}x; a notebook's CPU seconds over nbgrader's {costs:.2f}x "
        f"({_goal(costs <= GOAL_CPU, f'at most {GOAL_CPU}x')}); with all {cores} cores busy at {cpu['JOBS=2']:.0f} "
        f"CPU-s a notebook, JOBS=2 could reach at most {ceiling:.2f}x nbgrader"
    )


def _goal(met: bool, goal: str) -> str:
    return f"goal {goal}: {'met' if met else 'NOT met'}"


if __name__ == "__main__":
    main()
