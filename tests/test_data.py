"""The data tool: tfds's own builder fed from local files, three sources, idempotence, clear errors, and the
grader's private part beside each dataset."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from assignment import data, private, rundata, synthetic
from assignment.profiles import PROFILES


def _load(data_dir: Path, split: str) -> list[dict]:
    return list(tfds.as_numpy(tfds.load("oxford_iiit_pet", split=split, data_dir=str(data_dir))))


def _copy_subset(source: Path, target: Path, names: list[str]) -> Path:
    """An official-layout folder holding only `names`: the last two in test (one visible, one private), the others
    in trainval."""
    (target / "images").mkdir(parents=True)
    (target / "annotations" / "trimaps").mkdir(parents=True)
    for name in names:
        shutil.copy(source / "images" / f"{name}.jpg", target / "images")
        shutil.copy(source / "annotations" / "trimaps" / f"{name}.png", target / "annotations" / "trimaps")
    (target / "annotations" / "trainval.txt").write_text("".join(f"{n} 1 1 1\n" for n in names[:-2]))
    (target / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in names[-2:]))
    return target


def test_real_sample_counts_and_values(sample_data_dir: Path) -> None:
    assert data.split_sizes(sample_data_dir) == {"train": 270, "test": 65}
    assert data.split_sizes(private.private_dir(sample_data_dir))["test"] == 64
    corners = 0
    total = 0
    for split in ("train", "test"):
        for example in _load(sample_data_dir, split):
            image = example["image"]
            mask = example["segmentation_mask"]
            assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
            assert mask.shape == (*image.shape[:2], 1)
            assert set(np.unique(mask)) <= {1, 2, 3}
            corner_values = [mask[0, 0, 0], mask[0, -1, 0], mask[-1, 0, 0], mask[-1, -1, 0]]
            corners += sum(v == 2 for v in corner_values)
            total += 4
    assert corners / total > 0.85, f"only {corners}/{total} mask corners are background (2)"


def test_the_private_part_is_the_rest_of_the_test_list_and_the_graders_alone(
    sample_data_dir: Path, shared_sample: Path
) -> None:
    hidden = data.private_part(sample_data_dir)
    assert hidden == private.private_dir(sample_data_dir) and stat.S_IMODE(hidden.stat().st_mode) == 0o700
    visible = {ex["file_name"].decode() for ex in _load(sample_data_dir, "test")}
    kept = {ex["file_name"].decode() for ex in _load(hidden, "test")}
    listed = {
        f"{line.split()[0]}.jpg"
        for line in (shared_sample / "annotations" / "test.txt").read_text().split("\n")
        if line
    }
    assert visible.isdisjoint(kept) and visible | kept == listed


def test_real_sample_quirks_are_repaired(sample_data_dir: Path) -> None:
    hidden = private.private_dir(sample_data_dir)
    test = {ex["file_name"].decode(): ex for split in (sample_data_dir, hidden) for ex in _load(split, "test")}
    assert test["Abyssinian_5.jpg"]["image"].shape[2] == 3, "the PNG with alpha must come out as 3-channel JPEG"
    train = {ex["file_name"].decode() for ex in _load(sample_data_dir, "train")}
    assert "Abyssinian_34.jpg" not in train | set(test), "the GIF is in neither list"


def test_synthetic_counts_and_spec_match_real(synthetic_data_dir: Path, sample_data_dir: Path) -> None:
    assert data.split_sizes(synthetic_data_dir) == {"train": synthetic.TRAIN_COUNT, "test": synthetic.TEST_COUNT}
    assert data.split_sizes(data.private_part(synthetic_data_dir))["test"] == synthetic.PRIVATE_COUNT
    synthetic_info = tfds.builder("oxford_iiit_pet", data_dir=str(synthetic_data_dir)).info
    real_info = tfds.builder("oxford_iiit_pet", data_dir=str(sample_data_dir)).info
    assert repr(synthetic_info.features) == repr(real_info.features)
    assert synthetic_info.version == real_info.version


def test_synthetic_examples_look_like_the_real_ones(synthetic_data_dir: Path) -> None:
    examples = _load(synthetic_data_dir, "train[:40]")
    sizes = {ex["image"].shape[:2] for ex in examples}
    assert len(sizes) > 30 and min(min(s) for s in sizes) >= 150 and max(max(s) for s in sizes) <= 600
    for example in examples:
        mask = example["segmentation_mask"]
        assert set(np.unique(mask)) == {1, 2, 3}
        assert mask[0, 0, 0] == 2
    quirky = {ex["file_name"].decode(): ex for ex in _load(synthetic_data_dir, "test")}[
        f"{synthetic.ALPHA_PNG_NAME}.jpg"
    ]
    assert quirky["image"].shape[2] == 3


def test_synthetic_private_examples_are_drawn_afresh(
    tmp_path: Path, synthetic_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each preparation draws other private examples (a secret seed), none of them among the visible ones; it leaves
    nothing in the temporary directory (tfds makes a folder there each time it looks for a dataset's metadata)."""
    other = tmp_path / "tfds"
    (tmp_path / "temporary").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    data.prepare(other, None)
    assert not list((tmp_path / "temporary").iterdir()), "left in the temporary directory"
    visible = {ex["image"].tobytes() for ex in _load(synthetic_data_dir, "test")}
    first, second = (
        {ex["image"].tobytes() for ex in _load(data.private_part(d), "test")} for d in (synthetic_data_dir, other)
    )
    assert first.isdisjoint(second) and first.isdisjoint(visible) and len(first) == synthetic.PRIVATE_COUNT
    assert {ex["image"].tobytes() for ex in _load(other, "test")} == visible, "the visible part stays the same"
    assert data.read_stamp(other)["edition"] != data.read_stamp(synthetic_data_dir)["edition"]


