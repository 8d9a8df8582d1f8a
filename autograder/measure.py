"""Measuring, from the grader's side. What the kernel and the probe left is copied, file by file as
`measuring.files.read` reads (no link followed, regular files only, sizes checked first), into a fresh sandbox that
runs the measuring program (autograder/measuring/): no network, no student code, inputs it gets only once their
writers are gone, its own time limit, inside the submission's memory. Its facts are read back within a size bound
and accepted only as the declared types and ranges (`measuring.facts.parse`); anything else, a timeout included, is
this submission's problem alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from assignment.data import DataError
from assignment.profiles import Profile
from autograder import batch, challenge
from autograder.measuring import facts, files
from autograder.measuring.facts import FactError, Facts
from autograder.measuring.program import BLOCKS
from autograder.measuring.training import REFERENCE_LIMIT
from autograder.sandbox import Sandbox

PACKAGE = Path(__file__).resolve().parent / "measuring"
KIT = PACKAGE.parent.parent
FACTS_LIMIT = 8 << 20  # bytes of the facts the measuring process writes
CACHE = KIT / "build" / "reference"  # the batches' reference splits, by their inputs (see prepare)
OWN_SPLIT_LIMIT = 64 << 20  # bytes: up to this size the probe also preprocesses the test split the submission's way
LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); from measuring import program; "
    "program.main(sys.argv[2], int(sys.argv[sys.argv.index('--asks') + 1]) if '--asks' in sys.argv else -1)"
)


@dataclass(frozen=True)
class Reference:
    """What a batch measures every submission against: the examples in the profile's splits, the splits as the
    reference preprocesses them (None when too large to hand to every measuring process, which then reads the data
    itself), and where they came from."""

    examples: dict[str, int]
    splits: Path | None
    origin: str


@dataclass(frozen=True)
class Measured:
    """The facts, and for the instructor what went wrong in measuring (empty when nothing did)."""

    facts: Facts
    diagnostic: str = ""


def probe_files(drawn: challenge.Challenge) -> list[str]:
    """The names the probe writes: a status per function, model configs per case, arrays."""
    written = challenge.outputs(drawn)
    return [
        "definitions.json",
        *(f"{name}.json" for name in written),
        *(file for files in written.values() for file in files),
    ]


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
    splits, the size, the Python environment and the grader's version, so that the next batch on the same inputs
    does not compute them again; where the cache cannot be used, computed into `folder` for this batch."""
    p = profile.parameters
    parts = [batch.data_fingerprint(data_path), str(data_path), p.train_split, p.test_split, p.img_size, sys.prefix]
    key = hashlib.sha256(json.dumps([*parts, batch.grader_version()]).encode()).hexdigest()[:24]
    try:
        return _cached(CACHE / key, profile, data_path)
    except (OSError, ValueError, files.Refused) as error:  # not this user's, read-only, a full disk: this batch's
        return Reference(*_compute(profile, data_path, folder), f"computed for this batch (the cache: {error})")


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


def job_settings(profile: Profile, data_path: Path, examples: dict[str, int], seed: int) -> dict:
    p = profile.parameters
    return {
        "seed": seed,
        "profile": profile.name,
        "img_size": p.img_size,
        "batch_size": p.batch_size,
        "epochs": p.epochs,
        "train_split": p.train_split,
        "test_split": p.test_split,
        "data_dir": str(data_path),
        "train_examples": examples[p.train_split],
        "test_examples": examples[p.test_split],
        "file_limit": profile.limits.file_mib << 20,
        "params_limit": 4 * challenge.unet_params(3, p.base_filters),
        "needs_gpu": profile.needs_gpu,
        "own_split_limit": OWN_SPLIT_LIMIT,
    }


