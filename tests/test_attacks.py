"""The attack suite: hostile notebooks (tests/attacks.py) graded in one batch between two honest ones, through the
real CLI.

One module-scoped batch: "aa_honest_solution", the attacks ("attack_NN_..."), "zz_honest_solution", graded with
`python -m autograder.grade --jobs 2` under the smoke profile, with a secret in the grader's environment and a
TCP listener on 127.0.0.1 whose port the notebooks know. Around it the test records hashes of the kit (git's
files), the venv and the Python install, the /tmp/tu-* folders, files over 1 GiB and the uid slots; after it, it
waits a few seconds (long enough for a surviving process to strike) and looks again.

A weakness the suite finds fails its test until the grader is fixed.
The batch takes a few minutes on two cores; it needs the bubblewrap or unprivileged-user sandbox (else it skips).
"""

from __future__ import annotations

import ast
import contextlib
import csv
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from attacks import ATTACKS as EARLIER
from attacks import RELEASE, SOLUTION, Attack, Context, clear_keys, outputs
from attacks import __file__ as ATTACKS_FILE
from attacks_leftovers import ATTACKS as LEFTOVERS
from grading import folders, grade_command, sandbox_or_skip

from assignment.points import MAX_POINTS, SECTIONS
from assignment.profiles import PROFILES
from autograder import uids

ROOT = Path(__file__).resolve().parent.parent
HONEST = ("aa_honest_solution", "zz_honest_solution")
SANDBOX_UIDS = uids.SANDBOX_UIDS
CELL_TIMEOUT = 120  # seconds per cell: 5x the smoke training cell on a CPU without bf16 units, below the profile's 180
WAIT_AFTER = 8  # seconds after the batch for anything that survived it to strike
GIB = 1 << 30
SECRET_NAME = "TINY_UNET_SECRET"
ATTACKS = EARLIER + LEFTOVERS


# ---------------------------------------------------------------------------------------------------------------
# Snapshots of the machine around the batch.


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


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted({path for path in before.keys() | after.keys() if before.get(path) != after.get(path)})


# Names the attacks give the files they try to plant (their contents also hold the batch's token).
ATTACK_FILE_NAMES = {
    "sitecustomize.py",
    "usercustomize.py",
    "zz_notebook.pth",
    "python.bak",
    "test_zz_from_notebook.py",
    "facts.json",
}


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


