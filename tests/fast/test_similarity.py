"""Copy flags: disguised copies are flagged, independent honest notebooks are not, broken notebooks are skipped.

tests/fast/fixtures/similarity holds one answer file per student, built into a notebook from the release:
`# %% <grade_id>` fills that solution cell, `# %% free:<n>` replaces the release's n-th code cell without a grade id,
`# %% new:<grade_id>` adds a cell after that one. ana, ben, chen, dana, eli and fay wrote their answers independently
(fay, like the solution, follows the hints word for word); copy_* are ana's notebook disguised.
"""

from __future__ import annotations

import copy
import csv
import itertools
from pathlib import Path

import nbformat
import pytest
from mutants import RELEASE, SOLUTION, index_of

from autograder.similarity import THRESHOLD, Pair, compare, write_csv, written_code

FIXTURES = Path(__file__).parent / "fixtures" / "similarity"
HONEST = ["ana", "ben", "chen", "dana", "eli", "fay", "solution"]
COPIES = ["copy_all", "copy_comments", "copy_renamed", "copy_reordered", "copy_whitespace"]
MODES = {"release": None, "reference": SOLUTION}


def build(student: str, release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with the student's answers from their fixture file."""
    nb = copy.deepcopy(release)
    free = [cell for cell in nb.cells if cell.cell_type == "code" and "nbgrader" not in cell.metadata]
    sections: list[tuple[str, list[str]]] = []
    for line in (FIXTURES / f"{student}.txt").read_text().splitlines():
        if line.startswith("# %% "):
            sections.append((line[5:].strip(), []))
        else:
            sections[-1][1].append(line)
    for key, lines in sections:
        source = "\n".join(lines)
        if key.startswith("free:"):
            free[int(key[5:]) - 1].source = source
        elif key.startswith("new:"):
            nb.cells.insert(index_of(nb, key[4:]) + 1, nbformat.v4.new_code_cell(source))
        else:
            nb.cells[index_of(nb, key)].source = source
    return nb


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("similarity")
    release = nbformat.read(RELEASE, as_version=4)
    paths = {"solution": SOLUTION}
    for student in HONEST[:-1] + COPIES:
        paths[student] = folder / f"{student}.ipynb"
        nbformat.write(build(student, release), paths[student])
    return paths


@pytest.fixture(scope="module")
def scores(notebooks: dict[str, Path]) -> dict[str, dict[tuple[str, str], Pair]]:
    """Every pair, with the release alone as boilerplate and with the solution as `reference` too."""
    return {
        mode: {(p.student_a, p.student_b): p for p in compare(notebooks, RELEASE, threshold=0.0, reference=reference)}
        for mode, reference in MODES.items()
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("disguise", COPIES)
def test_disguised_copies_are_flagged(scores: dict, mode: str, disguise: str) -> None:
    assert scores[mode][("ana", disguise)].score >= THRESHOLD


@pytest.mark.parametrize("mode", MODES)
def test_independent_honest_notebooks_are_not_flagged(scores: dict, mode: str) -> None:
    flagged = {
        pair for pair in itertools.combinations(HONEST, 2) if scores[mode][tuple(sorted(pair))].score >= THRESHOLD
    }
    # Two notebooks that write the hints' code and nothing else look copied unless the solution is boilerplate.
    assert flagged == ({("fay", "solution")} if mode == "release" else set())
    for copied, other in itertools.product(COPIES, HONEST[1:]):
        assert scores[mode][tuple(sorted((copied, other)))].score < THRESHOLD, (copied, other)


def test_flagged_pairs_are_the_copies_highest_first(notebooks: dict[str, Path]) -> None:
    pairs = compare(notebooks, RELEASE, reference=SOLUTION)
    assert {(p.student_a, p.student_b) for p in pairs} == set(itertools.combinations(sorted(["ana", *COPIES]), 2))
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    assert all(p.student_a < p.student_b and 0.0 <= p.score <= 1.0 for p in pairs)


def test_unfilled_release_is_not_flagged(tmp_path: Path) -> None:
    other = tmp_path / "other.ipynb"
    other.write_bytes(RELEASE.read_bytes())
    assert compare({"a": RELEASE, "b": other}, RELEASE) == []
    [pair] = compare({"a": RELEASE, "b": other}, RELEASE, threshold=0.0)
    assert (pair.score, pair.matches_a, pair.matches_b) == (0.0, [], [])


def test_unreadable_notebooks_are_skipped(tmp_path: Path, notebooks: dict[str, Path]) -> None:
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "list.ipynb").write_text("[]")
    (tmp_path / "no_cells.ipynb").write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 3}')
    with (tmp_path / "huge.ipynb").open("wb") as handle:
        handle.truncate(21 * 2**20)
    (tmp_path / "link.ipynb").symlink_to(notebooks["ana"])  # followed, it would match ana at 1.0
    odd = nbformat.read(notebooks["ana"], as_version=4)
    odd.cells[index_of(odd, "preprocess")].metadata["nbgrader"] = "not a mapping"
    nbformat.write(odd, tmp_path / "odd.ipynb")
    names = ["broken", "list", "no_cells", "huge", "link", "odd", "missing"]
    given = {name: tmp_path / f"{name}.ipynb" for name in names} | {s: notebooks[s] for s in ("ana", "copy_renamed")}
    assert [(p.student_a, p.student_b) for p in compare(given, RELEASE)] == [("ana", "copy_renamed")]


def test_csv_has_its_three_columns_highest_score_first(tmp_path: Path) -> None:
    pairs = [
        Pair(a, b, score, "", "", [], []) for a, b, score in [("a", "b", 0.70049), ("b", "c", 0.95), ("a", "c", 0.8126)]
    ]
    write_csv(pairs, tmp_path / "similarity.csv")
    with (tmp_path / "similarity.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["student_a", "student_b", "score"], ["b", "c", "0.950"], ["a", "c", "0.813"], ["a", "b", "0.700"]]


def test_spans_point_at_the_copied_code(scores: dict) -> None:
    pair = scores["release"][("ana", "copy_renamed")]
    lines = {
        "a": 'axes[1, i].set_title(f"mean p = {probs[i].mean():.2f}")',
        "b": 'grid[1, n].set_title(f"mean p = {scores[n].mean():.2f}")',
    }
    for side, code, spans in [("a", pair.code_a, pair.matches_a), ("b", pair.code_b, pair.matches_b)]:
        assert spans == sorted(spans) and all(0 <= start < end <= len(code) for start, end in spans)
        assert all(code[start:end] == code[start:end].strip() for start, end in spans)
        line = code.index(lines[side])
        assert any(start <= line and line + len(lines[side]) <= end for start, end in spans), side


def test_written_code_is_what_the_student_typed() -> None:
    release = nbformat.read(RELEASE, as_version=4)
    code = written_code(build("chen", release), release)
    assert "nvidia-smi" not in code and "%%time" not in code
    assert "history = model.fit(train, epochs=EPOCHS, validation_data=test)" in code  # the rest of a magic cell
    assert "def conv3x3" in code and 'plt.plot(history.history["fg_iou"]' in code  # added cells count
    assert "def plot_history" not in code and "def call_student_code" not in code  # locked cells do not
    assert code.index("def preprocess") < code.index("def make_unet") < code.index("model.compile")
    assert written_code(release, release).count("raise NotImplementedError()") >= 5  # the stubs, as handed out
