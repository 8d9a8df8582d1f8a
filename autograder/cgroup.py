"""A control group per sandbox, where the grader may make one (root, cgroup v1 or v2 with the controllers).

It caps the memory of all the sandbox's processes together (rlimits cap each process alone) and
their number. Where cgroups cannot be made, the sandbox keeps its rlimits and says so.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "tiny-unet"


def _layout(name: str) -> dict[Path, dict[str, int]]:
    """cgroup folder -> its limit files ("memory" and "tasks" stand for the values), for this machine's layout."""
    if (ROOT / "cgroup.controllers").is_file():  # v2: one tree; the parents must hand the controllers down
        if not {"memory", "pids"} <= set((ROOT / "cgroup.controllers").read_text().split()):
            return {}
        for folder in (ROOT, ROOT / PARENT):
            folder.mkdir(exist_ok=True)
            (folder / "cgroup.subtree_control").write_text("+memory +pids")
        return {ROOT / PARENT / name: {"memory.max": "memory", "memory.swap.max": 0, "pids.max": "tasks"}}
    if (ROOT / "memory" / "memory.limit_in_bytes").is_file() and (ROOT / "pids" / "cgroup.procs").is_file():  # v1
        return {ROOT / "memory" / PARENT / name: {"memory.limit_in_bytes": "memory"}, ROOT / "pids" / PARENT / name: {"pids.max": "tasks"}}
    return {}


class Cgroup:
    """The control group of one sandbox (no folders where none can be made)."""

    def __init__(self, name: str, memory_bytes: int, tasks: int):
        self.folders: list[Path] = []
        try:
            for folder, limits in (_layout(name) if os.geteuid() == 0 else {}).items():
                folder.mkdir(parents=True)
                self.folders.append(folder)
                for file, value in limits.items():
                    (folder / file).write_text(str({"memory": memory_bytes, "tasks": tasks}.get(value, value)))
        except OSError:
            self.remove()

    def describe(self) -> str:
        """For the instructor: what the control group holds the sandbox to."""
        return "a memory and process cgroup" if self.folders else "no cgroup (rlimits only)"

    def join(self) -> str:
        """A shell step that moves the shell running it into the control group (empty without one)."""
        return f"echo $$ | tee {' '.join(str(f / 'cgroup.procs') for f in self.folders)} > /dev/null" if self.folders else ""

    @staticmethod
    def remove_named(name: str) -> None:
        """Remove the control group `name` left by a grader that was killed (its processes killed already)."""
        folders: list[Path] = []
        with contextlib.suppress(OSError):  # a read-only /sys/fs/cgroup, say
            folders = list(_layout(name)) if os.geteuid() == 0 else []
        for folder in folders:
            _rmdir(folder)

    def remove(self) -> None:
        """Remove the (emptied) control group; its processes must be gone already."""
        for folder in self.folders:
            _rmdir(folder)
        self.folders = []


def _rmdir(folder: Path) -> None:
    """Remove an emptied cgroup folder: a killed process may linger in it for a moment."""
    for _ in range(40):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
