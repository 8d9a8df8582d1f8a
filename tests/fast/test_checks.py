"""The hidden checks on committed facts of the solution, the release and every mutant (no notebook runs)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from grading import FIXTURES, judge, judge_edited, load_fixture
from mutants import MUTANTS, Mutant

from assignment.points import MAX_POINTS, SECTIONS
from autograder import checks
from autograder.results import CheckResult, CheckStatus

CHECK_SOURCES = sorted((Path(checks.__file__).parent).glob("test_*.py"))


def _points(results: list[CheckResult]) -> dict[str, float]:
    return {key: sum(r.score for r in results if r.section == key) for key in SECTIONS}


def test_every_fixture_is_a_real_grading_of_a_known_notebook() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == {"solution", "unfilled_release", *(f"mutant_{m.name}" for m in MUTANTS)}


def test_solution_passes_every_check(tmp_path: Path) -> None:
    results = judge(tmp_path, load_fixture("solution"))
    assert all(r.status is CheckStatus.PASSED for r in results), [
        r for r in results if r.status is not CheckStatus.PASSED
    ]
    assert sum(r.score for r in results) == MAX_POINTS and len(results) == 25
    iou = next(r for r in results if r.id == "test_final_foreground_iou")
    assert 0.6 <= iou.values["foreground_iou"] <= 1 and iou.values["threshold"] == 0.6


def test_unfilled_release_gets_zero_and_says_why(tmp_path: Path) -> None:
    results = judge(tmp_path, load_fixture("unfilled_release"))
    assert sum(r.score for r in results) == 0
    messages = {r.section: r.message for r in results}
    assert "is not written yet" in messages["preprocess"] and "is not written yet" in messages["unet"]
    assert "no trained model" in messages["training"]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_points_in_its_section_with_its_message(tmp_path: Path, mutant: Mutant) -> None:
    results = judge(tmp_path, load_fixture(f"mutant_{mutant.name}"))
    assert _points(results)[mutant.section] < SECTIONS[mutant.section][1]
    failed = [r.message for r in results if r.section == mutant.section and r.status is CheckStatus.FAILED]
    assert any(mutant.message in message for message in failed), failed


def test_gpu_check_without_gpu_is_pending_not_lost(tmp_path: Path) -> None:
    fixture = load_fixture("solution")
    fixture["facts"]["training"]["evaluation"] = {
        "status": "pending",
        "reason": "the full profile is graded on a GPU and TensorFlow sees none here",
    }
    results = judge(tmp_path, fixture)
    pending = [r for r in results if r.status is CheckStatus.PENDING]
    assert {r.id for r in pending} == {
        "test_final_foreground_iou",
        "test_validated_on_test_split",
        "test_trained_for_epochs",
    }
    assert all("GPU" in r.message and r.score == 0 for r in pending)
    assert all(r.status is CheckStatus.PASSED for r in results if r not in pending)


def test_val_loss_on_the_training_split_is_named(tmp_path: Path) -> None:
    fixture = load_fixture("solution")
    training = fixture["facts"]["training"]
    reported = training["history"]["val_loss"][-1]
    training["evaluation"].update(test_loss=reported + 0.2, own_test_loss=reported + 0.2, train_loss=reported)
    result = next(r for r in judge(tmp_path, fixture) if r.id == "test_validated_on_test_split")
    assert result.status is CheckStatus.FAILED and "loss on the training split" in result.message


def test_steps_and_history_count_only_for_a_model_that_learned(tmp_path: Path) -> None:
    """A never-fitted model with forged optimizer steps and a flat forged history (found by the attack suite)."""
    fixture = load_fixture("solution")
    training = fixture["facts"]["training"]
    training["evaluation"]["truth"]["bce"] = training["evaluation"]["truth"]["constant_bce"] + 0.01
    training["history"]["loss"] = [1.0] * len(training["history"]["loss"])
    results = {r.id: r for r in judge(tmp_path, fixture)}
    for check in ("test_trained_for_epochs", "test_validated_on_test_split"):
        assert results[check].status is CheckStatus.FAILED and "it was not trained" in results[check].message


def test_facts_that_are_not_of_the_declared_types_fail_every_check_and_show_students_no_internals(
    tmp_path: Path,
) -> None:
    for change in ("missing", "out of range"):
        fixture = copy.deepcopy(load_fixture("solution"))
        if change == "missing":
            del fixture["facts"]["training"]["expected_steps"]
        else:
            fixture["facts"]["training"]["evaluation"]["truth"]["iou"] = 2.0
        results = judge(tmp_path, fixture)
        assert all(r.status is CheckStatus.FAILED and "instructor has the details" in r.message for r in results), (
            change
        )
        assert all("FactError" in r.diagnostic for r in results) and not any(
            "expected_steps" in r.message for r in results
        )


def test_training_on_the_test_split_costs_the_whole_training_section(tmp_path: Path) -> None:
    fixture = copy.deepcopy(load_fixture("solution"))
    calls = fixture["facts"]["training"]["recorded"]["calls"]
    calls.append({"how": "fit", "splits": ["train", "test"], "validation_splits": ["test"]})
    results = [r for r in judge(tmp_path, fixture) if r.section == "training"]
    assert all(r.score == 0 and "test split" in r.message for r in results), [(r.id, r.message) for r in results]
    calls[-1] = {"how": "fit", "splits": ["arrays"], "validation_splits": ["test"]}
    assert sum(r.score for r in judge(tmp_path, fixture)) == MAX_POINTS, "data the recorder cannot place costs nothing"


def test_check_weights_share_out_the_section_and_bad_markers_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A marker's number is a weight within the check's cell: a heavier check takes a larger share of the same
    section's points; a weight of 0 or a marker without one stops the checks before they run."""
    first = '@POINTS("preprocess", 3)'
    solution = load_fixture("solution")
    code, results = judge_edited(
        tmp_path / "heavier", solution, "test_preprocess.py", lambda text: text.replace(first, first[:-2] + "6)")
    )
    preprocess = [r.max_score for r in results if r.section == "preprocess"]
    assert code == pytest.ExitCode.OK and sum(preprocess) == SECTIONS["preprocess"][1] and max(preprocess) == 5
    refusals = {
        '@POINTS("preprocess", 0)': "weights must be positive whole numbers",
        '@POINTS("preprocess")': "the points marker takes (section, weight)",
        '@POINTS("attention", 3)': "name a section that is not in SECTIONS",
    }
    capsys.readouterr()
    for number, (bad, said) in enumerate(refusals.items()):
        code, _ = judge_edited(
            tmp_path / f"bad{number}", solution, "test_preprocess.py", lambda text, bad=bad: text.replace(first, bad)
        )
        assert code == pytest.ExitCode.USAGE_ERROR and said in capsys.readouterr().err, bad


def test_every_assertion_in_the_checks_carries_a_student_message() -> None:
    import ast

    for path in CHECK_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                assert node.msg is not None, (
                    f"{path.name}:{node.lineno}: a bare assert would show students nothing useful"
                )
