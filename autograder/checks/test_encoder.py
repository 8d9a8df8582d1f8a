"""Encoder: double_conv_block and encoder_block on fresh random sizes and widths."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autograder.challenge import double_conv_params
from autograder.checks.graph import convs, of_class

POINTS = pytest.mark.points


def _describe(case: list[int]) -> str:
    h, w, c, f = case
    return f"a {(h, w, c)} input with num_f={f}"


@POINTS("encoder", 8)
def test_double_conv_shapes(probed: Callable) -> None:
    """double_conv_block keeps height and width and outputs num_f channels"""
    for case in probed("double_conv_block").cases:
        h, w, _, f = case.case
        shape = case.shapes[0]
        assert shape == [None, h, w, f], (
            f"double_conv_block on {_describe(case.case)} gave {shape[1:]}, expected {[h, w, f]}: "
            "use num_f filters and padding='same' in both convolutions (no fixed sizes)."
        )


@POINTS("encoder", 7)
def test_double_conv_two_3x3_relu_convs(probed: Callable) -> None:
    """double_conv_block is two 3x3 ReLU convolutions with 'same' padding"""
    for case in probed("double_conv_block").cases:
        _h, _w, c, f = case.case
        layers = convs(case.layers)
        assert len(layers) == 2, (
            f"double_conv_block has {len(layers)} Conv2D layers; it needs exactly two, one after the other."
        )
        for layer in layers:
            config = layer.config
            assert config.kernel_size == [3, 3], f"a convolution has kernel_size {config.kernel_size}; use 3 (3x3)."
            assert config.activation == "relu", (
                f"a convolution has activation {config.activation!r}; use activation='relu'."
            )
            assert config.padding == "same", f"a convolution has padding {config.padding!r}; use padding='same'."
        assert case.params == double_conv_params(c, f), (
            f"double_conv_block on {_describe(case.case)} has {case.params} parameters, "
            f"expected {double_conv_params(c, f)}."
        )


@POINTS("encoder", 5)
def test_encoder_skip_output(probed: Callable) -> None:
    """encoder_block's first output (the skip) keeps height and width with num_f channels"""
    for case in probed("encoder_block").cases:
        h, w, _, f = case.case
        assert len(case.shapes) == 2, f"encoder_block returned {len(case.shapes)} tensors; return the pair (x, p)."
        skip = case.shapes[0]
        assert skip == [None, h, w, f], (
            f"encoder_block's skip output x on {_describe(case.case)} is {skip[1:]}, expected {[h, w, f]}: "
            "return the double_conv_block output before pooling as x."
        )


@POINTS("encoder", 5)
def test_encoder_pooled_output(probed: Callable) -> None:
    """encoder_block's second output is the skip halved by 2x2 max pooling"""
    for case in probed("encoder_block").cases:
        h, w, _, f = case.case
        assert len(case.shapes) == 2, f"encoder_block returned {len(case.shapes)} tensors; return the pair (x, p)."
        pooled = case.shapes[1]
        if pooled == [None, h, w, f] and case.shapes[0] == [None, h // 2, w // 2, f]:
            pytest.fail("encoder_block returns (p, x) in the wrong order: return the skip x first, then the pooled p.")
        assert pooled == [None, h // 2, w // 2, f], (
            f"encoder_block's pooled output p on {_describe(case.case)} is {pooled[1:]}, "
            f"expected {[h // 2, w // 2, f]}: "
            "apply MaxPooling2D(pool_size=2) to the block's output."
        )


@POINTS("encoder", 5)
def test_encoder_uses_double_conv_and_max_pooling(probed: Callable) -> None:
    """encoder_block is double_conv_block followed by one MaxPooling2D, with no extra weights"""
    for case in probed("encoder_block").cases:
        _h, _w, c, f = case.case
        pools = of_class(case.layers, "MaxPooling2D")
        assert len(pools) == 1, (
            f"encoder_block has {len(pools)} MaxPooling2D layers; use exactly one "
            "(other downsampling such as strides does not count)."
        )
        assert case.params == double_conv_params(c, f), (
            f"encoder_block on {_describe(case.case)} has {case.params} parameters, "
            f"expected {double_conv_params(c, f)} "
            "(those of one double_conv_block): call double_conv_block(x, num_f) once and pool its output."
        )
