"""Cascading mistakes for the slow batch: one mistake whose effects reach later sections, graded for real.

Each case is the solution with one cell changed (as tests/mutants.py makes mistakes) and a check of the batch's OUT:
the mistake is charged in its own section only (every other section keeps its points: error carried forward,
autograder/carry.py), the run status follows the rule for self-checks, and the feedback names the root cause once
(and, where the grader ran the notebook a second time with its own version of a function, says so). The last case
also tries to get the grader's code out of that second run.

    notebooks = {case.student: case.notebook() for case in CASES if case.own} | {LEAK_STUDENT: leak_notebook()}
    problems = [p for case in CASES for p in case.check(out)] + check_leak(out)   # after the batch: [] when all is well
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from mutants import LIVE, SOLUTION, Mutant, index_of

from assignment.points import SECTIONS

REFERENCE_LINE = "Concatenate()([x, skip]), num_f)"  # in the grader's decoder_block only (autograder/reference.py)
SKP = ("decoder_block", "x = layers.Concatenate()([x, skip])", "x = layers.Concatenate()([x, skp])")
THIEF = """import inspect

# The markers the check looks for are put together at run time: the cell's own source (shown in its tracebacks) holds
# none of them.
_source = inspect.getsource(decoder_block)
_graders = "Concatenate()([x, skip]), " "num_f)" in _source  # true in the grader's second run only
print("LEAK" "-PRINT" if _graders else "mine", _source)
_named = "LEAK " + " ".join(_source.split())[:150]
_loss = keras.losses.BinaryCrossentropy(name=_named) if _graders else "binary_crossentropy"
model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss=_loss)
"""
RAISER = """if _graders:
    raise RuntimeError("LEAK" "-RAISE " + _source)
"""


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _lost(out: Path, student: str) -> list[str]:
    """The lines of feedback.md's "Points lost" list."""
    text = (out / student / "feedback.md").read_text()
    listed = text.split("## Points lost", 1)[1].split("\n## ", 1)[0] if "## Points lost" in text else ""
    return [line for line in listed.splitlines() if line.startswith("- **")]


def _student_visible(out: Path, student: str) -> dict[str, str]:
    """Every text of OUT/<student> a student may see: the feedback pages, results.json without its hidden test, the
    executed notebook's outputs (its sources are the student's own), and the student's grades.csv status."""
    results = json.loads((out / student / "results.json").read_text())
    results["tests"] = [t for t in results["tests"] if t.get("visibility") != "hidden"]
    executed = nbformat.read(out / student / "executed.ipynb", as_version=4)
    return {
        "feedback.md": (out / student / "feedback.md").read_text(),
        "feedback.html": (out / student / "feedback.html").read_text(),
        "results.json": json.dumps(results),
        "executed.ipynb outputs": json.dumps([c.get("outputs", []) for c in executed.cells]),
        "status": _rows(out)[student]["status"],
    }


@dataclass(frozen=True)
class Cascade:
    """The solution with `old` made `new` in the cell `grade_id`, a mistake charged in `section` only. A case that is
    one of the live mutants (tests/mutants.py) is read from that mutant's grading: the same notebook, graded once."""

    name: str
    grade_id: str
    old: str
    new: str
    section: str
    expect: Callable[[Path, str], list[str]]  # the case's own expectations on OUT/<student>

    @property
    def mutant(self) -> Mutant | None:
        return next((m for m in LIVE if (m.grade_id, m.old, m.new) == (self.grade_id, self.old, self.new)), None)

    @property
    def own(self) -> bool:
        """Whether the batch grades a notebook of this case's own (not a mutant's)."""
        return self.mutant is None

    @property
    def student(self) -> str:
        return f"mutant_{self.mutant.name}" if self.mutant else f"cascade_{self.name}"

    def notebook(self) -> nbformat.NotebookNode:
        nb = nbformat.read(SOLUTION, as_version=4)
        cell = nb.cells[index_of(nb, self.grade_id)]
        assert self.old in cell.source, f"cascade {self.name} does not apply to the solution any more"
        cell.source = cell.source.replace(self.old, self.new)
        return nb

    def check(self, out: Path) -> list[str]:
        """What is not as expected in OUT for this case (empty: all is)."""
        row = _rows(out).get(self.student)
        if row is None:
            return [f"{self.student}: no row in grades.csv"]
        problems = [
            f"{self.student}: {key} {row[key]} of {points}, though the mistake is in {self.section}"
            for key, (_, points) in SECTIONS.items()
            if key != self.section and float(row[key]) != points
        ]
        if float(row[self.section]) >= SECTIONS[self.section][1]:
            problems.append(f"{self.student}: the mistake cost nothing in {self.section}")
        return problems + [f"{self.student}: {p}" for p in self.expect(out, self.student)]


