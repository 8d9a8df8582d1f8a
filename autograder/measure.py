"""Trusted measurement: the grader's own numbers from what the sandboxes saved.

Nothing here runs student code, and everything read is hostile input: files are opened without
following links and must be plain files under a size limit; archives are checked member by member
before anything unpacks; model configs must name only Keras's own modules, with bounded layer
counts and sizes, and are rebuilt in Keras's safe mode; arrays are read without pickle. The
results (facts) are plain JSON for the hidden checks.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from assignment.data import RunData
from assignment.profiles import Profile
from autograder.challenge import Challenge, unet_params
from autograder.evaluation import evaluate, split_size
from autograder.results import cap, clean

FILE_LIMIT = 8 << 20  # bytes of one probe file (JSON or npz)
KERAS_MODULES = {"keras", "keras.layers", "keras.initializers", "keras.regularizers", "keras.constraints", "keras.activations",
                 "keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics",
                 "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model"}
KEPT_CONFIG = ("filters", "kernel_size", "strides", "padding", "activation", "pool_size")
BOUNDS = {"filters": 2048, "units": 4096, "kernel_size": 7, "pool_size": 8, "strides": 8, "size": 8, "batch_shape": 1024}  # largest value per field
LAYERS = {"InputLayer", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D",
          "UpSampling2D", "Concatenate", "Add", "Multiply", "Activation", "ReLU", "LeakyReLU", "BatchNormalization", "LayerNormalization",
          "GroupNormalization", "Dropout", "SpatialDropout2D", "ZeroPadding2D", "Cropping2D", "Rescaling", "Identity", "Dense", "Flatten",
          "Reshape", "Softmax"}
MAX_LAYERS = 300
TENSOR_MARKERS = {"__keras_tensor__", "__tuple__"}  # config entries Keras writes without a module


class Refused(Exception):
    """A saved file the grader will not load; the message says why."""


def _read(path: Path, limit: int = FILE_LIMIT) -> bytes:
    """The bytes of a file a sandbox wrote into `path.parent` (a folder it cannot replace): no link followed,
    a plain file with one name, at most `limit` bytes."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            descriptor = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        finally:
            os.close(folder)
    except OSError as error:
        raise Refused(f"{path.name} was not written") from error
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise Refused(f"{path.name} is not a plain file")
        if info.st_size > limit:
            raise Refused(f"{path.name} is larger than {limit >> 20} MiB")
        return handle.read(limit)


def _archive(data: bytes, members: dict[str, int], name: str) -> zipfile.ZipFile:
    """A zip archive holding only the members named in `members`, each unpacking to at most its limit."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    for member in archive.infolist():
        if member.filename not in members:
            raise Refused(f"{name} holds {member.filename!r}, which the grader does not expect")
        if member.file_size > members[member.filename]:
            raise Refused(f"{name} holds {member.filename!r}, too large")
    return archive


def _dicts(config: object):
    """Every dict inside a JSON value (iteratively: any depth)."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_config(config: object) -> None:
    """Refuse configs that name code outside Keras's own modules, layers outside the ones a U-Net is built from,
    more than MAX_LAYERS layers, or sizes above BOUNDS."""
    layers = 0
    for item in _dicts(config):
        name, module = item.get("class_name"), item.get("module")
        if name is not None and module not in KERAS_MODULES and name not in TENSOR_MARKERS:
            raise Refused(f"the model uses {name} from {module!r}; only Keras's own layers can be graded")
        if module == "keras.layers":
            layers += 1
            if name not in LAYERS:
                raise Refused(f"the model uses the layer {name}, which the grader does not build; use Keras's convolution, pooling and merging layers")
        for key, bound in BOUNDS.items():
            sizes = item.get(key) if isinstance(item.get(key), list) else [item.get(key)]
            if any(isinstance(v, int | float) and v > bound for v in sizes):
                raise Refused(f"the model has a layer with {key} {item[key]}, above the {bound} the grader builds")
    if layers > MAX_LAYERS:
        raise Refused(f"the model has more than {MAX_LAYERS} layers")


def rebuild(path: Path):
    """A Keras model rebuilt from a saved JSON config, in safe mode."""
    import keras

    config = json.loads(_read(path))
    check_config(config)
    return keras.saving.deserialize_keras_object(config, safe_mode=True)


def _source(tensor) -> str | None:
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history else None