def assert_unchanged(what: str, changes: list[str], context: Context, roots: tuple[Path, ...] = ()) -> None:
    """Fail on changes an attack made; only warn about others (people may edit the kit while the suite runs)."""
    by_attack = [path for path in changes if attributable(path, context, roots)]
    assert not by_attack, f"{what} changed by the attacks: {by_attack[:20]}"
    if changes:
        warnings.warn(
            f"{what} changed during the batch, not by an attack (someone editing?): {changes[:10]}", stacklevel=2
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


def kill_sandbox_uids() -> None:
    """Teardown: SIGKILL whatever a sandbox uid still runs (bounds a fork bomb even if the grader failed to); only
    the uids seen running, since killing a uid starts a process as that uid."""
    if os.geteuid() == 0:
        owners = set()
        for pid in uids.processes_of(uids.SANDBOX_UIDS):
            with contextlib.suppress(OSError):
                owners.add(Path(f"/proc/{pid}").stat().st_uid)
        uids.kill_uids(owners)


def uid_slots() -> dict[str, str]:
    folder = uids.SLOT_FOLDER
    return (
        {p.name: f"{stat.filemode(p.lstat().st_mode)} {p.lstat().st_size} {p.lstat().st_uid}" for p in folder.iterdir()}
        if folder.is_dir()
        else {}
    )


class GraderMemory:
    """Samples the resident memory of the grader's own processes (the CLI and its descendants that are not
    sandboxed)."""

    def __init__(self, root_pid: int, samples: list[tuple[float, int]]) -> None:
        self.root_pid = root_pid
        self.samples = samples
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _grader_pids(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    parent = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
                    children.setdefault(parent, []).append(int(entry.name))
        found = []
        todo = [self.root_pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for pid in self._grader_pids():
                with contextlib.suppress(OSError, ValueError, StopIteration):
                    status = Path(f"/proc/{pid}/status").read_text()
                    uid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))
                    if uid not in SANDBOX_UIDS:
                        self.samples.append(
                            (
                                time.time(),
                                int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
                                >> 10,
                            )
                        )

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


# ---------------------------------------------------------------------------------------------------------------
# What students must never see.

CODE_STARTS = ("assert ", "def ", "@POINTS(", "@pytest.", "for ", "if ", "return ", "raise ", "pytest.fail(", "with ")


@functools.cache
def hidden_check_markers() -> tuple[str, ...]:
    """Text only the hidden checks hold: names of documented check functions and distinctive code lines."""
    public = "\n".join(
        path.read_text()
        for path in (RELEASE, SOLUTION, Path(ATTACKS_FILE), Path(ATTACKS_FILE).with_name("attacks_leftovers.py"))
    )
    markers = set()
    for path in sorted((ROOT / "autograder" / "checks").glob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and ast.get_docstring(node):
                markers.add(node.name)  # shown to students by its docstring, never by its name
        markers.update(
            line.strip()
            for line in text.splitlines()
            if len(line.strip()) >= 40 and line.strip().startswith(CODE_STARTS)
        )
    return tuple(sorted(marker for marker in markers if marker not in public))


def leaks(text: str, markers: tuple[str, ...]) -> list[str]:
    """The markers that occur in `text` (one fast scan per kind of marker, even for a notebook of hundreds of MB)."""
    names = {marker for marker in markers if marker.startswith("test_") and " " not in marker}
    found = sorted(names & set(re.findall(r"test_\w+", text)))
    for start in CODE_STARTS:
        lines = [marker for marker in markers if marker.startswith(start)]
        at = text.find(start)
        while lines and at >= 0:
            found += [line for line in lines if text.startswith(line, at)]
            at = text.find(start, at + 1)
    return found


def _notebook_text(path: Path) -> str:
    """Every source, output text, value and traceback of a notebook, decoded (JSON escapes would hide a leak)."""
    texts = []
    for cell in json.loads(path.read_text(errors="replace")).get("cells", []):
        texts.append("".join(cell.get("source", "")))
        for out in cell.get("outputs", []):
            texts += ["".join(out.get("text", "")), str(out.get("evalue", "")), "\n".join(out.get("traceback", []))]
            texts += [
                "".join(value) if isinstance(value, list) else str(value) for value in out.get("data", {}).values()
            ]
    return "\n".join(texts)


def student_visible(folder: Path) -> dict[str, str]:
    """What a student sees of their grading, as text: feedback.md, results.json but its hidden tests, executed.ipynb."""
    shown = {}
    if (folder / "feedback.md").is_file():
        shown["feedback.md"] = (folder / "feedback.md").read_text(errors="replace")
    if (folder / "results.json").is_file():
        results = json.loads((folder / "results.json").read_text())
        visible = [test for test in results.get("tests", []) if test.get("visibility") != "hidden"]
        shown["results.json"] = "\n".join(
            [str(results.get("output", "")), *(f"{t.get('name')}\n{t.get('output')}" for t in visible)]
        )
    if (folder / "executed.ipynb").is_file():
        shown["executed.ipynb"] = _notebook_text(folder / "executed.ipynb")
    return shown


# ---------------------------------------------------------------------------------------------------------------
# The batch.


@dataclass
class Batch:
    out: Path
    context: Context
    secret: str
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


def _honest_reports(out: Path) -> dict[str, str]:
    files = [
        out / student / name
        for student in HONEST
        for name in ("results.json", "feedback.md", "outcome.json", "grader.log", "executed.ipynb")
    ]
    digest = _digest(files, content=True)
    with contextlib.suppress(OSError):
        rows = [line for line in (out / "grades.csv").read_text().splitlines() if line.split(",")[0] in HONEST]
        digest["grades.csv honest rows"] = "\n".join(rows)
    return digest


def _rows(out: Path) -> dict[str, dict[str, str]]:
    if not (out / "grades.csv").is_file():
        return {}
    with (out / "grades.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _sandbox_owned(roots: list[Path]) -> list[str]:
    """Files under `roots` owned by a sandbox uid (none may exist outside the sandboxes' own folders)."""
    found = []
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            for name in [*subfolders, *files]:
                with contextlib.suppress(OSError):
                    if os.lstat(os.path.join(folder, name)).st_uid in SANDBOX_UIDS:
                        found.append(os.path.join(folder, name))
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> Iterator[Batch]:
    backend = sandbox_or_skip()
    root = tmp_path_factory.mktemp("attacks")
    out = root / "out"
    submissions, planted = folders(root, "submissions", "planted")
    # What an attacker would like the grader to read from outside its sandbox (reached only through a symlink).
    (planted / "history.json").write_text(json.dumps({"loss": [123.456], "val_loss": [123.456]}))
    listener = Listener()
    context = Context(port=listener.port, out=out, token=secrets.token_hex(12), planted=planted)
    for attack in ATTACKS:
        nbformat.write(attack.build(context), submissions / f"{attack.student}.ipynb")
    for student in HONEST:
        shutil.copyfile(SOLUTION, submissions / f"{student}.ipynb")
    secret = f"secret-{secrets.token_hex(16)}"
    python = Path(os.path.realpath(sys.base_prefix))
    kit = kit_files()
    venv = tree_listing(Path(sys.prefix))
    interpreter = tree_listing(python)
    scratch = scratch_folders()
    big = big_files([Path("/tmp"), ROOT])
    slots = uid_slots()
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_data_dir), SECRET_NAME: secret}
    command = grade_command(submissions, out, "--cell-timeout", str(CELL_TIMEOUT), "--sandbox", backend)
    left_behind: set[str] = set()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = GraderMemory(process.pid, context.grader_memory)
    try:
        try:
            stdout, stderr = process.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        seconds = time.monotonic() - started
        memory.close()
        (root / "grade.stdout").write_text(stdout)
        (root / "grade.stderr").write_text(stderr)
        (root / "grader_memory.json").write_text(json.dumps(context.grader_memory))
        right_after = _honest_reports(out)
        time.sleep(WAIT_AFTER)
        result = Batch(
            out=out,
            context=context,
            secret=secret,
            returncode=process.returncode,
            stdout=stdout,
            stderr=stderr,
            seconds=seconds,
            rows=_rows(out),
            honest_right_after=right_after,
            honest_after_wait=_honest_reports(out),
            connections=list(listener.connections),
            processes_left=sandbox_processes(),
            kit_changes=_changes(kit, kit_files()),
            venv_changes=_changes(venv, tree_listing(Path(sys.prefix))),
            python_changes=_changes(interpreter, tree_listing(python)),
            sandbox_owned=_sandbox_owned([ROOT, python, out]),
            big_files_new=big_files([Path("/tmp"), ROOT, out]) - big,
            scratch_left=scratch_folders() - scratch,
            slots_before=slots,
            slots_after=uid_slots(),
        )
        left_behind = result.scratch_left
        peak = max((rss for _, rss in context.grader_memory), default=0)
        print(
            f"\nattack batch: {seconds:.0f} s for {len(ATTACKS) + len(HONEST)} notebooks; "
            f"grader processes peaked at {peak} MiB",
            file=sys.stderr,
        )
        yield result
    finally:
        memory.close()
        listener.close()
        kill_sandbox_uids()
        clear_keys()
        for path in big_files([out]) - big:  # only what grading left in OUT: other big files in /tmp are someone else's
            with contextlib.suppress(OSError):
                os.unlink(path)
        for path in left_behind:  # only the sandbox folders this batch left (found right after it), not newer ones
            shutil.rmtree(path, ignore_errors=True)


def _student(slug: str) -> str:
    return next(attack.student for attack in ATTACKS if attack.slug == slug)


# ---------------------------------------------------------------------------------------------------------------
# The batch as a whole.


def test_batch_completes_with_a_row_and_reports_for_everyone(batch: Batch) -> None:
    assert batch.returncode == 0, batch.stderr[-3000:]
    students = {attack.student for attack in ATTACKS} | set(HONEST)
    assert set(batch.rows) == students, f"grades.csv rows: {sorted(batch.rows)}"
    for student in students:
        for name in ("results.json", "feedback.md", "grader.log", "outcome.json"):
            assert (batch.out / student / name).is_file(), f"{student} has no {name}"


def test_honest_notebooks_keep_full_marks(batch: Batch) -> None:
    for student in HONEST:
        row = batch.rows[student]
        assert (row["total"], row["status"]) == (str(MAX_POINTS), "ok"), row


def test_honest_reports_and_rows_unchanged_after_the_batch(batch: Batch) -> None:
    assert batch.honest_right_after, "the honest students' reports were not found"
    changed = _changes(batch.honest_right_after, batch.honest_after_wait)
    assert not changed, f"changed in the {WAIT_AFTER} s after the batch: {changed}"
    for student in HONEST:
        assert json.loads((batch.out / student / "results.json").read_text())["score"] == MAX_POINTS


def test_grades_csv_matches_every_students_outcome(batch: Batch) -> None:
    """No student's row was changed behind the grader's back: each row is what that student's outcome.json says."""
    for student, row in batch.rows.items():
        outcome = json.loads((batch.out / student / "outcome.json").read_text())
        assert float(row["total"]) == pytest.approx(sum(check["score"] for check in outcome["checks"])), student


def test_kit_unchanged(batch: Batch) -> None:
    assert_unchanged("the kit's files", batch.kit_changes, batch.context, (ROOT,))


def test_venv_and_python_install_unchanged(batch: Batch) -> None:
    assert_unchanged("the venv", batch.venv_changes, batch.context, (Path(sys.prefix),))
    assert_unchanged(
        "the Python install", batch.python_changes, batch.context, (Path(os.path.realpath(sys.base_prefix)),)
    )
    assert not batch.sandbox_owned, f"files owned by a sandbox uid outside the sandboxes: {batch.sandbox_owned[:20]}"


def test_listener_on_loopback_got_no_connection(batch: Batch) -> None:
    assert not batch.connections, f"the 127.0.0.1 listener was reached: {batch.connections[:10]}"


def test_no_sandbox_process_left(batch: Batch) -> None:
    assert not batch.processes_left, (
        f"{len(batch.processes_left)} processes of sandbox uids outlived the batch: {batch.processes_left[:10]}"
    )


def test_no_file_over_1_gib_left(batch: Batch) -> None:
    """No file over 1 GiB appeared in OUT, the kit or a sandbox folder, or owned by a sandbox uid (others: a
    warning)."""

    def by_grading(path: str) -> bool:
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid in SANDBOX_UIDS:
                return True
        if path.startswith(tuple(str(ROOT / name) + os.sep for name in (".venv", ".git", "build", "data"))):
            return False  # environments and builds people make while the suite runs
        return path.startswith((str(batch.out), str(ROOT), "/tmp/tu-"))

    found = sorted(path for path in batch.big_files_new if by_grading(path))
    assert not found, f"files over 1 GiB: {found}"
    if batch.big_files_new:
        warnings.warn(
            "files over 1 GiB appeared elsewhere during the batch (someone else's?): "
            f"{sorted(batch.big_files_new)[:5]}",
            stacklevel=1,
        )


def test_no_scratch_folder_left(batch: Batch) -> None:
    assert not batch.scratch_left, f"sandbox folders left in /tmp: {sorted(batch.scratch_left)}"


def test_uid_slots_untouched(batch: Batch) -> None:
    """The grader's uid lock files stay empty root files (no sandbox can reach them)."""
    changed = {
        name: mode
        for name, mode in batch.slots_after.items()
        if name in batch.slots_before and batch.slots_before[name] != mode
    }
    assert not changed, changed
    assert all(mode.split()[1:] == ["0", "0"] for mode in batch.slots_after.values()), batch.slots_after


def test_secret_not_in_the_batch_files_or_output(batch: Batch) -> None:
    """The grader's environment (with its secret) reaches neither grades.csv nor the CLI's output."""
    assert batch.secret.encode() not in (batch.out / "grades.csv").read_bytes()
    assert batch.secret not in batch.stdout + batch.stderr


# ---------------------------------------------------------------------------------------------------------------
# Each attack.


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.slug for attack in ATTACKS])
def test_attack_earns_no_more_than_its_honest_part(batch: Batch, attack: Attack) -> None:
    row = batch.rows[attack.student]
    beyond = {key: (float(row[key]), attack.honest[key]) for key in SECTIONS if float(row[key]) > attack.honest[key]}
    assert not beyond, (
        f"{attack.student} earned more than its honest part (section: (earned, honest most)): {beyond}; "
        f"status {row['status']}"
    )
    assert float(row["total"]) <= sum(attack.honest.values())


