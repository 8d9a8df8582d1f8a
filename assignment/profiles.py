"""Grading profiles: settings only. What a run trains, within which limits, and the IoU it must reach.

The parameters are injected after the notebook's `parameters` cell (papermill's convention);
every other change reaches the notebook through environment variables. Which data a profile
uses is decided by `assignment.data.resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use (see autograder/sandbox.py)."""

    memory_mib: int  # data segment of each process (RLIMIT_DATA), and of the whole sandbox where it gets a cgroup
    tasks: int  # processes and threads of the sandbox's user
    file_mib: int  # largest file
    scratch_mib: int  # everything in the scratch folder together
    grader_mib: int = 4096  # data segment of the grader's own worker, which measures what the sandboxes saved
    open_files: int = 4096


@dataclass(frozen=True)
class Profile:
    """One way of running a submission: what it trains, on what data, within which limits."""

    name: str
    description: str
    parameters: dict[str, object]
    iou_thresholds: dict[str, float]  # by data kind: "real" (Oxford-IIIT Pet) or "synthetic"
    calibration: dict[str, str]  # what the solution measured, the basis of each threshold
    cell_timeout: int  # seconds per notebook cell
    total_timeout: int  # seconds for the whole notebook
    probe_timeout: int  # seconds for the process that calls the student's functions
    limits: Limits
    wants_sample: bool = False  # prefer the real sample from ../shared over synthetic data
    needs_gpu: bool = False  # checks that need a GPU stay pending without one
    details_visibility: str = "visible"  # Gradescope: "visible" or "after_published"


PROFILES = {
    "full": Profile(
        name="full",
        description="the seed's recipe: 256 px, batch 16, 10 epochs, lr 1e-4, full splits (a GPU job)",
        parameters={"IMG_SIZE": 256, "BATCH_SIZE": 16, "EPOCHS": 10, "BASE_FILTERS": 32, "LEARNING_RATE": 1e-4,
                    "TRAIN_SPLIT": "train", "TEST_SPLIT": "test", "MIXED_PRECISION": "off"},
        iou_thresholds={"real": 0.70, "synthetic": 0.80},
        calibration={"real": "not measured here (no GPU); the seed's GPU run ends at val_loss 0.22",
                     "synthetic": "not measured here (no GPU)"},
        cell_timeout=4 * 3600,
        total_timeout=5 * 3600,
        probe_timeout=600,
        # The training cache alone is 3.6 GiB at 256 px; CUDA maps much address space, hence the data limit.
        limits=Limits(memory_mib=48 * 1024, tasks=4096, file_mib=2048, scratch_mib=4096, grader_mib=16 * 1024),
        needs_gpu=True,
    ),
    "ci": Profile(
        name="ci",
        description="CPU-sized: 64 px, base 16, 12 epochs, lr 1e-3 on the real 400-image sample (or synthetic)",
        parameters={"IMG_SIZE": 64, "BATCH_SIZE": 16, "EPOCHS": 12, "BASE_FILTERS": 16, "LEARNING_RATE": 1e-3,
                    "TRAIN_SPLIT": "train", "TEST_SPLIT": "test", "MIXED_PRECISION": "auto"},
        iou_thresholds={"real": 0.50, "synthetic": 0.80},
        calibration={"real": "solution on the 400-image sample, seeds 1-3: 0.590 / 0.601 / 0.606 (min / mean / max); all-pet baseline 0.415",
                     "synthetic": "solution on the synthetic set, seeds 1-3: 0.965 / 0.967 / 0.970 (min / mean / max)"},
        cell_timeout=900,
        total_timeout=1800,
        probe_timeout=300,
        limits=Limits(memory_mib=8 * 1024, tasks=512, file_mib=512, scratch_mib=1024),
        wants_sample=True,
    ),
    "smoke": Profile(
        name="smoke",
        description="seconds: 32 px, base 8, 4 epochs, lr 3e-3 on at most 200/100 examples (synthetic by default), for structure grading",
        parameters={"IMG_SIZE": 32, "BATCH_SIZE": 8, "EPOCHS": 4, "BASE_FILTERS": 8, "LEARNING_RATE": 3e-3,
                    "TRAIN_SPLIT": "train[:200]", "TEST_SPLIT": "test[:100]", "MIXED_PRECISION": "off"},
        iou_thresholds={"real": 0.45, "synthetic": 0.60},
        calibration={"real": "solution on the 400-image sample, seeds 1-3: 0.503 / 0.520 / 0.543 (min / mean / max); all-pet baseline 0.415",
                     "synthetic": "solution on the synthetic set, seeds 1-5: 0.851 / 0.897 / 0.923 (min / mean / max)"},
        cell_timeout=180,
        total_timeout=900,
        probe_timeout=300,
        limits=Limits(memory_mib=6 * 1024, tasks=512, file_mib=512, scratch_mib=1024),
    ),
}
