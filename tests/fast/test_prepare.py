"""The batch's reference splits: computed once for the same data, splits, size, environment and grader, then taken
from the grader's own cache; a cache others could write is never used, and a broken one never stops a batch."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import pytest

from assignment.data import DataError
from assignment.private import private_dir
from assignment.profiles import PROFILES
from autograder import batch, splits

SMOKE = PROFILES["smoke"]


@pytest.fixture
def computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders the (stubbed) computation wrote into, with the cache under tmp_path/build."""
    calls: list[Path] = []

    def compute(profile, data_path: Path, folder: Path) -> tuple[dict[str, int], Path]:
        calls.append(folder)
        (folder / "reference.npz").write_bytes(f"{profile.name} {data_path}".encode())
        (folder / splits.DESCRIPTORS).write_bytes(b"descriptors")
        return {"train": 200, "test": 100}, folder / "reference.npz"

    monkeypatch.setattr(splits, "CACHE", tmp_path / "build" / "reference")
    monkeypatch.setattr(splits, "_compute", compute)
    return calls


def _data(tmp_path: Path, stamp: str) -> Path:
    """A data dir with the data tool's stamp where the tool writes it (beside the dataset's files), and its private
    part beside it, of the same edition."""
    folder = tmp_path / "data"
    edition = json.dumps({**json.loads(stamp), "edition": "e1"})
    for part in (folder, private_dir(folder)):
        (part / "oxford_iiit_pet" / "4.0.0").mkdir(parents=True, exist_ok=True)
        (part / "oxford_iiit_pet" / "4.0.0" / "kit_source.json").write_text(edition)
    private_dir(folder).chmod(0o700)
    return folder


def _entries(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "build" / "reference").iterdir())


def test_the_next_batch_on_the_same_inputs_reuses_the_reference(tmp_path: Path, computed: list[Path]) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    first = splits.prepare(SMOKE, data_dir, tmp_path)
    second = splits.prepare(SMOKE, data_dir, tmp_path)
    assert computed == [tmp_path] and first.cached and second.cached
    assert first.origin.startswith("computed, and kept in the grader's cache") and second.origin.startswith("from")
    assert first.splits == tmp_path / "reference.npz"
    assert first.examples == second.examples == {"train": 200, "test": 100}
    assert second.splits.read_bytes() == f"smoke {data_dir}".encode()
    assert _entries(tmp_path) == [second.splits.parent.name]
    assert first.descriptors == tmp_path / splits.DESCRIPTORS
    assert second.descriptors == second.splits.parent / splits.DESCRIPTORS and second.descriptors.is_file()
    assert stat.S_IMODE((tmp_path / "build" / "reference").stat().st_mode) == 0o700


def test_the_same_data_unpacked_at_another_time_matches(tmp_path: Path) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    before = batch.data_fingerprint(data_dir)
    for path in (data_dir, *data_dir.rglob("*")):
        os.utime(path, (1e9, 1e9))
    assert batch.data_fingerprint(data_dir) == before
    (data_dir / "oxford_iiit_pet" / "4.0.0" / "kit_source.json").write_text('{"source": "b"}')
    assert batch.data_fingerprint(data_dir) != before


@pytest.mark.parametrize("change", ["data", "size", "grader", "environment", "packages"])
def test_anything_that_shapes_the_splits_computes_them_again(
    tmp_path: Path, computed: list[Path], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    splits.prepare(SMOKE, data_dir, tmp_path)
    profile = SMOKE
    if change == "data":
        _data(tmp_path, '{"source": "b"}')
    elif change == "size":
        profile = PROFILES["ci"]
    elif change == "grader":
        monkeypatch.setattr(batch, "measuring_version", lambda: "another grader")
    elif change == "environment":
        monkeypatch.setattr(sys, "prefix", "/another/venv")
    else:
        monkeypatch.setattr(splits, "_version", lambda name: f"{name} 0.0")
    again = splits.prepare(profile, data_dir, tmp_path)
    assert len(computed) == 2 and again.origin.startswith("computed, and kept") and len(_entries(tmp_path)) == 2


@pytest.mark.parametrize("flaw", ["open to others", "another user's", "a link"])
def test_a_cache_not_the_graders_alone_is_not_used(
    tmp_path: Path, computed: list[Path], monkeypatch: pytest.MonkeyPatch, flaw: str
) -> None:
    cache = tmp_path / "build" / "reference"
    if flaw == "a link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        (tmp_path / "build").mkdir()
        cache.symlink_to(tmp_path / "elsewhere")
    else:
        cache.mkdir(parents=True, mode=0o700)
    if flaw == "open to others":
        cache.chmod(0o777)
    if flaw == "another user's":
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
        monkeypatch.setattr(splits.data, "private_part", lambda path: path)  # its own check: see the tests below
    folder = tmp_path / "batch"
    folder.mkdir()
    reference = splits.prepare(SMOKE, _data(tmp_path, "{}"), folder)
    assert reference.splits == folder / "reference.npz" and computed == [folder] and not reference.cached
    assert reference.origin.startswith("computed for this batch (the cache: ") and "alone" in reference.origin
    assert not list(cache.iterdir())


@pytest.mark.parametrize("content", ["[1, 2]", '{"examples": "many"}', "not json", None])
def test_a_broken_entry_is_made_again(tmp_path: Path, computed: list[Path], content: str | None) -> None:
    data_dir = _data(tmp_path, "{}")
    splits.prepare(SMOKE, data_dir, tmp_path)
    (entry,) = (tmp_path / "build" / "reference").iterdir()
    if content is None:
        (entry / "entry.json").unlink()
    else:
        (entry / "entry.json").write_text(content)
    again = splits.prepare(SMOKE, data_dir, tmp_path)
    assert len(computed) == 2 and again.cached and json.loads((entry / "entry.json").read_text())["examples"]


def test_entries_unused_for_a_week_are_pruned(tmp_path: Path, computed: list[Path]) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    splits.prepare(SMOKE, data_dir, tmp_path)
    (used,) = _entries(tmp_path)
    splits.prepare(PROFILES["ci"], data_dir, tmp_path)
    week = time.time() - 8 * 86400
    for entry in (tmp_path / "build" / "reference").iterdir():
        os.utime(entry, (week, week))
    splits.prepare(SMOKE, data_dir, tmp_path)  # a use: this one stays
    _data(tmp_path, '{"source": "b"}')
    splits.prepare(SMOKE, data_dir, tmp_path)
    assert len(computed) == 3 and len(_entries(tmp_path)) == 2 and used in _entries(tmp_path)


@pytest.mark.parametrize("flaw", ["no private part", "another edition", "a link"])
def test_data_without_its_own_private_part_is_refused(tmp_path: Path, computed: list[Path], flaw: str) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    hidden = private_dir(data_dir)
    if flaw == "no private part":
        shutil.rmtree(hidden)
    elif flaw == "another edition":
        (hidden / "oxford_iiit_pet" / "4.0.0" / "kit_source.json").write_text('{"source": "a", "edition": "e2"}')
    else:
        hidden.rename(tmp_path / "elsewhere")
        hidden.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="private" if flaw != "a link" else "not a link"):
        splits.prepare(SMOKE, data_dir, tmp_path)
    assert computed == []


def test_a_private_part_opened_to_others_is_closed_before_use(tmp_path: Path, computed: list[Path]) -> None:
    data_dir = _data(tmp_path, '{"source": "a"}')
    private_dir(data_dir).chmod(0o755)
    splits.prepare(SMOKE, data_dir, tmp_path)
    assert stat.S_IMODE(private_dir(data_dir).stat().st_mode) == 0o700 and computed == [tmp_path]
