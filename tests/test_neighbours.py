"""Hostile notebooks graded before honest ones: what one leaves behind (a crafted model file, named pipes) cannot
change a later student's grade or stop the batch. Read off the shared smoke batch (tests/batches.py): its workers
take the notebooks in order, JOBS at a time, so a notebook JOBS places after another starts only once that one is
graded and its sandboxes closed (their uids handed on to later notebooks)."""

from __future__ import annotations

import pytest
from batches import ATTACKS
from harness import Batch

from assignment.points import MAX_POINTS

HOSTILE = ("crafted_model_file", "named_pipes")
pytestmark = pytest.mark.slow


def test_every_notebook_has_a_row(smoke_batch: Batch) -> None:
    assert set(smoke_batch.rows) == set(smoke_batch.kinds), sorted(smoke_batch.rows)


@pytest.mark.parametrize("slug", HOSTILE)
def test_an_honest_notebook_after_a_hostile_one_keeps_full_marks(smoke_batch: Batch, slug: str) -> None:
    order = smoke_batch.order()
    hostile = order.index(next(attack.student for attack in ATTACKS if attack.slug == slug))
    after = [s for s in order[hostile + smoke_batch.jobs :] if smoke_batch.kinds.get(s) == "solution"]
    assert after, f"no honest notebook is graded after {slug} has finished"
    for student in after:
        row = smoke_batch.rows[student]
        assert (row["total"], row["status"]) == (str(MAX_POINTS), "ok"), row
