"""Prepare `oxford_iiit_pet` for the unchanged `tfds.load` without touching the network.

tfds's own builder does all the work (features, splits, file names, repair of corrupt
images); only its download step is answered from local files:

* a folder holding the official archives `images.tar.gz` and `annotations.tar.gz`
  (verified against the checksums tfds ships),
* a folder in the official extracted layout (`images/`, `annotations/...`),
* nothing: a synthetic set generated on the fly (see `assignment.synthetic`).

Each source is prepared in two parts: what the notebook reads (the training split and the visible part of the
test split) in the data dir, and the grader's private evaluation examples beside it (`assignment.private`).

Run as `make data [DATA_SRC=<dir>]` or `python -m assignment.data [--source DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from assignment import private, synthetic
from assignment.sources import ARCHIVES, DATASET, DataError, Source, find_source, official_checksums, verify_archives

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "tfds"
SHARED_SAMPLE = (Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "oxford_pets_sample").resolve()
STAMP = "kit_source.json"


def data_dir_from_env() -> Path:
    """The TFDS data dir: `TFDS_DATA_DIR` when set, else the kit's `data/tfds/`."""
    return Path(os.environ.get("TFDS_DATA_DIR") or DEFAULT_DATA_DIR)


@contextmanager
def _local_download(answer: dict[str, Path]) -> Iterator[None]:
    """Answer the builder's `download_and_extract` from local folders."""
    import tensorflow_datasets as tfds

    def download_and_extract(manager, urls):
        return {key: answer[key] for key in urls}

    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", download_and_extract):
        yield


def dataset_dir(data_dir: Path) -> Path:
    import tensorflow_datasets as tfds

    return data_dir / DATASET / str(tfds.builder_cls(DATASET).VERSION)


def is_prepared(data_dir: Path) -> bool:
    """Whether `data_dir` holds a complete dataset (from this tool or from an online tfds download)."""
    return (dataset_dir(data_dir) / "dataset_info.json").is_file()


def read_stamp(data_dir: Path) -> dict | None:
    stamp = dataset_dir(data_dir) / STAMP
    return json.loads(stamp.read_text()) if stamp.is_file() else None


def _unpacked(source: Source, scratch: Path, checksums: dict[str, tuple[int, str]] | None) -> dict[str, Path]:
    """The folders that hold `images/` and `annotations/`: the source itself, or its archives extracted."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download.extractor import ExtractError

    if source.kind == "extracted":
        return {"images": source.path, "annotations": source.path}
    verify_archives(source.path, checksums or official_checksums())
    manager = tfds.download.DownloadManager(download_dir=str(scratch / "downloads"))
    try:
        extracted = manager.extract({key: source.path / name for key, name in ARCHIVES.items()})
    except (ExtractError, tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"could not extract the archives in {source.path}: {error}. Download them again.") from error
    return {key: Path(folder) for key, folder in extracted.items()}


def _build_part(data_dir: Path, answer: dict[str, Path], scratch: Path) -> None:
    """Run tfds's builder into `data_dir` with its download step answered by `answer`."""
    import tensorflow_datasets as tfds

    config = tfds.download.DownloadConfig(download_mode=tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS)
    builder = tfds.builder(DATASET, data_dir=str(data_dir))
    with _local_download(answer):
        builder.download_and_prepare(download_dir=str(scratch / "downloads"), download_config=config)


def _answers(
    source: Source, scratch: Path, checksums: dict[str, tuple[int, str]] | None
) -> tuple[dict[str, Path], dict[str, Path], dict[str, int]]:
    """The download answers of the visible part and of the private part, and what the private part's stamp records
    besides the source. A real test list is cut in two (`private.test_lines`); synthetic data keeps its own test
    list visible and gets private examples drawn from a secret seed. tfds writes no empty split, so the private
    part's train split holds its first example (the grader reads its test split alone)."""
    lists = scratch / "lists"
    if source.kind == "synthetic":
        seed = secrets.randbits(63)
        synthetic.write(scratch / "visible")
        synthetic.write(scratch / "hidden", 0, synthetic.PRIVATE_COUNT, seed)
        hidden = (scratch / "hidden" / "annotations" / "test.txt").read_text().splitlines()
        hidden_lists = private.write_lists(scratch / "hidden" / "annotations", lists / "hidden", hidden[:1], hidden)
        visible = {"images": scratch / "visible", "annotations": scratch / "visible"}
        return visible, {"images": scratch / "hidden", "annotations": hidden_lists}, {"seed": seed}
    roots = _unpacked(source, scratch, checksums)
    annotations = roots["annotations"] / "annotations"
    try:
        trainval, test, hidden = private.test_lines(annotations)
    except private.PrivateError as error:
        raise DataError(f"{source.describe()}: {error}") from error
    visible = {
        "images": roots["images"],
        "annotations": private.write_lists(annotations, lists / "visible", trainval, test),
    }
    return (
        visible,
        {
            "images": roots["images"],
            "annotations": private.write_lists(annotations, lists / "hidden", hidden[:1], hidden),
        },
        {},
    )


