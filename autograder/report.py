"""Reports: results.json (Gradescope's format), feedback.md and grader.log per student; grades.csv per batch.

Students see results.json's visible parts and feedback.md: the score per section, the cause of every
lost point, short notes. Tracebacks, grader errors and sandbox diagnostics go only to grader.log and
to a hidden test in results.json.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from assignment.points import MAX_POINTS, SECTIONS
from autograder.results import CellFailure, CheckResult, CheckStatus, FailureKind, Outcome, cap, clean, literal

DIAGNOSTICS_LIMIT = 20_000  # characters of instructor diagnostics in results.json


def describe_failure(failure: CellFailure) -> str:
    """A failed cell in one line, the student's text as code spans."""
    where = f"cell {failure.index + 1}" + (f" {literal(failure.first_line, 60)}" if failure.first_line else "")
    detail = failure.detail.strip().splitlines()[0] if failure.detail.strip() else failure.kind.value
    return f"{where}: {literal(detail, 200)}"


def status(outcome: Outcome) -> str:
    """The run status in a few words, e.g. "ok", "error in cell 12, 14", "refused: ..."."""
    words = outcome.problem
    if not words:
        words = "ok"
        for kind in (FailureKind.KERNEL_DIED, FailureKind.TIMEOUT, FailureKind.ERROR):
            cells = [str(f.index + 1) for f in outcome.failures if f.kind is kind]
            if cells:
                more = f" and {len(cells) - 4} more" if len(cells) > 5 else ""
                words = f"{kind.value} in cell {', '.join(cells[:4] if more else cells)}{more}"
                break
        else:
            if any(f.kind is FailureKind.NOT_RUN for f in outcome.failures):
                words = "total time limit reached"
    if outcome.pending:
        words += f"; partial: {sum(c.max_score for c in outcome.pending):g} points pending"
    return words


def student_notes(outcome: Outcome) -> list[str]:
    """The notes a student sees: the grader's notes and every failed cell."""
    return [cap(n) for n in outcome.notes] + [describe_failure(f) for f in outcome.failures]


def _in_section_order(checks: list[CheckResult]) -> list[CheckResult]:
    order = list(SECTIONS)
    return sorted(checks, key=lambda check: order.index(check.section))


def _test_entry(check: CheckResult, number: str, visibility: str) -> dict:
    title = SECTIONS[check.section][0]
    if check.status is CheckStatus.PENDING:
        return {"name": f"{title}: {check.name} (pending)", "number": number, "score": 0, "max_score": 0,
                "output": f"Not graded here, neither earned nor lost: {check.message}", "visibility": visibility}
    output = check.message or "passed"
    if check.values:
        output += " (" + ", ".join(f"{key}: {value:.4g}" for key, value in check.values.items()) + ")"
    return {"name": f"{title}: {check.name}", "number": number, "score": check.score, "max_score": check.max_score,
            "status": check.status.value, "output": output, "visibility": visibility}


def results_json(outcome: Outcome, visibility: str = "visible") -> dict:
    """Gradescope's autograder results format."""
    counters = dict.fromkeys(SECTIONS, 0)
    tests = []
    for check in _in_section_order(outcome.checks):
        counters[check.section] += 1
        tests.append(_test_entry(check, f"{list(SECTIONS).index(check.section) + 1}.{counters[check.section]}", visibility))
    diagnostics = "\n\n".join([f"sandbox: {outcome.sandbox or 'none (the notebook was not run)'}", *outcome.diagnostics])
    tests.append({"name": "Grader diagnostics (instructor only)", "score": 0, "max_score": 0, "output": diagnostics[-DIAGNOSTICS_LIMIT:],
                  "visibility": "hidden"})
    result = {
        "score": outcome.total, "execution_time": round(outcome.seconds, 1),
        "output": "\n".join([f"Run status: {status(outcome)}.", *(f"Note: {note.rstrip('.')}." for note in student_notes(outcome))]),
        "output_format": "text", "stdout_visibility": "hidden", "tests": tests,
        "extra_data": {"sandbox": outcome.sandbox, "partial": bool(outcome.pending)},
    }
    iou = next((c.values["foreground_iou"] for c in outcome.checks if "foreground_iou" in c.values), None)
    if iou is not None:
        result["leaderboard"] = [{"name": "Foreground IoU", "value": round(iou, 4)}]
    return result


def feedback_markdown(outcome: Outcome) -> str:
    """A student-facing summary naming the cause of every lost point."""
    lines = [f"# Feedback for {outcome.student}", "", f"**Score: {outcome.total:g} / {MAX_POINTS}**. Run status: {status(outcome)}.", ""]
    lines += [f"- Note: {note.rstrip('.')}." for note in student_notes(outcome)]
    lines += ["", "| Section | Points |", "|---|---|"]
    points = outcome.section_points()
    lines += [f"| {title} | {points[key]:g} / {maximum} |" for key, (title, maximum) in SECTIONS.items()]
    ordered = _in_section_order(outcome.checks)
    lost = [c for c in ordered if c.status is CheckStatus.FAILED]
    heading = "## Points lost" if lost else "## No points lost" if outcome.checks else "## No checks ran (see the run status)"
    lines += ["", heading, ""]
    lines += [f"- **{SECTIONS[c.section][0]}**, {c.name} (-{c.max_score:g}): {c.message}" for c in lost]
    pending = [c for c in ordered if c.status is CheckStatus.PENDING]
    if pending:
        lines += ["", "## Pending (not graded here, neither earned nor lost)", ""]
        lines += [f"- **{SECTIONS[c.section][0]}**, {c.name} ({c.max_score:g} points): {c.message}" for c in pending]
    return "\n".join(lines) + "\n"


def grader_log(outcome: Outcome) -> str:
    """Everything the instructor may need: status, sandbox, diagnostics, check details."""
    lines = [f"student: {outcome.student}", f"status: {status(outcome)}", f"sandbox: {outcome.sandbox}", f"seconds: {outcome.seconds:.1f}", ""]
    lines += outcome.diagnostics
    lines += [f"check {c.id}: {c.status.value} {c.score:g}/{c.max_score:g} {c.values or ''} {c.diagnostic}".rstrip() for c in outcome.checks]
    return clean("\n".join(lines)) + "\n"


def write_student(outcome: Outcome, folder: Path, visibility: str = "visible") -> None:
    """results.json, feedback.md, grader.log and outcome.json in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {"results.json": json.dumps(results_json(outcome, visibility), indent=2), "feedback.md": feedback_markdown(outcome),
             "grader.log": grader_log(outcome)}
    for name, text in texts.items():
        (folder / name).write_text(text, errors="backslashreplace")
    outcome.save(folder / "outcome.json")


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return f"'{text}" if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def write_csv(outcomes: list[Outcome], path: Path) -> None:
    """grades.csv: one row per student, points per section, total, max, status."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *SECTIONS, "total", "max", "status"])
        for outcome in sorted(outcomes, key=lambda o: o.student):
            points = outcome.section_points()
            writer.writerow([_cell(outcome.student), *(f"{points[k]:g}" for k in SECTIONS), f"{outcome.total:g}", MAX_POINTS, _cell(status(outcome))])


def table(outcomes: list[Outcome]) -> str:
    """A plain-text table of the batch for the terminal."""
    header = ["student", *SECTIONS, "total", "status"]
    rows = [[o.student, *(f"{o.section_points()[k]:g}" for k in SECTIONS), f"{o.total:g}/{MAX_POINTS}", status(o)]
            for o in sorted(outcomes, key=lambda o: o.student)]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip() for row in [header, *rows])
