"""Hostile notebooks of the fourth integrity round: trees the scratch quota and the cleanup must handle at any depth.
A chain of 2,100 folders with more than the smoke profile's scratch limit at its bottom once went uncounted (its paths
were past PATH_MAX), and its removal raised RecursionError: a grader error for the student, the bytes left in the temp
folder, and every later batch on the machine stopped in its sweep."""

from __future__ import annotations

import json
from pathlib import Path

from attacks import Attack, Context

from assignment.profiles import PROFILES
from autograder import leftovers

DEPTH = 2100
FILL_MIB = 1200  # over the smoke profile's 1024 MiB scratch limit, and all this attack ever writes

# In the kernel only (a statement: the probe runs definitions): the chain, made by descriptor, then real bytes at its
# bottom in files under the profile's largest file; it returns on its own once written (the watchdog should have
# stopped it long before).
_DEEP_CHAIN = rf"""
def _deep_chain(depth={DEPTH}, total_mib={FILL_MIB}, file_mib=300, chunk_mib=16):
    folder = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    name = f"deep-{{ATTACK_TOKEN}}"
    written = 0
    try:
        for level in range(depth):
            os.mkdir(name, dir_fd=folder)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder, name = inner, "d"
        chunk = b"\0" * (chunk_mib << 20)
        for number in range(total_mib // file_mib):
            fill = os.open(f"fill{{number}}", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=folder)
            try:
                for _ in range(file_mib // chunk_mib):
                    written += os.write(fill, chunk) >> 20
            finally:
                os.close(fill)
    finally:
        os.close(folder)
    time.sleep(20)
    return f"{{depth}} folders deep, {{written}} MiB at the bottom, still running 20 s later"


_attempt("a chain of {DEPTH} folders with {FILL_MIB} MiB at its bottom", _deep_chain)
"""


def _chains_left(token: str) -> list[str]:
    """The chain wherever a sandbox's scratch folder (or one set aside) may still hold it."""
    roots = {Path(leftovers.scratch_root()), Path("/tmp")}
    return sorted(str(path) for root in roots for path in root.glob(f"tu-*/work/deep-{token}"))


def _check_deep_chain(folder: Path, context: Context) -> list[str]:
    outcome = json.loads((folder / "outcome.json").read_text())
    limit = f"scratch limit of {PROFILES['smoke'].limits.scratch_mib} MiB exceeded"
    problems = [] if limit in outcome["problem"] else [f"graded as {outcome['problem']!r}, not as over the {limit}"]
    return problems + [f"the chain is left at {path}" for path in _chains_left(context.token)]


ATTACKS = [
    Attack(
        "deep_chain_quota",
        f"a chain of {DEPTH} folders (past PATH_MAX) in the work folder with {FILL_MIB} MiB at its bottom: it must "
        "count against the scratch limit and be removed",
        "release",
        [("apply_config", _DEEP_CHAIN)],
        check=_check_deep_chain,
        order=50,
    ),
]
