"""The pristine process: TensorFlow imported once per batch, forked into each sandbox that runs a program.

A batch graded as root with the bwrap or user backend starts, before any submission is read, one process that
imports TensorFlow, Keras, tfds, NumPy, pyplot and ipykernel (serve.py). The notebook's kernel, the probe and the
measuring program of every submission are then children forked from it, each entering its own sandbox before it runs
(confine.py): the sandbox's control groups, its own uid, rlimits and, under bwrap, its own mount (/tmp, /dev/shm),
IPC, UTS and network namespaces and the seccomp filter. What each start of TensorFlow cost (3.5-4 CPU-s, three times
a submission) is paid once a batch. jupyter_client starts a kernel through launch.py, which has it forked and lives
as long as it does.

Threat analysis. What runs student code (the kernel, the probe) and what reads files student code made (the
measuring program) are children; the pristine process never runs, loads or reads anything of a submission, only the
grader's requests (a JSON object and descriptors, on a socket in the batch's private folder, which no sandbox sees).
- A child cannot reach the pristine process: it runs as an unprivileged uid of its own and the pristine process as
  root (no signal, no ptrace, no /proc/PID/mem); the seccomp filter refuses ptrace, process_vm_*, new namespaces and
  mounts; it holds no descriptor of the pristine process's (all closed before anything of the child runs, the
  control-group files after it joins them). It dies with it (PR_SET_PDEATHSIG), and with its requester: the
  pristine process kills a child whose request's connection closes.
- A child cannot reach the next submission's children: those are forked from the pristine process, never from it,
  with another uid; a uid goes to a later sandbox only once no process of it is left (autograder.uids). What the
  children share is read-only (the Python install, the venv, the data, the pristine process's memory, copied on
  write) or theirs alone: each scratch folder is its uid's (0700), and under bwrap /tmp (holding only its scratch
  folder and the read-only paths), /dev/shm, System V IPC and the network are per child. Under bwrap the PID
  namespace is the pristine process's, but each child's /proc shows only its own uid's processes (hidepid=2): not
  its neighbours', nor the pristine process. The `user` backend is the same as its own
  sandboxes are: the host's /tmp and IPC, cleaned per uid at the end.
- A crafted file in a measuring child can therefore hurt only that child, hence its submission: the grader reads
  its facts as it reads any sandbox's (typed, bounded), and the next measuring child starts from the pristine
  process again, never from it. A kernel, a probe or a measurer of one submission starts from the same pristine
  state as every other's: nothing one submission did is in a later one's memory.
- The children's memory, tasks and CPU are their sandboxes' control groups'; what the pristine process holds is
  shared, read-only, by all of them. A library that reads its environment once, at import (tfds: TFDS_DATA_DIR),
  read the sandboxes' own: the pristine process starts with it.
Where the grader is not root (bwrap in a user namespace), children could not change uid: every program then starts
in a bwrap sandbox of its own, as before (`Zygote` has no `address`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import leftovers, trees
from autograder.backends import Backend
from autograder.capture import Answer, Capture, answer

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox

PROGRAM = Path(__file__).resolve().parent
ASKS_FD = 3  # where a child finds the descriptor it asks the grader on (confine.ASKS_FD)
READY_SECONDS = 180  # a request waits this long for the pristine process to have imported TensorFlow
ANSWER_LIMIT = 4096


class Unavailable(OSError):
    """The pristine process cannot fork this child (gone, or never started): run the program the usual way."""


@dataclass(frozen=True)
class Address:
    """Where a worker reaches the batch's pristine process, and the folder its children's scratch folders go in."""

    socket: str
    root: str


class Child:
    """A forked child, as the grader sees it: its exit status comes on the request's connection."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection

    def wait(self, timeout: float | None) -> int | None:
        """The exit status, or None when the child has not ended within `timeout` seconds (None: however long)."""
        self.connection.settimeout(None if timeout is None else max(timeout, 0.01))
        try:
            answer = json.loads(self.connection.recv(ANSWER_LIMIT) or b"{}")
        except TimeoutError:
            return None
        except (OSError, ValueError):
            return -1
        code = answer.get("exit")
        return code if isinstance(code, int) else -1

    def close(self) -> None:
        self.connection.close()


def fork(address: Address, request: dict, fds: list[int]) -> Child:
    """A child of the pristine process at `address` running `request` (see confine.enter) with `fds`; Unavailable
    when it cannot be had."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.settimeout(READY_SECONDS)
        connection.connect(address.socket)
        socket.send_fds(connection, [json.dumps(request).encode()], fds)
        answer = json.loads(connection.recv(ANSWER_LIMIT) or b"{}")
    except (OSError, ValueError) as error:
        connection.close()
        raise Unavailable(f"the pristine process did not answer: {error}") from error
    if not isinstance(answer.get("pid"), int):
        connection.close()
        raise Unavailable("the pristine process did not fork")
    return Child(connection)


def request(box: Sandbox, argv: list[str], asks: bool) -> dict:
    """What a child needs to enter `box` and run `argv` (argv[0] is this Python): see confine.enter."""
    return {
        **box.backend.forked(box),
        "argv": [*argv[1:], *(["--asks", str(ASKS_FD)] if asks else [])],
        "env": box.env,
        "cwd": str(box.scratch / "work"),
        "scratch": str(box.scratch),
        "readonly": [str(path) for path in box.readonly],
        "uid": box.uid,
        "rlimits": box.limit_values(),
        "oom_first": box.oom_first,
        "asks": asks,
    }


def control_groups(box: Sandbox) -> list[int]:
    """Descriptors of the box's cgroup.procs files, for a child to join them (and let go of them) first thing."""
    return [os.open(folder / "cgroup.procs", os.O_WRONLY) for folder in box.group.folders.values()]


