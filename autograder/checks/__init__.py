"""Hidden checks: pytest tests over the facts the grader measured (autograder/measure.py).

`run` executes them in this process (they import no TensorFlow and run in milliseconds) and
returns typed results. Standalone, for an instructor: pytest autograder/checks --facts F --run-config C
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from autograder.results import CheckResult

FOLDER = Path(__file__).resolve().parent


class _Results:
    """A pytest plugin that keeps the results the conftest collects."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.problem = ""

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.results = list(getattr(session.config, "_grader_results", []))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problem = str(report.longrepr)[-2000:]


def run(facts: Path, run_config: Path) -> tuple[list[CheckResult], str]:
    """Run every hidden check on one submission's facts; return the results and a grader problem, if any."""
    plugin = _Results()
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(errors):
        code = pytest.main(
            [
                str(FOLDER),
                "-p",
                "no:cacheprovider",
                "-p",
                "no:terminal",
                "-p",
                "no:warnings",
                "-p",
                "no:unraisableexception",  # its full garbage collection at the end cost more than all the checks
                "--rootdir",
                str(FOLDER),
                f"--facts={facts}",
                f"--run-config={run_config}",
            ],
            plugins=[plugin],
        )
    if code not in (0, 1) or plugin.problem:
        return (
            plugin.results,
            f"the hidden checks did not run (pytest exit {int(code)}): {plugin.problem}{errors.getvalue()[-2000:]}",
        )
    return plugin.results, ""
