"""Sandbox backends, one class each, in a registry: the command line's choices and `auto`'s order come from here."""

from __future__ import annotations

from autograder.backends.base import Backend, SandboxUnavailable
from autograder.backends.bwrap import Bubblewrap
from autograder.backends.none import Unsandboxed
from autograder.backends.user import UnprivilegedUser

REGISTRY: dict[str, type[Backend]] = {backend.name: backend for backend in (Bubblewrap, UnprivilegedUser, Unsandboxed)}


def choices() -> list[str]:
    """The values of --sandbox: "auto" (the best that runs here), then every offered backend, best first."""
    return ["auto", *(name for name, backend in REGISTRY.items() if backend.offered)]


def detect(requested: str = "auto") -> Backend:
    """The backend `requested`, or for "auto" the best offered one that runs here."""
    if requested != "auto":
        wanted = REGISTRY[requested]
        if (why := wanted.problem()) is not None:
            raise SandboxUnavailable(f"the {requested} sandbox cannot run here: {why}. {_advice()}")
        return wanted()
    problems = []
    for name, backend in REGISTRY.items():
        if backend.offered:
            if (why := backend.problem()) is None:
                return backend()
            problems.append(f"{name}: {why}")
    raise SandboxUnavailable(f"no sandbox backend can run here ({'; '.join(problems)}). {_advice()}")


def _advice() -> str:
    return (
        "Install bubblewrap, or run as root, or pass --unsandboxed to grade without a sandbox "
        "(every report will say so)."
    )


__all__ = ["REGISTRY", "Backend", "SandboxUnavailable", "choices", "detect"]
