"""Training profiles: the notebook's parameters, data, time limits and IoU threshold for each grading run.

The parameters are injected after the notebook's `parameters` cell (papermill's convention);
every other change reaches the notebook through environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assignment import data

SHARED_SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "oxford_pets_sample"


@dataclass(frozen=True)
class Profile:
    """One way of running a submission: what it trains, on what data, within which limits."""

    name: str
    description: str
    parameters: dict[str, object]
    iou_thresholds: dict[str, float]  # by data kind: "real" (Oxford-IIIT Pet) or "synthetic"
    calibration: dict[str, str]  # what the solution measured, the basis of each threshold
    cell_timeout: int  # seconds
    total_timeout: int  # seconds
    wants_sample: bool = False  # use the real sample from ../shared when it is there
    needs_gpu: bool = False
    env: dict[str, str] = field(default_factory=dict)


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
    ),
}


@dataclass(frozen=True)
class RunData:
    """The TFDS data dir a run uses, where it came from, and its kind ("real" or "synthetic")."""

    path: Path
    origin: str
    kind: str


def resolve_data(profile: Profile, environ: dict[str, str]) -> RunData:
    """The data for a run, prepared if needed.

    `TFDS_DATA_DIR` in the environment wins. Otherwise the run uses the kit's `data/tfds/`: as
    `make data` left it, except that a profile that wants the real sample replaces synthetic
    data with the sample from ../shared when that is there; an empty dir gets synthetic data.
    """
    if environ.get("TFDS_DATA_DIR"):
        path = Path(environ["TFDS_DATA_DIR"]).resolve()
        origin = f"TFDS_DATA_DIR={path}"
    else:
        path, origin = data.DEFAULT_DATA_DIR, f"{data.DEFAULT_DATA_DIR}"
        stamp, prepared = data.read_stamp(path), data.is_prepared(path)
        if profile.wants_sample and SHARED_SAMPLE.is_dir() and (not prepared or (stamp and stamp["kind"] == "synthetic")):
            data.prepare(path, SHARED_SAMPLE)
        elif not prepared:
            data.prepare(path, None)
    stamp = data.read_stamp(path)
    kind = "synthetic" if stamp and stamp["kind"] == "synthetic" else "real"
    source = f"{stamp['kind']} {stamp['path']}".strip() if stamp else "prepared outside the kit"
    return RunData(path, f"{origin} ({source})", kind)
