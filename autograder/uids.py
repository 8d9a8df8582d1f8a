"""Unprivileged uids for sandboxes: one per live sandbox, reserved across processes and batches with an
flock; the processes of a uid found and killed (a sandbox's cleanup, and a crashed grader's leftovers)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import stat
import subprocess
import time
from collections.abc import Collection
from pathlib import Path

from autograder import trees

UID_BASE = 200_000  # sandbox uids: UID_BASE .. UID_BASE + UID_SLOTS - 1
UID_SLOTS = 1000
SANDBOX_UIDS = range(UID_BASE, UID_BASE + UID_SLOTS)
SLOT_FOLDER = Path("/run/tiny-unet-uids")  # root's alone: no sandbox can plant anything there


class UidSlot:
    """An unprivileged uid reserved for one sandbox by an flock, across processes and batches."""

    def __init__(self) -> None:
        folder = _slot_folder()
        for slot in range(UID_SLOTS):
            descriptor = _lock(folder, slot)
            if descriptor is not None:
                self.uid = UID_BASE + slot
                self._descriptor = descriptor
                kill_uids({self.uid})  # left over from a grader that crashed
                return
        raise RuntimeError(f"all {UID_SLOTS} sandbox uids are in use")

    def release(self) -> None:
        """Let another sandbox have this uid."""
        os.close(self._descriptor)


def reclaim(uid: int, shared: bool) -> None:
    """Kill what a dead grader's sandbox left running under `uid` (and, `shared`, its files in shared folders), unless
    a live sandbox holds that uid now."""
    if uid not in SANDBOX_UIDS or os.geteuid() != 0:
        return
    descriptor = _lock(_slot_folder(), uid - UID_BASE)
    if descriptor is None:
        return  # a live sandbox has it
    try:
        kill_uids({uid})
        if shared:
            remove_leftovers(uid)
    finally:
        os.close(descriptor)


def _slot_folder() -> Path:
    """SLOT_FOLDER, made where missing, once checked to be the grader's alone."""
    SLOT_FOLDER.mkdir(mode=0o700, exist_ok=True)
    info = SLOT_FOLDER.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{SLOT_FOLDER} is not a private folder of the grader's user: remove it")
    return SLOT_FOLDER


def _lock(folder: Path, slot: int) -> int | None:
    """A descriptor holding `slot`'s flock, or None when another process holds it."""
    descriptor = os.open(folder / str(slot), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def processes_of(uids: Collection[int], among: Collection[int] | None = None) -> list[int]:
    """PIDs whose real uid is one of `uids`: of every process, or of the PIDs `among` (a control group's)."""
    found = []
    for pid in among if among is not None else (int(e.name) for e in os.scandir("/proc") if e.name.isdigit()):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        owner = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
        if owner and int(owner[0]) in uids and "State:\tZ" not in status:
            found.append(pid)
    return found


def kill_uids(uids: Collection[int]) -> bool:
    """SIGKILL every process of `uids`, again until none is left; True when none is. A sandbox uid's processes
    are first killed by a process of that uid calling kill(-1): one call, which a process forking to ever new
    pids cannot outrun (it can outrun a list of pids, even hide from one)."""
    for _ in range(50):
        for uid in [uid for uid in uids if uid in SANDBOX_UIDS] if os.geteuid() == 0 else ():
            subprocess.run(
                ["/bin/sh", "-c", "kill -9 -1"],
                user=uid,
                group=uid,
                extra_groups=[],
                cwd="/",
                env={},  # the shell's builtin
                capture_output=True,
                check=False,
                timeout=30,
            )
        pids = processes_of(uids)
        if not pids:
            return True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    return not processes_of(uids)


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")


def hidden_usage(
    uid: int,
    device: int,
    shared: bool,
    among: Collection[int] | None = None,
    folders: tuple[str, ...] = SHARED_FOLDERS,
) -> trees.Usage:
    """Disk a uid uses outside its scratch folder's listing: files on `device` deleted but still open by its
    processes (of those `among`, when its control group lists them all), and (`shared`: the `user` backend, with
    no private /tmp) what it owns in the shared `folders`, in any folder it may write (entries counted against the cap
    too)."""
    seen = set()
    total = 0
    for pid in processes_of({uid}, among):
        with contextlib.suppress(OSError), os.scandir(f"/proc/{pid}/fd") as descriptors:
            for descriptor in descriptors:
                with contextlib.suppress(OSError):
                    info = os.stat(descriptor.path)
                    if (
                        info.st_nlink == 0
                        and info.st_dev == device
                        and stat.S_ISREG(info.st_mode)
                        and info.st_ino not in seen
                    ):
                        seen.add(info.st_ino)
                        total += info.st_blocks * 512
    used = trees.Usage(total, 0)
    for top in folders if shared else ():
        used += trees.usage(Path(top), owner=uid)
    return used


def remove_leftovers(uid: int, folders: tuple[str, ...] = SHARED_FOLDERS) -> None:
    """What a uid left where every user may write (the `user` backend has no private /tmp): files and folders in the
    shared `folders` (what cannot be removed is set aside, see `trees.discard`), and System V shared memory,
    semaphores and message queues."""
    for top in folders:
        trees.discard_owned(Path(top), uid)
    for kind, flag in (("shm", "-m"), ("sem", "-s"), ("msg", "-q")):
        with contextlib.suppress(OSError):
            header, *rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
            columns = header.split()
            for row in rows:
                fields = row.split()
                if int(fields[columns.index("uid")]) == uid:
                    subprocess.run(["ipcrm", flag, fields[1]], capture_output=True, check=False)
