"""Full model: make_unet at base width 32 and at a fresh random size, width and channel count."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autograder.challenge import unet_params
from autograder.checks.graph import of_class
from autograder.measuring.facts import Built

POINTS = pytest.mark.points


@pytest.fixture
def cases(probed: Callable) -> list[Built]:
    return probed("make_unet").cases


@POINTS("unet", 10)
def test_parameter_count_base_32(cases: list[Built]) -> None:
    """make_unet with 3 channels and base_num_f=32 has 7,760,097 parameters"""
    _, _, c, base = cases[0].case
    expected = unet_params(c, base)
    assert cases[0].params == expected, (
        f"make_unet with base_num_f=32 has {cases[0].params:,} parameters, expected {expected:,}: "
        "check the filters of every stage "
        "(x1, x2, x4, x8 down; x16 bottleneck; x8, x4, x2, x1 up) and that every decoder stage gets its skip."
    )


@POINTS("unet", 5)
def test_parameter_count_other_base(cases: list[Built]) -> None:
    """make_unet follows base_num_f and the input's channels"""
    _, _, c, base = cases[1].case
    expected = unet_params(c, base)
    assert cases[1].params == expected, (
        f"make_unet with base_num_f={base} and {c} input channels has {cases[1].params:,} parameters, "
        f"expected {expected:,}: "
        "derive every stage's filters from base_num_f instead of fixed numbers."
    )


@POINTS("unet", 5)
def test_output_matches_input_size(cases: list[Built]) -> None:
    """make_unet's output has the input's height and width and one channel"""
    for case in cases:
        h, w, c, _ = case.case
        shape = case.shapes[0]
        assert shape == [None, h, w, 1], (
            f"make_unet(input_shape={(h, w, c)}) outputs {shape[1:]}, expected {[h, w, 1]}: "
            "use four decoder stages and the given head."
        )


@POINTS("unet", 5)
def test_skips_wired_through_concatenate(cases: list[Built]) -> None:
    """every decoder stage concatenates the encoder skip of its own scale"""
    layers = cases[1].layers
    by_name = {layer.name: layer for layer in layers}
    pooled_inputs = {name for layer in of_class(layers, "MaxPooling2D") for name in layer.inputs[:1] if name in by_name}
    concats = of_class(layers, "Concatenate")
    assert len(concats) == 4, (
        f"make_unet has {len(concats)} Concatenate layers; each of the four decoder stages needs one skip connection."
    )
    skip_sizes = []
    for concat in concats:
        skips = [name for name in concat.inputs if name in pooled_inputs]
        assert skips, (
            "a decoder stage concatenates something other than an encoder skip (a tensor taken before pooling): "
            "pass f4, f3, f2, f1 in that order."
        )
        skip_sizes += [size for size in by_name[skips[0]].output_shape[1:2] if size is not None]
        assert by_name[skips[0]].output_shape[1:3] == concat.output_shape[1:3], (
            "a decoder stage concatenates a skip of another scale."
        )
    assert skip_sizes == sorted(skip_sizes), (
        f"the skips reach the decoder at heights {skip_sizes}; "
        "the first decoder stage takes f4 (smallest), the last f1."
    )


@POINTS("unet", 5)
def test_sigmoid_head(cases: list[Built]) -> None:
    """the head is a 1x1 Conv2D with one filter and a sigmoid when final_act=None"""
    assert cases[1].layers, "make_unet built a model without layers; end with the given 1x1 Conv2D head."
    head = cases[1].layers[-1]
    assert head.kind == "Conv2D", f"the last layer is a {head.kind}; end with the given 1x1 Conv2D head."
    assert head.config.activation == "sigmoid", (
        f"with num_classes=1 and final_act=None the head's activation is {head.config.activation!r}; "
        "keep the given rule: sigmoid for one class."
    )
    assert head.config.kernel_size == [1, 1] and head.config.filters == 1, (
        "the head must be a 1x1 convolution with num_classes filters."
    )
