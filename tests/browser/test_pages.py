"""The grader's own pages in a real browser: a student's feedback.html and the batch's report.html in headless Chromium.

The pages are built here from outcomes and facts made in code (no grading) into a temporary OUT, then
tests/browser/drive_pages.py opens them from file:// in Debian's Chromium (Playwright, from the browser
environment): no console or page error, no request other than file: and data:, every image decoded, the report's
table sorts. Screenshots: build/browser/feedback.png, feedback-untrained.png and report.png.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from kit_envs import BROWSER, ROOT, ensure_env

from autograder import batch, dashboard, report
from autograder.measuring.facts import (
    Block,
    Call,
    Evaluation,
    Facts,
    Picture,
    Prediction,
    Preprocess,
    Scores,
    Status,
    Training,
)
from autograder.results import CellFailure, CheckResult, CheckStatus, FailureKind, Outcome
from autograder.submission import Submission

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
OUT = ROOT / "build" / "browser"
DRIVER = Path(__file__).resolve().parent / "drive_pages.py"
RUN = {"profile": {"name": "smoke"}, "data": {"kind": "synthetic"}, "iou_threshold": 0.6}
HOSTILE = "<script>alert(1)</script> <img src=http://example.invalid/x.png> [click](http://example.invalid)"
CODE = """def scale_{i}(numbers, factor={i}):
    scaled = []
    for number in numbers:
        if number < 0:
            number = -number
        scaled.append(number * factor + 1)
    return scaled, sum(scaled)
