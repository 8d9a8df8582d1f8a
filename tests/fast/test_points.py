"""Points are defined once (assignment/points.py); the notebook's gradebook points and the tables agree."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from mutants import RELEASE, SOLUTION

from assignment.points import MAX_POINTS, SECTIONS, SELF_CHECKS

ROOT = Path(__file__).resolve().parent.parent.parent


def test_sections_follow_the_seed() -> None:
    assert [points for _, points in SECTIONS.values()] == [10, 30, 20, 30, 10] and MAX_POINTS == 100


def test_self_check_points_split_each_section_exactly() -> None:
    for key, (_, points) in SECTIONS.items():
        assert sum(p for section, p in SELF_CHECKS.values() if section == key) == points


def test_notebook_gradebook_points_come_from_points_py() -> None:
    for path in (SOLUTION, RELEASE):
        graded = {
            c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
            for c in nbformat.read(path, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }
        assert graded == {grade_id: points for grade_id, (_, points) in SELF_CHECKS.items()}, path


def test_notebook_points_table_matches() -> None:
    intro = nbformat.read(RELEASE, as_version=4).cells[0].source
    rows = [int(points) for points in re.findall(r"^\|[^|]+\|\s*(\d+)\s*\|$", intro, re.M)]
    assert rows == [points for _, points in SECTIONS.values()]


def test_readme_points_table_matches() -> None:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (.+?) \| (\d+) \| (.+?) \|$", text, re.M)
    assert [(title, int(points)) for title, points, _ in rows] == [
        (title, points) for title, points in SECTIONS.values()
    ]
    cells = {grade_id: int(points) for *_, spec in rows for grade_id, points in re.findall(r"`(\w+)` \((\d+)\)", spec)}
    assert cells == {grade_id: points for grade_id, (_, points) in SELF_CHECKS.items()}


def test_readme_layout_names_every_module() -> None:
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    modules = [
        path
        for top in ("assignment", "autograder")
        for path in (ROOT / top).rglob("*.py")
        if path.name != "__init__.py" and path.parent.name not in ("probe", "checks", "engines")
    ]
    missing = [str(path.relative_to(ROOT)) for path in modules if path.name not in layout]
    assert not missing, f"README's layout does not name {missing}"
