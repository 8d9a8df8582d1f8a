"""Measure, on honest trained models, what the claims checks compare (the basis of Profile.flip_margin,
Profile.loss_agreement, training.MOVED_* and descriptors.MATCH), in this process (no sandbox: the solution's code).

    python benchmarks/calibrate_claims.py smoke --data DIR --seeds 1 2 3 [--mapping 110]

For each seed it trains the solution's U-Net as the notebook does (its tf.data pipeline, Adam, binary cross-entropy,
EPOCHS epochs validated on the test split) and prints: the IoU on the test split as it is and mirrored, the last
epoch's reported loss over the grader's loss on the training split after training (and the first epoch's the same
way: what a notebook that trained one epoch and reported it would show), and the share of weight arrays that moved
from a fresh initialisation (and that of a fresh model). Once per data set it prints how well the descriptors of
distinct examples (training against test) and of one example preprocessed other ways correlate. `--mapping 110` trains
with another trimap mapping (as the seed's `mask <= 2`) and prints its scores against its own and the true masks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assignment.profiles import PROFILES  # noqa: E402
from autograder.measuring import evaluation, training  # noqa: E402
from autograder.measuring.facts import Call, Example, Preprocess  # noqa: E402
from autograder.probe import descriptors  # noqa: E402

SOLUTION = ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb"


def solution_functions() -> dict:
    """The solution's preprocess, blocks and make_unet, defined in a namespace of their own."""
    import keras
    import tensorflow as tf

    nb = nbformat.read(SOLUTION, as_version=4)
    space = {"keras": keras, "layers": keras.layers, "tf": tf}
    for cell in nb.cells:
        name = cell.metadata.get("nbgrader", {}).get("grade_id")
        if name in ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet"):
            exec(cell.source, space)
    return space


