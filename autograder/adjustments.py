"""The instructor's adjustments, OUT/adjustments.csv: a TA's decision (a regrade request, an accepted excuse, a manual
deduction) recorded once and applied to one section's points in every report, on top of the hidden checks.

    student,section,points,note
    alice,training,3,regrade request: the IoU check read a corrupted test image

An outcome keeps the checks' own points and the adjustments its reports show; `batch.merge` sets them from the file
(replacing, never adding, so a row counts once however often it runs), and a section's points stay within 0 and its
maximum. Several rows for one section add up before that bound.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from assignment.points import SECTIONS

FILE = "adjustments.csv"
COLUMNS = ["student", "section", "points", "note"]


class Invalid(ValueError):
    """OUT/adjustments.csv cannot be applied; the message names every bad row and what is valid."""


@dataclass(frozen=True)
class Adjustment:
    """One row of OUT/adjustments.csv: points (negative: a deduction) for a student's section, and why."""

    student: str
    section: str
    points: float
    note: str


def _row(number: int, row: dict[str, str], students: set[str]) -> tuple[Adjustment | None, list[str]]:
    """The typed row, or what is wrong with it."""
    problems = []
    student, section, note = (row.get(name) or "" for name in ("student", "section", "note"))
    if student.strip() not in students:
        problems.append(f"row {number}: no student {student.strip()!r} in OUT")
    if section.strip() not in SECTIONS:
        problems.append(f"row {number}: no section {section.strip()!r}")
    try:
        points = float(row.get("points") or "")
        problems += [] if math.isfinite(points) else [f"row {number}: points {row['points']!r} is not a number"]
    except ValueError:
        points = 0.0
        problems.append(f"row {number}: points {row.get('points')!r} is not a number")
    if problems:
        return None, problems
    return Adjustment(student.strip(), section.strip(), points, note.strip()), []


def read(out: Path, students: set[str]) -> dict[str, list[Adjustment]]:
    """Each student's adjustments in OUT/adjustments.csv (none without the file); Invalid when a row names a student
    not in `students` or a section not in assignment/points.py, or its points are not a number."""
    path = out / FILE
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != COLUMNS:
            raise Invalid(f"{path}: the header must be {','.join(COLUMNS)}, not {','.join(reader.fieldnames or [])}")
        rows = [
            (number, row) for number, row in enumerate(reader, start=2) if any((v or "").strip() for v in row.values())
        ]
    found: dict[str, list[Adjustment]] = {}
    problems = []
    for number, row in rows:
        adjustment, wrong = _row(number, row, students)
        problems += wrong
        if adjustment:
            found.setdefault(adjustment.student, []).append(adjustment)
    if problems:
        raise Invalid(
            f"{path}: {'; '.join(problems)}. The students: {', '.join(sorted(students)) or 'none'}. "
            f"The sections: {', '.join(SECTIONS)}. Nothing was written."
        )
    return found


def changes(points: dict[str, float], adjustments: list[Adjustment]) -> dict[str, float]:
    """What the adjustments change in each section they name, from the checks' `points`, within 0 and its maximum."""
    changed = {}
    for section in dict.fromkeys(a.section for a in adjustments):
        asked = sum(a.points for a in adjustments if a.section == section)
        changed[section] = min(max(points[section] + asked, 0), SECTIONS[section][1]) - points[section]
    return changed


def shown(points: dict[str, float], adjustments: list[Adjustment]) -> list[tuple[Adjustment, str]]:
    """Each adjustment with what to add when the bounds cut its section's change (on the section's last row)."""
    changed = changes(points, adjustments)
    listed = []
    for index, adjustment in enumerate(adjustments):
        section = adjustment.section
        asked = sum(a.points for a in adjustments if a.section == section)
        last = all(a.section != section for a in adjustments[index + 1 :])
        cut = last and changed[section] != asked
        bound = f"the section's points stay within 0 and {SECTIONS[section][1]}: it changes by {changed[section]:+g}"
        listed.append((adjustment, bound if cut else ""))
    return listed
