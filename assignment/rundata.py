"""Which data a grading run uses: the TFDS data dir a profile resolves to, prepared when needed, and what it is.

`TFDS_DATA_DIR` in the environment wins. Otherwise a run uses the kit's `data/tfds/`: as `make data` left it, except
that a profile that wants the real sample replaces synthetic data with the sample from ../shared when that is there,
an empty dir gets synthetic data, and the kit's own synthetic data or sample made by an older kit is made again. A
profile that grades on real data only (`full`) refuses synthetic data, and never makes it: its GPU hours must not go
to grading on blobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from assignment import data, private
from assignment.data import DataError
from assignment.profiles import Profile

OFFICIAL_EXAMPLES = {"train": 3680, "test": 3669}  # the splits tfds makes of the official archives
PREPARE_REAL = "make data DATA_SRC=<folder with the official images.tar.gz and annotations.tar.gz>"


@dataclass(frozen=True)
class RunData:
    """The TFDS data dir a run uses, where it came from, its kind ("real" or "synthetic", what the IoU thresholds
    follow), the data dir of its private part (the grader's alone: see `data.private_part`), what it is ("real",
    "real sample", "synthetic" or "not prepared") and its examples per split (the private test part's too)."""

    path: Path
    origin: str
    kind: str
    private: Path
    label: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    def what(self) -> str:
        """e.g. "real sample (train 270, test 65, private test 64)"."""
        sizes = ", ".join(f"{name} {count}" for name, count in sorted(self.sizes.items(), reverse=True))
        return f"{self.label or self.kind}{f' ({sizes})' if sizes else ''}"

    def describe(self) -> str:
        """e.g. "real sample (train 270, test 65, private test 64) from /data/tfds (extracted /shared/...)"."""
        return f"{self.what()} from {self.origin}"


def _recorded(data_dir: Path) -> dict[str, int]:
    """The examples per split that tfds recorded in a prepared dataset's dataset_info.json ({} when there is none);
    read as JSON, without TensorFlow."""
    try:
        recorded = json.loads((data.dataset_dir(data_dir) / "dataset_info.json").read_text())["splits"]
        return {split["name"]: sum(int(n) for n in split.get("shardLengths", [])) for split in recorded}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def recorded_sizes(data_dir: Path) -> dict[str, int]:
    """The examples per split of the data in `data_dir`, with its private part's test examples as "private test"
    when that part is there."""
    sizes = _recorded(data_dir)
    hidden = _recorded(private.private_dir(data_dir)).get("test")
    return {**sizes, "private test": hidden} if sizes and hidden else sizes


def label(kind: str, sizes: dict[str, int]) -> str:
    """What the data is: "synthetic", "real" (the whole official dataset), "real sample" or "not prepared"."""
    if not sizes:
        return "not prepared"
    if kind == "synthetic":
        return "synthetic"
    test = sizes.get("test", 0) + sizes.get("private test", 0)
    whole = sizes.get("train", 0) >= OFFICIAL_EXAMPLES["train"] and test >= OFFICIAL_EXAMPLES["test"]
    return "real" if whole else "real sample"


def synthetic_refused(found: str, profile: Profile) -> DataError:
    """The error when `profile`, which grades on real data only, `found` the synthetic set."""
    return DataError(
        f"{found}; the {profile.name} profile grades on real data only, so a batch would spend its GPU hours grading "
        f"on synthetic blobs. Prepare the real Oxford-IIIT Pet with `{PREPARE_REAL}` (it writes to TFDS_DATA_DIR when "
        "that is set, else to data/tfds), or set TFDS_DATA_DIR to a real dataset that tfds prepared."
    )


def resolve(profile: Profile, environ: dict[str, str]) -> RunData:
    """The data for a grading run under `profile`, prepared if needed (see the module's docstring); DataError when
    the profile refuses what it finds."""
    if environ.get("TFDS_DATA_DIR"):
        path = Path(environ["TFDS_DATA_DIR"]).resolve()
        origin = f"TFDS_DATA_DIR={path}"
    else:
        path = data.DEFAULT_DATA_DIR
        origin = f"{data.DEFAULT_DATA_DIR}"
        stamp = data.read_stamp(path)
        prepared = data.is_prepared(path)
        synthetic = stamp is not None and stamp["kind"] == "synthetic"
        ours = stamp is not None and (synthetic or stamp["path"] == str(data.SHARED_SAMPLE))
        if profile.wants_sample and data.SHARED_SAMPLE.is_dir() and (not prepared or ours):
            data.prepare(path, data.SHARED_SAMPLE)
        elif profile.real_data_only and not prepared:
            found = f"{path} holds no dataset, and the kit would make the synthetic set there (kind: synthetic)"
            raise synthetic_refused(found, profile)
        elif (not prepared or synthetic) and not profile.real_data_only:
            data.prepare(path, None)
    stamp = data.read_stamp(path)
    kind = "synthetic" if stamp and stamp["kind"] == "synthetic" else "real"
    if kind == "synthetic" and profile.real_data_only:
        found = f"the data in {path} is the synthetic set (kind: synthetic; `make data` without DATA_SRC made it)"
        raise synthetic_refused(found, profile)
    source = f"{stamp['kind']} {stamp['path']}".strip() if stamp else "prepared outside the kit"
    sizes = recorded_sizes(path)
    return RunData(path, f"{origin} ({source})", kind, private.private_dir(path), label(kind, sizes), sizes)
