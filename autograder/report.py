"""Reports for one student (results.json in Gradescope's schema, feedback.md) and for the batch (grades.csv)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from assignment.points import MAX_POINTS, SECTIONS


@dataclass
class Outcome:
    """Everything graded for one student."""

    student: str
    status: str
    checks: list[dict]
    notes: list[str]
    seconds: float

    @property
    def total(self) -> float:
        return sum(check["score"] for check in self.checks)

    def section_points(self) -> dict[str, float]:
        return {key: sum(c["score"] for c in self.checks if c["section"] == key) for key in SECTIONS}


def _in_section_order(checks: list[dict]) -> list[dict]:
    order = list(SECTIONS)
    return sorted(checks, key=lambda check: order.index(check["section"]))


def results_json(outcome: Outcome) -> dict:
    """Gradescope's autograder results format."""
    return {
        "score": outcome.total,
        "execution_time": round(outcome.seconds, 1),
        "output": f"Run status: {outcome.status}." + "".join(f"\nNote: {note.rstrip('.')}." for note in outcome.notes),
        "tests": [
            {"name": f"{check['title']}: {check['name']}", "score": check["score"], "max_score": check["max_score"],
             "status": "passed" if check["status"] == "passed" else "failed",
             "output": check["output"] or "passed", "visibility": "visible"}
            for check in _in_section_order(outcome.checks)
        ],
    }


def feedback_markdown(outcome: Outcome) -> str:
    """A student-facing summary naming the cause of every lost point."""
    lines = [f"# Feedback for {outcome.student}", "", f"**Score: {outcome.total:g} / {MAX_POINTS}**. Run status: {outcome.status}.", ""]
    lines += [f"- Note: {note.rstrip('.')}." for note in outcome.notes]
    lines += ["", "| Section | Points |", "|---|---|"]
    points = outcome.section_points()
    lines += [f"| {title} | {points[key]:g} / {maximum} |" for key, (title, maximum) in SECTIONS.items()]
    lost = [check for check in _in_section_order(outcome.checks) if check["score"] < check["max_score"]]
    heading = "## Points lost" if lost else "## No points lost" if outcome.checks else "## No checks ran (see the run status)"
    lines += ["", heading, ""]
    for check in lost:
        lines.append(f"- **{check['title']}**, {check['name']} (-{check['max_score'] - check['score']:g}): {check['output'] or check['status']}")
    return "\n".join(lines) + "\n"


def write_student(outcome: Outcome, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results_json(outcome), indent=2))
    (folder / "feedback.md").write_text(feedback_markdown(outcome))


def write_csv(outcomes: list[Outcome], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *SECTIONS, "total", "max", "status"])
        for outcome in sorted(outcomes, key=lambda o: o.student):
            points = outcome.section_points()
            writer.writerow([outcome.student, *(f"{points[k]:g}" for k in SECTIONS), f"{outcome.total:g}", MAX_POINTS, outcome.status])


def table(outcomes: list[Outcome]) -> str:
    """A plain-text table of the batch for the terminal."""
    header = ["student", *SECTIONS, "total", "status"]
    rows = [[o.student, *(f"{o.section_points()[k]:g}" for k in SECTIONS), f"{o.total:g}/{MAX_POINTS}", o.status]
            for o in sorted(outcomes, key=lambda o: o.student)]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)) for row in [header, *rows])
