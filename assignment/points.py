"""The assignment's sections, their titles and points: the one place they are defined (the seed's 10/30/20/30/10).

Everything else follows from SECTIONS. `make release` writes the master notebook's points table, its section
headings and its self-check cells' nbgrader points from it (assignment/outline.py), and README's table; the hidden
checks declare only weights within their cell (`@pytest.mark.points(section, weight)`), and the grader shares the
cell's points out by those weights (autograder/checks/conftest.py), so changing one number here is all it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS: dict[str, tuple[str, int]] = {
    "preprocess": ("Dataset & preprocessing", 10),
    "encoder": ("Encoder: double_conv_block and encoder_block", 30),
    "decoder": ("Decoder: decoder_block", 20),
    "unet": ("Full model: make_unet", 30),
    "training": ("Compile, train and final IoU", 10),
}


@dataclass(frozen=True)
class Cell:
    """A self-check cell of the notebook, one of nbgrader's graded cells: its section, its share of the section's
    points beside the section's other cells, and the name prefix of the hidden checks whose points it carries."""

    section: str
    share: int = 1
    checks: str = "test_"


# nbgrader grade_id of each self-check cell -> its Cell
CELLS: dict[str, Cell] = {
    "check_preprocess": Cell("preprocess"),
    "check_double_conv_block": Cell("encoder", 1, "test_double_conv"),
    "check_encoder_block": Cell("encoder", 1, "test_encoder"),
    "check_decoder_block": Cell("decoder"),
    "check_make_unet": Cell("unet"),
    "check_training": Cell("training"),
}


def apportion(total: int, weights: list[int]) -> list[int]:
    """`total` whole points shared out in proportion to `weights` (largest remainders first, ties to the earlier):
    they add up to `total` exactly, and each part is within one point of its exact share."""
    if not weights or any(not isinstance(w, int) or w <= 0 for w in weights):
        raise ValueError(f"weights must be positive whole numbers, not {weights}")
    whole = sum(weights)
    parts = [total * weight // whole for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return parts


def cell_points(
    sections: dict[str, tuple[str, int]] | None = None, cells: dict[str, Cell] | None = None
) -> dict[str, int]:
    """Each self-check cell's points: its section's points shared out by the cells' shares."""
    sections = SECTIONS if sections is None else sections
    cells = CELLS if cells is None else cells
    points = {}
    for key, (_, total) in sections.items():
        mine = [grade_id for grade_id, cell in cells.items() if cell.section == key]
        if not mine:
            raise ValueError(f"section {key} has no self-check cell in CELLS")
        points.update(zip(mine, apportion(total, [cells[grade_id].share for grade_id in mine]), strict=True))
    return points


def cell_of(section: str, check: str, cells: dict[str, Cell] | None = None) -> str:
    """The self-check cell (nbgrader grade_id) that carries the points of the hidden check `check` of `section`."""
    cells = CELLS if cells is None else cells
    found = [grade_id for grade_id, cell in cells.items() if cell.section == section and check.startswith(cell.checks)]
    if len(found) != 1:
        raise ValueError(
            f"hidden check {check} ({section}) maps to {len(found)} graded cells, not one: "
            "give each cell of its section a name prefix in assignment/points.py CELLS"
        )
    return found[0]


def check_points(
    weights: dict[str, tuple[str, int]],
    sections: dict[str, tuple[str, int]] | None = None,
    cells: dict[str, Cell] | None = None,
) -> dict[str, int]:
    """Each hidden check's points from its (section, weight): its cell's points shared out by the weights of the
    cell's checks. ValueError when a check has no cell, a cell no check, or a check would be worth nothing."""
    sections = SECTIONS if sections is None else sections
    cells = CELLS if cells is None else cells
    unknown = sorted(check for check, (section, _) in weights.items() if section not in sections)
    if unknown:
        raise ValueError(f"hidden checks {unknown} name a section that is not in SECTIONS {sorted(sections)}")
    by_cell: dict[str, list[str]] = {grade_id: [] for grade_id in cells}
    for check, (section, _) in weights.items():
        by_cell[cell_of(section, check, cells)].append(check)
    points = {}
    for grade_id, total in cell_points(sections, cells).items():
        checks = by_cell[grade_id]
        if not checks:
            raise ValueError(f"self-check cell {grade_id} carries no hidden check")
        points.update(zip(checks, apportion(total, [weights[check][1] for check in checks]), strict=True))
    worthless = sorted(check for check, value in points.items() if value == 0)
    if worthless:
        raise ValueError(
            f"hidden checks {worthless} would be worth no point: give their section more points or their cell "
            "fewer checks"
        )
    return points


MAX_POINTS = sum(points for _, points in SECTIONS.values())
# nbgrader grade_id of each self-check cell -> (section, points in the gradebook)
SELF_CHECKS: dict[str, tuple[str, int]] = {
    grade_id: (CELLS[grade_id].section, points) for grade_id, points in cell_points().items()
}


@dataclass(frozen=True)
class Graded:
    """A function the student writes: its section, and the blocks it calls (the grader gives it its own versions)."""

    name: str
    section: str
    helpers: tuple[str, ...] = ()


# The graded functions, in the order the probe calls them. A function is probed only with the reference versions
# of functions that come before it, so no probe ever holds the reference of the function it grades.
GRADED: tuple[Graded, ...] = (
    Graded("preprocess", "preprocess"),
    Graded("double_conv_block", "encoder"),
    Graded("encoder_block", "encoder", ("double_conv_block",)),
    Graded("decoder_block", "decoder", ("double_conv_block",)),
    Graded("make_unet", "unet", ("double_conv_block", "encoder_block", "decoder_block")),
)
