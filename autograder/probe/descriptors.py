"""Recognising the test split in what a notebook trains on: by the files a tf.data pipeline reads (`splits`), and by
coarse descriptors of images, to recognise an example by its content whatever a notebook did to it: GRID x GRID
block means per channel, each channel centred and each example scaled to unit length, so that any scale or offset of
the images (not divided by 255, normalised per channel) gives the same descriptor, and another resize method nearly
the same. Two descriptors whose correlation (dot product) reaches MATCH are the same example; the mirrored descriptors
recognise examples flipped left to right.

NumPy only: the grader computes the visible test split's descriptors once per batch (`save`), and the kernel's
recorder (recorder.py, which loads this file from beside itself) compares what the notebook trains on with them.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "test")
GRID = 8
CHUNK = 64  # examples described at a time
MATCH = 0.989  # see README, "Training on the test split": the calibration on the sample and the synthetic set


def normalised(blocks: np.ndarray) -> np.ndarray:
    """(N, GRID, GRID, 3) block means -> (N, GRID * GRID * 3) descriptors (a flat image gives zeros: it matches
    nothing)."""
    blocks = np.asarray(blocks, np.float64)
    flat = (blocks - blocks.mean(axis=(1, 2), keepdims=True)).reshape(len(blocks), -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return (flat / np.where(norms > 1e-9, norms, np.inf)).astype(np.float32)


def coarse(images: object) -> np.ndarray | None:
    """The descriptors of a batch (N, H, W, 3) or one image (H, W, 3) of any scale, an array or a tensor, a chunk at a
    time (a large batch is never copied whole); None for anything else (nothing is iterated to find out)."""
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        return None
    try:
        array = np.asarray(images)
    except Exception:  # noqa: BLE001 - a symbolic tensor, an object that is no array: nothing to describe
        return None
    array = array[None] if array.ndim == 3 else array
    if array.ndim != 4 or array.shape[-1] != 3 or min(array.shape[:3]) < 1 or min(array.shape[1:3]) < GRID:
        return None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return None
    rows = np.arange(GRID) * array.shape[1] // GRID
    cols = np.arange(GRID) * array.shape[2] // GRID
    sizes = np.diff(np.append(rows, array.shape[1]))[:, None] * np.diff(np.append(cols, array.shape[2]))[None, :]
    found = []
    for start in range(0, len(array), CHUNK):
        chunk = array[start : start + CHUNK].astype(np.float64)
        sums = np.add.reduceat(np.add.reduceat(chunk, rows, axis=1), cols, axis=2)
        found.append(normalised(sums / sizes[None, :, :, None]))
    return np.concatenate(found)


def mirrored(descriptors: np.ndarray) -> np.ndarray:
    """The descriptors of the same images mirrored left to right."""
    return descriptors.reshape(-1, GRID, GRID, 3)[:, :, ::-1].reshape(len(descriptors), -1)


def matches(descriptors: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The indices into `known` of the examples `descriptors` are, straight or mirrored (one per match found)."""
    if descriptors is None or not len(known) or known.shape[1:] != descriptors.shape[1:]:
        return np.zeros(0, int)
    both = np.concatenate([known, mirrored(known)])
    scores = descriptors @ both.T
    best = scores.argmax(axis=1)
    return best[scores[np.arange(len(best)), best] >= MATCH] % len(known)


def save(images: np.ndarray, path: str) -> None:
    """The descriptors of `images` (the visible test split as the reference preprocesses it), as a .npy file."""
    np.save(path, coarse(images))


def splits(data: object) -> list[str]:
    """The dataset splits a fit argument reads, by file: the tfrecord files in a tf.data pipeline's graph; "arrays"
    for in-memory data."""
    if data is None:
        return []
    if isinstance(data, tuple | list) and data:
        return splits(data[0])
    graph = getattr(data, "_as_serialized_graph", None)
    if graph is None:
        return ["arrays"]
    try:
        text = graph().numpy()
    except Exception:  # noqa: BLE001 - a pipeline that cannot be serialized says nothing
        return ["unknown"]
    return [split for split in SPLITS if f"-{split}.tfrecord".encode() in text] or ["other"]
