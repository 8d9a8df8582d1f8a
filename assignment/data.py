"""Prepare `oxford_iiit_pet` for the unchanged `tfds.load` without touching the network.

tfds's own builder does all the work (features, splits, file names, repair of corrupt
images); only its download step is answered from local files:

* a folder holding the official archives `images.tar.gz` and `annotations.tar.gz`
  (verified against the checksums tfds ships),
* a folder in the official extracted layout (`images/`, `annotations/...`),
* nothing: a synthetic set generated on the fly (see `assignment.synthetic`).

Run as `make data [DATA_SRC=<dir>]` or `python -m assignment.data [--source DIR]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from assignment import synthetic

DATASET = "oxford_iiit_pet"
ARCHIVES = {"images": "images.tar.gz", "annotations": "annotations.tar.gz"}
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "tfds"
SHARED_SAMPLE = (Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "oxford_pets_sample").resolve()
STAMP = "kit_source.json"


class DataError(Exception):
    """Bad input for the data tool; the message says what to do."""


@dataclass(frozen=True)
class Source:
    """Where the dataset comes from, and a fingerprint that changes when its content does."""

    kind: str  # "archives", "extracted" or "synthetic"
    path: Path | None
    fingerprint: str

    def describe(self) -> str:
        return self.kind if self.path is None else f"{self.kind} ({self.path})"


def data_dir_from_env() -> Path:
    """The TFDS data dir: `TFDS_DATA_DIR` when set, else the kit's `data/tfds/`."""
    return Path(os.environ.get("TFDS_DATA_DIR") or DEFAULT_DATA_DIR)


def _file_digest(paths: list[Path]) -> str:
    """A cheap fingerprint of files: names, sizes and modification times."""
    h = hashlib.sha256()
    for p in sorted(paths):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _listed_names(annotations: Path) -> list[str]:
    names = []
    for list_file in ("trainval.txt", "test.txt"):
        lines = [
            (n, line) for n, line in enumerate((annotations / list_file).read_text().splitlines(), 1) if line.strip()
        ]
        if not lines:
            raise DataError(f"{annotations / list_file} lists no images; each split needs at least one.")
        for number, line in lines:
            fields = line.split()
            if len(fields) != 4:
                raise DataError(
                    f"{annotations / list_file}:{number}: expected '<name> <class> <species> <breed>', got {line!r}"
                )
            names.append(fields[0])
    return names


def check_extracted(root: Path) -> list[str]:
    """Validate the official extracted layout under `root`; return the listed names."""
    required = ["images", "annotations/trimaps", "annotations/trainval.txt", "annotations/test.txt"]
    missing = [r for r in required if not (root / r).exists()]
    if missing:
        raise DataError(
            f"{root} is not in the official Oxford-IIIT Pet layout: missing {', '.join(missing)}. "
            "Point DATA_SRC at the folder that holds images/ and annotations/ "
            "(or at the two official .tar.gz archives)."
        )
    names = _listed_names(root / "annotations")
    no_image = [n for n in names if not (root / "images" / f"{n}.jpg").is_file()]
    no_trimap = [n for n in names if not (root / "annotations" / "trimaps" / f"{n}.png").is_file()]
    for what, bad in (("image (images/<name>.jpg)", no_image), ("trimap (annotations/trimaps/<name>.png)", no_trimap)):
        if bad:
            raise DataError(
                f"{len(bad)} listed examples in {root} have no {what}, e.g. {', '.join(bad[:5])}. "
                "Restore those files or remove their lines from annotations/trainval.txt and test.txt."
            )
    return names


def find_source(path: Path | None) -> Source:
    """Classify DATA_SRC (or its absence) and fingerprint it."""
    if path is None:
        return Source(
            "synthetic", None, f"synthetic:{synthetic.TRAIN_COUNT}:{synthetic.TEST_COUNT}:{synthetic.SEED}:v1"
        )
    path = path.resolve()
    if not path.is_dir():
        raise DataError(f"DATA_SRC={path} does not exist or is not a folder.")
    archives = [path / name for name in ARCHIVES.values()]
    if all(a.is_file() for a in archives):
        return Source("archives", path, "archives:" + _file_digest(archives))
    names = check_extracted(path)
    files = [path / "annotations" / f for f in ("trainval.txt", "test.txt")]
    files += [path / "images" / f"{n}.jpg" for n in names] + [
        path / "annotations" / "trimaps" / f"{n}.png" for n in names
    ]
    return Source("extracted", path, f"extracted:{path}:" + _file_digest(files))


def official_checksums() -> dict[str, tuple[int, str]]:
    """The archive sizes and sha256 sums that tfds ships for this dataset, keyed by key in ARCHIVES."""
    import tensorflow_datasets as tfds

    infos = tfds.builder_cls(DATASET).url_infos or {}
    by_file = {url.rsplit("/", 1)[-1]: (int(info.size), info.checksum) for url, info in infos.items()}
    return {key: by_file[name] for key, name in ARCHIVES.items()}


