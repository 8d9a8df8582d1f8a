"""A kernel, forked by the pristine process into its sandbox: the command a kernel spec names for jupyter_client.

    python -I launch.py SOCKET REQUEST CONNECTION_FILE

REQUEST (the grader's, in the sandbox's private folder) holds the child's request and, `instead`, the sandbox's own
command line for the kernel. The child gets this process's stdout (jupyter_client's capture of the kernel's output)
as its stdout and stderr; this process lives as long as it does and exits with its status, so jupyter_client sees
the kernel's life through it. Killed, it takes the child along (the pristine process kills a child whose requester
is gone). Where the pristine process cannot fork, it runs `instead`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from autograder import zygote


def main(socket: str, path: str, connection_file: str) -> int:
    order = json.loads(Path(path).read_text())
    request = order["request"]
    request["argv"] = [connection_file if part == "{connection_file}" else part for part in request["argv"]]
    null = os.open(os.devnull, os.O_RDONLY)
    groups = [os.open(Path(folder) / "cgroup.procs", os.O_WRONLY) for folder in order["groups"]]
    try:
        child = zygote.fork(zygote.Address(socket, ""), request, [null, 1, *groups])
    except zygote.Unavailable:
        instead = [connection_file if part == "{connection_file}" else part for part in order["instead"]]
        os.execvp(instead[0], instead)
    for descriptor in (null, *groups):
        os.close(descriptor)
    code = child.wait(None)
    return 0 if code is None else code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
