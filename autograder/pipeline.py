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
from autograder.results import Outcome, cap, clean
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


class _Probe:
    """The student's functions called in their own sandbox, side by side with the notebook run.

    A thread only waits for the sandboxed process; everything that loads TensorFlow in the grader
    (measuring) runs afterwards in the main thread, since TensorFlow's lazy imports can deadlock
    between threads.
    """

    def __init__(self, job: Job, box: Sandbox, definitions: extract.Definitions, drawn: challenge.Challenge):
        p = job.profile.parameters
        self.box, self.drawn, self.size = box, drawn, int(p["IMG_SIZE"])
        self.examples = split_size(job.data.path, str(p["TEST_SPLIT"]))
        own_split = (str(p["TEST_SPLIT"]), self.size) if self.examples * self.size**2 * 16 <= OWN_SPLIT_LIMIT else None
        (box.scratch / "definitions.json").write_text(json.dumps(definitions.statements))
        challenge.write(drawn, box.scratch, own_split)
        shutil.copyfile(CALLS, box.scratch / "calls.py")
        box.give(*(box.scratch / name for name in ("definitions.json", "challenge.json", "inputs.npz", "calls.py")))
        argv = [sys.executable, str(box.scratch / "calls.py"), str(box.scratch), *(["--kill-others"] if box.backend != "none" else [])]
        self.done: list = []
        self.thread = threading.Thread(target=lambda: self.done.append(box.run(argv, job.profile.probe_timeout)), daemon=True)
        self.thread.start()

    def measure(self, diagnostics: list[str]) -> tuple[dict, tuple | None]:
        """Wait for the process, then measure what it saved: (facts, the test split as the submission preprocesses it)."""
        self.thread.join()
        done, out = self.done[0] if self.done else None, self.box.scratch / "out"
        if done is None or done.returncode or self.box.violation:
            status = f"exit {done.returncode}" if done else "did not run"
            diagnostics.append(f"probe process: {status}; {self.box.violation or ''}\n{done.stdout[-3000:] if done else ''}")
        facts = measure.probe_facts(self.drawn, out)
        diagnostics += [f"defining for the probe: {problem}" for problem in facts["definitions"]["problems"]]
        diagnostics += [f"probe {name}: {found['traceback']}" for name, found in facts.items() if isinstance(found, dict) and found.get("traceback")]
        return facts, measure.own_test_split(out, self.size, self.examples, OWN_SPLIT_LIMIT)


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
        outcome.seconds = time.monotonic() - started
        report.write_student(outcome, folder, job.profile.details_visibility)
    except Exception as error:  # noqa: BLE001 - one broken submission never stops the batch
        outcome = Outcome(submission.student, problem="grader error (your instructor has the details)", sandbox=outcome.sandbox,
                          diagnostics=[clean(traceback.format_exc(limit=-6))[-20_000:]], seconds=time.monotonic() - started)
        print(f"grader error on {submission.student}: {cap(f'{type(error).__name__}: {error}')}", file=sys.stderr)
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
    with job.sandbox("probe") as probe_box, job.sandbox("nb") as box:
        probe = _Probe(job, probe_box, extract.extract(nb), drawn)
        outcome.sandbox = box.describe()
        result = run.execute(nb, job.profile, box)
        probed, own_test = probe.measure(outcome.diagnostics)
        training = measure.training_facts(result.exported, job.profile, job.data, own_test)
        if box.violation:
            outcome.problem = f"stopped: {box.violation}"
        elif not result.started:
            outcome.problem = "grader error: the sandbox could not start the notebook's kernel (your instructor has the details)"
    nbformat.write(result.notebook, folder / "executed.ipynb")
    outcome.failures, outcome.notes = result.failures, outcome.notes + [cap(n) for n in result.notes]
    outcome.diagnostics += result.diagnostics
    facts = {**probed, "training": training}
    (folder / "facts.json").write_text(json.dumps(facts, indent=1))
    (folder / "run.json").write_text(json.dumps(job.run_config(), indent=1))
    outcome.checks, problem = checks.run(folder / "facts.json", folder / "run.json")
    if problem:
        outcome.problem = "grader error (your instructor has the details)"
        outcome.diagnostics.append(problem)