def model_facts(model) -> dict:
    """Output shapes, parameter count and layer graph of a model, measured here."""
    graph = []
    for layer in model.layers:
        config = layer.get_config()
        inputs = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
        graph.append({"name": layer.name, "class": type(layer).__name__, "config": {k: config[k] for k in KEPT_CONFIG if k in config},
                      "inputs": [_source(t) for t in inputs], "output_shape": list(layer.output.shape), "params": int(layer.count_params())})
    return {"shapes": [list(t.shape) for t in model.outputs], "params": int(model.count_params()), "layers": graph,
            "input_names": [_source(t) for t in model.inputs]}


def _probe_status(out: Path, name: str) -> dict:
    """Whether the probe's call of `name` worked, and the student's error and traceback when not (cleaned text)."""
    try:
        status = json.loads(_read(out / f"{name}.json", 1 << 20))
        ok = status.get("ok") is True
        problems = [clean(p)[:300] for p in status.get("problems", [])[:10]] if isinstance(status.get("problems"), list) else []
        return {"ok": ok, "error": "" if ok else clean(status.get("error", ""))[:2000], "traceback": clean(status.get("traceback", ""))[-4000:],
                "problems": problems}
    except (Refused, ValueError, AttributeError, RecursionError):
        return {"ok": False, "error": "", "traceback": "", "problems": []}


def _inputs(name: str, case: tuple) -> list[list]:
    """The input shapes the probe gave `name` for `case`."""
    if name == "decoder_block":
        h, w, c, s, _ = case
        return [[None, h, w, c], [None, 2 * h, 2 * w, s]]
    return [[None, *case[:3]]]


def block_facts(out: Path, name: str, cases: list) -> dict:
    """Facts of one block (or make_unet) over the challenge's cases; a model built for other inputs is refused."""
    facts = {**_probe_status(out, name), "cases": []}
    if facts["ok"]:
        try:
            for i, case in enumerate(cases):
                model = rebuild(out / f"{name}-{i}.json")
                if [list(t.shape) for t in model.inputs] != _inputs(name, case):
                    raise Refused(f"its inputs {[tuple(t.shape) for t in model.inputs]} are not the ones the grader gave")
                facts["cases"].append({"case": list(case), **model_facts(model)})
        except Exception as error:  # noqa: BLE001 - whatever the probe saved, it is the submission's
            facts.update(ok=False, error=f"the grader could not rebuild the model it built: {error}"[:600], cases=[])
    return facts


def preprocess_facts(out: Path, challenge: Challenge) -> dict:
    """The submission's preprocess outputs compared with the grader's own reference, per example."""
    import tensorflow as tf

    facts = {**_probe_status(out, "preprocess"), "img_size": challenge.img_size, "examples": []}
    if not facts["ok"]:
        return facts
    try:
        names = [f"{kind}{i}" for i in range(len(challenge.images)) for kind in ("image", "mask")]
        arrays = _arrays(out / "preprocess.npz", names, FILE_LIMIT)
    except (Refused, ValueError, OSError, MemoryError, zipfile.BadZipFile) as error:
        return {**facts, "ok": False, "error": f"the preprocess outputs could not be read: {error}"[:600]}
    size = (challenge.img_size, challenge.img_size)
    for i, (raw, trimap) in enumerate(zip(challenge.images, challenge.trimaps, strict=True)):
        image, mask = arrays.get(f"image{i}"), arrays.get(f"mask{i}")
        if image is None or mask is None:
            return {**facts, "ok": False, "error": "preprocess returned no (image, mask) pair"}
        bilinear = tf.image.resize(raw, size, method="bilinear").numpy() / 255.0
        nearest = tf.image.resize(raw, size, method="nearest").numpy() / 255.0
        resized = tf.image.resize(trimap, size, method="nearest").numpy()
        example = {"image_shape": list(image.shape), "image_dtype": str(image.dtype), "mask_shape": list(mask.shape),
                   "mask_dtype": str(mask.dtype), "mask_values": sorted({float(v) for v in np.unique(mask)[:8]})}
        if image.size and np.issubdtype(image.dtype, np.number):
            example.update(image_min=float(image.min()), image_max=float(image.max()))
        if image.shape == bilinear.shape and np.issubdtype(image.dtype, np.number):
            example.update(bilinear_error=float(np.abs(image - bilinear).max()), nearest_error=float(np.abs(image - nearest).max()))
        if mask.shape == resized.shape and (np.issubdtype(mask.dtype, np.number) or mask.dtype == bool):
            values = mask.astype(np.float64)
            labels = {label: float(np.median(values[resized == label])) for label in (1, 2, 3)}
            own_mapping = np.vectorize(labels.get)(resized)
            example.update(label_values={str(k): v for k, v in labels.items()}, nearest_mismatch=float(np.mean(values != own_mapping)))
        facts["examples"].append(example)
    return facts


