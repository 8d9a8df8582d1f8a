"""The parts of the master notebook and of README that state points, written from assignment/points.py.

    python -m assignment.outline           rewrite them (the first step of `make release`)
    python -m assignment.outline --check   only say whether they agree with points.py (exit 1 when not)

In the notebook: the points table of its first cell (`| Part | Points |`), each section's heading
(`## <title> [<points> points]`, one per section, in order) and the nbgrader points of each self-check cell. In
README: the table of sections, points and graded cells. Nothing else in either file is touched.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from assignment import points

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb"
README = ROOT / "README.md"
HEADING = re.compile(r"^## .+ \[\d+ points?\]$")
NOTEBOOK_TABLE = "| Part | Points |"
README_TABLE = "| section | points | graded cells in the notebook |"


class OutlineError(Exception):
    """The file does not have the parts this module writes; the message says which."""


@dataclass(frozen=True)
class Outline:
    """What points.py says, in the forms the notebook and README show."""

    sections: dict[str, tuple[str, int]]
    cells: dict[str, int]  # self-check cell -> its points

    @classmethod
    def of(cls, sections: dict[str, tuple[str, int]] | None = None) -> Outline:
        sections = points.SECTIONS if sections is None else sections
        return cls(sections, points.cell_points(sections))

    def heading(self, key: str) -> str:
        title, worth = self.sections[key]
        return f"## {coded(title)} [{worth} point{'' if worth == 1 else 's'}]"

    def notebook_table(self) -> list[str]:
        rows = [f"| {coded(title)} | {worth} |" for title, worth in self.sections.values()]
        return [NOTEBOOK_TABLE, "|---|---|", *rows]

    def readme_table(self) -> list[str]:
        rows = []
        for key, (title, worth) in self.sections.items():
            cells = ", ".join(
                f"`{grade_id}` ({self.cells[grade_id]})"
                for grade_id, cell in points.CELLS.items()
                if cell.section == key
            )
            rows.append(f"| {title} | {worth} | {cells} |")
        return [README_TABLE, "|---|---|---|", *rows]


def coded(title: str) -> str:
    """A section title with the names of the functions students write as code spans."""
    for graded in points.GRADED:
        title = re.sub(rf"(?<![`\w]){graded.name}(?![`\w])", f"`{graded.name}`", title)
    return title


def _replace_table(text: str, header: str, table: list[str], where: str) -> str:
    """`text` with the Markdown table that starts at the line `header` replaced by `table`."""
    lines = text.split("\n")
    if header not in lines:
        raise OutlineError(f"{where} has no table starting with the line {header!r}")
    start = lines.index(header)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join([*lines[:start], *table, *lines[end:]])


def notebook(nb: nbformat.NotebookNode, outline: Outline) -> nbformat.NotebookNode:
    """The notebook with its points table, section headings and self-check points written from `outline`."""
    cells = nb.cells
    intro = cells[0]
    intro.source = _replace_table(intro.source, NOTEBOOK_TABLE, outline.notebook_table(), "the notebook's first cell")
    headed = [c for c in cells if c.cell_type == "markdown" and HEADING.match(c.source.split("\n", 1)[0])]
    if len(headed) != len(outline.sections):
        raise OutlineError(
            f"the notebook has {len(headed)} section headings of the form '## <title> [<n> points]', "
            f"points.py {len(outline.sections)} sections"
        )
    for cell, key in zip(headed, outline.sections, strict=True):
        rest = cell.source.split("\n", 1)[1:]
        cell.source = "\n".join([outline.heading(key), *rest])
    graded = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if c.metadata.get("nbgrader", {}).get("grade")}
    if set(graded) != set(outline.cells):
        raise OutlineError(
            f"the notebook's graded cells {sorted(graded)} are not points.py's CELLS {sorted(outline.cells)}"
        )
    for grade_id, cell in graded.items():
        cell.metadata["nbgrader"]["points"] = outline.cells[grade_id]
    return nb


def readme(text: str, outline: Outline) -> str:
    """README with its table of sections and points written from `outline`."""
    return _replace_table(text, README_TABLE, outline.readme_table(), "README")


def sync(notebook_path: Path, readme_path: Path, outline: Outline, write: bool) -> list[Path]:
    """The files that do not agree with `outline` (rewritten when `write`)."""
    differ = []
    nb = nbformat.read(notebook_path, as_version=4)
    before = nbformat.writes(nb)
    after = nbformat.writes(notebook(nb, outline))
    if after != before:
        differ.append(notebook_path)
        if write:
            nbformat.write(nb, notebook_path)
    text = readme_path.read_text()
    if readme(text, outline) != text:
        differ.append(readme_path)
        if write:
            readme_path.write_text(readme(text, outline))
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file disagrees")
    args = parser.parse_args(argv)
    outline = Outline.of()
    try:
        differ = sync(NOTEBOOK, README, outline, write=not args.check)
    except OutlineError as error:
        print(f"make release: error: {error}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{key} {worth}" for key, (_, worth) in outline.sections.items())
    names = ", ".join(str(path.relative_to(ROOT)) for path in differ)
    if args.check:
        print(f"out of date with assignment/points.py ({summary}): {names}" if differ else "in sync with points.py")
        return 1 if differ else 0
    print(f"points from assignment/points.py ({summary}): {'rewrote ' + names if differ else 'nothing to change'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
