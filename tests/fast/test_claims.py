"""Claims checked against the model, the recorder's content descriptors and carry-forward of preprocessing: the
rules on committed facts made to say what each case measures, and their parts on synthetic arrays (no notebook)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from grading import judge, load_fixture

from assignment.points import MAX_POINTS
from autograder import report
from autograder.measuring import evaluation
from autograder.measuring.facts import Call, Evaluation, Example, Preprocess, Scores, Status
from autograder.probe import descriptors, recorder
from autograder.results import CheckResult, CheckStatus, Outcome

PROBE = Path(recorder.__file__).parent
TRAINING = ("test_trained_for_epochs", "test_validated_on_test_split", "test_final_foreground_iou")


def _results(tmp_path: Path, fixture: dict) -> dict:
    return {r.id: r for r in judge(tmp_path, fixture)}


def _solution() -> dict:
    return copy.deepcopy(load_fixture("solution"))


def _images(count: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """Photos of a sort: smooth random blobs of colour, distinct at an 8 x 8 grid."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 4, 4, 3))
    return np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2).astype(np.float32)


# --- descriptors -------------------------------------------------------------------------------------------------


def test_descriptors_recognise_an_example_whatever_its_scale_offset_or_mirroring() -> None:
    test = _images(20)
    known = descriptors.coarse(test)
    for variant in (test * 255, (test - 0.5) / 0.2, test[:, :, ::-1], test.astype(np.float16)):
        assert sorted(descriptors.matches(descriptors.coarse(variant), known)) == list(range(20))
    assert len(descriptors.matches(descriptors.coarse(_images(50, seed=1)), known)) == 0


def test_descriptors_are_the_same_a_chunk_at_a_time_and_refuse_what_is_no_image() -> None:
    many = _images(3 * descriptors.CHUNK + 5)
    whole = descriptors.coarse(many)
    assert whole.shape == (len(many), 3 * descriptors.GRID**2)
    assert np.allclose(whole[-5:], descriptors.coarse(many[-5:]))
    assert np.allclose(descriptors.coarse(many[0]), whole[:1])
    refused = ["text", np.zeros((4, 32, 32)), np.zeros((0, 32, 32, 3)), np.zeros((2, 4, 4, 3)), [np.zeros((32, 32, 3))]]
    assert all(descriptors.coarse(value) is None for value in refused)
    assert not descriptors.coarse(np.zeros((2, 32, 32, 3))).any(), "a flat image matches nothing"


