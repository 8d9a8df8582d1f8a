"""What the sandboxes of a grader that was killed leave behind, and its removal by the next batch.

Each sandbox's private folder holds `alive`, locked (flock) while its grader lives, and `state.json`, naming its
scratch folder, uid and backend. A lock that is free means the grader is gone: `sweep` removes its folders, its
control group, and the processes and shared files of its uid unless a live sandbox holds that uid now. What cannot
be removed is set aside (`trees.discard`): no sweep stops on it, or finds it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import trees
from autograder.backends import REGISTRY
from autograder.cgroup import Group
from autograder.uids import reclaim


def scratch_root() -> str:
    """Where sandbox folders go: a temp folder whose paths stay short enough for unix sockets (ipc kernels)."""
    base = tempfile.gettempdir()
    return base if len(base) <= 40 else "/tmp"


def hold(private: Path) -> int:
    """A descriptor locking `private`/alive while this grader lives; the file is locked before it takes that name,
    so a sweep never finds it unlocked."""
    descriptor = os.open(private / "alive.new", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    os.rename(private / "alive.new", private / "alive")
    return descriptor


def record(private: Path, scratch: Path, uid: int | None, backend: str, group: str) -> None:
    """Write (atomically) what a sweep needs to clean up after this sandbox."""
    state = {"scratch": str(scratch), "uid": uid, "backend": backend, "group": group}
    (private / "state.new").write_text(json.dumps(state))
    os.replace(private / "state.new", private / "state.json")


@contextlib.contextmanager
def batch_folder():
    """A private folder for a batch's own files (the grader's, never a sandbox's), removed when the batch ends and,
    should its grader be killed, by the next batch's sweep."""
    folder = Path(tempfile.mkdtemp(prefix="tu-grader-batch-", dir=scratch_root()))
    alive = hold(folder)
    try:
        yield folder
    finally:
        trees.discard(folder)
        os.close(alive)


def sweep() -> list[str]:
    """Remove what the sandboxes of killed graders left; returns the folders removed."""
    removed = []
    for private in Path(scratch_root()).glob("tu-grader-*"):
        try:
            if private.is_symlink() or private.stat().st_uid != os.geteuid():
                continue  # not this grader user's
            alive = os.open(private / "alive", os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # not a sandbox's folder, or one being made
        try:
            fcntl.flock(alive, fcntl.LOCK_EX | fcntl.LOCK_NB)
            removed += _remove(private)
        except BlockingIOError:
            pass  # its grader is alive
        except (OSError, ValueError) as error:  # never stops a batch: the instructor is told, a later sweep tries again
            print(f"grader: could not sweep {private}: {error}", file=sys.stderr)
        finally:
            os.close(alive)
    return removed


def _remove(private: Path) -> list[str]:
    state: dict = {}
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((private / "state.json").read_text())
    scratch = Path(state["scratch"]) if isinstance(state.get("scratch"), str) else None
    removed = []
    if scratch and scratch.parent == private.parent and scratch.name.startswith("tu-") and not scratch.is_symlink():
        if isinstance(state.get("uid"), int):
            with contextlib.suppress(
                OSError, subprocess.SubprocessError, RuntimeError
            ):  # RuntimeError: a slot folder not the grader's
                backend = REGISTRY.get(str(state.get("backend")))
                reclaim(state["uid"], shared=bool(backend and backend.shared_tmp))
        trees.discard(scratch)
        removed.append(str(scratch))
    # Its control group too where its scratch folder is the pristine process's (a forked sandbox's: that folder goes
    # with the pristine process's own), whose processes died with the pristine process.
    group = state.get("group")
    if isinstance(group, str) and group and all(part.startswith(("tu-", "sub-")) for part in Path(group).parts):
        Group.remove_path(group)
    trees.discard(private)
    return [*removed, str(private)]
