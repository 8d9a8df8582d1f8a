"""What a child forked from the pristine process does before it runs anything: it enters its sandbox.

Standard library only; this file runs inside the pristine process's jail (copied there with serve.py). In order:
a session of its own and its descriptors (stdin, the capture pipe as stdout and stderr, the grader's `asks` pipe as
descriptor 3, nothing else); its sandbox's control groups, through descriptors the grader opened (closed at once,
before anything else runs); with namespaces, a mount namespace with its own /tmp and /dev/shm and a /proc that shows
only its own uid's processes, and IPC, UTS and network namespaces of its own; rlimits; every capability and its
supplementary groups dropped, then the sandbox's uid; no new privileges; death with the pristine process; the
seccomp filter last. Then the program, as `python -I` would run it.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys

ASKS_FD = 3
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = 0x20000, 0x4000000, 0x8000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_MOVE = 0x1, 0x2, 0x4, 0x8, 0x20, 0x1000, 0x2000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 24, 38, 22
SECCOMP_MODE_FILTER = 2
CAP_LAST = 63  # past the kernel's last capability, prctl answers EINVAL: stop there
LIMITS = {"data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE", "nofile": "RLIMIT_NOFILE", "core": "RLIMIT_CORE"}
LIMITS["nproc"] = "RLIMIT_NPROC"

_libc = ctypes.CDLL(None, use_errno=True)


class Refused(OSError):
    """A step of entering the sandbox failed: the child must not run its program."""


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise Refused(error, f"{what}: {os.strerror(error)}")


def _descriptors(fds: list[int], asks: bool) -> None:
    """fds: stdin, the capture, `asks` when given, then the sandbox's cgroup.procs files. The control groups are
    joined and let go first; then stdin, stdout and stderr, asks at ASKS_FD, and nothing else open."""
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]  # out of the way of the numbers they go to
    streams = 2 + asks
    for fd in high[streams:]:
        os.write(fd, b"0")
        os.close(fd)
    os.dup2(high[0], 0)
    os.dup2(high[1], 1)
    os.dup2(high[1], 2)
    if asks:
        os.dup2(high[2], ASKS_FD)
    os.closerange(ASKS_FD + asks, 1 << 20)


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int, options: bytes | None = None) -> None:
    _check(_libc.mount(source, target.encode(), kind, flags, options), f"mount on {target}")


def _namespaces(tmp_mib: int, scratch: str, readonly: list[str]) -> None:
    """New mount, IPC, UTS and network namespaces; a /dev/shm and a /tmp of its own, in which of what the pristine
    process sees under /tmp only this child's scratch folder and the read-only paths are left, at the same paths."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    size = f"size={tmp_mib << 20},mode=1777".encode()
    _mount(b"tmpfs", "/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, size)
    staging = "/dev/shm/.tmp"  # the new /tmp, made where the old one does not hide it, then moved over it
    os.mkdir(staging, 0o700)
    _mount(b"tmpfs", staging, b"tmpfs", MS_NOSUID | MS_NODEV, size)
    for path in [scratch, *readonly]:
        if path.startswith("/tmp/"):
            kept = staging + path[len("/tmp") :]
            os.makedirs(kept, mode=0o755, exist_ok=True)
            _mount(path.encode(), kept, None, MS_BIND | MS_REC)
            if path != scratch:
                _mount(None, kept, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount(staging.encode(), "/tmp", None, MS_MOVE)
    os.rmdir(staging)
    _mount(b"proc", "/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2")  # no other uid's processes
    _check(_libc.sethostname(b"sandbox", 7), "sethostname")


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def _drop(uid: int) -> None:
    for cap in range(CAP_LAST + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no new privileges")
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "death signal")
    if os.getppid() == 1:  # the pristine process is gone already
        os._exit(70)


def enter(request: dict, fds: list[int]) -> None:
    """Enter the sandbox `request` describes (see autograder/zygote/__init__.py's `Request`)."""
    os.setsid()
    _descriptors(fds, request["asks"])
    if request["oom_first"]:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    if request["namespaces"]:
        _namespaces(request["tmp_mib"], request["scratch"], request["readonly"])
    elif request["network"]:  # where it can be had without the rest (the `user` backend's `unshare --net`)
        _libc.unshare(CLONE_NEWNET)
    import resource

    for name, value in request["rlimits"].items():
        limit = getattr(resource, LIMITS[name])
        resource.setrlimit(limit, (value, value))
    os.chdir(request["cwd"])
    _drop(request["uid"])
    if request["seccomp"]:
        program = bytes.fromhex(request["seccomp"])
        fprog = _Filter(len(program) // 8, program)
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp filter")
    os.environ.clear()
    os.environ.update(request["env"])


def run(argv: list[str]) -> int:
    """The program as `python -I <argv>` runs it: `-c CODE ARGS`, `-m MODULE ARGS` or `SCRIPT ARGS`; its exit
    status."""
    argv = argv[1:] if argv[:1] == ["-I"] else argv
    try:
        if argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        elif argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
