"""A batch across engines: the students it expects (the manifest any engine writes into OUT), what each outcome depends
on (so a submission whose notebook, profile, data and grader are unchanged is not graded again, unless the grader
failed on it, and one where only the judging changed is re-judged without running), and grades.csv rewritten from
every outcome OUT holds, with the instructor's adjustments."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

from assignment.data import DATASET, STAMP
from assignment.profiles import Profile
from autograder import adjustments, report
from autograder.results import Outcome, replace_file
from autograder.submission import MAX_BYTES, Submission

MANIFEST = "batch.json"
KIT = Path(__file__).resolve().parent.parent
VERSIONED = ("assignment", "autograder")  # the grader's code (*.py), with the files below
DATA_FILES = ("assignment/reference_curves.json", "release/tiny_unet/tiny_unet.ipynb", "requirements.txt")
# What judging depends on: the hidden checks, the points, and what turns outcomes into reports and grades. A change
# here re-judges the stored measurements; a change to any other versioned file (the runner, probe, measuring program,
# sandbox, command line, the release whose locked cells are compared, the pins) runs every notebook again.
JUDGING = (
    "autograder/checks",
    "assignment/points.py",
    "assignment/outline.py",
    "assignment/reference_curves.json",
    "autograder/judge.py",
    "autograder/adjustments.py",
    "autograder/report.py",
    "autograder/wording.py",
    "autograder/feedback.py",
    "autograder/figures.py",
    "autograder/markup.py",
    "autograder/dashboard.py",
    "autograder/provenance.py",
    "autograder/similarity.py",
    "autograder/engines/gradebook.py",
)


class Step(str, Enum):
    """What `make grade` does with one submission."""

    KEEP = "keep"  # its outcome is current
    REJUDGE = "re-judge"  # its measurements are current, its judging is not: the checks and reports again
    RUN = "run"  # run, measure and judge it


def write_manifest(out: Path, submissions: list[Submission], root: Path) -> None:
    """OUT/batch.json: every student the batch expects, with the notebook graded for each."""
    out.mkdir(parents=True, exist_ok=True)
    students = [{**asdict(s), "path": str(s.path), "warnings": list(s.warnings)} for s in submissions]
    replace_file(out / MANIFEST, json.dumps({"submissions": str(root), "students": students}, indent=1))


def read_manifest(out: Path) -> list[Submission]:
    """The students OUT/batch.json lists (none when there is no manifest)."""
    if not (out / MANIFEST).is_file():
        return []
    raw = json.loads((out / MANIFEST).read_text())
    return [Submission(**{**s, "path": Path(s["path"]), "warnings": tuple(s["warnings"])}) for s in raw["students"]]


def submissions_root(out: Path) -> str:
    """The folder of submissions OUT/batch.json was written for ("" when there is no manifest)."""
    return json.loads((out / MANIFEST).read_text())["submissions"] if (out / MANIFEST).is_file() else ""


def _versioned(root: Path) -> dict[str, Path]:
    """Every file an outcome may depend on, by its path in the kit."""
    paths = [p for top in VERSIONED for p in sorted((root / top).rglob("*.py")) if "__pycache__" not in p.parts]
    paths += [root / name for name in DATA_FILES]
    return {path.relative_to(root).as_posix(): path for path in paths}


def _judging(name: str) -> bool:
    return any(name == part or name.startswith(f"{part}/") for part in JUDGING)


def _digest(files: dict[str, Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for name, path in files.items():
        digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _graded(points: Path) -> str:
    """assignment/points.py's GRADED (the graded functions and the blocks each calls): the probe calls them so."""
    for node in ast.parse(points.read_text()).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(target, ast.Name) and target.id == "GRADED" for target in targets):
            return ast.dump(node.value)
    return ""


def measuring_version(root: Path = KIT) -> str:
    """A hash of what running and measuring a notebook depends on in the grader: every versioned file but the
    judging ones, and the graded functions of assignment/points.py."""
    files = {name: path for name, path in _versioned(root).items() if not _judging(name)}
    return _digest(files, _graded(root / "assignment" / "points.py"))


def judging_version(root: Path = KIT) -> str:
    """A hash of what judging stored measurements depends on: the hidden checks, the points, the reports."""
    return _digest({name: path for name, path in _versioned(root).items() if _judging(name)})


@dataclass(frozen=True)
class Versions:
    """The grader's two versions: of what runs and measures a notebook, and of what judges the measurements."""

    measuring: str
    judging: str

    @classmethod
    def current(cls, root: Path = KIT) -> Versions:
        return cls(measuring_version(root), judging_version(root))


