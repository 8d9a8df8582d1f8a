"""Runs in a fresh sandboxed process: calls the student's functions on the grader's challenge.

    python -I calls.py FOLDER [--kill-others] --asks FD   (reads one JSON line of reference sources per stage after
                                                           the first, from stdin, each after asking on FD)

FOLDER holds definitions.json (the submission's imports, constants and functions), challenge.json (the cases,
and the graded functions in stages with the blocks each calls) and inputs.npz. The parent imports Keras once,
then forks one child per graded function, stage by stage. A child runs the submission's definitions, calls its
one function and sends what that built through its own pipe. A function that calls other blocks gets the
grader's reference versions of exactly those. The references reach this process only through its stdin, one
stage's worth at a time, and the grader writes them there only when this process asks on FD, which it does once
the stage before is over and every process it left is killed: no file here holds them, no pipe holds them early,
and no child ever holds the reference of the function it grades. When every child is done the parent
kills all other processes of the sandbox (--kill-others) and only then writes FOLDER/out: <function>.json,
Keras model configs <function>-<i>.json, preprocess.npz, test_split.npz. It decides nothing.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import json
import os
import select
import shutil
import signal
import sys
import time
import traceback

CHILD_SECONDS = 120  # the most one call may take (less when the probe's own time is running out)
MARGIN_SECONDS = 15  # of the probe's time, kept for writing what it found
ASKS = [-1]  # the descriptor on which this process asks the grader for the next stage's references
LINE_LIMIT = 1 << 16  # bytes of one stage's reference sources


def _npz(**arrays) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class Prober:
    """Calls one function of the submission's namespace; returns the files to save."""

    def __init__(self, namespace: dict, reference: dict):
        import keras

        self.keras = keras
        self.namespace = namespace
        self.reference = reference

    def call(self, name: str):
        """The student's `name`, called while its helpers resolve to the grader's blocks."""
        function = self.namespace[name]
        namespace = self.namespace
        code = getattr(function, "__code__", None)
        if code is not None and not code.co_filename.startswith("cell "):
            raise TypeError(f"{name} is not a function the notebook defines")

        def with_helpers(*args, **kwargs):
            saved = {helper: namespace.get(helper) for helper in self.reference}
            namespace.update(self.reference)
            try:
                return function(*args, **kwargs)
            finally:
                namespace.update(saved)

        return with_helpers

    def config(self, inputs, outputs) -> bytes:
        outputs = list(outputs) if isinstance(outputs, tuple | list) else [outputs]
        return self.keras.Model(inputs, outputs).to_json().encode()

    def double_conv_block(self, cases: list) -> dict:
        files = {}
        for i, (h, w, c, f) in enumerate(cases):
            x = self.keras.Input((h, w, c))
            files[f"double_conv_block-{i}.json"] = self.config(x, self.call("double_conv_block")(x, f))
        return files

    def encoder_block(self, cases: list) -> dict:
        files = {}
        for i, (h, w, c, f) in enumerate(cases):
            x = self.keras.Input((h, w, c))
            result = self.call("encoder_block")(x, f)
            if not isinstance(result, tuple | list) or len(result) != 2:
                raise TypeError(f"encoder_block returned {type(result).__name__}, not a pair (x, p)")
            files[f"encoder_block-{i}.json"] = self.config(x, result)
        return files

    def decoder_block(self, cases: list) -> dict:
        files = {}
        for i, (h, w, c, s, f) in enumerate(cases):
            x = self.keras.Input((h, w, c))
            skip = self.keras.Input((2 * h, 2 * w, s))
            files[f"decoder_block-{i}.json"] = self.config([x, skip], self.call("decoder_block")(x, skip, f))
        return files

    def make_unet(self, cases: list) -> dict:
        files = {}
        for i, (h, w, c, base) in enumerate(cases):
            model = self.call("make_unet")(input_shape=(h, w, c), base_num_f=base, num_classes=1, final_act=None)
            files[f"make_unet-{i}.json"] = self.config(model.inputs, model.outputs)
        return files

    def preprocess(self, arrays: dict, count: int) -> dict:
        import numpy as np
        import tensorflow as tf

        outputs = {}
        for i in range(count):
            example = {
                "image": tf.constant(arrays[f"image{i}"]),
                "segmentation_mask": tf.constant(arrays[f"trimap{i}"]),
                "label": tf.constant(0, tf.int64),
                "species": tf.constant(0, tf.int64),
                "file_name": tf.constant("probe.jpg"),
            }
            image, mask = next(iter(tf.data.Dataset.from_tensors(example).map(self.call("preprocess"))))
            outputs[f"image{i}"] = np.asarray(image)
            outputs[f"mask{i}"] = np.asarray(mask)
        return {"preprocess.npz": _npz(**outputs)}

    def test_split(self, split: str, size: int) -> dict:
        """The test split through the submission's preprocess (for the grader's check of the reported val_loss)."""
        import numpy as np
        import tensorflow_datasets as tfds

        self.namespace["IMG_SIZE"] = size
        dataset = tfds.load("oxford_iiit_pet", split=split).map(self.call("preprocess"))
        pairs = [(np.asarray(image), np.asarray(mask)) for image, mask in dataset]
        return {"test_split.npz": _npz(images=np.stack([p[0] for p in pairs]), masks=np.stack([p[1] for p in pairs]))}


