"""The measuring process: in a sandbox of its own, once per submission, it reads what the notebook's kernel and
the probe left (copied in by the grader, so nothing else is within reach) and writes the typed facts.

    python -I -c "import sys; sys.path.insert(0, FOLDER/program); from measuring import program; ..." FOLDER
        [--asks FD]

FOLDER holds job.json (the run's settings), challenge.json and inputs.npz (the probe's inputs), probe/ (what the
probe saved) and export/ (the trained model and history the kernel saved). Started with the notebook, it imports
TensorFlow, then asks the grader on FD for the probe's files, measures them, and asks for the trained model; each
answer is a line on stdin, sent once the grader has copied the files in. The facts go to FOLDER/out/facts.json.
It runs no student code; whatever a hostile file makes it do stays in its sandbox, and the grader accepts from it
only facts of the declared types and ranges.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from . import facts, files, models, preprocess, training

T = TypeVar("T")

BLOCKS = ("double_conv_block", "encoder_block", "decoder_block", "make_unet")


def ask(asks: int, what: str) -> dict:
    """Ask the grader for `what` (the probe's files, the trained model) and wait for its answer, a JSON line."""
    if asks < 0:
        return {}
    os.write(asks, f"{what}\n".encode())
    line = sys.stdin.readline(1 << 16)
    return json.loads(line) if line.startswith("{") else {}


def checked(measured: T, instead: Callable[[str], T]) -> T:
    """`measured` if it is of its declared types and ranges (as the grader will read it), else what `instead` makes
    of the reason: one odd value (a NaN the submission produced, say) costs its own section, not every one."""
    try:
        return facts.parse(type(measured), json.loads(facts.dumps(measured)))
    except facts.FactError as error:
        return instead(files.text(f"the grader could not use what it measured here: {error}", 300))


def main(folder: str, asks: int = -1) -> None:
    root = Path(folder)
    job = {**json.loads((root / "job.json").read_text()), "folder": str(root)}
    challenge = json.loads((root / "challenge.json").read_text())
    sys.modules.setdefault("matplotlib", None)  # Keras imports pyplot when it can (0.5 s a process); nothing here draws
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    with np.load(root / "inputs.npz") as saved:
        count = challenge["examples"]
        images = [saved[f"image{i}"] for i in range(count)]
        trimaps = [saved[f"trimap{i}"] for i in range(count)]
    ask(asks, "probe")
    probe = root / "probe"
    definitions = models.call(probe, "definitions")
    preprocessed = checked(
        preprocess.measure(probe, models.call(probe, "preprocess"), images, trimaps, challenge["img_size"]),
        lambda why: facts.Preprocess(facts.Call(ok=False, error=why), challenge["img_size"]),
    )
    blocks = {
        name: checked(
            models.block(probe, name, challenge[name]), lambda why: facts.Block(facts.Call(ok=False, error=why))
        )
        for name in BLOCKS
    }
    answer = ask(asks, "trained model")
    job["exported"] = answer.get("exported", (root / "export" / "trained.keras").is_file()) is True
    trained = training.measure(root / "export", probe, job, preprocessed)
    evaluation = facts.Evaluation(facts.Status.PROBLEM, "")
    trained = checked(trained, lambda why: facts.Training(0, 0, {}, replace(evaluation, reason=why), model_problem=why))
    text = facts.dumps(facts.Facts(job["seed"], definitions, preprocessed, blocks, trained))
    descriptor = os.open(root / "out" / "facts.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
