"""Where student code runs: a sandbox's life from its folders to its cleanup; how it isolates is its backend's.

Every sandbox gets its own scratch folder, its own uid (backends that take one, as root), a control group
inside its submission's, rlimits, an allow-listed environment, a watchdog on its scratch size, output captured
within a bound, and, when it closes, every process it started killed. The backends (bubblewrap, an unprivileged
user, none) are in `autograder.backends`. Its folders are measured and removed by `autograder.trees` (any depth).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from assignment.profiles import Limits
from autograder import leftovers, trees, zygote
from autograder.backends import Backend
from autograder.capture import Answer, Capture, answer
from autograder.cgroup import Group
from autograder.uids import UidSlot, hidden_usage, kill_uids

ENV_PASSED = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
)
WATCH_SECONDS = 1.0


class Sandbox:
    """One sandbox: wraps commands to run inside it; `close()` kills all it started and removes its folders.

    The scratch folder's top level belongs to the grader: the sandbox writes only in its subfolders
    (home, work, out, tmp), so it cannot put a symbolic link where the grader later writes or reads.
    `private` is the grader's own folder for this sandbox (kernel specs, its seccomp filter), invisible inside.
    `group` is the submission's control group this sandbox's group goes in (None: a group of its own).
    """

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        readonly: list[Path],
        env: dict[str, str],
        label: str = "sbx",
        group: str | None = None,
        oom_first: bool = False,
        pristine: zygote.Address | None = None,
    ) -> None:
        self.backend = backend
        self.pristine = pristine
        self.oom_first = oom_first
        self.limits = limits
        self.readonly = [Path(p) for p in dict.fromkeys(readonly)]
        self.seccomp: Path | None = None
        self.private = Path(tempfile.mkdtemp(prefix="tu-grader-", dir=leftovers.scratch_root()))
        with contextlib.ExitStack() as undo:  # a failure part way leaves nothing behind
            undo.callback(trees.discard, self.private)
            self._alive = leftovers.hold(self.private)  # while this grader lives, no sweep touches this sandbox
            undo.callback(os.close, self._alive)
            self.slot = UidSlot() if backend.own_uid and os.geteuid() == 0 else None
            self.uid = self.slot.uid if self.slot else os.geteuid()
            if self.slot:
                undo.callback(self.slot.release)
            backend.prepare(self)  # before anything of this sandbox's is made: it may clear what the uid left
            where = pristine.root if pristine and self.slot else leftovers.scratch_root()
            self.scratch = Path(tempfile.mkdtemp(prefix=f"tu-{label}-", dir=where))
            undo.callback(trees.discard, self.scratch)
            path = f"{group}/{self.scratch.name}" if group else self.scratch.name
            leftovers.record(self.private, self.scratch, self.uid if self.slot else None, backend.name, path)
            self.scratch.chmod(
                0o711
            )  # other sandboxes' uids may pass through (user backend, shared /tmp) but not list it
            for sub in ("home", "work", "out", "tmp"):
                (self.scratch / sub).mkdir(mode=0o700)
            self.give(*(self.scratch / sub for sub in ("home", "work", "out", "tmp")))
            self.env = {
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "HOME": str(self.scratch / "home"),
                "LANG": "C.UTF-8",
                "TMPDIR": backend.tmpdir(self),
                "MPLCONFIGDIR": str(self.scratch / "home" / ".matplotlib"),
                **{key: os.environ[key] for key in ENV_PASSED if key in os.environ},
                **env,
            }
            memory = None if group else limits.memory_mib << 20
            self.group = Group(path, memory, limits.tasks) if backend.name != "none" else Group("", None, None)
            undo.callback(self.group.remove)
            undo.pop_all()  # made: close() undoes it from now on
        self.violation: str | None = None
        self._runs = threading.Condition()  # guards `_running`: the runs not returned yet, from any thread
        self._running = 0
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"watch {self.scratch.name}", daemon=True)
        self._watcher.start()

    def give(self, *paths: Path) -> None:
        """Hand files or folders the grader made to the sandbox's uid, private to it."""
        for path in paths:
            os.chown(path, self.uid, self.uid)
            path.chmod(0o700 if path.is_dir() else 0o600)

    def fresh_folder(self) -> Path:
        """A new, empty folder at the scratch folder's top level that only the grader has touched yet."""
        return Path(tempfile.mkdtemp(prefix="k", dir=self.scratch))

    # -- pieces the backends build their command lines from --------------------------------------------------

    def limit_values(self) -> dict[str, int]:
        mib = 1 << 20
        limits = self.limits
        return {
            "data": limits.address_mib * mib,
            "fsize": limits.file_mib * mib,
            "nofile": limits.open_files,
            "core": 0,
            "nproc": limits.tasks,
        }

    def rlimits(self) -> list[str]:
        return ["prlimit", *(f"--{name}={value}" for name, value in self.limit_values().items()), "--"]

    def setpriv(self) -> list[str]:
        uid = self.uid
        return [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]

    def environment_args(self) -> list[str]:
        return [arg for key, value in sorted(self.env.items()) for arg in ("--setenv", key, value)]

    def environment_command(self) -> list[str]:
        return ["env", "-i", *(f"{key}={value}" for key, value in sorted(self.env.items()))]

    def started(self, argv: list[str]) -> list[str]:
        """`argv` behind a shell that records its pid (kept by the exec'd program), joins the control group and
        opens the seccomp filter on fd 3, where there are."""
        steps = [
            f"echo $$ >> {shlex.quote(str(self.private / 'pids'))}",
            self.group.join(),
            f"exec 3< {shlex.quote(str(self.seccomp))}" if self.seccomp else "",
            "{ echo 1000 > /proc/self/oom_score_adj || true; } 2>/dev/null" if self.oom_first else "",
        ]
        return ["sh", "-c", " && ".join([*(step for step in steps if step), 'exec "$@"']), "sh", *argv]

    # -- running ---------------------------------------------------------------------------------------------

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as a command line that runs inside this sandbox."""
        return self.backend.wrap(self, argv)

    def kernel_command(self, argv: list[str]) -> list[str]:
        """`argv` as a command line for a program another library starts and watches (the notebook's kernel): a child
        of the pristine process where the sandbox has one, else `command(argv)`."""
        return zygote.kernel(self, argv) if self.pristine and self.slot else self.command(argv)

    def describe(self) -> str:
        """The backend and what it isolates, for the instructor."""
        return self.backend.describe(self)

    def run(self, argv: list[str], timeout: float, answers: tuple[Answer, ...] = ()) -> subprocess.CompletedProcess:
        """Run `argv` inside the sandbox to completion (killed at `timeout` seconds), then kill whatever it left
        running; its output is captured within a bound. With `answers`, the program gets `--asks FD` and each
        answer reaches its stdin only once it has asked for it with a line on FD: until then it is nowhere in
        reach of what runs in the sandbox."""
        with self._runs:
            self._running += 1
        try:
            if self.pristine and self.slot:
                with contextlib.suppress(zygote.Unavailable):
                    return zygote.run(self, argv, timeout, answers)
            return self._run(argv, timeout, answers)
        finally:
            with self._runs:
                self._running -= 1
                self._runs.notify_all()

    def _run(self, argv: list[str], timeout: float, answers: tuple[Answer, ...]) -> subprocess.CompletedProcess:
        capture = Capture()
        asks, told = os.pipe() if answers else (-1, -1)
        command = [*argv, "--asks", str(told)] if answers else argv
        try:
            process = subprocess.Popen(
                self.command(command),
                stdout=capture.fd,
                stderr=capture.fd,
                stdin=subprocess.PIPE,
                cwd=self.scratch / "work",
                start_new_session=True,
                pass_fds=(told,) if answers else (),
            )
        except OSError:
            capture.started()
            for descriptor in (asks, told) if answers else ():
                os.close(descriptor)
            raise
        capture.started()
        if answers:
            os.close(told)
            threading.Thread(target=answer, args=(process.stdin, asks, answers), name="answers", daemon=True).start()
        else:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.violation = self.violation or f"time limit of {timeout:.0f} s reached"
            self.kill()
            process.kill()
            code = process.wait()
        self.kill()
        return subprocess.CompletedProcess(argv, code, capture.text(), "")

    def kill(self) -> bool:
        """Kill everything running in the sandbox: its uid's processes, and the processes it was started as (with
        bwrap's --die-with-parent and PID namespace, that takes everything inside along when the uid is the grader's).
        True unless some process of its uid is left."""
        gone = kill_uids({self.uid}) if self.slot else True
        pids = self.private / "pids"
        for pid in pids.read_text().split() if pids.is_file() else []:
            with contextlib.suppress(
                OSError
            ):  # gone already; a reused pid is not ours: it does not name our scratch folder
                if str(self.scratch).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
        return gone

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            used = trees.usage(self.scratch)
            if self.slot:
                # the group's few PIDs, not every process of the machine, where every process of the uid is in it
                among = self.group.processes()
                used += hidden_usage(self.uid, self.scratch.stat().st_dev, self.backend.shared_tmp, among)
            if used.over_cap:
                self.violation = f"scratch limit of {trees.ENTRY_CAP} files and folders exceeded"
            elif used.bytes > self.limits.scratch_mib << 20:
                self.violation = f"scratch limit of {self.limits.scratch_mib} MiB exceeded"
            else:
                continue
            self.kill()
            for path in (self.scratch / "work", self.scratch / "home", self.scratch / "tmp"):
                trees.discard(path, set_aside=False)  # close() sets aside what stays

    def close(self) -> None:
        """Kill every process the sandbox started and delete its folders. The watchdog stops first: a kill of its
        still running once the uid is released would hit the next sandbox given that uid."""
        self._stop.set()
        self._watcher.join()
        gone = self.kill()
        with (
            self._runs
        ):  # a run in another thread (the probe's) kills once more as it returns: let it, before the uid goes
            while self._running:
                self._runs.wait(1)
                gone = self.kill()
        try:
            self.backend.cleanup(self)
        finally:
            self.group.remove()
            trees.discard(self.scratch)  # what cannot be removed is set aside, and the instructor told
            trees.discard(self.private)
            if self.slot and gone:  # else the uid stays reserved: the next sandbox must not share it with a survivor
                self.slot.release()
            os.close(self._alive)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
