"""A seccomp filter for bubblewrap sandboxes (`bwrap --seccomp FD`): system calls student code never needs.

Refused with EPERM: new namespaces (unshare; clone with namespace flags), joining or mounting
file systems, ptrace and reading other processes' memory, kernel keyrings (a channel between
students who get the same uid later), bpf, perf events, userfaultfd, io_uring, kernel modules and
kexec. clone3 answers ENOSYS, so the C library falls back to clone, whose flags the filter can see.
Other architectures than the machine's are refused (no 32-bit or x32 detours). Built by hand as
classic BPF for x86-64 and aarch64; elsewhere no filter is used and the sandbox says so.
"""

from __future__ import annotations

import errno
import platform
import struct

# system call numbers: (x86-64, aarch64)
BLOCKED = {
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
}
CLONE = (56, 220)
CLONE3 = (435, 435)
ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}  # column in the tables, AUDIT_ARCH_*
NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
X32_BIT = 0x40000000

LOAD = 0x20
JEQ = 0x15
JSET = 0x45
JGE = 0x35
RET = 0x06
ALLOW = 0x7FFF0000
DENY = 0x00050000 | errno.EPERM
NOSYS = 0x00050000 | errno.ENOSYS


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter as `bwrap --seccomp` reads it, or None on an architecture without a table here."""
    column, arch = ARCHES.get(machine or platform.machine(), (None, None))
    if column is None:
        return None
    blocked = sorted({numbers[column] for numbers in BLOCKED.values()})
    ops = [_op(LOAD, 4), _op(JEQ, arch, 1, 0), _op(RET, DENY), _op(LOAD, 0), _op(JGE, X32_BIT, 0, 1), _op(RET, DENY)]
    ops += [_op(JEQ, CLONE3[column], 0, 1), _op(RET, NOSYS)]
    for number in blocked:
        ops += [_op(JEQ, number, 0, 1), _op(RET, DENY)]
    ops += [
        _op(JEQ, CLONE[column], 0, 3),
        _op(LOAD, 16),
        _op(JSET, NAMESPACE_FLAGS, 0, 1),
        _op(RET, DENY),
        _op(RET, ALLOW),
    ]
    return b"".join(ops)
