"""The solution notebook, run headless on the kit's pin, on Colab's stack and on the oldest supported stack.

Each stack has its own environment (tests/kit_envs.py); the notebook runs there in a Jupyter
kernel of that environment, at a small size, on the kit's data (the real sample from ../shared when it is
there, else the synthetic set), with TF_CPP_MIN_LOG_LEVEL unset as on a student's machine. It must report
the stack's versions, run without an error, pass every self-check, show its figures and write nothing to
stderr (Jupyter's red boxes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from kit_envs import ENVS_DIR, KIT_PYTHON, ROOT, STACKS, ensure_env

from assignment import points

SUMMARY: list[str] = []  # one line per stack that passed, printed by tests/colab/conftest.py

SOLUTION = ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb"
RUNNER = Path(__file__).resolve().parent / "run_notebook.py"
SAMPLE = ROOT.parent / "shared" / "data" / "oxford_pets_sample"
PARAMETERS = {
    "IMG_SIZE": "32",
    "BATCH_SIZE": "8",
    "EPOCHS": "2",
    "BASE_FILTERS": "8",
    "TRAIN_SPLIT": '"train[:64]"',
    "TEST_SPLIT": '"test[:32]"',
}
SELF_CHECKS = tuple(points.SELF_CHECKS)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The kit's data tool, run into build/stacks/tfds (reused while its source is unchanged)."""
    directory = ENVS_DIR / "tfds"
    command = [str(KIT_PYTHON), "-m", "assignment.data", "--data-dir", str(directory)]
    if SAMPLE.is_dir():
        command += ["--source", str(SAMPLE)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, f"the kit's data tool failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return directory


@pytest.mark.parametrize("name", list(STACKS))
def test_solution_runs_cleanly(name: str, data_dir: Path) -> None:
    stack = STACKS[name]
    python = ensure_env(stack)
    out = ENVS_DIR / "runs" / name / "tiny_unet.ipynb"
    shutil.rmtree(out.parent, ignore_errors=True)
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    env["TFDS_DATA_DIR"] = str(data_dir)
    command = [str(python), str(RUNNER), str(SOLUTION), str(out), *(f"--param={k}={v}" for k, v in PARAMETERS.items())]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
    assert done.returncode == 0, f"the notebook runner failed on the {name} stack:\n{done.stderr[-3000:]}"
    report = json.loads(out.with_suffix(".json").read_text())
    cells = {cell["grade_id"]: cell for cell in report["cells"] if cell["grade_id"]}

    printed = dict(
        re.findall(r"^(Python|TensorFlow|Keras|TensorFlow Datasets):\s+(\S+)", cells["setup"]["stdout"], re.M)
    )
    assert printed.get("Python") == report["python"], (
        f"the kernel is not the {name} environment's Python: {printed} vs {report['python']}"
    )
    assert (printed.get("TensorFlow"), printed.get("Keras")) == (stack.tensorflow, stack.keras), (
        f"{name} stack reports {printed}"
    )

    errors = [f"cell {c['index']} ({c['grade_id']}): {e}" for c in report["cells"] for e in c["errors"]]
    assert not errors, f"errors on the {name} stack:\n" + "\n".join(errors)
    for grade_id in SELF_CHECKS:
        assert "self-checks passed" in cells[grade_id]["stdout"], (
            f"{grade_id} on the {name} stack printed {cells[grade_id]['stdout']!r}"
        )
    stderr = [f"cell {c['index']} ({c['grade_id']}): {c['stderr'][:400]!r}" for c in report["cells"] if c["stderr"]]
    assert not stderr, f"stderr output (red boxes) on the {name} stack:\n" + "\n".join(stderr)

    figures = ["visualise", "plot_history", "predictions"] + (["plot_model"] if shutil.which("dot") else [])
    missing = [grade_id for grade_id in figures if not cells[grade_id]["images"]]
    assert not missing, f"no figure from {missing} on the {name} stack"
    assert "foreground IoU" in cells["evaluate"]["stdout"]
    SUMMARY.append(
        f"{name} ok (Python {report['python']}, TensorFlow {stack.tensorflow}, Keras {stack.keras}, "
        f"{report['seconds']:.0f} s)"
    )