@pytest.mark.parametrize("student", [*HONEST, *(attack.student for attack in ATTACKS)])
def test_secret_in_no_report_of(batch: Batch, student: str) -> None:
    """No file of OUT/<student>/ holds the grader's secret, not even the instructor-only grader.log and facts.json."""
    found = [
        path.name
        for path in (batch.out / student).iterdir()
        if path.is_file() and batch.secret.encode() in path.read_bytes()
    ]
    assert not found, f"the secret is in {student}'s {found}"


@pytest.mark.parametrize("student", [*HONEST, *(attack.student for attack in ATTACKS)])
def test_student_sees_nothing_of_the_hidden_checks(batch: Batch, student: str) -> None:
    markers = hidden_check_markers()
    assert markers, "no markers found in autograder/checks"
    for name, text in student_visible(batch.out / student).items():
        leaked = leaks(text, markers)
        assert not leaked, f"{student}'s {name} shows hidden-check text: {leaked[:5]}"


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.check], ids=[a.slug for a in ATTACKS if a.check])
def test_attack_specific_expectations(batch: Batch, attack: Attack) -> None:
    problems = attack.check(batch.out / attack.student, batch.context)
    if problems is None:
        pytest.skip("the attack could not run here (see its output)")
    assert not problems, problems


def test_scratch_limit_stops_the_disk_filler(batch: Batch) -> None:
    outcome = json.loads((batch.out / _student("why6_kernel_reach") / "outcome.json").read_text())
    assert "scratch limit" in outcome["problem"], outcome["problem"]


