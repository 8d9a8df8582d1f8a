"""Where student code runs: a scratch folder, an allow-listed environment, limits, and cleanup.

Backends, best first:

* ``bwrap``: bubblewrap namespaces (mount, PID, network, IPC, UTS). Only the Python install, the
  kit's venv, the data and the scratch folder exist inside; everything but the scratch folder is
  read-only; the network is a private loopback. Run as root, bwrap builds the namespaces and the
  code then runs as a dedicated unprivileged uid (so the process limit binds); run as a normal
  user, it runs as that user in a user namespace.
* ``user``: no namespaces (e.g. inside a Docker container): a dedicated unprivileged uid with
  rlimits, and a private network where ``unshare --net`` is allowed. The grader's files must be
  unreadable to that uid (`protect`).
* ``none``: only with ``--unsandboxed``; every report says so.

Every sandbox gets its own uid (root backends), its own scratch folder and, when it closes, every
process it started is killed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from assignment.profiles import Limits
from autograder import bwrap, leftovers, seccomp
from autograder.cgroup import Cgroup
from autograder.uids import UidSlot, hidden_bytes, kill_uids, remove_leftovers

BACKENDS = ("bwrap", "user", "none")
ENV_PASSED = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
WATCH_SECONDS = 1.0


class SandboxUnavailable(Exception):
    """No backend can run here; the message says what to install or which flag to pass."""


def detect(requested: str = "auto") -> str:
    """The backend to use: `requested`, or the best one available for "auto"."""
    if requested == "none":
        return "none"
    bwrap_problem = bwrap.problem() if requested in ("auto", "bwrap") else "not requested"
    if bwrap_problem is None:
        return "bwrap"
    user_problem = None if os.geteuid() == 0 and shutil.which("setpriv") else "it needs root and setpriv (util-linux)"
    if requested in ("auto", "user") and user_problem is None:
        return "user"
    raise SandboxUnavailable(
        f"no sandbox backend can run here ({'bwrap: ' + bwrap_problem + '; ' if requested != 'user' else ''}"
        f"unprivileged-user fallback: {user_problem or 'not requested'}). Install bubblewrap, or run as root, "
        "or pass --unsandboxed to grade without a sandbox (every report will say so)."
    )


@functools.cache
def _net_unshare_works() -> bool:
    return bool(shutil.which("unshare")) and subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


def _setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]


def folder_size(root: Path, limit_entries: int = 200_000) -> int:
    """Bytes under `root` (not following links); past `limit_entries` entries, counts as over any limit."""
    total, entries, stack = 0, 0, [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    entries += 1
                    if entries > limit_entries:
                        return sys.maxsize
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            continue
    return total


class Sandbox:
    """One sandbox: wraps commands to run inside it; `close()` kills all it started and removes its scratch.

    The scratch folder's top level belongs to the grader: the sandbox writes only in its subfolders
    (home, work, out, tmp), so it cannot put a symbolic link where the grader later writes or reads.
    `private` is the grader's own folder for this sandbox (logs, kernel specs), invisible inside.
    """

    def __init__(self, backend: str, limits: Limits, readonly: list[Path], env: dict[str, str], label: str = "sbx"):
        self.backend, self.limits = backend, limits
        self.readonly = [Path(p) for p in dict.fromkeys(readonly)]
        self.private = Path(tempfile.mkdtemp(prefix="tu-grader-", dir=leftovers.scratch_root()))
        with contextlib.ExitStack() as undo:  # a failure part way leaves nothing behind
            undo.callback(shutil.rmtree, self.private, True)
            self._alive = leftovers.hold(self.private)  # while this grader lives, no sweep touches this sandbox
            undo.callback(os.close, self._alive)
            self.slot = UidSlot() if backend in ("bwrap", "user") and os.geteuid() == 0 else None
            self.uid = self.slot.uid if self.slot else os.geteuid()
            if self.slot:
                undo.callback(self.slot.release)
            self.scratch = Path(tempfile.mkdtemp(prefix=f"tu-{label}-", dir=leftovers.scratch_root()))
            undo.callback(shutil.rmtree, self.scratch, True)
            leftovers.record(self.private, self.scratch, self.uid if self.slot else None, backend)
            self.scratch.chmod(0o711)  # other sandboxes' uids may pass through (user backend, shared /tmp) but not list it
            for sub in ("home", "work", "out", "tmp"):
                (self.scratch / sub).mkdir(mode=0o700)
            if self.slot and backend == "user":  # what a crashed grader's sandbox of this uid left in /tmp is not for this one
                remove_leftovers(self.uid)
            self.give(*(self.scratch / sub for sub in ("home", "work", "out", "tmp")))
            self.env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(self.scratch / "home"),
                        "LANG": "C.UTF-8", "TMPDIR": "/tmp" if backend == "bwrap" else str(self.scratch / "tmp"),
                        "MPLCONFIGDIR": str(self.scratch / "home" / ".matplotlib"),
                        **{k: os.environ[k] for k in ENV_PASSED if k in os.environ}, **env}
            self.cgroup = Cgroup(self.scratch.name, limits.memory_mib << 20, limits.tasks) if backend != "none" else None
            if self.cgroup:
                undo.callback(self.cgroup.remove)
            self.seccomp = self.private / "seccomp.bpf" if backend == "bwrap" and seccomp.program() else None
            if self.seccomp:
                self.seccomp.write_bytes(seccomp.program())
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

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as a command line that runs inside this sandbox."""
        mib = 1 << 20
        limits = ["prlimit", f"--data={self.limits.memory_mib * mib}", f"--fsize={self.limits.file_mib * mib}",
                  f"--nofile={self.limits.open_files}", "--core=0", f"--nproc={self.limits.tasks}", "--"]
        environment = [arg for key, value in sorted(self.env.items()) for arg in ("--setenv", key, value)]
        if self.backend == "bwrap":
            prefix = [*bwrap.prefix(self.readonly, self.scratch, as_root=bool(self.slot)), *(["--seccomp", "3"] if self.seccomp else [])]
            return self._started([*limits, *prefix, "--clearenv", *environment, "--", *(_setpriv(self.uid) if self.slot else []), *argv])
        env = ["env", "-i", *(f"{k}={v}" for k, v in sorted(self.env.items()))]
        if self.backend == "user":
            network = ["unshare", "--net", "--"] if _net_unshare_works() else []
            return self._started([*limits, *network, *_setpriv(self.uid), "--pdeathsig=KILL", "--", *env, *argv])
        return [*env, *argv]

    def _started(self, argv: list[str]) -> list[str]:
        """`argv` behind a shell that records its pid (kept by the exec'd bwrap or setpriv), joins the control group
        and opens the seccomp filter on fd 3, where there are."""
        steps = [f"echo $$ >> {shlex.quote(str(self.private / 'pids'))}", self.cgroup.join(),
                 f"exec 3< {shlex.quote(str(self.seccomp))}" if self.seccomp else ""]
        return ["sh", "-c", " && ".join([*(step for step in steps if step), 'exec "$@"']), "sh", *argv]

    def describe(self) -> str:
        """The backend and what it isolates, for the instructor."""
        if self.backend == "bwrap":
            who = "a dedicated unprivileged uid" if self.slot else "the grader's uid in a user namespace"
            filtered = "seccomp filter" if self.seccomp else "no seccomp filter on this architecture"
            return f"bwrap (namespaces: mount, pid, net, ipc, uts; runs as {who}; {self.cgroup.describe()}; {filtered})"
        if self.backend == "user":
            return (f"user (a dedicated unprivileged uid, rlimits, {self.cgroup.describe()}; "
                    f"network {'private' if _net_unshare_works() else 'NOT isolated'})")
        return "none (UNSANDBOXED: student code ran as the grader's user)"

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run `argv` inside the sandbox to completion (killed at `timeout` seconds), then kill whatever it left
        running; its output is capped."""
        with self._runs:
            self._running += 1
        try:
            return self._run(argv, timeout)
        finally:
            with self._runs:
                self._running -= 1
                self._runs.notify_all()

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        log = self.private / f"run{threading.get_ident()}.log"
        with log.open("w+b") as out:
            process = subprocess.Popen(self.command(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.scratch / "work", start_new_session=True)
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.violation = self.violation or f"time limit of {timeout:.0f} s reached"
                self.kill()
                process.kill()
                code = process.wait()
            self.kill()
            out.seek(0)
            text = out.read(20_000).decode(errors="replace")
        log.unlink()
        return subprocess.CompletedProcess(argv, code, text, "")

    def kill(self) -> bool:
        """Kill everything running in the sandbox: its uid's processes, and the processes it was started as (with
        bwrap's --die-with-parent and PID namespace, that takes everything inside along when the uid is the grader's).
        True unless some process of its uid is left."""
        gone = kill_uids({self.uid}) if self.slot or self.backend == "user" else True
        pids = self.private / "pids"
        for pid in pids.read_text().split() if pids.is_file() else []:
            with contextlib.suppress(OSError):  # gone already; a reused pid is not ours: it does not name our scratch folder
                if str(self.scratch).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
        return gone

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            used = folder_size(self.scratch) + (hidden_bytes(self.uid, self.scratch.stat().st_dev, self.backend == "user") if self.slot else 0)
            if used > self.limits.scratch_mib << 20:
                self.violation = f"scratch limit of {self.limits.scratch_mib} MiB exceeded"
                self.kill()
                for path in (self.scratch / "work", self.scratch / "home", self.scratch / "tmp"):
                    shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Kill every process the sandbox started and delete its scratch folder. The watchdog stops first: a kill
        of its still running once the uid is released would hit the next sandbox given that uid."""
        self._stop.set()
        self._watcher.join()
        gone = self.kill()
        with self._runs:  # a run in another thread (the probe's) kills once more as it returns: let it, before the uid goes
            while self._running:
                self._runs.wait(1)
                gone = self.kill()
        if self.backend == "user":  # no private /tmp, IPC or keyrings here: remove what the next user of this uid would find
            keyctl = seccomp.BLOCKED["keyctl"][0 if platform.machine() == "x86_64" else 1]
            subprocess.run([*_setpriv(self.uid), sys.executable, "-I", "-S", "-c", f"import ctypes; ctypes.CDLL(None).syscall({keyctl}, 7, -4)"],
                           capture_output=True, check=False)
            remove_leftovers(self.uid)
        if self.cgroup:
            self.cgroup.remove()
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.rmtree(self.private, ignore_errors=True)
        if self.slot and gone:  # else the uid stays reserved: the next sandbox must not share it with a survivor
            self.slot.release()
        os.close(self._alive)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

