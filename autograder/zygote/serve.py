"""The pristine process: it imports TensorFlow and what the probe and the measuring program use, before any byte of
a submission exists, then forks a child per request, which enters its sandbox (confine.py) and runs its program.

    python -I serve.py LISTEN_FD

LISTEN_FD is a listening AF_UNIX SOCK_SEQPACKET socket the grader made. A request is one message: a JSON object
(autograder/zygote/__init__.py's `Request`) with the child's descriptors attached. The answer is `{"pid": N}` once
forked, then `{"exit": CODE}` when the child is gone. One thread, one loop: it parses only the grader's requests and
never runs, loads or reads anything of a submission.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback

MESSAGE_LIMIT = 1 << 20
FDS_LIMIT = 16
REAP_SECONDS = 0.2


def preload() -> None:
    """What every child would import: paid once here. Keras imports pyplot: with the backend a kernel would give it
    (ipykernel sets MPLBACKEND so), so that a notebook's figures show as they would in a kernel of its own."""
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    import ipykernel.kernelapp  # noqa: F401
    import keras  # noqa: F401
    import numpy  # noqa: F401
    import tensorflow  # noqa: F401
    import tensorflow_datasets

    # A dataset's first lookup imports tfds's whole catalog (about 530 modules, 0.4 CPU-s a kernel): only imports,
    # no file read and no thread started, so it is done here once (or, should tfds change, by each child again).
    with contextlib.suppress(Exception):
        tensorflow_datasets.builder_cls("oxford_iiit_pet")


def _child(request: dict, fds: list[int]) -> None:
    import confine

    try:
        confine.enter(request, fds)
        code = confine.run(request["argv"])
    except BaseException:  # noqa: BLE001 - whatever happens, the child ends here with a status
        traceback.print_exc()
        code = 70
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _answer(connection: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):  # the grader stopped waiting: the child's status is of no use to anyone
        connection.send(json.dumps(message).encode())


def _fork(connection: socket.socket, children: dict, selector: selectors.BaseSelector) -> None:
    try:
        data, fds, _flags, _address = socket.recv_fds(connection, MESSAGE_LIMIT, FDS_LIMIT)
        request = json.loads(data)
    except (OSError, ValueError):
        connection.close()
        return
    pid = os.fork()
    if pid == 0:
        _child(request, fds)
    for fd in fds:
        os.close(fd)
    children[pid] = connection
    _answer(connection, {"pid": pid})
    selector.register(connection, selectors.EVENT_READ, pid)


def _reap(children: dict, selector: selectors.BaseSelector) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None:
            with contextlib.suppress(KeyError):  # gone already when its requester went first
                selector.unregister(connection)
            _answer(connection, {"exit": os.waitstatus_to_exitcode(status)})
            connection.close()


def serve(listen_fd: int) -> None:
    preload()
    listener = socket.socket(fileno=listen_fd)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    while True:
        for key, _events in selector.select(REAP_SECONDS):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                connection.settimeout(10)
                _fork(connection, children, selector)
            else:  # the grader sends nothing after its request: this is its end, and the child goes with it
                selector.unregister(key.fileobj)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(key.data, signal.SIGKILL)
        _reap(children, selector)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    serve(int(sys.argv[1]))