def test_fork_bomb_meets_the_process_limit(batch: Batch) -> None:
    counts = [int(n) for n in re.findall(r"fork bomb: (\d+) processes", outputs(batch.out / _student("fork_bomb")))]
    assert counts and counts[0] <= PROFILES["smoke"].limits.tasks, counts


def test_ignored_sigint_costs_a_kernel_not_the_batch(batch: Batch) -> None:
    outcome = json.loads((batch.out / _student("sigint_ignored") / "outcome.json").read_text())
    kinds = {failure["kind"] for failure in outcome["failures"]}
    assert kinds & {"kernel died", "timeout"}, outcome["failures"]
    assert outcome["seconds"] < 10 * CELL_TIMEOUT, outcome["seconds"]


def test_the_suites_instruments_notice_what_they_look_for(tmp_path: Path) -> None:
    """Without a batch: the listener records a connection, the leak scan finds hidden-check text, a token marks a
    change."""
    listener = Listener()
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as connection:
            connection.sendall(b"probe")
        deadline = time.monotonic() + 10
        while not listener.connections and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
    assert listener.connections and "probe" in listener.connections[0]
    markers = hidden_check_markers()
    planted = f"ok\n    {markers[0]}\n{markers[-1]} and more"
    assert set(leaks(planted, markers)) == {markers[0], markers[-1]}
    context = Context(port=1, out=tmp_path, token="tok" + secrets.token_hex(4), planted=tmp_path)
    (tmp_path / "changed.py").write_text(f"# {context.token}\n")
    (tmp_path / "edited.py").write_text("# someone's edit\n")
    assert attributable(str(tmp_path / "changed.py"), context) and not attributable(
        str(tmp_path / "edited.py"), context
    )
