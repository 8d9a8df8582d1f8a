"""Find submissions in a folder and read them safely: ids, collisions, symbolic links, size limits.

Nothing outside SUBMISSIONS is read: symbolic links are never followed, and a notebook that is
one is refused with a status saying so.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.results import literal

MAX_BYTES = 20 * 1024 * 1024
BATCH_FILES = frozenset({"grades.csv", "batch.json", "report.html", "similarity.csv"})  # OUT's own names, not students'


@dataclass(frozen=True)
class Submission:
    """One student's notebook, and what the grader noticed while finding it."""

    student: str
    path: Path
    note: str = ""  # student-visible: which notebook was graded when there were several
    refused: str = ""  # why it is not graded at all
    warnings: tuple[str, ...] = field(default=())  # instructor-only


def _safe_name(name: str) -> str:
    """A student id usable as a folder name."""
    return (
        re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("._-@") or "unnamed"
    )  # no leading "-" or "@": spreadsheets run those


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _candidates(base: Path) -> dict[str, list[Path]]:
    """Raw student name -> notebooks: flat `<student>.ipynb`, or `<student>/<assignment>/<notebook>.ipynb`."""
    found: dict[str, list[Path]] = {}
    for entry in sorted(base.iterdir()):
        if entry.name.endswith(".ipynb") and not _real_dir(entry):
            found.setdefault(entry.name[: -len(".ipynb")], []).append(entry)
        elif entry.is_symlink() and entry.is_dir():  # never followed: the student gets a row saying so
            found.setdefault(entry.name, []).append(entry)
        elif _real_dir(entry):
            for assignment in sorted(p for p in entry.iterdir() if _real_dir(p) and p.name != ".ipynb_checkpoints"):
                found.setdefault(entry.name, []).extend(
                    sorted(p for p in assignment.iterdir() if p.name.endswith(".ipynb"))
                )
    return {name: paths for name, paths in found.items() if paths}


def discover(
    root: Path, reserved: frozenset[str] = BATCH_FILES, notebook_name: str = "tiny_unet.ipynb"
) -> list[Submission]:
    """Submissions under `root`: nbgrader's `submitted/<student>/<assignment>/<notebook>.ipynb`
    (with or without the `submitted/` level), or a flat folder of `<student>.ipynb`.

    A student with several notebooks is graded on the one called `notebook_name`, else on the newest.
    Two students whose names give the same id both keep a distinct id, with a warning; so does a student whose id
    is one of the `reserved` names OUT holds for the batch (and its engine).
    """
    if not _real_dir(root):
        raise FileNotFoundError(
            f"SUBMISSIONS={root} is not a folder" + (" (it is a symbolic link)" if root.is_symlink() else "")
        )
    base = root / "submitted" if _real_dir(root / "submitted") else root
    found = []
    taken = set()
    for raw, paths in sorted(_candidates(base).items()):
        student = _safe_name(raw)
        number = 1
        while student in taken or student in reserved:
            number += 1
            student = f"{_safe_name(raw)}-{number}"
        taken.add(student)
        warnings = (f"the id {_safe_name(raw)!r} was taken; {raw!r} is graded as {student!r}",) if number > 1 else ()
        chosen, note = _choose(paths, notebook_name)
        found.append(Submission(student, chosen, note, _refusal(chosen), warnings))
    return found


def _choose(paths: list[Path], notebook_name: str) -> tuple[Path, str]:
    """Of one student's notebooks, the one called `notebook_name`, else the newest; and a note when there were
    several."""
    chosen = next((p for p in paths if p.name == notebook_name), None) or max(paths, key=lambda p: p.lstat().st_mtime)
    others = ", ".join(literal(p.name, 80) for p in paths if p != chosen)
    return (
        chosen,
        f"{len(paths)} notebooks handed in; graded {literal(chosen.name, 80)}, ignored {others}" if others else "",
    )


def discover_one(folder: Path, student: str, notebook_name: str = "tiny_unet.ipynb") -> Submission:
    """The one student's notebook in `folder` (Gradescope's submission folder): any name, at the top or one folder down;
    of several, the one called `notebook_name`, else the newest."""
    if not _real_dir(folder):
        raise FileNotFoundError(f"{folder} is not a folder")
    paths = [p for p in sorted(folder.iterdir()) if p.name.endswith(".ipynb") and not _real_dir(p)]
    paths += [
        p
        for d in sorted(folder.iterdir())
        if _real_dir(d) and not d.name.startswith((".", "__"))
        for p in sorted(d.iterdir())
        if p.name.endswith(".ipynb") and not _real_dir(p)
    ]
    if not paths:
        raise FileNotFoundError(f"no .ipynb file in {folder}: hand in the notebook (tiny_unet.ipynb)")
    chosen, note = _choose(paths, notebook_name)
    return Submission(student, chosen, note, _refusal(chosen))


def _refusal(path: Path) -> str:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return "the notebook (or its folder) is a symbolic link; hand in the notebook file itself"
    if not stat.S_ISREG(info.st_mode):
        return "the notebook is not a regular file"
    if info.st_size > MAX_BYTES:
        return (
            f"the notebook is {info.st_size / 2**20:.0f} MB, over the {MAX_BYTES >> 20} MB limit: "
            "clear large outputs (Edit > Clear All Outputs) and hand it in again"
        )
    return ""


def load(path: Path) -> nbformat.NotebookNode:
    """Read a notebook without following links; raise ValueError with a readable reason when it is not one."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(descriptor, "rb") as handle:
            text = handle.read(MAX_BYTES + 1)
        if len(text) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES >> 20} MB")
        nb = nbformat.reads(text.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as error:
        raise ValueError(f"not a readable notebook ({literal(f'{type(error).__name__}: {error}', 200)})") from error
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise ValueError("the notebook has no code cells")
    return nb
