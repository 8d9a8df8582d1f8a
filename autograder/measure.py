"""Measuring, from the grader's side. What the kernel and the probe left is copied, file by file as
`measuring.files.read` reads (no link followed, regular files only, sizes checked first), into a fresh sandbox that
runs the measuring program (autograder/measuring/): no network, no student code, inputs it gets only once their
writers are gone, its own time limit, inside the submission's memory. Its facts are read back within a size bound
and accepted only as the declared types and ranges (`measuring.facts.parse`); anything else, a timeout included, is
this submission's problem alone.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from assignment.profiles import Profile
from autograder import challenge
from autograder.measuring import facts, files
from autograder.measuring.facts import FactError, Facts
from autograder.measuring.program import BLOCKS
from autograder.measuring.training import REFERENCE_FILE_LIMIT
from autograder.sandbox import Sandbox

PACKAGE = Path(__file__).resolve().parent / "measuring"
FACTS_LIMIT = 8 << 20  # bytes of the facts the measuring process writes
OWN_SPLIT_LIMIT = 64 << 20  # bytes: up to this size the probe also preprocesses the test split the submission's way
LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); from measuring import program; "
    "program.main(sys.argv[2], int(sys.argv[sys.argv.index('--asks') + 1]) if '--asks' in sys.argv else -1)"
)


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
        if reference and files.copy(reference, scratch / "reference.npz", REFERENCE_FILE_LIMIT):
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

    def probe_done(self, probe_out: Path, names: list[str] | None = None) -> None:
        """The probe has ended (every process of its sandbox is gone): hand over what it left (`names`: only these)."""
        try:
            names = probe_files(self.drawn) if names is None else names
            self._copy(probe_out, names, "probe", max(files.FILE_LIMIT, OWN_SPLIT_LIMIT))
        finally:  # whatever could not be copied is measured as not written
            self.probe_ready.set()

    def notebook_done(self, export: Path | None) -> Measured:
        """The notebook has ended (nothing of it runs): hand over the trained model; wait (bounded) for the facts."""
        if export is not None:
            self._copy(
                export, ["trained.keras", "history.json", "recorded.json"], "export", self.profile.limits.file_mib << 20
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