def _build(
    data_dir: Path, hidden_dir: Path, source: Source, checksums: dict[str, tuple[int, str]] | None
) -> dict[str, int]:
    """Build the visible part into `data_dir` and the private part into `hidden_dir`; return what the private part's
    stamp records besides the source."""
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="tiny-unet-data-") as scratch:  # mode 0700: no other user reads it
        visible, hidden, recorded = _answers(source, Path(scratch), checksums)
        saved, tempfile.tempdir = tempfile.tempdir, scratch  # tfds's empty folder for GCS metadata: in the scratch
        try:
            _build_part(data_dir, visible, Path(scratch))
            _build_part(hidden_dir, hidden, Path(scratch))
        finally:
            tempfile.tempdir = saved
    return recorded


def prepare(
    data_dir: Path, source_path: Path | None, checksums: dict[str, tuple[int, str]] | None = None
) -> tuple[Source, bool]:
    """Make `tfds.load(DATASET, data_dir=data_dir)` work offline, with the private part beside it; return the
    source and whether work was done."""
    source = find_source(source_path)
    target = dataset_dir(data_dir)
    hidden = private.private_dir(data_dir)
    stamp = read_stamp(data_dir)
    if stamp and stamp.get("fingerprint") == source.fingerprint and _private_stamp(data_dir, stamp) is not None:
        return source, False
    if target.exists() and stamp is None:
        raise DataError(
            f"{target} holds a dataset that this tool did not prepare (an online tfds download?). "
            "It is usable as it is; delete that folder first to replace it."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    hidden.mkdir(mode=0o700, exist_ok=True)
    _close(hidden)
    # the old dataset stays until the new one is complete
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=data_dir))
    hidden_staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=hidden))
    try:
        recorded = _build(staging, hidden_staging, source, checksums)
        written = {"kind": source.kind, "path": str(source.path or ""), "fingerprint": source.fingerprint}
        written["edition"] = secrets.token_hex(8)  # ties the two parts together; changes whenever they are made
        (dataset_dir(hidden_staging) / STAMP).write_text(json.dumps({**written, **recorded}))
        (dataset_dir(staging) / STAMP).write_text(json.dumps(written))
        for built, place in ((hidden_staging, dataset_dir(hidden)), (staging, target)):  # private part first
            if place.exists():
                shutil.rmtree(place)
            place.parent.mkdir(parents=True, exist_ok=True)
            dataset_dir(built).rename(place)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(hidden_staging, ignore_errors=True)
    return source, True


def _close(folder: Path) -> None:
    try:
        private.close(folder)
    except private.PrivateError as error:
        raise DataError(str(error)) from error


def _private_stamp(data_dir: Path, stamp: dict) -> dict | None:
    """The private part's stamp when it was made with the visible part in `data_dir` (same edition), else None."""
    hidden = private.private_dir(data_dir)
    found = read_stamp(hidden) if hidden.is_dir() else None
    return found if found and stamp.get("edition") and found.get("edition") == stamp["edition"] else None


def private_part(data_dir: Path) -> Path:
    """The data dir of `data_dir`'s private part: checked to be made with it, and closed to everyone but the
    grader (DataError says what to do otherwise)."""
    stamp = read_stamp(data_dir)
    if stamp is None or _private_stamp(data_dir, stamp) is None:
        source = f" DATA_SRC={stamp['path']}" if stamp and stamp.get("path") else ""
        raise DataError(
            f"{data_dir} has no private evaluation part made with it (prepared outside the kit, by an older kit, or "
            f"half made), and the grader measures the final IoU on that part: run `TFDS_DATA_DIR={data_dir} make "
            f"data{source}` (or `make data` with the official archives)."
        )
    hidden = private.private_dir(data_dir)
    _close(hidden)
    return hidden


def split_sizes(data_dir: Path) -> dict[str, int]:
    import tensorflow_datasets as tfds

    info = tfds.builder(DATASET, data_dir=str(data_dir)).info
    return {name: split.num_examples for name, split in info.splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", type=Path, default=None, help="official archives or extracted folder (default: synthetic)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="TFDS data dir (default: $TFDS_DATA_DIR or data/tfds)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    data_dir = (args.data_dir or data_dir_from_env()).resolve()
    try:
        source, worked = prepare(data_dir, args.source)
    except DataError as error:
        print(f"make data: error: {error}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{name} {count}" for name, count in sorted(split_sizes(data_dir).items(), reverse=True))
    hidden = private.private_dir(data_dir)
    print(f"data dir: {data_dir}")
    print(f"source:   {source.describe()}{'' if worked else ' (already prepared, nothing to do)'}")
    print(f"examples: {sizes}")
    print(f"private:  {split_sizes(hidden)['test']} test examples in {hidden} (the grader's alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
