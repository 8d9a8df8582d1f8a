"""The sandbox itself, with small Python programs instead of notebooks (each run takes a fraction of a second)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from mutants import RELEASE, SOLUTION

from assignment.profiles import Limits
from autograder import backends, leftovers, permissions, seccomp, uids
from autograder.grade import PRIVATE
from autograder.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent.parent
LIMITS = Limits(memory_mib=1024, address_mib=1024, tasks=64, file_mib=8, scratch_mib=64)
BWRAP, USER, NONE = (backends.REGISTRY[name]() for name in ("bwrap", "user", "none"))
PYTHON_PATHS = [Path(os.path.realpath(sys.base_prefix)), Path(sys.prefix)]


def _bwrap() -> None:
    if backends.detect().name != "bwrap":
        pytest.skip("bubblewrap cannot build namespaces on this machine (the grader would use the `user` fallback)")


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []
    done = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    done.set()
    thread.join()
    server.close()


def _run(box: Sandbox, code: str, timeout: float = 60) -> str:
    done = box.run([sys.executable, "-c", code], timeout)
    return done.stdout


PROGRAM = """
import os, socket, subprocess
def attempt(what, action):
    try:
        action()
        print(what, "ok")
    except Exception as error:
        print(what, type(error).__name__)
attempt("read-kit", lambda: open({readme!r}).read())
attempt("write-venv", lambda: open({venv!r} + "/evil.pth", "w"))
attempt("connect", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
attempt("write-scratch", lambda: open("here.txt", "w").write("x"))
print("uid", os.getuid())
print("env", sorted(os.environ))
subprocess.Popen(["sleep", "600"], start_new_session=True)
"""


def test_bwrap_isolates_files_network_environment_and_processes(listener, monkeypatch: pytest.MonkeyPatch) -> None:
    _bwrap()
    port, accepted = listener
    monkeypatch.setenv("TINY_UNET_SECRET", "s3cr3t")
    with Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {"TFDS_DATA_DIR": "/data"}, "test") as box:
        out = _run(box, PROGRAM.format(readme=str(ROOT / "README.md"), venv=sys.prefix, port=port))
        uid = box.uid
    assert "read-kit FileNotFoundError" in out and "write-venv OSError" in out and "write-scratch ok" in out
    assert "connect ConnectionRefusedError" in out and accepted == []
    assert "TINY_UNET_SECRET" not in out and "'TFDS_DATA_DIR'" in out and "'HOME'" in out
    if os.geteuid() == 0:
        assert f"uid {uid}" in out and uid >= uids.UID_BASE
        assert uids.processes_of({uid}) == [], "a detached process outlived the sandbox"


def test_limits_stop_forks_big_files_and_big_allocations() -> None:
    _bwrap()
    code = (
        "import subprocess\nn = 0\ntry:\n    for n in range(200):\n        subprocess.Popen(['sleep', '30'])\n"
        "except OSError as e:\n    print('forks', n, type(e).__name__)\n"
        "try:\n    open('big', 'wb').write(b'x' * (20 << 20))\nexcept OSError as e:\n    print('file', e.errno)\n"
        "try:\n    bytearray(2 << 30)\nexcept MemoryError:\n    print('memory refused')\n"
    )
    with Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test") as box:
        out = _run(box, code)
    if os.geteuid() == 0:
        forks = int(out.split("forks ")[1].split()[0])
        assert 10 < forks < LIMITS.tasks, out
    assert "file 27" in out and "memory refused" in out, out


def test_scratch_quota_kills_the_sandbox() -> None:
    _bwrap()
    code = "import time\nfor i in range(40):\n    open(f'f{i}', 'wb').write(b'x' * (4 << 20))\ntime.sleep(60)\n"
    with Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test") as box:
        started = time.monotonic()
        box.run([sys.executable, "-c", code], 120)
        assert time.monotonic() - started < 60 and box.violation and "scratch limit of 64 MiB" in box.violation
        scratch = box.scratch
    assert not scratch.exists()
    assert f"watch {scratch.name}" not in [thread.name for thread in threading.enumerate()], (
        "the watchdog outlived its sandbox"
    )


HIDDEN_WRITES = """
import os, sys, time
kept = []
# 20 x 4 MiB (the file limit is 8), over the 64 MiB scratch limit, none of it listed in the scratch folder
for i in range(20):
    path = os.path.join(sys.argv[1], f"hidden{os.getpid()}-{i}")
    kept.append(open(path, "wb"))
    kept[-1].write(b"x" * (4 << 20))
    kept[-1].flush()
    if sys.argv[2] == "unlink":
        os.unlink(path)
time.sleep(60)
"""


@pytest.mark.parametrize(
    ("backend", "where", "how"), [("bwrap", "work", "unlink"), ("user", "/tmp", "keep"), ("user", "work", "unlink")]
)
def test_scratch_limit_counts_deleted_open_files_and_shared_tmp(backend: str, where: str, how: str) -> None:
    if backend == "bwrap":
        _bwrap()
    elif os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").is_file():
        pytest.skip("the user backend needs root, setpriv and a /usr/bin/python3 other users can run")
    with Sandbox(backends.REGISTRY[backend](), LIMITS, PYTHON_PATHS if backend == "bwrap" else [], {}, "test") as box:
        folder = str(box.scratch / "work") if where == "work" else where
        started = time.monotonic()
        box.run([sys.executable if backend == "bwrap" else "/usr/bin/python3", "-c", HIDDEN_WRITES, folder, how], 120)
        assert time.monotonic() - started < 60 and box.violation and "scratch limit" in box.violation
        uid = box.uid
    assert not [
        name for name in os.listdir("/tmp") if name.startswith("hidden") and os.lstat(f"/tmp/{name}").st_uid == uid
    ]


def test_seccomp_refuses_namespaces_keyrings_and_ptrace_but_not_threads() -> None:
    _bwrap()
    code = (
        "import ctypes, subprocess, threading\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"print('keyctl', libc.syscall({seccomp.BLOCKED['keyctl'][0]}, 0, -4), ctypes.get_errno())\n"
        "print('unshare', subprocess.run(['unshare', '-U', 'true'], capture_output=True).returncode)\n"
        "print('ptrace', libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\n"
        "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
        "print('child', subprocess.run(['true']).returncode)\n"
    )
    with Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test") as box:
        if not box.seccomp:
            pytest.skip("no seccomp table for this architecture")
        out = _run(box, code)
    assert (
        "keyctl -1 1" in out and "unshare 1" in out and "ptrace -1 1" in out and "thread" in out and "child 0" in out
    ), out


def test_memory_cgroup_caps_all_processes_together() -> None:
    _bwrap()
    code = (
        "import subprocess, sys, time\n"  # each child holds 700 MiB until both have tried, or one was killed
        "children = [subprocess.Popen([sys.executable, '-c', 'import sys; b = bytearray(700 << 20); "
        'b[::4096] = b"x" * len(b[::4096]); sys.stdin.read()\'], stdin=subprocess.PIPE) for _ in range(2)]\n'
        "end = time.time() + 60\n"
        "while all(c.poll() is None for c in children) and time.time() < end:\n    time.sleep(0.05)\n"
        "for c in children:\n    c.stdin.close()\nprint('codes', sorted(c.wait() for c in children))\n"
    )
    with Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test") as box:
        if "memory" not in box.group.folders:
            pytest.skip("the grader cannot make memory cgroups on this machine (rlimits only)")
        out = _run(box, code)
    assert "codes [-9, 0]" in out, f"two processes of 700 MiB each fit in a 1 GiB sandbox: {out}"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="the user backend needs root and setpriv")
def test_user_backend_drops_to_an_unprivileged_uid(tmp_path: Path) -> None:
    system_python = "/usr/bin/python3"
    if not Path(system_python).is_file():
        pytest.skip("no /usr/bin/python3 reachable by an unprivileged user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "checks.py").write_text("hidden")
    code = (
        f"import os, subprocess\ntry:\n    open({str(private / 'checks.py')!r}).read()\n"
        "except OSError as e:\n    print('read', type(e).__name__)\n"
        "print('uid', os.getuid(), sorted(os.environ))\nsubprocess.Popen(['sleep', '600'], start_new_session=True)\n"
    )
    with Sandbox(USER, LIMITS, [], {}, "test") as box:
        out = box.run([system_python, "-c", code], 60).stdout
        uid = box.uid
    assert "read PermissionError" in out and f"uid {uid}" in out and uid >= uids.UID_BASE
    assert uids.processes_of({uid}) == []


HOPPER = """
import os, sys, time
if os.fork():
    os._exit(0)
end = time.time() + 40
last = 0.0
while time.time() < end:  # a new pid every few microseconds: a list of pids is stale before it is used
    try:
        if os.fork():
            os._exit(0)
    except OSError:
        continue
    if time.time() - last > 0.1:
        last = time.time()
        with open(sys.argv[1], "a") as beat:
            beat.write("x")
"""

REAPER = """
import ctypes, os, sys, threading, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
from assignment.profiles import Limits
from autograder.backends import REGISTRY
from autograder.sandbox import Sandbox
# a subreaper that reaps at once, as systemd or tini would: the hopper runs at full speed
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
def reap():
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.01)
threading.Thread(target=reap, daemon=True).start()
box = Sandbox(REGISTRY["user"](), Limits(512, 512, 64, 8, 64), [], {}, "test")
beat = box.scratch / "tmp" / "beat"
import subprocess
subprocess.Popen(box.command(["/usr/bin/python3", "-c", sys.argv[1], str(beat)]), cwd=box.scratch / "work")
time.sleep(1)
size = lambda: beat.stat().st_size if beat.exists() else -1
print("running", size() > 0, "killed", box.kill())
before = size()
time.sleep(0.5)
print("still beating", size() > before)
box.close()
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="the user backend needs root and setpriv")
def test_a_process_hopping_pids_is_killed_in_the_user_backend() -> None:
    if not Path("/usr/bin/python3").is_file():
        pytest.skip("no /usr/bin/python3 reachable by an unprivileged user")
    done = subprocess.run(
        [sys.executable, "-c", REAPER, HOPPER], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert "running True killed True" in done.stdout and "still beating False" in done.stdout, done.stdout + done.stderr


def test_close_waits_for_a_run_in_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's thread is still in `run` when the notebook side closes the sandbox: its last kill must come
    before the uid goes to the next sandbox (here that thread is slow to wake once its process is killed)."""
    _bwrap()
    wait = subprocess.Popen.wait

    def slow_wait(process: subprocess.Popen, timeout: float | None = None) -> int:
        code = wait(process, timeout)
        if (
            threading.current_thread().name == "probe" and process.args[-1] != "kill -9 -1"
        ):  # the sandboxed process, not the killer
            time.sleep(1)
        return code

    monkeypatch.setattr(subprocess.Popen, "wait", slow_wait)
    box = Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test")
    worker = threading.Thread(
        target=box.run, args=([sys.executable, "-c", "import time; time.sleep(60)"], 120), name="probe"
    )
    worker.start()
    time.sleep(1)
    box.close()
    assert not worker.is_alive(), "close() returned while a run of its sandbox was still going"
    worker.join()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="the user backend needs root and setpriv")
def test_user_backend_starts_without_what_an_earlier_holder_of_its_uid_left(tmp_path: Path) -> None:
    """A grader that crashed left its sandbox's files (the student's work) in /tmp: the uid's next sandbox must not
    find them."""
    with Sandbox(USER, LIMITS, [], {}, "test") as box:
        uid = box.uid
    left = Path(tempfile.mkdtemp(prefix="tu-crashed-")) / "work"
    left.parent.chmod(0o711)  # as a sandbox's scratch folder: its uid may pass through to its work
    left.mkdir()
    (left / "student_work.py").write_text("secret")
    for path in (left, left / "student_work.py"):
        os.chown(path, uid, uid)
    try:
        with Sandbox(USER, LIMITS, [], {}, "test") as box:
            if box.uid != uid:
                pytest.skip("another sandbox holds the uid")
            assert not left.exists()
    finally:
        shutil.rmtree(left.parent, ignore_errors=True)


def test_none_backend_only_when_asked() -> None:
    assert backends.detect("none").name == "none" and "none" not in backends.choices()
    assert backends.detect("auto").name in ("bwrap", "user")
    assert backends.choices() == ["auto", "bwrap", "user"], "the command line's choices come from the registry"


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root grader hands the data to another uid")
def test_private_data_is_named_before_grading(tmp_path: Path) -> None:
    data_dir = tmp_path / "tfds"
    (data_dir / "oxford_iiit_pet").mkdir(parents=True)
    (data_dir / "oxford_iiit_pet" / "info.json").write_text("{}")
    data_dir.chmod(0o755)
    (data_dir / "oxford_iiit_pet").chmod(0o700)
    assert permissions.unreadable("bwrap", [], [data_dir]) == [
        f"{data_dir / 'oxford_iiit_pet'} is not readable by other users"
    ]
    (data_dir / "oxford_iiit_pet").chmod(0o755)
    assert permissions.unreadable("bwrap", [], [data_dir]) == []
    assert permissions.unreadable("user", [], [data_dir]) != [], (
        "the user backend also needs every parent folder (pytest's are private)"
    )


def test_protect_hides_grader_folders_from_other_users(tmp_path: Path) -> None:
    visible = tmp_path / "checks"
    hidden = tmp_path / "already-private"
    visible.mkdir(mode=0o755)
    hidden.mkdir(mode=0o700)
    assert permissions.protect([visible, hidden, tmp_path / "missing"]) == [str(visible)]
    assert visible.stat().st_mode & 0o777 == 0o750 and hidden.stat().st_mode & 0o777 == 0o700


def test_a_sandbox_running_as_the_graders_own_user_is_still_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root (a Slurm job) there is no dedicated uid to kill by: the sandbox kills the bwrap it started."""
    _bwrap()
    monkeypatch.setattr(
        os, "geteuid", lambda: 4242
    )  # built as a normal user would build it: user namespace, no uid slot
    box = Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test")
    monkeypatch.undo()
    try:
        process = subprocess.Popen(box.command([sys.executable, "-c", "import time; time.sleep(600)"]))
        time.sleep(2)
        box.kill()
        assert process.wait(timeout=30) != 0
    finally:
        box.close()


