"""A small synthetic Oxford-IIIT Pet in the official extracted layout.

Every pet is a textured blob on a differently textured background, so a segmentation
model can learn it; the trimap marks it with 1 = pet, 2 = background, 3 = border band,
exactly like the real annotations. The set also reproduces two quirks of the real archive:
a PNG with an alpha channel saved under a `.jpg` name, and a GIF listed in neither split.
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
VERSION = "v2"  # of the data tool's output: v2 added the private part

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


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, stripes: bool) -> np.ndarray:
    """An RGB texture: a base colour with noise, plus stripes for pets."""
    img = base[None, None, :] + rng.normal(0, 18, (h, w, 3))
    if stripes:
        yy, xx = np.mgrid[0:h, 0:w]
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 14)
        wave = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period)
        img += 35 * wave[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def draw(rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """One (RGB image, L-mode trimap) pair of a random size between 150 and 600 px."""
    w, h = (int(v) for v in rng.integers(150, 601, size=2))
    background = _texture(rng, h, w, rng.uniform(20, 110, 3), stripes=False)
    pet = _texture(rng, h, w, rng.uniform(130, 235, 3), stripes=True)

    cx = rng.uniform(0.35, 0.65) * w
    cy = rng.uniform(0.35, 0.65) * h
    rx = rng.uniform(0.15, 0.32) * w
    ry = rng.uniform(0.15, 0.32) * h
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

    image = np.where(inside[..., None], pet, background)
    return Image.fromarray(image, "RGB"), Image.fromarray(trimap, "L")


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
