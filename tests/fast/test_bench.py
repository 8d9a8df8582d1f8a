"""`make bench`'s command line (the timing itself is a script, not a test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import batch_speed
import grading_speed


def test_bench_measures_smoke_and_ci_by_default() -> None:
    assert grading_speed.arguments([]).profiles == ["smoke", "ci"]
    assert grading_speed.arguments(["ci", "--repeat", "1"]).profiles == ["ci"]


def test_bench_refuses_an_unknown_profile(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        grading_speed.arguments(["fast"])
    assert "unknown profile(s): fast" in capsys.readouterr().err


def test_batch_line_gives_the_ratios_their_goals_and_the_ceiling() -> None:
    """The figures of 2026-11-30: 6 copies, nbgrader 110 s at 20 CPU-s a notebook, the kit 40 CPU-s a notebook."""
    seconds = {"nbgrader": 110.0, "JOBS=1": 182.6, "JOBS=2": 134.8}
    cpu = {"nbgrader": 20.2, "JOBS=1": 40.4, "JOBS=2": 40.2}
    text = batch_speed.line(6, "real", seconds, cpu, 2)
    assert text.startswith("batch 6 copies (smoke sizes, real data): nbgrader 3.27/min (110 s, 20 CPU-s each)")
    assert "JOBS=2 over nbgrader 0.82x (goal at least 1.2x: NOT met), JOBS=2 over JOBS=1 1.35x" in text
    assert "a notebook's CPU seconds over nbgrader's 1.99x (goal at most 1.45x: NOT met)" in text
    assert text.endswith("with all 2 cores busy at 40 CPU-s a notebook, JOBS=2 could reach at most 0.91x nbgrader")
    met = batch_speed.line(6, "real", {**seconds, "JOBS=2": 90.0}, {**cpu, "JOBS=2": 28.0}, 2)
    assert "(goal at least 1.2x: met)" in met and "1.39x (goal at most 1.45x: met)" in met


def test_overhead_line_says_whether_the_profiles_goal_is_met() -> None:
    smoke = grading_speed.line("smoke", 20.0, 23.0, "bwrap / synthetic", 100, 24.0)
    assert "1.15x (goal at most 1.2x: met)" in smoke and smoke.endswith("as the bare run does: 1.20x")
    assert "1.20x (goal at most 1.1x: NOT met)" in grading_speed.line("ci", 50.0, 60.0, "bwrap / sample", 100, 61.0)
