"""One submission, start to end: read -> run and probe (two sandboxes, side by side) -> measure (a third) -> check
(-> a second run for the training section, when autograder/carry.py calls for one) -> report.

Trust boundary: the notebook's kernel and the probe process run student code, each in its own sandbox; what they
leave is measured in a third sandbox that runs no student code, and only its typed facts reach the hidden checks.
The three share one control group: the submission's memory, and the same CPU weight as every other submission.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import secrets
import shutil
import sys
import threading
import time
import traceback
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from assignment.profiles import Profile
from assignment.rundata import RunData
from autograder import batch, carry, challenge, extract, judge, locked, measure, reference, report, run, zygote
from autograder.backends import Backend
from autograder.capture import known
from autograder.cgroup import Group
from autograder.measuring import facts
from autograder.probe import recorder
from autograder.results import Outcome, cap, clean
from autograder.sandbox import Sandbox
from autograder.submission import Submission, load

if TYPE_CHECKING:
    from autograder.splits import Reference

CALLS = Path(__file__).resolve().parent / "probe" / "calls.py"
KERNEL_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONHASHSEED": "0",
    "PYTHONWARNINGS": "ignore",
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
}  # kernels graded side by side (JOBS > 1) share one GPU
PROBE_MARGIN = 60  # seconds the probe may take past its own limit before the grader stops waiting


@dataclass(frozen=True)
class Job:
    """What grading any submission of a batch needs besides the submission itself."""

    profile: Profile
    data: RunData
    backend: Backend
    out: Path
    examples: dict[str, int]  # examples in the profile's train and test splits
    threads: int = 0  # TensorFlow threads per sandbox (0: TensorFlow's own choice)
    reference: Path | None = None  # the splits as the reference preprocesses them, once for the batch
    pristine: zygote.Address | None = None  # the batch's pristine process: the sandboxes' programs are its children
    descriptors: Path | None = None  # the visible test split's descriptors, for the kernel's recorder

    @classmethod
    def on(
        cls, profile: Profile, data: RunData, backend: Backend, out: Path, reference: Reference, threads: int = 0
    ) -> Job:
        """The job of a batch that measures against `reference` (autograder/splits.py: its examples, splits and the
        visible test split's descriptors)."""
        return cls(
            profile,
            data,
            backend,
            out,
            reference.examples,
            threads,
            reference.splits,
            descriptors=reference.descriptors,
        )

    def readonly(self) -> list[Path]:
        """What a sandbox sees read-only: the Python install, the kit's venv, the data."""
        paths = [Path(os.path.realpath(sys.base_prefix)), Path(sys.prefix), self.data.path]
        return [p for p in paths if not str(p).startswith("/usr/")]

    def environment(self) -> dict[str, str]:
        """What every sandbox's environment holds besides its own folders (the pristine process starts with it too:
        some libraries read it once, at import, as tfds does TFDS_DATA_DIR)."""
        env = {**KERNEL_ENV, "TFDS_DATA_DIR": str(self.data.path)}
        if self.threads:
            env.update(
                {
                    "TF_NUM_INTRAOP_THREADS": str(self.threads),
                    "TF_NUM_INTEROP_THREADS": "1",
                    "OMP_NUM_THREADS": str(self.threads),
                }
            )
        return env

    def sandbox(self, label: str, group: Group | None = None) -> Sandbox:
        env = self.environment()
        path = group.path if group and group.folders else None
        # when the submission's memory runs out, its student code is killed before its measuring
        return Sandbox(
            self.backend, self.profile.limits, self.readonly(), env, label, path, label != "measure", self.pristine
        )

    def run_config(self) -> dict:
        """The run config handed to the checks (and read by the batch report): effective profile, data (what it is,
        its examples per split, those graded on), the IoU threshold and what it rests on."""
        basis, measured = self.profile.threshold_basis(self.data.label)
        shown = {"label": self.data.label, "sizes": self.data.sizes, "examples": self.examples}
        return {
            "profile": asdict(self.profile),
            "data": {"path": str(self.data.path), "kind": self.data.kind, "origin": self.data.origin, **shown},
            "iou_threshold": self.profile.iou_thresholds[self.data.kind],
            "iou_threshold_basis": basis,
            "iou_threshold_measured": measured,
            "sandbox": self.backend.name,
        }


class _Probe:
    """The student's functions called in their own sandbox, side by side with the notebook run; a thread only waits
    for the sandboxed process. The reference blocks go to its stdin, stage by stage (autograder/reference.py)."""

    def __init__(
        self,
        job: Job,
        box: Sandbox,
        definitions: extract.Definitions,
        drawn: challenge.Challenge,
        meter: measure.Measurer,
    ) -> None:
        p = job.profile.parameters
        self.box = box
        self.limit = job.profile.probe_timeout
        examples = job.examples[p.test_split]
        own_split = (p.test_split, p.img_size) if examples * p.img_size**2 * 16 <= measure.OWN_SPLIT_LIMIT else None
        (box.scratch / "definitions.json").write_text(json.dumps(definitions.statements))
        challenge.write(drawn, box.scratch, own_split, job.profile.carry_forward)
        shutil.copyfile(CALLS, box.scratch / "calls.py")
        box.give(*(box.scratch / name for name in ("definitions.json", "challenge.json", "inputs.npz", "calls.py")))
        argv = [sys.executable, "-I", str(box.scratch / "calls.py"), str(box.scratch), "--seconds", str(self.limit)]
        argv += ["--kill-others"] if box.backend.name != "none" else []
        stages = [stage if job.profile.carry_forward else {} for stage in reference.references()]
        answers = tuple(known(f"{json.dumps(stage)}\n".encode()) for stage in stages)
        self.done: list = []

        def probe() -> None:  # when it ends (every process of its sandbox killed), the measurer gets its files
            try:
                self.done.append(box.run(argv, self.limit, answers))
            finally:
                meter.probe_done(box.scratch / "out")

        self.thread = threading.Thread(target=probe, daemon=True)
        self.thread.start()

    def wait(self, diagnostics: list[str]) -> None:
        """Wait for the process (bounded); note for the instructor how it ended when not cleanly."""
        self.thread.join(self.limit + PROBE_MARGIN)
        done = self.done[0] if self.done else None
        if done is None or done.returncode or self.box.violation:
            status = f"exit {done.returncode}" if done else "did not finish"
            diagnostics.append(
                f"probe process: {status}; {self.box.violation or ''}\n{done.stdout[-3000:] if done else ''}"
            )


def grade(submission: Submission, job: Job, key: str = "") -> Outcome:
    """Grade one submission into OUT/<student>/; whatever it does, return an outcome (`key`: what it is graded from)."""
    folder = job.out / submission.student
    _clear(folder)
    started = time.monotonic()
    versions = batch.Versions.current()
    outcome = Outcome(
        submission.student,
        notes=[submission.note] if submission.note else [],
        diagnostics=list(submission.warnings),
        key=key,
        measuring=versions.measuring,
    )
    if job.backend.name == "none":
        outcome.notes.append("graded WITHOUT a sandbox (--unsandboxed)")
    measured = None
    try:
        if submission.refused:
            outcome.problem = f"refused: {submission.refused}"
        else:
            measured = _grade_notebook(submission, job, folder, outcome, started + job.profile.deadline)
        outcome.seconds = time.monotonic() - started
        worker = resource.getrusage(resource.RUSAGE_SELF)
        used = worker.ru_utime + worker.ru_stime
        outcome.diagnostics.append(f"grader worker CPU seconds before the reports: {used:.1f}")
        judge.judge(outcome, folder, versions.judging)
        report.write_student(outcome, folder, job.profile.details_visibility, measured, job.run_config())
    except Exception as error:  # noqa: BLE001 - one broken submission never stops the batch
        outcome = Outcome(
            submission.student,
            problem=report.GRADER_ERROR,
            sandbox=outcome.sandbox,
            diagnostics=[clean(traceback.format_exc(limit=-6))[-20_000:]],
            seconds=time.monotonic() - started,
            key=key,
            measuring=versions.measuring,
            judged=versions.judging,
        )
        print(f"grader error on {submission.student}: {cap(f'{type(error).__name__}: {error}')}", file=sys.stderr)
        report.write_student(outcome, folder, job.profile.details_visibility)
    return outcome


def _clear(folder: Path) -> None:
    """OUT/<student>/, empty: whatever held its name in OUT (a folder of an earlier run, a stray file) goes."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _grade_notebook(
    submission: Submission, job: Job, folder: Path, outcome: Outcome, deadline: float
) -> facts.Facts | None:
    """Run, probe and measure one readable notebook (and a second run if carry.py calls for one, within `deadline`,
    a time.monotonic() value) into facts.json and run.json; the facts to judge."""
    try:
        nb = load(submission.path)
    except ValueError as error:
        outcome.problem = f"invalid notebook: {error}"
        return None
    outcome.edited = locked.changed_locked_cells(nb)
    outcome.diagnostics += outcome.edited
    run.clear_outputs(nb)
    nb, notes = run.parameterize(nb, job.profile.parameters.notebook())
    outcome.notes += notes
    pristine = copy.deepcopy(nb)  # the run fills in outputs; a second run starts from the notebook as it was
    drawn = challenge.draw()
    outcome.diagnostics.append(f"probe challenge seed {drawn.seed}")
    with ExitStack() as stack:
        group = (
            Group(f"sub-{secrets.token_hex(6)}", job.profile.limits.memory_mib << 20)
            if job.backend.name != "none"
            else None
        )
        if group:
            stack.callback(group.remove)
        probe_box = stack.enter_context(job.sandbox("probe", group))
        box = stack.enter_context(job.sandbox("nb", group))
        meter_box = stack.enter_context(job.sandbox("measure", group))
        meter = measure.Measurer(meter_box, job.profile, job.data.path, job.examples, drawn, job.reference)
        probe = _Probe(job, probe_box, extract.extract(nb), drawn, meter)
        outcome.sandbox = box.describe()
        if job.descriptors:  # the grader's, read-only to the sandbox, beside the recorder that reads them
            shutil.copyfile(job.descriptors, box.scratch / recorder.DESCRIPTORS)
            (box.scratch / recorder.DESCRIPTORS).chmod(0o644)
        started = time.monotonic()
        result = run.execute(nb, job.profile, box)
        probe.wait(outcome.diagnostics)
        if probe_box.violation:
            outcome.notes.append(f"the grader's calls of your functions stopped: {probe_box.violation}")
        ran = time.monotonic()
        for done in (box, probe_box):  # nothing of the student's runs while their files are measured
            done.kill()
        measured = meter.notebook_done(result.exported)
        used = {
            name: done.group.cpu_seconds()
            for name, done in (("notebook", box), ("probe", probe_box), ("measuring", meter_box))
        }
        outcome.diagnostics.append(
            f"seconds: notebook {result.seconds:.1f}, probe waited for {ran - started - result.seconds:.1f}, "
            f"measuring after the notebook {time.monotonic() - ran:.1f}; CPU seconds: "
            + ", ".join(f"{name} {value:.1f}" for name, value in used.items() if value is not None)
        )
        if box.violation:
            outcome.problem = f"stopped: {box.violation}"
        elif not result.started:
            outcome.problem = (
                "grader error: the sandbox could not start the notebook's kernel (your instructor has the details)"
            )
        elif measured.facts.problem:
            outcome.problem = measured.facts.problem
        if group and (peak := group.peak_memory()):
            outcome.diagnostics.append(
                f"submission memory peak: {peak >> 20} MiB of {job.profile.limits.memory_mib} MiB"
            )
        judged = measured.facts
        _store(folder, judged, job)
        first = carry.FirstRun(pristine, result.failures, judged, folder, probe_box.scratch / "out", drawn)
        chosen = None if outcome.problem else carry.choose(first, job.profile.carry_forward)
        if chosen and (second := carry.rerun(job, first, chosen, group, deadline, outcome.diagnostics)):
            judged, outcome.carried = second
            trained = "trained a model" if outcome.carried.trained else "trained no model either"
            outcome.flags.append(f"carried forward: a second run with the grader's {chosen[0]} {trained}")
            _store(folder, judged, job)
    nbformat.write(result.notebook, folder / "executed.ipynb")
    outcome.failures = result.failures
    outcome.notes += [cap(n) for n in result.notes]
    outcome.diagnostics += result.diagnostics + ([measured.diagnostic] if measured.diagnostic else [])
    outcome.diagnostics += [
        f"probe {name}: {block.call.traceback}" for name, block in measured.facts.blocks.items() if block.call.traceback
    ]
    outcome.flags += _flags(judged, job)
    outcome.measured = True  # judged next (autograder/judge.py), and again whenever only the judging changes
    return judged


def _store(folder: Path, measured: facts.Facts, job: Job) -> None:
    """`measured` and the run's settings in OUT/<student>/ (facts.json, run.json), where judging reads them."""
    (folder / "facts.json").write_text(facts.dumps(measured))
    (folder / "run.json").write_text(json.dumps(job.run_config(), indent=1))


def _flags(measured: facts.Facts, job: Job) -> list[str]:
    """What the instructor may want to look at; never points. A model that fits the test split about as well as the
    training split, where honest models measurably do not (the profile's calibration)."""
    ratio = measured.training.evaluation.bce_ratio
    below = job.profile.flag_test_fit.get(job.data.kind)
    if ratio is None or below is None or ratio >= below:
        return []
    return [
        f"possibly trained on the test split: its test/train cross-entropy ratio is {ratio:.3f}, below the {below} "
        "every honest model measured above (grade unchanged)"
    ]
