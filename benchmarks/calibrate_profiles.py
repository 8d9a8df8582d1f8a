"""Measure the solution's foreground IoU under a profile for several seeds (the basis of each threshold).

python benchmarks/calibrate_profiles.py smoke ci --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment import data
from assignment.profiles import PROFILES
from autograder import backends, pipeline, splits
from autograder.submission import Submission

SOLUTION = next((Path(__file__).resolve().parent.parent / "solution").glob("*/*.ipynb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", choices=sorted(PROFILES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    backend = backends.detect()
    for name in args.profiles:
        profile = PROFILES[name]
        run_data = data.resolve(profile.wants_sample, dict(os.environ))
        values = []
        for seed in args.seeds:
            seeded = replace(profile, parameters=replace(profile.parameters, seed=seed))
            with tempfile.TemporaryDirectory() as out:
                reference = splits.prepare(profile, run_data.path, Path(out))
                job = pipeline.Job(
                    seeded,
                    run_data,
                    backend,
                    Path(out),
                    reference.examples,
                    reference=reference.splits,
                    descriptors=reference.descriptors,
                )
                outcome = pipeline.grade(Submission(f"seed{seed}", SOLUTION), job)
            iou = next(
                (c.values["foreground_iou"] for c in outcome.checks if "foreground_iou" in c.values), float("nan")
            )
            values.append(iou)
            print(
                f"{name} seed {seed}: foreground IoU {iou:.3f}, score {outcome.total:g}, "
                f"{outcome.seconds:.0f} s ({run_data.origin})",
                flush=True,
            )
        summary = f"IoU min {min(values):.3f}, mean {sum(values) / len(values):.3f}, max {max(values):.3f}"
        print(f"{name} on {run_data.kind} data: {summary}; threshold {profile.iou_thresholds[run_data.kind]}")


if __name__ == "__main__":
    main()
