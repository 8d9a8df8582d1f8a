"""The batch's reference splits: computed once for the same data, splits, size and grader, then taken from the
grader's own cache; a cache others could write is never used."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from assignment.profiles import PROFILES
from autograder import splits


@pytest.fixture
def computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders the (stubbed) computation wrote into, with the cache under tmp_path."""
    calls: list[Path] = []

    def compute(profile, data_path: Path, folder: Path) -> tuple[dict[str, int], Path]:
        calls.append(folder)
        (folder / "reference.npz").write_bytes(f"{profile.name} {data_path}".encode())
        return {"train": 200, "test": 100}, folder / "reference.npz"

    monkeypatch.setattr(splits, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(splits, "_compute", compute)
    return calls


def _data(tmp_path: Path, stamp: str) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    (folder / "kit_source.json").write_text(stamp)
    return folder


def test_the_next_batch_on_the_same_inputs_reuses_the_reference(tmp_path: Path, computed: list[Path]) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    first = splits.prepare(PROFILES["smoke"], data_dir, tmp_path)
    second = splits.prepare(PROFILES["smoke"], data_dir, tmp_path)
    assert len(computed) == 1 and (first.examples, first.splits) == (second.examples, second.splits)
    assert first.origin.startswith("computed, and kept in the grader's cache") and second.origin.startswith("from")
    examples, reference = second.examples, second.splits
    assert examples == {"train": 200, "test": 100} and reference.read_bytes() == f"smoke {data_dir}".encode()
    assert reference.parent.parent == tmp_path / "cache" and not (tmp_path / "reference.npz").exists()
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [reference.parent.name]  # no half-made entry left


def test_other_data_or_another_size_is_computed_again(tmp_path: Path, computed: list[Path]) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    splits.prepare(PROFILES["smoke"], data_dir, tmp_path)
    splits.prepare(PROFILES["ci"], data_dir, tmp_path)
    _data(tmp_path, '{"source": "b"}')
    reference = splits.prepare(PROFILES["smoke"], data_dir, tmp_path).splits
    assert len(computed) == 3 and len(list((tmp_path / "cache").iterdir())) == 3
    assert reference.read_bytes() == f"smoke {data_dir}".encode()


def test_a_cache_others_can_open_is_not_used(tmp_path: Path, computed: list[Path]) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache").chmod(0o777)
    batch_folder = tmp_path / "batch"
    batch_folder.mkdir()
    reference = splits.prepare(PROFILES["smoke"], _data(tmp_path, "{}"), batch_folder)
    assert reference.splits == batch_folder / "reference.npz" and computed == [batch_folder]
    assert reference.origin.startswith("computed for this batch (the cache: ") and "user's alone" in reference.origin
    assert not list((tmp_path / "cache").iterdir())


def test_entries_for_data_that_is_gone_are_pruned(tmp_path: Path, computed: list[Path]) -> None:
    gone = tmp_path / "gone"
    shutil.copytree(_data(tmp_path, '{"source": "a"}'), gone)
    splits.prepare(PROFILES["smoke"], gone, tmp_path)
    shutil.rmtree(gone)
    kept = splits.prepare(PROFILES["smoke"], tmp_path / "data", tmp_path).splits
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [kept.parent.name] and len(computed) == 2
