"""The release's self-checks: filled with the right answers they all pass; each common mistake fails its check, named.

The release notebook is filled in as a student would fill it: every `# YOUR CODE HERE` stub gets the
solution's code, then one answer at a time is changed into a common mistake. The cells run in one
Jupyter kernel (the kit's), at IMG_SIZE 32; instead of the tfds pipeline, `train` and `test` are a few
random in-memory examples, which is all the training self-check needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat
import pytest
from mutants import RELEASE, SOLUTION
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*$", re.M)
REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION(?:\n|\Z)", re.M | re.S)
SETTINGS = (
    "IMG_SIZE = 32\nBATCH_SIZE = 4\nEPOCHS = 2\nBASE_FILTERS = 4\nLEARNING_RATE = 1e-3\n"
    'TRAIN_SPLIT = "train[:8]"\nTEST_SPLIT = "test[:8]"'
)
TINY_DATA = """_rng = np.random.default_rng(0)
_images = _rng.random((8, IMG_SIZE, IMG_SIZE, 3), dtype=np.float32)
_masks = (_rng.random((8, IMG_SIZE, IMG_SIZE, 1)) > 0.5).astype(np.float32)
train = tf.data.Dataset.from_tensor_slices((_images, _masks)).batch(BATCH_SIZE)
test = train"""
ANSWERS = ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet", "compile", "fit")
CHECK_OF = {
    "preprocess": "check_preprocess",
    "double_conv_block": "check_double_conv_block",
    "encoder_block": "check_encoder_block",
    "decoder_block": "check_decoder_block",
    "make_unet": "check_make_unet",
    "compile": "check_training",
    "fit": "check_training",
}


@dataclass(frozen=True)
class Mistake:
    """In the filled answer `grade_id`, `old` becomes `new`; its self-check must fail with every phrase of `says`."""

    name: str
    grade_id: str
    old: str
    new: str
    says: tuple[str, ...]
    everywhere: bool = False  # change every occurrence of `old`, not exactly one


MASK_MAPPING = "tf.cast(mask != 2, tf.float32)"
MASK_RESIZE = 'example["segmentation_mask"], (IMG_SIZE, IMG_SIZE), method="nearest"'
IMAGE_SCALING = "tf.cast(image, tf.float32) / 255.0"
MISTAKES = [
    Mistake(
        "border_as_background",
        "preprocess",
        "mask != 2",
        "mask == 1",
        ("wrong label mapping", "border is not background"),
    ),
    Mistake(
        "seed_trimap_order",
        "preprocess",
        "mask != 2",
        "mask != 3",
        ("wrong label mapping", "2 is the background and 3 the border"),
    ),
    Mistake(
        "labels_minus_one",
        "preprocess",
        MASK_MAPPING,
        "tf.cast(mask, tf.float32) - 1",
        ("wrong label mapping", "Subtracting 1"),
    ),
    Mistake(
        "trimap_not_mapped",
        "preprocess",
        MASK_MAPPING,
        "tf.cast(mask, tf.float32)",
        ("wrong label mapping", "trimap's own values"),
    ),
    Mistake("mask_inverted", "preprocess", "mask != 2", "mask == 2", ("wrong label mapping", "inverted")),
    Mistake(
        "mask_bilinear",
        "preprocess",
        MASK_RESIZE,
        MASK_RESIZE.replace("nearest", "bilinear"),
        ("bilinear", "method='nearest'"),
    ),
    Mistake(
        "mask_mapped_then_bilinear",
        "preprocess",
        f"mask = tf.image.resize({MASK_RESIZE})\n    mask = {MASK_MAPPING}",
        'mask = tf.cast(example["segmentation_mask"] != 2, tf.float32)\n'
        '    mask = tf.image.resize(mask, (IMG_SIZE, IMG_SIZE), method="bilinear")',
        ("interpolation", "method='nearest'"),
    ),
    Mistake(
        "image_not_scaled",
        "preprocess",
        IMAGE_SCALING,
        "tf.cast(image, tf.float32)",
        ("image values reach 255", "dividing by 255"),
    ),
    Mistake(
        "image_scaled_twice",
        "preprocess",
        IMAGE_SCALING,
        "tf.image.convert_image_dtype(tf.cast(image, tf.uint8), tf.float32) / 255.0",
        ("divide by 255 once, not twice",),
    ),
    Mistake(
        "image_float64",
        "preprocess",
        IMAGE_SCALING,
        "tf.cast(image, tf.float64) / 255.0",
        ("image dtype is float64", "tf.float32"),
    ),
    Mistake("mask_bool", "preprocess", MASK_MAPPING, "mask != 2", ("mask dtype is bool", "tf.cast")),
    Mistake(
        "mask_uint8", "preprocess", MASK_MAPPING, "tf.cast(mask != 2, tf.uint8)", ("mask dtype is uint8", "float32")
    ),
    Mistake(
        "mask_channel_dropped",
        "preprocess",
        MASK_MAPPING,
        "tf.cast(mask[..., 0] != 2, tf.float32)",
        ("mask shape", "keep the channel axis"),
    ),
    Mistake(
        "size_hard_coded",
        "preprocess",
        "(IMG_SIZE, IMG_SIZE)",
        "(256, 256)",
        ("whatever IMG_SIZE is", "Use the name IMG_SIZE"),
        everywhere=True,
    ),
    Mistake(
        "size_hard_coded_to_current_value",
        "preprocess",
        "(IMG_SIZE, IMG_SIZE)",
        "(32, 32)",
        ("whatever IMG_SIZE is", "Use the name IMG_SIZE"),
        everywhere=True,
    ),
    Mistake(
        "single_conv",
        "double_conv_block",
        '    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)\n'
        '    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)',
        '    x = layers.Conv2D(num_f, 3, padding="same", activation="relu")(x)',
        ("exactly two Conv2D layers",),
    ),
    Mistake(
        "conv_without_relu",
        "double_conv_block",
        'activation="relu")(x)\n    return',
        "activation=None)(x)\n    return",
        ("activation='relu'",),
    ),
    Mistake("encoder_outputs_swapped", "encoder_block", "return x, p", "return p, x", ("wrong order",)),
    Mistake(
        "skip_not_concatenated",
        "decoder_block",
        "x = layers.Concatenate()([x, skip])",
        "x = x",
        ("9,008", "concatenate the result with skip"),
    ),
    Mistake(
        "upsampling_without_weights",
        "decoder_block",
        'layers.Conv2DTranspose(num_f, kernel_size=2, strides=2, padding="same")(x)',
        "layers.UpSampling2D(2)(x)",
        ("Conv2DTranspose",),
    ),
    Mistake(
        "base_filters_hard_coded",
        "make_unet",
        "encoder_block(inputs, base_num_f)",
        "encoder_block(inputs, 32)",
        ("base_num_f=8", "derive every stage's filters from base_num_f"),
    ),
    Mistake(
        "learning_rate_hard_coded",
        "compile",
        "Adam(learning_rate=LEARNING_RATE)",
        "Adam(learning_rate=1e-4)",
        ("learning_rate=LEARNING_RATE",),
    ),
    Mistake(
        "mse_loss", "compile", 'loss="binary_crossentropy"', 'loss="mse"', ("the loss is mse", "binary_crossentropy")
    ),
    Mistake("epochs_hard_coded", "fit", "epochs=EPOCHS", "epochs=1", ("training ran 1 epochs", "epochs=EPOCHS")),
]

# Right answers written differently from the solution: the self-checks must not reject them.
ALTERNATIVES = [
    ("mask_where", "preprocess", MASK_MAPPING, "tf.where(mask == 2, 0.0, 1.0)"),
    ("mask_pet_or_border", "preprocess", MASK_MAPPING, "tf.cast((mask == 1) | (mask == 3), tf.float32)"),
    (
        "image_convert_dtype",
        "preprocess",
        IMAGE_SCALING,
        "tf.image.convert_image_dtype(tf.cast(image, tf.uint8), tf.float32)",
    ),
    (
        "mask_mapped_then_nearest",
        "preprocess",
        f"mask = tf.image.resize({MASK_RESIZE})\n    mask = {MASK_MAPPING}",
        'mask = tf.cast(example["segmentation_mask"] != 2, tf.float32)\n'
        '    mask = tf.image.resize(mask, (IMG_SIZE, IMG_SIZE), method="nearest")',
    ),
    (
        "resizing_layer",
        "preprocess",
        f"tf.image.resize({MASK_RESIZE})",
        'keras.layers.Resizing(IMG_SIZE, IMG_SIZE, interpolation="nearest")(example["segmentation_mask"])',
    ),
    ("loss_object", "compile", 'loss="binary_crossentropy"', "loss=keras.losses.BinaryCrossentropy()"),
]


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def filled_answers() -> dict[str, str]:
    """Every answer cell of the release with its stubs replaced by the solution's code."""
    release = nbformat.read(RELEASE, as_version=4)
    solution = nbformat.read(SOLUTION, as_version=4)
    answers = {}
    for grade_id in ANSWERS:
        regions = iter(REGION.findall(_cell(solution, grade_id).source))
        filled = STUB.sub(lambda _, regions=regions: next(regions).rstrip("\n"), _cell(release, grade_id).source)
        assert next(regions, None) is None, f"{grade_id}: the release has fewer stubs than the solution has answers"
        unmarked = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION(?:\n|\Z)", "", _cell(solution, grade_id).source, flags=re.M)
        assert filled.rstrip("\n") == unmarked.rstrip("\n"), (
            f"{grade_id}: filling the release does not give the solution's code"
        )
        answers[grade_id] = filled
    return answers


