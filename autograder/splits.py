"""The grader's copy of the splits, once per batch: the examples in the profile's splits and in the data's private
part, and those splits as the reference preprocesses them, which every measuring process of the batch gets
(autograder/measure.py). Computed by a process of the grader's own from the data alone (no student input), and kept
in the grader's cache for the next batch on the same inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assignment import data, rundata
from assignment.data import DataError
from assignment.profiles import Profile
from autograder import batch
from autograder.measuring import files
from autograder.measuring.training import BYTES_PER_PIXEL, PRIVATE_LIMIT, REFERENCE_LIMIT
from autograder.probe.recorder import DESCRIPTORS

KIT = Path(__file__).resolve().parent.parent
CACHE = KIT / "build" / "reference"  # the batches' reference splits, by their inputs (see prepare)


@dataclass(frozen=True)
class Reference:
    """What a batch measures every submission against: the examples in the profile's splits and in the private part
    (key "private"), the splits as the reference preprocesses them (None when too large to hand to every measuring
    process, which then reads the data itself), and where they came from."""

    examples: dict[str, int]
    splits: Path | None
    origin: str
    cached: bool = False  # kept in the grader's cache for the batches after this one
    descriptors: Path | None = None  # the visible test split's descriptors, for the kernel's recorder


PREPARE = """
import json, sys
import numpy as np
import tensorflow_datasets as tfds
from autograder.measuring import training
from autograder.probe import descriptors
data_dir, private_dir, train, test, size, target, limit, private_limit, described = sys.argv[1:10]
# (name in reference.npz, data dir, split, key in the example counts)
parts = [("train", data_dir, train, train), ("test", data_dir, test, test), ("private", private_dir, "test", "private")]
examples = {
    key: tfds.builder(training.DATASET, data_dir=folder).info.splits[split].num_examples
    for _, folder, split, key in parts
}
per_example = int(size) ** 2 * training.BYTES_PER_PIXEL
if sum(examples.values()) * per_example <= int(limit):
    arrays = training.save_reference({name: (folder, split) for name, folder, split, _ in parts}, int(size), target)
    found = descriptors.coarse(arrays["test_images"])
else:  # the private part alone (as much of it as PRIVATE_LIMIT holds); the measuring reads the visible splits itself
    examples["private"] = min(examples["private"], int(private_limit) // per_example)
    training.save_reference({"private": (private_dir, f"test[:{examples['private']}]")}, int(size), target)
    batches = training.reference_dataset(data_dir, test, int(size)).batch(64)
    found = np.concatenate([descriptors.coarse(images.numpy()) for images, _, _ in batches])
np.save(described, found)
print(json.dumps(examples))
"""


def prepare(
    profile: Profile, data_path: Path, folder: Path, announce: Callable[[str], None] | None = None
) -> Reference:
    """Once per batch, in a process of the grader's own (no student input): the examples in the profile's splits,
    and the splits as the reference preprocesses them (a reference.npz, when small enough to hand to every measuring
    process). Taken from the grader's cache (CACHE, its user's alone, never in a sandbox) when an entry there was
    made from the same data, splits, size, Python environment and packages, and measuring code; else computed into
    `folder` for this batch and kept there for the next ones. The data's private part is checked first: made with
    the data, and closed to everyone but the grader (DataError otherwise). `announce` gets a line before a
    computation starts."""
    data.private_part(data_path)
    entry = CACHE / _key(profile, data_path)
    say = announce or (lambda _line: None)
    try:
        _check_owner()
        examples = _read(entry)
    except OSError as error:  # not this user's alone, unreadable: the batch does without it
        say(computing(profile, data_path))
        examples, splits = _compute(profile, data_path, folder)
        why = f"computed for this batch (the cache: {error})"
        return Reference(examples, splits, why, descriptors=_found(folder / DESCRIPTORS))
    if examples is not None:
        splits = _found(entry / "reference.npz")
        return Reference(examples, splits, f"from the grader's cache, {entry}", True, _found(entry / DESCRIPTORS))
    say(computing(profile, data_path))
    examples, splits = _compute(profile, data_path, folder)
    described = _found(folder / DESCRIPTORS)
    if _keep(entry, examples, splits, described):
        return Reference(examples, splits, f"computed, and kept in the grader's cache, {entry}", True, described)
    return Reference(examples, splits, "computed for this batch (the cache could not keep it)", descriptors=described)


def _found(path: Path) -> Path | None:
    return path if path.is_file() else None


def computing(profile: Profile, data_path: Path) -> str:
    """The line a batch prints before it computes its reference splits: what, and roughly how long."""
    p = profile.parameters
    sizes = rundata.recorded_sizes(data_path)
    examples = 0
    for split in (p.train_split, p.test_split):
        name, _, rest = split.partition("[")
        cut = re.fullmatch(r":(\d+)\]", rest)
        examples += min(sizes.get(name, 0), int(cut.group(1))) if cut else sizes.get(name, 0)
    examples += sizes.get("private test", 0)
    per_example = p.img_size**2 * BYTES_PER_PIXEL
    kept = examples * per_example <= REFERENCE_LIMIT
    # measured on 2 cores: a process's TensorFlow start and the counts ~6 s, each example preprocessed ~4 ms more
    # too large to keep whole: the private part alone, as much of it as PRIVATE_LIMIT holds (see PREPARE)
    prepared = examples if kept else min(sizes.get("private test", 0), PRIVATE_LIMIT // per_example)
    seconds = 6 + prepared * 0.004
    what = f"preprocessing {prepared} examples at {p.img_size} px"
    return (
        f"reference splits: computing the grader's copy of {p.train_split}, {p.test_split} and the private test "
        f"part ({what}; once for "
        f"this data, profile and grader); about {seconds:.0f} s on 2 cores ..."
    )


def _key(profile: Profile, data_path: Path) -> str:
    p = profile.parameters
    parts = [batch.data_fingerprint(data_path), str(data_path), p.train_split, p.test_split, p.img_size, sys.prefix]
    parts += [_version(name) for name in ("tensorflow", "tensorflow-cpu", "tensorflow-datasets", "keras", "numpy")]
    return hashlib.sha256(json.dumps([*parts, batch.measuring_version()]).encode()).hexdigest()[:24]


def _version(distribution: str) -> str:
    """The installed version of `distribution` (read from its metadata, without importing it), or ""."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _check_owner() -> None:
    """CACHE exists, is this user's alone, and so is the folder that holds it (else PermissionError)."""
    CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder, closed in ((CACHE.parent, 0o022), (CACHE, 0o077)):
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & closed:
            raise PermissionError(f"{folder} is not this user's alone")