def _arrays(path: Path, names: list[str], limit: int) -> dict[str, np.ndarray]:
    """The arrays `names` of an .npz file a sandbox wrote, read without pickle after checking what they unpack to
    (`limit` bytes together)."""
    data = _read(path, limit)
    archive = _archive(data, dict.fromkeys((f"{name}.npy" for name in names), limit), path.name)
    if sum(member.file_size for member in archive.infolist()) > limit:
        raise Refused(f"{path.name} unpacks to more than {limit >> 20} MiB")
    with np.load(io.BytesIO(data), allow_pickle=False) as saved:
        return {key: saved[key] for key in saved.files}


def _trained_model(path: Path, limit: int):
    """The trained model from its .keras file, after checking the archive, loaded from the grader's own copy."""
    import keras

    data = _read(path, limit)
    archive = _archive(data, {"config.json": FILE_LIMIT, "metadata.json": 1 << 20, "model.weights.h5": limit}, path.name)
    if "model.weights.h5" not in archive.namelist():
        raise Refused("trained.keras holds no weights")
    check_config(json.loads(archive.read("config.json")))
    with tempfile.TemporaryDirectory() as private:
        copy = Path(private) / "trained.keras"
        copy.write_bytes(data)
        return keras.saving.load_model(copy, safe_mode=True, compile=True)


def _history(export: Path | None) -> dict[str, list[float]]:
    """The reported losses per epoch (the student's claim, checked against the grader's own evaluation)."""
    try:
        history = json.loads(_read(export / "history.json", 1 << 20)) if export else {}
        return {k: [float(v) for v in history[k]] for k in ("loss", "val_loss") if isinstance(history.get(k), list)}
    except (Refused, ValueError, TypeError, AttributeError, OverflowError, RecursionError):
        return {}


def training_facts(export: Path | None, profile: Profile, data: RunData, own_test: tuple | None = None) -> dict:
    """The trained model's compile settings, steps and final IoU, measured here; the reported history beside them."""
    p = profile.parameters
    train_examples = split_size(data.path, str(p["TRAIN_SPLIT"]))
    facts: dict = {"expected_steps": int(p["EPOCHS"]) * math.ceil(train_examples / int(p["BATCH_SIZE"])), "train_examples": train_examples,
                   "history": _history(export)}
    try:
        if export is None:
            raise Refused("the notebook did not finish, so no trained model was exported")
        model = _trained_model(export / "trained.keras", profile.limits.file_mib << 20)
        if model.count_params() > 4 * unet_params(3, int(p["BASE_FILTERS"])):
            raise Refused(f"the trained model has {model.count_params():,} parameters, far more than the U-Net of BASE_FILTERS has")
        optimizer, loss = getattr(model, "optimizer", None), getattr(model, "loss", None)
        facts["model"] = {
            "input_shape": list(model.input_shape), "params": int(model.count_params()),
            "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            "learning_rate": float(np.asarray(optimizer.learning_rate)) if optimizer is not None else None,
            "iterations": int(np.asarray(optimizer.iterations)) if optimizer is not None else 0,
            "loss": loss if isinstance(loss, str) or loss is None else getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__),
        }
    except Exception as error:  # noqa: BLE001 - a missing or broken file is the submission's
        return {**facts, "model": None, "model_problem": cap(str(error), 600)}
    try:
        facts["evaluation"] = evaluate(model, profile, data, (facts["history"].get("val_loss") or [None])[-1], own_test)
    except Exception as error:  # noqa: BLE001 - a model that cannot be evaluated is the submission's
        facts["evaluation"] = {"problem": f"the grader could not evaluate the trained model: {cap(str(error), 400)}"}
    return facts


def own_test_split(out: Path, size: int, examples: int, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The test split as the submission's preprocess prepared it in the probe process, if it has the right shapes."""
    try:
        saved = _arrays(out / "test_split.npz", ["images", "masks"], limit)
        images, masks = saved["images"].astype(np.float32), saved["masks"].astype(np.float32)
    except (Refused, ValueError, OSError, KeyError, MemoryError, zipfile.BadZipFile):
        return None
    if images.shape != (examples, size, size, 3) or masks.shape != (examples, size, size, 1):
        return None
    return images, masks


def probe_facts(challenge: Challenge, out: Path) -> dict:
    """Facts of everything the probe process called: definitions, preprocess and the blocks."""
    facts = {"seed": challenge.seed, "definitions": _probe_status(out, "definitions"), "preprocess": preprocess_facts(out, challenge)}
    for name, cases in (("double_conv_block", challenge.double_conv), ("encoder_block", challenge.encoder),
                        ("decoder_block", challenge.decoder), ("make_unet", challenge.unet)):
        facts[name] = block_facts(out, name, cases)
    return facts
