"""The grader's own version of every graded function: the blocks given to a probed function in place of the blocks
it calls, and any one of them put into a notebook run again for the training section (autograder/carry.py).

This file never enters a sandbox (unlike those in probe/): `references()` hands each block's source, one stage at a
time, to the probe process through its stdin (autograder/probe/calls.py), after every function that could pass it
off as its own has been probed; `source()` gives carry.py one function's source. The sources use the notebook's
global names (`layers`, `keras`, `tf`, `IMG_SIZE`; the probe defines `layers`, the only one its blocks use) and call
one another by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from assignment.points import GRADED

layers = keras = tf = IMG_SIZE = None  # the notebook's names, where these sources run


def preprocess(example):
    image = tf.cast(tf.image.resize(example["image"], (IMG_SIZE, IMG_SIZE), method="bilinear"), tf.float32) / 255.0
    mask = tf.image.resize(example["segmentation_mask"], (IMG_SIZE, IMG_SIZE), method="nearest")
    return image, tf.cast(mask != 2, tf.float32)


def double_conv_block(x, num_f):
    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)
    return layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)


def encoder_block(x, num_f):
    x = double_conv_block(x, num_f)
    return x, layers.MaxPooling2D(2)(x)


def decoder_block(x, skip, num_f):
    x = layers.Conv2DTranspose(num_f, 2, strides=2, padding="same")(x)
    return double_conv_block(layers.Concatenate()([x, skip]), num_f)


def make_unet(input_shape=(256, 256, 3), base_num_f=32, num_classes=1, final_act=None):
    inputs = keras.Input(shape=input_shape)
    skips = []
    x = inputs
    for scale in (1, 2, 4, 8):
        skip, x = encoder_block(x, base_num_f * scale)
        skips.append(skip)
    x = double_conv_block(x, base_num_f * 16)
    for scale, skip in zip((8, 4, 2, 1), reversed(skips), strict=True):
        x = decoder_block(x, skip, base_num_f * scale)
    act = final_act if final_act is not None else ("sigmoid" if num_classes == 1 else "softmax")
    outputs = layers.Conv2D(num_classes, 1, activation=act, padding="same", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="U-Net")


def _sources() -> dict[str, str]:
    tree = ast.parse(Path(__file__).read_text())
    return {node.name: ast.unparse(node) for node in tree.body if isinstance(node, ast.FunctionDef)}


def source(name: str) -> str:
    """The source of the grader's version of the graded function `name`."""
    return _sources()[name]


def stages() -> list[list[str]]:
    """The graded functions in stages: a function's stage comes after the stages of every block it calls."""
    stage: dict[str, int] = {}
    for graded in GRADED:
        stage[graded.name] = 1 + max((stage[helper] for helper in graded.helpers), default=-1)
    return [[name for name, number in stage.items() if number == s] for s in range(max(stage.values()) + 1)]


def references() -> list[dict[str, str]]:
    """For each stage but the last, the sources of its functions that later stages call (once it is probed)."""
    sources = _sources()
    called = {helper for graded in GRADED for helper in graded.helpers}
    return [{name: sources[name] for name in stage if name in called} for stage in stages()[:-1]]
