"""The attack suite: hostile notebooks (tests/attacks.py, tests/attacks_leftovers.py) graded in the suite's shared
smoke batch (tests/batches.py) between two honest ones, through the real CLI, with the machine looked at before and
after (tests/harness.py): a secret in the grader's environment, a TCP listener on 127.0.0.1 whose port the notebooks
know, hashes of the kit, the venv and the Python install, the /tmp/tu-* folders, files over 1 GiB and the uid slots.

A weakness the suite finds fails its test until the grader is fixed. The batch needs the bubblewrap or
unprivileged-user sandbox (else it skips).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import re
import secrets
import socket
import sys
import time
import warnings
from pathlib import Path

import pytest
from attacks import RELEASE, SOLUTION, Attack, Context, outputs
from attacks import __file__ as ATTACKS_FILE
from batches import ATTACKS, HONEST
from harness import SANDBOX_UIDS, WAIT_AFTER, Batch, Listener, assert_unchanged, attributable, changes

from assignment.points import MAX_POINTS, SECTIONS
from assignment.profiles import PROFILES

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture
def batch(smoke_batch: Batch) -> Batch:
    return smoke_batch


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


def _student(slug: str) -> str:
    return next(attack.student for attack in ATTACKS if attack.slug == slug)


# ---------------------------------------------------------------------------------------------------------------
# The batch as a whole.


def test_batch_completes_with_a_row_and_reports_for_everyone(batch: Batch) -> None:
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert set(batch.rows) == set(batch.kinds), f"grades.csv rows: {sorted(batch.rows)}"
    for student in batch.kinds:
        for name in ("results.json", "feedback.md", "grader.log", "outcome.json"):
            assert (batch.out / student / name).is_file(), f"{student} has no {name}"


def test_honest_notebooks_keep_full_marks(batch: Batch) -> None:
    for student in HONEST:
        row = batch.rows[student]
        assert (row["total"], row["status"]) == (str(MAX_POINTS), "ok"), row


def test_honest_reports_and_rows_unchanged_after_the_batch(batch: Batch) -> None:
    assert batch.honest_right_after, "the honest students' reports were not found"
    changed = changes(batch.honest_right_after, batch.honest_after_wait)
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
    assert outcome["seconds"] < 10 * batch.cell_timeout, outcome["seconds"]


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