def kernel(box: Sandbox, argv: list[str]) -> list[str]:
    """The command a kernel spec gives jupyter_client for `argv` (the kernel, `{connection_file}` among its
    arguments): launch.py, which has the pristine process fork it into `box`, or else runs `box.command(argv)`."""
    path = box.private / "kernel-request.json"
    groups = [str(folder) for folder in box.group.folders.values()]
    path.write_text(json.dumps({"request": request(box, argv, False), "groups": groups, "instead": box.command(argv)}))
    return [sys.executable, "-I", str(PROGRAM / "launch.py"), box.pristine.socket, str(path), "{connection_file}"]


def run(box: Sandbox, argv: list[str], timeout: float, answers: tuple[Answer, ...]) -> subprocess.CompletedProcess:
    """`box.run`, with the program (argv[0] is this Python) a child of the box's pristine process; Unavailable (and
    nothing started) when it cannot be had."""
    capture = Capture()
    stdin, feed = os.pipe()
    asks, told = os.pipe() if answers else (-1, -1)
    groups = control_groups(box)
    try:
        fds = [stdin, capture.fd, *([told] if answers else []), *groups]
        child = fork(box.pristine, request(box, argv, bool(answers)), fds)
    except Unavailable:
        for descriptor in (feed, asks):
            if descriptor >= 0:
                os.close(descriptor)
        capture.text(0)
        raise
    finally:
        for descriptor in (stdin, told, *groups):
            if descriptor >= 0:
                os.close(descriptor)
        capture.started()
    writer = os.fdopen(feed, "wb")
    if answers:  # the thread closes it
        threading.Thread(target=answer, args=(writer, asks, answers), name="answers", daemon=True).start()
    else:
        writer.close()
    code = child.wait(timeout)
    if code is None:
        box.violation = box.violation or f"time limit of {timeout:.0f} s reached"
        box.kill()
        code = child.wait(60)
    child.close()
    box.kill()
    return subprocess.CompletedProcess(argv, -9 if code is None else code, capture.text(), "")


class Zygote:
    """The batch's pristine process, for its lifetime (a context manager); `address` is None where there is none.
    `environment` is what its children's sandboxes all have in their environment; `wanted` is False where no program
    will start (every notebook refused): then there is none either."""

    def __init__(
        self, backend: Backend, readonly: list[Path], environment: dict[str, str], wanted: bool = True
    ) -> None:
        self.address: Address | None = None
        self.process: subprocess.Popen | None = None
        self.private: Path | None = None
        if not wanted or os.geteuid() != 0 or not backend.forks:
            return
        self.private = Path(tempfile.mkdtemp(prefix="tu-grader-zygote-", dir=leftovers.scratch_root()))
        self._alive = leftovers.hold(self.private)  # a killed grader's pristine folder is swept like a sandbox's
        self.root = Path(tempfile.mkdtemp(prefix="tu-zygote-", dir=leftovers.scratch_root()))
        leftovers.record(self.private, self.root, None, backend.name, "")
        self.root.chmod(0o711)  # the children's uids pass through to their scratch folders, without listing them
        program = self.root / "program"
        program.mkdir(mode=0o755)
        for name in ("serve.py", "confine.py"):
            shutil.copyfile(PROGRAM / name, program / name)
        for name in ("home", "work"):
            (self.root / name).mkdir(mode=0o700)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        path = self.private / "pristine.sock"
        listener.bind(str(path))
        listener.listen(64)
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(self.root / "home")}
        env["LANG"] = "C.UTF-8"
        env.update(environment)  # the sandboxes': what a library reads at import is then what a child would read
        argv = [sys.executable, "-I", str(program / "serve.py"), str(listener.fileno())]
        with listener, (self.private / "pristine.log").open("wb") as log:
            self.process = subprocess.Popen(
                backend.pristine(readonly, self.root, env, argv),
                pass_fds=(listener.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.address = Address(str(path), str(self.root))

    def close(self) -> None:
        if self.private is None:
            return
        if self.process is not None:
            if self.process.poll() is not None:  # it should live as long as the batch: say why it did not
                log = (self.private / "pristine.log").read_bytes()[-2000:].decode(errors="replace")
                print(
                    f"note: the pristine process ended early (exit {self.process.returncode}); the probe and the "
                    f"measuring started TensorFlow themselves:\n{log}",
                    file=sys.stderr,
                )
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait()
        trees.discard(self.root)
        trees.discard(self.private)
        os.close(self._alive)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
