"""Run a notebook headless in the Python environment that runs this script, as a student's kernel would.

Used by the stack tests (tests/colab/) inside each stack's own environment: it needs only nbformat and
nbclient from that environment, and its kernel is that environment's ipykernel. The values given with
`--param NAME=VALUE` go into a cell inserted after the notebook's `parameters` cell (papermill's
convention). The executed notebook is written to OUT, and a JSON report beside it lists, for every code
cell, its nbgrader grade_id, its errors, and what it wrote to stdout and stderr.

    python run_notebook.py NOTEBOOK OUT.ipynb --param IMG_SIZE=32 --param 'TRAIN_SPLIT="train[:64]"'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def inject(nb: nbformat.NotebookNode, assignments: list[str]) -> None:
    """Insert `assignments` as a cell right after the `parameters` cell."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("# Parameters injected by the stack test\n" + "\n".join(assignments))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)


def report(nb: nbformat.NotebookNode, seconds: float) -> dict:
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        cells.append(
            {
                "index": index,
                "grade_id": cell.metadata.get("nbgrader", {}).get("grade_id"),
                "errors": [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.output_type == "error"],
                "stdout": "".join(
                    o.get("text", "") for o in outputs if o.output_type == "stream" and o.get("name") == "stdout"
                ),
                "stderr": "".join(
                    o.get("text", "") for o in outputs if o.output_type == "stream" and o.get("name") == "stderr"
                ),
                "images": sum(1 for o in outputs if "image/png" in o.get("data", {})),
            }
        )
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "seconds": round(seconds, 1),
        "cells": cells,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--param", action="append", default=[], help="NAME=PYTHON_LITERAL, injected after the parameters cell"
    )
    parser.add_argument("--cell-timeout", type=int, default=600)
    args = parser.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    inject(nb, [f"{name.strip()} = {value.strip()}" for name, value in (p.split("=", 1) for p in args.param)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        nb,
        timeout=args.cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(args.out.parent)}},
    )
    start = time.monotonic()
    client.execute()
    seconds = time.monotonic() - start
    nbformat.write(nb, args.out)
    args.out.with_suffix(".json").write_text(json.dumps(report(nb, seconds), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
