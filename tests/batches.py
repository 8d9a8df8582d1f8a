"""What the suite's one shared smoke batch holds (graded once per session by tests/conftest.py's `smoke_batch`).

The mutants and broken notebooks (tests/mutants.py), cascading mistakes (tests/cascade.py), every hostile notebook
(tests/attacks*.py) and the notebooks
the engines' tests grade again elsewhere, between two honest solutions: the first graded before every hostile one,
the last after them all. Graded at JOBS=4 on 2 cores: notebooks that wait (a cell that ignores the time limit, a
dead kernel's restart) hold a slot, not a core. tests/README.md maps each slow test to the batch it reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cascade
import nbformat
from attacks import ATTACKS as EARLIER
from attacks import Attack, Context
from attacks_claims import ATTACKS as CLAIMS
from attacks_leftovers import ATTACKS as LEFTOVERS
from attacks_trees import ATTACKS as TREES
from mutants import SOLUTION, SOLUTION_STUDENT, write_batch

ATTACKS: list[Attack] = [*EARLIER, *LEFTOVERS, *TREES, *CLAIMS]
LAST_HONEST = "zz_honest_solution"
HONEST = (SOLUTION_STUDENT, LAST_HONEST)
JOBS = 4
# Seconds per cell: 5x the smoke training cell on a CPU without bf16 units, below the profile's 180 (the infinite
# loop and the cell that ignores SIGINT wait for it).
CELL_TIMEOUT = 120


def write(submissions: Path, context: Context) -> tuple[dict[str, str], tuple[str, ...]]:
    """Every notebook of the batch under `submissions`; returns student -> kind, and the honest students."""
    kinds = write_batch(submissions)
    flat = submissions / "submitted"
    for attack in ATTACKS:
        nbformat.write(attack.build(context), flat / f"{attack.student}.ipynb")
        kinds[attack.student] = "attack"
    for case in cascade.CASES:
        if case.own:
            nbformat.write(case.notebook(), flat / f"{case.student}.ipynb")
            kinds[case.student] = "cascade"
    nbformat.write(cascade.leak_notebook(), flat / f"{cascade.LEAK_STUDENT}.ipynb")
    kinds[cascade.LEAK_STUDENT] = "attack"
    shutil.copyfile(SOLUTION, flat / f"{LAST_HONEST}.ipynb")
    kinds[LAST_HONEST] = "solution"
    return kinds, HONEST
