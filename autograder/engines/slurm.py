"""Slurm: an array job with one task per submission, and a merge job after it (`make slurm`).

    python -m autograder.engines.slurm SUBMISSIONS --profile P --out OUT [--partition P] [--account A]
        [--gpus-per-task 1] [--cpus-per-task 2] [--max-parallel N] [--only A,B] [--gradebook DB] [--submit]

Writes OUT/slurm/grade.sbatch (task i grades the i-th student, sorted, into OUT/<student>/; it also runs
outside Slurm as `SLURM_ARRAY_TASK_ID=i bash OUT/slurm/grade.sbatch`) and OUT/slurm/merge.sbatch
(OUT/grades.csv as `make grade` writes it). The data is resolved once, here, so no task prepares it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from assignment import rundata
from assignment.data import DataError
from assignment.profiles import PROFILES, Profile
from autograder import backends, batch
from autograder.submission import BATCH_FILES, discover

KIT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
MARGIN_SECONDS = 900  # start-up, data and the merge's wait on top of the submission's own deadline


@dataclass(frozen=True)
class Options:
    """How the array is scheduled and how each task grades."""

    partition: str = ""
    account: str = ""
    gpus_per_task: int = 1
    cpus_per_task: int = 2
    max_parallel: int | None = None
    grade_flags: tuple[str, ...] = ()  # e.g. ("--sandbox", "auto")
    gradebook: Path | None = None


FOLDER = "slurm"  # OUT/slurm/: the scripts and logs (a student with this id is graded as slurm-2)


def time_limit(profile: Profile) -> str:
    """The submission's deadline (the notebook's total limit and measuring's) and a margin, as Slurm's H:MM:SS."""
    seconds = profile.deadline + MARGIN_SECONDS
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def array_spec(indices: list[int], max_parallel: int | None) -> str:
    """`0-41%8` for a contiguous range, `3,7` for chosen tasks."""
    contiguous = indices == list(range(indices[0], indices[-1] + 1))
    spec = f"{indices[0]}-{indices[-1]}" if contiguous and len(indices) > 1 else ",".join(map(str, indices))
    return spec + (f"%{max_parallel}" if max_parallel else "")


def _render(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z]+@", text)
    if left:
        raise ValueError(f"{template}: unfilled {left}")
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def write(
    submissions: Path, profile: Profile, out: Path, options: Options, only: list[str] | None = None
) -> tuple[Path, Path, rundata.RunData]:
    """Write OUT/slurm/grade.sbatch and merge.sbatch for every submission (or the `only` students); return both
    paths and the data the tasks will grade on (DataError when the profile refuses it)."""
    found = discover(submissions, BATCH_FILES | {FOLDER})
    students = [s.student for s in found]
    if not students:
        raise FileNotFoundError(f"no .ipynb files found in {submissions}")
    unknown = sorted(set(only or []) - set(students))
    if unknown:
        raise FileNotFoundError(f"no submission for {', '.join(unknown)} in {submissions}")
    indices = [i for i, student in enumerate(students) if not only or student in only]
    run_data = rundata.resolve(profile, dict(os.environ))
    folder = out.resolve() / FOLDER
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    batch.write_manifest(out.resolve(), found, submissions.resolve())  # the merge gives a row to each, graded or not
    extra = [f"#SBATCH --partition={options.partition}"] * bool(options.partition) + [
        f"#SBATCH --account={options.account}"
    ] * bool(options.account)
    gres = [f"#SBATCH --gres=gpu:{options.gpus_per_task}"] if profile.needs_gpu else []
    common = {
        "KIT": shlex.quote(str(KIT)),
        "PYTHON": shlex.quote(sys.executable),
        "OUT": shlex.quote(str(out.resolve())),
        "LOGS": str(folder / "logs"),
    }
    grade = folder / "grade.sbatch"
    grade.write_text(
        _render(
            "grade.sbatch",
            {
                **common,
                "SCRIPT": str(grade),
                "ARRAY": array_spec(indices, options.max_parallel),
                "TIME": time_limit(profile),
                # the submission's sandboxes and its worker
                "MEM": f"{profile.limits.memory_mib + profile.limits.grader_mib}M",
                "CPUS": str(options.cpus_per_task),
                "EXTRA": "\n".join(extra + gres),
                "STUDENTS": " ".join(map(shlex.quote, students)),
                "DATA": shlex.quote(str(run_data.path)),
                "SUBMISSIONS": shlex.quote(str(submissions.resolve())),
                "PROFILE": profile.name,
                "FLAGS": shlex.join(options.grade_flags),
            },
        )
    )
    merge = folder / "merge.sbatch"
    merge.write_text(
        _render(
            "merge.sbatch",
            {
                **common,
                "EXTRA": "\n".join(extra),
                "GRADEBOOK": shlex.join(["--gradebook", str(options.gradebook.resolve())]) if options.gradebook else "",
            },
        )
    )
    return grade, merge, run_data


def _array_of(script: Path) -> str:
    """The --array directive's value in a written grade.sbatch."""
    return next(line for line in script.read_text().splitlines() if "--array=" in line).split("=")[1]


