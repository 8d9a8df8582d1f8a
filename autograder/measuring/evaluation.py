"""The grader's own evaluation of the trained model on its own copy of the data: the held-out examples (the grader's
private ones; the visible test split where the batch has none) as they are and mirrored left to right, against the
true masks and against the masks the submission's own preprocess makes of them (its mistakes carried forward, so that
one costs its own section only); the compiled loss on the visible test and training splits; pictures."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

import numpy as np

from .facts import Evaluation, Picture, Prediction, Preprocess, Scores, Status

LOSS_TOLERANCE = 1e-3  # relative: a reported val_loss equals a measured loss this closely
SCALE_TOLERANCE = 0.02  # relative spread of the image scales measured on the probe's examples that is still one scale
REFERENCE_LABELS = {1: 1.0, 2: 0.0, 3: 1.0}  # trimap value -> mask value: pet and border are the pet
MAPPINGS = ("100", "010", "001", "110", "101", "011")  # every mapping of the trimap values 1, 2, 3 to 0 and 1
PICTURES = 6  # test images shown to the student
PICTURE_SIZE = 128  # largest side of a picture


def close(reported: float, measured: float) -> bool:
    return abs(reported - measured) <= LOSS_TOLERANCE * max(1.0, abs(measured))


@dataclass(frozen=True)
class Carried:
    """The submission's preprocess as the grader applies it to its own data: its trimap mapping and image scale, as
    measured on the probe's examples (no student code touches the grader's data)."""

    labels: dict[int, float]  # trimap value -> mask value
    scale: float = 1.0  # its images over the reference's (bilinear resize / 255)

    def masks(self, trimaps: np.ndarray) -> np.ndarray:
        table = np.zeros(256, np.float32)
        for label, value in self.labels.items():
            table[label] = value
        return table[np.asarray(trimaps, np.uint8)]

    def images(self, images: np.ndarray) -> np.ndarray:
        return images if self.scale == 1.0 else (images * np.float32(self.scale)).astype(np.float32)

    def describe(self) -> str:
        mapping = ", ".join(f"{label} -> {value:g}" for label, value in sorted(self.labels.items()))
        return f"masks from trimap values {mapping}; images x{self.scale:.4g} of the reference's"


def carried(preprocess: Preprocess) -> tuple[Carried | None, str]:
    """What of the submission's preprocess the grader can carry forward (None where it makes the reference's data),
    and a sentence saying what, or why nothing: a mapping of every trimap value to 0 or 1 (not all to one value), the
    same on every probed example; the image scale where every example shows the same one (else the reference's)."""
    examples = preprocess.examples if preprocess.call.ok else []
    mappings = {tuple(sorted(e.label_values.items())) for e in examples if e.label_values is not None}
    if not examples or len(mappings) != 1 or any(e.label_values is None for e in examples):
        return None, "the masks of its preprocess could not be compared with the trimaps"
    labels = {int(label): value for label, value in mappings.pop()}
    if set(labels) != set(REFERENCE_LABELS) or not set(labels.values()) <= {0.0, 1.0}:
        return None, "its preprocess does not map every trimap value to 0 or 1"
    if len(set(labels.values())) == 1:
        return None, f"its preprocess maps every trimap value to {labels[1]:g}, which leaves nothing to segment"
    scales = [e.image_scale for e in examples]
    scale = 1.0
    if None not in scales and min(scales) > 0 and max(scales) - min(scales) <= SCALE_TOLERANCE * max(scales):
        scale = float(np.median(scales))
    if abs(scale - 1.0) <= SCALE_TOLERANCE:
        scale = 1.0
    if labels == REFERENCE_LABELS and scale == 1.0:
        return None, "its preprocess makes the reference's masks and images"
    found = Carried(labels, scale)
    return found, found.describe()


@dataclass
class _Tally:
    """Sums over the batches of one pass: the compiled loss, cross-entropy, and the pixel counts of the IoUs."""

    loss: float = 0.0
    bce: float = 0.0
    examples: int = 0
    pixels: int = 0
    positives: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(4))  # truth & guess, guess only, truth only, neither
    mapped: dict[str, np.ndarray] = field(default_factory=dict)  # mapping -> intersection and union with the guess
    first: np.ndarray | None = None  # the first batch's probabilities

    def add(self, masks: np.ndarray, probabilities: np.ndarray, loss: float, bce: np.ndarray, trimaps=None) -> None:
        truth = masks >= 0.5
        guess = probabilities >= 0.5  # as keras.metrics.BinaryIoU(threshold=0.5)
        for key in MAPPINGS if trimaps is not None else []:
            table = np.zeros(256, bool)
            table[1:4] = [value == "1" for value in key]
            mapped = table[np.asarray(trimaps, np.uint8)]
            found = [np.sum(mapped & guess), np.sum(mapped | guess)]
            self.mapped[key] = self.mapped.get(key, np.zeros(2)) + found
        self.loss += loss * len(masks)
        self.bce += float(np.sum(bce, dtype=np.float64))
        self.examples += len(masks)
        self.pixels += bce.size
        self.positives += float(masks.sum(dtype=np.float64))
        self.counts += [np.sum(truth & guess), np.sum(guess & ~truth), np.sum(truth & ~guess), np.sum(~truth & ~guess)]
        self.first = probabilities if self.first is None else self.first

    def iou(self, inverted: bool = False) -> float:
        both, guess_only, truth_only, neither = self.counts
        hit, extra = (truth_only, neither) if inverted else (both, guess_only)
        union = hit + extra + (both if inverted else truth_only)
        return float(hit / union) if union else 0.0

    def mapping_ious(self) -> dict[str, float]:
        return {key: float(both / union) if union else 0.0 for key, (both, union) in self.mapped.items()}

    def mean_loss(self) -> float:
        return self.loss / max(self.examples, 1)

    def mean_bce(self) -> float:
        return self.bce / max(self.pixels, 1)

    def constant_bce(self) -> float:
        p = min(max(self.positives / max(self.pixels, 1), 1e-7), 1 - 1e-7)
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))


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