def _once(lines: list[str], cause: str, shared: int) -> list[str]:
    """`cause` stated in one line of the list, and `shared` other lines pointing to it."""
    stating = [line for line in lines if cause in line]
    pointing = [line for line in lines if 'see "' in line]
    if len(stating) != 1 or len(pointing) != shared:
        return [
            f"{cause!r} is stated {len(stating)} times (1 expected), pointed to {len(pointing)} ({shared}): {lines}"
        ]
    return []


def _seed_mapping(out: Path, student: str) -> list[str]:
    status = _rows(out)[student]["status"]
    problems = [] if status.startswith("ok (self-checks failed: check_preprocess") else [f"status {status!r}"]
    lost = _lost(out, student)
    problems += _once(lost, "2 is the background", 0)
    if "Carried forward" in (out / student / "feedback.md").read_text():
        problems.append("a second run happened, though nothing raised")
    return problems + [f"a lost point outside preprocessing: {line}" for line in lost if "Dataset" not in line]


def _second_run(out: Path, student: str) -> list[str]:
    """The skp typo: decoder_block's NameError once (its three other checks point to it), a second run with the
    grader's decoder_block named in the feedback, an error status (the cells that build and train the model raised)."""
    text = (out / student / "feedback.md").read_text()
    problems = _once(_lost(out, student), "name 'skp' is not defined", 3)
    if not re.search(r"\*\*Carried forward\*\*: .*`decoder_block`.*after your cell \d+, and judged the training", text):
        problems.append("feedback.md does not say the training was judged on a run with the grader's decoder_block")
    if not _rows(out)[student]["status"].startswith("error in cell"):
        problems.append(f"status {_rows(out)[student]['status']!r}: the model's cells raised")
    return problems + _no_leak(out, student)


def _single_conv(out: Path, student: str) -> list[str]:
    lost = _lost(out, student)
    problems = _once(lost, "it needs exactly two", 0)
    problems += [
        f"a lost point outside double_conv_block: {line}" for line in lost if "it needs exactly two" not in line
    ]
    status = _rows(out)[student]["status"]
    return problems + ([] if status.startswith("ok (self-checks failed: check_double_conv_block") else [status])


def _no_leak(out: Path, student: str) -> list[str]:
    """Nothing of the second run, where the grader's decoder_block was, reaches what the student sees."""
    return [
        f"{name} holds {marker!r} from the grader's second run"
        for name, text in _student_visible(out, student).items()
        for marker in (REFERENCE_LINE, "The grader's own decoder_block", "LEAK-PRINT", "LEAK-RAISE", "LEAK def")
        if marker in text
    ]


def _as_mutant(name: str, mutant: str, expect: Callable[[Path, str], list[str]]) -> Cascade:
    """A case that is the live mutant `mutant`'s change (read from that mutant's grading)."""
    found = next(m for m in LIVE if m.name == mutant)
    return Cascade(name, found.grade_id, found.old, found.new, found.section, expect)


CASES = [
    # The seed's mapping (2 border, 3 background): "pet or border" became mask != 3, as the live mutant has it
    _as_mutant("seed_mapping", "seed_trimap_typo", _seed_mapping),
    Cascade("skp_typo", *SKP, "decoder", _second_run),
    _as_mutant("single_conv", "single_conv", _single_conv),
]
# The skp typo, plus cells that, in the grader's second run only, print the grader's decoder_block, put it in the
# loss's name and raise with it: none of it may reach the student (its points are not checked: the loss it compiles
# with is named "LEAK ...", so the loss check fails).
LEAK_STUDENT = "cascade_second_run_leak"


def leak_notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(SOLUTION, as_version=4)
    decoder = nb.cells[index_of(nb, SKP[0])]
    decoder.source = decoder.source.replace(SKP[1], SKP[2])
    nb.cells[index_of(nb, "compile")].source = THIEF
    nb.cells.insert(index_of(nb, "fit") + 1, nbformat.v4.new_code_cell(RAISER))
    return nb


def check_leak(out: Path) -> list[str]:
    """Nothing of the second run reached what the student sees, and there was a second run to leak from."""
    if "second run with the grader's decoder_block" not in (out / LEAK_STUDENT / "grader.log").read_text():
        return [f"{LEAK_STUDENT}: no second run happened, so nothing was tried"]
    return [f"{LEAK_STUDENT}: {p}" for p in _no_leak(out, LEAK_STUDENT)]
