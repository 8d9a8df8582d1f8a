"""Regenerate the committed fact fixtures: grade the solution, the release and every mutant under smoke.

    .venv/bin/python tests/fast/regenerate_fixtures.py     (a few minutes; run when the facts' format changes)

Each fixture is the facts.json and run.json the grader wrote on the synthetic set (so the thresholds are
the synthetic ones wherever this runs), with the machine's data path removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from grading import grade_command  # noqa: E402
from mutants import MUTANTS, RELEASE, SOLUTION, mutate  # noqa: E402

from assignment import data  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "tfds"
        data.prepare(data_dir, None)
        for path in [Path(scratch), *data_dir.rglob("*")]:  # the sandboxes read the data as another user
            path.chmod(path.stat().st_mode | 0o005)
        folder = Path(scratch) / "submissions"
        folder.mkdir()
        shutil.copy(SOLUTION, folder / "solution.ipynb")
        shutil.copy(RELEASE, folder / "unfilled_release.ipynb")
        for mutant in MUTANTS:
            nbformat.write(mutate(mutant), folder / f"mutant_{mutant.name}.ipynb")
        out = Path(scratch) / "grades"
        command = grade_command(folder, out)
        subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "TFDS_DATA_DIR": str(data_dir)})
        for student in sorted(p.stem for p in folder.glob("*.ipynb")):
            run = json.loads((out / student / "run.json").read_text())
            run["data"] = {**run["data"], "path": "<data>", "origin": "<data>"}
            facts = json.loads((out / student / "facts.json").read_text())
            facts["training"]["predictions"] = facts["training"]["predictions"][
                :1
            ]  # one picture is enough for the checks
            (HERE / "fixtures" / f"{student}.json").write_text(
                json.dumps({"facts": facts, "run": run}, separators=(",", ":"))
            )


if __name__ == "__main__":
    main()
