"""The foreground IoU that fixed rules reach on the synthetic set: no training of a network, only a threshold, a
colour or brightness rule, a 3x3 local-contrast rule, a position prior, the distance from an image's mean colour or
from its border's, or a per-pixel linear rule fitted on the training split (what a 1x1 or a 3x3 Conv2D with a
sigmoid can compute). The synthetic IoU thresholds sit above the best of them (tests/fast/test_fixed_rules.py).
Detectors of two and three layers set by hand (contrasts, the stripes' direction) are printed too: the direction
detector reads the cue the trained U-Net reads, and only the checks that the model was trained (its weights moved
from the seeded initialisation, its reported losses match the grader's) tell it apart.

python benchmarks/fixed_rules.py [--train 200] [--test 200] [--sizes 32 64]

Every threshold is the best for the test examples themselves (an upper bound for a rule fixed in advance).
Images are resized as the grader's reference does (tf.image.resize, bilinear, no antialiasing; masks nearest),
here in numpy.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment import synthetic


def _source_coordinates(source: int, size: int) -> np.ndarray:
    return np.clip((np.arange(size) + 0.5) * source / size - 0.5, 0, source - 1)


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resize(image, (size, size), "bilinear") / 255 (half-pixel centres, no antialiasing), float32."""
    rows, cols = _source_coordinates(image.shape[0], size), _source_coordinates(image.shape[1], size)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, image.shape[0] - 1), np.minimum(c0 + 1, image.shape[1] - 1)
    fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    pixels = image.astype(np.float64)
    top = pixels[r0][:, c0] * (1 - fc) + pixels[r0][:, c1] * fc
    bottom = pixels[r1][:, c0] * (1 - fc) + pixels[r1][:, c1] * fc
    return ((top * (1 - fr) + bottom * fr) / 255.0).astype(np.float32)


def resize_nearest(trimap: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resize(trimap, (size, size), "nearest") != 2 as float32 of shape (size, size, 1)."""
    rows = np.minimum(np.floor((np.arange(size) + 0.5) * trimap.shape[0] / size).astype(int), trimap.shape[0] - 1)
    cols = np.minimum(np.floor((np.arange(size) + 0.5) * trimap.shape[1] / size).astype(int), trimap.shape[1] - 1)
    return (trimap[rows][:, cols] != 2).astype(np.float32)[..., None]


def drawn(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` synthetic (image, trimap) pairs drawn from `seed`, the image through JPEG as `synthetic.write` saves
    it."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        image, trimap = synthetic.draw(rng)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        pairs.append((np.asarray(Image.open(buffer).convert("RGB")), np.asarray(trimap)))
    return pairs


def preprocess(pairs: list[tuple[np.ndarray, np.ndarray]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs as the reference preprocesses them at `size`: images, masks."""
    images = np.stack([resize_bilinear(image, size) for image, _ in pairs])
    return images, np.stack([resize_nearest(trimap, size) for _, trimap in pairs])


def best_cut(score: np.ndarray, truth: np.ndarray) -> float:
    """The highest foreground IoU of `score > t` or `score < t` over every threshold t."""
    order = np.argsort(score.ravel(), kind="stable")
    best = 0.0
    positives = truth.ravel()[order] > 0.5
    total = positives.sum()
    for ranked in (positives[::-1], positives):  # the k highest scores are pet, or the k lowest
        hits = np.cumsum(ranked)
        chosen = np.arange(1, len(ranked) + 1)
        best = max(best, float((hits / (total + chosen - hits)).max()))
    return best


def _box(x: np.ndarray, k: int) -> np.ndarray:
    """The mean over a k x k window (edges repeated) on axes 1 and 2."""
    pad = [(0, 0), (k // 2, k // 2), (k // 2, k // 2)] + [(0, 0)] * (x.ndim - 3)
    return sliding_window_view(np.pad(x, pad, mode="edge"), (k, k), axis=(1, 2)).mean(axis=(-2, -1))


def local_std(images: np.ndarray, k: int) -> np.ndarray:
    mean = _box(images, k)
    return np.sqrt(np.maximum(_box(images * images, k) - mean * mean, 0)).mean(-1)


def _neighbourhood(images: np.ndarray) -> np.ndarray:
    """Per pixel: its 3x3 neighbourhood's 27 values (what one 3x3 Conv2D sees)."""
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="edge")
    return sliding_window_view(padded, (3, 3), axis=(1, 2)).reshape(*images.shape[:3], -1)


def _contrasts(images: np.ndarray) -> np.ndarray:
    """Per pixel: the 27 values, each channel's |value - 3x3 mean| and the 3x3 standard deviation (two layers)."""
    contrast = np.abs(images - _box(images, 3))
    return np.concatenate([_neighbourhood(images), contrast, local_std(images, 3)[..., None]], axis=-1)


def _border_colour(images: np.ndarray) -> np.ndarray:
    """Each image's mean colour over its outermost rows and columns, shaped to broadcast over the image."""
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    return border.mean(1)[:, None, None]


def _orientation(images: np.ndarray) -> np.ndarray:
    """Per pixel: how much more the image changes along rows than along columns (|left - right| minus |up - down|,
    channels averaged): what two layers of 3x3 differences and their absolute values (two ReLUs) compute."""
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="edge")
    across = np.abs(padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
    down = np.abs(padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
    return (across - down).mean(-1)


def stripe_direction(images: np.ndarray) -> np.ndarray:
    """Three layers set by hand: the stripes' direction (`_orientation`) averaged over 5x5."""
    return _box(_orientation(images)[..., None], 5)[..., 0]


def _colour(images: np.ndarray) -> np.ndarray:
    """Per pixel: its colour, squares and products of the channels (a quadratic colour rule)."""
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    return np.stack([r, g, b, r * r, g * g, b * b, r * g, g * b, r * b], axis=-1)


def logistic(features: np.ndarray, masks: np.ndarray, steps: int = 300) -> tuple[np.ndarray, float, np.ndarray]:
    """A per-pixel logistic rule fitted on `features` -> `masks` by gradient descent on the cross-entropy:
    (weights, bias, feature means and scales)."""
    x = features.reshape(-1, features.shape[-1]).astype(np.float64)
    y = masks.reshape(-1).astype(np.float64)
    centre, scale = x.mean(0), x.std(0) + 1e-9
    x = (x - centre) / scale
    weights, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ weights + bias)))
        weights -= 0.5 * x.T @ (p - y) / len(y)
        bias -= 0.5 * float((p - y).mean())
    return weights, bias, np.stack([centre, scale])


