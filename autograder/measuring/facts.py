"""Typed facts: what the measuring process measured, as the hidden checks read them.

The measuring process (program.py, in a sandbox of its own) writes these as JSON; the grader reads them back
with `parse` (typed.py), which accepts only the declared types, within their ranges and sizes. Standard library
only: this module runs inside the measuring sandbox too.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

# parse and dumps read and write the facts: their readers import them from here
from .typed import Encoded, FactError, Status, dumps, parse  # noqa: F401
from .typed import require as _require


@dataclass(frozen=True)
class Call:
    """How the probe's call of one graded function went."""

    ok: bool
    error: str = ""  # the student's error (cleaned text)
    traceback: str = ""  # instructor-only
    problems: list[str] = field(default_factory=list)  # the notebook's statements that failed to run


@dataclass(frozen=True)
class LayerConfig:
    """The settings of a layer that the checks judge."""

    filters: int | None = None
    kernel_size: list[int] | None = None
    strides: list[int] | None = None
    pool_size: list[int] | None = None
    padding: str | None = None
    activation: str | None = None


@dataclass(frozen=True)
class Layer:
    """One layer of a rebuilt model, and where its inputs come from."""

    name: str
    kind: str  # its class name
    config: LayerConfig
    inputs: list[str | None]  # names of the layers feeding it
    output_shape: list[int | None]
    params: int


@dataclass(frozen=True)
class Built:
    """A model the probe built for one case of the challenge, rebuilt and measured."""

    case: list[int]
    shapes: list[list[int | None]]  # of its outputs
    params: int
    layers: list[Layer]
    input_names: list[str | None]


@dataclass(frozen=True)
class Block:
    """One graded function that builds layers: the call, and what it built for every case."""

    call: Call
    cases: list[Built] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require(not self.call.ok or self.cases, "a call that worked but built nothing")


@dataclass(frozen=True)
class Example:
    """The submission's preprocess output for one example, against the grader's reference."""

    image_shape: list[int]
    image_dtype: str
    mask_shape: list[int]
    mask_dtype: str
    mask_values: list[float]  # up to eight distinct values
    image_min: float | None = None
    image_max: float | None = None
    bilinear_error: float | None = None  # largest difference from a bilinear resize / 255 (same shape only)
    nearest_error: float | None = None  # the same against a nearest-neighbour resize
    label_values: dict[str, float] | None = None  # trimap value -> the mask's median value there
    nearest_mismatch: float | None = None  # share of pixels unlike the nearest-resized trimap mapped the same way
    image_scale: float | None = None  # the image over a bilinear resize / 255, fitted by least squares (same shape)


@dataclass(frozen=True)
class Preprocess:
    call: Call
    img_size: int
    examples: list[Example] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require(not self.call.ok or self.examples, "a call that worked but returned nothing")


@dataclass(frozen=True)
class TrainedModel:
    """The trained model's settings, read from the file the notebook left."""

    input_shape: list[int | None]
    params: int
    optimizer: str | None
    learning_rate: float | None
    iterations: int
    loss: str | None
    moved: float | None = None  # share of its weight arrays distributed unlike any fresh initialisation of its config

    def __post_init__(self) -> None:
        _require(self.moved is None or 0.0 <= self.moved <= 1.0, "moved outside [0, 1]")


@dataclass(frozen=True)
class Scores:
    """The trained model's predictions on the held-out examples, against one set of masks."""

    iou: float  # foreground IoU
    flipped_iou: float  # the same on the examples mirrored left to right
    inverted_iou: float  # foreground IoU of the predictions' complement (high: the predictions look inverted)
    bce: float  # mean per-pixel cross-entropy
    constant_bce: float  # the same for the best constant prediction

    def __post_init__(self) -> None:
        for name in ("iou", "flipped_iou", "inverted_iou"):
            _require(0.0 <= getattr(self, name) <= 1.0, f"{name} outside [0, 1]")
        _require(self.bce >= 0.0 and self.constant_bce >= 0.0, "a negative cross-entropy")


