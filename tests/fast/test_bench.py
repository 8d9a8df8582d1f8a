"""`make bench`'s command line (the timing itself is a script, not a test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import grading_speed


def test_bench_measures_smoke_and_ci_by_default() -> None:
    assert grading_speed.arguments([]).profiles == ["smoke", "ci"]
    assert grading_speed.arguments(["ci", "--repeat", "1"]).profiles == ["ci"]


def test_bench_refuses_an_unknown_profile(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        grading_speed.arguments(["fast"])
    assert "unknown profile(s): fast" in capsys.readouterr().err
