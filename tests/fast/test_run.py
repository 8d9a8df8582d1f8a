"""Parameterizing: the profile's values follow the `parameters` cell, which is found again when its tag was lost."""

from __future__ import annotations

import nbformat

from autograder.run import parameterize


def _nb(*sources: str, tagged: int | None = None) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    if tagged is not None:
        cells[tagged].metadata["tags"] = ["parameters"]
    return nbformat.v4.new_notebook(cells=cells)


def test_values_are_injected_after_the_parameters_cell() -> None:
    nb, notes = parameterize(_nb("import x", "IMG_SIZE = 256\nEPOCHS = 10", "train()", tagged=1), {"IMG_SIZE": 32, "EPOCHS": 2})
    assert notes == [] and "injected-parameters" in nb.cells[2].metadata.tags
    assert "IMG_SIZE = 32" in nb.cells[2].source and "EPOCHS = 2" in nb.cells[2].source and nb.cells[3].source == "train()"


def test_a_lost_tag_is_repaired_from_the_cell_that_sets_img_size() -> None:
    nb, notes = parameterize(_nb("import x", "IMG_SIZE=256", "train()"), {"IMG_SIZE": 32})
    assert "IMG_SIZE = 32" in nb.cells[2].source and notes == ["the `parameters` tag was missing; the cell that sets IMG_SIZE was used"]


def test_without_any_settings_cell_the_values_go_first() -> None:
    nb, notes = parameterize(_nb("train()"), {"IMG_SIZE": 32})
    assert "IMG_SIZE = 32" in nb.cells[0].source and "no `parameters` cell" in notes[0]
    assert nb.metadata["kernelspec"]["name"] == "python3"
