"""The trained model the notebook left: its compile settings and steps, whether training moved its weights, the
record of how it trained, and the grader's own evaluation of it (evaluation.py) on its own copy of the data: the
splits as the reference preprocesses them (bilinear image / 255, nearest mask != 2, the nearest-resized trimaps)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np

from . import configs, files
from .evaluation import evaluate
from .facts import Evaluation, FactError, Preprocess, Recorded, Status, TrainedModel, Training, parse

DATASET = "oxford_iiit_pet"
REFERENCE_LIMIT = 64 << 20  # bytes of the precomputed reference splits; larger ones are read from the data here
PRIVATE_LIMIT = 512 << 20  # bytes of the private part alone, when the splits are larger (its first examples)
REFERENCE_FILE_LIMIT = max(REFERENCE_LIMIT, PRIVATE_LIMIT)  # bytes of a reference.npz of either kind
BYTES_PER_PIXEL = 17  # in the reference splits: an RGB float32 image, a float32 mask and a uint8 trimap
SPLITS = ("train", "test", "private")  # the reference's splits: training, visible test, the grader's private examples
KINDS = ("images", "masks", "trimaps")
MOVED_NOISE = 3.0  # a weight array moved when its values lie this many times further from a fresh initialisation's
MOVED_FLOOR = 1e-7  # than two fresh initialisations lie from each other, and at least this far (zero-initialised)


def reference_dataset(data_dir: str, split: str, size: int):
    """`split` as the reference preprocesses it (bilinear image / 255, nearest mask != 2), a tf.data pipeline of
    (image, mask, trimap): the trimap nearest-resized (uint8), the mask made from it."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def reference(example: dict) -> tuple:
        image = tf.cast(tf.image.resize(example["image"], (size, size), method="bilinear"), tf.float32) / 255.0
        trimap = tf.image.resize(example["segmentation_mask"], (size, size), method="nearest")
        return image, tf.cast(trimap != 2, tf.float32), tf.cast(trimap, tf.uint8)

    return tfds.load(DATASET, split=split, data_dir=data_dir).map(reference)


def reference_split(data_dir: str, split: str, size: int) -> dict[str, np.ndarray]:
    """`split` as the reference preprocesses it: its images, masks and trimaps (KINDS), each stacked."""
    found = [tuple(part.numpy() for part in parts) for parts in reference_dataset(data_dir, split, size)]
    return {kind: np.stack([parts[i] for parts in found]) for i, kind in enumerate(KINDS)}


def save_reference(parts: dict[str, tuple[str, str]], size: int, path: str) -> dict[str, np.ndarray]:
    """The reference splits as one .npz ({name}_images, {name}_masks, {name}_trimaps for each part name -> (data dir,
    split)), computed once per batch by the grader so that no measuring process pays for tfds and the resizing;
    returns its arrays."""
    arrays = {}
    for name, (data_dir, split) in parts.items():
        arrays.update({f"{name}_{kind}": array for kind, array in reference_split(data_dir, split, size).items()})
    np.savez(path, **arrays)
    return arrays


def reference_data(job: dict) -> dict[str, np.ndarray]:
    """The splits as the reference preprocesses them: the grader's precomputed reference.npz (train_*, test_* and
    private_*, or for large data private_* alone: the measuring sandbox cannot read the private part), and the
    training and test splits computed from the data here where it does not hold them."""
    names = [f"{split}_{kind}" for split in SPLITS for kind in KINDS]
    try:
        saved = files.arrays(Path(job["folder"]) / "reference.npz", names, REFERENCE_FILE_LIMIT)
    except files.Refused:
        saved = {}
    if all(f"{split}_{kind}" in saved for split in ("train", "test") for kind in ("images", "masks")):
        return saved
    data = {key: value for key, value in saved.items() if key.startswith("private_")}
    for name in ("train", "test"):
        found = reference_split(job["data_dir"], job[f"{name}_split"], job["img_size"])
        data.update({f"{name}_{kind}": array for kind, array in found.items()})
    return data


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


def recorded(folder: Path) -> Recorded | None:
    """How the notebook trained, as the kernel's recorder saw it (None when it left no record)."""
    try:
        return parse(Recorded, json.loads(files.read(folder / "recorded.json", 1 << 20)), "recorded")
    except (files.Refused, ValueError, FactError, RecursionError):
        return None


def moved(model) -> float | None:
    """The share of the model's weight arrays whose values are distributed unlike a fresh initialisation of its
    config: an array moved when its sorted values lie MOVED_NOISE times further (mean absolute difference, the
    Wasserstein distance) from a fresh initialisation's than two fresh initialisations lie from each other. A model no
    optimizer step changed scores 0, whatever seed made it; a trained one scores near 1. None when the config cannot
    be built again."""
    import keras

    weights = [np.asarray(w) for w in model.weights]
    try:
        fresh = [[np.asarray(w) for w in keras.models.clone_model(model).weights] for _ in range(2)]
    except Exception:  # noqa: BLE001 - a config Keras cannot clone says nothing either way
        return None
    if not weights or any(len(again) != len(weights) for again in fresh):
        return None
    count = 0
    for values, first, second in zip(weights, *fresh, strict=True):
        if values.shape != first.shape:
            return None
        first = np.sort(first.ravel())
        noise = float(np.abs(first - np.sort(second.ravel())).mean())
        distance = float(np.abs(np.sort(values.ravel()) - first).mean())
        count += distance > max(MOVED_NOISE * noise, MOVED_FLOOR)
    return count / len(weights)


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
        moved=moved(model),
    )


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


def measure(export: Path, probe_out: Path, job: dict, preprocess: Preprocess) -> Training:
    """Compile settings, steps and the evaluation of the trained model (with what the submission's `preprocess` does
    carried forward); the reported history and the kernel's record of the training beside them."""
    train_examples = job["train_examples"]
    reported = history(export)
    common = {
        "expected_steps": job["epochs"] * math.ceil(train_examples / job["batch_size"]),
        "train_examples": train_examples,
        "history": reported,
        "recorded": recorded(export),
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
        data = reference_data(job)
        reported_val = (reported.get("val_loss") or [None])[-1]
        evaluation, shown, baseline = evaluate(model, data, job, reported_val, own, preprocess)
    except Exception as error:  # noqa: BLE001 - a model that cannot be evaluated is the submission's
        evaluation = Evaluation(
            Status.PROBLEM, files.text(f"the grader could not evaluate the trained model: {error}", 400)
        )
        shown = []
        baseline = None
    return Training(**common, evaluation=evaluation, model=trained, baseline_iou=baseline, predictions=shown)