def with_change(source: str, old: str, new: str, everywhere: bool = False) -> str:
    assert source.count(old) >= 1 if everywhere else source.count(old) == 1, (
        f"{old!r} does not occur {'' if everywhere else 'exactly once '}in {source!r}"
    )
    return source.replace(old, new)


class Kernel:
    """One Jupyter kernel that runs cells one at a time and keeps their outputs."""

    def __init__(self, client: NotebookClient) -> None:
        self.client = client

    def run(self, source: str) -> list[dict]:
        nb = self.client.nb
        nb.cells.append(nbformat.v4.new_code_cell(source))
        self.client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        return nb.cells[-1].outputs

    def run_ok(self, source: str) -> str:
        outputs = self.run(source)
        errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
        assert not errors, f"{errors}\nin:\n{source}"
        return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")

    def failure(self, source: str) -> str:
        errors = [o for o in self.run(source) if o.output_type == "error"]
        assert errors, "the self-check passed"
        assert errors[0].ename == "AssertionError", f"{errors[0].ename}: {errors[0].evalue}"
        return errors[0].evalue


@pytest.fixture(scope="module")
def notebook_kernel():
    release = nbformat.read(RELEASE, as_version=4)
    answers = filled_answers()
    checks = {grade_id: _cell(release, grade_id).source for grade_id in set(CHECK_OF.values())}
    client = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3", timeout=300, allow_errors=True)
    with client.setup_kernel():
        kernel = Kernel(client)
        for grade_id in ("setup", "hardware"):
            kernel.run_ok(_cell(release, grade_id).source)
        kernel.run_ok(next(c.source for c in release.cells if "parameters" in c.metadata.get("tags", [])))
        kernel.run_ok(SETTINGS)
        kernel.run_ok(_cell(release, "apply_config").source)
        kernel.run_ok(TINY_DATA)
        yield kernel, answers, checks, _cell(release, "build_model").source