def data_fingerprint(data_dir: Path) -> str:
    """What identifies the prepared data: the data tool's stamps, by content (the same data unpacked anywhere, at any
    time, matches), else the dataset's own files (names, sizes, times)."""
    digest = hashlib.sha256()
    stamps = sorted(data_dir.glob(f"{DATASET}/*/{STAMP}"))
    for stamp in stamps:
        digest.update(f"{stamp.relative_to(data_dir)}\0".encode() + stamp.read_bytes() + b"\0")
    if not stamps:
        for path in sorted(data_dir.rglob("*")):
            if path.is_file():
                info = path.stat()
                digest.update(f"{path.relative_to(data_dir)}:{info.st_size}:{info.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def notebook_digest(submission: Submission) -> str:
    """The notebook's bytes (read without following a link), or the reason it is refused."""
    if submission.refused:
        return "refused:" + submission.refused
    try:
        descriptor = os.open(submission.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            return hashlib.sha256(handle.read(MAX_BYTES + 1)).hexdigest()
    except OSError as error:
        return f"unreadable:{error.errno}"


def settings(profile: Profile, data_path: Path, sandbox: str) -> dict:
    """The run's settings an outcome's key covers: the profile (parameters and limits), the data, the sandbox."""
    return {"profile": asdict(profile), "data": data_fingerprint(data_path), "sandbox": sandbox}


def key(submission: Submission, settings: dict) -> str:
    """What an outcome is run from: the notebook and the run's settings (profile, data, sandbox). The grader's own
    code is recorded beside it (Outcome.measuring, Outcome.judged)."""
    parts = {"notebook": notebook_digest(submission), "settings": settings}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def step(out: Path, submission: Submission, wanted: str, versions: Versions) -> Step:
    """Keep OUT/<student>/'s outcome when its key and both versions are current; re-judge it when only the judging
    changed and its measurements are there; else run the notebook. One the grader failed on is always run again (it
    may have been a passing fault of the grader's)."""
    try:
        stored = Outcome.load(out / submission.student / "outcome.json")
    except ValueError:
        return Step.RUN
    if stored.key != wanted or stored.measuring != versions.measuring or stored.grader_failed:
        return Step.RUN
    if stored.judged == versions.judging:
        return Step.KEEP
    return Step.RUN if stale(out / submission.student, stored, versions.measuring) else Step.REJUDGE


def plan(
    submissions: list[Submission], out: Path, settings: dict, versions: Versions, regrade: bool = False
) -> dict[Step, list[tuple[Submission, str]]]:
    """The submissions, with their keys, by what to do with each (`regrade`: run them all)."""
    steps: dict[Step, list[tuple[Submission, str]]] = {each: [] for each in Step}
    for submission in submissions:
        wanted = key(submission, settings)
        steps[Step.RUN if regrade else step(out, submission, wanted, versions)].append((submission, wanted))
    return steps


def stale(folder: Path, stored: Outcome, measuring: str) -> str:
    """Why the outcome stored in OUT/<student>/ cannot be judged again ("" when it can): its measurements were made by
    another version of the measuring code, or are missing."""
    if not stored.measuring:
        return "it was graded by a grader that did not record the version of its measuring code"
    if stored.measuring != measuring:
        return f"its measurements were made by another version of the grader's measuring code ({stored.measuring})"
    missing = [name for name in ("facts.json", "run.json") if stored.measured and not (folder / name).is_file()]
    return f"its measurements are missing ({', '.join(missing)})" if missing else ""


def students(out: Path, expected: list[Submission]) -> set[str]:
    """The students of OUT: those it holds an outcome folder for, those its manifest lists, and `expected`."""
    return {path.parent.name for path in out.glob("*/outcome.json")} | {
        s.student for s in [*read_manifest(out), *expected]
    }


def merge(out: Path) -> list[Outcome]:
    """Every outcome in OUT, a row for each student the manifest expects but OUT lacks, the instructor's adjustments
    (a student's reports written again when the adjustments they show changed), and grades.csv from them.
    adjustments.Invalid, before anything is written, when OUT/adjustments.csv cannot be applied."""
    outcomes = []
    stored = set()
    for path in sorted(out.glob("*/outcome.json")):
        try:
            outcomes.append(Outcome.load(path))
            stored.add(path.parent.name)
        except ValueError:
            outcomes.append(
                Outcome(
                    path.parent.name,
                    problem=f"not graded: its outcome could not be read; grade it again (ONLY={path.parent.name})",
                )
            )
    graded = {outcome.student for outcome in outcomes}
    for submission in read_manifest(out):
        if submission.student not in graded:
            outcomes.append(
                Outcome(
                    submission.student,
                    problem=f"not graded: its grading left no result; grade it again (ONLY={submission.student})",
                )
            )
    table = adjustments.read(out, {outcome.student for outcome in outcomes})
    for outcome in outcomes:
        wanted = table.get(outcome.student, [])
        if outcome.adjustments != wanted:
            outcome.adjustments = wanted
            if outcome.student in stored:
                report.rewrite(out / outcome.student, outcome)
    report.write_csv(outcomes, out / "grades.csv")
    return outcomes
