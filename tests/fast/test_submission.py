"""Finding submissions: layouts, several notebooks, id collisions, symbolic links, size limits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder import submission
from autograder.submission import BATCH_FILES, discover, discover_one, load


def _notebook(path: Path, text: str = "x = 1") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(text)]), path)
    return path


def test_flat_and_nbgrader_layouts(tmp_path: Path) -> None:
    _notebook(tmp_path / "submitted" / "ann" / "tiny_unet" / "tiny_unet.ipynb")
    _notebook(tmp_path / "submitted" / "bob.ipynb")
    found = discover(tmp_path)
    assert [(s.student, s.path.name, s.refused) for s in found] == [
        ("ann", "tiny_unet.ipynb", ""),
        ("bob", "bob.ipynb", ""),
    ]


def test_several_notebooks_grade_the_assignments_one_and_say_so(tmp_path: Path) -> None:
    _notebook(tmp_path / "ann" / "tiny_unet" / "tiny_unet.ipynb")
    _notebook(tmp_path / "ann" / "tiny_unet" / "scratch.ipynb")
    only = discover(tmp_path)[0]
    assert only.path.name == "tiny_unet.ipynb" and "graded `tiny_unet.ipynb`, ignored `scratch.ipynb`" in only.note


def test_colliding_ids_both_graded_with_a_warning(tmp_path: Path) -> None:
    _notebook(tmp_path / "alice smith.ipynb")
    _notebook(tmp_path / "alice_smith.ipynb")
    found = discover(tmp_path)
    assert sorted(s.student for s in found) == ["alice_smith", "alice_smith-2"]
    assert any("is graded as 'alice_smith-2'" in w for s in found for w in s.warnings)


def test_symlinked_notebook_is_refused_and_never_read(tmp_path: Path) -> None:
    outside = _notebook(tmp_path / "outside" / "secret.ipynb")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "mallory.ipynb").symlink_to(outside)
    found = discover(tmp_path / "subs")
    assert found[0].refused.startswith("the notebook (or its folder) is a symbolic link")
    with pytest.raises(ValueError, match="not a readable notebook"):
        load(tmp_path / "subs" / "mallory.ipynb")


def test_symlinked_student_folder_is_not_followed_but_gets_a_row(tmp_path: Path) -> None:
    _notebook(tmp_path / "outside" / "tiny_unet" / "tiny_unet.ipynb")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "eve").symlink_to(tmp_path / "outside")
    [eve] = discover(tmp_path / "subs")
    assert eve.student == "eve" and eve.refused.startswith("the notebook (or its folder) is a symbolic link")


def test_oversize_notebook_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submission, "MAX_BYTES", 1000)
    _notebook(tmp_path / "big.ipynb", "x = '" + "a" * 2000 + "'")
    refused = discover(tmp_path)[0].refused
    assert "MB limit" in refused and "clear large outputs" in refused
    with pytest.raises(ValueError, match="larger than"):
        load(tmp_path / "big.ipynb")


def test_unreadable_notebooks_raise_a_readable_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text('{"cells": "oo')
    with pytest.raises(ValueError, match="not a readable notebook"):
        load(tmp_path / "broken.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("hi")]), tmp_path / "empty.ipynb")
    with pytest.raises(ValueError, match="no code cells"):
        load(tmp_path / "empty.ipynb")


def test_missing_or_symlinked_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        discover(tmp_path / "missing")
    os.symlink(tmp_path, tmp_path.parent / f"{tmp_path.name}-link")
    with pytest.raises(FileNotFoundError, match="symbolic link"):
        discover(tmp_path.parent / f"{tmp_path.name}-link")


def test_one_students_folder_any_name_same_choice_rule(tmp_path: Path) -> None:
    _notebook(tmp_path / "my work.ipynb")
    assert discover_one(tmp_path, "submission").path.name == "my work.ipynb"
    _notebook(tmp_path / "nested" / "tiny_unet.ipynb")
    chosen = discover_one(tmp_path, "submission")
    assert (
        chosen.path.name == "tiny_unet.ipynb"
        and chosen.student == "submission"
        and "ignored `my work.ipynb`" in chosen.note
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.ipynb file"):
        discover_one(tmp_path / "empty", "x")


def test_ids_that_name_the_batchs_own_files_are_moved_aside(tmp_path: Path) -> None:
    for name in ("slurm", "grades.csv", "report.html"):
        _notebook(tmp_path / f"{name}.ipynb")
    assert sorted(s.student for s in discover(tmp_path)) == ["grades.csv-2", "report.html-2", "slurm"]
    assert "slurm-2" in {s.student for s in discover(tmp_path, BATCH_FILES | {"slurm"})}, (
        "an engine's folder is kept too"
    )


def test_notebooks_that_break_the_format_are_refused_with_a_reason(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells[0]["source"] = 12
    (tmp_path / "odd.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="not a readable notebook"):
        load(tmp_path / "odd.ipynb")
