"""`make grade`'s command line as the tests run it, the way an instructor would, and the hidden checks run on the
committed fact fixtures (tests/fast/fixtures)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from autograder import backends, checks
from autograder.results import CheckResult

FIXTURES = Path(__file__).resolve().parent / "fast" / "fixtures"


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


def load_fixture(name: str) -> dict:
    """The committed facts and run settings of one graded notebook ("solution", "mutant_<name>", ...)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def judge(folder: Path, fixture: dict) -> list[CheckResult]:
    """The hidden checks' results on `fixture`'s facts (written into `folder`, as a sandbox would leave them)."""
    (folder / "facts.json").write_text(json.dumps(fixture["facts"]))
    (folder / "run.json").write_text(json.dumps(fixture["run"]))
    results, problem = checks.run(folder / "facts.json", folder / "run.json")
    assert not problem, problem
    return results


def judge_edited(
    folder: Path, fixture: dict, module: str, edit: Callable[[str], str]
) -> tuple[pytest.ExitCode, list[CheckResult]]:
    """The hidden checks, copied into `folder` with `edit` applied to the text of `module` (e.g.
    "test_preprocess.py"), run on `fixture`'s facts: pytest's exit code and the results."""
    checks_copy = folder / "checks"
    checks_copy.mkdir(parents=True)
    for source in Path(checks.__file__).parent.glob("*.py"):
        if source.name.startswith("test_") or source.name == "conftest.py":
            (checks_copy / source.name).write_text(source.read_text())
    edited = checks_copy / module
    before = edited.read_text()
    edited.write_text(edit(before))
    assert edited.read_text() != before, f"the edit changed nothing in {module}"
    (folder / "facts.json").write_text(json.dumps(fixture["facts"]))
    (folder / "run.json").write_text(json.dumps(fixture["run"]))
    plugin = checks._Results()
    flags = ["-p", "no:cacheprovider", "-p", "no:terminal", f"--facts={folder / 'facts.json'}"]
    try:
        code = pytest.main([str(checks_copy), *flags, f"--run-config={folder / 'run.json'}"], plugins=[plugin])
    finally:  # the copy's modules (test_preprocess, conftest, ...) must not stand in for another copy's
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", "") or "").startswith(str(checks_copy)):
                del sys.modules[name]
        while str(checks_copy) in sys.path:
            sys.path.remove(str(checks_copy))
    return code, plugin.results
