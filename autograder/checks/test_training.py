"""Compile, train and final IoU: judged from the trained model the grader loaded and evaluated itself.

What the notebook reports (its optimizer's step counter, the losses in `history`) earns points only where the
grader's own measurement agrees; the kernel's record of how it trained (autograder/probe/recorder.py) can cost points,
never earn them. Where the profile carries preprocessing forward, the model is judged against the masks the student's
own preprocess makes, so that a preprocessing mistake is charged once, in its own section.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from assignment.profiles import Parameters
from autograder.measuring.evaluation import close
from autograder.measuring.facts import Evaluation, Facts, Recorded, Scores, Status, TrainedModel, Training

POINTS = pytest.mark.points
BCE_NAMES = {"binary_crossentropy", "BinaryCrossentropy"}
TEST_SHARE = 0.1  # a training call that saw this share of the visible test examples (and at least 2) trained on it
MOVED = 0.5  # share of the weight arrays training must have moved (honest models 0.74-0.83, fresh ones 0-0.04)
HOLDS_TEST = 0.5  # a test/train cross-entropy ratio below this: weights that hold the test split (trained ones: ~1)
HOW = {
    "fit": "model.fit",
    "train_on_batch": "train_on_batch",
    "custom loop": "a training loop of your own (optimizer steps after calls of the model)",
}
HELD_OUT = {"private": "the grader's private examples", "test": "the test split"}


@pytest.fixture
def training(facts: Facts) -> Training:
    return facts.training


def _enough(recorded: Recorded) -> int:
    return max(2, math.ceil(TEST_SHARE * recorded.test_examples))


def _trained_on_test(recorded: Recorded | None, evaluation: Evaluation) -> str:
    """Why the model counts as trained on the visible test split, or nothing: a training call whose data the recorder
    recognised (by content) as that split, or that read its files; or weights that predict the test split far better
    than the training split (they hold it: a lookup of it, say)."""
    ratio = evaluation.bce_ratio
    if ratio is not None and ratio < HOLDS_TEST:
        return (
            f"the model predicts the test split far better than the training split (cross-entropy ratio {ratio:.3f}; "
            "trained models measure about 1): its weights hold the test split. Train on TRAIN_SPLIT only."
        )
    for call in recorded.calls if recorded else []:
        if call.test_seen >= _enough(recorded) or "test" in call.splits:
            what = (
                f"{call.test_seen} of the {recorded.test_examples} test examples (recognised by their content)"
                if call.test_seen
                else "data read from the test split"
            )
            return (
                f"{HOW[call.how]} trained the model on {what}: train on TRAIN_SPLIT only, and pass the test split as "
                "validation_data."
            )
    return ""


@pytest.fixture
def trained(training: Training) -> TrainedModel:
    """The trained model's measured settings; fails the check when there is none, or when it learned the test split
    (then every point of the section is lost, with the reason)."""
    if training.model is None:
        pytest.fail(f"there is no trained model to measure: {training.model_problem}")
    if why := _trained_on_test(training.recorded, training.evaluation):
        pytest.fail(why)
    return training.model


@pytest.fixture
def evaluation(training: Training, trained: TrainedModel) -> Evaluation:
    """The grader's own evaluation of the trained model; pending where it cannot run."""
    result = training.evaluation
    if result.status is Status.PENDING:
        pytest.skip(result.reason)
    if result.status is Status.PROBLEM:
        pytest.fail(result.reason)
    return result


@pytest.fixture
def scores(evaluation: Evaluation, run_config: dict) -> Scores:
    """The scores judged: against the masks the student's preprocess makes where the profile carries preprocessing
    forward, else against the true masks."""
    return evaluation.judged(run_config["profile"].get("carry_forward", True))


def _against(evaluation: Evaluation, judged: Scores) -> str:
    return "your preprocess's masks" if judged is evaluation.own else "the true masks"


def _cause(evaluation: Evaluation, judged: Scores) -> str:
    """The likely cause upstream of a trained model that predicts poorly: the masks of another mapping of the trimap
    values that its predictions match far better, predictions that look inverted, or else preprocessing in general."""
    others = {key: iou for key, iou in evaluation.mapping_ious.items() if key != "101"}
    if judged is evaluation.truth and others:
        key, iou = max(others.items(), key=lambda item: item[1])
        if iou >= max(0.5, judged.iou + 0.2):
            mapping = ", ".join(f"{label} -> {value}" for label, value in zip("123", key, strict=True))
            return (
                f"it predicts the masks of the trimap mapping {mapping} (IoU {iou:.3f}): check the mask mapping in "
                "preprocess"
            )
    if judged.inverted_iou >= max(0.5, judged.iou + 0.2):
        return (
            f"its predictions look inverted (IoU of 1 - prediction: {judged.inverted_iou:.3f}): check the mask mapping "
            "in preprocess"
        )
    return "check preprocess and the model's output layer"


