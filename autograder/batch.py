"""A batch across engines: the students it expects (the manifest any engine writes into OUT), what each outcome was
graded from (so a submission whose notebook, profile, data and grader are unchanged is not graded again), and
grades.csv rewritten from every outcome OUT holds."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from assignment.data import DATASET, STAMP
from autograder import report
from autograder.results import Outcome, replace_file
from autograder.submission import MAX_BYTES, Submission

MANIFEST = "batch.json"
KIT = Path(__file__).resolve().parent.parent
VERSIONED = ("assignment", "autograder")  # the grader's code and hidden checks: any change regrades everyone


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


def grader_version() -> str:
    """A hash of the grader's code, its hidden checks, its settings and the release it checks locked cells against."""
    digest = hashlib.sha256()
    paths = [path for top in VERSIONED for path in sorted((KIT / top).rglob("*.py")) if "__pycache__" not in path.parts]
    paths += [KIT / "release" / "tiny_unet" / "tiny_unet.ipynb", KIT / "requirements.txt"]
    for path in paths:
        digest.update(f"{path.relative_to(KIT)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


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


def key(submission: Submission, settings: dict) -> str:
    """What an outcome is graded from: the notebook, the run's settings (profile, data, sandbox), the grader."""
    parts = {"notebook": notebook_digest(submission), "settings": settings, "grader": grader_version()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def unchanged(out: Path, submission: Submission, wanted: str) -> bool:
    """Whether OUT/<student>/ holds a complete outcome graded from exactly `wanted`."""
    try:
        return Outcome.load(out / submission.student / "outcome.json").key == wanted
    except ValueError:
        return False


def merge(out: Path) -> list[Outcome]:
    """Every outcome in OUT, a row for each student the manifest expects but OUT lacks, and grades.csv from them."""
    outcomes = []
    for path in sorted(out.glob("*/outcome.json")):
        try:
            outcomes.append(Outcome.load(path))
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
    report.write_csv(outcomes, out / "grades.csv")
    return outcomes
