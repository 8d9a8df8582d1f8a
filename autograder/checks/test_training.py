"""Compile, train and final IoU [10]: the trained model is re-evaluated by the grader on its own test split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assignment.profiles import Profile
from autograder.checks.blocks import Facts

POINTS = pytest.mark.points


@pytest.fixture(scope="module")
def evaluation(facts: Facts, facts_dir: Path, profile: Profile, request: pytest.FixtureRequest) -> dict[str, float]:
    """Foreground IoU of the submission's trained model on the grader's own test split."""
    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    facts("training")
    path = facts_dir / "model.keras"
    if not path.is_file():
        pytest.fail("there is no trained `model` to evaluate: build it with make_unet and keep it in the variable `model`.")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - any load failure is the submission's
        pytest.fail(f"the trained model could not be loaded for evaluation ({type(error).__name__}: {error}); avoid Lambda layers and custom objects.")
    size = int(model.input_shape[1])

    def reference(example: dict) -> tuple:
        image = tf.image.resize(example["image"], (size, size), method="bilinear") / 255.0
        mask = tf.image.resize(example["segmentation_mask"], (size, size), method="nearest")
        return image, tf.cast(mask != 2, tf.float32)

    split = profile.parameters["TEST_SPLIT"]
    data_dir = request.config.getoption("--data-dir")
    test = tfds.load("oxford_iiit_pet", split=split, data_dir=str(data_dir) if data_dir else None).map(reference).batch(16)
    iou = keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    for images, masks in test:
        probabilities = model(images, training=False)
        iou.update_state(masks, probabilities)
    return {"iou": float(iou.result())}


@POINTS("training", 1)
def test_adam_optimizer(facts: Facts) -> None:
    """compiled with the Adam optimizer"""
    found = facts("training")
    assert found["has_model"], "there is no Keras model in the variable `model`."
    assert found.get("compiled"), "`model` was never compiled: call model.compile(optimizer=..., loss=...)."
    assert found["optimizer"] == "Adam", f"the optimizer is {found['optimizer']}; use keras.optimizers.Adam."


@POINTS("training", 1)
def test_learning_rate(facts: Facts, profile: Profile) -> None:
    """Adam's learning rate is LEARNING_RATE"""
    found = facts("training")
    assert found.get("compiled"), "`model` was never compiled."
    expected = profile.parameters["LEARNING_RATE"]
    assert np.isclose(found["learning_rate"], expected, rtol=1e-3), (
        f"the learning rate is {found['learning_rate']:g}, expected LEARNING_RATE = {expected:g}: pass learning_rate=LEARNING_RATE, not a number.")


@POINTS("training", 2)
def test_binary_crossentropy_loss(facts: Facts) -> None:
    """compiled with binary cross-entropy"""
    found = facts("training")
    assert found.get("compiled"), "`model` was never compiled."
    assert found["loss"] in {"binary_crossentropy", "BinaryCrossentropy"}, (
        f"the loss is {found['loss']!r}; one sigmoid output per pixel calls for 'binary_crossentropy'.")


@POINTS("training", 2)
def test_trained_for_epochs(facts: Facts, profile: Profile) -> None:
    """model.fit ran for EPOCHS epochs"""
    found = facts("training")
    assert "history" in found, "no training history: keep the result of model.fit(...) in the variable `history`."
    epochs = len(found["history"].get("loss", []))
    expected = profile.parameters["EPOCHS"]
    assert epochs == expected, f"training ran {epochs} epochs, expected EPOCHS = {expected}: pass epochs=EPOCHS, not a number."


@POINTS("training", 1)
def test_validated_on_test_split(facts: Facts) -> None:
    """model.fit validated on the test split"""
    found = facts("training")
    assert "val_loss" in found.get("history", {}), "no validation loss was recorded: pass validation_data=test to model.fit."
    reported = found["history"]["val_loss"][-1]
    assert "loss_on_test" in found, "the notebook has no `test` dataset to compare the validation loss with: keep the given pipeline."
    if "loss_on_train" in found and abs(reported - found["loss_on_train"]) <= 1e-3 * max(1.0, reported):
        pytest.fail(f"the last val_loss ({reported:.4f}) is the loss on `train`: pass validation_data=test, not the training data.")
    assert abs(reported - found["loss_on_test"]) <= 1e-3 * max(1.0, reported), (
        f"the last val_loss ({reported:.4f}) is not the trained model's loss on `test` ({found['loss_on_test']:.4f}): pass validation_data=test.")


@pytest.mark.iou
@POINTS("training", 3)
def test_final_foreground_iou(
    profile: Profile, iou_threshold: float, request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> None:
    """foreground IoU on the test split reaches the profile's threshold"""
    if profile.needs_gpu:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            pytest.skip(f"the {profile.name} profile's IoU check needs a GPU and TensorFlow sees none")
    evaluation = request.getfixturevalue("evaluation")
    record_property("foreground IoU", f"{evaluation['iou']:.3f} (threshold {iou_threshold:.2f})")
    assert evaluation["iou"] >= iou_threshold, (
        f"the trained model's foreground IoU on the test split is {evaluation['iou']:.3f}, below the {profile.name} profile's "
        f"threshold {iou_threshold:.2f}: check preprocessing, the architecture and the training settings above.")
