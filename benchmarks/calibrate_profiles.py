"""Measure the solution's foreground IoU under a profile for several seeds (the basis of each threshold).

    python benchmarks/calibrate_profiles.py smoke ci --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment.profiles import PROFILES, resolve_data
from autograder.grade import grade_one
from autograder.submission import Submission

SOLUTION = next((Path(__file__).resolve().parent.parent / "solution").glob("*/*.ipynb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", choices=sorted(PROFILES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    for name in args.profiles:
        profile = PROFILES[name]
        data = resolve_data(profile, dict(os.environ))
        values = []
        for seed in args.seeds:
            seeded = replace(profile, parameters={**profile.parameters, "SEED": seed})
            with tempfile.TemporaryDirectory() as out:
                outcome = grade_one(Submission(f"seed{seed}", SOLUTION), seeded, Path(out), data)
            iou_check = next((c for c in outcome.checks if c["id"] == "test_final_foreground_iou"), {"output": ""})
            found = re.search(r"foreground IoU: ([0-9.]+)", iou_check["output"]) or re.search(r"IoU on the test split is ([0-9.]+)", iou_check["output"])
            iou = float(found.group(1)) if found else float("nan")
            values.append(iou)
            print(f"{name} seed {seed}: foreground IoU {iou:.3f}, score {outcome.total:g}, run {outcome.seconds:.0f} s ({data.origin})", flush=True)
        summary = f"IoU min {min(values):.3f}, mean {sum(values) / len(values):.3f}, max {max(values):.3f}"
        print(f"{name} on {data.kind} data: {summary}; threshold {profile.iou_thresholds[data.kind]}")


if __name__ == "__main__":
    main()
