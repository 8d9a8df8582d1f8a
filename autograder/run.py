"""Run a notebook headless under a profile, then run probe code in the same kernel.

The profile's values are injected after the `parameters` cell with papermill; nbclient
executes every cell in a fresh kernel with a per-cell and a total time limit. An error or a
timeout in one cell is recorded and the next cell runs; a dead kernel is restarted, the cells
before the fatal one are replayed and the fatal one is skipped.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from papermill.parameterize import parameterize_notebook

from assignment.profiles import Profile

MAX_KERNEL_RESTARTS = 2


@dataclass
class CellFailure:
    """A cell that did not finish cleanly."""

    index: int
    kind: str  # "error", "timeout", "kernel died", "not run"
    detail: str


@dataclass
class RunResult:
    """What happened when the notebook ran."""

    notebook: nbformat.NotebookNode
    failures: list[CellFailure] = field(default_factory=list)
    probe_failures: list[CellFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        kinds = {f.kind for f in self.failures}
        for kind in ("kernel died", "timeout", "error"):
            if kind in kinds:
                cells = [str(f.index + 1) for f in self.failures if f.kind == kind]
                more = f" and {len(cells) - 4} more" if len(cells) > 5 else ""
                return f"{kind} in cell {', '.join(cells[:4] if more else cells)}{more}"
        return "total time limit reached" if "not run" in kinds else "ok"

    def describe(self, failure: CellFailure) -> str:
        """One line naming the cell (numbered from 1, with its first line) and what went wrong."""
        lines = self.notebook.cells[failure.index].source.strip().splitlines() if 0 <= failure.index < len(self.notebook.cells) else []
        where = f"cell {failure.index + 1}" + (f" `{lines[0][:60]}`" if lines else "")
        detail = failure.detail.strip().splitlines()
        return f"{where}: {detail[0] if detail else failure.kind}"


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
    nb.metadata.setdefault("kernelspec", {"name": "python3", "language": "python", "display_name": "Python 3"})
    nb.metadata["kernelspec"]["name"] = "python3"
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.setdefault("papermill", {})
    return parameterize_notebook(nb, parameters, comment="Injected by the grader's profile"), notes


class _Session:
    """One kernel running the notebook's cells, recording every cell that fails."""

    def __init__(self, nb: nbformat.NotebookNode, workdir: Path):
        self.client = NotebookClient(
            nb,
            kernel_name="python3",
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "cell time limit reached", "traceback": []},
            resources={"metadata": {"path": str(workdir)}},
            on_cell_error=self._record_error,
        )
        self.failures: list[CellFailure] = []

    def _record_error(self, cell: nbformat.NotebookNode, cell_index: int, execute_reply: dict) -> None:
        content = execute_reply["content"]
        kind = "timeout" if content.get("ename") == "CellTimeoutError" else "error"
        self.failures.append(CellFailure(cell_index, kind, f"{content.get('ename')}: {content.get('evalue')}"))

    def run(self, cell: nbformat.NotebookNode, index: int, limit: float) -> None:
        self.client.timeout = max(1, int(limit))
        self.client.execute_cell(cell, index)


def execute(
    nb: nbformat.NotebookNode,
    profile: Profile,
    workdir: Path,
    env: dict[str, str],
    probes: list[tuple[str, str, int]],
) -> RunResult:
    """Run every cell of `nb` under `profile`, then each probe (name, source, timeout) in the same kernel."""
    started = time.monotonic()
    nb, notes = parameterize(nb, profile.parameters)
    result = RunResult(nb, notes=notes)
    skip: set[int] = set()
    for _attempt in range(MAX_KERNEL_RESTARTS + 1):
        session = _Session(nb, workdir)
        dead_at, probing = None, None
        with session.client.setup_kernel(env=env, stderr=subprocess.DEVNULL):  # cell output still arrives over the kernel protocol
            try:
                for index, cell in enumerate(nb.cells):
                    if index in skip or cell.cell_type != "code":
                        continue
                    remaining = profile.total_timeout - (time.monotonic() - started)
                    if remaining <= 0:
                        session.failures.append(CellFailure(index, "not run", "total time limit reached before this cell"))
                        continue
                    dead_at = index
                    session.run(cell, index, min(profile.cell_timeout, remaining))
                dead_at = None
                for probing, source, timeout in probes:
                    nb.cells.append(nbformat.v4.new_code_cell(source))  # nbclient stores outputs in the notebook
                    before = len(session.failures)
                    try:
                        session.run(nb.cells[-1], len(nb.cells) - 1, timeout)
                    finally:
                        nb.cells.pop()
                    result.probe_failures += [CellFailure(f.index, f.kind, f"{probing}: {f.detail}") for f in session.failures[before:]]
                    del session.failures[before:]
            except DeadKernelError:
                if probing is not None:
                    result.probe_failures.append(CellFailure(-1, "kernel died", f"{probing}: the kernel died while probing"))
        if dead_at is None:
            result.failures = [f for f in result.failures if f.kind == "kernel died"] + session.failures
            break
        result.failures.append(CellFailure(dead_at, "kernel died", "the kernel died (out of memory, or a crash in native code)"))
        skip.add(dead_at)
    else:
        result.notes.append(f"the kernel died {MAX_KERNEL_RESTARTS + 1} times; probing stopped")
    result.seconds = time.monotonic() - started
    return result
