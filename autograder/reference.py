"""The grader's own blocks, given to a probed function in place of the blocks it calls.

This file never enters a sandbox (unlike those in probe/): `references()` hands each function's source, one stage
at a time, to the probe process through its stdin (autograder/probe/calls.py), after every function that could pass
it off as its own has been probed. The sources use the global name `layers` (keras.layers) and call one another by
name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from assignment.points import GRADED

layers = None  # keras.layers, where the probe runs these sources


def double_conv_block(x, num_f):
    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)
    return layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)


def encoder_block(x, num_f):
    x = double_conv_block(x, num_f)
    return x, layers.MaxPooling2D(2)(x)


def decoder_block(x, skip, num_f):
    x = layers.Conv2DTranspose(num_f, 2, strides=2, padding="same")(x)
    return double_conv_block(layers.Concatenate()([x, skip]), num_f)


def stages() -> list[list[str]]:
    """The graded functions in stages: a function's stage comes after the stages of every block it calls."""
    stage: dict[str, int] = {}
    for graded in GRADED:
        stage[graded.name] = 1 + max((stage[helper] for helper in graded.helpers), default=-1)
    return [[name for name, number in stage.items() if number == s] for s in range(max(stage.values()) + 1)]


def references() -> list[dict[str, str]]:
    """For each stage but the last, the sources of its functions that later stages call (once it is probed)."""
    tree = ast.parse(Path(__file__).read_text())
    sources = {node.name: ast.unparse(node) for node in tree.body if isinstance(node, ast.FunctionDef)}
    called = {helper for graded in GRADED for helper in graded.helpers}
    return [{name: sources[name] for name in stage if name in called} for stage in stages()[:-1]]
