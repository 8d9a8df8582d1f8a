"""`make test-colab` only: these tests build Python environments and run the notebook on other stacks.

They are left out of the plain `pytest` run (`make test`) unless KIT_STACK_TESTS=1 is set.
"""

from __future__ import annotations

import os
import sys

import pytest

collect_ignore_glob = [] if os.environ.get("KIT_STACK_TESTS") == "1" else ["test_*.py"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("test_stacks")
    if module is not None and module.SUMMARY:
        terminalreporter.write_line("stacks: " + "; ".join(module.SUMMARY))
