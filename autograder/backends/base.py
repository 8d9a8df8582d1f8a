"""What every sandbox backend provides: whether it can run here, and the command line that runs a program in it.

A backend is one strategy for isolating a sandbox; `autograder.sandbox.Sandbox` keeps everything else (scratch
folder, uid, control group, limits, watchdog, cleanup). Adding a backend is a new module with one subclass, listed
in `autograder.backends.REGISTRY`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox


class SandboxUnavailable(Exception):
    """No backend can run here; the message says what to install or which flag to pass."""


class Backend(ABC):
    """One way of isolating student code."""

    name: ClassVar[str]
    offered: ClassVar[bool] = True  # a choice of --sandbox (the unsandboxed one is only --unsandboxed)
    own_uid: ClassVar[bool] = True  # run as root, each sandbox gets an unprivileged uid of its own
    shared_tmp: ClassVar[bool] = False  # the sandbox writes in the host's /tmp, /dev/shm ...: its files there count
    forks: ClassVar[bool] = False  # as root, its sandboxes can be children of the pristine process (autograder.zygote)

    @classmethod
    @abstractmethod
    def problem(cls) -> str | None:
        """None when the backend can run here, else why not (with what to install)."""

    @abstractmethod
    def wrap(self, box: Sandbox, argv: list[str]) -> list[str]:
        """`argv` (behind the sandbox's limits) as a command line that runs inside `box`."""

    @abstractmethod
    def describe(self, box: Sandbox) -> str:
        """What the sandbox isolates, for the instructor."""

    def tmpdir(self, box: Sandbox) -> str:
        """The TMPDIR the sandboxed program gets."""
        return str(box.scratch / "tmp")

    def prepare(self, box: Sandbox) -> None:  # noqa: B027 - most backends need nothing here
        """Called once the sandbox's uid and private folder are made, before its scratch folder is."""

    def cleanup(self, box: Sandbox) -> None:  # noqa: B027 - most backends need nothing here
        """Called at close, once every process of the sandbox is gone."""

    def pristine(self, readonly: list[Path], root: Path, env: dict[str, str], argv: list[str]) -> list[str]:
        """The command that starts the pristine process (autograder.zygote) seeing `readonly` and `root`."""
        raise NotImplementedError(f"the {self.name} backend does not fork its sandboxes")

    def forked(self, box: Sandbox) -> dict:
        """How a child of the pristine process enters `box`: `namespaces` (mount with its own /tmp and /dev/shm,
        IPC, UTS, network), `network` (a network namespace alone), `seccomp` (the filter, hex)."""
        raise NotImplementedError(f"the {self.name} backend does not fork its sandboxes")
