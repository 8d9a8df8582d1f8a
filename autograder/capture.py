"""What passes between the grader and a sandboxed program. What it prints is captured within a bound: a pipe that a
thread drains, keeping only the first and the last bytes. A process that prints without end costs the grader neither
disk nor memory, and can restart itself as often as it likes: every capture has its own bound and nothing is written
to a file. What the grader tells it comes on its stdin as answers, each only once it has asked for it."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

CHUNK = 1 << 16
STDIN_LIMIT = 60_000  # bytes of one answer to a sandboxed program: less than a pipe holds, so writing never waits
Answer = Callable[[], bytes]  # gives the next answer to a sandboxed program (it may wait until the grader has it)


def known(text: bytes) -> Answer:
    """An answer the grader has from the start."""
    return lambda: text


def answer(stdin, asks: int, answers: tuple[Answer, ...]) -> None:
    """Write each answer to `stdin` once a line has come on `asks`; stop when the program is gone."""
    with contextlib.suppress(OSError), os.fdopen(asks, "rb") as requests, stdin:
        for given in answers:
            if not requests.readline(STDIN_LIMIT):
                return
            text = given()
            if len(text) > STDIN_LIMIT:
                raise ValueError(f"at most {STDIN_LIMIT} bytes go to a sandboxed program's stdin at once")
            stdin.write(text)
            stdin.flush()


class Capture:
    """A pipe for a sandboxed process's stdout and stderr; `text()` gives at most `limit` characters of it."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._read, self.fd = os.pipe()
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._thread = threading.Thread(target=self._drain, name="capture", daemon=True)
        self._thread.start()

    def started(self) -> None:
        """Call once the process holds the pipe: with the grader's write end closed, the pipe ends with the process."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _drain(self) -> None:
        half = self.limit // 2
        while chunk := os.read(self._read, CHUNK):
            room = half - len(self._head)
            if room > 0:
                self._head += chunk[:room]
                chunk = chunk[room:]
            self._tail += chunk
            if len(self._tail) > half:
                self._dropped += len(self._tail) - half
                del self._tail[:-half]
        os.close(self._read)

    def text(self, wait: float = 2.0) -> str:
        """What was captured so far (waiting up to `wait` seconds for the pipe to end), first and last bytes."""
        self.started()
        self._thread.join(wait)
        gap = f"\n[... {self._dropped} bytes dropped ...]\n" if self._dropped else ""
        return (bytes(self._head).decode(errors="replace") + gap + bytes(self._tail).decode(errors="replace")).strip()
