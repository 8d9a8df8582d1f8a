"""Facts probed out of the student's kernel after the run.

Each probe is a small program sent to the kernel. It calls the student's functions on inputs
that the grader made and writes what came out (shapes, parameter counts, layer graphs, arrays,
the trained model) to files in the run's folder. It judges nothing: every check runs in the
grader's own process, on these files.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np

FACTS_DIR = "facts"
PREPROCESS_INPUTS = "preprocess_inputs.npz"

# (height, width, channels, filters): sizes that make hard-coded shapes fail
DOUBLE_CONV_CASES = [(64, 64, 3, 16), (24, 40, 8, 5), (17, 9, 2, 12)]
ENCODER_CASES = [(64, 64, 3, 16), (32, 48, 8, 6)]
# (height, width, channels, skip channels, filters)
DECODER_CASES = [(8, 8, 64, 32, 32), (6, 10, 12, 7, 5)]
# (height, width, channels, base filters)
UNET_CASES = [(256, 256, 3, 32), (64, 96, 3, 8)]


def make_preprocess_inputs(path: Path, seed: int = 7) -> dict[str, np.ndarray]:
    """Grader-made examples: noise images and trimaps holding 1, 2 and 3 in blocks, at odd sizes."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for number, (h, w) in enumerate([(75, 110), (300, 200)]):
        trimap = np.full((h, w, 1), 2, np.uint8)
        trimap[h // 5 : 4 * h // 5, w // 6 : 5 * w // 6] = 3
        trimap[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
        trimap[h // 3 : h // 2, w // 3 : w // 2] = 2  # a background hole inside the pet
        arrays[f"image{number}"] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        arrays[f"mask{number}"] = trimap
    np.savez(path, **arrays)
    return arrays


def _kernel_probes(facts_dir, inputs_path, double_conv_cases, encoder_cases, decoder_cases, unet_cases):
    """Runs inside the student's kernel (sent as source): writes one JSON file per probe."""
    import json as _json
    import os as _os
    import traceback as _traceback

    import keras as _keras
    import numpy as _np
    import tensorflow as _tf

    _os.makedirs(facts_dir, exist_ok=True)
    namespace = globals()
    layers = _keras.layers

    # The grader's own blocks: each function is probed with the student's version of itself and the
    # reference version of the blocks it calls, so one mistake costs points in one section only.
    def ref_double_conv_block(x, num_f):
        x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)

    def ref_encoder_block(x, num_f):
        x = ref_double_conv_block(x, num_f)
        return x, layers.MaxPooling2D(2)(x)

    def ref_decoder_block(x, skip, num_f):
        x = layers.Conv2DTranspose(num_f, 2, strides=2, padding="same")(x)
        return ref_double_conv_block(layers.Concatenate()([x, skip]), num_f)

    reference = {"double_conv_block": ref_double_conv_block, "encoder_block": ref_encoder_block, "decoder_block": ref_decoder_block}

    def student_with_reference(name, *helpers):
        """The student's function `name`, called while `helpers` resolve to the grader's blocks."""
        function = namespace[name]

        def call(*args, **kwargs):
            saved = {helper: namespace.get(helper) for helper in helpers}
            namespace.update({helper: reference[helper] for helper in helpers})
            try:
                return function(*args, **kwargs)
            finally:
                namespace.update(saved)

        return call

    def layer_graph(model):
        graph = []
        for layer in model.layers:
            config = layer.get_config()
            keep = {k: config[k] for k in ("filters", "kernel_size", "strides", "padding", "activation", "pool_size") if k in config}
            sources = []
            inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
            for tensor in inputs:
                history = getattr(tensor, "_keras_history", None)
                sources.append(history.operation.name if history else None)
            shape = layer.output.shape if hasattr(layer, "output") else None
            graph.append({"name": layer.name, "class": type(layer).__name__, "config": keep, "inputs": sources,
                          "output_shape": list(shape) if shape is not None else None,
                          "params": int(layer.count_params()) if layer.built else 0})
        return graph

    def model_facts(inputs, outputs):
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        model = _keras.Model(inputs, list(outputs))
        return {"shapes": [list(o.shape) for o in outputs], "params": int(model.count_params()), "layers": layer_graph(model)}

    def probe(name, body):
        try:
            facts = {"ok": True, **body()}
        except BaseException as error:  # noqa: BLE001 - any failure of student code is a fact
            facts = {"ok": False, "error": f"{type(error).__name__}: {error}",
                     "traceback": "".join(_traceback.format_exception(error))[-3000:]}
        with open(_os.path.join(facts_dir, f"{name}.json"), "w") as handle:
            _json.dump(facts, handle, default=str)

    def settings():
        names = ["IMG_SIZE", "BATCH_SIZE", "EPOCHS", "BASE_FILTERS", "LEARNING_RATE", "TRAIN_SPLIT", "TEST_SPLIT", "SEED"]
        return {"values": {n: namespace[n] for n in names if n in namespace},
                "functions": [n for n in ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet")
                              if callable(namespace.get(n))]}

    def preprocess_probe():
        arrays = dict(_np.load(inputs_path))
        outputs = {}
        for number in range(len(arrays) // 2):
            example = {"image": _tf.constant(arrays[f"image{number}"]), "segmentation_mask": _tf.constant(arrays[f"mask{number}"]),
                       "label": _tf.constant(0, _tf.int64), "species": _tf.constant(0, _tf.int64), "file_name": _tf.constant("probe.jpg")}
            image, mask = next(iter(_tf.data.Dataset.from_tensors(example).map(namespace["preprocess"])))
            outputs[f"image{number}"], outputs[f"mask{number}"] = image.numpy(), mask.numpy()
        _np.savez(_os.path.join(facts_dir, "preprocess_outputs.npz"), **outputs)
        return {"img_size": namespace.get("IMG_SIZE"),
                "dtypes": {k: str(v.dtype) for k, v in outputs.items()}}

    def double_conv_probe():
        cases = []
        for h, w, c, f in double_conv_cases:
            inputs = _keras.Input((h, w, c))
            cases.append({"case": [h, w, c, f], **model_facts(inputs, namespace["double_conv_block"](inputs, f))})
        return {"cases": cases}

    def encoder_probe():
        cases = []
        for h, w, c, f in encoder_cases:
            inputs = _keras.Input((h, w, c))
            result = student_with_reference("encoder_block", "double_conv_block")(inputs, f)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"encoder_block returned {type(result).__name__}, not a pair (x, p)")
            cases.append({"case": [h, w, c, f], **model_facts(inputs, list(result))})
        return {"cases": cases}

    def decoder_probe():
        cases = []
        for h, w, c, s, f in decoder_cases:
            x, skip = _keras.Input((h, w, c)), _keras.Input((2 * h, 2 * w, s))
            facts = model_facts([x, skip], student_with_reference("decoder_block", "double_conv_block")(x, skip, f))
            facts["input_names"] = [x._keras_history.operation.name, skip._keras_history.operation.name]
            cases.append({"case": [h, w, c, s, f], **facts})
        return {"cases": cases}

    def unet_probe():
        cases = []
        for h, w, c, base in unet_cases:
            make_unet = student_with_reference("make_unet", "double_conv_block", "encoder_block", "decoder_block")
            model = make_unet(input_shape=(h, w, c), base_num_f=base, num_classes=1, final_act=None)
            cases.append({"case": [h, w, c, base], "shapes": [list(model.output_shape)], "params": int(model.count_params()),
                          "layers": layer_graph(model)})
        return {"cases": cases}

    def training_probe():
        model, history = namespace.get("model"), namespace.get("history")
        facts = {"has_model": isinstance(model, _keras.Model), "has_history": history is not None}
        if facts["has_model"]:
            optimizer = getattr(model, "optimizer", None)
            facts["compiled"] = bool(getattr(model, "compiled", False)) and optimizer is not None
            if facts["compiled"]:
                facts["optimizer"] = type(optimizer).__name__
                facts["learning_rate"] = float(_np.asarray(optimizer.learning_rate))
                loss = model.loss
                facts["loss"] = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)
            model.save(_os.path.join(facts_dir, "model.keras"))
            facts["input_shape"] = list(model.input_shape)
        if history is not None and hasattr(history, "history"):
            facts["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
            facts["history_params"] = {k: v for k, v in getattr(history, "params", {}).items() if isinstance(v, (int, float, str))}
        if facts.get("compiled") and "val_loss" in facts.get("history", {}):
            # The loss of the trained model on the notebook's own `test` and, if that differs, `train` datasets.
            for split in ("test", "train"):
                if isinstance(namespace.get(split), _tf.data.Dataset):
                    facts[f"loss_on_{split}"] = float(_np.ravel(model.evaluate(namespace[split], verbose=0))[0])
                if abs(facts.get("loss_on_test", _np.inf) - facts["history"]["val_loss"][-1]) < 1e-3:
                    break
        return facts

    for name, body in [("settings", settings), ("preprocess", preprocess_probe), ("double_conv_block", double_conv_probe),
                       ("encoder_block", encoder_probe), ("decoder_block", decoder_probe), ("make_unet", unet_probe),
                       ("training", training_probe)]:
        yield name, lambda name=name, body=body: probe(name, body)


def probe_cells(workdir: Path, timeout: int) -> list[tuple[str, str, int]]:
    """The probe programs for `autograder.run.execute`: (name, source, timeout) each."""
    facts_dir = workdir / FACTS_DIR
    inputs = workdir / PREPROCESS_INPUTS
    make_preprocess_inputs(inputs)
    arguments = json.dumps([str(facts_dir), str(inputs), DOUBLE_CONV_CASES, ENCODER_CASES, DECODER_CASES, UNET_CASES])
    setup = (
        f"{inspect.getsource(_kernel_probes)}\n"
        f"__grader_probes__ = dict(_kernel_probes(*{arguments}))\n"
        "del _kernel_probes\n"
    )
    names = ["settings", "preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet", "training"]
    return [("setup", setup, timeout)] + [(name, f"__grader_probes__[{name!r}]()", timeout) for name in names]
