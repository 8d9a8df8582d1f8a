"""Where the dataset comes from: the official archives (checked against the checksums tfds ships), a folder in the
official extracted layout (checked for every listed file), or nothing (synthetic data); and a fingerprint of each
that changes when its content does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from assignment import private, synthetic

DATASET = "oxford_iiit_pet"
ARCHIVES = {"images": "images.tar.gz", "annotations": "annotations.tar.gz"}


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


def _file_digest(paths: list[Path]) -> str:
    """A cheap fingerprint of files: names, sizes and modification times."""
    h = hashlib.sha256()
    for p in sorted(paths):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _listed_names(annotations: Path) -> list[str]:
    """The names trainval.txt and test.txt list, checked line by line; the test list must allow a private part."""
    listed: dict[str, list[str]] = {}
    for list_file in ("trainval.txt", "test.txt"):
        lines = [
            (n, line) for n, line in enumerate((annotations / list_file).read_text().splitlines(), 1) if line.strip()
        ]
        if not lines:
            raise DataError(f"{annotations / list_file} lists no images; each split needs at least one.")
        for number, line in lines:
            if len(line.split()) != 4:
                raise DataError(
                    f"{annotations / list_file}:{number}: expected '<name> <class> <species> <breed>', got {line!r}"
                )
        listed[list_file] = [line.split()[0] for _, line in lines]
    try:
        private.split_test(listed["test.txt"])
    except private.PrivateError as error:
        raise DataError(f"{annotations / 'test.txt'}: {error}") from error
    return listed["trainval.txt"] + listed["test.txt"]


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
        counts = f"{synthetic.TRAIN_COUNT}:{synthetic.TEST_COUNT}:{synthetic.PRIVATE_COUNT}"
        return Source("synthetic", None, f"synthetic:{counts}:{synthetic.SEED}:{synthetic.VERSION}")
    path = path.resolve()
    if not path.is_dir():
        raise DataError(f"DATA_SRC={path} does not exist or is not a folder.")
    archives = [path / name for name in ARCHIVES.values()]
    cut = f"private share {private.PRIVATE_SHARE}:"
    if all(a.is_file() for a in archives):
        return Source("archives", path, f"archives:{cut}" + _file_digest(archives))
    names = check_extracted(path)
    files = [path / "annotations" / f for f in ("trainval.txt", "test.txt")]
    files += [path / "images" / f"{n}.jpg" for n in names] + [
        path / "annotations" / "trimaps" / f"{n}.png" for n in names
    ]
    return Source("extracted", path, f"extracted:{path}:{cut}" + _file_digest(files))


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
