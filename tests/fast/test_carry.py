"""Error carried forward (autograder/carry.py) on committed facts: a block's mistake is charged in its own section
only, because every function is probed with the grader's blocks; and when no model was trained because one graded
function failed, a second run gets the grader's version of just that function, within the deadline, and only its
numbers come back."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from grading import judge, load_fixture
from mutants import MUTANTS, SOLUTION

from assignment.points import SECTIONS
from assignment.profiles import PROFILES
from autograder import carry, challenge, reference
from autograder.checks.graph import convs, of_class
from autograder.measuring.facts import Facts, Status, parse
from autograder.results import CellFailure, FailureKind

MUTANT = {m.name: m for m in MUTANTS}


def _facts(fixture: dict) -> Facts:
    return parse(Facts, fixture["facts"])


def _points(tmp_path: Path, fixture: dict) -> dict[str, float]:
    results = judge(tmp_path, fixture)
    return {key: sum(r.score for r in results if r.section == key) for key in SECTIONS}


def _full(section: str) -> float:
    return SECTIONS[section][1]


# -- rule 1: every function is probed with the grader's blocks (facts of real runs) ---------------------------------


def test_a_double_conv_block_with_one_convolution_reaches_no_other_block() -> None:
    """The mutant's double_conv_block builds one Conv2D; the encoder_block, decoder_block and make_unet the probe
    built around it hold the grader's double_conv_block (two Conv2D each), as the solution's do."""
    mutant, solution = _facts(load_fixture("mutant_single_conv")), _facts(load_fixture("solution"))
    assert all(len(convs(case.layers)) == 1 for case in mutant.blocks["double_conv_block"].cases)
    assert all(len(convs(case.layers)) == 2 for case in mutant.blocks["encoder_block"].cases)
    assert all(len(convs(case.layers)) == 2 for case in mutant.blocks["decoder_block"].cases)
    for facts in (mutant, solution):
        assert [len(convs(c.layers)) for c in facts.blocks["make_unet"].cases] == [19, 19]
        assert all(c.params == challenge.unet_params(c.case[2], c.case[3]) for c in facts.blocks["make_unet"].cases)


def test_a_decoder_block_without_weights_reaches_no_full_model() -> None:
    mutant = _facts(load_fixture("mutant_upsampling_without_weights"))
    assert all(not of_class(case.layers, "Conv2DTranspose") for case in mutant.blocks["decoder_block"].cases)
    for case in mutant.blocks["make_unet"].cases:
        assert len(of_class(case.layers, "Conv2DTranspose")) == 4 and not of_class(case.layers, "UpSampling2D")
        assert case.params == challenge.unet_params(case.case[2], case.case[3])


BLOCK_MUTANTS = ("single_conv", "conv_without_relu", "encoder_outputs_swapped", "upsampling_without_weights")


@pytest.mark.parametrize("name", [*BLOCK_MUTANTS, "skip_not_concatenated"])
def test_a_block_mistake_costs_its_own_section_only(tmp_path: Path, name: str) -> None:
    points = _points(tmp_path, load_fixture(f"mutant_{name}"))
    section = MUTANT[name].section
    assert points[section] < _full(section)
    assert all(points[s] == _full(s) for s in ("preprocess", "encoder", "decoder", "unet") if s != section), points


# -- rule 2: which function a second run gets ------------------------------------------------------------------------


def _first(tmp_path: Path, fixture: dict, failures: list[CellFailure] = ()) -> carry.FirstRun:
    """A first run that left `fixture`'s facts in `tmp_path` (as OUT/<student>/ holds them)."""
    judge(tmp_path, fixture)
    notebook = nbformat.read(SOLUTION, as_version=4)
    return carry.FirstRun(notebook, list(failures), _facts(fixture), tmp_path, tmp_path, challenge.draw(1))


