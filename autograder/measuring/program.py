"""The measuring process: in a sandbox of its own, once per submission, it reads what the notebook's kernel and
the probe left (copied in by the grader, so nothing else is within reach) and writes the typed facts.

    python -I -c "import sys; sys.path.insert(0, FOLDER/program); from measuring import program; program.main(FOLDER)"

FOLDER holds job.json (the run's settings), challenge.json and inputs.npz (the probe's inputs), probe/ (what the
probe saved) and export/ (the trained model and history the kernel saved). The facts go to FOLDER/out/facts.json.
It runs no student code; whatever a hostile file makes it do stays in its sandbox, and the grader accepts from it
only facts of the declared types and ranges.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import facts, models, preprocess, training

BLOCKS = ("double_conv_block", "encoder_block", "decoder_block", "make_unet")


def main(folder: str) -> None:
    root = Path(folder)
    job = {**json.loads((root / "job.json").read_text()), "folder": str(root)}
    challenge = json.loads((root / "challenge.json").read_text())
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    with np.load(root / "inputs.npz") as saved:
        count = challenge["examples"]
        images = [saved[f"image{i}"] for i in range(count)]
        trimaps = [saved[f"trimap{i}"] for i in range(count)]
    probe = root / "probe"
    export = root / "export"
    measured = facts.Facts(
        seed=job["seed"],
        definitions=models.call(probe, "definitions"),
        preprocess=preprocess.measure(probe, models.call(probe, "preprocess"), images, trimaps, challenge["img_size"]),
        blocks={name: models.block(probe, name, challenge[name]) for name in BLOCKS},
        training=training.measure(export, probe, job),
    )
    text = facts.dumps(measured)
    descriptor = os.open(root / "out" / "facts.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
