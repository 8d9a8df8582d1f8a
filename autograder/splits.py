"""The grader's copy of the splits, once per batch: the examples in the profile's splits, and the splits as the
reference preprocesses them, which every measuring process of the batch gets (autograder/measure.py). Computed by a
process of the grader's own from the data alone (no student input), and kept in the grader's cache for the next
batch on the same inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assignment.data import DataError
from assignment.profiles import Profile
from autograder import batch
from autograder.measuring import files
from autograder.measuring.training import REFERENCE_LIMIT

KIT = Path(__file__).resolve().parent.parent
CACHE = KIT / "build" / "reference"  # the batches' reference splits, by their inputs (see prepare)


@dataclass(frozen=True)
class Reference:
    """What a batch measures every submission against: the examples in the profile's splits, the splits as the
    reference preprocesses them (None when too large to hand to every measuring process, which then reads the data
    itself), and where they came from."""

    examples: dict[str, int]
    splits: Path | None
    origin: str


PREPARE = """
import json, sys
import tensorflow_datasets as tfds
from autograder.measuring import training
data_dir, train, test, size, target, limit = sys.argv[1:7]
info = tfds.builder(training.DATASET, data_dir=data_dir).info
examples = {split: info.splits[split].num_examples for split in (train, test)}
if sum(examples.values()) * int(size) ** 2 * 16 <= int(limit):
    training.save_reference(data_dir, {"train": train, "test": test}, int(size), target)
print(json.dumps(examples))
"""


def prepare(profile: Profile, data_path: Path, folder: Path) -> Reference:
    """Once per batch, in a process of the grader's own (no student input): the examples in the profile's splits,
    and the splits as the reference preprocesses them (a reference.npz, when small enough to hand to every measuring
    process). Kept in the grader's cache (CACHE, its user's alone, never in a sandbox) under a key of the data, the
    splits, the size, the Python environment and its packages, and the grader's version, so that the next batch on
    the same inputs does not compute them again; where the cache cannot be used, computed into `folder` for this
    batch."""
    p = profile.parameters
    parts = [batch.data_fingerprint(data_path), str(data_path), p.train_split, p.test_split, p.img_size, sys.prefix]
    parts += [_version(name) for name in ("tensorflow", "tensorflow-cpu", "tensorflow-datasets", "keras", "numpy")]
    key = hashlib.sha256(json.dumps([*parts, batch.grader_version()]).encode()).hexdigest()[:24]
    try:
        return _cached(CACHE / key, profile, data_path)
    except (OSError, ValueError, files.Refused) as error:  # not this user's, read-only, a full disk: this batch's
        return Reference(*_compute(profile, data_path, folder), f"computed for this batch (the cache: {error})")


def _version(distribution: str) -> str:
    """The installed version of `distribution` (read from its metadata, without importing it), or ""."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _cached(entry: Path, profile: Profile, data_path: Path) -> Reference:
    """The cache's entry, computed first if it is missing (a new entry appears whole, by a rename, or not at all)."""
    CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
    if CACHE.is_symlink() or CACHE.stat().st_uid != os.geteuid() or CACHE.stat().st_mode & 0o077:
        raise PermissionError(f"{CACHE} is not this user's alone")
    origin = f"from the grader's cache, {entry}"
    if not (entry / "entry.json").is_file():
        origin = f"computed, and kept in the grader's cache, {entry}"
        _prune()
        made = Path(tempfile.mkdtemp(prefix="new-", dir=CACHE))
        try:
            examples, _ = _compute(profile, data_path, made)
            (made / "entry.json").write_text(json.dumps({"data": str(data_path), "examples": examples}))
            with contextlib.suppress(OSError):  # another batch made it meanwhile: the same inputs, the same files
                made.rename(entry)
        finally:
            shutil.rmtree(made, ignore_errors=True)
    examples = json.loads(files.read(entry / "entry.json", 1 << 16)).get("examples")
    if not isinstance(examples, dict) or not all(isinstance(v, int) for v in examples.values()):
        raise OSError(f"{entry} holds no example counts")
    os.utime(entry)  # in use: not pruned
    reference = entry / "reference.npz"
    return Reference(examples, reference if reference.is_file() else None, origin)


def _prune() -> None:
    """Remove the cache's entries unused for a week (one a killed grader left half made too) or made for data that
    is gone."""
    for old in CACHE.iterdir():
        with contextlib.suppress(OSError, ValueError, AttributeError, files.Refused):
            unused = time.time() - old.lstat().st_mtime > 7 * 86400
            if unused or not Path(json.loads(files.read(old / "entry.json", 1 << 16)).get("data", "")).is_dir():
                shutil.rmtree(old)


def _compute(profile: Profile, data_path: Path, folder: Path) -> tuple[dict[str, int], Path | None]:
    """The example counts, and folder/reference.npz when the splits are small enough."""
    p = profile.parameters
    target = folder / "reference.npz"
    argv = [
        sys.executable,
        "-c",
        PREPARE,
        str(data_path),
        p.train_split,
        p.test_split,
        str(p.img_size),
        str(target),
        str(REFERENCE_LIMIT),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(argv, cwd=KIT, capture_output=True, text=True, check=False, timeout=1800, env=env)
    if done.returncode:
        raise DataError(
            f"the data in {data_path} could not be read for the splits {p.train_split}, {p.test_split}: "
            f"{done.stderr[-500:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1]), target if target.is_file() else None
