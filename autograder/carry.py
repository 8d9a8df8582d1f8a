"""Error carried forward, as courses that grade by hand do it: a mistake costs its own points once, and later work
is judged on its own.

Two rules, both off in a profile with `carry_forward` False (a strict course):
1. The probe calls every graded function with the grader's versions of the blocks it calls
   (autograder/probe/calls.py), so a block's mistake is charged in the block's section only.
2. A notebook that trained no model because one graded function raised (when the probe called it), or because its
   model could not be built (the release's cell that builds it raised) and one of the model's functions failed its
   checks, is run once more with the grader's version of just that function (autograder/reference.py) put in after
   the student's cell that defines it; the training section is judged on that second run. The substitute earns none
   of its own points: every other section is judged on the first run's probe, and the feedback says what was put in
   and why.

Budget: at most one second run per submission, within its deadline. The second notebook run gets what is left of the
deadline after the export, the measuring and a margin, at most the profile's total limit, and runs only when that is
at least half of the profile's total limit.

Security: the second run puts grader code into a sandbox that runs student code, so nothing of it reaches the
student: its executed notebook is not kept, its cells' errors and printed text and its notes go nowhere (the
instructor's diagnostics get its failed cells by number and error name), and of its facts only the training's are
taken, with every text replaced by the grader's words (the loss named only when it is binary cross-entropy) and no
pictures of the model's predictions; the feedback draws no curves from it. What the student can still steer is the
few numbers the training checks quote (a loss, an IoU, a step count), as on any run.
"""

from __future__ import annotations

import ast
import copy
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from assignment.points import GRADED
from autograder import cells, checks, measure, reference, run
from autograder.cgroup import Group
from autograder.challenge import Challenge
from autograder.measuring.facts import Call, Facts, Status, Training
from autograder.results import CellFailure, CheckStatus, Substitution, literal

if TYPE_CHECKING:
    from autograder.pipeline import Job

BUILD_CELL = "build_model"  # the release's locked cell that builds `model` with make_unet
MODEL_CHECKS = {  # the checks that judge each function the model is built from: (section, prefix of their ids)
    "double_conv_block": ("encoder", "test_double_conv"),
    "encoder_block": ("encoder", "test_encoder"),
    "decoder_block": ("decoder", "test_decoder"),
    "make_unet": ("unet", "test_"),
}
MARGIN = 150  # seconds of the deadline kept for the second run's sandboxes and measuring to start, and the reports
LOSSES = {"binary_crossentropy", "BinaryCrossentropy"}  # loss names a second run's facts may carry


@dataclass(frozen=True)
class FirstRun:
    """What the first run left that a second one needs."""

    notebook: nbformat.NotebookNode  # the parameterized notebook before it ran
    failures: list[CellFailure]
    facts: Facts
    folder: Path  # OUT/<student>/, holding the first run's facts.json and run.json
    probe_out: Path  # what the first run's probe saved (the test split as the submission's preprocess makes it)
    drawn: Challenge


def _call(facts: Facts, name: str) -> Call:
    return facts.preprocess.call if name == "preprocess" else facts.blocks[name].call


def choose(first: FirstRun, carry_forward: bool = True) -> tuple[str, str] | None:
    """The graded function to put the grader's version of into a second run, and why (in words for the student); None
    when there is to be no second run."""
    facts = first.facts
    if not carry_forward or facts.problem or facts.training.model is not None:
        return None
    raised = [graded.name for graded in GRADED if not _call(facts, graded.name).ok]
    if len(raised) == 1:
        error = _call(facts, raised[0]).error
        detail = f" ({literal(error, 120)})" if error else ""
        return raised[0], f"the grader's call of your `{raised[0]}` failed{detail}"
    built = [f for f in first.failures if f.grade_id == BUILD_CELL]
    if raised or not built:
        return None
    judged, _ = checks.run(first.folder / "facts.json", first.folder / "run.json")
    lost = [c for c in judged if c.status is CheckStatus.FAILED]
    failed = [
        name
        for name, (section, prefix) in MODEL_CHECKS.items()
        if any(c.section == section and c.id.startswith(prefix) for c in lost)
    ]
    if len(failed) == 1:
        return failed[0], (
            f"your model could not be built (cell {built[0].position} raised an error) and your `{failed[0]}` failed "
            "its checks"
        )
    return None


