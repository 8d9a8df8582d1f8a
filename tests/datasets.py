"""The data sets the tests grade on, prepared once per run of the suite.

Under tests/suite.py (KIT_SHARED_DATA names a folder), each data set is prepared there by the first process that needs
it, while the others wait for it (a lock per set), and read by every session after. The suite prepares both this way
as it starts, beside the first session's start-up and the shared batch's set-up, which keep one core busy. Without the
folder, each pytest session prepares its own (tests/conftest.py).

    python tests/datasets.py NAME...   prepare each NAME ("tfds-synthetic", "tfds-sample") in KIT_SHARED_DATA
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assignment import data  # noqa: E402
from assignment.data import SHARED_SAMPLE  # noqa: E402

SHARED_DATA = "KIT_SHARED_DATA"
SOURCES = {"tfds-synthetic": None, "tfds-sample": SHARED_SAMPLE}


def readable_by_sandboxes(directory: Path) -> Path:
    """Test folders are private; the grader's sandboxes read the data as another user."""
    for folder, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            Path(folder, name).chmod(Path(folder, name).stat().st_mode | 0o005)
    directory.chmod(0o755)
    return directory


def shared(name: str) -> Path | None:
    """The data set `name` in KIT_SHARED_DATA, prepared there unless it is already (None without that folder)."""
    folder = os.environ.get(SHARED_DATA)
    if not folder:
        return None
    directory = Path(folder) / name
    with (Path(folder) / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be preparing it: wait for it
        if not (Path(folder) / f"{name}.ready").is_file():
            shutil.rmtree(directory, ignore_errors=True)  # what a process that failed to prepare it left
            directory.mkdir()
            data.prepare(directory, SOURCES[name])
            readable_by_sandboxes(directory)
            (Path(folder) / f"{name}.ready").write_text("")
    return directory


if __name__ == "__main__":
    for name in sys.argv[1:]:
        source = SOURCES[name]
        if source is None or source.is_dir():  # else no sample on this machine: the tests that need it skip, saying why
            shared(name)
