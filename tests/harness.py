"""How the slow suite grades a batch: through the real CLI, with the machine looked at before and after.

`grade` runs `python -m autograder.grade` on a folder of notebooks with a secret in the grader's environment and a
TCP listener on 127.0.0.1 whose port the notebooks know. Around it, it records hashes of the kit (git's files), the
venv and the Python install, the /tmp/tu-* folders, files over 1 GiB and the uid slots; after it, it waits a few
seconds (long enough for a surviving process to strike) and looks again. The tests read the `Batch` it returns.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from attacks import Context
from grading import grade_command

from autograder import uids

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_UIDS = uids.SANDBOX_UIDS
WAIT_AFTER = 3  # seconds after the batch for anything that survived it to strike (the attacks' own try every 0.5 s)
GIB = 1 << 30
SECRET_NAME = "TINY_UNET_SECRET"
HONEST_REPORTS = ("results.json", "feedback.md", "outcome.json", "grader.log", "executed.ipynb")
# Names the attacks give the files they try to plant (their contents also hold the batch's token).
ATTACK_FILE_NAMES = {
    "sitecustomize.py",
    "usercustomize.py",
    "zz_notebook.pth",
    "python.bak",
    "test_zz_from_notebook.py",
    "facts.json",
}


def _digest(paths: list[Path], content: bool) -> dict[str, str]:
    found = {}
    for path in paths:
        try:
            info = path.lstat()
        except OSError:
            continue
        if content and stat.S_ISREG(info.st_mode):
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = f"{stat.filemode(info.st_mode)} {info.st_size} {info.st_mtime_ns} {info.st_uid}"
    return found


def kit_files() -> dict[str, str]:
    """Content hashes of the kit's files (git's tracked and untracked, not ignored), so new files count too."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        names = sorted(set(listed.decode().split("\0")) - {""})
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file but the venv, the data and caches
        skip = {".git", ".venv", "data", "build", "__pycache__", ".ruff_cache", ".pytest_cache"}
        names = []
        for folder, subfolders, files in os.walk(ROOT):
            subfolders[:] = [name for name in subfolders if name not in skip]
            names += [os.path.relpath(os.path.join(folder, name), ROOT) for name in files]
    return _digest([ROOT / name for name in names], content=True)


def tree_listing(root: Path) -> dict[str, str]:
    """Paths, modes, sizes, mtimes and owners under `root` (bytecode caches left out: the grader writes them as it
    imports)."""
    paths = [root]
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        paths += [Path(folder, name) for name in [*subfolders, *files]]
    return _digest(paths, content=False)


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted({path for path in before.keys() | after.keys() if before.get(path) != after.get(path)})


def attributable(path: str, context: Context, roots: tuple[Path, ...] = ()) -> bool:
    """Whether a change at `path` was made by an attack, not by someone editing the kit while the batch ran:
    an attack's file name or token, a sandbox uid as owner, or one of the watched roots themselves (chmod)."""
    where = Path(path)
    if where.name in ATTACK_FILE_NAMES or context.token in where.name or where in roots:
        return True
    try:
        info = where.lstat()
    except OSError:
        return False  # deleted: no attack deletes files outside its sandbox except by renaming (python.bak above)
    if info.st_uid in SANDBOX_UIDS:
        return True
    if stat.S_ISREG(info.st_mode) and info.st_size < 64 << 20:
        return context.token.encode() in where.read_bytes()
    return False


def assert_unchanged(what: str, found: list[str], context: Context, roots: tuple[Path, ...] = ()) -> None:
    """Fail on changes an attack made; only warn about others (people may edit the kit while the suite runs)."""
    by_attack = [path for path in found if attributable(path, context, roots)]
    assert not by_attack, f"{what} changed by the attacks: {by_attack[:20]}"
    if found:
        warnings.warn(
            f"{what} changed during the batch, not by an attack (someone editing?): {found[:10]}", stacklevel=2
        )


def big_files(roots: list[Path], limit: int = GIB) -> set[str]:
    found = set()
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [name for name in subfolders if not os.path.islink(os.path.join(folder, name))]
            for name in files:
                with contextlib.suppress(OSError):
                    if os.lstat(os.path.join(folder, name)).st_size > limit:
                        found.add(os.path.join(folder, name))
    return found


def scratch_folders() -> set[str]:
    return {str(path) for path in Path("/tmp").glob("tu-*")}


def sandbox_processes() -> list[str]:
    """Processes whose real uid is a sandbox uid (with their command line)."""
    found = []
    for pid in uids.processes_of(uids.SANDBOX_UIDS) if os.geteuid() == 0 else []:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()[:120].replace(b"\0", b" ").decode(errors="replace")
            found.append(f"pid {pid}: {command}")
    return found


