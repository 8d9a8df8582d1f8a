"""Re-judging instead of re-running, on copies of the shared smoke batch (tests/rejudging.py): a changed judging
version re-judges everyone (all but the hostile notebooks that earned nothing) without running a notebook; a changed
measuring version runs that notebook again."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Batch
from rejudging import check_measured_again, check_rejudged_without_running

pytestmark = pytest.mark.slow


def test_a_changed_check_re_judges_without_running_a_notebook(
    smoke_batch: Batch, synthetic_data_dir: Path, tmp_path: Path
) -> None:
    check_rejudged_without_running(
        smoke_batch.out, smoke_batch.kinds, synthetic_data_dir, tmp_path, *smoke_batch.flags()
    )


def test_a_changed_measuring_module_runs_the_notebook_again(
    smoke_batch: Batch, synthetic_data_dir: Path, tmp_path: Path
) -> None:
    submissions = smoke_batch.out.parent / "submissions"
    flags = smoke_batch.flags()
    check_measured_again(smoke_batch.out, submissions, synthetic_data_dir, tmp_path, "unfilled_release", *flags)
