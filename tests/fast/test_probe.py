"""The probe programs (run here unsandboxed on the solution's own code) and the grader's measurement of what they save."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from mutants import SOLUTION

from autograder import challenge, checks, extract, measure
from autograder.probe import calls, export


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, challenge.Challenge]:
    """calls.py's main on the solution's definitions and a fresh challenge."""
    folder = tmp_path_factory.mktemp("probe")
    (folder / "out").mkdir()
    drawn = challenge.draw(11)
    definitions = extract.extract(nbformat.read(SOLUTION, as_version=4))
    (folder / "definitions.json").write_text(json.dumps(definitions.statements))
    challenge.write(drawn, folder)
    calls.main(str(folder), kill_others=False)
    return folder / "out", drawn


def test_every_function_is_called_and_saved(probed: tuple) -> None:
    out, drawn = probed
    for name in ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet"):
        assert json.loads((out / f"{name}.json").read_text())["ok"], (out / f"{name}.json").read_text()
    assert len(list(out.glob("make_unet-*.json"))) == len(drawn.unet) and (out / "preprocess.npz").is_file()


def test_measured_facts_pass_every_structure_check(probed: tuple, tmp_path: Path) -> None:
    out, drawn = probed
    facts = measure.probe_facts(drawn, out)
    assert facts["make_unet"]["cases"][0]["params"] == 7_760_097
    assert all(example["bilinear_error"] < 1e-5 and example["nearest_mismatch"] == 0 for example in facts["preprocess"]["examples"])
    solution = json.loads((Path(__file__).parent / "fixtures" / "solution.json").read_text())
    (tmp_path / "facts.json").write_text(json.dumps({**facts, "training": solution["facts"]["training"]}))
    (tmp_path / "run.json").write_text(json.dumps(solution["run"]))
    results, problem = checks.run(tmp_path / "facts.json", tmp_path / "run.json")
    assert not problem and sum(r.score for r in results) == 100


def test_no_child_holds_a_block_it_could_pass_off_as_its_own() -> None:
    assert calls.HELPERS["double_conv_block"] == () and calls.HELPERS["preprocess"] == ()
    assert calls.HELPERS["encoder_block"] == calls.HELPERS["decoder_block"] == ("double_conv_block",)
    import keras

    assert set(calls._reference_blocks(keras.layers, ("double_conv_block",))) == {"double_conv_block"}


def test_a_model_built_for_other_inputs_is_refused(probed: tuple, tmp_path: Path) -> None:
    out, drawn = probed
    (tmp_path / "double_conv_block.json").write_text(json.dumps({"ok": True}))
    for i in range(len(drawn.double_conv)):  # configs copied from another run: right structure, other sizes
        (tmp_path / f"double_conv_block-{i}.json").write_text((out / f"double_conv_block-{(i + 1) % 3}.json").read_text())
    facts = measure.block_facts(tmp_path, "double_conv_block", drawn.double_conv)
    assert not facts["ok"] and "not the ones the grader gave" in facts["error"]


def test_a_probe_that_never_ran_is_measured_as_not_ok(probed: tuple, tmp_path: Path) -> None:
    _, drawn = probed
    facts = measure.probe_facts(drawn, tmp_path)
    assert not facts["preprocess"]["ok"] and not facts["make_unet"]["ok"] and facts["make_unet"]["cases"] == []


def test_configs_naming_code_outside_keras_are_refused(probed: tuple, tmp_path: Path) -> None:
    out, _ = probed
    config = json.loads((out / "double_conv_block-0.json").read_text())
    config["config"]["layers"][1]["module"] = "os"
    (tmp_path / "bad.json").write_text(json.dumps(config))
    with pytest.raises(measure.Refused, match="only Keras's own layers"):
        measure.rebuild(tmp_path / "bad.json")
    with pytest.raises(measure.Refused, match="Lambda"):
        measure.check_config({"class_name": "Lambda", "module": "keras.layers", "config": {}})
    with pytest.raises(measure.Refused, match="from None"):
        measure.check_config({"class_name": "MyLayer", "module": None, "registered_name": "Custom>MyLayer"})
    with pytest.raises(measure.Refused, match="filters 100000"):
        measure.check_config({"class_name": "Conv2D", "module": "keras.layers", "config": {"filters": 100000}})
    (tmp_path / "link.json").symlink_to(out / "double_conv_block-0.json")
    with pytest.raises(measure.Refused, match="was not written"):
        measure.rebuild(tmp_path / "link.json")


def test_export_saves_model_and_history_the_grader_can_measure(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="binary_crossentropy")
    history = model.fit(np.zeros((4, 16, 16, 3)), np.zeros((4, 16, 16, 1)), batch_size=2, epochs=2, verbose=0)
    export.export({"model": model, "history": history}, str(tmp_path))
    loaded = measure._trained_model(tmp_path / "trained.keras", 1 << 30)
    assert int(loaded.optimizer.iterations.numpy()) == 4 and json.loads((tmp_path / "history.json").read_text())["loss"]
    (tmp_path / "none").mkdir()
    export.export({"model": "not a model", "history": None}, str(tmp_path / "none"))  # nothing to save is not an error
    assert list((tmp_path / "none").iterdir()) == []


def test_a_child_that_closes_its_pipe_and_runs_on_is_killed() -> None:
    import os
    import time

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.close(write)
        time.sleep(600)
        os._exit(0)
    os.close(write)
    started = time.monotonic()
    result = calls._collect(pid, read, time.monotonic() + 60)
    assert time.monotonic() - started < 30 and not result["ok"] and "without an answer" in result["error"]
