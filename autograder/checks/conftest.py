"""Fixtures over one submission's measured facts and its run config; turns test outcomes into typed results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assignment import points as assignment_points
from assignment.profiles import Parameters
from autograder.measuring.facts import Block, Facts, Preprocess, parse
from autograder.results import CheckResult, CheckStatus, cap, literal

GRADER_ERROR = "the grader could not complete this check; your instructor has the details"
FRESH_PROCESS = (
    " (the grader calls your functions in a fresh Python process holding only your imports, constants and functions)"
)


class Unmet(pytest.fail.Exception):
    """A precondition several checks share failed (a function the probe could not call): like a failing fixture, the
    reports state it once."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tiny-unet grader")
    group.addoption("--facts", type=Path, help="facts.json that autograder.measure wrote")
    group.addoption("--run-config", type=Path, help="run.json: the effective profile, data and sandbox of the run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(section, weight): the check's share of its self-check cell's points")
    config._grader_results = []
    config._grader_points = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every check carries a section and a weight; each self-check cell's points (assignment/points.py) are shared out
    by the weights of its checks, so each section's checks add up to its points whatever they are."""
    weights: dict[str, tuple[str, int]] = {}
    for item in items:
        marker = item.get_closest_marker("points")
        if marker is None:
            raise pytest.UsageError(f"hidden check {item.nodeid} has no points marker")
        if len(marker.args) != 2:
            raise pytest.UsageError(f"hidden check {item.nodeid}: the points marker takes (section, weight)")
        if item.name in weights:
            raise pytest.UsageError(f"two hidden checks are named {item.name}: results could not tell them apart")
        weights[item.name] = tuple(marker.args)
    try:
        config._grader_points = assignment_points.check_points(weights)
    except ValueError as error:
        raise pytest.UsageError(f"the hidden checks' points: {error}") from error


def _message(error: BaseException) -> tuple[str, str]:
    """The student-visible message of a failure (only what a check wrote for students) and the instructor's detail."""
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, pytest.fail.Exception | pytest.skip.Exception):
        return cap(error.msg), ""
    if isinstance(error, AssertionError):
        text = str(error).split("\nassert ")[0].strip()
        return (cap(text), "") if text and not text.startswith("assert ") else (GRADER_ERROR, detail)
    return GRADER_ERROR, detail


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" and not (report.failed or report.skipped):
        return
    section = item.get_closest_marker("points").args[0]
    points = item.config._grader_points[item.name]
    values = {key: float(value) for key, value in item.user_properties}
    cause = ""
    if call.excinfo is None:
        status = CheckStatus.PASSED
        message = ""
        detail = ""
    else:
        message, detail = _message(call.excinfo.value)
        status = CheckStatus.PENDING if report.skipped else CheckStatus.FAILED
        shared = call.when == "setup" or isinstance(call.excinfo.value, Unmet)  # a fixture or a precondition failed
        cause = message if shared else ""
    item.config._grader_results.append(
        CheckResult(
            id=item.name,
            section=section,
            name=(item.function.__doc__ or item.name).strip().splitlines()[0],
            max_score=points,
            score=points if status is CheckStatus.PASSED else 0,
            status=status,
            message=message,
            values=values,
            diagnostic=detail,
            cause=cause,
        )
    )


@pytest.fixture(scope="session")
def run_config(request: pytest.FixtureRequest) -> dict:
    """The effective profile (parameters, thresholds), the data kind and the sandbox of this run."""
    return json.loads(request.config.getoption("--run-config").read_text())


@pytest.fixture(scope="session")
def parameters(run_config: dict) -> Parameters:
    return Parameters(**run_config["profile"]["parameters"])


@pytest.fixture(scope="session")
def measured(request: pytest.FixtureRequest) -> Facts:
    """The typed facts (already checked for types and ranges when the grader read them)."""
    return parse(Facts, json.loads(request.config.getoption("--facts").read_text()))


@pytest.fixture
def facts(measured: Facts) -> Facts:
    """The facts; every check fails with the reason when nothing could be measured."""
    if measured.problem:
        pytest.fail(measured.problem)
    return measured


@pytest.fixture
def probed(facts: Facts) -> Callable[[str], Block | Preprocess]:
    """probed(name) -> the facts of one graded function; fails the check with the reason when it could not be called."""

    def get(name: str) -> Block | Preprocess:
        found = facts.preprocess if name == "preprocess" else facts.blocks[name]
        if found.call.ok:
            return found
        error = found.call.error
        if error.startswith("NotImplementedError"):
            raise Unmet(f"`{name}` is not written yet: it still raises NotImplementedError.")
        if error.startswith("NameError"):
            raise Unmet(f"calling `{name}` failed: {literal(error, 150)}{FRESH_PROCESS}.")
        if error:
            raise Unmet(f"calling `{name}` failed: {literal(error, 250)}")
        raise Unmet(f"`{name}` could not be called: the grader's probe stopped before it (see the run status).")

    return get
