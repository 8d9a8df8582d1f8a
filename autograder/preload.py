"""What the grading workers' fork server imports before it forks the first worker (autograder/workers.py): the
pipeline and all it imports, then `gc.freeze()`. The objects made so far move to the collector's permanent
generation, which no collection scans: a worker's full collections (pytest makes one as the hidden checks end) then
neither walk the thousands of objects every worker inherits nor write to their pages, which forked processes share
until written. About a third of a CPU-second a student; nothing of a submission exists in the fork server."""

from __future__ import annotations

import gc

import autograder.pipeline  # noqa: F401 - what every worker runs

gc.freeze()
