"""Fixtures over one submission's probed facts, and the collector that turns test outcomes into points.

Run as: pytest autograder/checks --facts DIR --profile NAME --data-dir DIR --results FILE
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assignment.points import SECTIONS
from assignment.profiles import PROFILES, Profile
from autograder.checks.blocks import Facts


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tiny-unet grader")
    group.addoption("--facts", type=Path, help="the facts folder a probe wrote")
    group.addoption("--profile", default="smoke", choices=sorted(PROFILES))
    group.addoption("--data-dir", type=Path, help="TFDS data dir with the test split")
    group.addoption("--data-kind", default="real", choices=["real", "synthetic"], help="which IoU threshold applies")
    group.addoption("--results", type=Path, help="where to write the per-check results (JSON)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(section, points): what a check is worth")
    config.addinivalue_line("markers", "gpu: needs a GPU under this profile")
    config.addinivalue_line("markers", "iou: the final IoU check")
    config._grader_results = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    profile = PROFILES[config.getoption("--profile")]
    for item in items:
        if profile.needs_gpu and "iou" in item.keywords:
            item.add_marker(pytest.mark.gpu)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("points")
    if marker is None or (report.when != "call" and not (report.failed or report.skipped)):
        return
    section, points = marker.args
    if call.excinfo is None:
        status, message = "passed", "; ".join(f"{key}: {value}" for key, value in item.user_properties)
    elif report.skipped:
        status, message = "skipped", str(call.excinfo.value.msg if hasattr(call.excinfo.value, "msg") else call.excinfo.value)
    else:
        error = call.excinfo.value
        message = str(error) if isinstance(error, AssertionError | pytest.fail.Exception) else call.excinfo.exconly()
        status, message = "failed", message.split("\nassert ")[0].strip()
    item.config._grader_results.append({
        "id": item.nodeid.split("::")[-1], "section": section, "title": SECTIONS[section][0],
        "name": (item.function.__doc__ or item.name).strip().splitlines()[0],
        "max_score": points, "score": points if status == "passed" else 0, "status": status, "output": message,
    })


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--results")
    if path:
        path.write_text(json.dumps(session.config._grader_results, indent=1))


@pytest.fixture(scope="session")
def profile(request: pytest.FixtureRequest) -> Profile:
    return PROFILES[request.config.getoption("--profile")]


@pytest.fixture(scope="session")
def iou_threshold(request: pytest.FixtureRequest, profile: Profile) -> float:
    return profile.iou_thresholds[request.config.getoption("--data-kind")]


@pytest.fixture(scope="session")
def facts_dir(request: pytest.FixtureRequest) -> Path:
    return request.config.getoption("--facts")


@pytest.fixture(scope="session")
def facts(facts_dir: Path) -> Facts:
    """facts(name) -> the probe's JSON for `name`; fails the check with the probe's error if it could not run."""

    def load(name: str) -> dict:
        path = facts_dir / f"{name}.json"
        if not path.is_file():
            pytest.fail(f"`{name}` could not be probed: the notebook's kernel did not get that far (see the run status).")
        found = json.loads(path.read_text())
        if not found["ok"] and found["error"].startswith("NotImplementedError"):
            pytest.fail(f"`{name}` is not written yet: it still raises NotImplementedError.")
        if not found["ok"]:
            pytest.fail(f"calling `{name}` failed: {found['error']}")
        return found

    return load


@pytest.fixture(scope="session")
def img_size(facts: Facts) -> int:
    return int(facts("settings")["values"].get("IMG_SIZE", 0))


@pytest.fixture(scope="session")
def preprocess_outputs(facts: Facts, facts_dir: Path) -> dict[str, np.ndarray]:
    facts("preprocess")
    return dict(np.load(facts_dir / "preprocess_outputs.npz"))
