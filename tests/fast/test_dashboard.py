"""The instructor's OUT/report.html and OUT/similarity.csv, built from a small OUT made in code (no grading)."""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from test_feedback import (
    HOSTILE,
    RUN,
    assert_inert_html,
    assert_no_remote_resource,
    check,
    facts,
    hostile,
    images,
    outcome,
)

from autograder import batch, dashboard, report
from autograder.results import CellFailure, CheckStatus, FailureKind, Outcome
from autograder.submission import Submission

ANA = """def helper_{i}(values):
    total = 0
    for index, value in enumerate(values):
        if index % 3 == 0:
            total += value * {i}
        elif value > 2:
            total -= value
    return [total, len(values), max(values or [0])]
"""
DEE = """class Thing{i}:
    def __init__(self):
        self.items = {{}}

    def add(self, key, value):
        self.items.setdefault(key, []).append(value)
        return sorted(self.items)
"""


def notebook(path: Path, template: str, extra: str = "") -> Path:
    """The release with every solution cell written from `template` (and `extra` appended)."""
    nb = copy.deepcopy(nbformat.read(dashboard.RELEASE, as_version=4))
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = template.format(i=i) + extra
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT with a good notebook, its copy, a refused one, a timeout with a pending check, a hostile one, an unreadable
    outcome and a student the manifest expects but OUT lacks."""
    root = tmp_path_factory.mktemp("batch")
    subs = root / "submissions"
    out = root / "out"
    subs.mkdir()
    copied = outcome("bob", edited=["locked cell `check_preprocess` was edited"])
    slow = outcome("dee", failures=[CellFailure(33, FailureKind.TIMEOUT, "the cell ran past 180 s", "model.fit(")])
    slow.checks[-1] = check("training", 3, CheckStatus.PENDING, "needs a GPU")
    flagged = outcome("ana")
    flagged.flags.append("possibly trained on the test split: its test/train cross-entropy ratio is 0.990")
    graded = [(flagged, facts()), (copied, facts()), (slow, facts(trained=False)), (hostile(), facts())]
    for done, measured in graded:
        report.write_student(done, out / done.student, "visible", measured, RUN)
    report.write_student(Outcome("cy", problem="refused: the notebook is a symbolic link"), out / "cy")
    (out / "broken").mkdir()
    (out / "broken" / "outcome.json").write_text("{not json")
    students = [
        Submission("ana", notebook(subs / "ana.ipynb", ANA)),
        Submission("bob", notebook(subs / "bob.ipynb", ANA)),
        Submission("cy", subs / "cy.ipynb", refused="the notebook is a symbolic link"),
        Submission("dee", notebook(subs / "dee.ipynb", DEE)),
        Submission("mallory", notebook(subs / "mallory.ipynb", ANA, f"# {HOSTILE}\n")),
        Submission("gone", subs / "gone.ipynb"),  # never handed in: not compared
    ]
    batch.write_manifest(out, students, subs)
    assert dashboard.build(out) == out / "report.html"
    return out


def test_report_and_similarity_csv_are_written(out: Path) -> None:
    page = (out / "report.html").read_text()
    rows = list(csv.reader((out / "similarity.csv").open()))
    assert rows[0] == ["student_a", "student_b", "score"]
    assert {tuple(r[:2]) for r in rows[1:]} == {("ana", "bob"), ("ana", "mallory"), ("bob", "mallory")}
    assert (out / "grades.csv").is_file() and "Copied work (3 pairs)" in page and "<mark>" in page
    pngs = images(page)
    assert len(pngs) == 4 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)


def test_a_long_list_of_copied_pairs_shows_the_most_similar_and_names_the_rest(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class whose notebooks share much code (a batch of near-copies flagged 673 pairs, an 11 MB page): the page
    shows the highest-scoring pairs side by side and says how many more similarity.csv holds."""
    again = tmp_path / "out"
    shutil.copytree(out, again)
    monkeypatch.setattr(dashboard, "PAIRS_SHOWN", 2)
    page = dashboard.build(again).read_text()
    assert "Copied work (3 pairs)" in page and page.count('<div class="pair">') == 2
    assert "1 more pair (scores" in page and 'not shown here: <a href="similarity.csv">similarity.csv</a>' in page
    assert len(list(csv.reader((again / "similarity.csv").open()))) == 4, "the file lists every pair"


