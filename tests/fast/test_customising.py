"""README's Customising recipes, each followed from the one place it is made to where the grader uses it (the points
recipe: tests/fast/test_points.py; grading the full dataset: tests/fast/test_real_data.py)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import nbformat
import pytest
from grading import judge, judge_edited, load_fixture
from mutants import ROOT, SOLUTION

from assignment.points import SECTIONS
from assignment.profiles import PROFILES, Profile
from assignment.rundata import RunData
from autograder import backends, batch, measure, pipeline, run
from autograder.submission import Submission

SMOKE = PROFILES["smoke"]
EXAMPLES = {"train[:200]": 200, "test": 100, "private": 200}


def _job(tmp_path: Path, profile: Profile) -> pipeline.Job:
    sizes = {"train": 200, "test": 100, "private test": 200}
    data = RunData(tmp_path, "test data", "synthetic", tmp_path.with_name("x.private"), "synthetic", sizes)
    return pipeline.Job(profile, data, backends.REGISTRY["none"](), tmp_path, EXAMPLES)


def _key(tmp_path: Path, profile: Profile) -> str:
    """What an outcome graded under `profile` is keyed by (make grade keeps an outcome only under the same key)."""
    settings = {"profile": asdict(profile), "data": "d", "sandbox": "none"}
    return batch.key(Submission("ann", SOLUTION), settings)


def test_a_changed_threshold_reaches_the_iou_check_and_regrades(tmp_path: Path) -> None:
    raised = replace(SMOKE, iou_thresholds={**SMOKE.iou_thresholds, "synthetic": 0.95})
    config = _job(tmp_path, raised).run_config()
    assert config["iou_threshold"] == 0.95
    fixture = copy.deepcopy(load_fixture("solution"))
    fixture["run"]["iou_threshold"] = config["iou_threshold"]
    iou = next(r for r in judge(tmp_path, fixture) if r.id == "test_final_foreground_iou")
    assert iou.score == 0 and "threshold 0.95" in iou.message and iou.values["threshold"] == 0.95
    assert _key(tmp_path, raised) != _key(tmp_path, SMOKE), "outcomes graded under the old threshold are regraded"


def test_a_threshold_without_a_measurement_is_reported_as_not_measured(tmp_path: Path) -> None:
    unmeasured = replace(SMOKE, calibration={**SMOKE.calibration, "synthetic": "not measured since EPOCHS changed"})
    config = _job(tmp_path, unmeasured).run_config()
    assert config["iou_threshold_measured"] is False
    assert config["iou_threshold_basis"] == "not measured since EPOCHS changed"
    assert _job(tmp_path, SMOKE).run_config()["iou_threshold_measured"] is True


def test_changed_epochs_and_image_size_reach_the_notebook_the_measuring_and_the_checks(tmp_path: Path) -> None:
    changed = replace(SMOKE, parameters=replace(SMOKE.parameters, epochs=6, img_size=48))
    notebook, _ = run.parameterize(nbformat.read(SOLUTION, as_version=4), changed.parameters.notebook())
    injected = next(c.source for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "EPOCHS = 6" in injected and "IMG_SIZE = 48" in injected
    settings = measure.job_settings(changed, tmp_path, EXAMPLES, seed=1)
    assert (settings["epochs"], settings["img_size"]) == (6, 48), "the measuring expects the steps of 6 epochs"
    assert _job(tmp_path, changed).run_config()["profile"]["parameters"]["epochs"] == 6, "what the checks read"
    assert _key(tmp_path, changed) != _key(tmp_path, SMOKE)


NEW_CHECK = '''

@POINTS("preprocess", 2)
def test_added_by_the_course(probed: Callable) -> None:
    """preprocess can be called on the grader's inputs"""
    assert probed("preprocess").call.ok, "preprocess could not be called on the grader's inputs."
'''


def test_a_new_hidden_check_shares_its_sections_points(tmp_path: Path) -> None:
    code, results = judge_edited(
        tmp_path, load_fixture("solution"), "test_preprocess.py", lambda text: text + NEW_CHECK
    )
    assert code == pytest.ExitCode.OK
    preprocess = {r.id: r for r in results if r.section == "preprocess"}
    assert "test_added_by_the_course" in preprocess and len(preprocess) == 6
    assert sum(r.max_score for r in preprocess.values()) == SECTIONS["preprocess"][1]
    assert all(r.score == r.max_score >= 1 for r in preprocess.values())
    assert preprocess["test_added_by_the_course"].name == "preprocess can be called on the grader's inputs"


def test_calibrating_a_gpu_profile_without_a_gpu_is_refused() -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi: calibrating full here would run it")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "calibrate_profiles.py"), "full", "--seeds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2 and "measures its IoU on a GPU" in done.stderr and "nvidia-smi" in done.stderr
