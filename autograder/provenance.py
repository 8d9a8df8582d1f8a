"""What a batch graded on, from each student's run.json: the profile, what the data was (real, real sample or
synthetic, from the data tool's stamp and tfds's split sizes), the examples graded on, and the IoU threshold with
what it rests on (the profile's calibration), for the batch report's "Data" section."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.feedback import table

RUN_LIMIT = 1 << 20  # bytes of a student's run.json read (the grader's own file)


@dataclass(frozen=True)
class GradedOn:
    """One set of grading settings of a batch (normally there is one) as the page shows it."""

    profile: str
    label: str  # "real", "real sample", "synthetic"
    origin: str  # the data dir and where its data came from
    sizes: str  # examples per split of the dataset
    examples: str  # examples in the profile's splits: what each model was trained and measured on
    threshold: str
    basis: str
    measured: bool  # whether the threshold was measured on data like this


def _run_config(folder: Path) -> dict:
    """The settings a student was graded under (OUT/<student>/run.json), or {}."""
    try:
        with (folder / "run.json").open() as handle:
            config = json.loads(handle.read(RUN_LIMIT))
        return config if isinstance(config, dict) else {}
    except (OSError, ValueError):
        return {}


def _counts(counts: object) -> str:
    if not isinstance(counts, dict) or not counts:
        return "not recorded"
    return ", ".join(f"{split} {count}" for split, count in counts.items())


def _graded_on(config: dict) -> GradedOn:
    data = config.get("data", {})
    threshold = config.get("iou_threshold")
    return GradedOn(
        str(config.get("profile", {}).get("name", "?")),
        str(data.get("label") or data.get("kind", "?")),
        str(data.get("origin", "?")),
        _counts(data.get("sizes")),
        _counts(data.get("examples")),
        f"{threshold:.2f}" if isinstance(threshold, float | int) else "?",
        str(config.get("iou_threshold_basis", "not recorded")),
        config.get("iou_threshold_measured") is True,
    )


def recorded(out: Path, students: list[str]) -> dict[GradedOn, list[str]]:
    """The settings the students of OUT were graded under, with who was graded under each (in order)."""
    found: dict[GradedOn, list[str]] = {}
    for student in students:
        config = _run_config(out / student)
        if config:
            found.setdefault(_graded_on(config), []).append(student)
    return found


def table_html(graded: dict[GradedOn, list[str]], names: Callable[[list[str]], str]) -> str:
    """The settings as a table; `names` links the students (HTML)."""
    rows = []
    for on, students in graded.items():
        flag = "" if on.measured else '<span class="status warn">not measured on this data</span> '
        rows.append(
            f"<tr><td>{html.escape(on.profile)}</td><td><strong>{html.escape(on.label)}</strong><br>"
            f'<span class="muted">{html.escape(on.origin)}</span></td><td>{html.escape(on.sizes)}</td>'
            f"<td>{html.escape(on.examples)}</td><td><strong>{on.threshold}</strong><br>{flag}"
            f'<span class="muted">{html.escape(on.basis)}</span></td><td>{names(students)}</td></tr>'
        )
    head = ["<th>Profile</th>", "<th>Data</th>", "<th>Its splits</th>", "<th>Graded on</th>"]
    head += ["<th>IoU threshold</th>", "<th>Students</th>"]
    return table(head, rows)
