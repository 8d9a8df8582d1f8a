"""Gradescope: build `autograder.zip` (`make gradescope`) and grade the one submission in it (`run_autograder`).

    python -m autograder.engines.gradescope build --profile smoke|ci [--data-src DIR] [--visibility V] [--zip PATH]
    python -m autograder.engines.gradescope run [--root /autograder] [--sandbox auto]
    python -m autograder.engines.gradescope warm      (setup.sh: the reference splits into the kit's cache)

The zip holds `setup.sh` and `run_autograder` at its root, the kit modules the grader imports, the
release notebook (locked cells are checked against it), the pinned requirements and tfds data
prepared for it alone, with its private part (`data/tfds.private/`, closed to the sandboxes' users before any
grading). In Gradescope's container it is unpacked to `/autograder/source`; the
student's files are in `/autograder/submission`, the results go to `/autograder/results/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from assignment import data, rundata
from assignment.private import private_dir
from assignment.profiles import PROFILES, Profile
from autograder import backends, report, splits
from autograder.measuring.files import Refused, read
from autograder.results import Outcome, cap
from autograder.submission import discover_one

KIT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
SHARED = data.SHARED_SAMPLE.parent.parent
DEFAULT_ZIP = KIT / "build" / "gradescope" / "autograder.zip"
CONFIG = "gradescope.json"
DATA = "data/tfds"
PRIVATE_DATA = private_dir(Path(DATA)).as_posix()
RELEASE = "release/tiny_unet/tiny_unet.ipynb"
PACKAGES = ("assignment", "autograder")
STUDENT = "submission"
VISIBILITIES = ("visible", "after_published")
STAMP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed entry times: the same inputs give the same zip
METADATA = "submission_metadata.json"  # what Gradescope says of the submission, beside submission/
METADATA_LIMIT = 1 << 20  # bytes of it read
NAME_LIMIT = 120  # characters of the names a page is titled with


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, STAMP_TIME)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def contents(profile: Profile, data_dir: Path, visibility: str) -> dict[str, tuple[bytes | Path, int]]:
    """Zip entry name -> (content or file, mode): an allow-list, never the kit's .venv, .git, build/ or tests."""
    stamp = data.read_stamp(data_dir)
    if not data.is_prepared(data_dir) or stamp is None:
        raise ValueError(f"{data_dir} holds no dataset prepared by the kit's data tool")
    config = {
        "profile": profile.name,
        "visibility": visibility,
        "data": {"kind": stamp["kind"], "fingerprint": stamp["fingerprint"]},
    }
    entries: dict[str, tuple[bytes | Path, int]] = {
        "setup.sh": (TEMPLATES / "setup.sh", 0o755),
        "run_autograder": (TEMPLATES / "run_autograder", 0o755),
        "requirements.txt": (KIT / "requirements.txt", 0o644),
        CONFIG: (json.dumps(config, indent=1).encode(), 0o644),
        RELEASE: (KIT / RELEASE, 0o644),
    }
    for package in PACKAGES:
        for path in sorted((KIT / package).rglob("*.py")):
            entries[path.relative_to(KIT).as_posix()] = (path, 0o644)
    curves = KIT / "assignment" / "reference_curves.json"  # the solution's curves, drawn beside the student's
    entries[curves.relative_to(KIT).as_posix()] = (curves, 0o644)
    for path in sorted((data_dir / data.DATASET).rglob("*")):
        if path.is_file():
            entries[f"{DATA}/{path.relative_to(data_dir).as_posix()}"] = (path, 0o644)
    hidden = data.private_part(data_dir)
    for path in sorted((hidden / data.DATASET).rglob("*")):
        if path.is_file():
            entries[f"{PRIVATE_DATA}/{path.relative_to(hidden).as_posix()}"] = (path, 0o600)
    return entries


def build(profile: Profile, data_dir: Path, zip_path: Path, visibility: str) -> list[str]:
    """Write the zip; return its entry names."""
    entries = contents(profile, data_dir, visibility)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    partial = zip_path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, (content, mode) in entries.items():
            archive.writestr(_entry(name, mode), content if isinstance(content, bytes) else content.read_bytes())
    partial.replace(zip_path)
    return list(entries)


def _readable(tree: Path) -> None:
    """Sandboxed users read the data; unpacking may have dropped the permission bits."""
    for folder, dirs, files in os.walk(tree):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            path.chmod(path.stat().st_mode | (0o005 if path.is_dir() else 0o004))
    tree.chmod(tree.stat().st_mode | 0o005)


def submitters(root: Path) -> str:
    """Who handed the submission in, from Gradescope's `root`/submission_metadata.json (`users[].name`, a group's
    names joined), or "" when it is absent or not in that shape. A file of the submission's environment: read with a
    size bound, never following a link, and whatever it holds is only ever shown as text."""
    try:
        users = json.loads(read(root / METADATA, METADATA_LIMIT)).get("users")
    except (Refused, ValueError, AttributeError):
        return ""
    if not isinstance(users, list):
        return ""
    names = [user.get("name") for user in users[:20] if isinstance(user, dict)]
    return cap(", ".join(name.strip() for name in names if isinstance(name, str) and name.strip()), NAME_LIMIT)


