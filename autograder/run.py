"""Run a notebook headless under a profile, its kernel inside a sandbox.

papermill injects the profile's values after the `parameters` cell; nbclient drives a kernel that
runs inside `autograder.sandbox` and talks to the grader over unix sockets (jupyter_client's ipc
transport) in the sandbox's scratch folder, never TCP. Each cell has a time limit and the notebook a
total one. An error or a timeout is recorded and the next cell runs; a dead or unresponsive kernel is
restarted, the cells before are replayed and the fatal cell is skipped. After the last cell the kernel
exports `model` and `history` (autograder/probe/export.py); the grader measures them itself, so the
notebook's last cells, which only show the model's predictions, are skipped (cells.showing_only).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from papermill.parameterize import parameterize_notebook

from assignment.profiles import Profile
from autograder import cells
from autograder.capture import Capture
from autograder.results import CellFailure, FailureKind, literal
from autograder.sandbox import Sandbox

MAX_KERNEL_RESTARTS = 2
RESPONSIVE_SECONDS = (
    30  # after a timeout, the kernel must answer within this or it is restarted (generous: the machine may be busy)
)
IOPUB_SECONDS = (
    20  # after a cell's reply, how long its last outputs may take to arrive (generous: the machine may be busy)
)
OUTPUT_LIMIT = 2_000_000  # characters of output kept per cell
MESSAGE_LIMIT = 64 << 20  # bytes of one message from the kernel
NOTEBOOK_LIMIT = 20_000_000  # characters of outputs in the executed notebook
PROBE = Path(__file__).resolve().parent / "probe"
GRADER_FILES = ("export.py", "recorder.py", "descriptors.py")  # the grader's code run in the kernel, before and after


@dataclass
class RunResult:
    """What happened when the notebook ran."""

    notebook: nbformat.NotebookNode
    failures: list[CellFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # student-visible
    diagnostics: list[str] = field(default_factory=list)  # instructor-only
    started: bool = False  # whether a kernel ever answered (if not, the sandbox could not start one: a grader problem)
    exported: Path | None = None  # the folder holding the kernel's export, when it ran
    seconds: float = 0.0


def clear_outputs(nb: nbformat.NotebookNode) -> None:
    """Drop what the submitted file says its cells printed: the executed notebook shows only the grader's run."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)


def parameterize(nb: nbformat.NotebookNode, parameters: dict[str, object]) -> tuple[nbformat.NotebookNode, list[str]]:
    """Inject `parameters` after the `parameters` cell; find that cell by its content if its tag was lost."""
    notes = []
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])  # papermill expects every cell to have tags
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if not any("parameters" in c.metadata.tags for c in code_cells):
        holder = next((c for c in code_cells if "IMG_SIZE =" in c.source or "IMG_SIZE=" in c.source), None)
        if holder is None:
            notes.append("no `parameters` cell and no cell that sets IMG_SIZE: the profile's values go first")
        else:
            holder.metadata.tags.append("parameters")
            notes.append("the `parameters` tag was missing; the cell that sets IMG_SIZE was used")
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.setdefault("papermill", {})
    return parameterize_notebook(nb, parameters, comment="Injected by the grader's profile"), notes


class _CappedClient(NotebookClient):
    """nbclient that keeps at most OUTPUT_LIMIT characters of output per cell and NOTEBOOK_LIMIT in all, updates to
    displays included."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[int, int] = {}

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> nbformat.NotebookNode | None:
        size = len(json.dumps(msg.get("content", {})))
        kept = self._kept.get(cell_index, 0)
        if kept + size > OUTPUT_LIMIT or sum(self._kept.values()) + size > NOTEBOOK_LIMIT:
            if kept <= OUTPUT_LIMIT:
                outs.append(
                    nbformat.v4.new_output(
                        "stream", name="stderr", text="[the grader dropped the rest of this cell's output]\n"
                    )
                )
            self._kept[cell_index] = OUTPUT_LIMIT + 1
            return None
        self._kept[cell_index] = kept + size
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        targets = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
        if targets * len(json.dumps(msg.get("content", {}))) <= OUTPUT_LIMIT:
            super()._update_display_id(display_id, msg)


def _trim(nb: nbformat.NotebookNode) -> None:
    """Drop the largest cells' outputs until the executed notebook stays under NOTEBOOK_LIMIT characters."""
    sizes = sorted(
        ((len(json.dumps(c.get("outputs", []))), i) for i, c in enumerate(nb.cells) if c.cell_type == "code"),
        reverse=True,
    )
    total = sum(size for size, _ in sizes)
    for size, index in sizes:
        if total <= NOTEBOOK_LIMIT:
            break
        nb.cells[index].outputs = [
            nbformat.v4.new_output(
                "stream", name="stderr", text="[the grader dropped this cell's outputs: too large]\n"
            )
        ]
        total -= size


