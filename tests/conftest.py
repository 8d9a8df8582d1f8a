"""Shared fixtures: prepared datasets (synthetic always, the real sample when ../shared has it)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import batches
import datasets
import harness
import pytest
from attacks import clear_keys
from grading import sandbox_or_skip

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from assignment import data
from assignment.data import SHARED_SAMPLE

ROOT = Path(__file__).resolve().parent.parent
# A file tests/suite.py names: written once the shared batch is graded and the machine looked at after it where other
# tests could change it (or once that failed or was skipped), so the rest of the suite may run beside its readers.
BATCH_SIGNAL = "KIT_BATCH_SIGNAL"
# Under tests/suite.py, the sessions started beside the shared batch's: the file they wait for once they have collected
# their tests (BATCH_SIGNAL's), and for at most how long (the suite writes it itself when the batch's session ends).
WAIT_FOR = "KIT_WAIT_FOR"
WAIT_LIMIT = 3000  # seconds


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session started beside the shared batch's (KIT_WAIT_FOR) collects its tests while the batch is set up, on the
    core that leaves idle, and runs them once the batch is graded. Under xdist each worker waits, not the controller,
    which collects nothing."""
    signal = os.environ.get(WAIT_FOR)
    deadline = time.monotonic() + WAIT_LIMIT
    while signal and not Path(signal).exists() and time.monotonic() < deadline:
        time.sleep(0.5)


# The self-checks' module runs one kernel, one process, for about a minute: first in its session, so that it never
# runs alone at the end with a core idle (tests/suite.py keeps its modules in this order).
FIRST = ("test_selfchecks.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "smoke_batch" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.batch)
    items.sort(key=lambda item: item.path.name not in FIRST)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f"the real Oxford-IIIT Pet sample is not at {SHARED_SAMPLE} (../shared is absent on this machine)")
    return SHARED_SAMPLE


def _prepared(tmp_path_factory: pytest.TempPathFactory, name: str, source: Path | None) -> Path:
    """The data set `name` prepared from `source` (None: synthetic), read-only to the tests that get it: the suite's
    shared one (tests/datasets.py), else this session's own."""
    found = datasets.shared(name)
    if found is not None:
        return found
    directory = tmp_path_factory.mktemp(name)
    data.prepare(directory, source)
    return datasets.readable_by_sandboxes(directory)


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _prepared(tmp_path_factory, "tfds-synthetic", None)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory, shared_sample: Path) -> Path:
    return _prepared(tmp_path_factory, "tfds-sample", shared_sample)


def _signal() -> None:
    """Tell tests/suite.py (KIT_BATCH_SIGNAL) that the rest of the suite may run: the batch is graded, or failed."""
    if os.environ.get(BATCH_SIGNAL) and not Path(os.environ[BATCH_SIGNAL]).exists():
        Path(os.environ[BATCH_SIGNAL]).write_text("graded\n")


@pytest.fixture(scope="session")
def smoke_batch(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[harness.Batch]:
    """The suite's one shared `make grade` batch under smoke (tests/batches.py): the solution, the release, mutants,
    broken and hostile notebooks, graded once and read by every test that needs them. The synthetic data set is asked
    for once the notebooks are written (under tests/suite.py it is being prepared meanwhile)."""
    cleanup: list[Callable] = []
    try:
        try:
            settings = (sandbox_or_skip(), batches.CELL_TIMEOUT, batches.JOBS)
            data_dir = functools.partial(request.getfixturevalue, "synthetic_data_dir")
            root = tmp_path_factory.mktemp("batch")
            batch = harness.grade("smoke", root, batches.write, data_dir, settings, cleanup, _signal)
        finally:
            _signal()
        yield batch
    finally:
        harness.kill_sandbox_uids()
        clear_keys()
        for undo in reversed(cleanup):
            undo()
