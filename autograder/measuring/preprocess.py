"""The submission's preprocess outputs (from the probe) against the grader's own reference, per example."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import files
from .facts import Call, Example, Preprocess


def _example(raw: np.ndarray, trimap: np.ndarray, image: np.ndarray, mask: np.ndarray, size: int) -> Example:
    import tensorflow as tf

    shape = (size, size)
    bilinear = tf.image.resize(raw, shape, method="bilinear").numpy() / 255.0
    nearest = tf.image.resize(raw, shape, method="nearest").numpy() / 255.0
    resized = tf.image.resize(trimap, shape, method="nearest").numpy()
    found: dict = {}
    numeric_image = np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)
    numeric_mask = np.issubdtype(mask.dtype, np.floating) or np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool
    if image.size and numeric_image:
        found.update(image_min=float(image.min()), image_max=float(image.max()))
    if image.shape == bilinear.shape and numeric_image:
        found.update(
            bilinear_error=float(np.abs(image - bilinear).max()),
            nearest_error=float(np.abs(image - nearest).max()),
            image_scale=float(np.sum(image * bilinear) / max(float(np.sum(bilinear * bilinear)), 1e-12)),
        )
    if mask.shape == resized.shape and numeric_mask:
        values = mask.astype(np.float64)
        labels = {label: float(np.median(values[resized == label])) for label in (1, 2, 3)}
        own_mapping = np.vectorize(labels.get)(resized)
        shown = {str(label): value for label, value in labels.items() if np.isfinite(value)}  # a NaN mask, say
        found.update(label_values=shown, nearest_mismatch=float(np.mean(values != own_mapping)))
    finite = {key: value for key, value in found.items() if not isinstance(value, float) or np.isfinite(value)}
    return Example(
        image_shape=[int(n) for n in image.shape],
        image_dtype=str(image.dtype)[:40],
        mask_shape=[int(n) for n in mask.shape],
        mask_dtype=str(mask.dtype)[:40],
        mask_values=sorted({float(v) for v in np.unique(mask)[:8] if np.isfinite(float(v))}) if numeric_mask else [],
        **finite,
    )


def measure(out: Path, called: Call, images: list[np.ndarray], trimaps: list[np.ndarray], size: int) -> Preprocess:
    """The preprocess facts: one example per challenge image."""
    if not called.ok:
        return Preprocess(call=called, img_size=size)
    try:
        names = [f"{kind}{i}" for i in range(len(images)) for kind in ("image", "mask")]
        arrays = files.arrays(out / "preprocess.npz", names, files.FILE_LIMIT)
    except (files.Refused, ValueError, OSError, MemoryError) as error:
        problem = files.text(f"the preprocess outputs could not be read: {error}", 600)
        return Preprocess(call=Call(ok=False, error=problem), img_size=size)
    examples = []
    for i, (raw, trimap) in enumerate(zip(images, trimaps, strict=True)):
        image = arrays.get(f"image{i}")
        mask = arrays.get(f"mask{i}")
        if image is None or mask is None:
            return Preprocess(call=Call(ok=False, error="preprocess returned no (image, mask) pair"), img_size=size)
        examples.append(_example(raw, trimap, image, mask, size))
    return Preprocess(call=called, img_size=size, examples=examples)
