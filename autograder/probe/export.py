"""Runs in the student's kernel after the notebook: save `model` and `history` for the grader.

The grader measures what is saved (autograder/measure.py); nothing here is trusted.
"""

from __future__ import annotations

import json
import os
import sys


def export(namespace: dict, folder: str) -> None:
    """Save the notebook's trained `model` (Keras format), `history.history` and what model.fit was given (JSON,
    from recorder.py) into `folder`."""
    model = namespace.get("model")
    history = namespace.get("history")
    if model is not None and callable(getattr(model, "save", None)):
        model.save(os.path.join(folder, "trained.keras"))
    record = getattr(history, "history", None)
    if isinstance(record, dict):
        values = {str(key): [float(v) for v in series] for key, series in record.items()}
        with open(os.path.join(folder, "history.json"), "w") as handle:
            json.dump(values, handle)
    fits = getattr(sys.modules.get("__tiny_unet_fits__"), "fits", None)
    if isinstance(fits, list):
        with open(os.path.join(folder, "fits.json"), "w") as handle:
            json.dump(fits[:100], handle)
