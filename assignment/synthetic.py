"""A small synthetic Oxford-IIIT Pet in the official extracted layout.

Every image is striped in the same two colours everywhere: the pet (a blob: a body and a few smaller blobs touching
it, placed anywhere in the middle half) in vertical stripes, the background in horizontal ones. Each pixel's colour,
brightness and local contrast follow one law inside and outside the pet, so no per-pixel or 3x3 rule tells them
apart; a model has to read the stripes' direction, which a few convolutions learn (the fixed rules' IoU:
benchmarks/fixed_rules.py, tests/fast/test_fixed_rules.py). The trimap marks the pet with 1 = pet, 2 = background,
3 = border band, exactly like the real annotations. The set also reproduces two quirks of the real archive: a PNG
with an alpha channel saved under a `.jpg` name, and a GIF listed in neither split.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TRAIN_COUNT = 200
TEST_COUNT = 100
PRIVATE_COUNT = 200  # the grader's private examples, drawn from a secret seed when the data is prepared
SEED = 1234
VERSION = "v3"  # of the data tool's output: v2 added the private part, v3 the striped scenes

STRIPES = 13  # square-wave periods across the image's width (pet) or height (background)
COLOURS = (20, 235)  # each channel of an image's two colours, uniform in this range
CONTRAST = 60  # least distance between an image's two colours (RGB levels)
NOISE = 6  # grey levels of noise on every pixel
CENTRE = (0.25, 0.75)  # the pet's centre, as a share of the width and height
RADIUS = (0.2, 0.36)  # the body's half-axes, as a share of the width and height

# (breed, class id 1..37, species 1 = cat / 2 = dog); names must match tfds's label names.
BREEDS = [("Abyssinian", 1, 1), ("american_bulldog", 2, 2), ("Bengal", 6, 1), ("beagle", 5, 2)]
ALPHA_PNG_NAME = "Abyssinian_5"  # the real archive's PNG-with-alpha, listed in test
UNLISTED_GIF_NAME = "Abyssinian_34"  # the real archive's GIF, in neither list
HEADER = [
    "#Image CLASS-ID SPECIES BREED ID",
    "#ID: 1:37 Class ids",
    "#SPECIES: 1:Cat 2:Dog",
    "#BREED ID: 1-25:Cat 1:12:Dog",
    "#All images with 1st letter as captial are cat images",
    "#images with small first letter are dog images",
]


def _stripes(h: int, w: int, vertical: bool, phase: float) -> np.ndarray:
    """A square wave of STRIPES periods across the image, +1 / -1, vertical or horizontal. Periods count in the
    image's own width and height, so the stripes keep their look after the square resize at any IMG_SIZE."""
    if vertical:
        wave = np.sin(2 * np.pi * STRIPES * (np.arange(w) + 0.5) / w + phase)[None, :]
    else:
        wave = np.sin(2 * np.pi * STRIPES * (np.arange(h) + 0.5) / h + phase)[:, None]
    return np.broadcast_to(np.where(wave >= 0, 1.0, -1.0), (h, w))


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The image's two colours, each channel uniform in COLOURS, at least CONTRAST apart."""
    while True:
        first, second = rng.uniform(*COLOURS, 3), rng.uniform(*COLOURS, 3)
        if np.linalg.norm(first - second) >= CONTRAST:
            return first, second


