"""Error carried forward, graded for real in the shared batch (tests/cascade.py): each cascading mistake is charged
in its own section only and its cause named once; the grader's second run leaks nothing of its own code."""

from __future__ import annotations

import cascade
import pytest
from harness import Batch

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", cascade.CASES, ids=[case.name for case in cascade.CASES])
def test_a_cascading_mistake_is_charged_in_its_own_section_only(smoke_batch: Batch, case: cascade.Cascade) -> None:
    assert case.check(smoke_batch.out) == []


def test_the_second_run_leaks_nothing_of_the_graders_code(smoke_batch: Batch) -> None:
    assert cascade.check_leak(smoke_batch.out) == []