def run_answer(kernel: Kernel, answers: dict[str, str], build_model: str, grade_id: str, source: str) -> None:
    """Run one answer cell, with what the training self-check needs before it."""
    if grade_id in ("compile", "fit"):
        kernel.run_ok(answers["make_unet"])
        kernel.run_ok(build_model)
        kernel.run_ok(source if grade_id == "compile" else answers["compile"])
        kernel.run_ok(source if grade_id == "fit" else answers["fit"])
    else:
        kernel.run_ok(source)


def restore(kernel: Kernel, answers: dict[str, str], grade_id: str) -> None:
    """Put the right answer `grade_id` back (a training answer needs nothing: every training run starts over)."""
    if grade_id not in ("compile", "fit"):
        kernel.run_ok(answers[grade_id])


def test_right_answers_pass_every_self_check(notebook_kernel) -> None:
    kernel, answers, checks, build_model = notebook_kernel
    for grade_id in ANSWERS:
        run_answer(kernel, answers, build_model, grade_id, answers[grade_id])
        assert "self-checks passed" in kernel.run_ok(checks[CHECK_OF[grade_id]]), grade_id


@pytest.mark.parametrize("name,grade_id,old,new", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_other_right_answers_pass(notebook_kernel, name: str, grade_id: str, old: str, new: str) -> None:
    kernel, answers, checks, build_model = notebook_kernel
    run_answer(kernel, answers, build_model, grade_id, with_change(answers[grade_id], old, new))
    try:
        assert "self-checks passed" in kernel.run_ok(checks[CHECK_OF[grade_id]])
    finally:
        restore(kernel, answers, grade_id)


@pytest.mark.parametrize("size", [16, 48, 256])
def test_preprocess_self_check_passes_at_other_image_sizes(notebook_kernel, size: int) -> None:
    kernel, answers, checks, _ = notebook_kernel
    kernel.run_ok(answers["preprocess"])
    kernel.run_ok(f"IMG_SIZE = {size}")
    try:
        assert "self-checks passed" in kernel.run_ok(checks["check_preprocess"])
        assert kernel.run_ok("print(IMG_SIZE)").strip() == str(size), "the self-check did not put IMG_SIZE back"
    finally:
        kernel.run_ok("IMG_SIZE = 32")


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_each_common_mistake_fails_its_self_check_by_name(notebook_kernel, mistake: Mistake) -> None:
    kernel, answers, checks, build_model = notebook_kernel
    run_answer(
        kernel,
        answers,
        build_model,
        mistake.grade_id,
        with_change(answers[mistake.grade_id], mistake.old, mistake.new, mistake.everywhere),
    )
    try:
        message = kernel.failure(checks[CHECK_OF[mistake.grade_id]])
        for phrase in mistake.says:
            assert phrase in message, (
                f"{mistake.name}: the self-check said {message!r}, which does not name the mistake ({phrase!r})"
            )
        if mistake.grade_id == "preprocess" and "nearest" not in mistake.name and "bilinear" not in mistake.name:
            assert "nearest" not in message, f"{mistake.name}: the message points at the resize: {message!r}"
    finally:
        restore(kernel, answers, mistake.grade_id)