"""


def _picture(array: np.ndarray) -> Picture:
    data = np.ascontiguousarray(array, np.uint8)
    return Picture([int(n) for n in data.shape], base64.b64encode(data.tobytes()).decode())


def _pets(size: int = 64) -> list[Prediction]:
    """Six test images: a striped ellipse (the pet) on a noisy background, its mask, a slightly wrong prediction."""
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[:size, :size] / size
    shown = []
    for i in range(6):
        pet = ((ys - 0.5) / 0.3) ** 2 + ((xs - 0.4 - i / 30) / (0.2 + i / 40)) ** 2 < 1
        background = rng.integers(40, 120, (size, size, 3)) * np.array([0.6 + i / 10, 0.8, 0.5])
        image = np.where(
            pet[..., None], [200, 160 + 10 * i, 220] * (0.8 + 0.2 * np.sin(xs * 40))[..., None], background
        )
        guess = np.clip(np.roll(pet, i - 2, axis=1) * 235 + rng.integers(0, 20, pet.shape), 0, 255)
        union = np.logical_or(pet, guess > 127).sum()
        shown.append(
            Prediction(
                _picture(image),
                _picture(pet * 255),
                _picture(guess),
                float(np.logical_and(pet, guess > 127).sum() / union),
            )
        )
    return shown


def _facts(trained: bool) -> Facts:
    call = Call(ok=True)
    if trained:
        history = {"loss": [0.58, 0.24, 0.1, 0.07], "val_loss": [0.41, 0.12, 0.07, 0.06]}
        scores = Scores(iou=0.842, flipped_iou=0.84, inverted_iou=0.02, bce=0.06, constant_bce=0.5)
        evaluation = Evaluation(Status.OK, held_out="private", truth=scores, test_loss=0.06)
        training = Training(100, 200, history, evaluation, baseline_iou=0.2, predictions=_pets())
    else:
        training = Training(
            0,
            0,
            {},
            Evaluation(Status.PROBLEM, "there is no trained model to evaluate"),
            model_problem="trained.keras was not written",
        )
    unprobed = Call(ok=False, error="not probed: the pages draw only the training facts")
    return Facts(1, call, Preprocess(unprobed, 64), {"make_unet": Block(unprobed)}, training)


def _outcome(student: str, lost: dict[str, str] | None = None, **kwargs) -> Outcome:
    """Six checks, those named in `lost` failed with their message; an IoU measured unless the IoU check failed."""
    lost = lost or {}
    trained = "final_foreground_iou" not in lost
    rows = [
        ("preprocess", 10, "mask_nearest"),
        ("encoder", 30, "encoder_block"),
        ("decoder", 20, "decoder_block"),
        ("unet", 30, "make_unet"),
        ("training", 7, "compile_and_fit"),
        ("training", 3, "final_foreground_iou"),
    ]
    checks = []
    for section, points, name in rows:
        values = {"foreground_iou": 0.842, "threshold": 0.6} if name == "final_foreground_iou" and trained else {}
        status = CheckStatus.FAILED if name in lost else CheckStatus.PASSED
        checks.append(
            CheckResult(
                f"test_{name}",
                section,
                name.replace("_", " "),
                points,
                0 if name in lost else points,
                status,
                lost.get(name, ""),
                values,
            )
        )
    return Outcome(student, checks=checks, sandbox="bwrap", **{"seconds": 61.0, **kwargs})


def _batch(root: Path) -> Path:
    """OUT with a trained student, her copy, one that never trained and a hostile one, and their manifest."""
    out = root / "out"
    subs = root / "submissions"
    subs.mkdir(parents=True)
    failures = [
        CellFailure(33, FailureKind.ERROR, "NotImplementedError:", "model.compile("),
        CellFailure(34, FailureKind.TIMEOUT, "the cell ran past 180 s", "history = model.fit("),
    ]
    untrained = "there is no trained model to measure: trained.keras was not written"
    students = [
        (_outcome("ana"), _facts(True)),
        (_outcome("ben", {"mask_nearest": "`mask` holds 3 values; expected 0 and 1"}, seconds=75.0), _facts(True)),
        (
            _outcome(
                "cy",
                {
                    "mask_nearest": "`preprocess` is not written yet",
                    "compile_and_fit": untrained,
                    "final_foreground_iou": untrained,
                },
                failures=failures,
                seconds=190.0,
            ),
            _facts(False),
        ),
        (_outcome("mallory", {"encoder_block": f"`{HOSTILE}` {HOSTILE}"}, notes=[HOSTILE], seconds=58.0), _facts(True)),
    ]
    release = nbformat.read(dashboard.RELEASE, as_version=4)
    listed = []
    for done, measured in students:
        report.write_student(done, out / done.student, "visible", measured, RUN)
        nb = copy.deepcopy(release)
        for i, cell in enumerate(nb.cells):
            if cell.metadata.get("nbgrader", {}).get("solution") and done.student in ("ana", "ben"):
                cell.source = CODE.format(i=i)
        nbformat.write(nb, subs / f"{done.student}.ipynb")
        listed.append(Submission(done.student, subs / f"{done.student}.ipynb"))
    batch.write_manifest(out, listed, subs)
    dashboard.build(out)
    return out


def test_pages_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not at {CHROMIUM}: install Debian's `chromium` (make test-browser does so as root)")
    out = _batch(tmp_path)
    python = ensure_env(BROWSER)
    pages = {
        "feedback": out / "ben" / "feedback.html",
        "feedback-untrained": out / "cy" / "feedback.html",
        "report": out / "report.html",
    }
    command = [str(python), str(DRIVER), "--out", str(OUT), "--chromium", str(CHROMIUM)]
    command += [arg for name, path in pages.items() for arg in ("--page", f"{name}={path.as_uri()}")]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((OUT / "pages.json").read_text())
    assert "error" not in results, results["error"]
    for name, found in results.items():
        assert not found["console_errors"] and not found["page_errors"], (name, found)
        assert not found["blocked"], f"{name} tried to load {found['blocked']}"
        assert all(url.startswith(("file:", "data:")) for url in found["requests"]), (name, found["requests"])
        assert all(width > 0 and height > 0 for width, height in found["images"]), (name, found["images"])
        assert (OUT / f"{name}.png").stat().st_size > 10_000
    assert len(results["feedback"]["images"]) == 3 and not results["feedback-untrained"]["images"]
    assert {"Points by section", "Points lost", "Training", "Predictions"} <= set(results["feedback"]["headings"])
    assert "Cells that did not run cleanly" in results["feedback-untrained"]["headings"]
    assert len(results["report"]["images"]) == 4 and "Copied work (1 pair)" in results["report"]["headings"]
    sorting = results["report"]["sorting"]
    assert (
        sorting["ascending"] == ["mallory", "cy", "ben", "ana"] and sorting["descending"] == sorting["ascending"][::-1]
    ), sorting
