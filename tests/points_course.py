"""A copy of the course with new points in points.py, and readers of what the notebook and README state about points
(tests/fast/test_points.py and the release test in tests/test_notebook.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
from mutants import ROOT, SOLUTION

from assignment import outline, points
from assignment.points import SECTIONS

# Every section's number changed, one of them odd so the encoder's two cells cannot split it evenly
CHANGED = {
    "preprocess": (SECTIONS["preprocess"][0], 12),
    "encoder": (SECTIONS["encoder"][0], 25),
    "decoder": (SECTIONS["decoder"][0], 18),
    "unet": (SECTIONS["unet"][0], 29),
    "training": (SECTIONS["training"][0], 16),
}


def by_section(points_of: dict[str, tuple[str, float]]) -> dict[str, float]:
    """Points per section of {name: (section, points)}."""
    totals = dict.fromkeys(SECTIONS, 0.0)
    for section, value in points_of.values():
        totals[section] += value
    return totals


def numbers(sections: dict[str, tuple[str, int]]) -> dict[str, int]:
    return {key: value for key, (_, value) in sections.items()}


def notebook_table(path: Path) -> list[tuple[str, int]]:
    intro = nbformat.read(path, as_version=4).cells[0].source
    return [(title, int(worth)) for title, worth in re.findall(r"^\| ([^|]+?) \|\s*(\d+)\s*\|$", intro, re.M)]


def headings(path: Path) -> list[tuple[str, int]]:
    cells = nbformat.read(path, as_version=4).cells
    firsts = [c.source.split("\n", 1)[0] for c in cells if c.cell_type == "markdown"]
    return [(title, int(worth)) for line in firsts for title, worth in re.findall(r"^## (.+) \[(\d+) points?\]$", line)]


def graded_points(path: Path) -> dict[str, int]:
    """nbgrader's points of each graded cell of the notebook at `path`."""
    return {
        c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
        for c in nbformat.read(path, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def readme_table(text: str) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """README's (title, points) rows and the graded cells' points it lists."""
    rows = re.findall(r"^\| (.+?) \| (\d+) \| (.+?) \|$", text, re.M)
    cells = {grade_id: int(worth) for *_, spec in rows for grade_id, worth in re.findall(r"`(\w+)` \((\d+)\)", spec)}
    return [(title, int(worth)) for title, worth, _ in rows], cells


def changed_course(folder: Path) -> Path:
    """A copy of the course (master notebook, nbgrader's config, README) with its points rewritten for CHANGED by
    what `make release` runs first."""
    (folder / "solution" / "tiny_unet").mkdir(parents=True)
    shutil.copy(SOLUTION, folder / "solution" / "tiny_unet")
    for name in ("nbgrader_config.py", "README.md"):
        shutil.copy(ROOT / name, folder)
    master = folder / "solution" / "tiny_unet" / "tiny_unet.ipynb"
    assert len(outline.sync(master, folder / "README.md", outline.Outline.of(CHANGED), write=True)) == 2
    return folder


def assert_notebook_states(path: Path, sections: dict[str, tuple[str, int]]) -> dict[str, int]:
    """The notebook's table, headings and self-check points state `sections`; returns the self-check points."""
    expected = [(outline.coded(title), worth) for title, worth in sections.values()]
    assert notebook_table(path) == expected and headings(path) == expected, path
    graded = graded_points(path)
    assert by_section({g: (points.CELLS[g].section, worth) for g, worth in graded.items()}) == numbers(sections), path
    return graded
