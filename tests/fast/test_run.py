"""Running a notebook: parameters injected after the `parameters` cell (found again when its tag was lost), and the
kernel restart and skip logic, with a fake kernel."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import nbformat
import pytest
from nbclient.exceptions import DeadKernelError

from assignment.profiles import PROFILES
from autograder import run
from autograder.capture import Capture
from autograder.results import CellFailure, FailureKind
from autograder.run import parameterize


def _nb(*sources: str, tagged: int | None = None) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    if tagged is not None:
        cells[tagged].metadata["tags"] = ["parameters"]
    return nbformat.v4.new_notebook(cells=cells)


def test_values_are_injected_after_the_parameters_cell() -> None:
    nb, notes = parameterize(
        _nb("import x", "IMG_SIZE = 256\nEPOCHS = 10", "train()", tagged=1), {"IMG_SIZE": 32, "EPOCHS": 2}
    )
    assert notes == [] and "injected-parameters" in nb.cells[2].metadata.tags
    assert (
        "IMG_SIZE = 32" in nb.cells[2].source and "EPOCHS = 2" in nb.cells[2].source and nb.cells[3].source == "train()"
    )


def test_a_lost_tag_is_repaired_from_the_cell_that_sets_img_size() -> None:
    nb, notes = parameterize(_nb("import x", "IMG_SIZE=256", "train()"), {"IMG_SIZE": 32})
    assert "IMG_SIZE = 32" in nb.cells[2].source and notes == [
        "the `parameters` tag was missing; the cell that sets IMG_SIZE was used"
    ]


def test_without_any_settings_cell_the_values_go_first() -> None:
    nb, notes = parameterize(_nb("train()"), {"IMG_SIZE": 32})
    assert "IMG_SIZE = 32" in nb.cells[0].source and "no `parameters` cell" in notes[0]
    assert nb.metadata["kernelspec"]["name"] == "python3"


class FakeKernel:
    """Stands in for run._Session: each cell's source says what the kernel does with it ("ok", "error", "die",
    "hang", "die once"; "export dies" kills it while the grader exports). Records every cell it ran."""

    ran: ClassVar[list[tuple[int, int]]] = []

    def __init__(self, nb: nbformat.NotebookNode, sandbox: object, attempt: int) -> None:
        self.nb = nb
        self.sandbox = sandbox
        self.attempt = attempt
        self.failures: list[CellFailure] = []
        self.output = Capture()
        self.client = self

    @contextlib.contextmanager
    def setup_kernel(self, **_streams: object):
        yield

    def run(self, cell: nbformat.NotebookNode, index: int, limit: float) -> None:
        FakeKernel.ran.append((self.attempt, index))
        if cell.source == "die" or (cell.source == "die once" and self.attempt == 0):
            raise DeadKernelError("Kernel died")
        if cell.source == "hang":
            raise run._Unresponsive
        if cell.source == "error":
            self.failures.append(CellFailure(index, FailureKind.ERROR, "ValueError: bad"))

    def run_grader_code(self, source: str, limit: float) -> str | None:
        if any(cell.source == "export dies" for cell in self.nb.cells):
            raise DeadKernelError("Kernel died")
        return None

    def printed(self) -> str:
        return ""

    def close(self) -> None:
        self.output.started()


@pytest.fixture
def fake(tmp_path: Path) -> SimpleNamespace:
    FakeKernel.ran = []
    return SimpleNamespace(scratch=tmp_path, give=lambda *paths: None, violation=None)


def _execute(sandbox: SimpleNamespace, *sources: str, total: int = 900) -> run.RunResult:
    profile = replace(PROFILES["smoke"], total_timeout=total)
    return run.execute(_nb(*sources), profile, sandbox, session=FakeKernel)


def test_a_dead_kernel_is_restarted_the_cells_before_replayed_and_the_fatal_cell_skipped(fake: SimpleNamespace) -> None:
    result = _execute(fake, "ok", "die", "ok", "error")
    assert [(f.index, f.kind) for f in result.failures] == [(1, FailureKind.KERNEL_DIED), (3, FailureKind.ERROR)]
    assert FakeKernel.ran == [(0, 0), (0, 1), (1, 0), (1, 2), (1, 3)], "cell 0 replayed, cell 1 skipped after its death"
    assert result.exported == fake.scratch / "out" and result.started and not result.notes


def test_an_unresponsive_kernel_counts_as_dead_and_a_cell_that_died_once_runs_again(fake: SimpleNamespace) -> None:
    result = _execute(fake, "die once", "hang", "ok")
    assert [(f.index, f.kind) for f in result.failures] == [(0, FailureKind.KERNEL_DIED), (1, FailureKind.KERNEL_DIED)]
    assert (2, 2) in FakeKernel.ran and result.exported is not None


def test_after_three_deaths_the_run_stops_and_keeps_every_failure(fake: SimpleNamespace) -> None:
    result = _execute(fake, "die", "error", "die", "die", "ok")
    kinds = [(f.index, f.kind) for f in result.failures]
    assert kinds == [
        (0, FailureKind.KERNEL_DIED),
        (1, FailureKind.ERROR),
        (2, FailureKind.KERNEL_DIED),
        (3, FailureKind.KERNEL_DIED),
    ]
    assert result.exported is None and "died 3 times" in result.notes[-1] and (2, 4) not in FakeKernel.ran


def test_a_kernel_that_dies_while_exporting_is_noted_not_restarted(fake: SimpleNamespace) -> None:
    result = _execute(fake, "ok", "export dies")
    assert result.exported is None and result.failures == [] and "while the grader exported" in result.notes[0]
    assert {attempt for attempt, _ in FakeKernel.ran} == {0}


def test_cells_past_the_total_time_limit_are_not_run(fake: SimpleNamespace) -> None:
    result = _execute(fake, "ok", "ok", total=0)
    assert [f.kind for f in result.failures] == [FailureKind.NOT_RUN, FailureKind.NOT_RUN] and FakeKernel.ran == []


def test_submitted_outputs_are_cleared_before_the_run() -> None:
    nb = _nb("print(1)")
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="100/100, typed by the student\n")]
    nb.cells[0].execution_count = 7
    nb.metadata["widgets"] = {"state": "<script>"}
    run.clear_outputs(nb)
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None and "widgets" not in nb.metadata
