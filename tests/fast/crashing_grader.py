"""A stand-in for pipeline.grade in the batch test: its worker dies on "crasher" and hangs on "sleeper"."""

from __future__ import annotations

import gc
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from assignment.profiles import Limits
from autograder import report
from autograder.results import Outcome


def grade(submission, job, key: str) -> Outcome:
    if submission.student == "crasher":
        os._exit(9)
    if submission.student == "sleeper":
        time.sleep(600)
    pipeline = vars(sys.modules["autograder.pipeline"])  # gc.get_objects() leaves out what the fork server froze
    inherited = f"pipeline frozen {not any(found is pipeline for found in gc.get_objects())}"
    outcome = Outcome(submission.student, diagnostics=[f"graded in process {os.getpid()}", inherited], key=key)
    report.write_student(outcome, job.out / submission.student)
    return outcome


@dataclass(frozen=True)
class Profile:
    """What the batch needs of a profile: a deadline, the worker's memory, the details' visibility."""

    deadline: float = 4.0
    limits: Limits = field(
        default_factory=lambda: Limits(memory_mib=512, address_mib=512, tasks=64, file_mib=8, scratch_mib=64)
    )
    details_visibility: str = "visible"


@dataclass(frozen=True)
class Job:
    """What the batch needs of a job (the real one would make each worker import the whole pipeline)."""

    profile: Profile
    out: Path
