"""Typed facts: what the measuring process measured, as the hidden checks read them.

The measuring process (program.py, in a sandbox of its own) writes these as JSON; the grader reads them back
with `parse`, which accepts only the declared types, within their ranges and sizes. Standard library only: this
module runs inside the measuring sandbox too.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from enum import Enum

TEXT_LIMIT = 4000  # characters of one string
ITEMS_LIMIT = 10_000  # items of one list or dict
INT_LIMIT = 1 << 53
ENCODED_LIMIT = 2_000_000  # characters of one picture's base64

Encoded = typing.NewType("Encoded", str)  # base64 text, longer than other texts


class FactError(ValueError):
    """Measured facts that are not of the declared types and ranges."""


class Status(str, Enum):
    OK = "ok"
    PENDING = "pending"  # cannot be measured here (e.g. needs a GPU): neither earned nor lost
    PROBLEM = "problem"  # could not be measured; `reason` says why, in words for the student


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise FactError(what)


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


@dataclass(frozen=True)
class Evaluation:
    """The grader's own evaluation of the trained model on its own copy of the data."""

    status: Status
    reason: str = ""
    test_loss: float | None = None  # the compiled loss on the test split, as Keras reports val_loss
    iou: float | None = None  # foreground IoU on the test split
    bce: float | None = None  # mean per-pixel cross-entropy on the test split
    constant_bce: float | None = None  # the same for the best constant prediction
    own_test_loss: float | None = None  # the compiled loss on the test split as the submission's preprocess made it
    train_loss: float | None = None  # the compiled loss on the training split
    bce_ratio: float | None = None  # mean cross-entropy on the test split over that on the training split

    def __post_init__(self) -> None:
        _require(self.iou is None or 0.0 <= self.iou <= 1.0, "iou outside [0, 1]")
        for name in ("bce", "constant_bce", "bce_ratio"):  # cross-entropies (compiled losses may be negative)
            value = getattr(self, name)
            _require(value is None or value >= 0.0, f"{name} is negative")
        _require(
            self.status is not Status.OK or None not in (self.test_loss, self.iou), "an ok evaluation without numbers"
        )


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
class Fit:
    """One model.fit call as the kernel recorded it: the splits its data and its validation data read."""

    x: list[str]
    validation: list[str]

    def __post_init__(self) -> None:
        known = {"train", "test", "arrays", "other", "unknown"}
        _require(set(self.x) <= known and set(self.validation) <= known, "unknown split names")


@dataclass(frozen=True)
class Training:
    """Compile settings, steps and final IoU of the trained model; the history the notebook reported beside them."""

    expected_steps: int
    train_examples: int
    history: dict[str, list[float]]  # loss and val_loss per epoch, as the notebook reported them
    evaluation: Evaluation
    fits: list[Fit] = field(default_factory=list)  # what each model.fit call was given, as the kernel recorded it
    model: TrainedModel | None = None
    model_problem: str = ""
    baseline_iou: float | None = None  # foreground IoU of predicting "pet" everywhere on the test split
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


T = typing.TypeVar("T")


def parse(kind: type[T], raw: object, where: str = "facts") -> T:
    """`raw` (decoded JSON) as `kind`, or FactError saying where it is not."""
    return _value(kind, raw, where)


def _value(kind: object, raw: object, where: str):
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        return _value(next(arg for arg in args if arg is not type(None)), raw, where)
    if dataclasses.is_dataclass(kind):
        _require(isinstance(raw, dict), f"{where}: not an object")
        hints = typing.get_type_hints(kind)
        fields = {f.name: f for f in dataclasses.fields(kind)}
        _require(set(raw) <= set(fields), f"{where}: unknown fields {sorted(set(raw) - set(fields))[:5]}")
        values = {name: _value(hints[name], raw[name], f"{where}.{name}") for name in fields if name in raw}
        try:
            return kind(**values)
        except TypeError as error:
            raise FactError(f"{where}: {error}") from error
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(raw)
        except ValueError as error:
            raise FactError(f"{where}: {error}") from error
    if origin is list:
        _require(isinstance(raw, list) and len(raw) <= ITEMS_LIMIT, f"{where}: not a list within {ITEMS_LIMIT} items")
        return [_value(args[0], item, f"{where}[{i}]") for i, item in enumerate(raw)]
    if origin is dict:
        _require(
            isinstance(raw, dict) and len(raw) <= ITEMS_LIMIT, f"{where}: not an object within {ITEMS_LIMIT} items"
        )
        return {_value(str, key, where): _value(args[1], item, f"{where}[{key!r}]") for key, item in raw.items()}
    if kind is bool:
        _require(isinstance(raw, bool), f"{where}: not true or false")
        return raw
    if kind is int:
        _require(
            isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= INT_LIMIT, f"{where}: not an integer"
        )
        return raw
    if kind is float:
        _require(isinstance(raw, int | float) and not isinstance(raw, bool), f"{where}: not a number")
        try:
            value = float(raw)
        except OverflowError as error:
            raise FactError(f"{where}: not a finite number") from error
        _require(math.isfinite(value), f"{where}: not a finite number")
        return value
    if kind is Encoded:
        _require(
            isinstance(raw, str) and len(raw) <= ENCODED_LIMIT, f"{where}: not base64 within {ENCODED_LIMIT} characters"
        )
        return raw
    if kind is str:
        _require(isinstance(raw, str) and len(raw) <= TEXT_LIMIT, f"{where}: not a text within {TEXT_LIMIT} characters")
        return raw
    raise FactError(f"{where}: the grader has no rule for {kind}")


def dumps(facts: object) -> str:
    """Facts as JSON (what `parse` reads back)."""
    return json.dumps(dataclasses.asdict(facts), default=lambda value: value.value, separators=(",", ":"))