class _Manager(AsyncKernelManager):
    """A kernel manager whose clients refuse messages over MESSAGE_LIMIT (zmq drops them before they are read)."""

    def client(self, **kwargs):
        client = super().client(**kwargs)
        client.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)
        return client


class _Unresponsive(Exception):
    """The kernel did not answer after a timeout."""


class _Session:
    """One sandboxed kernel running the notebook's cells, recording every cell that fails."""

    def __init__(self, nb: nbformat.NotebookNode, sandbox: Sandbox, attempt: int):
        self.nb = nb
        self.sandbox = sandbox
        self.attempt = attempt
        self.specs = sandbox.private / f"spec{attempt}"
        recorder = f"--IPKernelApp.exec_files={sandbox.scratch / 'recorder.py'}"
        argv = sandbox.kernel_command([sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", recorder])
        (self.specs / "sandboxed").mkdir(parents=True)
        (self.specs / "sandboxed" / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "sandboxed", "language": "python", "interrupt_mode": "message"})
        )
        sockets = sandbox.fresh_folder()  # made now, by the grader: nothing planted in it
        self.km = _Manager(
            kernel_name="sandboxed",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.specs)]),
            transport="ipc",
            connection_file=str(sockets / "kernel.json"),
        )
        self.km.write_connection_file()
        sandbox.give(sockets, Path(self.km.connection_file))
        self.client = _CappedClient(
            nb,
            km=self.km,
            allow_errors=True,
            interrupt_on_timeout=True,
            iopub_timeout=IOPUB_SECONDS,
            store_widget_state=False,  # widget messages would pile up in the grader's memory
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "cell time limit reached", "traceback": []},
            resources={"metadata": {"path": str(sandbox.scratch / "work")}},
            on_cell_error=self._record_error,
        )
        self.failures: list[CellFailure] = []
        self.output = Capture(limit=4000)  # the kernel's own stdout and stderr: its first and last 2 kB

    def _record_error(self, cell: nbformat.NotebookNode, cell_index: int, execute_reply: dict) -> None:
        content = execute_reply["content"]
        kind = FailureKind.TIMEOUT if content.get("ename") == "CellTimeoutError" else FailureKind.ERROR
        self.failures.append(CellFailure(cell_index, kind, f"{content.get('ename')}: {content.get('evalue')}"))

    def run(self, cell: nbformat.NotebookNode, index: int, limit: float) -> None:
        """Run one cell; after a timeout make sure the kernel answers again, else raise _Unresponsive."""
        self.client.timeout = max(1, int(limit))
        before = len(self.failures)
        self.client.execute_cell(cell, index)
        if any(f.kind is FailureKind.TIMEOUT for f in self.failures[before:]) and self.run_grader_code(
            "pass", RESPONSIVE_SECONDS
        ):
            raise _Unresponsive

    def run_grader_code(self, source: str, limit: float) -> str | None:
        """Run grader code that is not part of the notebook; return its error, if any (its output is not kept)."""
        self.client.timeout = max(1, int(limit))
        self.nb.cells.append(nbformat.v4.new_code_cell(source))
        before = len(self.failures)
        try:
            self.client.execute_cell(self.nb.cells[-1], len(self.nb.cells) - 1)
        finally:
            self.nb.cells.pop()
            errors = self.failures[before:]
            del self.failures[before:]
        return errors[0].detail if errors else None

    def printed(self) -> str:
        """The start and the end of what the sandbox and kernel wrote to stdout and stderr, and how much of it was
        dropped between them (instructor-only)."""
        return self.output.text(wait=0.5)

    def close(self) -> None:
        if self.client.kc is not None:
            self.client.kc.stop_channels()
        process = getattr(self.km.provisioner, "process", None)
        if process is not None and process.poll() is not None:  # reaped: its process-group id may be another's by now
            self.km.provisioner.pgid = None
        if self.km.has_kernel:
            with contextlib.suppress(Exception):  # a kernel that is already gone is fine
                run_sync(self.km.shutdown_kernel)(now=True)
        self.sandbox.kill()


