"""The student notebook in a real browser: JupyterLab on 127.0.0.1, driven by headless Chromium.

JupyterLab (from the kit's .venv) serves a copy of the release notebook; tests/browser/drive_lab.py, in
its own environment with Playwright, opens it in Debian's Chromium, checks the rendered markdown, types
the `preprocess` answer, runs the cells down to the first self-check and counts red boxes. Screenshots
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


def _preprocess_answer() -> str:
    """The solution's preprocess cell without nbgrader's markers: what a student who got it right would type."""
    cell = next(c for c in nbformat.read(SOLUTION, as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade_id") == "preprocess")
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n", "", cell.source, flags=re.M)


@pytest.fixture(scope="module")
def jupyterlab():
    """JupyterLab on 127.0.0.1 serving a copy of the release notebook; yields the notebook's URL."""
    shutil.rmtree(OUT, ignore_errors=True)
    work, settings, workspaces = OUT / "work", OUT / "lab-settings", OUT / "lab-workspaces"
    work.mkdir(parents=True)
    shutil.copyfile(RELEASE, work / "tiny_unet.ipynb")
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    workspaces.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(workspaces))
    command = [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
               "--LabApp.extension_manager=readonly"] + (["--allow-root"] if os.geteuid() == 0 else [])
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
        pytest.skip(f"Chromium is not at {CHROMIUM}: install Debian's `chromium` (make test-browser does so as root where apt-get exists)")
    python = ensure_env(BROWSER)
    answer = OUT / "preprocess_answer.py"
    answer.write_text(_preprocess_answer())
    command = [str(python), str(DRIVER), "--url", jupyterlab, "--answer", str(answer), "--out", str(OUT), "--chromium", str(CHROMIUM)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((OUT / "results.json").read_text())
    assert "error" not in results, f"{results['error']}\nsteps done: {results['steps']}; see {OUT}/failure.png"

    rows = results["table_rows"]
    assert rows[0].split(" | ")[:2] == ["Part", "Points"] and len(rows) == 6, f"the points table did not render as a table: {rows}"
    assert any(row.startswith("Dataset & preprocessing | 10") for row in rows), rows
    assert results["formulas"] >= 4, f"only {results['formulas']} formulas rendered in the IoU / Dice cell"
    assert "\\cap" not in results["metrics_text"] and "$" not in results["metrics_text"], "raw TeX is visible in the IoU / Dice cell"

    assert "Python 3 (ipykernel)" in results["kernel"], f"no Python kernel started: {results['kernel']}"
    assert "raise NotImplementedError" not in results["answer_in_editor"] and 'method="nearest"' in results["answer_in_editor"]
    assert "self-checks passed" in results["check_output"], results["check_output"]
    assert not results["red_boxes"], f"red boxes (errors or stderr) up to the first self-check: {results['red_boxes']}"
    assert results["red_boxes_after_probe"] == 1, "the red-box count does not see a cell that writes to stderr"
    assert not results["blocked_requests"], f"the page tried to reach other hosts: {results['blocked_requests'][:5]}"
    screenshots = sorted(p.name for p in OUT.glob("*.png"))
    assert len(screenshots) >= 6, screenshots
    SUMMARY.append(f"JupyterLab + Chromium: table and {results['formulas']} formulas rendered, {results['cells_run']} cells run, "
                   f"self-check passed, no red box; screenshots in {OUT.relative_to(ROOT)}/")
