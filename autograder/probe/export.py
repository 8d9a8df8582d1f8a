"""Runs in the student's kernel after the notebook: save `model` and `history` for the grader.

The grader measures what is saved (autograder/measure.py); nothing here is trusted.
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def export(namespace: dict, folder: str) -> None:
    """Save the notebook's trained `model` (Keras format), `history.history` and the recorder's record of the
    training (JSON, recorder.py) into `folder`."""
    model = namespace.get("model")
    history = namespace.get("history")
    record = getattr(sys.modules.get("__tiny_unet_recorder__"), "record", None)
    if record is not None:
        _write_json(os.path.join(folder, "recorded.json"), record.summary(getattr(model, "optimizer", None)))
    if model is not None and callable(getattr(model, "save", None)):
        model.save(_fresh(os.path.join(folder, "trained.keras")))
    reported = getattr(history, "history", None)
    if isinstance(reported, dict):
        values = {str(key): [float(v) for v in series] for key, series in reported.items()}
        _write_json(os.path.join(folder, "history.json"), values)


def _fresh(path: str) -> str:
    """`path` with whatever the notebook left there (a named pipe, a link, a folder) removed, so that writing it
    cannot block or land elsewhere."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
    return path


def _write_json(path: str, value: object) -> None:
    """A new regular file, never one the notebook made (O_EXCL: a file planted again meanwhile is an error)."""
    descriptor = os.open(_fresh(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(value, handle)
