"""Locked cells the student edited or deleted, found with nbgrader's own checksums (reported to the instructor).

nbgrader is imported where it is used: its package loads its Jupyter server extensions as it is imported (about 1
CPU-s), which the grader's main process, never looking at a cell, does without; the grading workers have it from
their fork server (autograder/preload.py)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

RELEASE = Path(__file__).resolve().parent.parent / "release" / "tiny_unet" / "tiny_unet.ipynb"


def unchanged(cell: nbformat.NotebookNode, checksum: str) -> bool:
    """Whether `cell` still has its release checksum, also after Colab's rewriting of `#@title` as `# @title`."""
    from nbgrader.utils import compute_checksum  # see the module's docstring

    try:
        if compute_checksum(cell) == checksum:
            return True
        colab = copy.deepcopy(cell)
        colab.source = re.sub(r"^# @title", "#@title", colab.source)
        return compute_checksum(colab) == checksum
    except (KeyError, TypeError, AttributeError):
        return False


def changed_locked_cells(nb: nbformat.NotebookNode, release: Path = RELEASE) -> list[str]:
    """One line per locked cell of the release that `nb` lacks or holds changed."""
    from nbgrader.utils import is_locked  # see the module's docstring

    try:
        released = nbformat.read(release, as_version=4).cells
    except (OSError, ValueError) as error:
        return [f"locked cells not checked: the release notebook could not be read ({type(error).__name__}: {error})"]
    submitted = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            submitted.setdefault(grade_id, cell)
    found = []
    for cell in released:
        if not is_locked(cell):
            continue
        grade_id = cell.metadata.nbgrader["grade_id"]
        theirs = submitted.get(grade_id)
        if theirs is None:
            found.append(f"locked cell `{grade_id}` was deleted (or its nbgrader metadata removed)")
            continue
        if not unchanged(theirs, cell.metadata.nbgrader["checksum"]):
            found.append(f"locked cell `{grade_id}` was edited")
    return found