def _defining_cell(nb: nbformat.NotebookNode, name: str) -> int | None:
    """The index of the last code cell that defines `name` (or carries its grade_id)."""
    transform = TransformerManager().transform_cell
    found = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            body = ast.parse(transform(cell.source)).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            body = []
        defined = any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name for node in body)
        if defined or cells.grade_id(cell) == name:
            found = index
    return found


def second_notebook(nb: nbformat.NotebookNode, name: str) -> tuple[nbformat.NotebookNode, int] | None:
    """A copy of `nb` with the grader's `name` put in after the last cell that defines it, and that cell's index."""
    after = _defining_cell(nb, name)
    if after is None:
        return None
    second = copy.deepcopy(nb)
    source = f"# The grader's own {name}, for a second run of this notebook (error carried forward).\n"
    second.cells.insert(after + 1, nbformat.v4.new_code_cell(source + reference.source(name)))
    return second, after


def budget(job: Job, deadline: float) -> int | None:
    """The second notebook run's total limit in seconds, or None when the deadline leaves too little for one."""
    profile = job.profile
    left = deadline - time.monotonic() - profile.export_timeout - profile.measure_timeout - MARGIN
    limit = min(profile.total_timeout, int(left))
    return limit if limit >= profile.total_timeout // 2 else None


def _stripped(training: Training) -> Training:
    """The second run's training facts with no text of its own and no pictures (see the module's docstring)."""
    evaluation = training.evaluation
    if evaluation.status is Status.PROBLEM:
        evaluation = replace(evaluation, reason="the grader could not evaluate the model of the second run")
    model = training.model
    if model is not None and model.loss is not None and model.loss not in LOSSES:
        model = replace(model, loss="another loss than binary cross-entropy")
    return replace(training, evaluation=evaluation, model=model, model_problem="", predictions=[])


def rerun(
    job: Job, first: FirstRun, chosen: tuple[str, str], group: Group | None, deadline: float, diagnostics: list[str]
) -> tuple[Facts, Substitution] | None:
    """Run the notebook again with the grader's version of the chosen function; the facts to judge (the first run's,
    with the second run's training) and what was substituted. None when there was no second run."""
    name, why = chosen
    second = second_notebook(first.notebook, name)
    limit = budget(job, deadline)
    if second is None or limit is None:
        diagnostics.append(
            f"no second run with the grader's {name}: "
            + ("no cell defines it" if second is None else "too little of the deadline left")
        )
        return None
    nb, after = second
    profile = replace(job.profile, total_timeout=limit)
    started = time.monotonic()
    with ExitStack() as stack:
        box = stack.enter_context(job.sandbox("nb", group))
        meter_box = stack.enter_context(job.sandbox("measure", group))
        meter = measure.Measurer(meter_box, profile, job.data.path, job.examples, first.drawn, job.reference)
        meter.probe_done(first.probe_out, ["test_split.npz"])
        result = run.execute(nb, profile, box)
        box.kill()
        measured = meter.notebook_done(result.exported)
    training = measured.facts.training
    trained = training.model is not None and not box.violation and not measured.facts.problem
    failed = ", ".join(f"{f.position} {f.detail.split(':')[0][:40]}" for f in result.failures[:20])
    substitution = Substitution(name, why, cells.position(first.notebook, after), trained)
    diagnostics.append(
        f"second run with the grader's {name} after the student's cell {substitution.after_cell} (limit {limit} s): "
        f"{time.monotonic() - started:.1f} s, {'a model' if trained else 'no model'} trained; "
        f"{box.violation or ''} failed cells of the second notebook (number, error): {failed or 'none'}"
    )
    facts = replace(first.facts, training=_stripped(training)) if trained else first.facts
    return facts, substitution
