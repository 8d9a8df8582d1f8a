"""Regenerate the committed fact fixtures: grade the solution, the release and every mutant under smoke.

    .venv/bin/python tests/fast/regenerate_fixtures.py     (a few minutes; run when the facts' format changes)

Each fixture is the facts.json and run.json the grader wrote, with the machine's data path removed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mutants import MUTANTS, RELEASE, SOLUTION, mutate  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "submissions"
        folder.mkdir()
        shutil.copy(SOLUTION, folder / "solution.ipynb")
        shutil.copy(RELEASE, folder / "unfilled_release.ipynb")
        for mutant in MUTANTS:
            nbformat.write(mutate(mutant), folder / f"mutant_{mutant.name}.ipynb")
        out = Path(scratch) / "grades"
        command = [sys.executable, "-m", "autograder.grade", str(folder), "--profile", "smoke", "--out", str(out), "--jobs", "2"]
        subprocess.run(command, cwd=ROOT, check=True)
        for student in sorted(p.stem for p in folder.glob("*.ipynb")):
            run = json.loads((out / student / "run.json").read_text())
            run["data"] = {**run["data"], "path": "<data>", "origin": "<data>"}
            facts = json.loads((out / student / "facts.json").read_text())
            (HERE / "fixtures" / f"{student}.json").write_text(json.dumps({"facts": facts, "run": run}, separators=(",", ":")))


if __name__ == "__main__":
    main()
