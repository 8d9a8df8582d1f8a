"""Control groups for a submission and its sandboxes, where the grader may make them (root; cgroup v1 or v2).

A submission's group holds all of its sandboxes (the kernel, the probe and the measurer). It caps their
memory together (tmpfs pages count against the group of the process that wrote them) and it has the same
CPU weight as every other submission's group, so a notebook that spins every core it can get slows only
itself. Each sandbox has a child group that caps its number of processes. Where no group can be made, the
sandboxes keep their rlimits and say so.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "tiny-unet"
CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")  # cpuacct: cgroup v1's CPU time (v2 keeps it in cpu.stat)


def _v2() -> bool:
    return (ROOT / "cgroup.controllers").is_file()


def _bases() -> dict[str, Path]:
    """Controller -> the folder under which the kit's groups go, for the controllers this machine has."""
    if _v2():
        offered = set((ROOT / "cgroup.controllers").read_text().split())
        return {name: ROOT / PARENT for name in CONTROLLERS if name in offered}
    return {name: ROOT / name / PARENT for name in CONTROLLERS if (ROOT / name / "cgroup.procs").is_file()}


def _delegate(folder: Path, controllers: set[str]) -> None:
    """cgroup v2: let the groups below `folder` use `controllers`."""
    (folder / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in sorted(controllers)))


class Group:
    """One control group: a submission's (`memory`, `cpu`) or a sandbox's inside it (`tasks`). `path` is relative,
    e.g. "sub-ab12" or "sub-ab12/tu-nb-cd34"; no folders are made where groups cannot be."""

    def __init__(self, path: str, memory_bytes: int | None = None, tasks: int | None = None) -> None:
        self.path = path
        self.folders: dict[str, Path] = {}
        if os.geteuid() != 0:
            return
        try:
            bases = _bases()
            if _v2() and bases:
                above = [ROOT / PARENT / parent for parent in reversed(Path(path).parents) if str(parent) != "."]
                for folder in [ROOT, ROOT / PARENT, *above]:
                    folder.mkdir(exist_ok=True)
                    _delegate(folder, set(bases))
            for name, base in bases.items():
                folder = base / path
                folder.parent.mkdir(parents=True, exist_ok=True)
                folder.mkdir(exist_ok=True)
                self.folders[name] = folder
            self._limit(memory_bytes, tasks)
        except OSError:
            self.remove()

    def _limit(self, memory_bytes: int | None, tasks: int | None) -> None:
        v2 = _v2()
        folders = self.folders
        if memory_bytes is not None and "memory" in folders:
            (folders["memory"] / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(memory_bytes))
            swap = folders["memory"] / ("memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")
            with contextlib.suppress(OSError):  # no swap accounting on this kernel
                swap.write_text("0" if v2 else str(memory_bytes))
        if memory_bytes is not None and "cpu" in folders:  # a submission's group: the same share as every other
            (folders["cpu"] / ("cpu.weight" if v2 else "cpu.shares")).write_text("100" if v2 else "1024")
        if tasks is not None and "pids" in folders:
            (folders["pids"] / "pids.max").write_text(str(tasks))

    def describe(self) -> str:
        """For the instructor: what the control groups hold the sandbox to."""
        if not self.folders:
            return "no cgroup (rlimits only)"
        return f"a cgroup ({', '.join(sorted(self.folders))}) shared with the submission's other sandboxes"

    def join(self) -> str:
        """A shell step that moves the shell running it into the group (empty without one)."""
        targets = sorted({str(folder / "cgroup.procs") for folder in self.folders.values()})
        return f"echo $$ | tee {' '.join(targets)} > /dev/null" if targets else ""

    def processes(self) -> set[int] | None:
        """The PIDs in the group (None without one, or when a listing cannot be read). A process in it cannot leave:
        joining another group takes write access to that group's cgroup.procs, which only root has."""
        if not self.folders:
            return None
        try:
            listings = [(folder / "cgroup.procs").read_text() for folder in self.folders.values()]
            return {int(pid) for listing in listings for pid in listing.split()}
        except (OSError, ValueError):
            return None

    def cpu_seconds(self) -> float | None:
        """CPU time the group's processes used, where the kernel accounts it."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            if "cpuacct" in self.folders:
                return int((self.folders["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
            if "cpu" in self.folders and _v2():
                stat = dict(line.split() for line in (self.folders["cpu"] / "cpu.stat").read_text().splitlines())
                return int(stat["usage_usec"]) / 1e6
        return None

    def peak_memory(self) -> int | None:
        """Bytes at the group's peak, where the kernel records it."""
        folder = self.folders.get("memory")
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            with contextlib.suppress(OSError, ValueError):
                return int((folder / name).read_text()) if folder else None
        return None

    def remove(self) -> None:
        """Remove the (emptied) group; its processes must be gone already."""
        for folder in sorted(set(self.folders.values()), reverse=True):
            _rmdir(folder)
        self.folders = {}

    @staticmethod
    def remove_path(path: str) -> None:
        """Remove the group `path` and, when they are empty, its parents below the kit's folder (a killed grader's)."""
        if os.geteuid() != 0:
            return
        with contextlib.suppress(OSError):  # a read-only /sys/fs/cgroup, say
            for base in set(_bases().values()):
                for folder in [base / path, *(base / parent for parent in Path(path).parents if str(parent) != ".")]:
                    _rmdir(folder, tries=1 if folder != base / path else 40)


def _rmdir(folder: Path, tries: int = 40) -> None:
    """Remove an emptied cgroup folder: a killed process may linger in it for a moment."""
    for _ in range(tries):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if tries > 1:
                time.sleep(0.05)


def machine_memory_mib() -> int:
    """RAM this grader may use: the machine's, or less where its own control group caps it (a container)."""
    lines = Path("/proc/meminfo").read_text().splitlines()
    total = next(int(line.split()[1]) >> 10 for line in lines if line.startswith("MemTotal:"))
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, own = line.split(":", 2)
        if hierarchy == "0" and _v2():
            limit = ROOT / own.lstrip("/") / "memory.max"
        elif "memory" in controllers.split(","):
            limit = ROOT / "memory" / own.lstrip("/") / "memory.limit_in_bytes"
        else:
            continue
        with contextlib.suppress(OSError, ValueError):
            total = min(total, int(limit.read_text().strip()) >> 20)
    return total
