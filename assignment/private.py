"""The grader's private evaluation examples: which examples they are, and where they are kept.

The official test list is cut in two, stably (by a hash of each file name, so the same examples every run): the
visible part is the `test` split that `tfds.load` gives the notebook, the private part goes to a sibling folder of
the data dir, `<data dir>.private/`, which only the grader reads (mode 0700, the grader's own; no sandbox binds it).
Synthetic data gets private examples drawn afresh from a seed made when the data is prepared, kept nowhere a sandbox
looks. The grader measures the final IoU on the private part (autograder/splits.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

PRIVATE_SHARE = 0.5  # of the official test list; the measured basis is in README's Data section
SUFFIX = ".private"


class PrivateError(Exception):
    """The private part is missing, incomplete or not the grader's alone; the message says what to do."""


def private_dir(data_dir: Path) -> Path:
    """Where the private part of `data_dir`'s dataset is kept: beside it, never inside what sandboxes bind."""
    return data_dir.with_name(data_dir.name + SUFFIX)


def _share(name: str) -> float:
    """A number in [0, 1) fixed by the example's file name alone."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64


def split_test(names: list[str]) -> tuple[list[str], list[str]]:
    """The test list cut into (visible, private), each keeping the list's order; both non-empty (at least two names):
    when the hash puts every name on one side, the name whose hash lies nearest the cut crosses over."""
    if len(names) < 2:
        raise PrivateError(
            f"the test list has {len(names)} example(s); it needs at least two, one visible to the notebook and one "
            "kept private for the grader"
        )
    private = {name for name in names if _share(name) < PRIVATE_SHARE}
    if not private:
        private = {min(names, key=_share)}
    elif len(private) == len(names):
        private.discard(max(names, key=_share))
    return [n for n in names if n not in private], [n for n in names if n in private]


def write_lists(annotations: Path, target: Path, trainval: list[str], test: list[str]) -> Path:
    """An `annotations/` folder under `target` for tfds's builder: the given lines as trainval.txt and test.txt, the
    trimaps and xmls linked from `annotations`; returns `target` (what the builder's download step answers)."""
    folder = target / "annotations"
    folder.mkdir(parents=True)
    for name in ("trimaps", "xmls"):
        if (annotations / name).exists():
            (folder / name).symlink_to((annotations / name).resolve(), target_is_directory=True)
    (folder / "trainval.txt").write_text("".join(f"{line}\n" for line in trainval))
    (folder / "test.txt").write_text("".join(f"{line}\n" for line in test))
    return target


def test_lines(annotations: Path) -> tuple[list[str], list[str], list[str]]:
    """trainval.txt's lines, and test.txt's lines cut into (visible, private)."""
    trainval, test = (
        [line for line in (annotations / f).read_text().splitlines() if line.strip()]
        for f in ("trainval.txt", "test.txt")
    )
    by_name = {line.split()[0]: line for line in test}
    visible, private = split_test(list(by_name))
    return trainval, [by_name[n] for n in visible], [by_name[n] for n in private]


def close(folder: Path) -> None:
    """Make `folder` the grader's alone (mode 0700); PrivateError when it is a link or another user's."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PrivateError(
            f"{folder} must be a folder of the grader's own (uid {os.geteuid()}), not a link or another user's: "
            "prepare the data again as the grader's user"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        folder.chmod(0o700)