def verify_archives(root: Path, checksums: dict[str, tuple[int, str]]) -> None:
    """Compare each archive's size and sha256 with the expected ones."""
    for key, name in ARCHIVES.items():
        archive = root / name
        size, expected = checksums[key]
        digest = hashlib.sha256()
        with archive.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        actual_size = archive.stat().st_size
        if digest.hexdigest() != expected:
            raise DataError(
                f"{archive} does not match the official archive: size {actual_size} bytes, sha256 "
                f"{digest.hexdigest()}; expected {size} bytes, sha256 {expected}. "
                "The file is truncated, damaged or a different release: download it again."
            )


@contextmanager
def _local_download(answer: dict[str, Path] | None, extract: dict[str, Path] | None) -> Iterator[None]:
    """Answer the builder's `download_and_extract` from local folders, or by extracting local archives."""
    import tensorflow_datasets as tfds

    def download_and_extract(manager, urls):
        if extract is not None:
            return manager.extract({key: extract[key] for key in urls})
        return {key: answer[key] for key in urls}

    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", download_and_extract):
        yield


def _dataset_dir(data_dir: Path) -> Path:
    import tensorflow_datasets as tfds

    return data_dir / DATASET / str(tfds.builder_cls(DATASET).VERSION)


def is_prepared(data_dir: Path) -> bool:
    """Whether `data_dir` holds a complete dataset (from this tool or from an online tfds download)."""
    return (_dataset_dir(data_dir) / "dataset_info.json").is_file()


def read_stamp(data_dir: Path) -> dict | None:
    stamp = _dataset_dir(data_dir) / STAMP
    return json.loads(stamp.read_text()) if stamp.is_file() else None


def _build(data_dir: Path, source: Source, checksums: dict[str, tuple[int, str]] | None) -> None:
    """Run tfds's builder with its download step answered locally."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download.extractor import ExtractError

    tfds.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="tiny-unet-data-") as scratch:
        scratch_dir = Path(scratch)
        if source.kind == "synthetic":
            synthetic.write(scratch_dir / "src")
            answer = {"images": scratch_dir / "src", "annotations": scratch_dir / "src"}
            extract = None
        elif source.kind == "extracted":
            answer = {"images": source.path, "annotations": source.path}
            extract = None
        else:
            verify_archives(source.path, checksums or official_checksums())
            answer = None
            extract = {key: source.path / name for key, name in ARCHIVES.items()}
        config = tfds.download.DownloadConfig(download_mode=tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS)
        builder = tfds.builder(DATASET, data_dir=str(data_dir))
        try:
            with _local_download(answer, extract):
                builder.download_and_prepare(download_dir=str(scratch_dir / "downloads"), download_config=config)
        except (ExtractError, tarfile.TarError, EOFError, OSError) as error:
            if source.kind == "archives":
                raise DataError(
                    f"could not extract the archives in {source.path}: {error}. Download them again."
                ) from error
            raise


def prepare(
    data_dir: Path, source_path: Path | None, checksums: dict[str, tuple[int, str]] | None = None
) -> tuple[Source, bool]:
    """Make `tfds.load(DATASET, data_dir=data_dir)` work offline; return the source and whether work was done."""
    source = find_source(source_path)
    target = _dataset_dir(data_dir)
    stamp = read_stamp(data_dir)
    if stamp and stamp.get("fingerprint") == source.fingerprint:
        return source, False
    if target.exists() and stamp is None:
        raise DataError(
            f"{target} holds a dataset that this tool did not prepare (an online tfds download?). "
            "It is usable as it is; delete that folder first to replace it."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=".staging-", dir=data_dir)
    )  # the old dataset stays until the new one is complete
    try:
        _build(staging, source, checksums)
        built = _dataset_dir(staging)
        (built / STAMP).write_text(
            json.dumps({"kind": source.kind, "path": str(source.path or ""), "fingerprint": source.fingerprint})
        )
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        built.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return source, True


@dataclass(frozen=True)
class RunData:
    """The TFDS data dir a run uses, where it came from, and its kind ("real" or "synthetic")."""

    path: Path
    origin: str
    kind: str


def resolve(wants_sample: bool, environ: dict[str, str]) -> RunData:
    """The data for a grading run, prepared if needed.

    `TFDS_DATA_DIR` in the environment wins. Otherwise the run uses the kit's `data/tfds/`: as
    `make data` left it, except that a profile that wants the real sample replaces synthetic
    data with the sample from ../shared when that is there; an empty dir gets synthetic data.
    """
    if environ.get("TFDS_DATA_DIR"):
        path = Path(environ["TFDS_DATA_DIR"]).resolve()
        origin = f"TFDS_DATA_DIR={path}"
    else:
        path = DEFAULT_DATA_DIR
        origin = f"{DEFAULT_DATA_DIR}"
        stamp = read_stamp(path)
        prepared = is_prepared(path)
        if wants_sample and SHARED_SAMPLE.is_dir() and (not prepared or (stamp and stamp["kind"] == "synthetic")):
            prepare(path, SHARED_SAMPLE)
        elif not prepared:
            prepare(path, None)
    stamp = read_stamp(path)
    kind = "synthetic" if stamp and stamp["kind"] == "synthetic" else "real"
    source = f"{stamp['kind']} {stamp['path']}".strip() if stamp else "prepared outside the kit"
    return RunData(path, f"{origin} ({source})", kind)


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
    print(f"data dir: {data_dir}")
    print(f"source:   {source.describe()}{'' if worked else ' (already prepared, nothing to do)'}")
    print(f"examples: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
