"""`make test-browser` only: JupyterLab and headless Chromium, left out of the plain `pytest` run unless
KIT_BROWSER_TEST=1."""

from __future__ import annotations

import os
import sys

import pytest

collect_ignore_glob = [] if os.environ.get("KIT_BROWSER_TEST") == "1" else ["test_*.py"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("test_browser")
    if module is not None and module.SUMMARY:
        terminalreporter.write_line("browser: " + "; ".join(module.SUMMARY))
