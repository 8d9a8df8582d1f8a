"""Common student mistakes, made by editing one cell of the solution, and the broken notebooks a grader must survive."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb"
RELEASE = ROOT / "release" / "tiny_unet" / "tiny_unet.ipynb"


@dataclass(frozen=True)
class Mutant:
    """A mistake: in the cell `grade_id`, `old` becomes `new`; it must cost points in `section`, saying `message`."""

    name: str
    grade_id: str
    old: str
    new: str
    section: str
    message: str


MUTANTS = [
    Mutant("seed_trimap_typo", "preprocess", "mask != 2", "mask != 3", "preprocess", "2 is the background"),
    Mutant(
        "border_as_background", "preprocess", "mask != 2", "mask == 1", "preprocess", "the border belongs to the pet"
    ),
    Mutant(
        "mask_bilinear",
        "preprocess",
        'example["segmentation_mask"], (IMG_SIZE, IMG_SIZE), method="nearest"',
        'example["segmentation_mask"], (IMG_SIZE, IMG_SIZE), method="bilinear"',
        "preprocess",
        "method='nearest'",
    ),
    Mutant(
        "image_not_scaled",
        "preprocess",
        "tf.cast(image, tf.float32) / 255.0",
        "tf.cast(image, tf.float32)",
        "preprocess",
        "divide by 255",
    ),
    Mutant(
        "single_conv",
        "double_conv_block",
        '    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)\n'
        '    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)',
        '    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)',
        "encoder",
        "needs exactly two",
    ),
    Mutant(
        "conv_without_relu",
        "double_conv_block",
        'activation="relu")(x)\n    ### END',
        "activation=None)(x)\n    ### END",
        "encoder",
        "activation='relu'",
    ),
    Mutant("encoder_outputs_swapped", "encoder_block", "return x, p", "return p, x", "encoder", "wrong order"),
    Mutant(
        "upsampling_without_weights",
        "decoder_block",
        'layers.Conv2DTranspose(num_f, kernel_size=2, strides=2, padding="same")(x)',
        "layers.Conv2D(num_f, 1)(layers.UpSampling2D(2)(x))",
        "decoder",
        "Conv2DTranspose",
    ),
    Mutant(
        "skip_not_concatenated",
        "decoder_block",
        "x = layers.Concatenate()([x, skip])",
        "x = x",
        "decoder",
        "Concatenate",
    ),
    Mutant(
        "hard_coded_base",
        "make_unet",
        "f1, p1 = encoder_block(inputs, base_num_f)",
        "f1, p1 = encoder_block(inputs, 32)",
        "unet",
        "derive every stage's filters from base_num_f",
    ),
    Mutant(
        "softmax_head",
        "make_unet",
        '("sigmoid" if num_classes == 1 else "softmax")',
        '"softmax"',
        "unet",
        "sigmoid for one class",
    ),
    Mutant(
        "hard_coded_learning_rate",
        "compile",
        "Adam(learning_rate=LEARNING_RATE)",
        "Adam(learning_rate=1e-4)",
        "training",
        "LEARNING_RATE",
    ),
    Mutant("mse_loss", "compile", 'loss="binary_crossentropy"', 'loss="mse"', "training", "binary_crossentropy"),
    Mutant("hard_coded_epochs", "fit", "epochs=EPOCHS", "epochs=2", "training", "EPOCHS"),
]
# Graded for real in the slow batch: at least one per section and per way the grader measures it (the probe's
# preprocess, block and model calls; the trained model). tests/fast judges every mutant on facts regenerated from such
# runs, and tests/test_grader.py checks that live facts still give what the committed ones give.
LIVE_NAMES = (
    "seed_trimap_typo",
    "mask_bilinear",
    "single_conv",
    "skip_not_concatenated",
    "softmax_head",
    "hard_coded_epochs",
)
LIVE = [m for m in MUTANTS if m.name in LIVE_NAMES]


def mutate(mutant: Mutant) -> nbformat.NotebookNode:
    nb = nbformat.read(SOLUTION, as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == mutant.grade_id]
    assert len(cells) == 1 and mutant.old in cells[0].source, (
        f"mutant {mutant.name} does not apply to the solution any more"
    )
    cells[0].source = cells[0].source.replace(mutant.old, mutant.new)
    return nb


def index_of(nb: nbformat.NotebookNode, grade_id: str) -> int:
    """The index of the cell whose nbgrader metadata names `grade_id`."""
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_extra_cell(
    source: str, after_grade_id: str, base: nbformat.NotebookNode | None = None
) -> nbformat.NotebookNode:
    """`base` (the solution by default) with one more code cell after the cell `after_grade_id`."""
    nb = base if base is not None else nbformat.read(SOLUTION, as_version=4)
    nb.cells.insert(index_of(nb, after_grade_id) + 1, nbformat.v4.new_code_cell(source))
    return nb


def untrained(nb: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """`nb` (the solution by default) with its training cell emptied: it earns every point but those that need a
    trained model, without the minute of training (for tests where training is not what they are about)."""
    nb = nb if nb is not None else nbformat.read(SOLUTION, as_version=4)
    nb.cells[index_of(nb, "fit")].source = "# not trained yet"
    return nb


# What `untrained()` earns in the training section: the compile checks (optimizer, learning rate, loss), not the
# checks that need a trained model (epochs, validation, IoU).
UNTRAINED_TRAINING = 4.0
SOLUTION_STUDENT = "aa_honest_solution"  # the solution in the shared batch: graded first, before every hostile notebook
INFINITE_LOOP = "ab_broken_infinite_loop"  # graded right after it, beside the first hostile notebooks


def write_batch(root: Path) -> dict[str, str]:
    """The mutants' and broken notebooks' part of the shared batch (tests/batches.py): nbgrader's layout plus flat
    files under `root`/submitted; returns student -> what it is. Broken notebooks whose test is not about training
    are built on `untrained()`."""
    kinds = {}

    def put(
        student: str, nb: nbformat.NotebookNode | None = None, text: str | None = None, nested: bool = True
    ) -> None:
        path = (
            root / "submitted" / student / "tiny_unet" / "tiny_unet.ipynb"
            if nested
            else root / "submitted" / f"{student}.ipynb"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        if nb is not None:
            nbformat.write(nb, path)
        else:
            path.write_text(text or "")

    put(SOLUTION_STUDENT, nbformat.read(SOLUTION, as_version=4))
    extra = root / "submitted" / SOLUTION_STUDENT / "tiny_unet" / "tiny_unet-Copy1.ipynb"  # a stray copy beside it
    extra.write_text("not a notebook")
    put("unfilled_release", nbformat.read(RELEASE, as_version=4), nested=False)
    put("untrained_solution", untrained(), nested=False)
    for mutant in LIVE:
        put(f"mutant_{mutant.name}", mutate(mutant))
        kinds[f"mutant_{mutant.name}"] = "mutant"
    put("broken_json", text=json.dumps({"cells": "oops"})[:-3])
    put("broken_syntax", with_extra_cell("def oops(:\n    pass", "double_conv_block", untrained()), nested=False)
    # An endless loop that sleeps: the cell time limit stops it as it stops a busy one, without burning a core. Named
    # to be graded among the first four (by name): its two minutes of waiting then overlap the others' work instead
    # of being the batch's last notebook, alone.
    endless = "import time\nwhile True:\n    time.sleep(1)"
    put(INFINITE_LOOP, with_extra_cell(endless, "visualise", untrained()))
    put("broken_dead_kernel", with_extra_cell("import os\nos._exit(1)", "visualise", untrained()))
    no_tag = untrained()  # its model's facts show whether the profile's values reached the cell that sets IMG_SIZE
    for cell in no_tag.cells:
        cell.metadata.pop("tags", None)
    put("broken_missing_parameters_tag", no_tag)
    edited = untrained()
    edited.cells[index_of(edited, "check_preprocess")].source = "# self-checks removed by the student"
    put("broken_edited_locked_cell", edited)
    (root / "submitted" / "broken_symlink.ipynb").symlink_to(SOLUTION)  # points outside SUBMISSIONS
    oversize = nbformat.read(RELEASE, as_version=4)
    oversize.cells[0].attachments = {"huge.png": {"image/png": "A" * (21 << 20)}}
    put("broken_oversize", oversize, nested=False)
    for name in ("colliding id", "colliding_id"):
        put(name, nbformat.read(RELEASE, as_version=4), nested=False)
    kinds.update(
        {
            SOLUTION_STUDENT: "solution",
            "untrained_solution": "untrained",
            "unfilled_release": "stub",
            "colliding_id": "stub",
            "colliding_id-2": "stub",
        }
    )
    kinds.update(
        {
            name: "broken"
            for name in (
                "broken_json",
                "broken_syntax",
                INFINITE_LOOP,
                "broken_dead_kernel",
                "broken_missing_parameters_tag",
                "broken_edited_locked_cell",
                "broken_symlink",
                "broken_oversize",
            )
        }
    )
    return kinds
