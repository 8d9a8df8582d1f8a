"""Dataset & preprocessing [10]: checked on grader-made trimaps that hold 1, 2 and 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.probe import make_preprocess_inputs

POINTS = pytest.mark.points


@pytest.fixture(scope="module")
def reference(img_size: int, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """What a correct preprocess returns for the grader's inputs, plus the resized trimaps."""
    import tensorflow as tf

    inputs = make_preprocess_inputs(Path(tmp_path_factory.mktemp("inputs")) / "inputs.npz")
    size = (img_size, img_size)
    out = {}
    for key, array in inputs.items():
        if key.startswith("image"):
            out[key] = tf.image.resize(array, size, method="bilinear").numpy() / 255.0
            out[key.replace("image", "nearest_image")] = tf.image.resize(array, size, method="nearest").numpy() / 255.0
        else:
            trimap = tf.image.resize(array, size, method="nearest").numpy()
            out[key.replace("mask", "trimap")] = trimap
            out[key] = (trimap != 2).astype(np.float32)
    return out


def _pairs(outputs: dict[str, np.ndarray], prefix: str) -> list[tuple[str, np.ndarray]]:
    return sorted((k, v) for k, v in outputs.items() if k.startswith(prefix))


def _label_values(mask: np.ndarray, trimap: np.ndarray) -> dict[int, float]:
    """The value the submission's mask mostly holds where the (nearest-resized) trimap is 1, 2 and 3."""
    return {label: float(np.median(mask[trimap == label])) for label in (1, 2, 3)}


@POINTS("preprocess", 3)
def test_image_shape_dtype_range(preprocess_outputs: dict, img_size: int) -> None:
    """Image: (IMG_SIZE, IMG_SIZE, 3), float32, values in [0, 1]"""
    for _key, image in _pairs(preprocess_outputs, "image"):
        expected = (img_size, img_size, 3)
        assert image.shape == expected, f"the image has shape {image.shape}, expected {expected}: resize to (IMG_SIZE, IMG_SIZE)."
        assert image.dtype == np.float32, f"the image has dtype {image.dtype}, expected float32: cast before dividing by 255."
        low, high = float(image.min()), float(image.max())
        assert low >= 0.0 and high <= 1.0, f"image values span [{low:.3g}, {high:.3g}], expected [0, 1]: divide by 255."
        assert high > 0.5, f"image values are all below {high:.3g}: divide by 255 once, not twice."


@POINTS("preprocess", 2)
def test_image_bilinear_resize(preprocess_outputs: dict, reference: dict) -> None:
    """Image: resized with bilinear interpolation and scaled by 1/255"""
    for key, image in _pairs(preprocess_outputs, "image"):
        expected = reference[key]
        assert image.shape == expected.shape, f"the image has shape {image.shape}, expected {expected.shape}."
        error = float(np.abs(image - expected).max())
        if error > 2e-3 and np.abs(image - reference[key.replace("image", "nearest_image")]).max() < 2e-3:
            pytest.fail("the image was resized with nearest-neighbour interpolation: use method='bilinear' for images.")
        assert error <= 2e-3, (
            f"the image differs from a bilinear resize scaled to [0, 1] by up to {error:.3g}: "
            "use tf.image.resize(..., method='bilinear') and divide by 255.")


@POINTS("preprocess", 2)
def test_mask_shape_and_values(preprocess_outputs: dict, img_size: int) -> None:
    """Mask: (IMG_SIZE, IMG_SIZE, 1) holding only 0 and 1"""
    for _key, mask in _pairs(preprocess_outputs, "mask"):
        assert mask.shape == (img_size, img_size, 1), f"the mask has shape {mask.shape}, expected {(img_size, img_size, 1)}."
        values = sorted(np.unique(mask).tolist())
        assert set(values) <= {0, 1}, (
            f"the mask holds the values {values[:6]}; it must hold only 0 and 1 (map the trimap, and resize it with method='nearest').")


@POINTS("preprocess", 2)
def test_mask_label_mapping(preprocess_outputs: dict, reference: dict) -> None:
    """Mask: pet (1) and border (3) -> 1, background (2) -> 0"""
    for key, mask in _pairs(preprocess_outputs, "mask"):
        trimap = reference[key.replace("mask", "trimap")]
        assert mask.shape == trimap.shape, f"the mask has shape {mask.shape}, expected {trimap.shape}."
        got = {label: round(value) for label, value in _label_values(mask, trimap).items()}
        if got == {1: 1, 2: 1, 3: 0}:
            pytest.fail("border pixels (trimap 3) became 0 and background (trimap 2) became 1: "
                        "2 is the background, 3 the border. Use mask != 2.")
        if got == {1: 1, 2: 0, 3: 0}:
            pytest.fail("border pixels (trimap 3) became 0: the border belongs to the pet. Only trimap value 2 (background) maps to 0.")
        assert got == {1: 1, 2: 0, 3: 1}, f"trimap values map to {got}; expected pet 1 -> 1, background 2 -> 0, border 3 -> 1."


@POINTS("preprocess", 1)
def test_mask_nearest_resize(preprocess_outputs: dict, reference: dict) -> None:
    """Mask: resized with nearest-neighbour interpolation"""
    for key, mask in _pairs(preprocess_outputs, "mask"):
        trimap = reference[key.replace("mask", "trimap")]
        assert mask.shape == trimap.shape, f"the mask has shape {mask.shape}, expected {trimap.shape}."
        # Judge the resize alone: apply the submission's own label mapping to a nearest-resized trimap.
        expected = np.vectorize(_label_values(mask, trimap).get)(trimap)
        wrong = float(np.mean(mask != expected))
        assert wrong == 0.0, (
            f"{wrong:.1%} of mask pixels differ from a nearest-neighbour resize of the trimap: "
            "resize masks with method='nearest' before mapping labels.")
