"""Dataset & preprocessing: preprocess on fresh random examples whose trimaps hold 1, 2 and 3."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autograder.measuring.facts import Example

POINTS = pytest.mark.points
RESIZE_TOLERANCE = 2e-3


@pytest.fixture
def examples(probed: Callable) -> list[Example]:
    return probed("preprocess").examples


@pytest.fixture
def size(probed: Callable) -> int:
    return probed("preprocess").img_size


@POINTS("preprocess", 3)
def test_image_shape_dtype_range(examples: list[Example], size: int) -> None:
    """Image: (IMG_SIZE, IMG_SIZE, 3), float32, values in [0, 1]"""
    for example in examples:
        shape = example.image_shape
        assert shape == [size, size, 3], (
            f"with IMG_SIZE = {size} the image has shape {tuple(shape)}: resize to (IMG_SIZE, IMG_SIZE), "
            "not a fixed size."
        )
        assert example.image_dtype == "float32", (
            f"the image has dtype {example.image_dtype}, expected float32: cast it with tf.cast."
        )
        low = example.image_min
        high = example.image_max
        assert low is not None and high is not None, f"the image holds {example.image_dtype} values, not numbers."
        assert low >= 0.0 and high <= 1.0, f"image values span [{low:.3g}, {high:.3g}], expected [0, 1]: divide by 255."
        assert high > 0.5, f"image values are all at most {high:.3g}: divide by 255 once, not twice."


@POINTS("preprocess", 2)
def test_image_bilinear_resize(examples: list[Example]) -> None:
    """Image: resized with bilinear interpolation and scaled by 1/255"""
    for example in examples:
        assert example.bilinear_error is not None, (
            "the image does not have the shape (IMG_SIZE, IMG_SIZE, 3), so it cannot be compared."
        )
        error = example.bilinear_error
        nearest = example.nearest_error
        if error > RESIZE_TOLERANCE and nearest is not None and nearest <= RESIZE_TOLERANCE:
            pytest.fail("the image was resized with nearest-neighbour interpolation: use method='bilinear' for images.")
        assert error <= RESIZE_TOLERANCE, (
            f"the image differs from a bilinear resize scaled to [0, 1] by up to {error:.3g}: "
            "use tf.image.resize(..., method='bilinear') and divide by 255."
        )


@POINTS("preprocess", 2)
def test_mask_shape_dtype_and_values(examples: list[Example], size: int) -> None:
    """Mask: (IMG_SIZE, IMG_SIZE, 1), float32, holding only 0 and 1"""
    for example in examples:
        shape = example.mask_shape
        assert shape == [size, size, 1], (
            f"with IMG_SIZE = {size} the mask has shape {tuple(shape)}, expected {(size, size, 1)}."
        )
        values = example.mask_values
        assert set(values) <= {0.0, 1.0}, (
            f"the mask holds the values {values[:6]}; it must hold only 0 and 1 "
            "(map the trimap, and resize it with method='nearest')."
        )
        assert example.mask_dtype == "float32", (
            f"the mask has dtype {example.mask_dtype}, expected float32: tf.cast it to tf.float32."
        )


@POINTS("preprocess", 2)
def test_mask_label_mapping(examples: list[Example]) -> None:
    """Mask: pet (1) and border (3) -> 1, background (2) -> 0"""
    for example in examples:
        assert example.label_values is not None, (
            "the mask does not have the shape (IMG_SIZE, IMG_SIZE, 1), so its labels cannot be compared."
        )
        got = {int(label): round(value) for label, value in example.label_values.items()}
        if got == {1: 1, 2: 1, 3: 0}:
            pytest.fail(
                "border pixels (trimap 3) became 0 and background (trimap 2) became 1: 2 is the background, "
                "3 the border. Use mask != 2."
            )
        if got == {1: 1, 2: 0, 3: 0}:
            pytest.fail(
                "border pixels (trimap 3) became 0: the border belongs to the pet. "
                "Only trimap value 2 (background) maps to 0."
            )
        assert got == {1: 1, 2: 0, 3: 1}, (
            f"trimap values map to {got}; expected pet 1 -> 1, background 2 -> 0, border 3 -> 1."
        )


@POINTS("preprocess", 1)
def test_mask_nearest_resize(examples: list[Example]) -> None:
    """Mask: resized with nearest-neighbour interpolation"""
    for example in examples:
        assert example.nearest_mismatch is not None, (
            "the mask does not have the shape (IMG_SIZE, IMG_SIZE, 1), so its resize cannot be judged."
        )
        wrong = example.nearest_mismatch
        assert wrong == 0.0, (
            f"{wrong:.1%} of mask pixels differ from a nearest-neighbour resize of the trimap: "
            "resize masks with method='nearest' before mapping labels."
        )