def _require_learning(training: Training, evaluation: Evaluation, judged: Scores) -> None:
    """Optimizer steps and a reported history count only for a model that predicts better than a constant; "not
    trained" only where the reported training loss did not fall either."""
    if judged.bce < judged.constant_bce:
        return
    losses = training.history.get("loss") or []
    poorly = (
        f"the model predicts {_against(evaluation, judged)} no better than a constant (cross-entropy "
        f"{judged.bce:.3f}, constant {judged.constant_bce:.3f})"
    )
    fell = f"({losses[0]:.3f} -> {losses[-1]:.3f})" if len(losses) >= 2 else ""
    # a fall of a fifth or more: it learned (the solution's falls by a third in smoke, 1e-4 for LEARNING_RATE by 7%)
    if fell and losses[-1] < 0.8 * losses[0]:
        pytest.fail(f"the training loss fell {fell} but {poorly}: {_cause(evaluation, judged)}.")
    if fell and losses[-1] < losses[0]:
        pytest.fail(
            f"the training loss barely fell {fell} and {poorly}: it learned too little; check LEARNING_RATE and EPOCHS "
            "in compile and fit."
        )
    pytest.fail(f"{poorly}: it was not trained; train it with model.fit(train, ...).")


def _never_trained(training: Training, trained: TrainedModel) -> str:
    """Why the grader sees no training in the model, or nothing."""
    if trained.moved is not None and trained.moved < MOVED:
        return (
            f"the trained model's weights are distributed as a fresh initialisation of the same model (only "
            f"{trained.moved:.0%} of its weight arrays moved): no training changed them; train it with "
            "model.fit(train, epochs=EPOCHS)."
        )
    if training.recorded is None:
        return "the grader's record of how your notebook trained is missing, so the training cannot be confirmed."
    if not training.recorded.steps:
        return (
            "no optimizer step of `model` was seen in your notebook (model.fit, train_on_batch or a loop through its "
            "optimizer): the model was not trained; train it with model.fit(train, epochs=EPOCHS)."
        )
    return ""


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
    trained: TrainedModel,
    training: Training,
    evaluation: Evaluation,
    scores: Scores,
    parameters: Parameters,
    run_config: dict,
    record_property: Callable,
) -> None:
    """model.fit ran EPOCHS epochs over the training split"""
    _require_learning(training, evaluation, scores)
    if why := _never_trained(training, trained):
        pytest.fail(why)
    steps = trained.iterations
    expected = training.expected_steps
    per_epoch = expected // parameters.epochs
    assert steps == expected, (
        f"the optimizer took {steps} steps; EPOCHS = {parameters.epochs} epochs of {per_epoch} batches "
        f"take {expected}: "
        "train once with model.fit(train, epochs=EPOCHS), not a fixed number."
    )
    seen = training.recorded.steps
    assert seen == steps, (
        f"the optimizer's step counter reads {steps}, but your notebook was seen taking {seen} training steps: the "
        "counter does not match the training; train once with model.fit(train, epochs=EPOCHS)."
    )
    losses = training.history.get("loss")
    if not losses:
        return
    measured = [loss for loss in (evaluation.own_train_loss, evaluation.train_loss) if loss is not None]
    record_property("reported_loss", losses[-1])
    low, high = run_config["profile"]["loss_agreement"]
    if measured and not any(low <= losses[-1] / loss <= high for loss in measured if loss > 0):
        pytest.fail(
            f"the last epoch's loss in `history` ({losses[-1]:.4f}) is not the trained model's loss on the training "
            f"split ({measured[0]:.4f}; a last epoch reports {low:g}-{high:g} times it): keep the result of the "
            "model.fit call that trained `model` in `history`."
        )


@POINTS("training", 1)
def test_validated_on_test_split(
    training: Training, evaluation: Evaluation, scores: Scores, record_property: Callable
) -> None:
    """model.fit validated on the test split"""
    reported = training.history.get("val_loss")
    assert reported, (
        "no validation loss was recorded: pass validation_data=test to model.fit and keep its result in `history`."
    )
    _require_learning(training, evaluation, scores)
    recorded = training.recorded
    validated = recorded is not None and any(
        call.how == "fit"
        and call.own
        and (call.validation_test_seen >= _enough(recorded) or "test" in call.validation_splits)
        for call in recorded.calls
    )
    assert validated, (
        "`history` reports a val_loss, but no model.fit call that trained `model` was seen validating on the test "
        "split: pass validation_data=test to the model.fit call that trains it."
    )
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
def test_final_foreground_iou(
    trained: TrainedModel,
    training: Training,
    evaluation: Evaluation,
    scores: Scores,
    run_config: dict,
    record_property: Callable,
) -> None:
    """foreground IoU on the held-out examples reaches the profile's threshold"""
    threshold = run_config["iou_threshold"]
    margin = run_config["profile"]["flip_margin"]
    where = HELD_OUT[evaluation.held_out]
    record_property("foreground_iou", scores.iou)
    record_property("flipped_iou", scores.flipped_iou)
    record_property("true_iou", evaluation.truth.iou)
    record_property("threshold", threshold)
    if why := _never_trained(training, trained):
        pytest.fail(why)
    assert scores.iou - scores.flipped_iou <= margin, (
        f"the foreground IoU on {where} mirrored left to right is {scores.flipped_iou:.3f}, against {scores.iou:.3f} "
        f"unmirrored: a trained U-Net stays within {margin:.2f}, a model that looks masks up by the image does not; "
        "train make_unet's model with model.fit."
    )
    assert scores.iou >= threshold, (
        f"the foreground IoU on {where} against {_against(evaluation, scores)} is {scores.iou:.3f}, below the "
        f"{run_config['profile']['name']} profile's threshold {threshold:.2f}: {_cause(evaluation, scores)}, then the "
        "architecture and the training settings above."
    )
