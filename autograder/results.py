"""Typed results of grading one submission; words for them are chosen only in `autograder.report`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from assignment.points import SECTIONS
from autograder.adjustments import Adjustment, changes

NOTE_LIMIT = 300  # characters of one student-visible note


def clean(text: str) -> str:
    """Text from a hostile source made safe to write anywhere: valid UTF-8, no control characters but newlines and
    tabs."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def replace_file(path: Path, text: str) -> None:
    """Write `path` whole or not at all (through a file of this process's own, renamed over it): a batch killed part
    way, or two processes writing it at once, never leave it torn."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text, errors="backslashreplace")
    partial.replace(path)


def cap(text: str, limit: int = NOTE_LIMIT) -> str:
    """`text` cleaned, on one line, at most `limit` characters: a longer one ends at its last whole sentence that
    fits, else at a word, with an ellipsis (a code span cut through is closed after it)."""
    text = " ".join(clean(text).split())
    if len(text) <= limit:
        return text
    room = limit - 2  # for the ellipsis, and a backtick that closes a span or a space before it
    cut = text[:room]
    sentence = max(cut.rfind(f"{mark} ") for mark in ".!?") + 1
    space = cut.rfind(" ")
    if sentence > room // 2:
        cut = cut[:sentence]
    elif space > room // 2:
        cut = cut[:space].rstrip(",;:")
    if cut.count("`") % 2:
        return cut + "…`"
    return cut + (" …" if sentence > room // 2 else "…")


def literal(text: str, limit: int = NOTE_LIMIT) -> str:
    """Text that came from student code, as a markdown code span (so it cannot pose as the grader's words)."""
    return "`" + cap(str(text).replace("`", "'"), limit) + "`"


class CheckStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    PENDING = "pending"  # could not run here (e.g. needs a GPU): neither earned nor lost


@dataclass(frozen=True)
class CheckResult:
    """One hidden check: its points, its verdict, and what it measured."""

    id: str
    section: str
    name: str
    max_score: float
    score: float
    status: CheckStatus
    message: str = ""  # student-visible, capped
    values: dict[str, float] = field(default_factory=dict)  # numbers behind the verdict, e.g. the IoU
    diagnostic: str = ""  # instructor-only
    # A failure this check shares with others: the precondition (a fixture) that failed for all of them, such as a
    # function that could not be called or no trained model. The reports state it once (feedback.stated_once).
    cause: str = ""


class FailureKind(str, Enum):
    ERROR = "error"
    TIMEOUT = "timeout"
    KERNEL_DIED = "kernel died"
    NOT_RUN = "not run"  # the total time limit was reached before the cell


@dataclass(frozen=True)
class CellFailure:
    """A notebook cell that did not finish cleanly (autograder/cells.py says where it is for the student)."""

    index: int  # in the notebook as the grader ran it, from 0
    kind: FailureKind
    detail: str
    first_line: str = ""  # its title: a self-check's `#@title` text, else its first line
    number: int = 0  # its position in the submitted notebook, from 1 (0: not known, then index + 1)
    heading: str = ""  # the markdown heading it sits under (cells without a title)
    grade_id: str = ""  # the nbgrader grade_id of a locked cell that still holds the release's code (a self-check, ...)

    @property
    def position(self) -> int:
        """The cell's number as the student counts the cells of the notebook they submitted."""
        return self.number or self.index + 1


@dataclass(frozen=True)
class Substitution:
    """A graded function the grader put its own version of into a second run of the notebook (autograder/carry.py)."""

    function: str
    why: str  # what of the student's failed, in words for the student
    after_cell: int  # the student's cell (its number in their notebook) the grader's version went after
    trained: bool  # whether the second run trained a model (then the training section is judged on it)


@dataclass
class Outcome:
    """Everything graded for one student: what its run left (all but the judging fields), what judging made of it
    (`checks`, `judge_problem`, `judged`), and the instructor's adjustments its reports show."""

    student: str
    checks: list[CheckResult] = field(default_factory=list)
    failures: list[CellFailure] = field(default_factory=list)
    problem: str = ""  # why the notebook was not graded normally (refused, invalid, sandbox limit, grader error)
    notes: list[str] = field(default_factory=list)  # student-visible
    diagnostics: list[str] = field(default_factory=list)  # instructor-only
    sandbox: str = ""
    seconds: float = 0.0
    key: str = ""  # what it was run from (notebook, profile, data, sandbox), so an unchanged submission is kept
    edited: list[str] = field(default_factory=list)  # locked cells the student edited or deleted (instructor-only)
    flags: list[str] = field(default_factory=list)  # what the instructor may want to look at; never changes points
    measuring: str = ""  # the version of the code that ran and measured it (batch.measuring_version)
    measured: bool = False  # its facts.json and run.json were written and judged: re-judging runs the checks on them
    judged: str = ""  # the version of the checks, points and reports behind `checks` (batch.judging_version)
    judge_problem: str = ""  # why the hidden checks did not run (instructor-only); the status says grader error
    adjustments: list[Adjustment] = field(default_factory=list)  # the instructor's, from OUT/adjustments.csv
    carried: Substitution | None = None  # the second run the training section was judged on, if there was one

    @property
    def second_run(self) -> str:
        """The function the grader put into the second run the training section was judged on, if there was one."""
        return self.carried.function if self.carried and self.carried.trained else ""

    @property
    def total(self) -> float:
        return sum(check.score for check in self.checks) + sum(self.adjusted().values())

    @property
    def grader_failed(self) -> bool:
        """Whether the grader, not the notebook, is why it was not graded normally (a batch grades it again)."""
        return self.problem.startswith("grader error")

    @property
    def pending(self) -> list[CheckResult]:
        return [check for check in self.checks if check.status is CheckStatus.PENDING]

    def checked_points(self) -> dict[str, float]:
        """Each section's points as the hidden checks gave them, before any adjustment."""
        return {key: sum(c.score for c in self.checks if c.section == key) for key in SECTIONS}

    def adjusted(self) -> dict[str, float]:
        """What the instructor's adjustments change in each section they name."""
        return changes(self.checked_points(), self.adjustments) if self.adjustments else {}

    def section_points(self) -> dict[str, float]:
        """Each section's points, with the instructor's adjustments (within 0 and the section's maximum)."""
        changed = self.adjusted()
        return {key: points + changed.get(key, 0.0) for key, points in self.checked_points().items()}

    def save(self, path: Path) -> None:
        """Written whole or not at all: a batch killed part way never leaves an outcome that looks complete."""
        replace_file(path, json.dumps(asdict(self), indent=1, default=lambda value: value.value))

    @classmethod
    def load(cls, path: Path) -> Outcome:
        """The outcome saved at `path` (the grader's own file); ValueError when it is not one."""
        try:
            raw = json.loads(path.read_text())
            raw["checks"] = [CheckResult(**{**c, "status": CheckStatus(c["status"])}) for c in raw["checks"]]
            raw["failures"] = [CellFailure(**{**f, "kind": FailureKind(f["kind"])}) for f in raw["failures"]]
            raw["adjustments"] = [Adjustment(**a) for a in raw.get("adjustments", [])]
            raw["carried"] = Substitution(**raw["carried"]) if raw.get("carried") else None
            return cls(**raw)
        except (OSError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not an outcome the grader wrote: {error}") from error
