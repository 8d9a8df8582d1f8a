"""Profiles and the data each run gets; the environment files agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assignment import data, rundata
from assignment.profiles import PROFILES

ROOT = Path(__file__).resolve().parent.parent


def test_profiles_carry_calibrated_thresholds_and_the_seed_recipe() -> None:
    assert set(PROFILES) == {"full", "ci", "smoke"}
    full = PROFILES["full"].parameters
    assert (full.img_size, full.batch_size, full.epochs, full.base_filters, full.learning_rate) == (
        256,
        16,
        10,
        32,
        1e-4,
    )
    assert PROFILES["full"].needs_gpu and not PROFILES["ci"].needs_gpu
    for name in ("smoke", "ci"):
        limits = PROFILES[name].limits
        assert 2 * (limits.memory_mib + limits.grader_mib) <= 16 * 1024, (
            "two at a time fit well under the 24 GiB machine"
        )
    for profile in PROFILES.values():
        assert profile.parameters.img_size % 16 == 0
        assert set(profile.iou_thresholds) == {"real"} | ({"synthetic"} if not profile.real_data_only else set())
        assert set(profile.calibration) <= {"real", "real sample", "synthetic"}
        assert profile.iou_thresholds["real"] > 0.415, (
            "a threshold must beat predicting 'pet' everywhere (0.415 on real data)"
        )
    for name in ("ci", "smoke"):
        for label, kind in (("real sample", "real"), ("synthetic", "synthetic")):
            measured = re.search(r"([0-9.]+) / [0-9.]+ / [0-9.]+ \(min", PROFILES[name].calibration[label])
            assert measured, f"{name} has no calibration for {label} data"
            assert PROFILES[name].iou_thresholds[kind] < float(measured.group(1)), (
                f"{name} threshold above the solution's minimum"
            )


def test_environment_files_pin_the_same_versions() -> None:
    def pins(text: str) -> dict[str, str]:
        return {
            m.group(1).lower(): m.group(2) for m in re.finditer(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([0-9.]+)", text, re.M)
        }

    pip = pins((ROOT / "requirements.txt").read_text())
    conda = pins((ROOT / "environment.yml").read_text())
    assert pip.pop("tensorflow") == pip["tensorflow-cpu"], "the non-x86 TensorFlow line must pin the same version"
    assert pip == conda and len(pip) > 10


@pytest.fixture
def kit_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "tfds")
    return tmp_path / "tfds"


def test_tfds_data_dir_overrides_the_profile(tmp_path: Path, kit_data_dir: Path) -> None:
    chosen = rundata.resolve(PROFILES["ci"], {"TFDS_DATA_DIR": str(tmp_path / "elsewhere")})
    assert chosen.path == tmp_path / "elsewhere" and not kit_data_dir.exists()


def test_profiles_share_the_kit_data_dir(kit_data_dir: Path, shared_sample: Path) -> None:
    smoke = rundata.resolve(PROFILES["smoke"], {})
    assert (smoke.path, smoke.kind, smoke.label, smoke.sizes) == (
        kit_data_dir,
        "synthetic",
        "synthetic",
        {"train": 200, "test": 100, "private test": 200},
    )
    ci = rundata.resolve(PROFILES["ci"], {})
    assert (ci.path, ci.kind, ci.label) == (kit_data_dir, "real", "real sample")
    assert str(shared_sample.resolve()) in ci.origin and ci.describe().startswith(
        "real sample (train 270, test 65, private test 64)"
    )
    assert rundata.resolve(PROFILES["smoke"], {}).kind == "real", "smoke keeps whatever real data the dir holds"


def test_a_symlinked_sample_is_the_same_source(tmp_path: Path, shared_sample: Path) -> None:
    """../shared is often a symlink: reaching the sample through one must not prepare the data again."""
    link = tmp_path / "shared-link"
    link.symlink_to(shared_sample)
    assert data.find_source(link) == data.find_source(shared_sample.resolve())


def test_ci_without_the_sample_falls_back_to_synthetic(
    kit_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "SHARED_SAMPLE", tmp_path / "absent")
    assert rundata.resolve(PROFILES["ci"], {}).kind == "synthetic"
