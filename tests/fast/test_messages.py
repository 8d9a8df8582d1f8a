"""Every hidden check's failure message, formatted on odd facts a student's ordinary mistake can produce (another head,
missing layers, layer settings and values the measurement could not read): none may end in the grader-error message,
which tells a student nothing about their mistake. The odd facts are the committed solution's, edited."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from grading import judge, load_fixture

from autograder.checks.conftest import GRADER_ERROR
from autograder.results import CheckResult, CheckStatus

Edit = Callable[[dict], None]
NO_CONFIG = dict.fromkeys(("filters", "kernel_size", "strides", "pool_size", "padding", "activation"))


def _cases(facts: dict) -> list[dict]:
    return [case for block in facts["blocks"].values() for case in block["cases"]]


def _head(kind: str, config: dict) -> Edit:
    def edit(facts: dict) -> None:
        for case in facts["blocks"]["make_unet"]["cases"]:
            case["layers"][-1].update(kind=kind, config=config)

    return edit


def _without(*kinds: str) -> Edit:
    """The layers of `kinds` left out, as if never called: whatever they fed takes their input instead."""

    def edit(facts: dict) -> None:
        for case in _cases(facts):
            instead = {}
            for layer in case["layers"]:
                inputs = [instead.get(name, name) for name in layer["inputs"]]
                if layer["kind"] in kinds:
                    instead[layer["name"]] = inputs[0] if inputs else None
                layer["inputs"] = inputs
            case["layers"] = [layer for layer in case["layers"] if layer["kind"] not in kinds]

    return edit


def _layers(**changes: object) -> Edit:
    def edit(facts: dict) -> None:
        for case in _cases(facts):
            for layer in case["layers"]:
                layer.update(copy.deepcopy(changes))

    return edit


def _shapes(shape: list) -> Edit:
    def edit(facts: dict) -> None:
        for case in _cases(facts):
            case["shapes"] = [list(shape) for _ in case["shapes"]]
            for layer in case["layers"]:
                layer["output_shape"] = list(shape)

    return edit


def _one_output(facts: dict) -> None:
    for case in _cases(facts):
        case["shapes"] = case["shapes"][:1]


def _examples(**changes: object) -> Edit:
    def edit(facts: dict) -> None:
        for example in facts["preprocess"]["examples"]:
            example.update(copy.deepcopy(changes))

    return edit


def _model(**changes: object) -> Edit:
    def edit(facts: dict) -> None:
        facts["training"]["model"].update(changes)

    return edit


def _training(**changes: object) -> Edit:
    def edit(facts: dict) -> None:
        facts["training"].update(copy.deepcopy(changes))

    return edit


def _evaluation(**changes: object) -> Edit:
    def edit(facts: dict) -> None:
        facts["training"]["evaluation"].update(changes)

    return edit


def _params(facts: dict) -> None:
    for case in _cases(facts):
        case["params"] += 1000


BLOCKS = {
    "a Dense head": _head("Dense", {**NO_CONFIG, "activation": "sigmoid"}),
    "an Activation layer last": _head("Activation", {**NO_CONFIG, "activation": "sigmoid"}),
    "a head without settings": _head("Conv2D", NO_CONFIG),
    "no convolutions": _without("Conv2D"),
    "no transposed convolutions, concatenations or pooling": _without("Conv2DTranspose", "Concatenate", "MaxPooling2D"),
    "nothing but input layers": _without("Conv2D", "Conv2DTranspose", "Concatenate", "MaxPooling2D"),
    "no layers at all": _without("InputLayer", "Conv2D", "Conv2DTranspose", "Concatenate", "MaxPooling2D"),
    "layer settings not readable": _layers(config=NO_CONFIG),
    "layer inputs not traceable": _layers(inputs=[None]),
    "layers without inputs": _layers(inputs=[]),
    "sizes unknown": _shapes([None, None, None, None]),
    "flat outputs": _shapes([None, 17]),
    "one output where two are due": _one_output,
    "other parameter counts": _params,
}
PREPROCESS = {
    "an image of strings": _examples(image_dtype="string", image_min=None, image_max=None, bilinear_error=None),
    "images and masks of other shapes": _examples(
        image_shape=[5],
        mask_shape=[],
        bilinear_error=None,
        nearest_error=None,
        label_values=None,
        nearest_mismatch=None,
    ),
    "a mask without values": _examples(mask_values=[], label_values={}),
    "a mask that keeps the trimap": _examples(mask_values=[1.0, 2.0, 3.0], label_values={"1": 1.0, "2": 2.0, "3": 3.0}),
}
TRAINING = {
    "a model never compiled": _model(optimizer=None, learning_rate=None, loss=None, iterations=0),
    "another optimizer and loss": _model(optimizer="SGD", learning_rate=0.5, loss="mse", iterations=3),
    "no history": _training(history={}),
    "an empty validation history": _training(history={"loss": [], "val_loss": []}),
    "no trained model": _training(model=None, model_problem="trained.keras was not written"),
    "an evaluation that failed": _evaluation(status="problem", reason="the model could not be evaluated"),
    "no training loss, a poor IoU": _evaluation(
        truth={"iou": 0.01, "flipped_iou": 0.01, "inverted_iou": 0.5, "bce": 0.7, "constant_bce": 0.5},
        train_loss=None,
        bce_ratio=None,
    ),
}
# Each odd case edits one section's facts; a judged fixture holds one of each kind (their checks do not overlap).
ODD = [
    (blocks, list(PREPROCESS)[i % len(PREPROCESS)], list(TRAINING)[i % len(TRAINING)])
    for i, blocks in enumerate(BLOCKS)
]


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], list[CheckResult]]:
    results = {}
    for names in ODD:
        fixture = copy.deepcopy(load_fixture("solution"))
        for edit in (BLOCKS[names[0]], PREPROCESS[names[1]], TRAINING[names[2]]):
            edit(fixture["facts"])
        results[names] = judge(tmp_path_factory.mktemp("odd"), fixture)
    return results


def test_every_odd_case_is_judged() -> None:
    assert {b for b, _, _ in ODD} == set(BLOCKS) and {p for _, p, _ in ODD} == set(PREPROCESS)
    assert {t for _, _, t in ODD} == set(TRAINING)


@pytest.mark.parametrize("names", ODD, ids=[" + ".join(names) for names in ODD])
def test_no_check_answers_an_ordinary_mistake_with_a_grader_error(judged: dict, names: tuple[str, str, str]) -> None:
    results = judged[names]
    confused = [(r.id, r.diagnostic) for r in results if r.message == GRADER_ERROR or r.diagnostic]
    assert not confused, confused
    assert all(r.message for r in results if r.status is not CheckStatus.PASSED)


def test_the_odd_facts_make_every_check_fail_at_least_once(judged: dict) -> None:
    """So that the test above formats every check's failure message, not only some."""
    results = [r for found in judged.values() for r in found]
    never = {r.id for r in results} - {r.id for r in results if r.status is CheckStatus.FAILED}
    assert not never, f"no odd fact makes these checks fail: {sorted(never)}"
