"""Runs in a fresh sandboxed process: calls the student's functions on the grader's challenge.

    python calls.py FOLDER

FOLDER holds definitions.json (the submission's imports, constants and functions), challenge.json
and inputs.npz; results go to FOLDER/out: one <function>.json each ({"ok": true, "models": [...]}
or {"ok": false, "error": ..., "traceback": ...}), Keras model configs <function>-<i>.json and the
preprocess outputs preprocess.npz. It measures and decides nothing.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _reference_blocks(layers):
    """The grader's own blocks: a function is probed with the student's version of itself and these
    for the blocks it calls, so one mistake costs points in one section only."""

    def double_conv_block(x, num_f):
        x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)

    def encoder_block(x, num_f):
        x = double_conv_block(x, num_f)
        return x, layers.MaxPooling2D(2)(x)

    def decoder_block(x, skip, num_f):
        x = layers.Conv2DTranspose(num_f, 2, strides=2, padding="same")(x)
        return double_conv_block(layers.Concatenate()([x, skip]), num_f)

    return {"double_conv_block": double_conv_block, "encoder_block": encoder_block, "decoder_block": decoder_block}


class Prober:
    """Calls functions from the submission's namespace and saves what they build."""

    def __init__(self, namespace: dict, out: str):
        import keras

        self.keras, self.namespace, self.out = keras, namespace, out
        self.reference = _reference_blocks(keras.layers)

    def with_reference(self, name: str, *helpers: str):
        """The student's `name`, called while `helpers` resolve to the grader's blocks."""
        function, namespace = self.namespace[name], self.namespace

        def call(*args, **kwargs):
            saved = {helper: namespace.get(helper) for helper in helpers}
            namespace.update({helper: self.reference[helper] for helper in helpers})
            try:
                return function(*args, **kwargs)
            finally:
                namespace.update(saved)

        return call

    def save_model(self, name: str, index: int, inputs, outputs) -> str:
        outputs = list(outputs) if isinstance(outputs, tuple | list) else [outputs]
        model = self.keras.Model(inputs, outputs)
        file = f"{name}-{index}.json"
        with open(os.path.join(self.out, file), "w") as handle:
            handle.write(model.to_json())
        return file

    def double_conv_block(self, cases: list) -> list:
        models = []
        for i, (h, w, c, f) in enumerate(cases):
            x = self.keras.Input((h, w, c))
            models.append(self.save_model("double_conv_block", i, x, self.namespace["double_conv_block"](x, f)))
        return models

    def encoder_block(self, cases: list) -> list:
        models = []
        for i, (h, w, c, f) in enumerate(cases):
            x = self.keras.Input((h, w, c))
            result = self.with_reference("encoder_block", "double_conv_block")(x, f)
            if not isinstance(result, tuple | list) or len(result) != 2:
                raise TypeError(f"encoder_block returned {type(result).__name__}, not a pair (x, p)")
            models.append(self.save_model("encoder_block", i, x, result))
        return models

    def decoder_block(self, cases: list) -> list:
        models = []
        for i, (h, w, c, s, f) in enumerate(cases):
            x, skip = self.keras.Input((h, w, c)), self.keras.Input((2 * h, 2 * w, s))
            models.append(self.save_model("decoder_block", i, [x, skip], self.with_reference("decoder_block", "double_conv_block")(x, skip, f)))
        return models

    def make_unet(self, cases: list) -> list:
        models = []
        for i, (h, w, c, base) in enumerate(cases):
            make_unet = self.with_reference("make_unet", "double_conv_block", "encoder_block", "decoder_block")
            model = make_unet(input_shape=(h, w, c), base_num_f=base, num_classes=1, final_act=None)
            models.append(self.save_model("make_unet", i, model.inputs, model.outputs))
        return models

    def preprocess(self, arrays: dict, count: int) -> list:
        import numpy as np
        import tensorflow as tf

        outputs = {}
        for i in range(count):
            example = {"image": tf.constant(arrays[f"image{i}"]), "segmentation_mask": tf.constant(arrays[f"trimap{i}"]),
                       "label": tf.constant(0, tf.int64), "species": tf.constant(0, tf.int64), "file_name": tf.constant("probe.jpg")}
            image, mask = next(iter(tf.data.Dataset.from_tensors(example).map(self.namespace["preprocess"])))
            outputs[f"image{i}"], outputs[f"mask{i}"] = np.asarray(image), np.asarray(mask)
        np.savez(os.path.join(self.out, "preprocess.npz"), **outputs)
        return ["preprocess.npz"]

    def test_split(self, split: str, size: int) -> list:
        """The test split through the submission's preprocess (for the grader's check of the reported val_loss)."""
        import numpy as np
        import tensorflow_datasets as tfds

        self.namespace["IMG_SIZE"] = size
        pairs = [(np.asarray(image), np.asarray(mask)) for image, mask in tfds.load("oxford_iiit_pet", split=split).map(self.namespace["preprocess"])]
        np.savez(os.path.join(self.out, "test_split.npz"), images=np.stack([p[0] for p in pairs]), masks=np.stack([p[1] for p in pairs]))
        return ["test_split.npz"]


def _record(out: str, name: str, body) -> None:
    try:
        facts = {"ok": True, "files": body()}
    except BaseException as error:  # noqa: BLE001 - any failure of student code is a fact
        facts = {"ok": False, "error": f"{type(error).__name__}: {error}"[:2000],
                 "traceback": "".join(traceback.format_exception(error))[-4000:]}
    with open(os.path.join(out, f"{name}.json"), "w") as handle:
        json.dump(facts, handle)


def main(folder: str) -> None:
    out = os.path.join(folder, "out")
    with open(os.path.join(folder, "challenge.json")) as handle:
        challenge = json.load(handle)
    with open(os.path.join(folder, "definitions.json")) as handle:
        statements = json.load(handle)
    namespace = {"__name__": "__submission__"}
    problems = []
    for cell, source in statements:  # one by one: a statement that fails does not hide the ones after it
        try:
            exec(compile(source, f"cell {cell + 1}", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - recorded for the feedback
            problems.append(f"cell {cell + 1}: {type(error).__name__}: {error}"[:300])
    with open(os.path.join(out, "definitions.json"), "w") as handle:
        json.dump({"ok": True, "files": [], "problems": problems[:10]}, handle)
    namespace["IMG_SIZE"] = challenge["img_size"]
    import numpy as np

    arrays = dict(np.load(os.path.join(folder, "inputs.npz")))
    prober = Prober(namespace, out)
    _record(out, "preprocess", lambda: prober.preprocess(arrays, challenge["examples"]))
    for name in ("double_conv_block", "encoder_block", "decoder_block", "make_unet"):
        _record(out, name, lambda name=name: getattr(prober, name)(challenge[name]))
    if challenge["test_split"]:
        _record(out, "test_split", lambda: prober.test_split(*challenge["test_split"]))


if __name__ == "__main__":
    main(sys.argv[1])
