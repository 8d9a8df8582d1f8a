"""Decoder: decoder_block on fresh random sizes, channel counts and widths."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autograder.challenge import decoder_params
from autograder.checks.graph import convs, of_class

POINTS = pytest.mark.points


@POINTS("decoder", 8)
def test_decoder_output_shape(probed: Callable) -> None:
    """decoder_block doubles height and width and outputs num_f channels"""
    for case in probed("decoder_block").cases:
        h, w, c, s, f = case.case
        shape = case.shapes[0]
        assert shape == [None, 2 * h, 2 * w, f], (
            f"decoder_block on x {(h, w, c)}, skip {(2 * h, 2 * w, s)}, num_f={f} gave {shape[1:]}, "
            f"expected {[2 * h, 2 * w, f]}."
        )


@POINTS("decoder", 4)
def test_decoder_upsamples_with_transposed_conv(probed: Callable) -> None:
    """decoder_block upsamples x with Conv2DTranspose(num_f, 2, strides=2)"""
    for case in probed("decoder_block").cases:
        f = case.case[4]
        ups = of_class(case.layers, "Conv2DTranspose")
        assert len(ups) == 1, (
            f"decoder_block has {len(ups)} Conv2DTranspose layers; upsample x with exactly one "
            "(UpSampling2D learns nothing)."
        )
        config = ups[0].config
        assert config.strides == [2, 2], (
            f"the transposed convolution has strides {config.strides}; use strides=2 to double the size."
        )
        assert config.filters == f, f"the transposed convolution has {config.filters} filters; use num_f ({f})."
        assert ups[0].inputs == [case.input_names[0]], (
            "the transposed convolution must upsample x (the first argument), not the skip."
        )


@POINTS("decoder", 4)
def test_decoder_concatenates_skip(probed: Callable) -> None:
    """decoder_block concatenates the upsampled x with the skip tensor"""
    for case in probed("decoder_block").cases:
        concats = of_class(case.layers, "Concatenate")
        assert len(concats) == 1, (
            f"decoder_block has {len(concats)} Concatenate layers; fuse with the skip using exactly one "
            "(Add is not a concatenation)."
        )
        sources = set(concats[0].inputs)
        ups = {layer.name for layer in of_class(case.layers, "Conv2DTranspose")}
        assert case.input_names[1] in sources, (
            "the Concatenate layer does not receive the skip tensor: concatenate [upsampled x, skip]."
        )
        assert sources & ups, (
            "the Concatenate layer does not receive the upsampled x: concatenate the Conv2DTranspose output with skip."
        )


@POINTS("decoder", 4)
def test_decoder_refines_with_double_conv(probed: Callable) -> None:
    """decoder_block refines the fused features with double_conv_block(num_f)"""
    for case in probed("decoder_block").cases:
        h, w, c, s, f = case.case
        refine = convs(case.layers)
        assert len(refine) == 2, (
            f"decoder_block has {len(refine)} Conv2D layers after fusing; refine with one double_conv_block "
            "(two convolutions)."
        )
        concat = of_class(case.layers, "Concatenate")
        if concat:
            assert refine[0].inputs == [concat[0].name], (
                "the double_conv_block must take the concatenated tensor as its input."
            )
        assert case.params == decoder_params(c, s, f), (
            f"decoder_block on x {(h, w, c)}, skip channels {s}, num_f={f} has {case.params} parameters, "
            f"expected {decoder_params(c, s, f)}: "
            "Conv2DTranspose(num_f, 2, strides=2), Concatenate, double_conv_block(num_f)."
        )
