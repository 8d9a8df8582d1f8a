"""Points are defined once (assignment/points.py): the notebook's table, headings and gradebook points, README's table
and the hidden checks' points all follow it, also when its numbers change."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from grading import judge, load_fixture
from mutants import RELEASE, ROOT, SOLUTION
from points_course import (
    CHANGED,
    assert_notebook_states,
    by_section,
    changed_course,
    numbers,
    readme_table,
)

from assignment import outline, points
from assignment.points import MAX_POINTS, SECTIONS, SELF_CHECKS


def test_the_total_and_the_gradebook_cells_follow_the_sections() -> None:
    assert sum(numbers(SECTIONS).values()) == MAX_POINTS
    assert by_section(SELF_CHECKS) == numbers(SECTIONS)


@pytest.mark.parametrize(
    ("total", "weights"), [(30, [8, 7, 5, 5, 5]), (25, [8, 7, 5, 5, 5]), (25, [1, 1]), (7, [3, 1, 1]), (0, [2, 5])]
)
def test_apportion_adds_up_exactly_and_stays_within_a_point_of_each_share(total: int, weights: list[int]) -> None:
    parts = points.apportion(total, weights)
    assert sum(parts) == total and all(isinstance(part, int) for part in parts)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(total * weight, sum(weights))) < 1, (parts, weights)
    if sum(weights) == total:
        assert parts == weights, "weights that already add up to the points are the points"


def test_apportion_gives_ties_to_the_earlier_and_refuses_bad_weights() -> None:
    assert points.apportion(25, [1, 1]) == [13, 12] and points.apportion(5, [1, 1, 1]) == [2, 2, 1]
    for bad in ([], [0, 1], [1.5, 1], [-1, 2]):
        with pytest.raises(ValueError, match="positive whole numbers"):
            points.apportion(10, bad)


def test_a_check_worth_nothing_or_without_a_cell_is_refused() -> None:
    weights = {f"test_step_{n}": ("training", 1) for n in range(4)}
    only_training = {"check_training": points.CELLS["check_training"]}
    assert points.check_points(weights, {"training": ("x", 4)}, only_training) == dict.fromkeys(weights, 1)
    with pytest.raises(ValueError, match="worth no point"):
        points.check_points(weights, {"training": ("x", 3)}, only_training)
    with pytest.raises(ValueError, match="maps to 0 graded cells"):
        points.check_points({"test_pooling": ("encoder", 1)})
    with pytest.raises(ValueError, match="not in SECTIONS"):
        points.check_points({"test_x": ("attention", 1)})


def test_notebook_states_the_sections_and_readme_its_table() -> None:
    """Table, headings and gradebook points of the master notebook and its release; README's table."""
    for path in (SOLUTION, RELEASE):
        assert assert_notebook_states(path, SECTIONS) == {g: worth for g, (_, worth) in SELF_CHECKS.items()}
    rows, cells = readme_table((ROOT / "README.md").read_text())
    assert rows == list(SECTIONS.values())
    assert cells == {grade_id: worth for grade_id, (_, worth) in SELF_CHECKS.items()}


def test_solution_and_readme_are_in_sync_with_points_py() -> None:
    """What `make release` writes first (python -m assignment.outline) is what is committed."""
    assert outline.sync(SOLUTION, ROOT / "README.md", outline.Outline.of(), write=False) == []


def test_a_points_change_flows_to_the_notebook_and_readme(tmp_path: Path) -> None:
    """Only points.py's numbers change; `make release`'s first step rewrites the notebook's and README's tables
    (the release from it: tests/test_notebook.py)."""
    course = changed_course(tmp_path)
    graded = assert_notebook_states(course / "solution" / "tiny_unet" / "tiny_unet.ipynb", CHANGED)
    assert (graded["check_double_conv_block"], graded["check_encoder_block"]) == (13, 12)
    text = (course / "README.md").read_text()
    rows, cells = readme_table(text)
    assert rows == list(CHANGED.values()) and cells == graded
    old = "\n".join(outline.Outline.of().readme_table())
    new = "\n".join(outline.Outline.of(CHANGED).readme_table())
    assert text.replace(new, old) == (ROOT / "README.md").read_text(), "README changed outside its points table"


def test_a_points_change_flows_to_the_hidden_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only points.py changes; the checks' weights share out the new numbers and the gradebook cells agree."""
    monkeypatch.setattr(points, "SECTIONS", CHANGED)
    solution = judge(tmp_path, load_fixture("solution"))
    assert by_section({r.id: (r.section, r.max_score) for r in solution}) == numbers(CHANGED)
    assert all(r.score == r.max_score >= 1 and float(r.max_score).is_integer() for r in solution)
    by_cell = dict.fromkeys(points.CELLS, 0.0)
    for result in solution:
        by_cell[points.cell_of(result.section, result.id)] += result.max_score
    assert by_cell == points.cell_points(CHANGED)
    mutant = judge(tmp_path, load_fixture("mutant_single_conv"))
    lost = {r.section for r in mutant if r.score < r.max_score}
    assert lost == {"encoder"} and sum(r.max_score for r in mutant) == sum(numbers(CHANGED).values())


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
