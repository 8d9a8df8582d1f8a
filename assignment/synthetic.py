"""A small synthetic Oxford-IIIT Pet in the official extracted layout.

Every pet is a blob (a body and a few smaller blobs touching it: ears, a tail) of fur: one colour under a strong,
fine texture. The background is two colours in large patches under a faint texture of the same grain. Pet and
background colours are drawn from the same law, so no colour or brightness rule tells them apart: the pet is
the region of strong texture, and a model has to gather that texture over a neighbourhood wider than a pixel's
(the fixed rules' IoU: benchmarks/fixed_rules.py, tests/fast/test_fixed_rules.py). Sizes and the texture's grain
are relative to the image, so every IMG_SIZE sees the same scene. The trimap marks the pet with 1 = pet,
2 = background, 3 = border band, exactly like the real annotations. The set also reproduces two quirks of the
real archive: a PNG with an alpha channel saved under a `.jpg` name, and a GIF listed in neither split.
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
VERSION = "v2"  # changes whenever the same seed would draw other examples

GRAIN = 14  # texture periods across the image's shorter side
FUR = (40, 50)  # the pet's texture amplitude (grey levels); the background's is BACKGROUND_FUR
BACKGROUND_FUR = 6
PATCHES = 3  # background patches across the image's shorter side, roughly
COLOURS = (50, 205)  # every colour channel of pet and background alike, uniform in this range

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


def _field(rng: np.random.Generator, h: int, w: int, period: float, band: bool) -> np.ndarray:
    """Gaussian noise of unit spread, filtered in frequency: around `period` pixels (band) or above it (smooth)."""
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]) * period
    gain = np.exp(-0.5 * ((radius - 1) / 0.25) ** 2) if band else np.exp(-0.5 * radius**2)
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(h, w))) * gain))
    return field / (field.std() + 1e-9)


def _shape(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """The pet's silhouette (a body and 1-3 smaller blobs touching it) and its trimap (1 pet, 2 background, 3 band)."""
    cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
    rx, ry = rng.uniform(0.17, 0.33) * w, rng.uniform(0.17, 0.33) * h
    blobs = [(cx, cy, rx, ry)]
    for _ in range(int(rng.integers(1, 4))):  # ears, tail
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
    trimap = np.full((h, w), 2, np.uint8)
    trimap[filled(band)] = 3
    trimap[filled(-band)] = 1
    return filled(0), trimap


def draw(rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """One (RGB image, L-mode trimap) pair of a random size between 150 and 600 px."""
    w, h = (int(v) for v in rng.integers(150, 601, size=2))
    inside, trimap = _shape(rng, w, h)
    side = min(w, h)
    grain = _field(rng, h, w, side / GRAIN, band=True)[..., None]
    patches = (_field(rng, h, w, side / PATCHES, band=False) > 0)[..., None]
    background = np.where(patches, rng.uniform(*COLOURS, 3), rng.uniform(*COLOURS, 3)) + BACKGROUND_FUR * grain
    pet = rng.uniform(*COLOURS, 3) + rng.uniform(*FUR) * grain
    image = np.where(inside[..., None], pet, background) + rng.normal(0, 4, (h, w, 3))
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
