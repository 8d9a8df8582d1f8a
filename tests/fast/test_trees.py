"""Trees student code leaves (autograder/trees.py): chains of folders deeper than PATH_MAX and Python's recursion
limit, folders closed by their owner, what cannot be removed, the entry cap, the `user` backend's shared folders, and
the sandbox's watchdog and cleanup over them. Made in a private temp folder (on tmpfs where there is one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assignment.profiles import Limits
from autograder import backends, leftovers, trees, uids
from autograder.sandbox import Sandbox

NOBODY = 65534
OWNER = 4_000_000  # a uid no process runs as: the shared-folder walk's owner in these tests
LIMITS = Limits(memory_mib=1024, address_mib=1024, tasks=64, file_mib=128, scratch_mib=64)
# As root, the `user` backend (the one sharing /tmp); else none: the watchdog and cleanup are the same
BACKEND = backends.REGISTRY["user" if os.geteuid() == 0 and shutil.which("setpriv") else "none"]()
MIB = 1 << 20


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A fresh folder that other uids may pass through (0711), on tmpfs where there is one (deep trees are made and
    removed there in a fraction of the time a root takes)."""
    folder = Path(tempfile.mkdtemp(prefix="trees-test-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    folder.chmod(0o711)
    yield folder
    trees.discard(folder)


def chain(top: Path, depth: int, payload: int = MIB, owner: int | None = None) -> trees.Usage:
    """`depth` folders one in another under `top` (made by descriptor: the path to the bottom is longer than
    PATH_MAX), `payload` real bytes at the bottom, the bottom folder closed to everyone (mode 0). What it uses, as
    each entry was made: its blocks, at least trees.BLOCK."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    used = trees.Usage()
    try:
        for _ in range(depth):
            os.mkdir("level", dir_fd=fd)
            child = os.open("level", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            if owner is not None:
                os.fchown(fd, owner, owner)
            used += trees.Usage(max(os.fstat(fd).st_blocks * 512, trees.BLOCK), 1)
        file = os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
        for start in range(0, payload, 8 * MIB):
            os.write(file, b"x" * min(8 * MIB, payload - start))
        if owner is not None:
            os.fchown(file, owner, owner)
        used += trees.Usage(max(os.fstat(file).st_blocks * 512, trees.BLOCK), 1)
        os.close(file)
        os.fchmod(fd, 0)
    finally:
        os.close(fd)
    return used


@pytest.mark.parametrize("depth", [2000, 5000])
def test_a_chain_deeper_than_path_max_is_counted_and_removed(private_dir: Path, depth: int) -> None:
    top = private_dir / "work"
    top.mkdir()
    made = chain(top, depth)
    assert len(str(top)) + len("/level") * depth > os.pathconf(top, "PC_PATH_MAX"), "the chain is not past PATH_MAX"
    assert made.entries == depth + 1 and made.bytes >= MIB + depth * trees.BLOCK
    assert trees.usage(top) == made, "not every level or byte was counted"
    assert trees.discard(top) is None and not top.exists()


def _as_unprivileged(work: Callable[[Path], dict], folder: Path) -> dict:
    """`work(folder)`'s answer, run as an unprivileged user owning `folder` (as root: in a child process as nobody),
    which is how the grader runs without root: the sandbox's files are its own uid's."""
    if os.geteuid() != 0:
        return work(folder)
    os.chown(folder, NOBODY, NOBODY)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only this function, then _exit
        answer: dict = {}
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            answer = work(folder)
        except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
            answer = {"error": traceback.format_exc()}
        finally:
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    answer = json.loads(text)
    assert "error" not in answer, answer.get("error")
    return answer


def _closed_folders(folder: Path) -> dict:
    """Folders their owner closed (no read, no search, no write, nothing), files in each, a deep chain with a closed
    bottom and a link out of the tree; counted and removed by their owner."""
    tree = folder / "tree"
    outside = folder / "outside"
    outside.write_text("not the tree's")
    for name, mode in (("none", 0), ("search_only", 0o100), ("read_only", 0o400), ("no_write", 0o500)):
        (tree / name / "inner").mkdir(parents=True)
        (tree / name / "file").write_bytes(b"x" * 10_000)
        (tree / name / "inner" / "file").write_text("x")
        (tree / name / "inner").chmod(mode)
        (tree / name).chmod(mode)
    (tree / "link").symlink_to(outside)
    (tree / "deep").mkdir()
    made = chain(tree / "deep", 300, payload=0)
    tree.chmod(0o500)
    used = trees.usage(tree)
    return {
        "entries": used.entries,
        "expected": 4 * 4 + 2 + made.entries,
        "discarded": trees.discard(tree),
        "tree_left": tree.exists(),
        "outside_left": outside.read_text(),
    }


def test_folders_closed_by_their_owner_are_counted_and_removed(private_dir: Path) -> None:
    home = private_dir / "owned"
    home.mkdir()
    answer = _as_unprivileged(_closed_folders, home)
    assert answer["entries"] == answer["expected"], "a closed folder's entries were not counted"
    assert answer["discarded"] is None and not answer["tree_left"], answer
    assert answer["outside_left"] == "not the tree's", "the link out of the tree was followed"


def make_immutable(path: Path) -> None:
    """chattr +i: not even root can remove or rename `path` (the test skips where that is not possible)."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not possible here (it needs root and a file system that has it): {done.stderr!r}")


def _dead_sandbox(root: Path) -> tuple[Path, Path]:
    """The folders a killed grader's sandbox leaves: its private folder (`alive` unlocked, state.json) and scratch."""
    private = Path(tempfile.mkdtemp(prefix="tu-grader-", dir=root))
    scratch = Path(tempfile.mkdtemp(prefix="tu-nb-", dir=root))
    (private / "alive").write_text("")
    scratch.chmod(0o711)
    leftovers.record(private, scratch, None, "bwrap", scratch.name)
    return private, scratch


def test_an_unremovable_leftover_is_set_aside_and_later_sweeps_go_on(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = private_dir
    monkeypatch.setattr(leftovers, "scratch_root", lambda: str(root))
    try:
        private, scratch = _dead_sandbox(root)
        (scratch / "work").mkdir()
        chain(scratch / "work", 2100)
        (scratch / "work" / "locked").write_text("x")
        make_immutable(scratch / "work" / "locked")
        removed = leftovers.sweep()
        told = capsys.readouterr().err
        aside = [path for path in root.iterdir() if path.name.startswith(trees.SET_ASIDE)]
        assert str(scratch) in removed and not scratch.exists() and not private.exists(), removed
        assert len(aside) == 1 and (aside[0] / "work" / "locked").exists(), list(root.iterdir())
        assert aside[0].stat().st_mode & 0o777 == 0o700, "what was set aside is not private to the grader"
        assert f"could not remove {scratch}" in told and str(aside[0]) in told, told
        assert [entry.name for entry in (aside[0] / "work").iterdir()] == ["locked"], "the rest was not removed"
        again = _dead_sandbox(root)
        assert set(leftovers.sweep()) == {str(path) for path in again}, "a later sweep stopped or took the rest"
        assert aside[0].exists() and capsys.readouterr().err == ""
    finally:
        for path in root.glob("*/work/locked"):
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


def test_the_entry_cap_stops_a_walk(private_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trees, "ENTRY_CAP", 500)
    for index in range(300):
        (private_dir / f"f{index}").write_text("")
    assert trees.usage(private_dir) == trees.Usage(300 * trees.BLOCK, 300) and not trees.usage(private_dir).over_cap
    chain(private_dir, 250, payload=0)
    used = trees.usage(private_dir)
    assert used.over_cap and used.entries == 501, "the walk did not stop at the cap"


@pytest.mark.skipif(os.geteuid() != 0, reason="files of another uid need root to be made")
def test_the_user_backends_shared_folder_walk_reaches_a_deep_folder(private_dir: Path) -> None:
    """What a uid leaves where everyone may write: counted however deep, in its own folders and those anyone may
    write (where it can have made anything); removed wherever it can reach it; never anyone else's."""
    shared = private_dir / "tmp"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    deep = shared / "deep"
    deep.mkdir()
    os.chown(deep, OWNER, OWNER)
    made = chain(deep, 2500, owner=OWNER)
    public = shared / "public"  # root's, anyone may write: the uid's file there is its
    public.mkdir()
    public.chmod(0o777)
    (public / "theirs").write_bytes(b"x" * MIB)
    os.chown(public / "theirs", OWNER, OWNER)
    (public / "roots").write_text("root's")
    private = shared / "private"  # root's alone: the uid cannot reach what is in it
    private.mkdir(mode=0o700)
    (private / "planted").write_text("x")
    os.chown(private / "planted", OWNER, OWNER)
    crashed = shared / "tu-nb-crashed"  # a killed grader's scratch folder (0711): the uid can reach its work
    (crashed / "work").mkdir(parents=True)
    crashed.chmod(0o711)
    (crashed / "work" / "student_work.py").write_text("secret")
    os.chown(crashed / "work", OWNER, OWNER)
    device = shared.stat().st_dev
    folders = (str(shared),)
    used = uids.hidden_usage(OWNER, device, shared=True, folders=folders)
    theirs = trees.Usage(max((public / "theirs").stat().st_blocks * 512, trees.BLOCK), 1)
    own = trees.Usage(max(deep.stat().st_blocks * 512, trees.BLOCK), 1) + made + theirs
    assert used == own, "not all the uid wrote where anyone may write was counted, or more"
    assert uids.hidden_usage(OWNER, device, shared=False, folders=folders) == trees.Usage()
    uids.remove_leftovers(OWNER, folders=folders)
    assert not deep.exists() and not (public / "theirs").exists() and not (crashed / "work").exists()
    assert (public / "roots").exists() and (private / "planted").exists() and crashed.exists()
    assert uids.hidden_usage(OWNER, device, shared=True, folders=folders) == trees.Usage()


def _moved_in(staging: Path, folder: Path, depth: int, payload: int) -> None:
    """A chain made aside, then moved into `folder` at once (the watchdog sees all of it or none)."""
    staging.mkdir()
    chain(staging, depth, payload)
    os.rename(staging / "level", folder / "level")
    staging.rmdir()


@pytest.mark.parametrize("limit", ["bytes", "entries"])
def test_the_watchdog_stops_a_deep_chain_and_close_removes_it(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    """The red team's case at a small scale: a chain of 2,100 folders (past Python's recursion limit) in the scratch
    folder, over the scratch limit in bytes or in entries; the sandbox stops it, and its cleanup removes another
    one."""
    monkeypatch.setattr(leftovers, "scratch_root", lambda: str(private_dir))
    if limit == "entries":
        monkeypatch.setattr(trees, "ENTRY_CAP", 2000)
    box = Sandbox(BACKEND, LIMITS, [], {}, "test")
    try:
        payload = (LIMITS.scratch_mib + 16) * MIB if limit == "bytes" else 0
        _moved_in(private_dir / "staging", box.scratch / "work", 2100, payload)
        deadline = time.monotonic() + 30
        while (box.violation is None or (box.scratch / "work").exists()) and time.monotonic() < deadline:
            time.sleep(0.2)
        wanted = f"{LIMITS.scratch_mib} MiB" if limit == "bytes" else "2000 files and folders"
        assert box.violation == f"scratch limit of {wanted} exceeded", box.violation
        assert not (box.scratch / "work").exists(), "the watchdog left the chain"
        extra = box.fresh_folder()
        _moved_in(private_dir / "staging", extra, 1500, 0)  # under both limits: left to close()
        scratch = box.scratch
    finally:
        box.close()
    assert not scratch.exists() and not box.private.exists()
    assert not list(private_dir.iterdir()), "something of the sandbox was left or set aside"


def test_a_walk_never_strays_when_a_folder_is_moved_under_it(private_dir: Path) -> None:
    """Student code may move a folder while the watchdog walks: the walk, leaving it by "..", must notice it is not
    where it came from and find its way back by name, never listing the folder it was moved into."""
    top = private_dir / "top"
    (top / "a" / "b" / "c").mkdir(parents=True)
    (top / "a" / "b" / "c" / "trigger").write_text("")
    (top / "a" / "z").mkdir()
    (top / "a" / "z" / "inside").write_text("")
    (private_dir / "other" / "z").mkdir(parents=True)
    (private_dir / "other" / "z" / "outside").write_text("")
    seen = []

    def visit(_fd: int, entry: os.DirEntry) -> bool:
        seen.append(entry.name)
        if entry.name == "trigger":
            os.rename(top / "a" / "b", private_dir / "other" / "b")
        return entry.is_dir(follow_symlinks=False)

    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        trees._walk(fd, visit)
    finally:
        os.close(fd)
    assert "trigger" in seen and "inside" in seen and "outside" not in seen, seen


MOUNTED = """
import subprocess, sys
from pathlib import Path
from autograder import trees
tree = Path(sys.argv[1])
(tree / "mount").mkdir(parents=True)
(tree / "mine").write_text("x")
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", str(tree / "mount")], check=True)
(tree / "mount" / "other_fs").write_text("not the tree's")
print("usage", trees.usage(tree).entries)
print("discarded", trees.discard(tree) is not None)
print("left", sorted(path.name for path in tree.parent.iterdir()))
print("kept", [path.read_text() for path in tree.parent.glob("*/mount/other_fs")])
"""


def test_a_walk_never_crosses_into_another_file_system(private_dir: Path) -> None:
    """A folder another file system is mounted on (which no sandbox can make on the host, but a machine may have)
    is neither counted nor emptied: the tree around it is set aside. Run in a mount namespace of its own."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("mounting a file system needs root (and unshare, to keep the mount out of the host)")
    root = Path(__file__).resolve().parent.parent.parent
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", MOUNTED, str(private_dir / "tree")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "mount" in done.stderr and done.returncode:
        pytest.skip(f"cannot mount here: {done.stderr[-300:]}")
    assert "usage 2\n" in done.stdout and "discarded True" in done.stdout, done.stdout + done.stderr
    assert 'kept ["not the tree\'s"]' in done.stdout and "left ['tu-quarantine-tree-" in done.stdout, done.stdout