class _Optimizer:
    """An optimizer's step counter, as the recorder reads it."""

    count = 0

    @property
    def iterations(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(numpy=lambda: self.count)


def test_the_recorder_counts_distinct_test_examples_and_steps(tmp_path: Path) -> None:
    for name in ("recorder.py", "descriptors.py"):
        (tmp_path / name).write_text((PROBE / name).read_text())
    test = _images(30)
    np.save(tmp_path / recorder.DESCRIPTORS, descriptors.coarse(test))
    record = recorder.Record(str(tmp_path))
    fit = record.call("fit", ["arrays"], [])
    record.seen(fit, "test_seen", np.concatenate([test[:12] * 255, test[:12], _images(40, seed=3)]))
    record.seen(fit, "validation_test_seen", "not images")
    record.pending = [descriptors.coarse(test[20:25])]
    optimizer = _Optimizer()
    optimizer.count = 7
    record.loop_steps(record.taken(optimizer, 0), [test[25:27], np.zeros(3)])
    assert record.call("custom loop") is record.call("custom loop"), "one entry gathers every custom step"
    assert json.loads(json.dumps(record.summary(None)))["steps"] is None
    summary = json.loads(json.dumps(record.summary(optimizer)))
    assert summary["test_examples"] == 30 and summary["steps"] == 7
    assert [(c["how"], c["test_seen"], c["validation_test_seen"], c["steps"], c["own"]) for c in summary["calls"]] == [
        ("fit", 12, 0, 0, False),
        ("custom loop", 7, 0, 7, True),
    ]
    (tmp_path / recorder.DESCRIPTORS).unlink()
    assert recorder.Record(str(tmp_path)).test().shape == (0, 192), "without the grader's file: nothing to match"


def test_run_by_exec_files_the_recorder_leaves_no_name_in_the_notebooks_namespace(tmp_path: Path) -> None:
    for name in ("recorder.py", "descriptors.py"):
        (tmp_path / name).write_text((PROBE / name).read_text())
    code = (
        "import sys\nnamespace = {'__name__': '__main__', 'In': []}\npath = sys.argv[1]\n"
        "exec(compile(open(path).read(), path, 'exec'), namespace)\n"
        "module = sys.modules['__tiny_unet_recorder__']\n"
        "print(sorted(name for name in namespace if not name.startswith('__')), type(module.record).__name__, "
        "any(type(f).__name__ == '_PatchOnImport' for f in sys.meta_path))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "recorder.py")], capture_output=True, text=True)
    assert done.stdout.split() == ["['In']", "Record", "True"], done.stdout + done.stderr


KERNEL = r"""
import json, sys
if sys.argv[2] == "preloaded":
    import keras  # as in a kernel the pristine process forked
path = sys.argv[1]
exec(compile(open(path).read(), path, "exec"), {"__name__": "__main__"})  # as IPython's exec_files runs it
import keras
import numpy as np
import tensorflow as tf

record = sys.modules["__tiny_unet_recorder__"].record
test, other = np.load("test.npy"), np.load("other.npy")
masks = (test[..., :1] > 0.5).astype("float32")
inputs = keras.Input((16, 16, 3))
model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
train = tf.data.Dataset.from_tensor_slices((other, masks)).batch(8)
shown = tf.data.Dataset.from_tensor_slices((test * 255, masks)).batch(8)
model.fit(train, validation_data=shown, epochs=2, verbose=0)
model.fit(test, masks, epochs=1, batch_size=8, verbose=0)
model.train_on_batch(test[:8], masks[:8])


def step(images, targets):
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(targets, model(images, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)
    model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))


step(test[8:16], masks[8:16])
tf.function(step)(tf.constant(test[16:24]), tf.constant(masks[16:24]))
print(json.dumps({**record.summary(model.optimizer), "iterations": int(model.optimizer.iterations.numpy())}))
"""


@pytest.mark.parametrize("keras", ["imported later", "preloaded"])
def test_the_recorder_in_a_kernel_sees_every_way_of_training_on_the_test_split(tmp_path: Path, keras: str) -> None:
    """Keras patched by the recorder as the kernel loads it, or at once where the pristine process preloaded it: fit
    on a pipeline (validated on the test split scaled by 255), fit on the test split as arrays, train_on_batch, an
    eager loop and a tf.function loop of its own."""
    for name in ("recorder.py", "descriptors.py"):
        (tmp_path / name).write_text((PROBE / name).read_text())
    test = _images(24, size=16)
    np.save(tmp_path / "test.npy", test)
    np.save(tmp_path / "other.npy", _images(24, seed=5, size=16))
    np.save(tmp_path / recorder.DESCRIPTORS, descriptors.coarse(test))
    done = subprocess.run(
        [sys.executable, "-c", KERNEL, str(tmp_path / "recorder.py"), keras],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    calls = [(c["how"], c["test_seen"], c["validation_test_seen"], c["steps"], c["own"]) for c in summary["calls"]]
    assert calls == [
        ("fit", 0, 24, 6, True),
        ("fit", 24, 0, 3, True),
        ("train_on_batch", 8, 0, 1, True),
        ("custom loop", 16, 0, 2, True),
    ]
    assert summary["steps"] == summary["iterations"] == 12 and summary["test_examples"] == 24


# --- carry-forward ----------------------------------------------------------------------------------------------


def _preprocess(labels: dict[str, float], scales: list[float | None], ok: bool = True) -> Preprocess:
    examples = [
        Example([8, 8, 3], "float32", [8, 8, 1], "float32", [0.0, 1.0], label_values=labels, image_scale=scale)
        for scale in scales
    ]
    return Preprocess(Call(ok=ok, error="" if ok else "NameError"), 8, examples if ok else [])


def test_carried_forward_is_the_students_mapping_and_scale_only_where_they_are_one() -> None:
    reference = {"1": 1.0, "2": 0.0, "3": 1.0}
    seed = {"1": 1.0, "2": 1.0, "3": 0.0}
    assert evaluation.carried(_preprocess(reference, [1.0, 1.001, 0.999]))[0] is None
    found, why = evaluation.carried(_preprocess(seed, [1.0, 1.0, 1.0]))
    assert found == evaluation.Carried({1: 1.0, 2: 1.0, 3: 0.0}, 1.0) and "2 -> 1" in why
    found, _ = evaluation.carried(_preprocess(reference, [255.0, 254.9, 255.1]))
    assert found.scale == pytest.approx(255.0)
    assert evaluation.carried(_preprocess(seed, [1.0, None, 3.0]))[0].scale == 1.0, "no single scale: the reference's"
    for labels, words in [
        ({"1": 1.0, "2": 1.0, "3": 1.0}, "leaves nothing to segment"),
        ({"1": 1.0, "2": 2.0, "3": 3.0}, "0 or 1"),
        ({"1": 1.0, "2": 0.0}, "0 or 1"),
    ]:
        found, why = evaluation.carried(_preprocess(labels, [1.0]))
        assert found is None and words in why, why
    assert evaluation.carried(_preprocess(seed, [1.0], ok=False))[0] is None
    trimaps = np.array([[[[1], [2], [3]]]], np.uint8)
    assert evaluation.Carried({1: 1.0, 2: 1.0, 3: 0.0}).masks(trimaps).ravel().tolist() == [1.0, 1.0, 0.0]


def test_the_tally_counts_iou_its_inverse_and_every_mapping() -> None:
    trimaps = np.array([1, 1, 3, 2, 2, 2], np.uint8).reshape(1, 6, 1, 1)
    masks = (trimaps != 2).astype(np.float32)
    guess = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3], np.float32).reshape(1, 6, 1, 1)
    tally = evaluation._Tally()
    tally.add(masks, guess, 0.5, np.full((1, 6, 1), 0.5), trimaps)
    assert tally.iou() == pytest.approx(2 / 4) and tally.iou(inverted=True) == pytest.approx(1 / 5)
    assert tally.mapping_ious()["101"] == pytest.approx(2 / 4) and tally.mapping_ious()["100"] == pytest.approx(2 / 3)
    assert tally.constant_bce() == pytest.approx(-np.log(0.5))


# --- the checks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fit", "train_on_batch", "custom loop"])
def test_training_on_the_test_split_found_by_content_costs_the_training_section(tmp_path: Path, how: str) -> None:
    fixture = _solution()
    recorded = fixture["facts"]["training"]["recorded"]
    recorded["calls"].append({"how": how, "splits": ["arrays"], "test_seen": recorded["test_examples"] // 5})
    results = [r for r in judge(tmp_path, fixture) if r.section == "training"]
    assert all(r.score == 0 for r in results)
    words = {"fit": "model.fit", "train_on_batch": "train_on_batch", "custom loop": "a training loop of your own"}
    assert all(words[how] in r.message and "test examples" in r.message for r in results), results[0].message
    recorded["calls"][-1]["test_seen"] = 1  # an example that happens to look like a test one
    assert sum(r.score for r in judge(tmp_path, fixture)) == MAX_POINTS


def test_a_step_counter_no_training_earned_fails_the_epochs_check(tmp_path: Path) -> None:
    fixture = _solution()
    fixture["facts"]["training"]["recorded"]["steps"] = 25
    result = _results(tmp_path, fixture)["test_trained_for_epochs"]
    assert result.status is CheckStatus.FAILED and "step counter reads 100" in result.message and "25" in result.message


def test_a_history_the_model_does_not_measure_fails_the_epochs_check(tmp_path: Path) -> None:
    fixture = _solution()
    training = fixture["facts"]["training"]
    high = fixture["run"]["profile"]["loss_agreement"][1]
    training["evaluation"]["train_loss"] = training["history"]["loss"][-1] / (high * 1.5)
    result = _results(tmp_path, fixture)["test_trained_for_epochs"]
    assert result.status is CheckStatus.FAILED and "last epoch's loss in `history`" in result.message
    training["evaluation"]["own_train_loss"] = training["history"]["loss"][-1]  # the student's own targets agree
    assert _results(tmp_path, fixture)["test_trained_for_epochs"].status is CheckStatus.PASSED


def test_a_val_loss_without_a_recorded_validation_on_the_test_split_fails(tmp_path: Path) -> None:
    fixture = _solution()
    calls = fixture["facts"]["training"]["recorded"]["calls"]
    for call in calls:
        call.update(validation_splits=[], validation_test_seen=0)
    calls.append({"how": "fit", "splits": ["train"], "validation_splits": ["test"], "validation_test_seen": 100})
    result = _results(tmp_path, fixture)["test_validated_on_test_split"]
    assert result.status is CheckStatus.FAILED and "that trained `model` was seen validating" in result.message
    calls[0]["validation_test_seen"] = 100  # by content: the test split as arrays, say
    assert _results(tmp_path, fixture)["test_validated_on_test_split"].status is CheckStatus.PASSED


@pytest.mark.parametrize("case", ["weights of a fresh initialisation", "no optimizer step", "no record"])
def test_a_model_no_training_changed_earns_no_training_or_iou_point(tmp_path: Path, case: str) -> None:
    fixture = _solution()
    training = fixture["facts"]["training"]
    if case == "weights of a fresh initialisation":
        training["model"]["moved"] = 0.04
        words = "fresh initialisation"
    elif case == "no optimizer step":
        training["recorded"]["steps"] = 0
        words = "no optimizer step"
    else:
        training["recorded"] = None
        words = "record of how your notebook trained is missing"
    results = _results(tmp_path, fixture)
    for check in ("test_trained_for_epochs", "test_final_foreground_iou"):
        assert results[check].status is CheckStatus.FAILED and words in results[check].message, results[check].message


def test_weights_that_hold_the_test_split_cost_the_training_section(tmp_path: Path) -> None:
    fixture = _solution()
    fixture["facts"]["training"]["evaluation"]["bce_ratio"] = 0.02
    results = [r for r in judge(tmp_path, fixture) if r.section == "training"]
    assert all(r.score == 0 and "hold the test split" in r.message for r in results), results[0].message


def test_a_model_that_loses_its_iou_when_the_examples_are_mirrored_fails_the_iou_check(tmp_path: Path) -> None:
    fixture = _solution()
    truth = fixture["facts"]["training"]["evaluation"]["truth"]
    truth.update(iou=0.999, flipped_iou=0.999 - fixture["run"]["profile"]["flip_margin"] - 0.05)
    result = _results(tmp_path, fixture)["test_final_foreground_iou"]
    assert result.status is CheckStatus.FAILED and "mirrored left to right" in result.message
    truth["flipped_iou"] = 0.999 - fixture["run"]["profile"]["flip_margin"] / 2
    assert _results(tmp_path, fixture)["test_final_foreground_iou"].status is CheckStatus.PASSED


def _seed_mapping(fixture: dict, carry_forward: bool) -> dict:
    """The seed's `mask <= 2`: a model that learned pet and background as the pet, judged both ways."""
    evaluation = fixture["facts"]["training"]["evaluation"]
    evaluation["truth"] = {"iou": 0.21, "flipped_iou": 0.21, "inverted_iou": 0.12, "bce": 9.065, "constant_bce": 0.503}
    evaluation["own"] = {"iou": 0.93, "flipped_iou": 0.93, "inverted_iou": 0.01, "bce": 0.05, "constant_bce": 0.33}
    evaluation["carried"] = "masks from trimap values 1 -> 1, 2 -> 1, 3 -> 0; images x1 of the reference's"
    evaluation["mapping_ious"] = {"101": 0.21, "110": 0.93, "100": 0.2, "010": 0.5, "001": 0.05, "011": 0.4}
    fixture["facts"]["training"]["history"]["loss"] = [0.32, 0.19, 0.14, 0.11]
    evaluation["own_train_loss"] = 0.11
    evaluation["train_loss"] = 8.0
    fixture["run"]["profile"]["carry_forward"] = carry_forward
    return fixture


def test_a_preprocessing_mistake_carried_forward_costs_no_training_point(tmp_path: Path) -> None:
    results = [r for r in judge(tmp_path, _seed_mapping(_solution(), True)) if r.section == "training"]
    assert all(r.status is CheckStatus.PASSED for r in results), [(r.id, r.message) for r in results]
    iou = next(r for r in results if r.id == "test_final_foreground_iou")
    assert iou.values["foreground_iou"] == 0.93 and iou.values["true_iou"] == 0.21


def test_without_carry_forward_the_message_names_the_mapping_not_a_missing_training(tmp_path: Path) -> None:
    results = _results(tmp_path, _seed_mapping(_solution(), False))
    for check in TRAINING:
        message = results[check].message
        assert results[check].status is CheckStatus.FAILED and "not trained" not in message, message
        assert "1 -> 1, 2 -> 1, 3 -> 0" in message and "mask mapping in preprocess" in message, message
    assert "training loss fell (0.320 -> 0.110)" in results["test_trained_for_epochs"].message


def test_a_loss_that_barely_fell_is_not_called_untrained(tmp_path: Path) -> None:
    """The hard-coded learning rate of 1e-4 at smoke: the loss fell from 0.721 to 0.672, the predictions stay near
    one half."""
    results = _results(tmp_path, load_fixture("mutant_hard_coded_learning_rate"))
    for check in ("test_trained_for_epochs", "test_validated_on_test_split"):
        message = results[check].message
        assert "barely fell (0.721 -> 0.672)" in message and "LEARNING_RATE" in message, message
        assert "not trained" not in message


def test_predictions_that_look_inverted_are_named(tmp_path: Path) -> None:
    fixture = _solution()
    evaluation = fixture["facts"]["training"]["evaluation"]
    evaluation["truth"].update(iou=0.05, flipped_iou=0.05, inverted_iou=0.81)
    evaluation["mapping_ious"] = {}  # held-out examples without trimaps
    result = _results(tmp_path, fixture)["test_final_foreground_iou"]
    assert result.status is CheckStatus.FAILED and "look inverted" in result.message and "0.810" in result.message


def test_the_iou_comes_from_the_private_examples_where_the_batch_has_them(tmp_path: Path) -> None:
    fixture = _solution()
    fixture["facts"]["training"]["evaluation"].update(held_out="private")
    fixture["facts"]["training"]["evaluation"]["truth"]["iou"] = 0.1
    assert "the grader's private examples" in _results(tmp_path, fixture)["test_final_foreground_iou"].message
    scores = Scores(0.5, 0.5, 0.1, 0.2, 0.6)
    own = Scores(0.9, 0.9, 0.0, 0.1, 0.5)
    both = Evaluation(Status.OK, held_out="private", truth=scores, own=own, test_loss=0.1)
    assert both.judged(True) is own and both.judged(False) is scores
    assert Evaluation(Status.OK, truth=scores, test_loss=0.1).judged(True) is scores


def test_the_leaderboard_ranks_against_the_true_masks() -> None:
    values = {"foreground_iou": 0.961, "true_iou": 0.202, "threshold": 0.6}
    check = CheckResult("test_final_foreground_iou", "training", "IoU", 3, 3, CheckStatus.PASSED, "", values)
    results = report.results_json(Outcome("ann", checks=[check]))
    assert results["leaderboard"] == [{"name": "Foreground IoU", "value": 0.202}]
