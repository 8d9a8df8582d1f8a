"""What the grading workers' fork server imports before it forks the first worker (autograder/workers.py): the
pipeline and all it imports, then `gc.freeze()`. The 200,000 objects made so far move to the collector's permanent
generation, which no collection scans: a worker's full collections (as it allocates, running the notebook's client,
the checks and the reports) then neither walk them nor write to their pages, which forked processes share until
written (the hidden checks alone: 0.3 -> 0.2 CPU-s). Nothing of a submission exists in the fork server."""

from __future__ import annotations

import gc

import nbgrader.utils  # noqa: F401 - the locked cells' checks (autograder/locked.py imports it where it is used)

import autograder.pipeline  # noqa: F401 - what every worker runs

gc.freeze()