@dataclass(frozen=True)
class Evaluation:
    """The grader's own evaluation of the trained model on its own copy of the data."""

    status: Status
    reason: str = ""
    held_out: str = ""  # whose examples the scores come from: "private" (the grader's own) or "test" (the visible ones)
    truth: Scores | None = None  # against the true masks
    own: Scores | None = None  # against the masks the submission's preprocess makes of the same examples
    carried: str = ""  # what of the submission's preprocess `own` carries forward, or why there is no `own`
    # The foreground IoU of the predictions against the masks each mapping of the trimap values 1, 2, 3 to 0 or 1
    # makes ("110": pet and background are the pet), where the grader has the trimaps: names a wrong mapping.
    mapping_ious: dict[str, float] = field(default_factory=dict)
    test_loss: float | None = None  # the compiled loss on the visible test split, as Keras reports val_loss
    own_test_loss: float | None = None  # the same on the test split as the submission's preprocess made it
    train_loss: float | None = None  # the compiled loss on the training split
    own_train_loss: float | None = None  # the same with the submission's preprocess carried forward
    bce_ratio: float | None = None  # cross-entropy on the visible test split over that on the training split

    def __post_init__(self) -> None:
        _require(self.held_out in ("", "private", "test"), "unknown held-out examples")
        _require(
            all(len(key) == 3 and set(key) <= {"0", "1"} and 0 <= iou <= 1 for key, iou in self.mapping_ious.items()),
            "mapping IoUs out of range",
        )
        _require(self.bce_ratio is None or self.bce_ratio >= 0.0, "bce_ratio is negative")
        _require(
            self.status is not Status.OK or None not in (self.truth, self.test_loss), "an ok evaluation without numbers"
        )

    def judged(self, carry_forward: bool) -> Scores | None:
        """The scores the checks judge: against the submission's own masks where the profile carries its preprocess
        forward and they differ from the true ones, else against the true masks."""
        return self.own if carry_forward and self.own is not None else self.truth


@dataclass(frozen=True)
class Picture:
    """An array the grader draws: `data` is base64 of its uint8 bytes in row-major order."""

    shape: list[int]
    data: Encoded

    def __post_init__(self) -> None:
        _require(len(self.shape) in (2, 3) and all(0 < n <= 512 for n in self.shape), "picture shape out of range")
        _require(len(self.data) == 4 * math.ceil(math.prod(self.shape) / 3), "picture data does not match its shape")

    def bytes(self) -> bytes:
        return base64.b64decode(self.data, validate=True)


@dataclass(frozen=True)
class Prediction:
    """One test image as the measurement saw it: the image, the true mask, the predicted probabilities (x255)."""

    image: Picture
    truth: Picture
    predicted: Picture
    iou: float

    def __post_init__(self) -> None:
        _require(0.0 <= self.iou <= 1.0, "prediction iou outside [0, 1]")


@dataclass(frozen=True)
class TrainingCall:
    """One way the notebook trained, as the kernel's recorder saw it."""

    how: str  # "fit", "train_on_batch" or "custom loop" (optimizer steps after model calls of its own)
    splits: list[str] = field(default_factory=list)  # the splits its data read, by tfrecord file name
    validation_splits: list[str] = field(default_factory=list)  # the same for model.fit's validation data
    test_seen: int = 0  # distinct visible test examples, recognised by content, among the data it trained on
    validation_test_seen: int = 0  # the same among its validation data
    steps: int = 0  # optimizer steps it took
    own: bool = False  # whether it stepped the optimizer of the `model` the notebook left

    def __post_init__(self) -> None:
        known = {"train", "test", "arrays", "other", "unknown"}
        _require(self.how in ("fit", "train_on_batch", "custom loop"), "unknown way of training")
        _require(set(self.splits) <= known and set(self.validation_splits) <= known, "unknown split names")
        _require(min(self.test_seen, self.validation_test_seen, self.steps) >= 0, "negative counts")


@dataclass(frozen=True)
class Recorded:
    """What the kernel's recorder saw of the training (it runs beside student code: it can cost points, never earn
    them)."""

    calls: list[TrainingCall] = field(default_factory=list)
    steps: int | None = None  # optimizer steps it saw `model`'s optimizer take (None: no optimizer)
    test_examples: int = 0  # visible test examples it could recognise by content (0: it had no descriptors)


@dataclass(frozen=True)
class Training:
    """Compile settings, steps and final IoU of the trained model; the history the notebook reported beside them."""

    expected_steps: int
    train_examples: int
    history: dict[str, list[float]]  # loss and val_loss per epoch, as the notebook reported them
    evaluation: Evaluation
    recorded: Recorded | None = None  # None: the kernel left no record
    model: TrainedModel | None = None
    model_problem: str = ""
    baseline_iou: float | None = None  # foreground IoU of predicting "pet" everywhere on the held-out examples
    predictions: list[Prediction] = field(default_factory=list)


@dataclass(frozen=True)
class Facts:
    """Everything measured for one submission."""

    seed: int
    definitions: Call
    preprocess: Preprocess
    blocks: dict[str, Block]
    training: Training
    problem: str = ""  # why nothing could be measured (the measuring process failed), in words for the student

    @classmethod
    def unmeasured(cls, seed: int, problem: str, blocks: tuple[str, ...]) -> Facts:
        """The facts of a submission whose measurement failed: every check fails with `problem`."""
        call = Call(ok=False, error=problem)
        training = Training(
            expected_steps=0,
            train_examples=0,
            history={},
            evaluation=Evaluation(Status.PROBLEM, problem),
            model_problem=problem,
        )
        return cls(seed, Call(ok=True), Preprocess(call, 0), {name: Block(call) for name in blocks}, training, problem)
