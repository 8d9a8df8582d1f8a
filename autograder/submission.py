"""Find submissions in a folder and read them safely."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass(frozen=True)
class Submission:
    """One student's notebook, and why it was chosen when the student handed in several."""

    student: str
    path: Path
    note: str = ""


def discover(root: Path, notebook_name: str = "tiny_unet.ipynb") -> list[Submission]:
    """Submissions under `root`: nbgrader's `submitted/<student>/<assignment>/<notebook>.ipynb`
    (with or without the `submitted/` level), or a flat folder of `<student>.ipynb`.

    A student with several notebooks is graded on the one called `notebook_name`, else on the newest.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"SUBMISSIONS={root} is not a folder")
    base = root / "submitted" if (root / "submitted").is_dir() else root
    candidates: dict[str, list[Path]] = {}
    for path in sorted(base.glob("*.ipynb")):
        candidates.setdefault(_safe_name(path.stem), []).append(path)
    for path in sorted(base.glob("*/*/*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            candidates.setdefault(_safe_name(path.relative_to(base).parts[0]), []).append(path)
    found = []
    for student, paths in sorted(candidates.items()):
        if len(paths) == 1:
            found.append(Submission(student, paths[0]))
            continue
        chosen = next((p for p in paths if p.name == notebook_name), max(paths, key=lambda p: p.stat().st_mtime))
        others = ", ".join(p.name for p in paths if p != chosen)
        found.append(Submission(student, chosen, f"{len(paths)} notebooks handed in; graded {chosen.name}, ignored {others}"))
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
