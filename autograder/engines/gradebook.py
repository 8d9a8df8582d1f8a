"""nbgrader's gradebook: record each student's points against the notebook's graded cells (`make grade GRADEBOOK=...`).

Each graded (self-check) cell of the notebook gets the points of the hidden checks it carries (assignment/points.py
CELLS: the checks of its section, split by name where a section has several cells). `nbgrader export` and formgrader
then show the autograder's scores. Checks still pending (e.g. a GPU check graded without one) leave their cell
marked for manual grading. An instructor's adjustment (OUT/adjustments.csv) changes the cells of its section, in the
notebook's order, each within 0 and its points, so the gradebook's total is grades.csv's.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from assignment import points
from assignment.points import SELF_CHECKS
from autograder.results import CheckResult, CheckStatus, Outcome

ASSIGNMENT = "tiny_unet"
NOTEBOOK = "tiny_unet"

if TYPE_CHECKING:  # nbgrader is imported where a gradebook is written: its package import costs about 1 CPU-s
    from nbgrader.api import Gradebook


@dataclass(frozen=True)
class CellScore:
    """One graded cell of one submission."""

    score: float
    max_score: float  # of the checks mapped to it; equals the cell's points when every check ran
    pending: bool


def cell_of(check: CheckResult) -> str:
    """The graded cell (nbgrader grade_id) that a hidden check's points go to."""
    return points.cell_of(check.section, check.id)


def cell_scores(outcome: Outcome) -> dict[str, CellScore]:
    """Points per graded cell, with the instructor's adjustments; a cell none of whose checks ran scores 0."""
    scores = dict.fromkeys(SELF_CHECKS, CellScore(0.0, 0.0, False))
    for check in outcome.checks:
        cell = cell_of(check)
        was = scores[cell]
        scores[cell] = CellScore(
            was.score + check.score, was.max_score + check.max_score, was.pending or check.status is CheckStatus.PENDING
        )
    for section, change in outcome.adjusted().items():
        for cell, (of, worth) in SELF_CHECKS.items():
            if of == section:
                moved = min(change, worth - scores[cell].score) if change > 0 else max(change, -scores[cell].score)
                scores[cell] = replace(scores[cell], score=scores[cell].score + moved)
                change -= moved
    return scores


def _ensure_assignment(gradebook: Gradebook) -> None:
    """The assignment, its notebook and its graded cells, created where missing (as `nbgrader generate_assignment`
    would)."""
    from nbgrader.api import MissingEntry

    gradebook.update_or_create_assignment(ASSIGNMENT)
    try:
        gradebook.find_notebook(NOTEBOOK, ASSIGNMENT)
    except MissingEntry:
        gradebook.add_notebook(NOTEBOOK, ASSIGNMENT)
    for cell, (_, worth) in SELF_CHECKS.items():
        try:
            found = gradebook.find_grade_cell(cell, NOTEBOOK, ASSIGNMENT)
        except MissingEntry:
            gradebook.add_grade_cell(cell, NOTEBOOK, ASSIGNMENT, max_score=worth, cell_type="code")
            continue
        if found.max_score != worth:
            raise ValueError(
                f"the gradebook's cell {cell} is worth {found.max_score:g} points, the notebook's {worth}: "
                "regenerate the assignment (make release) before recording"
            )


def record(outcomes: list[Outcome], path: Path) -> None:
    """Record every outcome in the sqlite gradebook at `path` (created if missing), adding students where missing."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    if shutil.which("alembic") is None:  # nbgrader runs `alembic`, installed beside this Python, to create a gradebook
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{path.resolve()}") as gradebook:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own add_submission triggers these
        _ensure_assignment(gradebook)
        for outcome in outcomes:
            gradebook.update_or_create_student(outcome.student)
            gradebook.update_or_create_submission(ASSIGNMENT, outcome.student)
            for cell, scored in cell_scores(outcome).items():
                grade = gradebook.find_grade(cell, NOTEBOOK, ASSIGNMENT, outcome.student)
                grade.auto_score = scored.score
                grade.needs_manual_grade = scored.pending
            gradebook.db.commit()
