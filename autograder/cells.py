"""A notebook cell as the student knows it: its position in the notebook they submitted (the cells the grader injects,
such as papermill's parameters cell, not counted), its title (a self-check's `#@title` line, else its first line),
the markdown heading it sits under, and which locked cell of the release it is, if it still holds the release's code.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import nbformat

from autograder.locked import RELEASE, unchanged
from autograder.results import CellFailure

INJECTED = "injected-parameters"  # papermill's tag on the cell it adds
TITLE = re.compile(r"#\s?@title\s+(.*\S)")
TITLE_LIMIT = 200  # characters of a title or heading kept (the reports shorten them at a word)
# The release's last cells: they only draw and print the trained model's predictions, which the grader measures itself.
SHOWING = ("predictions", "evaluate")
NOT_RUN_NOTE = (
    "Not run by the grader: this cell only shows the trained model's predictions, which the grader measures itself "
    "on held-out test images (see your feedback).\n"
)


def grade_id(cell: nbformat.NotebookNode) -> str:
    return str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))


def _first_line(cell: nbformat.NotebookNode) -> str:
    return next((line.strip() for line in cell.source.splitlines() if line.strip()), "")


def position(nb: nbformat.NotebookNode, index: int) -> int:
    """The number of cell `index` of `nb` (as the grader ran it) in the notebook the student submitted."""
    return 1 + sum(INJECTED not in c.get("metadata", {}).get("tags", []) for c in nb.cells[:index])


def locked_cells(nb: nbformat.NotebookNode, release: Path = RELEASE) -> dict[int, str]:
    """Index -> grade_id of each locked cell of the release that `nb` holds unchanged (the first cell of each
    grade_id, as locked.py compares them): a cell the student wrote or edited is never taken for a self-check,
    whatever its metadata says."""
    from nbgrader.utils import is_locked  # imported where used: see autograder/locked.py

    try:
        released = {grade_id(c): c for c in nbformat.read(release, as_version=4).cells if is_locked(c)}
    except (OSError, ValueError):
        return {}
    found: dict[int, str] = {}
    for index, cell in enumerate(nb.cells):
        name = grade_id(cell)
        checksum = released[name].metadata.nbgrader.get("checksum", "") if name in released else ""
        if checksum and name not in found.values() and unchanged(cell, checksum):
            found[index] = name
    return found


def showing_only(nb: nbformat.NotebookNode, release: Path = RELEASE) -> list[int]:
    """Indexes of the notebook's last code cells while each is an unchanged locked SHOWING cell of the release: they
    repeat what the grader measures on held-out examples. A cell the student wrote or edited after them, or in them,
    keeps them (and itself) running."""
    locked = locked_cells(nb, release)
    found = []
    for index in reversed(range(len(nb.cells))):
        cell = nb.cells[index]
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if locked.get(index) not in SHOWING:
            break
        found.append(index)
    return found


def not_run(nb: nbformat.NotebookNode, run_showing: bool) -> set[int]:
    """The cells the grader skips (showing_only, unless the profile runs them), each given NOT_RUN_NOTE."""
    skip = set() if run_showing else set(showing_only(nb))
    for index in skip:
        nb.cells[index].outputs = [nbformat.v4.new_output("stream", name="stdout", text=NOT_RUN_NOTE)]
    return skip


def _heading(nb: nbformat.NotebookNode, index: int) -> str:
    """The last markdown heading above cell `index`, without its #s and code marks."""
    for cell in reversed(nb.cells[:index]):
        if cell.cell_type == "markdown":
            lines = [line.lstrip("#").replace("`", "").strip() for line in cell.source.splitlines() if line[:1] == "#"]
            if lines:
                return lines[-1][:TITLE_LIMIT]
    return ""


def place(nb: nbformat.NotebookNode, failures: list[CellFailure], release: Path = RELEASE) -> list[CellFailure]:
    """`failures` (indexes into `nb` as the grader ran it) with each cell's number in the submitted notebook, its
    title, the heading it sits under (for a cell without a `#@title`) and its grade_id if it is an unchanged locked
    cell of the release."""
    locked = locked_cells(nb, release)
    placed = []
    for failure in failures:
        if not 0 <= failure.index < len(nb.cells):
            placed.append(failure)
            continue
        first = _first_line(nb.cells[failure.index])
        titled = TITLE.fullmatch(first)
        placed.append(
            replace(
                failure,
                number=position(nb, failure.index),
                first_line=(titled.group(1) if titled else first)[:TITLE_LIMIT],
                heading="" if titled else _heading(nb, failure.index),
                grade_id=locked.get(failure.index, ""),
            )
        )
    return placed