def _parent(pid: int | str) -> int:
    """The parent of process `pid`, from /proc (the field after the command name, which may hold spaces)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _owner(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def _orphaned(pid: int) -> bool:
    """Whether a sandbox uid's process has no live grader above it: its parents up to init are sandbox uids' too. A
    sandbox of a test still running beside this session (tests/suite.py) has one."""
    while pid > 1:
        if _owner(pid) not in SANDBOX_UIDS:
            return False
        pid = _parent(pid)
    return True


def kill_sandbox_uids() -> None:
    """Teardown: SIGKILL whatever a sandbox uid still runs with no grader above it (bounds a fork bomb even if the
    grader failed to); only the uids seen running so, since killing a uid starts a process as that uid. Such a uid
    goes to no other sandbox while its processes live (autograder.uids)."""
    if os.geteuid() == 0:
        owners = set()
        for pid in uids.processes_of(uids.SANDBOX_UIDS):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _orphaned(pid):
                    owners.add(_owner(pid))
        uids.kill_uids(owners)


def uid_slots() -> dict[str, str]:
    folder = uids.SLOT_FOLDER
    return (
        {p.name: f"{stat.filemode(p.lstat().st_mode)} {p.lstat().st_size} {p.lstat().st_uid}" for p in folder.iterdir()}
        if folder.is_dir()
        else {}
    )


def sandbox_owned(roots: list[Path]) -> list[str]:
    """Files under `roots` owned by a sandbox uid (none may exist outside the sandboxes' own folders)."""
    found = []
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            for name in [*subfolders, *files]:
                with contextlib.suppress(OSError):
                    if os.lstat(os.path.join(folder, name)).st_uid in SANDBOX_UIDS:
                        found.append(os.path.join(folder, name))
    return found


class GraderMemory:
    """Samples the resident memory of the grader's own processes (the CLI and its descendants that are not
    sandboxed)."""

    def __init__(self, root_pid: int, samples: list[tuple[float, int]]) -> None:
        self.root_pid = root_pid
        self.samples = samples
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _rss(self) -> list[int]:
        """MiB resident of each of the grader's processes: its tree walked down each thread's children, past no
        sandboxed process (what those start is sandboxed too); a few dozen files a sample, not every process's."""
        found = []
        todo = [self.root_pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError, ValueError, StopIteration):
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                if int(next(line.split()[1] for line in status if line.startswith("Uid:"))) in SANDBOX_UIDS:
                    continue
                rss = next((line.split()[1] for line in status if line.startswith("VmRSS:")), None)
                if rss is not None:  # a zombie has none
                    found.append(int(rss) >> 10)
                for task in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(OSError):
                        todo += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            now = time.time()
            self.samples += [(now, rss) for rss in self._rss()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection and what it sent."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, peer = self.server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    data = connection.recv(300)
                except OSError:
                    data = b""
            self.connections.append(f"{peer}: {data[:300]!r}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


@dataclass
class Batch:
    """One graded batch and what the machine looked like around it."""

    name: str
    out: Path
    kinds: dict[str, str]  # student -> what the notebook is ("solution", "mutant", "broken", "attack", ...)
    honest: tuple[str, ...]  # students whose reports must not change after the batch
    context: Context
    secret: str
    backend: str
    cell_timeout: int
    jobs: int
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    rows: dict[str, dict[str, str]]
    honest_right_after: dict[str, str]
    honest_after_wait: dict[str, str]
    connections: list[str]
    processes_left: list[str]
    kit_changes: list[str]
    venv_changes: list[str]
    python_changes: list[str]
    sandbox_owned: list[str]
    big_files_new: set[str]
    scratch_left: set[str]
    slots_before: dict[str, str]
    slots_after: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def outcome(self, student: str) -> dict:
        return json.loads((self.out / student / "outcome.json").read_text())

    def flags(self) -> tuple[str, ...]:
        """The command-line settings the batch was graded with (besides profile, OUT and jobs)."""
        return ("--cell-timeout", str(self.cell_timeout), "--sandbox", self.backend)

    def order(self) -> list[str]:
        """The students in the order the batch graded them (its manifest's)."""
        return [entry["student"] for entry in json.loads((self.out / "batch.json").read_text())["students"]]


def rows(out: Path) -> dict[str, dict[str, str]]:
    if not (out / "grades.csv").is_file():
        return {}
    with (out / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _honest_reports(out: Path, honest: tuple[str, ...]) -> dict[str, str]:
    digest = _digest([out / student / name for student in honest for name in HONEST_REPORTS], content=True)
    with contextlib.suppress(OSError):
        lines = [line for line in (out / "grades.csv").read_text().splitlines() if line.split(",")[0] in honest]
        digest["grades.csv honest rows"] = "\n".join(lines)
    return digest


Write = Callable[[Path, Context], tuple[dict[str, str], tuple[str, ...]]]


def grade(
    name: str,
    root: Path,
    write: Write,
    data: Callable[[], Path],
    settings: tuple[str, int, int],
    cleanup: list[Callable],
    looked: Callable[[], None] = lambda: None,
) -> Batch:
    """Grade what `write(submissions, context)` puts in `root/submissions` (it returns student -> kind and the honest
    students) under smoke on the data set `data()` gives (asked for once the notebooks are written and the machine
    looked at: it may still be being prepared) with `settings` (sandbox backend, cell timeout, jobs); `cleanup` gets
    what the session's teardown must undo. `looked` is called once the machine has been looked at where other tests
    could change it (their sandboxes, /tmp): they may run from then on."""
    backend, cell_timeout, jobs = settings
    out = root / "out"
    (root / "submissions").mkdir()
    planted = root / "planted"  # what an attacker would like the grader to read from outside its sandbox
    planted.mkdir()
    (planted / "history.json").write_text(json.dumps({"loss": [123.456], "val_loss": [123.456]}))
    listener = Listener()
    cleanup.append(listener.close)
    context = Context(port=listener.port, out=out, token=secrets.token_hex(12), planted=planted)
    kinds, honest = write(root / "submissions", context)
    secret = f"secret-{secrets.token_hex(16)}"
    python = Path(os.path.realpath(sys.base_prefix))
    kit, venv, interpreter = kit_files(), tree_listing(Path(sys.prefix)), tree_listing(python)
    scratch, big, slots = scratch_folders(), big_files([Path("/tmp"), ROOT]), uid_slots()
    env = {**os.environ, "TFDS_DATA_DIR": str(data()), SECRET_NAME: secret}
    command = grade_command(
        root / "submissions", out, "--cell-timeout", str(cell_timeout), "--sandbox", backend, jobs=jobs
    )
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = GraderMemory(process.pid, context.grader_memory)
    cleanup.append(memory.close)
    try:
        stdout, stderr = process.communicate(timeout=2400)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    memory.close()
    for suffix, text in (("stdout", stdout), ("stderr", stderr)):
        (root / f"grade.{suffix}").write_text(text)
    right_after = _honest_reports(out, honest)
    time.sleep(WAIT_AFTER)
    # First what other tests could change once they run (sandbox processes, uid slots, scratch folders, /tmp), then
    # `looked`; then what they cannot (the kit's and Python's files, this batch's OUT, sandbox owners in them).
    after_wait = _honest_reports(out, honest)
    connections = list(listener.connections)
    processes_left, slots_after = sandbox_processes(), uid_slots()
    scratch_left, big_new = scratch_folders() - scratch, big_files([Path("/tmp"), ROOT, out]) - big
    looked()
    result = Batch(
        name=name,
        out=out,
        kinds=kinds,
        honest=honest,
        context=context,
        secret=secret,
        backend=backend,
        cell_timeout=cell_timeout,
        jobs=jobs,
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        rows=rows(out),
        honest_right_after=right_after,
        honest_after_wait=after_wait,
        connections=connections,
        processes_left=processes_left,
        kit_changes=changes(kit, kit_files()),
        venv_changes=changes(venv, tree_listing(Path(sys.prefix))),
        python_changes=changes(interpreter, tree_listing(python)),
        sandbox_owned=sandbox_owned([ROOT, python, out]),
        big_files_new=big_new,
        scratch_left=scratch_left,
        slots_before=slots,
        slots_after=slots_after,
    )
    peak = max((rss for _, rss in context.grader_memory), default=0)
    print(f"\n{name} batch: {seconds:.0f} s for {len(kinds)} notebooks; grader peaked at {peak} MiB", file=sys.stderr)
    cleanup.append(lambda: _remove_leftovers(result, big))
    return result


def _remove_leftovers(batch: Batch, big_before: set[str]) -> None:
    """Teardown: what grading left in OUT over 1 GiB, and the sandbox folders this batch left (found right after it,
    not newer ones); other big files in /tmp are someone else's."""
    for path in big_files([batch.out]) - big_before:
        with contextlib.suppress(OSError):
            os.unlink(path)
    for path in batch.scratch_left:
        subprocess.run(["rm", "-rf", "--one-file-system", path], check=False, timeout=600)
