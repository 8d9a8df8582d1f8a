"""Compile, train and final IoU: judged from the trained model the grader loaded and evaluated itself."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from autograder.evaluation import close

POINTS = pytest.mark.points
BCE_NAMES = {"binary_crossentropy", "BinaryCrossentropy"}


@pytest.fixture
def training(facts: dict) -> dict:
    return facts["training"]


@pytest.fixture
def trained(training: dict) -> dict:
    """The trained model's measured settings; fails the check when there is none."""
    if training["model"] is None:
        pytest.fail(f"there is no trained model to measure: {training['model_problem']}")
    return training["model"]


def _require_learning(evaluation: dict) -> None:
    """Optimizer steps and a reported history count only for a model that predicts better than a constant (the grader measures it)."""
    if "bce" in evaluation and evaluation["bce"] >= evaluation["constant_bce"]:
        pytest.fail(f"the trained model predicts the test split no better than a constant (cross-entropy {evaluation['bce']:.3f}, "
                    f"constant {evaluation['constant_bce']:.3f}): it was not trained; train it with model.fit(train, ...).")


@pytest.fixture
def evaluation(training: dict, trained: dict) -> dict:
    """The grader's own evaluation of the trained model; pending where it cannot run."""
    result = training["evaluation"]
    if "pending" in result:
        pytest.skip(result["pending"])
    if "problem" in result:
        pytest.fail(result["problem"])
    return result


@POINTS("training", 1)
def test_adam_optimizer(trained: dict) -> None:
    """compiled with the Adam optimizer"""
    assert trained["optimizer"] is not None, "`model` was never compiled: call model.compile(optimizer=..., loss=...)."
    assert trained["optimizer"] == "Adam", f"the optimizer is {trained['optimizer']}; use keras.optimizers.Adam."


@POINTS("training", 1)
def test_learning_rate(trained: dict, parameters: dict) -> None:
    """Adam's learning rate is LEARNING_RATE"""
    assert trained["learning_rate"] is not None, "`model` was never compiled."
    expected = parameters["LEARNING_RATE"]
    assert math.isclose(trained["learning_rate"], expected, rel_tol=1e-3), (
        f"the learning rate is {trained['learning_rate']:g}, expected LEARNING_RATE = {expected:g}: pass learning_rate=LEARNING_RATE, not a number.")


@POINTS("training", 2)
def test_binary_crossentropy_loss(trained: dict) -> None:
    """compiled with binary cross-entropy"""
    assert trained["loss"] is not None, "`model` was never compiled with a loss."
    assert trained["loss"] in BCE_NAMES, f"the loss is {trained['loss']!r}; one sigmoid output per pixel calls for 'binary_crossentropy'."


@POINTS("training", 2)
def test_trained_for_epochs(trained: dict, training: dict, evaluation: dict, parameters: dict) -> None:
    """model.fit ran EPOCHS epochs over the training split"""
    _require_learning(evaluation)
    steps, expected = trained["iterations"], training["expected_steps"]
    per_epoch = expected // parameters["EPOCHS"]
    assert steps == expected, (
        f"the optimizer took {steps} steps; EPOCHS = {parameters['EPOCHS']} epochs of {per_epoch} batches take {expected}: "
        "train once with model.fit(train, epochs=EPOCHS), not a fixed number.")


@POINTS("training", 1)
def test_validated_on_test_split(training: dict, evaluation: dict, record_property: Callable[[str, object], None]) -> None:
    """model.fit validated on the test split"""
    reported = training["history"].get("val_loss")
    assert reported, "no validation loss was recorded: pass validation_data=test to model.fit and keep its result in `history`."
    _require_learning(evaluation)
    last, measured = reported[-1], evaluation["test_loss"]
    record_property("test_loss", measured)
    if close(last, measured) or ("own_test_loss" in evaluation and close(last, evaluation["own_test_loss"])):
        return
    if "train_loss" in evaluation and close(last, evaluation["train_loss"]):
        pytest.fail(f"the last val_loss ({last:.4f}) is the loss on the training split: pass validation_data=test, not the training data.")
    pytest.fail(f"the last val_loss ({last:.4f}) is not the trained model's loss on the test split ({measured:.4f}): pass validation_data=test.")


@POINTS("training", 3)
def test_final_foreground_iou(evaluation: dict, run_config: dict, record_property: Callable[[str, object], None]) -> None:
    """foreground IoU on the test split reaches the profile's threshold"""
    threshold = run_config["iou_threshold"]
    record_property("foreground_iou", evaluation["iou"])
    record_property("threshold", threshold)
    assert evaluation["iou"] >= threshold, (
        f"the trained model's foreground IoU on the test split is {evaluation['iou']:.3f}, below the {run_config['profile']['name']} profile's "
        f"threshold {threshold:.2f}: check preprocessing, the architecture and the training settings above.")
