"""The probe program (run here unsandboxed on the solution's own code) and the measuring of what it saves."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from subprocess import CompletedProcess

import nbformat
import pytest
from mutants import MUTANTS, SOLUTION, mutate

from assignment.profiles import PROFILES
from autograder import backends, challenge, checks, extract, measure, reference
from autograder.capture import known
from autograder.measuring import facts
from autograder.probe import calls
from autograder.sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_probe(
    folder: Path, statements: list, drawn: challenge.Challenge, carry_forward: bool = True
) -> CompletedProcess:
    """calls.py as the grader runs it, in a sandbox of the none backend: the references come through stdin, stage by
    stage, each when the probe asks (none under a strict profile, as the pipeline sends them)."""
    (folder / "out").mkdir(exist_ok=True)
    (folder / "definitions.json").write_text(json.dumps(statements))
    challenge.write(drawn, folder, carry_forward=carry_forward)
    stages = [stage if carry_forward else {} for stage in reference.references()]
    answers = tuple(known(f"{json.dumps(stage)}\n".encode()) for stage in stages)
    with Sandbox(
        backends.REGISTRY["none"](), PROFILES["smoke"].limits, [], {"TF_CPP_MIN_LOG_LEVEL": "2"}, "test"
    ) as box:
        return box.run([sys.executable, "-I", calls.__file__, str(folder)], 300, answers)


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, challenge.Challenge]:
    folder = tmp_path_factory.mktemp("probe")
    drawn = challenge.draw(11)
    done = run_probe(folder, extract.extract(nbformat.read(SOLUTION, as_version=4)).statements, drawn)
    assert done.returncode == 0, done.stdout[-2000:]
    return folder / "out", drawn


def test_every_function_is_called_and_saved(probed: tuple) -> None:
    out, drawn = probed
    for name in ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet"):
        assert json.loads((out / f"{name}.json").read_text())["ok"], (out / f"{name}.json").read_text()
    assert len(list(out.glob("make_unet-*.json"))) == len(drawn.unet) and (out / "preprocess.npz").is_file()


def test_measured_facts_pass_every_structure_check(probed: tuple, tmp_path: Path) -> None:
    """The measuring program, in a (none-backend) sandbox as the pipeline runs it, on what the probe saved."""
    out, drawn = probed
    profile = PROFILES["smoke"]
    with Sandbox(backends.REGISTRY["none"](), profile.limits, [], {"TF_CPP_MIN_LOG_LEVEL": "2"}, "test") as box:
        examples = {profile.parameters.train_split: 200, profile.parameters.test_split: 100}
        meter = measure.Measurer(box, profile, tmp_path / "no-data", examples, drawn, None)
        meter.probe_done(out)
        measured = meter.notebook_done(None)
    assert not measured.diagnostic.strip() or "problem" not in measured.diagnostic, measured.diagnostic
    assert measured.facts.blocks["make_unet"].cases[0].params == 7_760_097
    assert all(e.bilinear_error < 1e-5 and e.nearest_mismatch == 0 for e in measured.facts.preprocess.examples)
    assert "no trained model" in measured.facts.training.model_problem
    solution = json.loads((FIXTURES / "solution.json").read_text())
    combined = json.loads(facts.dumps(measured.facts))
    (tmp_path / "facts.json").write_text(json.dumps({**combined, "training": solution["facts"]["training"]}))
    (tmp_path / "run.json").write_text(json.dumps(solution["run"]))
    results, problem = checks.run(tmp_path / "facts.json", tmp_path / "run.json")
    assert not problem and sum(r.score for r in results) == 100, [(r.id, r.message) for r in results if not r.score]


def test_no_stage_holds_the_reference_of_a_function_it_grades() -> None:
    stages = reference.stages()
    assert stages == [["preprocess", "double_conv_block"], ["encoder_block", "decoder_block"], ["make_unet"]]
    assert [set(given) for given in reference.references()] == [
        {"double_conv_block"},
        {"encoder_block", "decoder_block"},
    ]
    source = Path(calls.__file__).read_text()
    assert "Conv2D(" not in source and "Conv2DTranspose" not in source, "the probe's own file holds no block"


THIEF = """
def double_conv_block(x, num_f):
    import gc, os, sys
    found = []
    def parents_stdin():
        descriptor = os.open(f"/proc/{os.getppid()}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
        return os.read(descriptor, 1 << 16)

    for attempt in (lambda: sys.stdin.read(), parents_stdin,
                    lambda: [f for f in gc.get_objects() if getattr(f, "__name__", "") == "decoder_block"]):
        try:
            found.append(repr(attempt())[:200])
        except Exception as error:
            found.append(type(error).__name__)
    raise RuntimeError("STOLEN " + " | ".join(found))


def encoder_block(x, num_f):
    import gc, types
    found = [f for f in gc.get_objects() if isinstance(f, types.FunctionType) and f.__code__.co_filename == "reference"]
    raise RuntimeError(f"SEEN {sorted(f.__name__ for f in found)}")
"""


def test_a_block_finds_no_reference_of_its_own_stage_or_later(tmp_path: Path) -> None:
    drawn = challenge.draw(5)
    done = run_probe(tmp_path, [(0, "import keras"), (1, THIEF)], drawn)
    assert done.returncode == 0, done.stdout[-2000:]
    stolen = json.loads((tmp_path / "out" / "double_conv_block.json").read_text())["error"]
    assert "STOLEN" in stolen and "def " not in stolen and "Conv2D" not in stolen, (
        f"even as root, nothing is there yet: {stolen}"
    )
    seen = json.loads((tmp_path / "out" / "encoder_block.json").read_text())["error"]
    assert "SEEN ['double_conv_block']" in seen, (
        f"its stage holds the reference of the block it calls, no other: {seen}"
    )


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


FORGER = """
def make_unet(input_shape, base_num_f, num_classes=1, final_act=None):
    import sys
    import keras
    files = sys._getframe(2).f_locals["files"]  # the dict the probe sends back for this call
    files["encoder_block-0.json"] = b'{"forged": true}'
    files["encoder_block.json"] = b'{"ok": true}'
    x = keras.Input(input_shape)
    return keras.Model(x, keras.layers.Conv2D(1, 1, activation="sigmoid")(x))
"""


def test_a_call_cannot_write_another_functions_files(tmp_path: Path) -> None:
    drawn = challenge.draw(7)
    done = run_probe(tmp_path, [(0, "import keras"), (1, FORGER)], drawn)
    assert done.returncode == 0, done.stdout[-2000:]
    out = tmp_path / "out"
    assert json.loads((out / "make_unet.json").read_text())["ok"], "its own call worked"
    assert not (out / "encoder_block-0.json").exists(), "a file of another function was written"
    assert json.loads((out / "encoder_block.json").read_text())["ok"] is False


def _convs(config: Path) -> int:
    return sum(layer["class_name"] == "Conv2D" for layer in json.loads(config.read_text())["config"]["layers"])


@pytest.mark.parametrize(("strict", "expected"), [(True, 1), (False, 2)], ids=["strict", "carry-forward"])
def test_a_strict_profile_probes_every_function_with_the_students_own_blocks(
    tmp_path: Path, strict: bool, expected: int
) -> None:
    """With carry_forward off, encoder_block and make_unet build the submission's one-convolution double_conv_block;
    with it on (the module's probe of the solution aside), they get the grader's."""
    single = extract.extract(mutate(next(m for m in MUTANTS if m.name == "single_conv"))).statements
    done = run_probe(tmp_path, single, challenge.draw(13), carry_forward=not strict)
    assert done.returncode == 0, done.stdout[-2000:]
    assert _convs(tmp_path / "out" / "double_conv_block-0.json") == 1
    assert _convs(tmp_path / "out" / "encoder_block-0.json") == expected, strict
    assert _convs(tmp_path / "out" / "make_unet-0.json") == 9 * expected + 1, strict
