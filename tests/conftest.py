"""Shared fixtures: prepared datasets (synthetic always, the real sample when ../shared has it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from grading import grade_command

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from assignment import data
from assignment.data import SHARED_SAMPLE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f"the real Oxford-IIIT Pet sample is not at {SHARED_SAMPLE} (../shared is absent on this machine)")
    return SHARED_SAMPLE


def readable_by_sandboxes(directory: Path) -> Path:
    """pytest makes private folders; the grader's sandboxes read the data as another user."""
    for folder, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            Path(folder, name).chmod(Path(folder, name).stat().st_mode | 0o005)
    directory.chmod(0o755)
    return directory


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tfds-synthetic")
    data.prepare(directory, None)
    return readable_by_sandboxes(directory)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory, shared_sample: Path) -> Path:
    directory = tmp_path_factory.mktemp("tfds-sample")
    data.prepare(directory, shared_sample)
    return readable_by_sandboxes(directory)


@pytest.fixture(scope="session")
def smoke_batch(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> tuple[Path, dict[str, str], str]:
    """`make grade` under the smoke profile over the solution, the release, mutants and broken notebooks."""
    from mutants import write_batch

    root = tmp_path_factory.mktemp("batch")
    kinds = write_batch(root / "submissions")
    out = root / "grades"
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_data_dir)}
    # 120 s a cell (5x the smoke training cell on a CPU without bf16 units) rather than the profile's 180: the
    # infinite loop waits for it.
    command = grade_command(root / "submissions", out, "--cell-timeout", "120")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, kinds, done.stdout