def descriptor_spread(data_dir: str, size: int, train_split: str, test_split: str) -> str:
    """The highest correlation between a training and a test example, and the lowest between a test example and
    itself preprocessed another way (nearest resize, not divided by 255, per-channel standardised, mirrored)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    train = descriptors.coarse(training.reference_split(data_dir, train_split, size)["images"])
    test_images = training.reference_split(data_dir, test_split, size)["images"]
    test = descriptors.coarse(test_images)
    both = np.concatenate([test, descriptors.mirrored(test)])
    distinct = float((train @ both.T).max())
    within = (test @ test.T) - 2 * np.eye(len(test))
    nearest = np.stack(
        [
            tf.image.resize(example["image"], (size, size), method="nearest").numpy()
            for example in tfds.load(training.DATASET, split=test_split, data_dir=data_dir)
        ]
    )
    variants = {
        "nearest resize": descriptors.coarse(nearest),
        "not divided by 255": descriptors.coarse(test_images * 255.0),
        "standardised": descriptors.coarse((test_images - test_images.mean((1, 2), keepdims=True)) / 0.2),
        "bfloat16": descriptors.coarse(tf.cast(tf.cast(test_images, tf.bfloat16), tf.float32).numpy()),
        "mirrored": descriptors.coarse(test_images[:, :, ::-1]),
    }
    lowest = {
        name: float(np.min([(found @ both.T)[i].max() for i in range(len(found))])) for name, found in variants.items()
    }
    found = {name: len(set(descriptors.matches(values, test))) for name, values in variants.items()}
    return (
        f"descriptors: highest train/test correlation {distinct:.4f}, within the test split {within.max():.4f}; "
        f"lowest self-correlation {lowest}; test examples recognised {found} of {len(test)}; training examples "
        f"taken for test ones {len(descriptors.matches(train, test))}"
    )


def preprocess_facts(mapping: str) -> Preprocess:
    labels = {str(label): float(value) for label, value in zip((1, 2, 3), mapping, strict=True)}
    example = Example([8, 8, 3], "float32", [8, 8, 1], "float32", [0.0, 1.0], label_values=labels, image_scale=1.0)
    return Preprocess(Call(ok=True), 8, [example])


def run(profile_name: str, data_dir: str, seed: int, mapping: str) -> str:
    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    p = PROFILES[profile_name].parameters
    keras.utils.set_random_seed(seed)
    bf16 = p.mixed_precision == "auto" and "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")
    space = solution_functions()
    space["IMG_SIZE"] = p.img_size
    table = tf.constant([0.0, *[float(v) for v in mapping]], tf.float32)

    def preprocess(example):
        image, _ = space["preprocess"](example)
        trimap = tf.image.resize(example["segmentation_mask"], (p.img_size, p.img_size), method="nearest")
        return image, tf.gather(table, tf.cast(trimap, tf.int32))

    raw_train, raw_test = tfds.load(training.DATASET, split=[p.train_split, p.test_split], data_dir=data_dir)
    train = raw_train.map(preprocess).cache().shuffle(1000, seed=seed).batch(p.batch_size).prefetch(2)
    test = raw_test.map(preprocess).batch(p.batch_size).prefetch(2)
    model = space["make_unet"]((p.img_size, p.img_size, 3), p.base_filters, 1, "sigmoid")
    model.compile(optimizer=keras.optimizers.Adam(p.learning_rate), loss="binary_crossentropy")
    data = {}
    for name, split in (("train", p.train_split), ("test", p.test_split)):
        data.update(
            {f"{name}_{kind}": array for kind, array in training.reference_split(data_dir, split, p.img_size).items()}
        )
    own = evaluation.Carried({label: float(v) for label, v in zip((1, 2, 3), mapping, strict=True)})
    own_train = (data["train_images"], own.masks(data["train_trimaps"]))
    step = evaluation._step(model, p.img_size)
    fresh_moved = training.moved(model)
    measured = []

    class AfterEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            measured.append(evaluation._pass(step, *own_train, p.batch_size).mean_loss())

    history = model.fit(train, validation_data=test, epochs=p.epochs, verbose=0, callbacks=[AfterEpoch()])
    job = {"img_size": p.img_size, "batch_size": p.batch_size}
    result, _, _ = evaluation.evaluate(
        model, data, job, history.history["val_loss"][-1], None, preprocess_facts(mapping)
    )
    losses = history.history["loss"]
    ratios = [reported / found for reported, found in zip(losses, measured, strict=True)]
    scores = result.judged(True)
    return (
        f"{profile_name} seed {seed} mapping {mapping}: IoU {scores.iou:.3f} mirrored {scores.flipped_iou:.3f} "
        f"(gap {scores.iou - scores.flipped_iou:+.3f}); true masks IoU {result.truth.iou:.3f} mirrored "
        f"{result.truth.flipped_iou:.3f}, inverted {result.truth.inverted_iou:.3f}, bce {result.truth.bce:.3f} "
        f"constant {result.truth.constant_bce:.3f}; loss ratio last {ratios[-1]:.3f}, first {ratios[0]:.3f}, "
        f"all {[round(r, 3) for r in ratios]}; moved {training.moved(model):.3f} (fresh {fresh_moved:.3f}); "
        f"val_loss {history.history['val_loss'][-1]:.4f} test_loss {result.test_loss:.4f}; "
        f"mappings {result.mapping_ious}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", choices=sorted(PROFILES))
    parser.add_argument("--data", required=True, help="a prepared TFDS_DATA_DIR")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--mapping", default="101", help="trimap values 1, 2, 3 -> mask values (101: the reference)")
    parser.add_argument("--descriptors", action="store_true", help="also measure the descriptors' spread")
    args = parser.parse_args()
    p = PROFILES[args.profile].parameters
    if args.descriptors:
        print(descriptor_spread(args.data, p.img_size, p.train_split, p.test_split), flush=True)
    for seed in args.seeds:
        print(run(args.profile, args.data, seed, args.mapping), flush=True)


if __name__ == "__main__":
    main()