def draw(rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """One (RGB image, L-mode trimap) pair of a random size between 150 and 600 px."""
    w, h = (int(v) for v in rng.integers(150, 601, size=2))
    cx, cy = rng.uniform(*CENTRE) * w, rng.uniform(*CENTRE) * h
    rx, ry = rng.uniform(*RADIUS) * w, rng.uniform(*RADIUS) * h
    blobs = [(cx, cy, rx, ry)]
    for _ in range(int(rng.integers(1, 4))):  # ears, tail: a few smaller blobs touching the body
        angle = rng.uniform(0, 2 * np.pi)
        r = rng.uniform(0.25, 0.45) * min(rx, ry)
        blobs.append((cx + 0.9 * rx * np.cos(angle), cy + 0.9 * ry * np.sin(angle), r, r))

    def filled(grow: float) -> np.ndarray:
        canvas = Image.new("L", (w, h), 0)
        pen = ImageDraw.Draw(canvas)
        for x, y, a, b in blobs:
            pen.ellipse([x - a - grow, y - b - grow, x + a + grow, y + b + grow], fill=255)
        return np.asarray(canvas) > 127

    band = max(2, min(w, h) // 60)
    inside = filled(0)
    trimap = np.full((h, w), 2, np.uint8)
    trimap[filled(band)] = 3
    trimap[filled(-band)] = 1

    first, second = _colours(rng)
    pet = _stripes(h, w, vertical=True, phase=rng.uniform(0, 2 * np.pi))
    background = _stripes(h, w, vertical=False, phase=rng.uniform(0, 2 * np.pi))
    wave = np.where(inside, pet, background)[..., None]
    image = (first + second) / 2 + wave * (first - second) / 2 + rng.normal(0, NOISE, (h, w, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB"), Image.fromarray(trimap, "L")


def _xml(name: str, width: int, height: int) -> str:
    """A head-ROI annotation in the official PASCAL VOC shape (a box in the image centre)."""
    return (
        f"<annotation><filename>{name}.jpg</filename>"
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
        f"<object><name>pet</name><bndbox><xmin>{width // 3}</xmin><ymin>{height // 3}</ymin>"
        f"<xmax>{2 * width // 3}</xmax><ymax>{2 * height // 3}</ymax></bndbox></object></annotation>"
    )


def write(root: Path, train_count: int = TRAIN_COUNT, test_count: int = TEST_COUNT, seed: int = SEED) -> None:
    """Write the synthetic set under `root` (images/, annotations/...) deterministically."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    trimaps = root / "annotations" / "trimaps"
    xmls = root / "annotations" / "xmls"
    for folder in (images, trimaps, xmls):
        folder.mkdir(parents=True, exist_ok=True)

    counters = {breed: 100 for breed, _, _ in BREEDS}
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    plan = [("trainval", i) for i in range(train_count)] + [("test", i) for i in range(test_count)]
    for split, i in plan:
        breed, class_id, species = BREEDS[i % len(BREEDS)]
        counters[breed] += 1
        name = f"{breed}_{counters[breed]}"
        if split == "test" and i == 0:
            name, (breed, class_id, species) = ALPHA_PNG_NAME, BREEDS[0]
        image, trimap = draw(rng)
        if name == ALPHA_PNG_NAME:
            image.convert("RGBA").save(images / f"{name}.jpg", format="PNG")
        else:
            image.save(images / f"{name}.jpg", format="JPEG", quality=90)
        trimap.save(trimaps / f"{name}.png")
        if split == "trainval":
            (xmls / f"{name}.xml").write_text(_xml(name, image.width, image.height))
        lines[split].append(f"{name} {class_id} {species} {BREEDS.index((breed, class_id, species)) + 1}")

    gif, _ = draw(rng)
    buffer = io.BytesIO()
    gif.convert("P").save(buffer, format="GIF")
    (images / f"{UNLISTED_GIF_NAME}.jpg").write_bytes(buffer.getvalue())
    Image.fromarray(np.full((gif.height, gif.width), 2, np.uint8), "L").save(trimaps / f"{UNLISTED_GIF_NAME}.png")

    annotations = root / "annotations"
    (annotations / "trainval.txt").write_text("\n".join(lines["trainval"]) + "\n")
    (annotations / "test.txt").write_text("\n".join(lines["test"]) + "\n")
    (annotations / "list.txt").write_text("\n".join(HEADER + sorted(lines["trainval"] + lines["test"])) + "\n")
    (annotations / "README").write_text(
        "Synthetic stand-in for the Oxford-IIIT Pet annotations, made by the Tiny U-Net kit.\n"
        "Pixel Annotations: 1: Foreground 2:Background 3: Not classified\n"
    )