def test_second_run_does_no_work_and_changed_source_rebuilds(tmp_path: Path, shared_sample: Path) -> None:
    names = ["Abyssinian_101", "Abyssinian_103", "Abyssinian_102", "Bengal_100"]
    source = _copy_subset(shared_sample, tmp_path / "src", names)
    target = tmp_path / "tfds"
    assert data.prepare(target, source)[1] is True
    assert data.prepare(target, source)[1] is False
    shutil.copy(shared_sample / "images" / "Bengal_101.jpg", source / "images")
    shutil.copy(shared_sample / "annotations" / "trimaps" / "Bengal_101.png", source / "annotations" / "trimaps")
    with (source / "annotations" / "trainval.txt").open("a") as handle:
        handle.write("Bengal_101 6 1 6\n")
    assert data.prepare(target, source)[1] is True
    assert data.split_sizes(target) == {"train": 3, "test": 1}
    shutil.rmtree(private.private_dir(target) / "oxford_iiit_pet")
    assert data.prepare(target, source)[1] is True, "a lost private part is made again"
    data.private_part(target)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match="does not exist"):
        data.prepare(tmp_path / "tfds", tmp_path / "nowhere")


def test_a_test_list_too_short_to_keep_a_private_part_is_a_clear_error(tmp_path: Path, shared_sample: Path) -> None:
    source = _copy_subset(shared_sample, tmp_path / "src", ["Abyssinian_101", "Abyssinian_102", "Bengal_100"])
    (source / "annotations" / "test.txt").write_text("Bengal_100 6 1 6\n")
    with pytest.raises(data.DataError, match="at least two"):
        data.prepare(tmp_path / "tfds", source)


def test_listed_image_without_trimap_is_a_clear_error(tmp_path: Path, shared_sample: Path) -> None:
    source = _copy_subset(shared_sample, tmp_path / "src", ["Abyssinian_101", "Abyssinian_103", "Abyssinian_102"])
    (source / "annotations" / "trimaps" / "Abyssinian_102.png").unlink()
    with pytest.raises(data.DataError, match=r"1 listed examples .* have no trimap.*Abyssinian_102"):
        data.prepare(tmp_path / "tfds", source)
    assert not (tmp_path / "tfds" / "oxford_iiit_pet").exists()


def _archives(tmp_path: Path, compress: bool) -> tuple[Path, dict[str, tuple[int, str]]]:
    """Archives in the official layout built from a tiny synthetic set, with their checksums."""
    synthetic.write(tmp_path / "tree", train_count=6, test_count=3)
    folder = tmp_path / "archives"
    folder.mkdir()
    for key, name in data.ARCHIVES.items():
        with tarfile.open(
            folder / name, "w:gz" if compress else "w"
        ) as tar:  # the real ones are plain tar named .tar.gz
            tar.add(tmp_path / "tree" / key, arcname=key)
    sums = {
        key: ((folder / name).stat().st_size, hashlib.sha256((folder / name).read_bytes()).hexdigest())
        for key, name in data.ARCHIVES.items()
    }
    return folder, sums


@pytest.mark.parametrize("compress", [True, False])
def test_archives_are_verified_and_extracted(tmp_path: Path, compress: bool) -> None:
    folder, sums = _archives(tmp_path, compress)
    source, worked = data.prepare(tmp_path / "tfds", folder, checksums=sums)
    assert worked and source.kind == "archives"
    visible, hidden = data.split_sizes(tmp_path / "tfds"), data.split_sizes(data.private_part(tmp_path / "tfds"))
    assert visible["train"] == 6 and visible["test"] + hidden["test"] == 3 and visible["test"] and hidden["test"]


def test_checksum_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    folder, _ = _archives(tmp_path, True)
    with pytest.raises(data.DataError, match="does not match the official archive"):
        data.prepare(tmp_path / "tfds", folder)  # the checksums tfds ships for the real archives
    assert not (tmp_path / "tfds" / "oxford_iiit_pet").exists()


