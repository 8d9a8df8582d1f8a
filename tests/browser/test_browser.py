"""The student notebook in a real browser: JupyterLab on 127.0.0.1, driven by headless Chromium.

JupyterLab (from the kit's .venv) serves a copy of the release notebook; tests/browser/drive_lab.py, in
its own environment with Playwright, opens it in Debian's Chromium, checks the rendered markdown and that
the self-checks' code is folded, types the `preprocess` answer, runs the cells down to the first
self-check (its message must show under its folded code) and counts red boxes. Screenshots
and the driver's findings are left in build/browser/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from kit_envs import BROWSER, ROOT, ensure_env
from mutants import RELEASE, SOLUTION

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
OUT = ROOT / "build" / "browser"
DRIVER = Path(__file__).resolve().parent / "drive_lab.py"
SETTINGS = {  # JupyterLab user settings: every cell in the page, and no news or update checks (no outside network)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
SUMMARY: list[str] = []  # printed by tests/browser/conftest.py


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _self_check_titles() -> list[str]:
    """The first lines of the release's self-check cells, in order: what JupyterLab shows on their folded input."""
    cells = nbformat.read(RELEASE, as_version=4).cells
    return [
        c.source.split("\n", 1)[0]
        for c in cells
        if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("check_")
    ]


def _preprocess_answer() -> str:
    """The solution's preprocess cell without nbgrader's markers: what a student who got it right would type."""
    cell = next(
        c
        for c in nbformat.read(SOLUTION, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "preprocess"
    )
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n", "", cell.source, flags=re.M)


@pytest.fixture(scope="module")
def jupyterlab():
    """JupyterLab on 127.0.0.1 serving a copy of the release notebook; yields the notebook's URL."""
    shutil.rmtree(OUT, ignore_errors=True)
    work = OUT / "work"
    settings = OUT / "lab-settings"
    workspaces = OUT / "lab-workspaces"
    work.mkdir(parents=True)
    shutil.copyfile(RELEASE, work / "tiny_unet.ipynb")
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    workspaces.mkdir()
    port = _free_port()
    token = secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(workspaces))
    command = [
        str(ROOT / ".venv" / "bin" / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.extension_manager=readonly",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = (OUT / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, f"JupyterLab exited:\n{(OUT / 'jupyterlab.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
            time.sleep(0.5)
        yield f"{base}/lab/tree/tiny_unet.ipynb?token={token}&reset"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def test_student_notebook_in_jupyterlab(jupyterlab: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not at {CHROMIUM}: install Debian's `chromium` "
            "(make test-browser does so as root where apt-get exists)"
        )
    python = ensure_env(BROWSER)
    answer = OUT / "preprocess_answer.py"
    answer.write_text(_preprocess_answer())
    command = [
        str(python),
        str(DRIVER),
        "--url",
        jupyterlab,
        "--answer",
        str(answer),
        "--out",
        str(OUT),
        "--chromium",
        str(CHROMIUM),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((OUT / "results.json").read_text())
    assert "error" not in results, f"{results['error']}\nsteps done: {results['steps']}; see {OUT}/failure.png"

    rows = results["table_rows"]
    assert rows[0].split(" | ")[:2] == ["Part", "Points"] and len(rows) == 6, (
        f"the points table did not render as a table: {rows}"
    )
    assert any(row.startswith("Dataset & preprocessing | 10") for row in rows), rows
    assert results["formulas"] >= 4, f"only {results['formulas']} formulas rendered in the IoU / Dice cell"
    assert "\\cap" not in results["metrics_text"] and "$" not in results["metrics_text"], (
        "raw TeX is visible in the IoU / Dice cell"
    )

    titles = _self_check_titles()
    assert len(titles) == 6 and all(t.startswith("#@title Self-check:") for t in titles), titles
    inputs = results["self_check_inputs"]
    assert [i["text"] for i in inputs] == titles, f"the self-checks' folded inputs do not show their titles: {inputs}"
    assert all(i["folded"] and i["editors"] == 0 for i in inputs), f"a self-check's code shows in JupyterLab: {inputs}"
    folded = results["folded_cells"]
    assert [c["index"] for c in folded] == [i["index"] for i in inputs], (
        f"cells other than the self-checks are folded: {folded}"
    )
    unfolded = results["unfolded"]
    refolded = results["refolded"]
    assert unfolded["editors"] == 1 and "model.optimizer" in unfolded["code"], (
        f"a click did not unfold a self-check's code: {unfolded}"
    )
    assert refolded["folded"] and refolded["editors"] == 0, (
        f"the collapser did not fold the self-check again: {refolded}"
    )

    assert "Python 3 (ipykernel)" in results["kernel"], f"no Python kernel started: {results['kernel']}"
    assert (
        "raise NotImplementedError" not in results["answer_in_editor"]
        and 'method="nearest"' in results["answer_in_editor"]
    )
    assert "self-checks passed" in results["check_output"], results["check_output"]
    after = results["check_after_run"]
    assert after["folded"] and after["editors"] == 0 and after["text"] == titles[0], (
        f"the preprocess self-check unfolded when it ran: {after}"
    )
    assert not results["red_boxes"], f"red boxes (errors or stderr) up to the first self-check: {results['red_boxes']}"
    assert results["red_boxes_after_probe"] == 1, "the red-box count does not see a cell that writes to stderr"
    assert not results["blocked_requests"], f"the page tried to reach other hosts: {results['blocked_requests'][:5]}"
    screenshots = sorted(p.name for p in OUT.glob("*.png"))
    assert len(screenshots) >= 7 and "5-folded-self-check.png" in screenshots, screenshots
    SUMMARY.append(
        f"JupyterLab + Chromium: table and {results['formulas']} formulas rendered, {len(inputs)} self-checks folded, "
        f"{results['cells_run']} cells run, self-check passed under its folded code, no red box; "
        f"screenshots in {OUT.relative_to(ROOT)}/"
    )
