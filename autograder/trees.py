"""Folder trees that student code made, measured and removed by file descriptor: one name at a time, no recursion and
no path, so a chain of folders of any depth (past PATH_MAX, past Python's recursion limit) is counted and removed like
any other. A folder of the grader's own uid that its owner made unreadable or unsearchable is given back u+rwx first.
Every walk is bounded; none raises OSError. What cannot be removed is set aside and reported on stderr.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENTRY_CAP = 200_000  # files and folders one sandbox may have (scratch and shared folders): more is over its limits
LISTING_BOUND = 10 * ENTRY_CAP  # entries, anyone's, one measuring walk lists at most
REMOVAL_BOUND = 20_000_000  # entries one removal handles at most (something else may still be writing)
PASSES = 3  # removals of one tree before what is left counts as unremovable
CLIMB_RETRIES = 100  # times one walk finds its way back from the top when a folder was moved while it walked
BLOCK = 4096  # the least an entry costs: its inode and its name in a folder
SET_ASIDE = "tu-quarantine-"  # what cannot be removed is renamed so; no sweep looks at these names
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True)
class Usage:
    """Disk a tree uses (every entry counts its blocks, at least BLOCK) and its number of entries."""

    bytes: int = 0
    entries: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.bytes + other.bytes, self.entries + other.entries)

    @property
    def over_cap(self) -> bool:
        return self.entries > ENTRY_CAP


class _Bound(Exception):
    """A walk reached its bound."""


@dataclass
class _Level:
    name: str  # its name in the folder above
    ident: tuple[int, int]  # (device, inode), to know it again
    pending: list[str]  # subfolders not entered yet


Visit = Callable[[int, os.DirEntry], bool]  # an entry of the folder open at the descriptor: whether to go into it
Leave = Callable[[int, str], None]  # a subfolder just walked: the descriptor of its parent, its name


def _ident(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _open_dir(parent: int, name: str) -> int | None:
    """The subfolder `name` of `parent`, opened without following a link (None: gone, or not a folder). One of the
    grader's own uid without u+rwx gets them when the grader is not root (root needs none): it is pinned first, so a
    name swapped meanwhile changes nothing."""
    try:
        pinned = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return None
    try:
        info = os.fstat(pinned)
        if info.st_uid == os.geteuid() != 0 and info.st_mode & 0o700 != 0o700:
            os.chmod(f"/proc/self/fd/{pinned}", stat.S_IMODE(info.st_mode) | 0o700)
        return os.open(".", DIRECTORY, dir_fd=pinned)
    except OSError:
        return None
    finally:
        os.close(pinned)


def _listing(fd: int, visit: Visit) -> list[str]:
    """Visit every entry of the folder open at `fd`; the subfolders to go into."""
    pending = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if visit(fd, entry):
                    pending.append(entry.name)
    except OSError:
        pass  # it went away while listed: what was listed stands
    return pending


def _climb(fd: int, top: int, stack: list[_Level], retries: list[int]) -> tuple[int, bool]:
    """A descriptor of stack[-1]'s folder, from its child's at `fd`: its "..", or found again by name from `top` if
    that is not the folder it was entered from (something moved it). Whether the stack held; when not, the levels
    that could not be found again are dropped (a walk loses them, it never strays)."""
    try:
        parent = os.open("..", DIRECTORY, dir_fd=fd)
        if _ident(parent) == stack[-1].ident:
            return parent, True
        os.close(parent)
    except OSError:
        pass
    retries[0] += 1
    current = os.dup(top)
    if retries[0] > CLIMB_RETRIES:
        del stack[1:]
        return current, False
    for depth in range(1, len(stack)):
        child = _open_dir(current, stack[depth].name)
        if child is None or _ident(child) != stack[depth].ident:
            if child is not None:
                os.close(child)
            del stack[depth:]
            return current, False
        os.close(current)
        current = child
    return current, True


def _walk(top: int, visit: Visit, leave: Leave | None = None) -> None:
    """Depth first under the folder open at `top` (left open), holding one descriptor more at a time, never into
    another file system: each entry is visited once, and each subfolder left (after all its entries) while its
    parent is open. _Bound from `visit` ends the walk."""
    fd = os.dup(top)
    stack: list[_Level] = []
    retries = [0]
    try:
        stack.append(_Level("", _ident(fd), _listing(fd, visit)))
        while stack:
            level = stack[-1]
            if level.pending:
                name = level.pending.pop()
                child = _open_dir(fd, name)
                if child is not None and _ident(child)[0] != stack[0].ident[0]:
                    os.close(child)  # a mount point: another file system is not the tree's
                elif child is not None:
                    os.close(fd)
                    fd = child
                    stack.append(_Level(name, _ident(fd), []))
                    stack[-1].pending = _listing(fd, visit)
                continue
            stack.pop()
            if not stack:
                break
            parent, held = _climb(fd, top, stack, retries)
            os.close(fd)
            fd = parent
            if held and leave:
                leave(fd, level.name)
    finally:
        os.close(fd)


def usage(root: Path, owner: int | None = None) -> Usage:
    """What the tree at `root` uses. With `owner`: only its entries, in the folders it owns or anyone may write
    (where it can have put them). Past ENTRY_CAP entries (or LISTING_BOUND listed) the walk stops, over the cap."""
    total = [0, 0, 0]  # bytes, entries, listed

    def visit(_fd: int, entry: os.DirEntry) -> bool:
        total[2] += 1
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            return False  # gone since it was listed
        mine = owner is None or info.st_uid == owner
        total[0] += max(info.st_blocks * 512, BLOCK) if mine else 0
        total[1] += mine
        if total[1] > ENTRY_CAP or total[2] > LISTING_BOUND:
            raise _Bound
        return stat.S_ISDIR(info.st_mode) and bool(mine or info.st_mode & stat.S_IWOTH)

    try:
        _from(root, visit)
    except _Bound:
        total[1] = max(total[1], ENTRY_CAP + 1)
    return Usage(total[0], total[1])


def _from(root: Path, visit: Visit) -> None:
    """_walk from the folder at `root` (followed if a link: the grader names it); nothing when it cannot be opened."""
    try:
        top = os.open(root, DIRECTORY)
    except OSError:
        return
    try:
        _walk(top, visit)
    except OSError:
        pass  # what was visited stands
    finally:
        os.close(top)


def _remove_at(parent: int, name: str) -> list[str]:
    """Remove `name` in the folder open at `parent`, all of it however deep; what could not be removed (empty: all
    went)."""
    problems: list[str] = []
    handled = [0]

    def note(what: str, error: OSError) -> None:
        if len(problems) < 3:
            problems.append(f"{what}: {error.strerror or error}")

    def visit(fd: int, entry: os.DirEntry) -> bool:
        handled[0] += 1
        if handled[0] > REMOVAL_BOUND:
            raise _Bound
        try:
            if entry.is_dir(follow_symlinks=False):
                return True
            os.unlink(entry.name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            note(entry.name, error)
        return False

    def leave(fd: int, child: str) -> None:
        try:
            os.rmdir(child, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            note(child, error)

    for _ in range(PASSES):
        problems.clear()
        fd = _open_dir(parent, name)
        try:
            if fd is None:
                os.unlink(name, dir_fd=parent)
                return []
            try:
                _walk(fd, visit, leave)
            except _Bound:
                problems.append(f"more than {REMOVAL_BOUND} entries")
            finally:
                os.close(fd)
            os.rmdir(name, dir_fd=parent)
            return []
        except FileNotFoundError:
            return []
        except OSError as error:
            note(name, error)
    return problems


def _set_aside(parent: int, name: str) -> str:
    """Make `name` (in the folder open at `parent`) the grader's and private, and rename it SET_ASIDE...: no sweep,
    scratch limit or sandbox uid reaches it again. Its new name (the old one if it could not be renamed)."""
    try:
        os.chown(name, os.geteuid(), os.getegid(), dir_fd=parent, follow_symlinks=False)
        pinned = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            mode = os.fstat(pinned).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(f"/proc/self/fd/{pinned}", 0o700 if stat.S_ISDIR(mode) else 0o600)
        finally:
            os.close(pinned)
    except OSError:
        pass  # renamed all the same, where it can be
    aside = f"{SET_ASIDE}{name[:100]}-{secrets.token_hex(4)}"
    try:
        os.rename(name, aside, src_dir_fd=parent, dst_dir_fd=parent)
    except OSError:
        return name
    return aside


def _discard_at(parent: int, name: str, where: Path, set_aside: bool = True) -> str | None:
    problems = _remove_at(parent, name)
    if not problems or not set_aside:
        return "; ".join(problems) or None
    aside = _set_aside(parent, name)
    told = f"set aside as {where / aside}" if aside != name else "left in place"
    message = f"grader: could not remove {where / name} ({'; '.join(problems)}); {told}: remove it by hand"
    print(message, file=sys.stderr, flush=True)
    return message


def discard(path: Path, set_aside: bool = True) -> str | None:
    """Remove the file or tree at `path` (its last name not followed). None when all of it went; else what was left
    is set aside (unless not `set_aside`: a later discard does) and the instructor told on stderr, never stopping the
    caller: that message."""
    try:
        parent = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # searchable is enough
    except FileNotFoundError:
        return None
    except OSError as error:
        print(f"grader: could not remove {path}: {error.strerror}", file=sys.stderr, flush=True)
        return f"{path.parent}: {error.strerror}"
    try:
        return _discard_at(parent, path.name, path.parent, set_aside)
    finally:
        os.close(parent)


def discard_owned(top: Path, owner: int) -> list[str]:
    """Discard everything `owner` has under `top` in the folders it can reach (its own, and those anyone may search:
    say a scratch folder a killed grader left, with its work in it); the messages about what was set aside."""
    messages: list[str] = []
    listed = [0]

    def visit(parent: int, entry: os.DirEntry) -> bool:
        listed[0] += 1
        if listed[0] > LISTING_BOUND:
            raise _Bound
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        if info.st_uid != owner:
            return stat.S_ISDIR(info.st_mode) and bool(info.st_mode & stat.S_IXOTH)
        messages.extend(message for message in [_discard_at(parent, entry.name, top / "...")] if message)
        return False

    with contextlib.suppress(_Bound):
        _from(top, visit)
    return messages
