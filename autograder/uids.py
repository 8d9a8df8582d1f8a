"""Unprivileged uids for sandboxes: one per live sandbox, reserved across processes and batches with an
flock; the processes of a uid found and killed (a sandbox's cleanup, and a crashed grader's leftovers)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Collection
from pathlib import Path

UID_BASE = 200_000  # sandbox uids: UID_BASE .. UID_BASE + UID_SLOTS - 1
UID_SLOTS = 1000
SANDBOX_UIDS = range(UID_BASE, UID_BASE + UID_SLOTS)
SLOT_FOLDER = Path("/run/tiny-unet-uids")  # root's alone: no sandbox can plant anything there


class UidSlot:
    """An unprivileged uid reserved for one sandbox by an flock, across processes and batches."""

    def __init__(self) -> None:
        SLOT_FOLDER.mkdir(mode=0o700, exist_ok=True)
        info = SLOT_FOLDER.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise RuntimeError(f"{SLOT_FOLDER} is not a private folder of the grader's user: remove it")
        for slot in range(UID_SLOTS):
            descriptor = os.open(SLOT_FOLDER / str(slot), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            self.uid, self._descriptor = UID_BASE + slot, descriptor
            kill_uids({self.uid})  # left over from a grader that crashed
            return
        raise RuntimeError(f"all {UID_SLOTS} sandbox uids are in use")

    def release(self) -> None:
        """Let another sandbox have this uid."""
        os.close(self._descriptor)


def processes_of(uids: Collection[int]) -> list[int]:
    """PIDs whose real uid is one of `uids`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                status = Path(entry.path, "status").read_text()
            except OSError:
                continue
            owner = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
            if owner and int(owner[0]) in uids and "State:\tZ" not in status:
                found.append(int(entry.name))
    return found


def kill_uids(uids: Collection[int]) -> None:
    """SIGKILL every process of `uids`, again until none is left (a fork bomb races the first pass)."""
    for _ in range(50):
        pids = processes_of(uids)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


def remove_leftovers(uid: int) -> None:
    """What a uid left where every user may write (the `user` backend has no private /tmp): files and folders in
    SHARED_FOLDERS, and System V shared memory, semaphores and message queues."""
    for top in SHARED_FOLDERS:
        for folder, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_uid == uid:
                        if name in dirs:
                            dirs.remove(name)
                            shutil.rmtree(path, ignore_errors=True)
                        else:
                            os.unlink(path)
    for kind, flag in (("shm", "-m"), ("sem", "-s"), ("msg", "-q")):
        with contextlib.suppress(OSError):
            header, *rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
            columns = header.split()
            for row in rows:
                fields = row.split()
                if int(fields[columns.index("uid")]) == uid:
                    subprocess.run(["ipcrm", flag, fields[1]], capture_output=True, check=False)