def _read(entry: Path) -> dict[str, int] | None:
    """The example counts of a whole entry (its use noted, so it is not pruned), or None; one not whole goes."""
    if not entry.exists():
        return None
    try:
        examples = json.loads(files.read(entry / "entry.json", 1 << 16))["examples"]
        if isinstance(examples, dict) and all(isinstance(value, int) for value in examples.values()):
            os.utime(entry)
            return examples
    except (files.Refused, ValueError, TypeError, KeyError, FileNotFoundError):
        pass
    shutil.rmtree(entry, ignore_errors=True)
    return None


def _keep(entry: Path, examples: dict[str, int], splits: Path | None, descriptors: Path | None) -> bool:
    """Put a batch's splits and descriptors in the cache (whole, by a rename, or not at all); whether the entry is
    there now."""
    made = None
    try:
        _prune()
        made = Path(tempfile.mkdtemp(prefix="new-", dir=CACHE))
        if splits is not None:
            shutil.copyfile(splits, made / "reference.npz")
        if descriptors is not None:
            shutil.copyfile(descriptors, made / DESCRIPTORS)
        (made / "entry.json").write_text(json.dumps({"examples": examples}))
        made.rename(entry)  # fails when another batch made it meanwhile: from the same inputs, the same files
    except OSError:
        pass
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    return (entry / "entry.json").is_file()


def _prune() -> None:
    """Remove the cache's entries unused for a week (one a killed grader left half made too)."""
    for old in CACHE.iterdir():
        with contextlib.suppress(OSError):
            if time.time() - old.lstat().st_mtime > 7 * 86400:
                shutil.rmtree(old)


def _compute(
    profile: Profile, data_path: Path, folder: Path, limits: tuple[int, int] = (REFERENCE_LIMIT, PRIVATE_LIMIT)
) -> tuple[dict[str, int], Path | None]:
    """The example counts, and folder/reference.npz (every split when they are small enough, else the private part
    alone); the test split's descriptors in folder/DESCRIPTORS."""
    p = profile.parameters
    target = folder / "reference.npz"
    argv = [
        sys.executable,
        "-c",
        PREPARE,
        str(data_path),
        str(data.private.private_dir(data_path)),
        p.train_split,
        p.test_split,
        str(p.img_size),
        str(target),
        *map(str, limits),
        str(folder / DESCRIPTORS),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(argv, cwd=KIT, capture_output=True, text=True, check=False, timeout=1800, env=env)
    if done.returncode:
        raise DataError(
            f"the data in {data_path} could not be read for the splits {p.train_split}, {p.test_split}: "
            f"{done.stderr[-500:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1]), target if target.is_file() else None
