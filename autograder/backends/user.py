"""The unprivileged-user backend, for machines without namespaces (Gradescope's or another Docker container):
a dedicated uid (setpriv) with rlimits, the grader's folders made unreadable to it (`permissions.protect`), and
a private network where `unshare --net` is allowed. It sees the host's /tmp, /dev/shm and IPC, so what its uid
leaves there counts against its scratch limit and is removed at the end."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import seccomp
from autograder.backends.base import Backend
from autograder.uids import remove_leftovers

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox


@functools.cache
def _net_unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


class UnprivilegedUser(Backend):
    """A dedicated unprivileged uid and rlimits, as root."""

    name = "user"
    shared_tmp = True
    forks = True

    @classmethod
    def problem(cls) -> str | None:
        return None if os.geteuid() == 0 and shutil.which("setpriv") else "it needs root and setpriv (util-linux)"

    def prepare(self, box: Sandbox) -> None:
        if box.slot:  # what a crashed grader's sandbox of this uid left in /tmp is not for this one
            remove_leftovers(box.uid)

    def wrap(self, box: Sandbox, argv: list[str]) -> list[str]:
        network = ["unshare", "--net", "--"] if _net_unshare_works() else []
        command = [
            *box.rlimits(),
            *network,
            *box.setpriv(),
            "--pdeathsig=KILL",
            "--",
            *box.environment_command(),
            *argv,
        ]
        return box.started(command)

    def pristine(self, readonly: list[Path], root: Path, env: dict[str, str], argv: list[str]) -> list[str]:
        """On the host, as root (it runs nothing of a submission), dying with the grader."""
        return ["setpriv", "--pdeathsig=KILL", "--", "env", "-i", *(f"{k}={v}" for k, v in sorted(env.items())), *argv]

    def forked(self, box: Sandbox) -> dict:
        return {"namespaces": False, "network": _net_unshare_works(), "seccomp": "", "tmp_mib": 0}

    def describe(self, box: Sandbox) -> str:
        network = "private" if _net_unshare_works() else "NOT isolated"
        return f"user (a dedicated unprivileged uid, rlimits, {box.group.describe()}; network {network})"

    def cleanup(self, box: Sandbox) -> None:
        """No private /tmp, IPC or keyrings here: remove what the next user of this uid would find."""
        if not box.slot:
            return
        keyctl = seccomp.BLOCKED["keyctl"][0 if platform.machine() == "x86_64" else 1]
        clear = f"import ctypes; ctypes.CDLL(None).syscall({keyctl}, 7, -4)"
        subprocess.run([*box.setpriv(), sys.executable, "-I", "-S", "-c", clear], capture_output=True, check=False)
        remove_leftovers(box.uid)
