"""One submission, start to end: read -> run and probe (two sandboxes, side by side) -> measure -> check -> report.

Trust boundary: the notebook's kernel and the probe process run student code, each in its own
sandbox; what they leave behind is only measured here (`autograder.measure`), and the hidden
checks judge the grader's own measurements.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from assignment.data import RunData
from assignment.profiles import Profile
from autograder import challenge, checks, extract, locked, measure, report, run
from autograder.evaluation import split_size
from autograder.results import Outcome, cap
from autograder.sandbox import Sandbox
from autograder.submission import Submission, load

CALLS = Path(__file__).resolve().parent / "probe" / "calls.py"
OWN_SPLIT_LIMIT = 64 << 20  # bytes: up to this size the probe also preprocesses the test split the submission's way
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "PYTHONWARNINGS": "ignore",
              "TF_FORCE_GPU_ALLOW_GROWTH": "true"}  # kernels graded side by side (JOBS > 1) share one GPU


@dataclass(frozen=True)
class Job:
    """What grading any submission of a batch needs besides the submission itself."""

    profile: Profile
    data: RunData
    backend: str
    out: Path

    def readonly(self) -> list[Path]:
        """What a sandbox sees read-only: the Python install, the kit's venv, the data."""
        paths = [Path(os.path.realpath(sys.base_prefix)), Path(sys.prefix), self.data.path]
        return [p for p in paths if not str(p).startswith("/usr/")]

    def sandbox(self, label: str) -> Sandbox:
        return Sandbox(self.backend, self.profile.limits, self.readonly(), {**KERNEL_ENV, "TFDS_DATA_DIR": str(self.data.path)}, label)

    def run_config(self) -> dict:
        """The run config handed to the checks: effective profile, data, threshold."""
        return {"profile": asdict(self.profile), "data": {"path": str(self.data.path), "kind": self.data.kind, "origin": self.data.origin},
                "iou_threshold": self.profile.iou_thresholds[self.data.kind], "sandbox": self.backend}


class _Probe(threading.Thread):
    """Calls the student's functions in their own sandbox, then measures what they built."""

    def __init__(self, job: Job, definitions: extract.Definitions, drawn: challenge.Challenge):
        super().__init__(daemon=True)
        self.job, self.definitions, self.drawn = job, definitions, drawn
        self.facts: dict = measure.probe_facts(drawn, Path("/nonexistent"))  # replaced by the real ones
        self.own_test: tuple | None = None
        self.diagnostics: list[str] = []

    def run(self) -> None:
        try:
            self._probe()
        except Exception:  # noqa: BLE001 - reported to the instructor; the checks then see a probe that did not run
            self.diagnostics.append(f"grader error while probing:\n{traceback.format_exc(limit=-6)}")

    def _probe(self) -> None:
        p = self.job.profile.parameters
        size, split = int(p["IMG_SIZE"]), str(p["TEST_SPLIT"])
        examples = split_size(self.job.data.path, split)
        own_split = (split, size) if examples * size * size * 16 <= OWN_SPLIT_LIMIT else None
        with self.job.sandbox("probe") as box:
            (box.scratch / "definitions.json").write_text(json.dumps(self.definitions.statements))
            challenge.write(self.drawn, box.scratch, own_split)
            shutil.copyfile(CALLS, box.scratch / "calls.py")
            done = box.run([sys.executable, str(box.scratch / "calls.py"), str(box.scratch)], self.job.profile.probe_timeout)
            if done.returncode or box.violation:
                self.diagnostics.append(f"probe process: exit {done.returncode}{'; ' + box.violation if box.violation else ''}\n{done.stdout[-3000:]}")
            self.facts = measure.probe_facts(self.drawn, box.scratch / "out")
            self.own_test = measure.own_test_split(box.scratch / "out", size, examples) if own_split else None
        self.diagnostics += [f"defining for the probe: {problem}" for problem in self.facts["definitions"]["problems"]]
        self.diagnostics += [f"probe {name}: {facts['traceback']}" for name, facts in self.facts.items()
                             if isinstance(facts, dict) and facts.get("traceback")]


def grade(submission: Submission, job: Job) -> Outcome:
    """Grade one submission into OUT/<student>/; whatever it does, return an outcome."""
    folder = job.out / submission.student
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.monotonic()
    outcome = Outcome(submission.student, notes=[submission.note] if submission.note else [], diagnostics=list(submission.warnings))
    if job.backend == "none":
        outcome.notes.append("graded WITHOUT a sandbox (--unsandboxed)")
    try:
        if submission.refused:
            outcome.problem = f"refused: {submission.refused}"
        else:
            _grade_notebook(submission, job, folder, outcome)
    except Exception as error:  # noqa: BLE001 - one broken submission never stops the batch
        outcome.problem = "grader error (your instructor has the details)"
        outcome.diagnostics.append(traceback.format_exc(limit=-6))
        print(f"grader error on {submission.student}: {type(error).__name__}: {error}", file=sys.stderr)
    outcome.seconds = time.monotonic() - started
    report.write_student(outcome, folder, job.profile.details_visibility)
    return outcome


def _grade_notebook(submission: Submission, job: Job, folder: Path, outcome: Outcome) -> None:
    try:
        nb = load(submission.path)
    except ValueError as error:
        outcome.problem = f"invalid notebook: {error}"
        return
    outcome.diagnostics += locked.changed_locked_cells(nb)
    nb, notes = run.parameterize(nb, job.profile.parameters)
    outcome.notes += notes
    drawn = challenge.draw()
    outcome.diagnostics.append(f"probe challenge seed {drawn.seed}")
    probe = _Probe(job, extract.extract(nb), drawn)
    probe.start()
    with job.sandbox("nb") as box:
        outcome.sandbox = box.describe()
        result = run.execute(nb, job.profile, box)
        probe.join()
        training = measure.training_facts(result.exported, job.profile, job.data, probe.own_test)
        if box.violation:
            outcome.problem = f"stopped: {box.violation}"
    nbformat.write(result.notebook, folder / "executed.ipynb")
    outcome.failures, outcome.notes = result.failures, outcome.notes + [cap(n) for n in result.notes]
    outcome.diagnostics += result.diagnostics + probe.diagnostics
    facts = {**probe.facts, "training": training}
    (folder / "facts.json").write_text(json.dumps(facts, indent=1))
    (folder / "run.json").write_text(json.dumps(job.run_config(), indent=1))
    outcome.checks, problem = checks.run(folder / "facts.json", folder / "run.json")
    if problem:
        outcome.problem = "grader error (your instructor has the details)"
        outcome.diagnostics.append(problem)