def submit(grade: Path, merge: Path) -> tuple[str, str]:
    """sbatch the array, then the merge with `afterany` on it; return both job ids."""

    def sbatch(*args: str) -> str:
        done = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"sbatch {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip().split(";")[0]

    array = sbatch(str(grade))
    return array, sbatch(f"--dependency=afterany:{array}", str(merge))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--profile", default="full", choices=sorted(PROFILES))
    parser.add_argument("--out", type=Path, default=Path("grades"))
    parser.add_argument("--partition", default="")
    parser.add_argument("--account", default="")
    parser.add_argument("--gpus-per-task", type=int, default=1, help="GPUs per task (profiles that need a GPU)")
    parser.add_argument("--cpus-per-task", type=int, default=2)
    parser.add_argument("--max-parallel", type=int, help="at most this many tasks at once (the array's %%N)")
    parser.add_argument("--only", help="comma-separated students: rerun these tasks alone")
    parser.add_argument(
        "--gradebook", type=Path, help="the merge job also records the points in this nbgrader gradebook"
    )
    parser.add_argument("--sandbox", default="auto", choices=backends.choices())
    parser.add_argument(
        "--unsandboxed", action="store_true", help="tasks run student code without a sandbox (reports say so)"
    )
    parser.add_argument("--submit", action="store_true", help="sbatch both scripts and print the job ids")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    flags = ("--sandbox", args.sandbox, *(["--unsandboxed"] if args.unsandboxed else []))
    options = Options(
        args.partition,
        args.account,
        args.gpus_per_task,
        args.cpus_per_task,
        args.max_parallel or None,
        flags,
        args.gradebook,
    )
    only = [name for name in (args.only or "").split(",") if name] or None
    profile = PROFILES[args.profile]
    try:
        grade, merge, run_data = write(args.submissions, profile, args.out, options, only)
    except (FileNotFoundError, DataError) as error:
        print(f"make slurm: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {grade} ({_array_of(grade)}) and {merge}")
    basis, _ = profile.threshold_basis(run_data.label)
    print(f"tasks grade on: {run_data.describe()}; IoU threshold {profile.iou_thresholds[run_data.kind]:.2f}, {basis}")
    if not args.submit:
        print(f"submit with: jobid=$(sbatch --parsable {grade}) && sbatch --dependency=afterany:$jobid {merge}")
        return 0
    try:
        array, merged = submit(grade, merge)
    except (RuntimeError, FileNotFoundError) as error:
        print(f"make slurm: error: {error}", file=sys.stderr)
        return 1
    print(f"submitted: array job {array}, merge job {merged} (afterany:{array})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
