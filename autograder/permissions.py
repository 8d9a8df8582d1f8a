"""What a sandbox's unprivileged uid may read on the host: checked before a batch (`unreadable`) and, for the
`user` backend, which sees the host's files, tightened on the grader's own folders (`protect`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def ancestors(path: Path) -> list[Path]:
    """The folders above `path`, from the top down, without the root."""
    return [p for p in reversed(path.parents) if p != Path("/")]


def unreadable(backend: str, top: list[Path], trees: list[Path]) -> list[str]:
    """What a sandbox's unprivileged uid could not read: `top` paths themselves, `trees` entirely."""
    if backend == "none" or os.geteuid() != 0:
        return []
    problems = []
    for path in [*top, *trees]:
        chain = [*ancestors(path), path] if backend == "user" else [path]
        blocked = next((p for p in chain if not p.stat().st_mode & stat.S_IXOTH), None)
        if blocked:
            problems.append(f"{blocked} is not readable by other users")
    for tree in trees:
        for folder, dirs, files in os.walk(tree):
            bad = next(
                (Path(folder, n) for n in dirs if Path(folder, n).stat().st_mode & 0o005 != 0o005), None
            ) or next((Path(folder, n) for n in files if not Path(folder, n).stat().st_mode & stat.S_IROTH), None)
            if bad:
                problems.append(f"{bad} is not readable by other users")
                break
    return problems


def protect(paths: list[Path]) -> list[str]:
    """For the `user` backend: make `paths` unreadable to other users; return what was changed."""
    changed = []
    for path in paths:
        if path.exists() and path.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH):
            path.chmod(path.stat().st_mode & ~0o007)
            changed.append(str(path))
    return changed
