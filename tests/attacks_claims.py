"""Hostile notebooks of the fourth integrity round: models that were never trained passed off as trained (a lookup of
the test split built from allowed layers, a hand-set 1x1 convolution), training on the test split hidden from a
check by variable name (arrays, train_on_batch, a compiled loop of its own), and claims written rather than earned (a
one-epoch fit with a forged step counter and history). Graded in the attack suite's batch (tests/test_attacks.py),
each on the solution with its training cell emptied (mutants.untrained): what it trains, it trains itself."""

from __future__ import annotations

import json
from pathlib import Path

from attacks import _FAKE_MODEL, FULL, Attack, Context
from mutants import UNTRAINED_TRAINING

NO_TRAINING = {**FULL, "training": 0.0}
COMPILED = {**FULL, "training": UNTRAINED_TRAINING}  # Adam, LEARNING_RATE and binary cross-entropy: the compile cell
CLAIMS = ("test_trained_for_epochs", "test_validated_on_test_split")

# The test split held in a model's weights: an 8 x 8 average of the image, one Dense unit per test example scoring
# -|x - key|^2 (up to a constant per image), a sharp softmax, and a Dense layer whose weights are the test masks. No
# fit: the step counter and the history are forged.
_LOOKUP = r"""
def _lookup_model():
    images = np.concatenate([x for x, _ in test])
    masks = np.concatenate([y for _, y in test])
    pool = IMG_SIZE // 8
    keys = images.reshape(len(images), 8, pool, 8, pool, 3).mean(axis=(2, 4)).reshape(len(images), -1)
    inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
    scoring = keras.layers.Dense(len(keys))
    painting = keras.layers.Dense(IMG_SIZE * IMG_SIZE)
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(pool)(inputs))
    x = painting(keras.layers.Softmax()(scoring(x)))
    network = keras.Model(inputs, keras.layers.Reshape((IMG_SIZE, IMG_SIZE, 1))(x))
    sharp = 1000.0
    scoring.set_weights([2 * sharp * keys.T, -sharp * (keys**2).sum(axis=1)])
    painting.set_weights([masks.reshape(len(masks), -1), np.zeros(IMG_SIZE * IMG_SIZE, "float32")])
    return network


model, history = _forge(
    _lookup_model(), keras.optimizers.Adam(learning_rate=LEARNING_RATE), "binary_crossentropy"
)
_images, _masks = next(iter(test))
_found = float(np.mean((model.predict(_images, verbose=0) > 0.5) == (_masks.numpy() > 0.5)))
print(f"ATTEMPT [kernel] a lookup of the test split: {_found:.3f} of a test batch's pixels right", flush=True)
"""

# Bright pixels are the pet (on the synthetic set): weights set by hand, compiled as the solution, never trained.
_HAND_SET = r"""
_inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
_conv = keras.layers.Conv2D(1, 1, activation="sigmoid")
model = keras.Model(_inputs, _conv(_inputs))
_conv.set_weights([np.full((1, 1, 3, 1), 8.0, "float32"), np.array([-12.0], "float32")])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="binary_crossentropy")
print("ATTEMPT [kernel] a hand-set 1x1 convolution, compiled like the solution and never trained", flush=True)
"""

_FRESH = r"""
model = make_unet(input_shape=(IMG_SIZE, IMG_SIZE, 3), base_num_f=BASE_FILTERS)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="binary_crossentropy")
"""

_FORGE_STEPS = r"""
model.optimizer.iterations.assign(_expected_steps())
print(f"ATTEMPT [kernel] trained on the test split, {int(model.optimizer.iterations)} steps claimed", flush=True)
"""

# The test split copied into NumPy arrays, then model.fit on them (no variable reads "test").
_ARRAYS = (
    r"""
_x = np.concatenate([x for x, _ in test])
_y = np.concatenate([y for _, y in test])
"""
    + _FRESH
    + r"""
history = model.fit(_x, _y, batch_size=BATCH_SIZE, epochs=1, validation_data=test, verbose=0)
"""
    + _FORGE_STEPS
)

_TRAIN_ON_BATCH = (
    _FRESH
    + r"""
for _x, _y in test:
    model.train_on_batch(_x, _y)
history = _FakeHistory(_graders_test_loss(model))
"""
    + _FORGE_STEPS
)

# A compiled training step of its own through the optimizer, over the test split.
_COMPILED_LOOP = (
    _FRESH
    + r"""
model.optimizer.build(model.trainable_variables)


@tf.function
def _step(x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=True)))
    model.optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))


for _x, _y in test:
    _step(_x, _y)
history = _FakeHistory(_graders_test_loss(model))
"""
    + _FORGE_STEPS
)

