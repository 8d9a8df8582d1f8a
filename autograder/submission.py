"""Find submissions in a folder and read them safely."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass(frozen=True)
class Submission:
    """One student's notebook."""

    student: str
    path: Path


def discover(root: Path) -> list[Submission]:
    """Submissions under `root`: nbgrader's `submitted/<student>/<assignment>/<notebook>.ipynb`
    (with or without the `submitted/` level), or a flat folder of `<student>.ipynb`."""
    if not root.is_dir():
        raise FileNotFoundError(f"SUBMISSIONS={root} is not a folder")
    base = root / "submitted" if (root / "submitted").is_dir() else root
    found = [Submission(_safe_name(p.stem), p) for p in sorted(base.glob("*.ipynb"))]
    for path in sorted(base.glob("*/*/*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            found.append(Submission(_safe_name(path.relative_to(base).parts[0]), path))
    names = [s.student for s in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"more than one notebook for {', '.join(sorted(duplicates))} in {root}: keep one per student")
    return found


def _safe_name(name: str) -> str:
    """A student id usable as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("._") or "unnamed"


def load(path: Path) -> nbformat.NotebookNode:
    """Read a notebook; raise ValueError with a readable reason when it is not one."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:
        raise ValueError(f"not a readable notebook ({type(error).__name__}: {str(error)[:200]})") from error
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise ValueError("the notebook has no code cells")
    return nb
