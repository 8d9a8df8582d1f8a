"""Unprivileged uids for sandboxes: one per live sandbox, reserved across processes and batches with an
flock; the processes of a uid found and killed (a sandbox's cleanup, and a crashed grader's leftovers)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import tempfile
import time
from pathlib import Path

UID_BASE = 200_000  # sandbox uids: UID_BASE .. UID_BASE + UID_SLOTS - 1
UID_SLOTS = 1000


class UidSlot:
    """An unprivileged uid reserved for one sandbox by an flock, across processes and batches."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / "tiny-unet-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for slot in range(UID_SLOTS):
            handle = open(folder / str(slot), "a")  # noqa: SIM115 - held for the sandbox's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.uid, self._handle = UID_BASE + slot, handle
            kill_uid(self.uid)  # left over from a grader that crashed
            return
        raise RuntimeError(f"all {UID_SLOTS} sandbox uids are in use")

    def release(self) -> None:
        self._handle.close()


def processes_of(uid: int) -> list[int]:
    """PIDs whose real uid is `uid`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                status = Path(entry.path, "status").read_text()
            except OSError:
                continue
            uids = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
            if uids and int(uids[0]) == uid and "State:\tZ" not in status:
                found.append(int(entry.name))
    return found


def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid`, again until none is left (a fork bomb races the first pass)."""
    for _ in range(50):
        pids = processes_of(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
