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
from autograder.challenge import Challenge
from autograder.evaluation import evaluate, split_size

FILE_LIMIT = 8 << 20  # bytes of one probe file (JSON or npz)
KERAS_MODULES = {"keras", "keras.layers", "keras.initializers", "keras.regularizers", "keras.constraints", "keras.activations",
                 "keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics",
                 "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model"}
KEPT_CONFIG = ("filters", "kernel_size", "strides", "padding", "activation", "pool_size")
BOUNDS = {"filters": 4096, "units": 4096, "kernel_size": 16, "pool_size": 16, "strides": 16, "size": 16}  # largest value per field
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


def _archive(data: bytes, limits: dict[str, int], name: str) -> zipfile.ZipFile:
    """A zip archive whose members are all named in `limits` ("*": any name) and unpack to at most their limit."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    for member in archive.infolist():
        limit = limits.get(member.filename, limits.get("*", -1))
        if member.file_size > limit:
            raise Refused(f"{name} holds {member.filename!r}, " + ("too large" if limit >= 0 else "which the grader does not expect"))
    return archive


def check_config(config: object, layers: list[int] | None = None) -> None:
    """Refuse configs that name code outside Keras's own layers, models and optimizers, any Lambda, or sizes out of bounds."""
    layers = [0] if layers is None else layers
    if isinstance(config, dict):
        name, module = config.get("class_name"), config.get("module")
        if name is not None and module not in KERAS_MODULES and name not in TENSOR_MARKERS:
            raise Refused(f"the model uses {name} from {module!r}; only Keras's own layers can be graded")
        if name in ("Lambda", "__lambda__", "function"):
            raise Refused("the model contains a Lambda layer or a Python function; use Keras's own layers")
        layers[0] += module == "keras.layers"
        if layers[0] > MAX_LAYERS:
            raise Refused(f"the model has more than {MAX_LAYERS} layers")
        for key, value in config.items():
            sizes = value if isinstance(value, list) else [value]
            if key in BOUNDS and any(isinstance(v, int | float) and v > BOUNDS[key] for v in sizes):
                raise Refused(f"the model has a layer with {key} {value}, above the {BOUNDS[key]} the grader builds")
            check_config(value, layers)
    elif isinstance(config, list):
        for value in config:
            check_config(value, layers)


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
    try:
        status = json.loads(_read(out / f"{name}.json", 1 << 20))
        ok = status.get("ok") is True
        problems = [str(p)[:300] for p in status.get("problems", [])[:10]] if isinstance(status.get("problems"), list) else []
        return {"ok": ok, "error": "" if ok else str(status.get("error", ""))[:2000], "traceback": str(status.get("traceback", ""))[-4000:],
                "problems": problems}
    except (Refused, ValueError, AttributeError):
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
        arrays = _arrays(out / "preprocess.npz", FILE_LIMIT)
    except (Refused, ValueError, OSError, zipfile.BadZipFile) as error:
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


def _arrays(path: Path, limit: int) -> dict[str, np.ndarray]:
    """The arrays of an .npz file a sandbox wrote, read without pickle after checking what they unpack to."""
    data = _read(path, limit)
    _archive(data, {"*": limit}, path.name)
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


def training_facts(export: Path | None, profile: Profile, data: RunData, own_test: tuple | None = None) -> dict:
    """The trained model's compile settings, steps and final IoU, measured here; the reported history beside them."""
    p = profile.parameters
    train_examples = split_size(data.path, str(p["TRAIN_SPLIT"]))
    facts: dict = {"expected_steps": int(p["EPOCHS"]) * math.ceil(train_examples / int(p["BATCH_SIZE"])), "train_examples": train_examples}
    try:
        history = json.loads(_read(export / "history.json", 1 << 20)) if export else {}
        facts["history"] = {k: [float(v) for v in history[k]] for k in ("loss", "val_loss") if isinstance(history.get(k), list)}
    except (Refused, ValueError, TypeError):
        facts["history"] = {}
    try:
        if export is None:
            raise Refused("the notebook did not finish, so no trained model was exported")
        model = _trained_model(export / "trained.keras", profile.limits.file_mib << 20)
    except Exception as error:  # noqa: BLE001 - a missing or broken file is the submission's
        return {**facts, "model": None, "model_problem": str(error)[:600]}
    optimizer = getattr(model, "optimizer", None)
    loss = getattr(model, "loss", None)
    facts["model"] = {
        "input_shape": list(model.input_shape), "params": int(model.count_params()),
        "optimizer": type(optimizer).__name__ if optimizer is not None else None,
        "learning_rate": float(np.asarray(optimizer.learning_rate)) if optimizer is not None else None,
        "iterations": int(np.asarray(optimizer.iterations)) if optimizer is not None else 0,
        "loss": loss if isinstance(loss, str) or loss is None else getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__),
    }
    facts["evaluation"] = evaluate(model, profile, data, facts["history"].get("val_loss", [None])[-1], own_test)
    return facts


def own_test_split(out: Path, size: int, examples: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The test split as the submission's preprocess prepared it in the probe process, if it has the right shapes."""
    try:
        saved = _arrays(out / "test_split.npz", 256 << 20)
        images, masks = saved["images"].astype(np.float32), saved["masks"].astype(np.float32)
    except (Refused, ValueError, OSError, KeyError, zipfile.BadZipFile):
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
