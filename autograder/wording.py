"""What the reports say of a run in words for the student, beside the scores: a failed cell as they find it, how the
run went, a cause several checks share (stated once), and a second run the grader made (autograder/carry.py)."""

from __future__ import annotations

from dataclasses import replace

from assignment.points import SECTIONS, SELF_CHECKS
from autograder.results import CellFailure, CheckResult, CheckStatus, FailureKind, Substitution, literal


def describe_failure(failure: CellFailure) -> str:
    """A failed cell in one line, as the student finds it: its number in their notebook, its title, the heading it
    sits under; the student's text as code spans."""
    where = f"cell {failure.position}" + (f" {literal(failure.first_line, 60)}" if failure.first_line else "")
    where += f" (under {literal(failure.heading, 60)})" if failure.heading else ""
    detail = failure.detail.strip().splitlines()[0] if failure.detail.strip() else failure.kind.value
    return f"{where}: {literal(detail, 200)}"


def run(failures: list[CellFailure]) -> str:
    """How the run went: "ok" when it ran to its end and no cell but the release's self-checks raised (they are
    named), else the first kind of failure with its cells (the first by its title too)."""
    self_checks = [f for f in failures if f.kind is FailureKind.ERROR and f.grade_id in SELF_CHECKS]
    others = [f for f in failures if f not in self_checks]
    for kind in (FailureKind.KERNEL_DIED, FailureKind.TIMEOUT, FailureKind.ERROR):
        found = [f for f in others if f.kind is kind]
        if found:
            cells = [str(f.position) for f in found]
            cells[0] += f" {literal(found[0].first_line, 40)}" if found[0].first_line else ""
            more = f" and {len(cells) - 4} more" if len(cells) > 5 else ""
            return f"{kind.value} in cell {', '.join(cells[:4] if more else cells)}{more}"
    if any(f.kind is FailureKind.NOT_RUN for f in others):
        return "total time limit reached"
    if self_checks:
        return f"ok (self-checks failed: {', '.join(dict.fromkeys(f.grade_id for f in self_checks))})"
    return "ok"


def carried_note(carried: Substitution) -> str:
    """What the grader put into a second run of the notebook, and why, in words for the student."""
    own = f"its own `{carried.function}`"
    why = carried.why[:1].upper() + carried.why[1:]
    if not carried.trained:
        return (
            f"{why}, and your notebook trained no model. The grader ran it again with {own} after your "
            f"cell {carried.after_cell}, and it trained no model either: the training section is judged on your run."
        )
    return (
        f"{why}, and your notebook trained no model. To judge your training on its own, the grader ran your "
        f"notebook again with {own} after your cell {carried.after_cell}, and judged the training section on that "
        f"run. The grader's `{carried.function}` earns no points: its own section is judged on yours."
    )


def stated_once(checks: list[CheckResult]) -> list[CheckResult]:
    """`checks` in section order, where a check that failed (or is pending) for a cause an earlier one states (a
    precondition several checks share: a function that could not be called, no trained model) only points to it."""
    first: dict[tuple[CheckStatus, str], CheckResult] = {}
    shown = []
    for check in sorted(checks, key=lambda c: list(SECTIONS).index(c.section)):
        if check.cause and check.status is not CheckStatus.PASSED:
            stated = first.setdefault((check.status, check.cause), check)
            check = check if stated is check else replace(check, message=f'see "{stated.name}" above')
        shown.append(check)
    return shown
