"""The grader's own evaluation of a trained model on its own copy of the data (trusted).

The splits are preprocessed by the grader's reference (bilinear image / 255, nearest mask != 2)
once per process and kept, so a batch decodes them once.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from assignment.data import DATASET, RunData
from assignment.profiles import Profile

LOSS_TOLERANCE = 1e-3  # relative: the reported val_loss must equal the grader's test loss this closely


@functools.cache
def split_size(data_dir: Path, split: str) -> int:
    """Examples in `split` (a tfds split string such as "train[:200]")."""
    import tensorflow_datasets as tfds

    return int(tfds.builder(DATASET, data_dir=str(data_dir)).info.splits[split].num_examples)


@functools.cache
def _batches(data_dir: Path, split: str, size: int, batch: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def reference(example: dict) -> tuple:
        image = tf.cast(tf.image.resize(example["image"], (size, size), method="bilinear"), tf.float32) / 255.0
        mask = tf.image.resize(example["segmentation_mask"], (size, size), method="nearest")
        return image, tf.cast(mask != 2, tf.float32)

    dataset = tfds.load(DATASET, split=split, data_dir=str(data_dir)).map(reference).batch(batch)
    return tuple((images.numpy(), masks.numpy()) for images, masks in dataset)


def _loss_and_iou(model, batches: tuple) -> dict[str, float]:
    """The compiled loss as Keras reports val_loss (batch means weighted by batch size), the foreground IoU, and the
    binary cross-entropy of the model and of the best constant prediction (a model that learned nothing scores that)."""
    import keras

    iou = keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    total, bce, foreground, count, pixels = 0.0, 0.0, 0.0, 0, 0
    for images, masks in batches:
        probabilities = model(images, training=False)
        total += float(model.compute_loss(x=images, y=masks, y_pred=probabilities, training=False)) * len(images)
        bce += float(np.sum(keras.losses.binary_crossentropy(masks, probabilities)))
        foreground, count, pixels = foreground + float(np.sum(masks)), count + len(images), pixels + int(np.prod(masks.shape[:-1]))
        iou.update_state(masks, probabilities)
    p = min(max(foreground / max(pixels, 1), 1e-7), 1 - 1e-7)
    return {"loss": total / max(count, 1), "iou": float(iou.result()), "bce": bce / max(pixels, 1),
            "constant_bce": -(p * math.log(p) + (1 - p) * math.log(1 - p))}


def close(reported: float, measured: float) -> bool:
    return abs(reported - measured) <= LOSS_TOLERANCE * max(1.0, abs(measured))


def gpu_missing(profile: Profile) -> str | None:
    """Why evaluation must wait, if the profile needs a GPU and TensorFlow sees none here."""
    import tensorflow as tf

    if profile.needs_gpu and not tf.config.list_physical_devices("GPU"):
        return f"the {profile.name} profile is graded on a GPU and TensorFlow sees none here"
    return None


def evaluate(model, profile: Profile, data: RunData, reported_val_loss: float | None, own_test: tuple | None) -> dict:
    """Test loss and foreground IoU on the grader's reference data. When the reported val_loss is not that test
    loss: the loss on the test split as the submission's own preprocess prepared it (`own_test`, arrays from the
    probe process) and the loss on the training split."""
    waiting = gpu_missing(profile)
    if waiting:
        return {"pending": waiting}
    p = profile.parameters
    size, batch = int(p["IMG_SIZE"]), int(p["BATCH_SIZE"])
    if list(model.input_shape[1:]) != [size, size, 3]:
        return {"problem": f"the trained model takes inputs of shape {tuple(model.input_shape[1:])}, not (IMG_SIZE, IMG_SIZE, 3) = {(size, size, 3)}"}
    test = _loss_and_iou(model, _batches(data.path, str(p["TEST_SPLIT"]), size, batch))
    result = {"test_loss": test["loss"], "iou": test["iou"], "bce": test["bce"], "constant_bce": test["constant_bce"]}
    if reported_val_loss is None or close(reported_val_loss, test["loss"]):
        return result
    if own_test is not None:
        images, masks = own_test
        result["own_test_loss"] = _loss_and_iou(model, tuple((images[i : i + batch], masks[i : i + batch]) for i in range(0, len(images), batch)))["loss"]
    result["train_loss"] = _loss_and_iou(model, _batches(data.path, str(p["TRAIN_SPLIT"]), size, batch))["loss"]
    return result
