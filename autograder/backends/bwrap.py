"""The bubblewrap backend: namespaces (mount, PID, network, IPC, UTS) in which only the Python install, the kit's
venv, the data and the scratch folder exist (all but the scratch folder read-only), a private loopback network and
a seccomp filter. Run as root, bwrap builds the namespaces and the code then runs as the sandbox's unprivileged uid;
run as a normal user, it runs as that user in a user namespace."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import seccomp
from autograder.backends.base import Backend
from autograder.permissions import ancestors

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox

ETC_ALLOWED = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "fonts",
    "ssl",
    "ca-certificates",
    "localtime",
    "timezone",
    "hosts",
    "nsswitch.conf",
    "passwd",
    "group",
    "mime.types",
    "os-release",
    "matplotlibrc",
)
TMP_MIB = 256  # the sandbox's own /tmp and /dev/shm (memory)
GPU_SYS = (
    "/sys/bus/pci",
    "/sys/devices",
    "/sys/module/nvidia",
    "/sys/module/nvidia_uvm",
)  # where CUDA looks for its devices


@functools.cache
def problem() -> str | None:
    """None when bubblewrap can build a sandbox here, else why not."""
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [*prefix(readonly=[], scratch=None, as_root=os.geteuid() == 0), "/bin/true"]
    done = subprocess.run(probe, capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"bubblewrap cannot create namespaces here: {done.stderr.strip()[:300]}"


def prefix(readonly: list[Path], scratch: Path | None, as_root: bool) -> list[str]:
    """bwrap's arguments up to the command: run by root (the command then drops to a sandbox uid), or else in a
    user namespace as the caller."""
    args = [
        "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    if not as_root:
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    args += [arg for name in ETC_ALLOWED for arg in ("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")]
    args += ["--perms", "1777", "--size", str(TMP_MIB << 20), "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", str(TMP_MIB << 20), "--tmpfs", "/dev/shm"]
    devices = _gpu_devices()
    args += [arg for device in devices for arg in ("--dev-bind", device, device)]
    args += [arg for path in (GPU_SYS if devices else ()) for arg in ("--ro-bind-try", path, path)]
    made: set[Path] = set()
    for path in [*readonly, *([scratch] if scratch else [])]:
        for parent in ancestors(path):
            if parent not in made and not str(parent).startswith(("/usr", "/proc", "/dev")):
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--bind" if path == scratch else "--ro-bind", str(path), str(path)]
    if scratch:
        args += ["--chdir", str(scratch / "work")]
    return [*args, "--remount-ro", "/"]


def _gpu_devices() -> list[str]:
    """NVIDIA device nodes to pass through on a GPU machine (with the parts of /sys where CUDA enumerates them);
    none here."""
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if p.is_char_device())


class Bubblewrap(Backend):
    """bubblewrap namespaces, a seccomp filter, and (as root) a dedicated uid."""

    name = "bwrap"
    forks = True

    @classmethod
    def problem(cls) -> str | None:
        return problem()

    def tmpdir(self, box: Sandbox) -> str:
        return "/tmp"

    def prepare(self, box: Sandbox) -> None:
        program = seccomp.program()
        box.seccomp = box.private / "seccomp.bpf" if program else None
        if box.seccomp and program:
            box.seccomp.write_bytes(program)

    def wrap(self, box: Sandbox, argv: list[str]) -> list[str]:
        sandboxed = [
            *prefix(box.readonly, box.scratch, as_root=bool(box.slot)),
            *(["--seccomp", "3"] if box.seccomp else []),
        ]
        drop = box.setpriv() if box.slot else []
        return box.started([*box.rlimits(), *sandboxed, "--clearenv", *box.environment_args(), "--", *drop, *argv])

    def pristine(self, readonly: list[Path], root: Path, env: dict[str, str], argv: list[str]) -> list[str]:
        """As root, in namespaces of its own that hold only `readonly` and `root`; its children enter their own
        (autograder/zygote/confine.py), so it gets no seccomp filter itself."""
        environment = [arg for key, value in sorted(env.items()) for arg in ("--setenv", key, value)]
        return [*prefix(readonly, root, as_root=True), "--clearenv", *environment, "--", *argv]

    def forked(self, box: Sandbox) -> dict:
        program = box.seccomp.read_bytes().hex() if box.seccomp else ""
        return {"namespaces": True, "network": True, "seccomp": program, "tmp_mib": TMP_MIB}

    def describe(self, box: Sandbox) -> str:
        who = "a dedicated unprivileged uid" if box.slot else "the grader's uid in a user namespace"
        filtered = "seccomp filter" if box.seccomp else "no seccomp filter on this architecture"
        return f"bwrap (namespaces: mount, pid, net, ipc, uts; runs as {who}; {box.group.describe()}; {filtered})"
