"""Measure the solution's foreground IoU under a profile for several seeds (the basis of each threshold).

python benchmarks/calibrate_profiles.py smoke ci --seeds 1 2 3
python benchmarks/calibrate_profiles.py full --seeds 1 2 3      (on a GPU machine, with the real dataset prepared)

Each seed grades the solution as `make grade` does, on the data the profile resolves to (TFDS_DATA_DIR or data/tfds);
the last line gives the IoUs as the profile's `calibration` entry for that data in assignment/profiles.py.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment import rundata
from assignment.data import DataError
from assignment.profiles import PROFILES, Profile
from autograder import backends, pipeline, splits
from autograder.submission import Submission

SOLUTION = next((Path(__file__).resolve().parent.parent / "solution").glob("*/*.ipynb"))


def gpu_problem(profile: Profile) -> str:
    """Why `profile` cannot be calibrated here ("" when it can): a GPU profile's IoU stays pending without a GPU."""
    if not profile.needs_gpu:
        return ""
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the {profile.name} profile measures its IoU on a GPU, and nvidia-smi cannot run here: {error}"
    if listed.returncode or "GPU" not in listed.stdout:
        return f"the {profile.name} profile measures its IoU on a GPU, and nvidia-smi lists none here"
    return ""


def calibrate(profile: Profile, seeds: list[int]) -> int:
    """Grade the solution once per seed; print each IoU and the calibration entry."""
    run_data = rundata.resolve(profile, dict(os.environ))
    print(f"{profile.name}: data {run_data.describe()}", flush=True)
    backend = backends.detect()
    values = []
    for seed in seeds:
        seeded = replace(profile, parameters=replace(profile.parameters, seed=seed))
        with tempfile.TemporaryDirectory() as out:
            reference = splits.prepare(profile, run_data.path, Path(out))
            job = pipeline.Job.on(seeded, run_data, backend, Path(out), reference)
            outcome = pipeline.grade(Submission(f"seed{seed}", SOLUTION), job)
        iou = next((c.values["foreground_iou"] for c in outcome.checks if "foreground_iou" in c.values), math.nan)
        values.append(iou)
        pending = "; ".join(c.message for c in outcome.pending)
        print(
            f"{profile.name} seed {seed}: foreground IoU {iou:.3f}, score {outcome.total:g}, {outcome.seconds:.0f} s"
            + (f" (pending: {pending})" if pending else ""),
            flush=True,
        )
    if any(math.isnan(v) for v in values):
        print(f"{profile.name}: a run measured no IoU (see above); nothing to record", file=sys.stderr)
        return 1
    shown = " / ".join(f"{v:.3f}" for v in (min(values), sum(values) / len(values), max(values)))
    seeds_shown = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else str(seeds)[1:-1]
    print(
        f"{profile.name} on {run_data.label} data: IoU {shown} (min / mean / max); threshold "
        f"{profile.iou_thresholds[run_data.kind]}"
    )
    print(
        f'calibration entry: "{run_data.label}": "solution on {run_data.what()}, seeds '
        f'{seeds_shown}: {shown} (min / mean / max)"'
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", choices=sorted(PROFILES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    for name in args.profiles:
        problem = gpu_problem(PROFILES[name])
        if problem:
            print(f"calibrate: error: {problem}; run this on a GPU node (README: Customising)", file=sys.stderr)
            return 2
    for name in args.profiles:
        try:
            if calibrate(PROFILES[name], args.seeds):
                return 1
        except DataError as error:
            print(f"calibrate: error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
