"""Copy flags: disguised and padded copies are flagged, independent honest notebooks are not, broken ones are skipped.

tests/fast/fixtures/similarity holds one answer file per student, built into a notebook from the release:
`# %% <grade_id>` fills that solution cell, `# %% free:<n>` replaces the release's n-th code cell without a grade id,
`# %% new:<grade_id>` adds a cell after that one. ana, ben, chen, dana, eli and fay wrote their answers independently
(fay, like the solution, follows the hints word for word); copy_* are ana's notebook disguised; padded_* are copies of
ana with code added: padded_dead 3x dead code (unused helpers, an unused model), padded_boilerplate the release's and
the solution's code, padded_honest ben's notebook, padded_pooled ben's, chen's and dana's, padded_interleaved a dead
statement after every statement.
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
DISGUISED = ["copy_all", "copy_comments", "copy_renamed", "copy_reordered", "copy_whitespace"]
PADDED = ["padded_boilerplate", "padded_dead", "padded_honest", "padded_interleaved", "padded_pooled"]
# Whose code each copy holds. padded_honest holds ben's whole notebook, so that pair is a copy too (of ben's work,
# whether or not ben knew): it must be flagged, and the score does not say who copied whom.
SOURCES = {name: {"ana"} for name in DISGUISED + PADDED} | {
    "padded_honest": {"ana", "ben"},
    "padded_pooled": {"ana", "ben", "chen", "dana"},
}
# The cost of scoring by the share found in the other notebook: one that pools three students' code also holds
# nearly all of the few lines fay wrote beyond the hints, so that pair is flagged although fay copied nothing.
ALSO_FLAGGED = {("fay", "padded_pooled")}
FUNCTIONS = ["preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet", "compile", "fit"]


def sections(student: str) -> list[tuple[str, str]]:
    """(key, source) of every cell in the student's fixture file."""
    found: list[tuple[str, list[str]]] = []
    for line in (FIXTURES / f"{student}.txt").read_text().splitlines():
        if line.startswith("# %% "):
            found.append((line[5:].strip(), []))
        else:
            found[-1][1].append(line)
    return [(key, "\n".join(lines)) for key, lines in found]


def build(student: str, release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with the student's answers from their fixture file."""
    nb = copy.deepcopy(release)
    free = [cell for cell in nb.cells if cell.cell_type == "code" and "nbgrader" not in cell.metadata]
    for key, source in sections(student):
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
    for student in HONEST[:-1] + DISGUISED + PADDED:
        paths[student] = folder / f"{student}.ipynb"
        nbformat.write(build(student, release), paths[student])
    return paths


@pytest.fixture(scope="module")
def scores(notebooks: dict[str, Path]) -> dict[tuple[str, str], Pair]:
    """Every pair, with the release and the solution as boilerplate."""
    return {(p.student_a, p.student_b): p for p in compare(notebooks, RELEASE, SOLUTION, threshold=0.0)}


def score(scores: dict[tuple[str, str], Pair], a: str, b: str) -> float:
    return scores[tuple(sorted((a, b)))].score


@pytest.mark.parametrize("copied", DISGUISED + PADDED)
def test_copies_are_flagged_with_whom_they_copied(scores: dict, copied: str) -> None:
    for source in SOURCES[copied]:
        assert score(scores, copied, source) >= THRESHOLD, source


def test_independent_honest_notebooks_are_not_flagged(scores: dict) -> None:
    for pair in itertools.combinations(HONEST, 2):
        assert score(scores, *pair) < THRESHOLD, pair


def test_copies_are_not_flagged_with_notebooks_they_did_not_copy(scores: dict) -> None:
    flagged = {
        (other, copied)
        for copied, other in itertools.product(DISGUISED + PADDED, HONEST)
        if other not in SOURCES[copied] and score(scores, copied, other) >= THRESHOLD
    }
    assert flagged == ALSO_FLAGGED


def test_flagged_pairs_hold_a_copy_highest_first(notebooks: dict[str, Path]) -> None:
    pairs = compare(notebooks, RELEASE, SOLUTION)
    flagged = {(p.student_a, p.student_b) for p in pairs}
    assert {tuple(sorted((copied, source))) for copied in SOURCES for source in SOURCES[copied]} <= flagged
    assert not {pair for pair in flagged if set(pair) <= set(HONEST)}
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    assert all(p.student_a < p.student_b and THRESHOLD <= p.score <= 1.0 for p in pairs)


def test_added_code_does_not_lower_the_score(tmp_path: Path, notebooks: dict[str, Path]) -> None:
    """copy_all with padded_dead's dead code appended 0, 1, 3 and 10 times scores the same against ana."""
    copied = sections("copy_all")
    dead = "\n\n".join(source for key, source in sections("padded_dead") if (key, source) not in copied)
    found = []
    for times in (0, 1, 3, 10):
        nb = nbformat.read(notebooks["copy_all"], as_version=4)
        nb.cells += [nbformat.v4.new_code_cell(dead) for _ in range(times)]
        nbformat.write(nb, tmp_path / f"padded_{times}.ipynb")
        [pair] = compare({"ana": notebooks["ana"], "b": tmp_path / f"padded_{times}.ipynb"}, RELEASE, SOLUTION, 0.0)
        found.append(pair.score)
    assert found[0] >= THRESHOLD and found == [found[0]] * 4, found


def test_one_function_besides_the_answer_is_not_flagged(tmp_path: Path, notebooks: dict[str, Path]) -> None:
    """The solution with one honest student's function: a few own lines that others may write too."""
    given = {student: notebooks[student] for student in HONEST[:-1]}
    for student, function in itertools.product(HONEST[:-1], FUNCTIONS):
        nb = nbformat.read(SOLUTION, as_version=4)
        theirs = nbformat.read(notebooks[student], as_version=4)
        nb.cells[index_of(nb, function)].source = theirs.cells[index_of(theirs, function)].source
        given[f"{student}-{function}"] = tmp_path / f"{student}-{function}.ipynb"
        nbformat.write(nb, given[f"{student}-{function}"])
    # A student's function does copy that student's notebook; every other pair wrote its lines independently.
    own = {(student, f"{student}-{function}") for student, function in itertools.product(HONEST, FUNCTIONS)}
    flagged = [(p.student_a, p.student_b) for p in compare(given, RELEASE, SOLUTION)]
    assert [pair for pair in flagged if pair not in own] == []


def test_unfilled_release_is_not_flagged(tmp_path: Path) -> None:
    other = tmp_path / "other.ipynb"
    other.write_bytes(RELEASE.read_bytes())
    assert compare({"a": RELEASE, "b": other}, RELEASE, SOLUTION) == []
    [pair] = compare({"a": RELEASE, "b": other}, RELEASE, SOLUTION, threshold=0.0)
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
    assert [(p.student_a, p.student_b) for p in compare(given, RELEASE, SOLUTION)] == [("ana", "copy_renamed")]


def test_csv_has_its_three_columns_highest_score_first(tmp_path: Path) -> None:
    pairs = [
        Pair(a, b, score, "", "", [], []) for a, b, score in [("a", "b", 0.70049), ("b", "c", 0.95), ("a", "c", 0.8126)]
    ]
    write_csv(pairs, tmp_path / "similarity.csv")
    with (tmp_path / "similarity.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["student_a", "student_b", "score"], ["b", "c", "0.950"], ["a", "c", "0.813"], ["a", "b", "0.700"]]


def test_spans_point_at_the_copied_code(scores: dict) -> None:
    pair = scores[("ana", "copy_renamed")]
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