def apply(rule: tuple[np.ndarray, float, np.ndarray], features: np.ndarray) -> np.ndarray:
    weights, bias, (centre, scale) = rule
    return ((features - centre) / scale) @ weights + bias


def rules(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """The best foreground IoU on `test` of each fixed rule (fitted ones fitted on `train`)."""
    images, masks = test
    found = {
        "all pet": best_cut(np.ones(masks.shape), masks) if masks.mean() else 0.0,
        "brightness threshold": best_cut(images.mean(-1), masks),
        **{
            f"{name} channel threshold": best_cut(images[..., c], masks)
            for c, name in enumerate(("red", "green", "blue"))
        },
        "3x3 |pixel - local mean| threshold": best_cut(np.abs(images - _box(images, 3)).mean(-1), masks),
        "position prior (train mask frequency)": best_cut(np.broadcast_to(train[1].mean(0), masks.shape), masks),
        "distance from the image's mean colour": best_cut(
            np.linalg.norm(images - images.mean((1, 2), keepdims=True), axis=-1), masks
        ),
        "distance from the mean colour of the image's border": best_cut(
            np.linalg.norm(images - _border_colour(images), axis=-1), masks
        ),
    }
    for name, features in (("1x1 colour", _colour), ("3x3 neighbourhood", _neighbourhood)):
        rule = logistic(features(train[0]), train[1])
        found[f"{name} logistic rule fitted on train"] = best_cut(apply(rule, features(images)), masks)
    return found


def two_layer_rules(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Hand-built texture detectors of two layers (a contrast, then a mean over a window, or a rule fitted on
    contrasts): not fixed rules in the sense above but small networks set by hand, measured to say how far the
    texture cue can be read without training."""
    images, masks = test
    contrast = np.abs(images - _box(images, 3)).mean(-1)
    found = {"two layers: 3x3 local standard deviation": best_cut(local_std(images, 3), masks)}
    rule = logistic(_contrasts(train[0]), train[1])
    found["two layers: logistic rule on 3x3 values and contrasts"] = best_cut(apply(rule, _contrasts(images)), masks)
    for k in (5, 7):
        found[f"two layers: 3x3 contrast averaged over {k}x{k}"] = best_cut(_box(contrast[..., None], k)[..., 0], masks)
    found["two layers: stripe direction (across minus down differences)"] = best_cut(_orientation(images), masks)
    found["three layers: stripe direction averaged over 5x5"] = best_cut(stripe_direction(images), masks)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=synthetic.TRAIN_COUNT)
    parser.add_argument("--test", type=int, default=synthetic.PRIVATE_COUNT)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    args = parser.parse_args()
    train, test = drawn(args.train, 1), drawn(args.test, 2)
    for size in args.sizes:
        found = rules(preprocess(train, size), preprocess(test, size))
        found.update(two_layer_rules(preprocess(train, size), preprocess(test, size)))
        for name, value in sorted(found.items(), key=lambda item: -item[1]):
            print(f"{size} px: {value:.3f}  {name}")


if __name__ == "__main__":
    main()
