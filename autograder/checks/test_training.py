"""Compile, train and final IoU: judged from the trained model the grader loaded and evaluated itself."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from assignment.profiles import Parameters
from autograder.measuring.facts import Evaluation, Facts, Status, TrainedModel, Training
from autograder.measuring.training import close

POINTS = pytest.mark.points
BCE_NAMES = {"binary_crossentropy", "BinaryCrossentropy"}


@pytest.fixture
def training(facts: Facts) -> Training:
    return facts.training


def _trained_on_test(training: Training) -> str:
    """Why the model counts as trained on the test split (the split its IoU is measured on), or nothing. The grader
    reads it off the tf.data pipelines model.fit was given; at these sizes the weights alone cannot show it (see
    Profile.flag_test_fit)."""
    if any("test" in fit.x for fit in training.fits):
        return (
            "model.fit was given data read from the test split, the split the final IoU is measured on: train on "
            "TRAIN_SPLIT only and pass the test split as validation_data."
        )
    return ""


@pytest.fixture
def trained(training: Training) -> TrainedModel:
    """The trained model's measured settings; fails the check when there is none, or when it learned the test split
    (then every point of the section is lost, with the reason)."""
    if training.model is None:
        pytest.fail(f"there is no trained model to measure: {training.model_problem}")
    if why := _trained_on_test(training):
        pytest.fail(why)
    return training.model


def _require_learning(evaluation: Evaluation) -> None:
    """Optimizer steps and a reported history count only for a model that predicts better than a constant."""
    if evaluation.bce is not None and evaluation.constant_bce is not None and evaluation.bce >= evaluation.constant_bce:
        pytest.fail(
            f"the trained model predicts the test split no better than a constant (cross-entropy "
            f"{evaluation.bce:.3f}, constant {evaluation.constant_bce:.3f}): it was not trained; train it with "
            "model.fit(train, ...)."
        )


@pytest.fixture
def evaluation(training: Training, trained: TrainedModel) -> Evaluation:
    """The grader's own evaluation of the trained model; pending where it cannot run."""
    result = training.evaluation
    if result.status is Status.PENDING:
        pytest.skip(result.reason)
    if result.status is Status.PROBLEM:
        pytest.fail(result.reason)
    return result


@POINTS("training", 1)
def test_adam_optimizer(trained: TrainedModel) -> None:
    """compiled with the Adam optimizer"""
    assert trained.optimizer is not None, "`model` was never compiled: call model.compile(optimizer=..., loss=...)."
    assert trained.optimizer == "Adam", f"the optimizer is {trained.optimizer}; use keras.optimizers.Adam."


@POINTS("training", 1)
def test_learning_rate(trained: TrainedModel, parameters: Parameters) -> None:
    """Adam's learning rate is LEARNING_RATE"""
    assert trained.learning_rate is not None, "`model` was never compiled."
    expected = parameters.learning_rate
    assert math.isclose(trained.learning_rate, expected, rel_tol=1e-3), (
        f"the learning rate is {trained.learning_rate:g}, expected LEARNING_RATE = {expected:g}: "
        "pass learning_rate=LEARNING_RATE, not a number."
    )


@POINTS("training", 2)
def test_binary_crossentropy_loss(trained: TrainedModel) -> None:
    """compiled with binary cross-entropy"""
    assert trained.loss is not None, "`model` was never compiled with a loss."
    assert trained.loss in BCE_NAMES, (
        f"the loss is {trained.loss!r}; one sigmoid output per pixel calls for 'binary_crossentropy'."
    )


@POINTS("training", 2)
def test_trained_for_epochs(
    trained: TrainedModel, training: Training, evaluation: Evaluation, parameters: Parameters
) -> None:
    """model.fit ran EPOCHS epochs over the training split"""
    _require_learning(evaluation)
    steps = trained.iterations
    expected = training.expected_steps
    per_epoch = expected // parameters.epochs
    assert steps == expected, (
        f"the optimizer took {steps} steps; EPOCHS = {parameters.epochs} epochs of {per_epoch} batches "
        f"take {expected}: "
        "train once with model.fit(train, epochs=EPOCHS), not a fixed number."
    )


@POINTS("training", 1)
def test_validated_on_test_split(training: Training, evaluation: Evaluation, record_property: Callable) -> None:
    """model.fit validated on the test split"""
    reported = training.history.get("val_loss")
    assert reported, (
        "no validation loss was recorded: pass validation_data=test to model.fit and keep its result in `history`."
    )
    _require_learning(evaluation)
    last = reported[-1]
    measured = evaluation.test_loss
    record_property("test_loss", measured)
    if close(last, measured) or (evaluation.own_test_loss is not None and close(last, evaluation.own_test_loss)):
        return
    if evaluation.train_loss is not None and close(last, evaluation.train_loss):
        pytest.fail(
            f"the last val_loss ({last:.4f}) is the loss on the training split: pass validation_data=test, "
            "not the training data."
        )
    pytest.fail(
        f"the last val_loss ({last:.4f}) is not the trained model's loss on the test split ({measured:.4f}): "
        "pass validation_data=test."
    )


@POINTS("training", 3)
def test_final_foreground_iou(evaluation: Evaluation, run_config: dict, record_property: Callable) -> None:
    """foreground IoU on the test split reaches the profile's threshold"""
    threshold = run_config["iou_threshold"]
    record_property("foreground_iou", evaluation.iou)
    record_property("threshold", threshold)
    assert evaluation.iou >= threshold, (
        f"the trained model's foreground IoU on the test split is {evaluation.iou:.3f}, below the "
        f"{run_config['profile']['name']} profile's threshold {threshold:.2f}: check preprocessing, the architecture "
        "and the training settings above."
    )