def _not_graded(problem: str, diagnostics: str, name: str) -> dict:
    """results.json for a submission the grader could not grade (Gradescope still shows why)."""
    return report.results_json(Outcome(STUDENT, problem=problem, diagnostics=[diagnostics]), name=name)


def run(root: Path, sandbox: str) -> int:
    """Grade the notebook in `root`/submission (any name; of several, the same choice as `make grade`) into
    `root`/results."""
    config = json.loads((KIT / CONFIG).read_text())
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    name = submitters(root)
    try:
        discover_one(root / "submission", STUDENT)
    except FileNotFoundError as error:
        results.write_text(json.dumps(_not_graded(f"not graded: {error}", str(error), name), indent=2))
        return 0
    out = root / "grading"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(mode=0o700)  # grader output, closed to sandboxed users from the start
    _readable(KIT / DATA)
    command = [
        sys.executable,
        "-m",
        "autograder.grade",
        str(root / "submission"),
        "--single",
        STUDENT,
        "--profile",
        config["profile"],
        "--out",
        str(out),
        "--sandbox",
        sandbox,
    ]
    done = subprocess.run(
        command,
        cwd=KIT,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, "TFDS_DATA_DIR": str(KIT / DATA)},
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    sys.stderr.write(done.stderr)
    if done.returncode == 0 and (out / STUDENT / "outcome.json").is_file():
        shown = report.results_from(out / STUDENT, config["visibility"], name)
        results.write_text(json.dumps(shown, indent=2))
        return 0
    results.write_text(
        json.dumps(
            _not_graded(
                "the autograder could not run; your instructor has the details",
                f"autograder.grade exited {done.returncode}:\n{done.stderr}",
                name,
            ),
            indent=2,
        )
    )
    return 1


def warm() -> int:
    """The zip profile's reference splits, computed into the kit's cache once for the image (setup.sh), so that no
    submission's grading waits for them; `run` resolves the same data, so its grading finds them there."""
    profile = PROFILES[json.loads((KIT / CONFIG).read_text())["profile"]]
    run_data = rundata.resolve(profile, {"TFDS_DATA_DIR": str(KIT / DATA)})
    with tempfile.TemporaryDirectory() as folder:
        reference = splits.prepare(profile, run_data.path, Path(folder))
    print(f"setup.sh: reference splits {reference.origin}")
    return 0 if reference.cached else 1


def refuse(profile: Profile, source: data.Source, data_dir: Path) -> None:
    """DataError when a zip of `profile` on `source` cannot grade: synthetic data for a profile that grades on real
    data only, and any profile that needs a GPU (Gradescope's autograder has none)."""
    no_gpu = (
        f"the {profile.name} profile grades on a GPU and Gradescope's autograder has none: its IoU checks would stay "
        "pending for every student. Grade it with `make slurm` (README: Slurm), or build PROFILE=ci."
    )
    if profile.real_data_only and source.kind == "synthetic":
        found = f"without DATA_SRC the zip's data ({data_dir}) would be the synthetic set (kind: synthetic)"
        raise data.DataError(f"{rundata.synthetic_refused(found, profile)} Besides, {no_gpu}")
    if profile.needs_gpu:
        raise data.DataError(no_gpu[0].upper() + no_gpu[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write autograder.zip")
    make.add_argument("--profile", required=True, choices=sorted(PROFILES))
    make.add_argument(
        "--data-src", type=Path, help="official archives or extracted folder for the zip's data (default: synthetic)"
    )
    make.add_argument(
        "--visibility", choices=VISIBILITIES, help="per-test details in Gradescope (default: the profile's)"
    )
    make.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    grade = commands.add_parser("run", help="grade the submission (what run_autograder calls)")
    grade.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    grade.add_argument("--sandbox", default="auto", choices=backends.choices())
    commands.add_parser("warm", help="compute the reference splits into the kit's cache (what setup.sh calls)")
    args = parser.parse_args(argv)
    if args.command == "warm":
        return warm()
    if args.command == "run":
        return run(args.root.resolve(), args.sandbox)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    profile = PROFILES[args.profile]
    if args.data_src and args.data_src.resolve().is_relative_to(SHARED):
        print(
            f"make gradescope: error: {args.data_src} is under {SHARED}, which a course may not redistribute; "
            "point DATA_SRC at your own copy of the official archives",
            file=sys.stderr,
        )
        return 2
    data_dir = args.zip.resolve().parent / "tfds"
    try:
        refuse(profile, data.find_source(args.data_src), data_dir)
        source, _ = data.prepare(data_dir, args.data_src)
    except data.DataError as error:
        print(f"make gradescope: error: {error}", file=sys.stderr)
        return 2
    names = build(profile, data_dir, args.zip, args.visibility or profile.details_visibility)
    print(
        f"{args.zip}: {args.zip.stat().st_size / 2**20:.1f} MiB, {len(names)} files; profile {profile.name}, "
        f"data {source.describe()}"
    )
    if source.kind == "synthetic" and profile.wants_sample:
        print(
            f"note: the {profile.name} profile grades on synthetic data here; "
            "add real data with DATA_SRC=<folder with the official archives>"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