class Measurer:
    """The measuring process of one submission, started with the notebook so that its TensorFlow start and the
    measuring of the probe's work overlap the run: it asks for the probe's files, then for the trained model, and the
    grader answers each once it has copied them in. Its own time limit counts from the notebook's end."""

    def __init__(
        self,
        box: Sandbox,
        profile: Profile,
        data_path: Path,
        examples: dict[str, int],
        drawn: challenge.Challenge,
        reference: Path | None,
    ) -> None:
        self.box, self.profile, self.drawn = box, profile, drawn
        self.probe_ready, self.export_ready = threading.Event(), threading.Event()
        self.exported = False
        settings = job_settings(profile, data_path, examples, drawn.seed)
        scratch = box.scratch
        if reference and files.copy(reference, scratch / "reference.npz", REFERENCE_LIMIT):
            box.give(scratch / "reference.npz")
        (scratch / "job.json").write_text(json.dumps(settings))
        challenge.write(drawn, scratch)
        program = scratch / "program"
        shutil.copytree(PACKAGE, program / "measuring", ignore=shutil.ignore_patterns("__pycache__"))
        for folder in ("probe", "export"):
            (scratch / folder).mkdir()
        box.give(
            scratch / "job.json",
            scratch / "challenge.json",
            scratch / "inputs.npz",
            program,
            program / "measuring",
            *(program / "measuring").iterdir(),
        )
        argv = [sys.executable, "-I", "-c", LAUNCH, str(program), str(scratch)]
        limit = profile.total_timeout + profile.probe_timeout + profile.measure_timeout
        answers = (self._probe_answer, self._export_answer)
        self.done: list = []
        self.thread = threading.Thread(target=lambda: self.done.append(box.run(argv, limit, answers)), daemon=True)
        self.thread.start()

    def _when(self, ready: threading.Event) -> None:
        ready.wait(self.profile.total_timeout + self.profile.probe_timeout + self.profile.measure_timeout)

    def _probe_answer(self) -> bytes:
        self._when(self.probe_ready)
        return b"{}\n"

    def _export_answer(self) -> bytes:
        self._when(self.export_ready)
        return f"{json.dumps({'exported': self.exported})}\n".encode()

    def _copy(self, source: Path, names: list[str], folder: str, limit: int) -> None:
        target = self.box.scratch / folder
        for name in names:
            if files.copy(source / name, target / name, limit):
                self.box.give(target / name)
        self.box.give(target)

    def probe_done(self, probe_out: Path) -> None:
        """The probe has ended (every process of its sandbox is gone): hand over what it left."""
        try:
            self._copy(probe_out, probe_files(self.drawn), "probe", max(files.FILE_LIMIT, OWN_SPLIT_LIMIT))
        finally:  # whatever could not be copied is measured as not written
            self.probe_ready.set()

    def notebook_done(self, export: Path | None) -> Measured:
        """The notebook has ended (nothing of it runs): hand over the trained model; wait (bounded) for the facts."""
        if export is not None:
            self._copy(
                export, ["trained.keras", "history.json", "fits.json"], "export", self.profile.limits.file_mib << 20
            )
        self.exported = export is not None
        self.export_ready.set()
        self.thread.join(self.profile.measure_timeout)
        if self.thread.is_alive():
            self.box.violation = self.box.violation or f"time limit of {self.profile.measure_timeout} s reached"
            self.box.kill()
            self.thread.join(60)
        return self._facts()

    def _facts(self) -> Measured:
        done = self.done[0] if self.done else None
        why = ""
        if self.box.violation:
            why = f"measuring what your notebook left stopped: {self.box.violation}"
        elif done is None or done.returncode:
            why = f"measuring what your notebook left failed (exit {done.returncode if done else 'unknown'})"
        if not why:
            try:
                raw = json.loads(files.read(self.box.scratch / "out" / "facts.json", FACTS_LIMIT))
                return Measured(facts.parse(Facts, raw))
            except (files.Refused, ValueError, FactError, RecursionError) as error:
                why = f"the measurement of what your notebook left was not usable ({str(error)[:200]})"
        printed = done.stdout[-3000:] if done else ""
        return Measured(Facts.unmeasured(self.drawn.seed, why, BLOCKS), f"measuring process: {why}\n{printed}")
