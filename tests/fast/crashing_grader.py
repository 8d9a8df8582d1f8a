"""A stand-in for pipeline.grade in the batch test: its worker process dies on the student called "crasher"."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assignment.profiles import Profile
from autograder.results import Outcome


def grade(submission, job) -> Outcome:
    if submission.student == "crasher":
        os._exit(9)
    return Outcome(submission.student, diagnostics=[f"graded in process {os.getpid()}"])


@dataclass(frozen=True)
class Job:
    """What the batch needs of a job (the real one would make each worker import the whole pipeline)."""

    profile: Profile
    out: Path