# One epoch without validation, then the claims written: the step counter of EPOCHS epochs, EPOCHS losses and the
# grader's own test loss as val_loss.
_ONE_EPOCH = (
    _FRESH
    + r"""
history = model.fit(train, epochs=1, verbose=0)
model.optimizer.iterations.assign(_expected_steps())
history.history["loss"] = history.history["loss"] * EPOCHS
history.history["val_loss"] = [_graders_test_loss(model)] * EPOCHS
print(f"ATTEMPT [kernel] one epoch, {int(model.optimizer.iterations)} steps and {EPOCHS} epochs claimed", flush=True)
"""
)


def _checks(folder: Path) -> dict[str, dict]:
    return {check["id"]: check for check in json.loads((folder / "outcome.json").read_text())["checks"]}


def _failing(folder: Path, expected: dict[str, tuple[str, ...]]) -> list[str]:
    """Problems unless each check in `expected` earned nothing, with a message holding one of its phrases."""
    found = _checks(folder)
    problems = []
    for check, phrases in expected.items():
        result = found.get(check, {"score": None, "message": "not run"})
        if result["score"] != 0 or not any(phrase in result["message"] for phrase in phrases):
            problems.append(f"{check}: {result['score']} points, {result['message']!r}")
    return problems


def _check_test_training(how: str):
    def check(folder: Path, _context: Context) -> list[str]:
        training = {key: ("test examples",) for key in (*CLAIMS, "test_final_foreground_iou", "test_adam_optimizer")}
        problems = _failing(folder, training)
        message = _checks(folder).get("test_adam_optimizer", {}).get("message", "")
        return problems + ([] if how in message else [f"the message does not name {how}: {message!r}"])

    return check


def _check_lookup(folder: Path, _context: Context) -> list[str]:
    words = ("hold the test split",)
    return _failing(folder, {key: words for key in (*CLAIMS, "test_final_foreground_iou", "test_adam_optimizer")})


def _check_hand_set(folder: Path, _context: Context) -> list[str]:
    return _failing(
        folder,
        {
            "test_trained_for_epochs": ("no optimizer step", "no better than a constant"),
            "test_validated_on_test_split": ("no validation loss was recorded", "no better than a constant"),
            "test_final_foreground_iou": ("no optimizer step",),
        },
    )


def _check_one_epoch(folder: Path, _context: Context) -> list[str]:
    return _failing(
        folder,
        {
            "test_trained_for_epochs": ("step counter reads",),
            "test_validated_on_test_split": ("no model.fit call that trained `model`",),
        },
    )


ATTACKS = [
    Attack(
        "lookup_of_the_test_split",
        "a model whose weights are the test split (a nearest-neighbour lookup from AveragePooling2D, Dense and "
        "Softmax layers), never fitted, with forged steps and history",
        "untrained",
        [("apply_config", _FAKE_MODEL), ("end", _LOOKUP)],
        check=_check_lookup,
        order=60,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "hand_set_convolution",
        "a 1x1 Conv2D with weights set by hand (bright pixels are the pet), compiled like the solution, never trained",
        "untrained",
        [("end", _HAND_SET)],
        check=_check_hand_set,
        order=61,
        honest_override=COMPILED,
    ),
    Attack(
        "test_split_as_arrays",
        "the test split copied into NumPy arrays and given to model.fit for an epoch, the step counter set to the "
        "training split's",
        "untrained",
        [("apply_config", _FAKE_MODEL), ("end", _ARRAYS)],
        check=_check_test_training("model.fit"),
        order=62,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "train_on_batch_over_test",
        "train_on_batch over the test split's batches for an epoch, steps and history forged",
        "untrained",
        [("apply_config", _FAKE_MODEL), ("end", _TRAIN_ON_BATCH)],
        check=_check_test_training("train_on_batch"),
        order=63,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "compiled_loop_over_test",
        "a tf.function training step of its own (GradientTape, apply_gradients) over the test split once, steps and "
        "history forged",
        "untrained",
        [("apply_config", _FAKE_MODEL), ("end", _COMPILED_LOOP)],
        check=_check_test_training("a training loop of your own"),
        order=64,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "one_epoch_forged_claims",
        "one epoch of model.fit without validation, then the step counter of EPOCHS epochs, EPOCHS losses and the "
        "grader's own test loss as val_loss written into the optimizer and the history",
        "untrained",
        [("apply_config", _FAKE_MODEL), ("end", _ONE_EPOCH)],
        check=_check_one_epoch,
        order=65,
        honest_override={**FULL, "training": 7.0},
    ),
]
