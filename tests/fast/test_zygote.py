"""Sandboxes whose programs are children of the pristine process (autograder/zygote/): each child is confined as a
sandbox of its own is, and cannot reach the pristine process or another child. One pristine process for the module
(it imports TensorFlow once, a few seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from test_sandbox import BWRAP, LIMITS, PYTHON_PATHS, ROOT, USER, _bwrap

from autograder import uids, zygote
from autograder.sandbox import Sandbox

ENVIRONMENT = {"TFDS_DATA_DIR": "/data"}
PROBE = textwrap.dedent(
    """
    import ctypes, os, subprocess, sys
    def attempt(what, action):
        try:
            print(what, "ok", action())
        except Exception as error:
            print(what, type(error).__name__)
    attempt("read-kit", lambda: len(open({readme!r}).read()))
    attempt("write-venv", lambda: open({venv!r} + "/evil.pth", "w"))
    attempt("signal-parent", lambda: os.kill(os.getppid(), 0))
    attempt("parent-memory", lambda: open(f"/proc/{{os.getppid()}}/mem", "rb").read(1))
    attempt("unshare", lambda: ctypes.CDLL(None, use_errno=True).unshare(0x10000000) or "0")
    attempt("tmp", lambda: sorted(os.listdir("/tmp")))
    attempt("parent-visible", lambda: str(os.getppid()) in os.listdir("/proc"))
    open("/tmp/mine", "w").write("x")
    print("uid", os.getuid(), "modules", "tensorflow" in sys.modules, "env", sorted(os.environ))
    print("cgroup", open("/proc/self/cgroup").read().replace(chr(10), " "))
    import tensorflow_datasets.core.constants as tfds
    print("args", sys.argv[1:], "data", tfds.DATA_DIR)
    before = len(sys.modules)
    import tensorflow_datasets
    tensorflow_datasets.builder_cls("oxford_iiit_pet")
    print("catalog imports", len(sys.modules) - before)
    subprocess.Popen(["sleep", "600"], start_new_session=True)
    sys.exit(3)
    """
)


@pytest.fixture(scope="module")
def pristine() -> Iterator[zygote.Zygote]:
    if os.geteuid() != 0:
        pytest.skip("children of the pristine process change uid: the grader forks them only as root")
    _bwrap()
    with zygote.Zygote(BWRAP, PYTHON_PATHS, ENVIRONMENT) as process:
        assert process.address is not None
        yield process


def _forked(address: zygote.Address, backend=BWRAP) -> Sandbox:
    return Sandbox(backend, LIMITS, PYTHON_PATHS, ENVIRONMENT, "test", pristine=address)


def test_a_child_is_confined_like_a_sandbox_of_its_own(pristine: zygote.Zygote) -> None:
    with _forked(pristine.address) as box:
        program = box.scratch / "work" / "program.py"
        program.write_text(PROBE.format(readme=str(ROOT / "README.md"), venv=sys.prefix))
        box.give(program)
        done = box.run([sys.executable, "-I", str(program), "one", "two"], 60)
        uid, scratch, joined = box.uid, box.scratch, "memory" in box.group.folders and box.group.path
    out = done.stdout
    assert done.returncode == 3, out
    assert "read-kit FileNotFoundError" in out and "write-venv OSError" in out, out
    assert "signal-parent PermissionError" in out and "parent-visible ok False" in out, "its /proc hides other uids"
    assert "parent-memory FileNotFoundError" in out, out
    assert "unshare ok -1" in out, "the seccomp filter refuses a user namespace (which needs no privilege)"
    assert f"tmp ok ['{scratch.parent.name}']" in out, "its /tmp holds nothing but the way to its scratch folder"
    assert f"uid {uid} modules True" in out and "TINY_UNET" not in out and "'TFDS_DATA_DIR'" in out, out
    assert not joined or f"memory:{joined}" in out or scratch.name in out.split("memory:")[1].split()[0], out
    assert "args ['one', 'two'] data /data" in out, "what tfds read at import is the sandbox's data"
    assert "catalog imports 0" in out, "a dataset's lookup finds tfds's catalog imported already"
    assert uids.processes_of({uid}) == [], "a detached process outlived the sandbox"
    assert not scratch.exists()


def test_the_catalog_lookup_the_pristine_process_makes_starts_no_thread() -> None:
    """Its children are forked from it: a thread its preload started could hold a lock a child then waits on."""
    count = "len(os.listdir('/proc/self/task'))"
    lookup = "tensorflow_datasets.builder_cls('oxford_iiit_pet')"
    program = f"import os, tensorflow_datasets\nbefore = {count}\n{lookup}\nprint(before, {count})"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    before, after = done.stdout.split()
    assert before == after, done.stdout


def test_children_share_nothing_they_write(pristine: zygote.Zygote) -> None:
    """What one child leaves in /tmp, /dev/shm or System V IPC, or starts, the next child does not find."""
    leave = (
        "import ctypes, os, subprocess\nopen('/tmp/left', 'w').write('x')\nopen('/dev/shm/left', 'w').write('x')\n"
        "print('shm', ctypes.CDLL(None).shmget(0x7E57, 4096, 0o1666))\n"
    )
    find = (
        "import ctypes, os\nprint('tmp', os.path.exists('/tmp/left'), 'shm', os.path.exists('/dev/shm/left'))\n"
        "print('ipc', ctypes.CDLL(None).shmget(0x7E57, 4096, 0o666))\n"
    )
    with _forked(pristine.address) as first, _forked(pristine.address) as second:
        left = first.run([sys.executable, "-c", leave], 60).stdout
        found = second.run([sys.executable, "-c", find], 60).stdout
    assert "shm " in left and "shm -1" not in left, left
    assert "tmp False shm False" in found and "ipc -1" in found, found


def test_a_child_past_its_time_is_killed(pristine: zygote.Zygote) -> None:
    with _forked(pristine.address) as box:
        done = box.run([sys.executable, "-c", "import time; time.sleep(60)"], 2)
        assert box.violation == "time limit of 2 s reached" and done.returncode != 0


def test_the_user_backend_forks_too(pristine: zygote.Zygote) -> None:
    with zygote.Zygote(USER, PYTHON_PATHS, ENVIRONMENT) as process, _forked(process.address, USER) as box:
        done = box.run([sys.executable, "-c", "import os, sys; print(os.getuid(), 'tensorflow' in sys.modules)"], 60)
        assert done.stdout.strip() == f"{box.uid} True", done.stdout


def test_no_pristine_process_where_no_program_will_start() -> None:
    """A batch whose every notebook is refused (a Slurm task's one broken file) imports no TensorFlow."""
    if os.geteuid() != 0:
        pytest.skip("as root only")
    with zygote.Zygote(BWRAP, PYTHON_PATHS, ENVIRONMENT, wanted=False) as process:
        assert (process.address, process.process, process.private) == (None, None, None), "no process, no folder"


def test_without_a_pristine_process_the_program_starts_the_usual_way(tmp_path: Path) -> None:
    """A pristine process that is gone costs nothing but the time TensorFlow takes to start."""
    if os.geteuid() != 0:
        pytest.skip("as root only")
    gone = zygote.Address(str(tmp_path / "no.sock"), "/tmp")
    with _forked(gone) as box:
        done = box.run([sys.executable, "-c", "import sys; print('tensorflow' in sys.modules)"], 60)
    assert done.stdout.strip() == "False" and done.returncode == 0


def test_a_kernel_is_a_child_too_and_is_started_again_when_it_dies(pristine: zygote.Zygote) -> None:
    """The notebook's kernel (through launch.py): TensorFlow there already, figures inline, its uid; a kernel that
    dies is started again, forked again, and the notebook goes on."""
    from dataclasses import replace

    from assignment.profiles import PROFILES
    from autograder import run

    cells = [
        "import os, sys\nprint('uid', os.getuid(), 'preloaded', 'tensorflow' in sys.modules)",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()",
        "os._exit(1)",
        "print('after', os.getuid())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    profile = replace(PROFILES["smoke"], cell_timeout=60, total_timeout=300)
    with _forked(pristine.address) as box:
        result = run.execute(nb, profile, box)
        uid = box.uid
    text = [output.get("text", "") for cell in result.notebook.cells for output in cell.get("outputs", [])]
    assert f"uid {uid} preloaded True\n" in text and f"after {uid}\n" in text, result.diagnostics
    figures = [o for o in result.notebook.cells[1].outputs if "image/png" in o.get("data", {})]
    assert figures, "the figure shows as it does in a kernel of its own"
    assert [failure.kind.value for failure in result.failures] == ["kernel died"], result.failures
