"""What sandboxed processes print, captured within a bound: a pipe that a thread drains, keeping only the first
and the last bytes. A process that prints without end costs the grader neither disk nor memory, and can restart
itself as often as it likes: every capture has its own bound and nothing is written to a file."""

from __future__ import annotations

import os
import threading

CHUNK = 1 << 16


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
