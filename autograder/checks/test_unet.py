"""Full model [30]: make_unet at the seed's size and at another size and width."""

from __future__ import annotations

import pytest

from autograder.checks.blocks import Facts, of_class, unet_params

POINTS = pytest.mark.points


def _case(facts: Facts, index: int) -> dict:
    return facts("make_unet")["cases"][index]


@POINTS("unet", 10)
def test_parameter_count_base_32(facts: Facts) -> None:
    """make_unet((256, 256, 3), base_num_f=32) has 7,760,097 parameters"""
    case = _case(facts, 0)
    expected = unet_params(case["case"][2], case["case"][3])
    assert case["params"] == expected, (
        f"make_unet with base_num_f=32 has {case['params']:,} parameters, expected {expected:,}: check the filters of every stage "
        "(x1, x2, x4, x8 down; x16 bottleneck; x8, x4, x2, x1 up) and that every decoder stage gets its skip.")


@POINTS("unet", 5)
def test_parameter_count_other_base(facts: Facts) -> None:
    """make_unet follows base_num_f (base 8 on a 64 x 96 input)"""
    case = _case(facts, 1)
    expected = unet_params(case["case"][2], case["case"][3])
    assert case["params"] == expected, (
        f"make_unet with base_num_f={case['case'][3]} has {case['params']:,} parameters, expected {expected:,}: "
        "derive every stage's filters from base_num_f instead of fixed numbers.")


@POINTS("unet", 5)
def test_output_matches_input_size(facts: Facts) -> None:
    """make_unet's output has the input's height and width and one channel"""
    for index in (0, 1):
        h, w, _, _ = _case(facts, index)["case"]
        shape = _case(facts, index)["shapes"][0]
        assert shape == [None, h, w, 1], (
            f"make_unet(input_shape={(h, w, 3)}) outputs {shape[1:]}, expected {[h, w, 1]}: use four decoder stages and the given head.")


@POINTS("unet", 5)
def test_skips_wired_through_concatenate(facts: Facts) -> None:
    """every decoder stage concatenates the encoder skip of its own scale"""
    layers = _case(facts, 1)["layers"]
    by_name = {layer["name"]: layer for layer in layers}
    pooled_inputs = {layer["inputs"][0] for layer in of_class(layers, "MaxPooling2D")}
    concats = of_class(layers, "Concatenate")
    assert len(concats) == 4, f"make_unet has {len(concats)} Concatenate layers; each of the four decoder stages needs one skip connection."
    skip_sizes = []
    for concat in concats:
        skips = [name for name in concat["inputs"] if name in pooled_inputs]
        assert skips, "a decoder stage concatenates something other than an encoder skip (a tensor taken before pooling): pass f4, f3, f2, f1 in that order."
        skip_sizes.append(by_name[skips[0]]["output_shape"][1])
        assert by_name[skips[0]]["output_shape"][1:3] == concat["output_shape"][1:3]
    assert skip_sizes == sorted(skip_sizes), f"the skips reach the decoder at heights {skip_sizes}; the first decoder stage takes f4 (smallest), the last f1."


@POINTS("unet", 5)
def test_sigmoid_head(facts: Facts) -> None:
    """the head is a 1x1 Conv2D with one filter and a sigmoid when final_act=None"""
    head = _case(facts, 1)["layers"][-1]
    assert head["class"] == "Conv2D", f"the last layer is a {head['class']}; end with the given 1x1 Conv2D head."
    assert head["config"].get("activation") == "sigmoid", (
        f"with num_classes=1 and final_act=None the head's activation is {head['config'].get('activation')!r}; keep the given rule: sigmoid for one class.")
    assert list(head["config"]["kernel_size"]) == [1, 1] and head["config"]["filters"] == 1, "the head must be a 1x1 convolution with num_classes filters."