def test_truncated_archive_is_a_clear_error(tmp_path: Path) -> None:
    folder, sums = _archives(tmp_path, True)
    images = folder / data.ARCHIVES["images"]
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    sums["images"] = (images.stat().st_size, hashlib.sha256(images.read_bytes()).hexdigest())
    with pytest.raises(data.DataError, match="could not extract"):
        data.prepare(tmp_path / "tfds", folder, checksums=sums)
    assert data.read_stamp(tmp_path / "tfds") is None


def test_make_data_prints_dir_source_and_counts(
    tmp_path: Path, shared_sample: Path, capsys: pytest.CaptureFixture
) -> None:
    source = _copy_subset(shared_sample, tmp_path / "src", ["Abyssinian_101", "Abyssinian_103", "Abyssinian_102"])
    assert data.main(["--source", str(source), "--data-dir", str(tmp_path / "tfds")]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "tfds") in printed and "extracted" in printed and "train 1, test 1" in printed
    assert f"private:  1 test examples in {tmp_path / 'tfds.private'}" in printed
    assert data.main(["--source", str(tmp_path / "missing"), "--data-dir", str(tmp_path / "tfds")]) == 2


def test_failed_rebuild_keeps_the_previous_dataset(tmp_path: Path, shared_sample: Path) -> None:
    target = tmp_path / "tfds"
    names = ["Abyssinian_101", "Abyssinian_103", "Abyssinian_102"]
    data.prepare(target, _copy_subset(shared_sample, tmp_path / "src", names))
    folder, sums = _archives(tmp_path, True)
    images = folder / data.ARCHIVES["images"]
    images.write_bytes(images.read_bytes()[:1000])
    sums["images"] = (images.stat().st_size, hashlib.sha256(images.read_bytes()).hexdigest())
    with pytest.raises(data.DataError, match="could not extract"):
        data.prepare(target, folder, checksums=sums)
    assert data.split_sizes(target) == {"train": 1, "test": 1} and data.read_stamp(target)["kind"] == "extracted"
    assert [p.name for p in target.iterdir()] == ["oxford_iiit_pet"], "no staging folder is left behind"
    assert [p.name for p in private.private_dir(target).iterdir()] == ["oxford_iiit_pet"]
    data.private_part(target)


def test_the_full_profile_refuses_the_synthetic_set_the_data_tool_made(
    tmp_path: Path, synthetic_data_dir: Path
) -> None:
    """`make grade` and `make slurm` under full, on what `python -m assignment.data` made without a source: refused
    before any notebook runs or any script is written (make gradescope: tests/fast/test_real_data.py)."""
    found = rundata.resolve(PROFILES["smoke"], {"TFDS_DATA_DIR": str(synthetic_data_dir)})
    counts = {"train": synthetic.TRAIN_COUNT, "test": synthetic.TEST_COUNT, "private test": synthetic.PRIVATE_COUNT}
    assert (found.label, found.sizes) == ("synthetic", counts)
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "subs").mkdir()
    shutil.copy(root / "solution" / "tiny_unet" / "tiny_unet.ipynb", tmp_path / "subs")
    env = {**os.environ, "TFDS_DATA_DIR": str(synthetic_data_dir)}
    for module in ("autograder.grade", "autograder.engines.slurm"):
        command = [
            sys.executable,
            "-m",
            module,
            str(tmp_path / "subs"),
            "--profile",
            "full",
            "--out",
            str(tmp_path / "out"),
        ]
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 2 and "synthetic" in done.stderr and str(synthetic_data_dir) in done.stderr, (
            done.stderr
        )
        assert "make data DATA_SRC=" in done.stderr and not (tmp_path / "out").exists()


def test_large_data_keeps_the_private_part_alone_for_the_measuring(tmp_path: Path, synthetic_data_dir: Path) -> None:
    """Splits too large to hand to every measuring process (full's, scaled down here by the limits): the grader's
    reference holds the private part alone, as many examples as its limit takes, and the measuring computes the
    visible splits from the data itself but still evaluates on the private examples."""
    from autograder import splits
    from autograder.measuring import training

    profile = PROFILES["smoke"]
    per_example = profile.parameters.img_size**2 * training.BYTES_PER_PIXEL
    examples, target = splits._compute(profile, synthetic_data_dir, tmp_path, (per_example, 30 * per_example))
    assert examples["private"] == 30 and target is not None
    with np.load(target) as saved:
        assert sorted(saved.files) == ["private_images", "private_masks", "private_trimaps"]
        assert saved["private_images"].shape[0] == 30
    job = {"folder": str(tmp_path), "data_dir": str(synthetic_data_dir), "img_size": profile.parameters.img_size}
    job |= {"train_split": profile.parameters.train_split, "test_split": profile.parameters.test_split}
    measured = training.reference_data(job)
    assert measured["private_images"].shape[0] == 30 and measured["test_images"].shape[0] == 100
    assert measured["train_images"].shape[0] == 200