def _child(name: str, challenge: dict, statements: list, arrays: dict, reference: dict, pipe: int) -> None:
    """In a forked child: define the submission, call `name`, send {ok, error, problems, files} and exit."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the references still to come stay out of reach
    os.close(ASKS[0])
    namespace = {"__name__": "__submission__"}
    problems = []
    for cell, source in statements:  # one by one: a statement that fails does not hide the ones after it
        try:
            exec(compile(source, f"cell {cell + 1}", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - recorded for the grader
            problems.append(f"cell {cell + 1}: {type(error).__name__}: {error}"[:300])
    namespace["IMG_SIZE"] = challenge["img_size"]
    prober = Prober(namespace, reference)
    try:
        if name == "preprocess":
            files = prober.preprocess(arrays, challenge["examples"])
        elif name == "test_split":
            files = prober.test_split(*challenge["test_split"])
        else:
            files = getattr(prober, name)(challenge[name])
        result = {"ok": True, "files": {key: base64.b64encode(value).decode() for key, value in files.items()}}
    except BaseException as error:  # noqa: BLE001 - any failure of student code is a fact
        result = {
            "ok": False,
            "error": f"{type(error).__name__}: {error}"[:2000],
            "traceback": "".join(traceback.format_exception(error))[-4000:],
        }
    data = json.dumps({**result, "problems": problems[:10]}).encode()
    while data:
        data = data[os.write(pipe, data[: 1 << 16]) :]
    os._exit(0)


def _collect(pid: int, pipe: int, deadline: float) -> dict:
    """What a child sent before `deadline` (the child is killed then)."""
    chunks = []
    while (left := deadline - time.monotonic()) > 0 and select.select([pipe], [], [], left)[0]:
        chunk = os.read(pipe, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(pipe)
    timed_out = time.monotonic() >= deadline
    with contextlib.suppress(
        ProcessLookupError
    ):  # done or not (it may have closed its pipe and kept running): it ends here
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        if timed_out:
            return {"ok": False, "error": "TimeoutError: the call did not finish in time"}
        return {"ok": False, "error": "the call ended without an answer"}


def _kill_others(kill_others: bool) -> None:
    """Kill every process of the sandbox's uid but this one (nothing a child started may run on)."""
    if kill_others:
        with contextlib.suppress(ProcessLookupError):  # none left is fine
            os.kill(-1, signal.SIGKILL)


def _call(name: str, challenge: dict, statements: list, arrays: dict, reference: dict, seconds: float) -> dict:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(name, challenge, statements, arrays, reference, write)
    os.close(write)
    return _collect(pid, read, time.monotonic() + seconds)


def _status(result: dict) -> dict:
    """What the grader reads of a call: whether it worked, the error and its traceback, the statements that failed."""
    problems = result.get("problems") if isinstance(result.get("problems"), list) else []
    return {
        "ok": result.get("ok") is True,
        "error": str(result.get("error", ""))[:2000],
        "traceback": str(result.get("traceback", ""))[-4000:],
        "problems": [str(problem)[:300] for problem in problems[:10]],
    }


def _write(out: str, results: dict, outputs: dict) -> None:
    """Each function's status and the files it may write (challenge.json's "outputs"): no child can write the
    files of another function, nor a status of its own making."""
    for entry in os.scandir(out):  # whatever student code left here goes
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
    for name, result in results.items():
        files = result.get("files") if isinstance(result.get("files"), dict) else {}
        for file in outputs.get(name, []):
            if isinstance(files.get(file), str):
                with open(os.path.join(out, file), "wb") as handle:
                    handle.write(base64.b64decode(files[file]))
        with open(os.path.join(out, f"{name}.json"), "w") as handle:
            json.dump(_status(result), handle)
    with open(os.path.join(out, "definitions.json"), "w") as handle:
        json.dump({"ok": True, "problems": _status(results["preprocess"])["problems"]}, handle)


def main(folder: str, kill_others: bool, seconds: float = 300) -> None:
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no child can read this process's memory or stdin
    with open(os.path.join(folder, "challenge.json")) as handle:
        challenge = json.load(handle)
    with open(os.path.join(folder, "definitions.json")) as handle:
        statements = json.load(handle)
    import keras  # imported once here, before the children are forked
    import numpy as np
    import tensorflow_datasets  # noqa: F401

    arrays = dict(np.load(os.path.join(folder, "inputs.npz")))
    known: dict = {"layers": keras.layers}  # the references received so far, in one namespace: they call one another
    results: dict = {}
    end = time.monotonic() + seconds - MARGIN_SECONDS  # what is left is shared out between the calls still to come
    calls = sum(len(stage) for stage in challenge["stages"]) + bool(challenge["test_split"])
    for number, stage in enumerate(challenge["stages"]):
        if number:
            _kill_others(kill_others)
            os.write(ASKS[0], b"next stage\n")
            exec(
                compile("\n\n".join(json.loads(sys.stdin.buffer.readline(LINE_LIMIT)).values()), "reference", "exec"),
                known,
            )
        for name in stage + (["test_split"] if number == 0 and challenge["test_split"] else []):
            share = max(1.0, min(CHILD_SECONDS, (end - time.monotonic()) / max(1, calls - len(results))))
            if name == "test_split" and not results["preprocess"].get("ok"):
                results[name] = {"ok": False, "error": "preprocess failed"}
                continue
            reference = {helper: known[helper] for helper in challenge["helpers"].get(name, [])}
            results[name] = _call(name, challenge, statements, arrays, reference, share)
    _kill_others(kill_others)  # nothing may write after this
    _write(os.path.join(folder, "out"), results, challenge["outputs"])


if __name__ == "__main__":
    ASKS[0] = int(sys.argv[sys.argv.index("--asks") + 1])
    budget = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 300
    main(sys.argv[1], "--kill-others" in sys.argv[2:], budget)
