"""Time the notebook's own recipe (256 px, batch 16, base 32, Adam, binary cross-entropy) on this machine's CPU, a
few batches of random data, and extrapolate to an epoch over the full splits (the basis of the notebook's estimate).

    python benchmarks/epoch_time.py [--steps 4] [--precision float32|mixed_bfloat16]

Prints wall and CPU seconds per training step and per validation batch (after two warm-up steps) and the epoch and
10-epoch times they imply for 3,680 training and 3,669 test images. Data preparation, the first epoch's tracing and
caching, and the plots are not counted.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nbformat

from autograder import extract

SOLUTION = Path(__file__).resolve().parent.parent / "solution" / "tiny_unet" / "tiny_unet.ipynb"
TRAIN, TEST, BATCH, SIZE, EPOCHS = 3680, 3669, 16, 256, 10  # the full splits of oxford_iiit_pet 4.0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    args = parser.parse_args()
    import keras
    import numpy as np

    keras.mixed_precision.set_global_policy(args.precision)
    namespace: dict = {}
    for _, statement in extract.extract(nbformat.read(SOLUTION, as_version=4)).statements:
        exec(statement, namespace)  # the solution's imports and functions
    model = namespace["make_unet"]((SIZE, SIZE, 3), 32, 1, "sigmoid")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, SIZE, SIZE, 3), np.float32)
    masks = (rng.random((BATCH, SIZE, SIZE, 1)) > 0.5).astype(np.float32)
    for _ in range(2):
        model.train_on_batch(images, masks)
        model.test_on_batch(images, masks)
    step = _timed(lambda: model.train_on_batch(images, masks), args.steps)
    validation = _timed(lambda: model.test_on_batch(images, masks), args.steps)
    batches = (math.ceil(TRAIN / BATCH), math.ceil(TEST / BATCH))
    for what, index in (("wall", 0), ("CPU", 1)):
        epoch = batches[0] * step[index] + batches[1] * validation[index]
        print(
            f"{os.cpu_count()} CPUs, {args.precision}, {what} seconds: {step[index]:.2f} a training step, "
            f"{validation[index]:.2f} a validation batch; an epoch {epoch / 60:.1f} min, {EPOCHS} epochs "
            f"{EPOCHS * epoch / 3600:.2f} h"
        )


def _timed(work, times: int) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of one call of `work`, averaged over `times` calls: on a
    busy machine the CPU seconds, divided by the cores TensorFlow keeps busy, say what an idle one would take."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(times):
        work()
    return (time.perf_counter() - wall) / times, (time.process_time() - cpu) / times


if __name__ == "__main__":
    main()