def _untrained(fixture: dict) -> dict:
    """`fixture` as if its notebook trained no model."""
    fixture = copy.deepcopy(fixture)
    fixture["facts"]["training"].update(model=None, model_problem="trained.keras was not written", history={})
    fixture["facts"]["training"]["evaluation"] = {"status": "problem", "reason": "there is no trained model"}
    return fixture


def _raising(name: str, error: str = "NameError: name 'skp' is not defined") -> dict:
    """The solution's facts with `name` failing when the probe called it, and no trained model (a typo in it)."""
    fixture = _untrained(load_fixture("solution"))
    facts = fixture["facts"]
    call = {"ok": False, "error": error, "traceback": "", "problems": []}
    if name == "preprocess":
        facts["preprocess"] = {"call": call, "img_size": facts["preprocess"]["img_size"]}
    else:
        facts["blocks"][name] = {"call": call}
    return fixture


BUILD_FAILED = CellFailure(28, FailureKind.ERROR, "ValueError: shapes", grade_id=carry.BUILD_CELL, number=28)


@pytest.mark.parametrize("name", ["preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet"])
def test_the_one_function_that_raised_is_substituted(tmp_path: Path, name: str) -> None:
    chosen = carry.choose(_first(tmp_path, _raising(name)))
    assert chosen is not None and chosen[0] == name and "NameError: name 'skp' is not defined" in chosen[1]


def test_a_model_that_could_not_be_built_gets_the_block_that_failed_its_checks(tmp_path: Path) -> None:
    """The mutant's encoder_block returns (p, x), its facts as if its notebook had not built a model: the probe calls
    it fine, the notebook's model cell raised."""
    first = _first(tmp_path, _untrained(load_fixture("mutant_encoder_outputs_swapped")), [BUILD_FAILED])
    assert first.facts.training.model is None
    chosen = carry.choose(first)
    assert chosen is not None and chosen[0] == "encoder_block"
    assert "could not be built (cell 28 raised an error)" in chosen[1]


def test_no_second_run_where_it_could_not_help_or_is_not_wanted(tmp_path: Path) -> None:
    assert carry.choose(_first(tmp_path, load_fixture("solution"))) is None, "a model was trained"
    assert carry.choose(_first(tmp_path, load_fixture("unfilled_release"), [BUILD_FAILED])) is None, "all raised"
    assert carry.choose(_first(tmp_path, _raising("decoder_block")), carry_forward=False) is None, "a strict course"
    two = _raising("decoder_block")
    two["facts"]["blocks"]["make_unet"] = {"call": {"ok": False, "error": "TypeError: x"}}
    assert carry.choose(_first(tmp_path, two)) is None, "two functions raised"
    unmeasured = _raising("decoder_block")
    unmeasured["facts"]["problem"] = "measuring what your notebook left stopped"
    assert carry.choose(_first(tmp_path, unmeasured)) is None, "nothing was measured"
    swapped = load_fixture("mutant_encoder_outputs_swapped")
    assert carry.choose(_first(tmp_path, swapped)) is None, "the model was built; something else stopped training"
    unbuilt = _untrained(load_fixture("mutant_single_conv"))
    unbuilt["facts"]["blocks"]["decoder_block"]["cases"][0]["params"] += 1
    assert carry.choose(_first(tmp_path, unbuilt, [BUILD_FAILED])) is None, "two blocks failed their checks"


# -- the second notebook ---------------------------------------------------------------------------------------------


def test_the_graders_function_goes_after_the_students_last_definition_of_it() -> None:
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("def decoder_block(x, skip, num_f):\n    return skp"))
    second, after = carry.second_notebook(nb, "decoder_block")
    assert after == len(nb.cells) - 1 and second.cells[after + 1].source.endswith(reference.source("decoder_block"))
    assert len(second.cells) == len(nb.cells) + 1 and "The grader's own decoder_block" in second.cells[-1].source
    assert [c.source for c in nb.cells] == [c.source for c in second.cells if c is not second.cells[-1]]