def test_every_student_has_a_row_and_a_link(out: Path) -> None:
    page = (out / "report.html").read_text()
    for student in ("ana", "bob", "cy", "dee", "mallory"):
        assert f'<a href="{student}/feedback.html">{student}</a>' in page
    assert "not graded: its outcome could not be read" in page and "not graded: its grading left no result" in page
    assert 'href="broken/feedback.html"' not in page and 'href="gone/feedback.html"' not in page
    assert page.count('<tr><td data-value="') == 7 and 'class="sortable"' in page and 'data-sort="number"' in page


def test_status_counts_flags_and_failure_rates(out: Path) -> None:
    page = (out / "report.html").read_text()
    for count, kind in [(7, "students"), (2, "ok"), (1, "error"), (1, "timeout"), (1, "refused"), (2, "other")]:
        assert f'<div class="card"><strong>{count}</strong>{kind}</div>' in page
    assert "edited locked cells" in page and "pending checks" in page
    assert "to look at" in page and "possibly trained on the test split" in page
    failures = page[page.index("Checks failed, most often first") :]
    rows = re.findall(
        r"<tr><td>([^<]*): a (\w+) check \((\d+)\)<ul>.*?</ul></td><td class=\"num\">(\d+ / \d+)", failures
    )
    assert rows == [("Encoder: double_conv_block and encoder_block", "encoder", "30", "4 / 4")]  # the only one failed
    assert 'alt="histogram of foreground IoU over 3 students"' in page


def test_report_shows_student_text_inert_and_loads_nothing(out: Path) -> None:
    page = (out / "report.html").read_text()
    ours = f"<script>{dashboard.SORTING}</script>"
    assert page.count("<script") == 1 and ours in page
    digest = base64.b64encode(hashlib.sha256(dashboard.SORTING.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page and "default-src 'none'" in page
    assert_inert_html(page.replace(ours, ""))
    assert_no_remote_resource(page)


def test_status_kinds() -> None:
    words = {
        "ok": "ok",
        "ok; partial: 3 points pending": "ok",
        "error in cell 3": "error",
        "kernel died in cell 2": "error",
        "timeout in cell 9": "timeout",
        "total time limit reached": "timeout",
        "refused: a link": "refused",
        "grader error (your instructor has the details)": "grader error",
        "invalid notebook: empty": "other",
    }
    assert {w: dashboard.kind(w) for w in words} == words


def test_command_line(out: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert dashboard.main([str(out)]) == 0 and "report.html" in capsys.readouterr().out
    assert dashboard.main([str(tmp_path / "missing")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    dashboard.build(empty)
    assert "Nothing was graded" in (empty / "report.html").read_text()
    assert (empty / "similarity.csv").read_text().splitlines() == ["student_a,student_b,score"]
    # OUT's students have outcomes but no run.json (as when outcome.json files alone are merged): not "none graded"
    assert "No student's run settings (run.json) are in this folder" in (out / "report.html").read_text()


def test_copied_work_is_not_compared_without_the_solution(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the solution as given code, notebooks that follow the hints would all look copied."""
    shutil.copytree(out, tmp_path / "out")
    monkeypatch.setattr(dashboard, "REFERENCE", dashboard.ROOT / "solution" / "gone.ipynb")
    page = dashboard.build(tmp_path / "out").read_text()
    assert "Not compared: solution/gone.ipynb is missing" in page and "Copied work (" not in page
    assert (tmp_path / "out" / "similarity.csv").read_text().splitlines() == ["student_a,student_b,score"]
