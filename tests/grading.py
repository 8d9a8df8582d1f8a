"""`make grade`'s command line as the tests run it, the way an instructor would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autograder import backends


def grade_command(submissions: Path, out: Path, *extra: str, profile: str = "smoke", jobs: int = 2) -> list[str]:
    """python -m autograder.grade SUBMISSIONS --profile P --out OUT --jobs N, then `extra`."""
    flags = ["--profile", profile, "--out", str(out), "--jobs", str(jobs), *extra]
    return [sys.executable, "-m", "autograder.grade", str(submissions), *flags]


def sandbox_or_skip() -> str:
    """The sandbox backend this machine gives student code; the test skips, saying why, where there is none."""
    try:
        return backends.detect("auto").name
    except backends.SandboxUnavailable as error:
        pytest.skip(f"no sandbox on this machine: {error}")


def folders(root: Path, *names: str) -> list[Path]:
    """Empty folders `names` under `root`."""
    made = [root / name for name in names]
    for folder in made:
        folder.mkdir()
    return made