def _attempt(session: _Session, result: RunResult, profile: Profile, skip: set[int], started: float) -> int | None:
    """Run every cell not in `skip` in a new kernel, then export the trained model; the index of the cell during
    which the kernel died or stopped answering, or None when it did not."""
    sandbox = session.sandbox
    dead_at = None
    try:
        with session.client.setup_kernel(stdout=session.output.fd, stderr=session.output.fd):
            session.output.started()
            result.started = True
            for index, cell in enumerate(result.notebook.cells):
                if index in skip or cell.cell_type != "code":
                    continue
                remaining = profile.total_timeout - (time.monotonic() - started)
                if remaining <= 0:
                    session.failures.append(
                        CellFailure(index, FailureKind.NOT_RUN, "total time limit reached before this cell")
                    )
                    continue
                dead_at = index
                session.run(cell, index, min(profile.cell_timeout, remaining))
            dead_at = None
            script = sandbox.scratch / "export.py"
            out = sandbox.scratch / "out"
            code = f"import runpy; runpy.run_path({str(script)!r})['export'](globals(), {str(out)!r})"
            if problem := session.run_grader_code(code, profile.export_timeout):
                result.notes.append(f"the trained model could not be exported: {literal(problem, 200)}")
            result.exported = out
    except Exception as error:  # noqa: BLE001 - dead, unresponsive, or breaking the client: the kernel failed
        known = isinstance(error, DeadKernelError | _Unresponsive | RuntimeError)
        detail = f"{type(error).__name__}: {error}" if known else traceback.format_exc(limit=-4)
        result.diagnostics.append(f"kernel attempt {session.attempt + 1}: {detail}\n{session.printed()}".strip())
        if dead_at is None and result.started:
            result.notes.append("the kernel stopped while the grader exported the trained model")
    finally:
        session.output.started()
        session.close()
    return dead_at


def execute(
    nb: nbformat.NotebookNode, profile: Profile, sandbox: Sandbox, session: type[_Session] = _Session
) -> RunResult:
    """Run every cell of the (parameterized) `nb` in `sandbox`, then export the trained model. A kernel that dies or
    stops answering is started again, the cells before replayed and the fatal cell skipped, at most
    MAX_KERNEL_RESTARTS times."""
    started = time.monotonic()
    result = RunResult(nb)
    skip = cells.not_run(nb, profile.run_showing_cells)
    for name in GRADER_FILES:  # the grader's, read-only to the sandbox: a kernel started again finds them unchanged
        shutil.copyfile(PROBE / name, sandbox.scratch / name)
        (sandbox.scratch / name).chmod(0o644)
    deaths: list[CellFailure] = []
    for attempt in range(MAX_KERNEL_RESTARTS + 1):
        current = session(nb, sandbox, attempt)
        dead_at = _attempt(current, result, profile, skip, started)
        if dead_at is None or sandbox.violation:
            break
        deaths.append(CellFailure(dead_at, FailureKind.KERNEL_DIED, "the kernel died or stopped answering"))
        skip.add(dead_at)
    else:
        result.notes.append(f"the kernel died {MAX_KERNEL_RESTARTS + 1} times; the run stopped")
    result.failures = cells.place(nb, sorted(deaths + current.failures, key=lambda failure: failure.index))
    _trim(result.notebook)
    result.seconds = time.monotonic() - started
    return result