def test_sandboxes_start_from_a_grading_worker_with_less_memory_than_they_get() -> None:
    """The worker's own memory limit is below the sandbox's: the sandbox must still be able to set its own."""
    _bwrap()
    code = (
        "import resource, sys\nfrom autograder.backends import REGISTRY\nfrom autograder.sandbox import Sandbox\n"
        "from assignment.profiles import Limits\nfrom pathlib import Path\nimport os\n"
        "resource.setrlimit(resource.RLIMIT_DATA, (512 << 20, resource.getrlimit(resource.RLIMIT_DATA)[1]))\n"
        "paths = [Path(os.path.realpath(sys.base_prefix)), Path(sys.prefix)]\n"
        "with Sandbox(REGISTRY['bwrap'](), Limits(2048, 2048, 64, 8, 64), paths, {}, 'test') as box:\n"
        "    print(box.run([sys.executable, '-c', 'print(6 * 7)'], 60).stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert "42" in done.stdout, done.stdout + done.stderr


KILLED_GRADER = """
import os, signal, subprocess, sys, time
sys.path.insert(0, os.getcwd())
from assignment.profiles import Limits
from autograder.backends import REGISTRY
from autograder.sandbox import Sandbox
box = Sandbox(REGISTRY["user"](), Limits(512, 512, 64, 8, 64), [], {}, "test")
(box.scratch / "work" / "student_work.py").write_text("x")
subprocess.Popen(
    box.command(
        ["/usr/bin/python3", "-c", "import subprocess; subprocess.Popen(['sleep', '600'], start_new_session=True)"]
    ),
    cwd=box.scratch / "work",
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
).wait()
print(box.scratch, box.private, box.uid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="the user backend needs root and setpriv")
def test_a_killed_graders_sandboxes_are_swept_and_live_ones_kept() -> None:
    if not Path("/usr/bin/python3").is_file():
        pytest.skip("no /usr/bin/python3 reachable by an unprivileged user")
    with Sandbox(USER, LIMITS, [], {}, "test") as live:  # made first: the killed grader's sandbox gets another uid
        done = subprocess.run(
            [sys.executable, "-c", KILLED_GRADER], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == -9, done.stdout + done.stderr
        scratch, private, uid = done.stdout.split()
        groups = [
            folder for folder in Path("/sys/fs/cgroup").glob(f"*/tiny-unet/{Path(scratch).name}") if folder.is_dir()
        ]
        assert Path(scratch, "work", "student_work.py").is_file() and uids.processes_of({int(uid)}), (
            "the killed grader left nothing to sweep"
        )
        removed = leftovers.sweep()
        assert live.scratch.is_dir() and live.private.is_dir(), "a live sandbox was swept"
    assert {scratch, private} <= set(removed) and not Path(scratch).exists() and not Path(private).exists()
    # A sandbox of a test running in parallel may take that uid as soon as the killed grader's lock is gone; it then
    # kills what the uid runs itself, as it starts (UidSlot): either way nothing of the killed grader's may run on.
    deadline = time.monotonic() + 10
    while uids.processes_of({int(uid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert uids.processes_of({int(uid)}) == [], "a process the killed grader's sandbox started is still running"
    assert groups == [] or not any(folder.exists() for folder in groups), "its control group is left"


def test_a_killed_graders_forked_sandboxes_lose_their_control_groups_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox forked from the pristine process keeps its scratch folder in the pristine process's (which its own
    sweep removes); its control group must go all the same (46 empty ones had piled up on this machine). The pristine
    process's own folder names no group: removing "" would try the kit's parent group, busy, 40 times per controller."""
    removed: list[str] = []
    monkeypatch.setattr(leftovers, "scratch_root", lambda: str(tmp_path))
    monkeypatch.setattr(leftovers.Group, "remove_path", staticmethod(removed.append))
    for label, scratch, group in (
        ("forked", tmp_path / "tu-zygote-ab" / "tu-nb-cd", "sub-ef/tu-nb-cd"),
        ("own", tmp_path / "tu-nb-gh", "sub-ij/tu-nb-gh"),
        ("zygote", tmp_path / "tu-zygote-ab", ""),
    ):
        private = tmp_path / f"tu-grader-{label}"
        private.mkdir()
        (private / "alive").write_text("")  # no grader holds its lock: the grader is gone
        leftovers.record(private, scratch, None, "bwrap", group)
    swept = leftovers.sweep()
    assert sorted(removed) == ["sub-ef/tu-nb-cd", "sub-ij/tu-nb-gh"], removed
    assert {str(tmp_path / f"tu-grader-{label}") for label in ("forked", "own", "zygote")} <= set(swept)


def test_a_sandbox_that_fails_to_start_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    released = []
    mkdtemp = tempfile.mkdtemp
    release = uids.UidSlot.release
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: made.append(mkdtemp(**kw)) or made[-1])
    monkeypatch.setattr(uids.UidSlot, "release", lambda slot: released.append(slot.uid) or release(slot))
    monkeypatch.setattr(Sandbox, "give", lambda *_: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        Sandbox(USER if os.geteuid() == 0 else NONE, LIMITS, [], {}, "test")
    assert len(made) == 2 and not any(Path(folder).exists() for folder in made), (
        "a folder of the failed sandbox is left"
    )
    assert len(released) == (1 if os.geteuid() == 0 else 0), "its uid stays reserved"


def _text(path: Path) -> str:
    """A file's text; empty for one that is gone (another test, or an import writing bytecode, may remove a file
    between the walk and the read: what is gone cannot be read by a sandbox either)."""
    try:
        return path.read_text(errors="ignore")
    except FileNotFoundError:
        return ""


def _small_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size < 1 << 22
    except FileNotFoundError:
        return False


def test_what_the_user_sandbox_may_read_of_the_kit_holds_no_answer() -> None:
    """The `user` sandbox's uid sees the host's files: outside the folders the grader closes to it (grade.PRIVATE),
    the venv and the data, no file of the kit holds a line of the solution's answers (after `make demo`, build/ does:
    it is closed too)."""
    given = {line.strip() for cell in nbformat.read(RELEASE, 4).cells for line in cell.source.splitlines()}
    answers = {
        line.strip()
        for cell in nbformat.read(SOLUTION, 4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
        for line in cell.source.splitlines()
        if len(line.strip()) > 30 and line.strip() not in given and not line.strip().startswith("#")
    }
    assert len(answers) > 10
    closed = {*PRIVATE, ROOT / ".venv", ROOT / "data"}
    readable = []
    for folder, dirs, names in os.walk(ROOT):  # not into the closed folders (the venvs alone hold 100k files)
        dirs[:] = [name for name in dirs if Path(folder, name) not in closed]
        paths = (Path(folder, name) for name in names)
        readable += [path for path in paths if path not in closed and _small_file(path)]
    holding = [str(path) for path in readable if any(answer in _text(path) for answer in answers)]
    assert not holding and len(readable) > 20


def test_a_sandbox_reads_what_the_grader_gave_it_in_a_scratch_folder_it_cannot_list() -> None:
    """The measuring sandbox reads the grader's reference splits from its scratch folder, which its uid may pass
    through but not list: the bounded reader must open the folder for passing through only."""
    _bwrap()
    with Sandbox(BWRAP, LIMITS, PYTHON_PATHS, {}, "test") as box:
        (box.scratch / "code").mkdir()
        shutil.copyfile(ROOT / "autograder" / "measuring" / "files.py", box.scratch / "code" / "reader.py")
        (box.scratch / "given.bin").write_bytes(b"the grader's splits")
        box.give(box.scratch / "code", box.scratch / "code" / "reader.py", box.scratch / "given.bin")
        code = (
            f"import os, sys; sys.path.insert(0, {str(box.scratch / 'code')!r}); import reader\n"
            f"print('listable', os.access({str(box.scratch)!r}, os.R_OK))\n"
            f"print(reader.read(reader.Path({str(box.scratch / 'given.bin')!r})).decode())"
        )
        out = _run(box, code)
    assert "listable False" in out, f"the scratch folder is listable, so this tests nothing: {out}"
    assert "the grader's splits" in out, out
