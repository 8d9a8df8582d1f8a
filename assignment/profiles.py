"""Grading profiles: settings only. What a run trains, within which limits, and the IoU it must reach.

The parameters are injected after the notebook's `parameters` cell (papermill's convention);
every other change reaches the notebook through environment variables. Which data a profile
uses is decided by `assignment.rundata.resolve`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Parameters:
    """The notebook's global settings a profile injects (the notebook names them in capitals)."""

    img_size: int
    batch_size: int
    epochs: int
    base_filters: int
    learning_rate: float
    train_split: str
    test_split: str
    mixed_precision: str
    seed: int | None = None  # the notebook's own default when None

    def notebook(self) -> dict[str, object]:
        """The values as the notebook's globals, e.g. {"IMG_SIZE": 32, ...}."""
        return {key.upper(): value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Limits:
    """What one submission's sandboxes may use (see autograder/sandbox.py)."""

    memory_mib: int  # RAM of all the submission's sandboxes together (kernel, probe, measurer), in its control group
    address_mib: int  # data segment of each sandboxed process (RLIMIT_DATA): TensorFlow maps far more than it uses
    tasks: int  # processes and threads of one sandbox
    file_mib: int  # largest file
    scratch_mib: int  # everything in one sandbox's scratch folder together
    grader_mib: int = 1024  # RAM of the grader's own worker for the submission (it runs no TensorFlow)
    open_files: int = 4096


@dataclass(frozen=True)
class Profile:
    """One way of running a submission: what it trains, on what data, within which limits."""

    name: str
    description: str
    parameters: Parameters
    iou_thresholds: dict[str, float]  # by data kind: "real" (Oxford-IIIT Pet) or "synthetic"
    # What the solution measured, the basis of each threshold, by what the data is: "real" (the whole dataset),
    # "real sample" or "synthetic" (assignment.rundata.label); a threshold used on other data is not measured there
    calibration: dict[str, str]
    cell_timeout: int  # seconds per notebook cell
    total_timeout: int  # seconds for the whole notebook
    probe_timeout: int  # seconds for the process that calls the student's functions
    measure_timeout: int  # seconds for the process that measures what the notebook and the probe left
    limits: Limits
    wants_sample: bool = False  # prefer the real sample from ../shared over synthetic data
    needs_gpu: bool = False  # checks that need a GPU stay pending without one
    real_data_only: bool = False  # synthetic data is refused (assignment.rundata.resolve)
    # By data kind: below this test/train cross-entropy ratio a model is flagged to the instructor as possibly trained
    # on the test split (points never change: see flag_calibration). Only where the weights show it.
    flag_test_fit: dict[str, float] = field(default_factory=dict)
    flag_calibration: str = ""
    details_visibility: str = "visible"  # Gradescope: "visible" or "after_published"
    # Error carried forward, as courses that grade by hand do (False grades strictly: a mistake costs every section it
    # reaches): the trained model is judged against the masks the student's own preprocess makes (a preprocessing
    # mistake costs the preprocessing points only); each function is probed with the grader's blocks in place of those
    # it calls; and a notebook that trained no model because one graded function raised (or its model could not be
    # built) is run once more with the grader's version of that function, for training (autograder/carry.py).
    carry_forward: bool = True
    # The notebook's last cells (`predictions`, `evaluate`) only show the trained model's predictions and IoU on the
    # visible test split; the grader measures the model itself, on held-out examples, so it skips them unless this is
    # True (autograder/cells.py: only while they are the release's code and no cell of the student's follows them).
    run_showing_cells: bool = False
    # A trained U-Net's foreground IoU on the held-out examples mirrored left to right stays within this of its IoU on
    # them as they are; a model that looks masks up by the image does not (see claims_calibration).
    flip_margin: float = 0.05
    # The band of the last epoch's reported training loss over the grader's loss on the training split after training
    # (see claims_calibration): wide, since the last epoch's mean can be twice the end's at lr 3e-3.
    loss_agreement: tuple[float, float] = (0.7, 3.0)
    claims_calibration: str = (
        "benchmarks/calibrate_claims.py, the solution on smoke (seeds 1-5) and ci (seeds 1-2), synthetic and the "
        "400-image sample: IoU minus mirrored IoU -0.003..+0.006; last epoch's reported over measured training loss "
        "0.907..2.207 (every epoch 0.876..2.658); weight arrays moved 0.74..0.83 (fresh models 0..0.04)"
    )

    def threshold_basis(self, label: str) -> tuple[str, bool]:
        """What the IoU threshold on data that is `label` ("real", "real sample", "synthetic") rests on, in words,
        and whether it was measured on such data."""
        basis = self.calibration.get(label, "")
        if basis and not basis.startswith("not measured"):
            return f"measured on {label} data: {basis}", True
        others = [other for other, text in self.calibration.items() if not text.startswith("not measured")]
        elsewhere = f" (measured on {', '.join(others)} data only)" if others else ""
        return basis or f"not measured on {label} data{elsewhere}", False

    @property
    def export_timeout(self) -> int:
        """Seconds for the kernel to save the trained model after the last cell."""
        return max(60, self.cell_timeout // 4)

    @property
    def deadline(self) -> int:
        """Seconds after which a submission's grading is stopped, whatever it is doing: the notebook's time, its
        export, a kernel that stops answering and is started again (each attempt waits for it), the measuring, and a
        margin for starting the sandboxes and writing the reports."""
        return self.total_timeout + self.export_timeout + 3 * 60 + self.measure_timeout + 300


PROFILES = {
    "full": Profile(
        name="full",
        description="the seed's recipe: 256 px, batch 16, 10 epochs, lr 1e-4, full splits (a GPU job)",
        parameters=Parameters(
            img_size=256,
            batch_size=16,
            epochs=10,
            base_filters=32,
            learning_rate=1e-4,
            train_split="train",
            test_split="test",
            mixed_precision="off",
        ),
        iou_thresholds={"real": 0.70},  # synthetic data is refused
        calibration={
            "real": "not measured on real data (the kit was developed without a GPU; the seed's GPU run ends at "
            "val_loss 0.22): "
            "measure it with benchmarks/calibrate_profiles.py full",
        },
        cell_timeout=4 * 3600,
        total_timeout=5 * 3600,
        probe_timeout=600,
        measure_timeout=1800,
        # The training cache alone is 3.6 GiB at 256 px; CUDA maps much address space, hence the data limit.
        limits=Limits(memory_mib=40 * 1024, address_mib=64 * 1024, tasks=4096, file_mib=2048, scratch_mib=4096),
        needs_gpu=True,
        real_data_only=True,
    ),
    "ci": Profile(
        name="ci",
        description="CPU-sized: 64 px, base 16, 12 epochs, lr 1e-3 on the real 400-image sample (or synthetic)",
        parameters=Parameters(
            img_size=64,
            batch_size=16,
            epochs=12,
            base_filters=16,
            learning_rate=1e-3,
            train_split="train",
            test_split="test",
            mixed_precision="auto",
        ),
        iou_thresholds={"real": 0.50, "synthetic": 0.80},
        calibration={
            "real sample": "solution on the 400-image sample, seeds 1-3: 0.590 / 0.601 / 0.606 (min / mean / max) on "
            "all 129 test images; 0.551 / 0.571 / 0.608 on the 64 of the private part (2026-12-07); all-pet baseline "
            "0.415",
            "synthetic": "solution on the synthetic set (v3, striped), seeds 1-3: 0.929 / 0.934 / 0.936 (min / mean / "
            "max) on the 200 private examples (2026-12-07); the best fixed rule (the position prior) 0.450",
        },
        cell_timeout=900,
        total_timeout=1800,
        probe_timeout=300,
        measure_timeout=300,
        limits=Limits(memory_mib=3072, address_mib=8 * 1024, tasks=512, file_mib=512, scratch_mib=1024),
        wants_sample=True,
        flag_test_fit={"real": 1.03},
        flag_calibration="on the 400-image sample, 6 honest models measured 1.064..1.090 (mean 1.072, sd 0.009); "
        "models "
        "trained on the test split alone 0.963..1.006, on train and test together 1.017..1.039 (not flagged). On smoke "
        "sizes and on synthetic data honest and test-trained models overlap, so nothing is flagged there.",
    ),
    "smoke": Profile(
        name="smoke",
        description="seconds: 32 px, base 8, 4 epochs, lr 3e-3 on at most 200 training examples (synthetic by "
        "default), for structure grading",
        parameters=Parameters(
            img_size=32,
            batch_size=8,
            epochs=4,
            base_filters=8,
            learning_rate=3e-3,
            train_split="train[:200]",
            test_split="test",  # the visible part, whatever its size (tfds refuses a slice longer than the split)
            mixed_precision="off",
        ),
        iou_thresholds={"real": 0.45, "synthetic": 0.60},
        calibration={
            "real sample": "solution on the 400-image sample, seeds 1-3: 0.503 / 0.520 / 0.543 (min / mean / max) on "
            "100 test images; 0.410 / 0.494 / 0.540 on the 64 of the private part (2026-12-07); all-pet baseline 0.415",
            "synthetic": "solution on the synthetic set (v3, striped), seeds 1-5: 0.704 / 0.804 / 0.881 (min / mean / "
            "max) on the 200 private examples (2026-12-07); the best fixed rule (the position prior) 0.449",
        },
        cell_timeout=180,
        total_timeout=900,
        probe_timeout=300,
        measure_timeout=180,
        # The solution's sandboxes together peak near 0.85 GiB here; 2 GiB and the worker's 1 GiB fit a 4 GB
        # Gradescope VM.
        limits=Limits(memory_mib=2048, address_mib=6 * 1024, tasks=512, file_mib=512, scratch_mib=1024),
    ),
}
