"""The trained model the notebook left: its compile settings and steps, and the grader's own evaluation of it on
its own copy of the data (preprocessed by the grader's reference: bilinear image / 255, nearest mask != 2)."""

from __future__ import annotations

import base64
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from . import configs, files
from .facts import Evaluation, FactError, Fit, Picture, Prediction, Status, TrainedModel, Training, parse

DATASET = "oxford_iiit_pet"
LOSS_TOLERANCE = 1e-3  # relative: a reported val_loss equals a measured loss this closely
PICTURES = 6  # test images shown to the student
PICTURE_SIZE = 128  # largest side of a picture
REFERENCE_LIMIT = 64 << 20  # bytes of the precomputed reference splits; larger ones are read from the data here


def close(reported: float, measured: float) -> bool:
    return abs(reported - measured) <= LOSS_TOLERANCE * max(1.0, abs(measured))


def reference_split(data_dir: str, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`split` as the reference preprocesses it (bilinear image / 255, nearest mask != 2): images and masks."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def reference(example: dict) -> tuple:
        image = tf.cast(tf.image.resize(example["image"], (size, size), method="bilinear"), tf.float32) / 255.0
        mask = tf.image.resize(example["segmentation_mask"], (size, size), method="nearest")
        return image, tf.cast(mask != 2, tf.float32)

    pairs = [
        (image.numpy(), mask.numpy())
        for image, mask in tfds.load(DATASET, split=split, data_dir=data_dir).map(reference)
    ]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def save_reference(data_dir: str, splits: dict[str, str], size: int, path: str) -> None:
    """The reference splits as one .npz ({name}_images, {name}_masks): computed once per batch by the grader, so
    that no measuring process pays for tfds and the resizing."""
    arrays = {}
    for name, split in splits.items():
        arrays[f"{name}_images"], arrays[f"{name}_masks"] = reference_split(data_dir, split, size)
    np.savez(path, **arrays)


def batches(job: dict, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The `name` ("train" or "test") split as the reference preprocesses it, in the profile's batches: from the
    grader's precomputed reference when it is there, else from the data."""
    names = [f"{split}_{kind}" for split in ("train", "test") for kind in ("images", "masks")]
    try:
        saved = files.arrays(Path(job["folder"]) / "reference.npz", names, REFERENCE_LIMIT)
        images = saved[f"{name}_images"]
        masks = saved[f"{name}_masks"]
    except (files.Refused, KeyError):
        images, masks = reference_split(job["data_dir"], job[f"{name}_split"], job["img_size"])
    size = job["batch_size"]
    return [(images[i : i + size], masks[i : i + size]) for i in range(0, len(images), size)]


def load(path: Path, limit: int):
    """The trained model from its .keras file, after checking the archive and its config, loaded from a copy."""
    import keras

    data = files.read(path, limit)
    archive = files.archive(
        data, {"config.json": files.FILE_LIMIT, "metadata.json": 1 << 20, "model.weights.h5": limit}, path.name
    )
    if "model.weights.h5" not in archive.namelist():
        raise files.Refused("trained.keras holds no weights")
    try:
        configs.check(json.loads(archive.read("config.json")))
    except (KeyError, ValueError) as error:
        raise files.Refused("trained.keras holds no readable model config") from error
    with tempfile.TemporaryDirectory() as private:
        copy = Path(private) / "trained.keras"
        copy.write_bytes(data)
        return keras.saving.load_model(copy, safe_mode=True, compile=True)


def history(folder: Path) -> dict[str, list[float]]:
    """The losses per epoch the notebook reported (a claim: shown, and checked against the grader's evaluation)."""
    try:
        found = json.loads(files.read(folder / "history.json", 1 << 20))
        series = {
            key: [float(v) for v in found[key][:1000]]
            for key in ("loss", "val_loss")
            if isinstance(found.get(key), list)
        }
    except (files.Refused, ValueError, TypeError, AttributeError, OverflowError, RecursionError):
        return {}
    return {key: values for key, values in series.items() if all(math.isfinite(v) and abs(v) < 1e9 for v in values)}


def fits(folder: Path) -> list[Fit]:
    """What each model.fit call trained and validated on, as the kernel's recorder saw the pipelines it was given."""
    try:
        return parse(list[Fit], json.loads(files.read(folder / "fits.json", 1 << 20)), "fits")[:100]
    except (files.Refused, ValueError, FactError, RecursionError):
        return []


def settings(model) -> TrainedModel:
    optimizer = getattr(model, "optimizer", None)
    loss = getattr(model, "loss", None)
    if not isinstance(loss, str | None):
        loss = getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)
    rate = float(np.asarray(optimizer.learning_rate)) if optimizer is not None else None
    return TrainedModel(
        input_shape=[None if n is None else int(n) for n in model.input_shape],
        params=int(model.count_params()),
        optimizer=type(optimizer).__name__ if optimizer is not None else None,
        learning_rate=rate if rate is not None and math.isfinite(rate) else None,
        iterations=int(np.asarray(optimizer.iterations)) if optimizer is not None else 0,
        loss=files.text(loss, 200) if loss is not None else None,
    )


def _step(model, size: int):
    """One batch's probabilities, compiled loss and per-pixel cross-entropy, as one TensorFlow function traced once
    for any batch size."""
    import keras
    import tensorflow as tf

    shapes = [tf.TensorSpec([None, size, size, 3], tf.float32), tf.TensorSpec([None, size, size, 1], tf.float32)]

    @tf.function(input_signature=shapes)
    def step(images, masks):
        probabilities = model(images, training=False)
        loss = model.compute_loss(x=images, y=masks, y_pred=probabilities, training=False)
        return probabilities, loss, keras.losses.binary_crossentropy(masks, probabilities)

    return step


def _per_example(model, split: list[tuple[np.ndarray, np.ndarray]], step) -> dict:
    """The compiled loss (batch means weighted by batch size, as Keras reports val_loss), foreground IoU, per-example
    cross-entropy, and the predicted probabilities of the first batch."""
    import keras

    iou = keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    total = 0.0
    count = 0
    losses = []
    first = None
    for images, masks in split:
        probabilities, loss, bce = step(images, masks)
        total += float(loss) * len(images)
        losses.append(np.asarray(bce, np.float64).mean(axis=(1, 2)))
        iou.update_state(masks, probabilities)
        count += len(images)
        first = np.asarray(probabilities, np.float32) if first is None else first
    return {"loss": total / max(count, 1), "iou": float(iou.result()), "losses": np.concatenate(losses), "first": first}


def _picture(array: np.ndarray) -> Picture:
    data = np.ascontiguousarray(array, np.uint8)
    return Picture(shape=[int(n) for n in data.shape], data=base64.b64encode(data.tobytes()).decode())


def pictures(images: np.ndarray, masks: np.ndarray, probabilities: np.ndarray) -> list[Prediction]:
    """The first test images with their true and predicted masks, at most PICTURE_SIZE pixels a side."""
    step = max(1, math.ceil(images.shape[1] / PICTURE_SIZE))
    shown = []
    for image, mask, predicted in list(zip(images, masks, probabilities, strict=True))[:PICTURES]:
        truth = mask[::step, ::step, 0] > 0.5
        guess = predicted[::step, ::step, 0]
        union = np.logical_or(truth, guess > 0.5).sum()
        iou = float(np.logical_and(truth, guess > 0.5).sum() / union) if union else 1.0
        shown.append(
            Prediction(
                image=_picture(np.clip(image[::step, ::step] * 255, 0, 255)),
                truth=_picture(truth * 255),
                predicted=_picture(np.clip(guess * 255, 0, 255)),
                iou=iou,
            )
        )
    return shown


def evaluate(
    model, job: dict, reported: float | None, own_test: tuple | None
) -> tuple[Evaluation, list[Prediction], float | None]:
    """The grader's evaluation of the trained model, pictures of its predictions, and the all-pet baseline IoU."""
    size = job["img_size"]
    batch = job["batch_size"]
    if list(model.input_shape[1:]) != [size, size, 3]:
        shape = tuple(model.input_shape[1:])
        return (
            Evaluation(
                Status.PROBLEM,
                f"the trained model takes inputs of shape {shape}, not (IMG_SIZE, IMG_SIZE, 3) = {(size, size, 3)}",
            ),
            [],
            None,
        )
    test_split = batches(job, "test")
    step = _step(model, size)
    test = _per_example(model, test_split, step)
    train = _per_example(model, batches(job, "train"), step)
    masks = np.concatenate([m for _, m in test_split])
    p = min(max(float(masks.mean()), 1e-7), 1 - 1e-7)
    result = {
        "test_loss": test["loss"],
        "iou": test["iou"],
        "bce": float(test["losses"].mean()),
        "constant_bce": -(p * math.log(p) + (1 - p) * math.log(1 - p)),
        "train_loss": train["loss"],
        "bce_ratio": float(test["losses"].mean() / max(train["losses"].mean(), 1e-12)),
    }
    if reported is not None and not close(reported, test["loss"]) and own_test is not None:
        images, own_masks = own_test
        own = [(images[i : i + batch], own_masks[i : i + batch]) for i in range(0, len(images), batch)]
        result["own_test_loss"] = _per_example(model, own, step)["loss"]
    finite = {key: value for key, value in result.items() if math.isfinite(value)}
    first_images, first_masks = test_split[0]
    return Evaluation(Status.OK, **finite), pictures(first_images, first_masks, test["first"]), p


def _gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _own_test(out: Path, size: int, examples: int, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The test split as the submission's preprocess prepared it in the probe process, if it has the right shapes."""
    try:
        saved = files.arrays(out / "test_split.npz", ["images", "masks"], limit)
        images = saved["images"].astype(np.float32)
        masks = saved["masks"].astype(np.float32)
    except (files.Refused, ValueError, KeyError, MemoryError, TypeError):
        return None
    if images.shape != (examples, size, size, 3) or masks.shape != (examples, size, size, 1):
        return None
    return images, masks


def measure(export: Path, probe_out: Path, job: dict) -> Training:
    """Compile settings, steps and the evaluation of the trained model; the reported history beside them."""
    train_examples = job["train_examples"]
    reported = history(export)
    common = {
        "expected_steps": job["epochs"] * math.ceil(train_examples / job["batch_size"]),
        "train_examples": train_examples,
        "history": reported,
        "fits": fits(export),
    }
    try:
        if not job["exported"]:
            raise files.Refused("the notebook did not finish, so no trained model was exported")
        model = load(export / "trained.keras", job["file_limit"])
        if model.count_params() > job["params_limit"]:
            raise files.Refused(
                f"the trained model has {model.count_params():,} parameters, far more than the U-Net of "
                "BASE_FILTERS has"
            )
        trained = settings(model)
    except Exception as error:  # noqa: BLE001 - a missing or broken file is the submission's
        waiting = Evaluation(Status.PROBLEM, "there is no trained model to evaluate")
        return Training(**common, evaluation=waiting, model_problem=files.text(error, 600))
    if job["needs_gpu"] and not _gpu():
        waiting = Evaluation(
            Status.PENDING, f"the {job['profile']} profile is graded on a GPU and TensorFlow sees none here"
        )
        return Training(**common, evaluation=waiting, model=trained)
    own = _own_test(probe_out, job["img_size"], job["test_examples"], job["own_split_limit"])
    try:
        evaluation, shown, baseline = evaluate(model, job, (reported.get("val_loss") or [None])[-1], own)
    except Exception as error:  # noqa: BLE001 - a model that cannot be evaluated is the submission's
        evaluation = Evaluation(
            Status.PROBLEM, files.text(f"the grader could not evaluate the trained model: {error}", 400)
        )
        shown = []
        baseline = None
    return Training(**common, evaluation=evaluation, model=trained, baseline_iou=baseline, predictions=shown)
