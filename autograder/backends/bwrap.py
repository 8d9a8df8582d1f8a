"""The bubblewrap backend's command line: which parts of the machine a sandbox sees, and whether bwrap works here."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from autograder.permissions import ancestors

ETC_ALLOWED = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "ssl", "ca-certificates",
               "localtime", "timezone", "hosts", "nsswitch.conf", "passwd", "group", "mime.types", "os-release", "matplotlibrc")
TMP_MIB = 256  # the sandbox's own /tmp and /dev/shm (memory)
GPU_SYS = ("/sys/bus/pci", "/sys/devices", "/sys/module/nvidia", "/sys/module/nvidia_uvm")  # where CUDA looks for its devices


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
    args = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox"]
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
    """NVIDIA device nodes to pass through on a GPU machine (with the parts of /sys where CUDA enumerates them); none here."""
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if p.is_char_device())
