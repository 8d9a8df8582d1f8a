"""Record the solution's training curve for the feedback pages, keyed "<profile>/<data kind>".

    python benchmarks/reference_curves.py OUT/solution [OUT/solution ...]

Each folder is the solution graded by `make grade` (OUT/<student>/ with facts.json and run.json); its loss and
val_loss per epoch go into assignment/reference_curves.json under its profile's name and data kind (e.g.
"smoke/synthetic"), replacing an earlier record for the same key. Feedback pages draw it dashed behind a student's
own curves (autograder.feedback.reference_curve).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.feedback import CURVES
from autograder.measuring.facts import Facts, parse


def curve(folder: Path) -> tuple[str, dict]:
    """The key and the record of one graded solution: its loss, val_loss and IoU, and where they came from."""
    facts = parse(Facts, json.loads((folder / "facts.json").read_text()))
    config = json.loads((folder / "run.json").read_text())
    history = {name: facts.training.history.get(name, []) for name in ("loss", "val_loss")}
    if not all(history.values()):
        raise ValueError(f"{folder} holds no loss and val_loss per epoch: was it the solution, and did it train?")
    key = f"{config['profile']['name']}/{config['data']['kind']}"
    parameters = config["profile"]["parameters"]
    source = (
        f"solution, {parameters['epochs']} epochs at {parameters['img_size']} px on {parameters['train_split']}, "
        f"validated on {parameters['test_split']}"
    )
    truth = facts.training.evaluation.truth
    return key, {**history, "iou": truth.iou if truth else None, "source": source}


def record(folders: list[Path], path: Path = CURVES) -> list[str]:
    """Add the curves of `folders` to `path` (kept sorted by key); return their keys."""
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    keys = []
    for folder in folders:
        key, values = curve(folder)
        recorded[key] = values
        keys.append(key)
    path.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="OUT/<student>/ of the graded solution")
    args = parser.parse_args(argv)
    for key in record(args.folders):
        print(f"recorded {key} in {CURVES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
