"""Reading files a sandbox left, as hostile input: no link followed, regular files only (no FIFO, device or
socket), the size checked before a byte is read, archives checked member by member before anything unpacks,
arrays read without pickle. Used on both sides of the trust boundary: by the grader to copy what the kernel and
the probe left into the measuring sandbox, and by the measuring process itself."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

FILE_LIMIT = 8 << 20  # bytes of one probe file (JSON or npz)


class Refused(Exception):
    """A file the grader will not read; the message says why, in words for the student."""


def _open(path: Path, limit: int):
    """`path` opened for reading without following a link in its last part, non-blocking (a named pipe cannot hold
    the reader), and only if it is a regular file with one name and at most `limit` bytes."""
    try:
        # O_PATH: a folder the reader may pass through but not list (the measuring sandbox's scratch) will do
        folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            descriptor = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        finally:
            os.close(folder)
    except OSError as error:
        raise Refused(f"{path.name} was not written") from error
    handle = os.fdopen(descriptor, "rb")
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > limit:
        handle.close()
        if info.st_size > limit:
            raise Refused(f"{path.name} is larger than {limit >> 20} MiB")
        raise Refused(f"{path.name} is not a plain file")
    return handle


def read(path: Path, limit: int = FILE_LIMIT) -> bytes:
    """The bytes of `path`, opened as `_open` does (no link, regular, at most `limit` bytes)."""
    with _open(path, limit) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{path.name} is larger than {limit >> 20} MiB")
    return data


def copy(source: Path, target: Path, limit: int) -> bool:
    """Copy one file a sandbox left into a folder the grader made, opened as `_open` does, a piece at a time (never
    more than `limit` bytes); False when it was refused."""
    try:
        handle = _open(source, limit)
    except Refused:
        return False
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with handle, os.fdopen(descriptor, "wb") as written:
        copied = 0
        while (chunk := handle.read(1 << 20)) and copied <= limit:
            written.write(chunk)
            copied += len(chunk)
    if copied > limit:
        target.unlink()
        return False
    return True


def archive(data: bytes, members: dict[str, int], name: str) -> zipfile.ZipFile:
    """A zip archive holding only the members named in `members`, each unpacking to at most its limit."""
    try:
        opened = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise Refused(f"{name} is not a zip archive") from error
    for member in opened.infolist():
        if member.filename not in members:
            raise Refused(f"{name} holds {member.filename!r}, which the grader does not expect")
        if member.file_size > members[member.filename]:
            raise Refused(f"{name} holds {member.filename!r}, too large")
    return opened


def arrays(path: Path, names: list[str], limit: int) -> dict:
    """The arrays `names` of an .npz file, read without pickle after checking what they unpack to (`limit` bytes
    together)."""
    import numpy as np

    data = read(path, limit)
    opened = archive(data, dict.fromkeys((f"{name}.npy" for name in names), limit), path.name)
    if sum(member.file_size for member in opened.infolist()) > limit:
        raise Refused(f"{path.name} unpacks to more than {limit >> 20} MiB")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            return {key: saved[key] for key in saved.files}
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise Refused(f"{path.name} could not be read: {str(error)[:200]}") from error


def text(value: object, limit: int, end: bool = False) -> str:
    """Text from a hostile source as the facts carry it: valid UTF-8, no control characters but newlines and tabs,
    at most `limit` characters (its start, or with `end` its end)."""
    cleaned = str(value)[-limit:] if end else str(value)[:limit]
    cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in cleaned)