def _pass(step, images: np.ndarray, masks: np.ndarray, batch: int, mirrored: bool = False, trimaps=None) -> _Tally:
    """One pass over `images` (mirrored left to right, with their masks); with `trimaps`, the IoU of every mapping."""
    tally = _Tally()
    for start in range(0, len(images), batch):
        some_images = images[start : start + batch]
        some_masks = masks[start : start + batch]
        if mirrored:
            some_images = np.ascontiguousarray(some_images[:, :, ::-1])
            some_masks = np.ascontiguousarray(some_masks[:, :, ::-1])
        probabilities, loss, bce = step(some_images, some_masks)
        some_trimaps = trimaps[start : start + batch] if trimaps is not None else None
        tally.add(some_masks, np.asarray(probabilities), float(loss), np.asarray(bce, np.float64), some_trimaps)
    return tally


def _scores(step, images: np.ndarray, masks: np.ndarray, batch: int, trimaps=None) -> tuple[Scores, _Tally]:
    """The scores of the held-out examples against `masks`, and the pass over them as they are."""
    straight = _pass(step, images, masks, batch, trimaps=trimaps)
    if not math.isfinite(straight.mean_bce()):
        raise ValueError("its predictions are not all finite numbers (did the training diverge?)")
    mirrored = _pass(step, images, masks, batch, mirrored=True)
    scores = Scores(
        iou=straight.iou(),
        flipped_iou=mirrored.iou(),
        inverted_iou=straight.iou(inverted=True),
        bce=straight.mean_bce(),
        constant_bce=straight.constant_bce(),
    )
    return scores, straight


def _picture(array: np.ndarray) -> Picture:
    data = np.ascontiguousarray(array, np.uint8)
    return Picture(shape=[int(n) for n in data.shape], data=base64.b64encode(data.tobytes()).decode())


def pictures(images: np.ndarray, masks: np.ndarray, probabilities: np.ndarray) -> list[Prediction]:
    """The first test images with their true and predicted masks, at most PICTURE_SIZE pixels a side."""
    step = max(1, math.ceil(images.shape[1] / PICTURE_SIZE))
    shown = []
    for image, mask, predicted in list(zip(images, masks, probabilities, strict=False))[:PICTURES]:
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
    model,
    data: dict[str, np.ndarray],
    job: dict,
    reported: float | None,
    own_test: tuple | None,
    preprocess: Preprocess,
) -> tuple[Evaluation, list[Prediction], float | None]:
    """The grader's evaluation of the trained model on `data` (reference.npz's arrays), pictures of its predictions on
    the visible test split, and the IoU of predicting "pet" everywhere on the held-out examples."""
    size = job["img_size"]
    batch = job["batch_size"]
    if list(model.input_shape[1:]) != [size, size, 3]:
        shape = tuple(model.input_shape[1:])
        why = f"the trained model takes inputs of shape {shape}, not (IMG_SIZE, IMG_SIZE, 3) = {(size, size, 3)}"
        return Evaluation(Status.PROBLEM, why), [], None
    step = _step(model, size)
    held = "private" if "private_images" in data and "private_masks" in data else "test"
    images = data[f"{held}_images"]
    masks = data[f"{held}_masks"]
    truth, straight = _scores(step, images, masks, batch, data.get(f"{held}_trimaps"))
    carry, carried_why = carried(preprocess)
    if carry is not None and f"{held}_trimaps" not in data:
        carry, carried_why = None, "the grader holds no trimaps of its held-out examples"
    own = _scores(step, carry.images(images), carry.masks(data[f"{held}_trimaps"]), batch)[0] if carry else None
    test = straight if held == "test" else _pass(step, data["test_images"], data["test_masks"], batch)
    train = _pass(step, data["train_images"], data["train_masks"], batch)
    losses = {"test_loss": test.mean_loss(), "train_loss": train.mean_loss()}
    losses["bce_ratio"] = test.mean_bce() / max(train.mean_bce(), 1e-12)
    if carry is not None and "train_trimaps" in data:
        own_images = carry.images(data["train_images"])
        losses["own_train_loss"] = _pass(step, own_images, carry.masks(data["train_trimaps"]), batch).mean_loss()
    if reported is not None and not close(reported, losses["test_loss"]) and own_test is not None:
        losses["own_test_loss"] = _pass(step, *own_test, batch).mean_loss()
    finite = {key: value for key, value in losses.items() if math.isfinite(value)}
    evaluation = Evaluation(
        Status.OK,
        held_out=held,
        truth=truth,
        own=own,
        carried=carried_why,
        mapping_ious=straight.mapping_ious(),
        **finite,
    )
    shown = pictures(data["test_images"], data["test_masks"], test.first)
    return evaluation, shown, straight.positives / max(straight.pixels, 1)
