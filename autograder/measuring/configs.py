"""Keras model configs a sandbox saved, judged before Keras builds anything from them.

Every object a config names is resolved exactly as Keras's deserializer would resolve it (whatever module
and name it gives: `keras` + `layers.Lambda` is keras.layers.Lambda) and the object itself must be on an
allow-list: the layers a U-Net is built from, initializers, regularizers, constraints, optimizers and their
schedules, losses and metrics, activations and dtype policies. Nothing that calls a function it is given or
opens a path (Lambda, TFSMLayer, lookup layers, keras.utils, keras.applications, keras.datasets ...) is on it.
Layer counts and sizes are bounded; the model is then rebuilt in Keras's safe mode.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path

from . import files

LAYERS = (
    "InputLayer", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D", "MaxPooling2D",
    "AveragePooling2D", "UpSampling2D", "Concatenate", "Add", "Multiply", "Activation", "ReLU", "LeakyReLU",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "Dropout", "SpatialDropout2D", "ZeroPadding2D",
    "Cropping2D", "Rescaling", "Identity", "Dense", "Flatten", "Reshape", "Softmax",
)  # fmt: skip
MARKERS = {"__keras_tensor__", "__tuple__"}  # entries Keras writes for tensors and tuples, with no module
BOUNDS = {
    "filters": 2048,
    "units": 4096,
    "kernel_size": 7,
    "pool_size": 8,
    "strides": 8,
    "size": 8,
    "batch_shape": 1024,
}
MAX_LAYERS = 300
WRAPPERS = {
    "LossFunctionWrapper",
    "MeanMetricWrapper",
    "Loss",
    "Metric",
    "Optimizer",
    "Initializer",
    "Regularizer",
    "Constraint",
    "LearningRateSchedule",
}  # base classes and wrappers of arbitrary functions


class Refused(files.Refused):
    """A config the grader will not build; the message says why."""


@functools.cache
def allowed() -> frozenset[int]:
    """ids of the objects a config may name."""
    import keras

    objects: list[object] = [getattr(keras.layers, name) for name in LAYERS]
    objects += [keras.Model, keras.Sequential, keras.DTypePolicy, keras.src.models.functional.Functional]
    objects += [keras.src.dtype_policies.dtype_policy.FloatDTypePolicy]
    for module in (
        keras.initializers,
        keras.regularizers,
        keras.constraints,
        keras.optimizers,
        keras.optimizers.schedules,
        keras.losses,
        keras.metrics,
        keras.activations,
    ):
        for name, value in vars(module).items():
            if name.startswith("_") or name in WRAPPERS or inspect.ismodule(value):
                continue
            if inspect.isclass(value) or (
                inspect.isfunction(value) and module in (keras.activations, keras.losses, keras.metrics)
            ):
                objects.append(value)
    return frozenset(id(value) for value in objects if not _dangerous(value))


def _dangerous(value: object) -> bool:
    """Functions of a module that reach beyond tensors (deserializers, getters that load by name)."""
    return getattr(value, "__name__", "") in {"deserialize", "serialize", "get"}


def resolve(item: dict) -> object:
    """The object a config entry names, as Keras's deserializer would find it (None where it finds nothing)."""
    from keras.src.saving import serialization_lib

    name = item.get("class_name")
    module = item.get("module")
    kind = "function" if name == "function" else "class"
    if kind == "function":
        name = item.get("config")
    registered = item.get("registered_name", name)
    if not isinstance(name, str) or not (module is None or isinstance(module, str)):
        return None
    if not isinstance(registered, str | None):
        return None
    try:
        return serialization_lib._retrieve_class_or_fn(name, registered, module, kind, item, custom_objects={})
    except (TypeError, ValueError, AttributeError, ImportError):
        return None


def _entries(config: object):
    """Every dict inside a JSON value (iteratively: any depth)."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check(config: object) -> None:
    """Refuse a config naming anything off the allow-list, more than MAX_LAYERS layers, or sizes above BOUNDS."""
    import keras

    layers = 0
    permitted = allowed()
    for item in _entries(config):
        name = item.get("class_name")
        if name is not None and not (name in MARKERS and item.get("module") is None):
            if not isinstance(name, str) or not (name.isidentifier() or name == "function"):
                raise Refused(f"the model names {str(name)[:80]!r}, which is not a Keras class")
            found = resolve(item)
            if found is None or id(found) not in permitted:
                shown = item.get("config") if name == "function" else name
                raise Refused(
                    f"the model uses {str(shown)[:80]} from {str(item.get('module'))[:80]!r}, which the grader does "
                    "not build: use Keras's own convolution, pooling and merging layers"
                )
            layers += inspect.isclass(found) and issubclass(found, keras.layers.Layer)
        for key, bound in BOUNDS.items():
            sizes = item.get(key) if isinstance(item.get(key), list) else [item.get(key)]
            if any(isinstance(v, int | float) and v > bound for v in sizes):
                raise Refused(f"the model has a layer with {key} {item[key]}, above the {bound} the grader builds")
    if layers > MAX_LAYERS:
        raise Refused(f"the model has more than {MAX_LAYERS} layers")


def rebuild(path: Path):
    """A Keras model rebuilt from a saved JSON config, after `check`, in safe mode."""
    import keras

    try:
        config = json.loads(files.read(path))
    except ValueError as error:
        raise Refused(f"{path.name} is not a model config") from error
    check(config)
    return keras.saving.deserialize_keras_object(config, safe_mode=True)
