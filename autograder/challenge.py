"""Fresh random probe inputs for every grading run, and the sizes a correct U-Net has for them.

The probe process receives the inputs only (`write`); what a correct answer looks like stays with
the grader (`autograder.measure` computes the reference preprocessing, the checks the sizes below).
Inputs drawn fresh each run make answers copied from another run useless.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assignment.points import GRADED
from autograder.reference import stages

PROBE_IMG_SIZES = (32, 48, 64, 80, 96)  # IMG_SIZE while preprocess is probed: never the profile's own


@dataclass(frozen=True)
class Challenge:
    """One run's probe inputs: example images and trimaps, and block and model sizes."""

    seed: int
    img_size: int
    images: list[np.ndarray]  # uint8 (h, w, 3)
    trimaps: list[np.ndarray]  # uint8 (h, w, 1) holding 1 (pet), 2 (background), 3 (border)
    double_conv: list[tuple[int, int, int, int]]  # (height, width, channels, num_f)
    encoder: list[tuple[int, int, int, int]]  # (height, width, channels, num_f), even sizes
    decoder: list[tuple[int, int, int, int, int]]  # (height, width, channels, skip channels, num_f)
    unet: list[tuple[int, int, int, int]]  # (height, width, channels, base_num_f); the first has base 32, 3 channels


def _trimap(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A pet (1) in a border band (3) on background (2), with a background hole inside the pet."""
    ys, xs = np.mgrid[0:h, 0:w]
    cy = rng.uniform(0.4, 0.6) * h
    cx = rng.uniform(0.4, 0.6) * w
    ry = rng.uniform(0.25, 0.32) * h
    rx = rng.uniform(0.25, 0.32) * w
    distance = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2
    trimap = np.full((h, w), 2, np.uint8)
    trimap[distance <= 1.9] = 3
    trimap[distance <= 1.0] = 1
    hy = int(cy - 0.1 * h)
    hx = int(cx - 0.1 * w)
    trimap[hy : hy + max(2, h // 8), hx : hx + max(2, w // 8)] = 2
    return trimap[..., None]


def draw(seed: int | None = None) -> Challenge:
    """A new challenge; `seed` makes it repeatable (tests), else it is drawn from the OS."""
    seed = secrets.randbits(52) if seed is None else seed
    rng = np.random.default_rng(seed)

    def size(low: int, high: int, step: int = 1) -> int:
        return int(rng.integers(low // step, high // step + 1)) * step

    shapes = [(size(60, 360), size(60, 360)) for _ in range(3)]
    images = []
    for h, w in shapes:
        gradient = np.linspace(0, 255, w)[None, :, None] * rng.uniform(0.3, 1.0, 3)
        images.append(np.clip(gradient + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8))
    return Challenge(
        seed=seed,
        img_size=int(rng.choice(PROBE_IMG_SIZES)),
        images=images,
        trimaps=[_trimap(rng, h, w) for h, w in shapes],
        double_conv=[(size(5, 40), size(5, 40), size(1, 12), size(2, 24)) for _ in range(3)],
        encoder=[(size(8, 64, 2), size(8, 64, 2), size(1, 12), size(2, 24)) for _ in range(2)],
        decoder=[(size(2, 16), size(2, 16), size(4, 48), size(2, 24), size(2, 24)) for _ in range(2)],
        unet=[
            (size(32, 64, 16), size(32, 64, 16), 3, 32),
            (size(32, 96, 16), size(32, 96, 16), size(1, 4), size(4, 12)),
        ],
    )


def outputs(challenge: Challenge) -> dict[str, list[str]]:
    """Function the probe calls -> the files it may write: model configs per case, arrays. The probe's parent keeps
    only these (a child cannot write another function's), adds a status file per function, and the grader copies no
    other name."""
    cases = {
        "double_conv_block": challenge.double_conv,
        "encoder_block": challenge.encoder,
        "decoder_block": challenge.decoder,
        "make_unet": challenge.unet,
    }
    found = {name: [f"{name}-{i}.json" for i in range(len(shapes))] for name, shapes in cases.items()}
    return {"preprocess": ["preprocess.npz"], **found, "test_split": ["test_split.npz"]}


def write(
    challenge: Challenge, folder: Path, test_split: tuple[str, int] | None = None, carry_forward: bool = True
) -> None:
    """What the probe process gets: challenge.json (sizes) and inputs.npz (examples). With `test_split`
    (split, IMG_SIZE) it also preprocesses that split with the submission's preprocess. Without `carry_forward`
    (a strict profile) every function calls the submission's own blocks."""
    cases = {
        "img_size": challenge.img_size,
        "examples": len(challenge.images),
        "double_conv_block": challenge.double_conv,
        "encoder_block": challenge.encoder,
        "decoder_block": challenge.decoder,
        "make_unet": challenge.unet,
        "test_split": test_split,
        "stages": stages(),
        "helpers": {graded.name: list(graded.helpers) for graded in GRADED if carry_forward},
        "outputs": outputs(challenge),
    }
    (folder / "challenge.json").write_text(json.dumps(cases))
    arrays = {f"image{i}": image for i, image in enumerate(challenge.images)}
    arrays.update({f"trimap{i}": trimap for i, trimap in enumerate(challenge.trimaps)})
    np.savez(folder / "inputs.npz", **arrays)


def conv_params(c_in: int, filters: int, kernel: int) -> int:
    """Weights and biases of a square convolution."""
    return kernel * kernel * c_in * filters + filters


def double_conv_params(c_in: int, filters: int) -> int:
    """Parameters of double_conv_block."""
    return conv_params(c_in, filters, 3) + conv_params(filters, filters, 3)


def decoder_params(c_in: int, c_skip: int, filters: int) -> int:
    """Parameters of decoder_block: the transposed convolution, then double_conv_block on the concatenation."""
    return conv_params(c_in, filters, 2) + double_conv_params(filters + c_skip, filters)


def unet_params(c_in: int, base: int) -> int:
    """Parameters of the seed's U-Net (7,760,097 for 3 channels and base 32)."""
    widths = [base, 2 * base, 4 * base, 8 * base]
    total = 0
    previous = c_in
    for width in widths:
        total += double_conv_params(previous, width)
        previous = width
    total += double_conv_params(previous, 16 * base)
    previous = 16 * base
    for width in reversed(widths):
        total += decoder_params(previous, width, width)
        previous = width
    return total + conv_params(base, 1, 1)