def test_a_cell_that_does_not_parse_is_found_by_its_grade_id() -> None:
    nb = nbformat.read(SOLUTION, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "make_unet")
    nb.cells[index].source = "def make_unet(:\n    pass"
    assert carry.second_notebook(nb, "make_unet")[1] == index
    nb.cells[index].metadata = {}
    assert carry.second_notebook(nb, "make_unet") is None


def test_the_graders_versions_build_what_the_solution_builds() -> None:
    """make_unet and preprocess exist only for second runs: checked here against the solution's answers."""
    import keras
    import numpy as np
    import tensorflow as tf

    names = {"keras": keras, "layers": keras.layers, "tf": tf, "IMG_SIZE": 32}
    for name in ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet"):
        exec(reference.source(name), names)
    model = names["make_unet"](input_shape=(32, 48, 3), base_num_f=8)
    assert model.count_params() == challenge.unet_params(3, 8) and model.output_shape == (None, 32, 48, 1)
    assert model.layers[-1].get_config()["activation"] == "sigmoid"
    trimap = np.full((50, 70, 1), 2, np.uint8)
    trimap[10:30, 10:40] = 1
    trimap[30:35, 10:40] = 3
    image, mask = names["preprocess"]({"image": tf.zeros((50, 70, 3), tf.uint8), "segmentation_mask": trimap})
    assert image.shape == (32, 32, 3) and image.dtype == tf.float32 and mask.shape == (32, 32, 1)
    assert set(np.unique(mask.numpy())) == {0.0, 1.0} and mask.numpy()[0, 0, 0] == 0.0


# -- budget and what comes back --------------------------------------------------------------------------------------


def test_the_second_run_gets_what_is_left_of_the_deadline_or_does_not_run() -> None:
    profile = PROFILES["smoke"]
    job = SimpleNamespace(profile=profile)
    reserved = profile.export_timeout + profile.measure_timeout + carry.MARGIN
    now = time.monotonic()
    assert carry.budget(job, now + profile.deadline) == profile.total_timeout, "a first run that stopped early"
    assert carry.budget(job, now + reserved + 0.7 * profile.total_timeout) in range(
        int(0.69 * profile.total_timeout), int(0.7 * profile.total_timeout) + 1
    )
    assert carry.budget(job, now + reserved + 0.4 * profile.total_timeout) is None, "less than half the total limit"
    assert profile.deadline > reserved + profile.total_timeout, "the deadline holds a first run that failed fast"


def test_the_second_runs_facts_come_back_as_numbers_only() -> None:
    training = _facts(load_fixture("solution")).training
    hostile = "def decoder_block(x, skip, num_f): ..."
    model = replace(training.model, loss=hostile)
    shown = carry._stripped(replace(training, model=model, model_problem=hostile))
    assert not shown.predictions and not shown.model_problem and shown.model.loss not in (hostile, None)
    assert shown.evaluation == training.evaluation and shown.history == training.history
    failed = replace(training, evaluation=replace(training.evaluation, status=Status.PROBLEM, reason=hostile))
    assert hostile not in json.dumps(carry._stripped(failed).evaluation.reason)
    kept = replace(model, loss="binary_crossentropy")
    assert carry._stripped(replace(training, model=kept)).model.loss == "binary_crossentropy"


def test_a_strict_profile_probes_every_function_with_the_students_own_blocks(tmp_path: Path) -> None:
    challenge.write(challenge.draw(3), tmp_path, carry_forward=False)
    assert json.loads((tmp_path / "challenge.json").read_text())["helpers"] == {}
    challenge.write(challenge.draw(3), tmp_path)
    assert json.loads((tmp_path / "challenge.json").read_text())["helpers"]["make_unet"] == [
        "double_conv_block",
        "encoder_block",
        "decoder_block",
    ]
    assert PROFILES["smoke"].carry_forward and all(p.carry_forward for p in PROFILES.values())
