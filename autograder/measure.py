"""Measuring, from the grader's side. What the kernel and the probe left is copied, file by file as
`measuring.files.read` reads (no link followed, regular files only, sizes checked first), into a fresh sandbox that
runs the measuring program (autograder/measuring/): no network, read-only inputs, its own time limit, inside the
submission's memory. Its facts are read back within a size bound and accepted only as the declared types and
ranges (`measuring.facts.parse`); anything else, a timeout included, is this submission's problem alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from assignment.data import DataError
from assignment.profiles import Profile
from autograder import challenge
from autograder.measuring import facts, files
from autograder.measuring.facts import FactError, Facts
from autograder.measuring.program import BLOCKS
from autograder.measuring.training import REFERENCE_LIMIT
from autograder.sandbox import Sandbox

PACKAGE = Path(__file__).resolve().parent / "measuring"
KIT = PACKAGE.parent.parent
FACTS_LIMIT = 8 << 20  # bytes of the facts the measuring process writes
OWN_SPLIT_LIMIT = 64 << 20  # bytes: up to this size the probe also preprocesses the test split the submission's way
LAUNCH = "import sys; sys.path.insert(0, sys.argv[1]); from measuring import program; program.main(sys.argv[2])"


@dataclass(frozen=True)
class Measured:
    """The facts, and for the instructor what went wrong in measuring (empty when nothing did)."""

    facts: Facts
    diagnostic: str = ""


def probe_files(drawn: challenge.Challenge) -> list[str]:
    """The names the probe writes: a status per function, model configs per case, arrays."""
    cases = {
        "double_conv_block": drawn.double_conv,
        "encoder_block": drawn.encoder,
        "decoder_block": drawn.decoder,
        "make_unet": drawn.unet,
    }
    names = ["definitions.json", "preprocess.json", "preprocess.npz", "test_split.json", "test_split.npz"]
    for name, found in cases.items():
        names += [f"{name}.json", *(f"{name}-{i}.json" for i in range(len(found)))]
    return names


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


def prepare(profile: Profile, data_path: Path, folder: Path) -> tuple[dict[str, int], Path | None]:
    """Once per batch, in a process of the grader's own (no student input): the examples in the profile's splits,
    and the splits as the reference preprocesses them (folder/reference.npz, when small enough to hand to every
    measuring process)."""
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


def job_settings(profile: Profile, data_path: Path, examples: dict[str, int], seed: int, exported: bool) -> dict:
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
        "exported": exported,
        "train_examples": examples[p.train_split],
        "test_examples": examples[p.test_split],
        "file_limit": profile.limits.file_mib << 20,
        "params_limit": 4 * challenge.unet_params(3, p.base_filters),
        "needs_gpu": profile.needs_gpu,
        "own_split_limit": OWN_SPLIT_LIMIT,
    }


def _stage(
    box: Sandbox,
    settings: dict,
    drawn: challenge.Challenge,
    probe_out: Path,
    export: Path | None,
    reference: Path | None,
) -> None:
    """Put the measuring program and its inputs in the sandbox's scratch folder, readable only by its uid."""
    scratch = box.scratch
    if reference and files.copy(reference, scratch / "reference.npz", REFERENCE_LIMIT):
        box.give(scratch / "reference.npz")
    (scratch / "job.json").write_text(json.dumps(settings))
    challenge.write(drawn, scratch)
    shutil.copytree(PACKAGE, scratch / "program" / "measuring", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("probe", "export"):
        (scratch / folder).mkdir()
    limit = settings["file_limit"]
    for name in probe_files(drawn):
        files.copy(probe_out / name, scratch / "probe" / name, max(files.FILE_LIMIT, OWN_SPLIT_LIMIT))
    for name in ("trained.keras", "history.json", "fits.json") if export else ():
        files.copy(export / name, scratch / "export" / name, limit)
    program = scratch / "program"
    copied = [
        scratch / "job.json",
        scratch / "challenge.json",
        scratch / "inputs.npz",
        program,
        program / "measuring",
        *(program / "measuring").iterdir(),
    ]
    for folder in ("probe", "export"):
        copied += [scratch / folder, *(scratch / folder).iterdir()]
    box.give(*copied)


def measure(
    box: Sandbox,
    profile: Profile,
    data_path: Path,
    examples: dict[str, int],
    drawn: challenge.Challenge,
    probe_out: Path,
    export: Path | None,
    reference: Path | None = None,
) -> Measured:
    """Run the measuring program in `box` on what the probe (`probe_out`) and the kernel (`export`) left; `examples`:
    the sizes of the profile's splits; `reference`: the splits preprocessed once for the batch (see `prepare`)."""
    settings = job_settings(profile, data_path, examples, drawn.seed, export is not None)
    _stage(box, settings, drawn, probe_out, export, reference)
    done = box.run(
        [sys.executable, "-I", "-c", LAUNCH, str(box.scratch / "program"), str(box.scratch)], profile.measure_timeout
    )
    why = ""
    if box.violation:
        why = f"measuring what your notebook left stopped: {box.violation}"
    elif done.returncode:
        why = f"measuring what your notebook left failed (exit {done.returncode})"
    if not why:
        try:
            return Measured(facts.parse(Facts, json.loads(files.read(box.scratch / "out" / "facts.json", FACTS_LIMIT))))
        except (files.Refused, ValueError, FactError, RecursionError) as error:
            why = f"the measurement of what your notebook left was not usable ({str(error)[:200]})"
    return Measured(Facts.unmeasured(drawn.seed, why, BLOCKS), f"measuring process: {why}\n{done.stdout[-3000:]}")
