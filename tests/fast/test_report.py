"""Reports: status words, Gradescope's results.json, feedback.md, grader.log, grades.csv and the merge."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from assignment.points import MAX_POINTS, SECTIONS
from autograder import batch, report, wording
from autograder.results import CellFailure, CheckResult, CheckStatus, FailureKind, Outcome, cap

SECRET_TRACEBACK = 'Traceback (most recent call last):\n  File "/work/main/autograder/checks/test_unet.py"'


def _check(section: str, points: int, status: CheckStatus, message: str = "", **values: float) -> CheckResult:
    return CheckResult(
        f"test_{section}_{points}",
        section,
        f"a {section} check",
        points,
        points if status is CheckStatus.PASSED else 0,
        status,
        message,
        values,
    )


def _outcome(**kwargs) -> Outcome:
    checks = [
        _check("preprocess", 10, CheckStatus.PASSED),
        _check("encoder", 30, CheckStatus.FAILED, "use padding='same'."),
        _check("decoder", 20, CheckStatus.PASSED),
        _check("unet", 30, CheckStatus.PASSED),
        _check("training", 7, CheckStatus.PASSED),
        _check("training", 3, CheckStatus.PASSED, foreground_iou=0.6123, threshold=0.5),
    ]
    return Outcome(
        "ann", checks=checks, sandbox="bwrap (test)", diagnostics=[SECRET_TRACEBACK], seconds=12.34, **kwargs
    )


def test_status_names_the_worst_failure_and_shortens_long_lists() -> None:
    failures = [CellFailure(i, FailureKind.ERROR, "NameError: x") for i in range(7)] + [
        CellFailure(9, FailureKind.TIMEOUT, "t")
    ]
    assert report.status(Outcome("a", failures=failures)) == "timeout in cell 10"
    assert report.status(Outcome("a", failures=failures[:7])) == "error in cell 1, 2, 3, 4 and 3 more"
    assert report.status(Outcome("a", failures=[CellFailure(3, FailureKind.NOT_RUN, "")])) == "total time limit reached"
    assert (
        report.status(Outcome("a", problem="refused: the notebook is a symbolic link"))
        == "refused: the notebook is a symbolic link"
    )
    assert report.status(Outcome("a")) == "ok"


def test_results_json_follows_gradescope_and_hides_diagnostics() -> None:
    results = report.results_json(_outcome(), visibility="after_published")
    assert results["score"] == 70 and results["execution_time"] == 12.3 and results["stdout_visibility"] == "hidden"
    visible = [t for t in results["tests"] if t["visibility"] != "hidden"]
    assert [t["number"] for t in visible] == ["1.1", "2.1", "3.1", "4.1", "5.1", "5.2"]
    assert all(
        set(t) == {"name", "number", "score", "max_score", "status", "output", "output_format", "visibility"}
        for t in visible
    )
    assert results["output_format"] == "html" and {t["output_format"] for t in results["tests"]} == {"html"}
    assert {t["visibility"] for t in visible} == {"after_published"}
    hidden = [t for t in results["tests"] if t["visibility"] == "hidden"]
    assert len(hidden) == 1 and SECRET_TRACEBACK in hidden[0]["output"] and hidden[0]["max_score"] == 0
    assert SECRET_TRACEBACK not in json.dumps(visible) + results["output"]
    assert results["leaderboard"] == [{"name": "Foreground IoU", "value": 0.6123}]
    assert results["extra_data"] == {"sandbox": "bwrap (test)", "partial": False}


def test_pending_checks_neither_earn_nor_lose() -> None:
    outcome = _outcome()
    outcome.checks[-1] = _check("training", 3, CheckStatus.PENDING, "the full profile is graded on a GPU")
    assert outcome.total == 67 and report.status(outcome) == "ok; partial: 3 points pending"
    entry = next(t for t in report.results_json(outcome)["tests"] if "(pending)" in t["name"])
    assert (entry["score"], entry["max_score"]) == (0, 0) and "neither earned nor lost" in entry["output"]
    assert "## Pending" in report.feedback_markdown(outcome)


def test_feedback_names_every_lost_point_and_caps_notes() -> None:
    outcome = _outcome(
        notes=["x" * 1000], failures=[CellFailure(11, FailureKind.ERROR, "NameError: " + "y" * 1000, "model.fit(")]
    )
    text = report.feedback_markdown(outcome)
    assert "(-30): use padding='same'." in text and f"**Score: 70 / {MAX_POINTS}**" in text
    assert all(len(line) < 330 for line in text.splitlines()) and "cell 12 `model.fit(`: `NameError: y" in text
    assert SECRET_TRACEBACK not in text and SECRET_TRACEBACK in report.grader_log(outcome)


def test_csv_and_merge_rebuild_the_same_table(tmp_path: Path) -> None:
    first = _outcome()
    second = Outcome("bob", problem="invalid notebook: not a readable notebook")
    for outcome in (first, second):
        report.write_student(outcome, tmp_path / outcome.student)
    report.write_csv([second, first], tmp_path / "direct.csv")
    merged = batch.merge(tmp_path)
    assert [o.student for o in merged] == ["ann", "bob"] and merged[0] == first
    assert (tmp_path / "grades.csv").read_text() == (tmp_path / "direct.csv").read_text()
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert list(rows[0]) == ["student", *SECTIONS, "total", "max", "status"]
    assert rows[0]["total"] == "70" and rows[1]["status"].startswith("invalid notebook")


def test_student_text_cannot_pose_as_the_grader_or_a_formula(tmp_path: Path) -> None:
    outcome = Outcome(
        "=cmd", failures=[CellFailure(0, FailureKind.ERROR, "ValueError: **Score: 100 / 100** `x`", "raise")]
    )
    assert "`ValueError: **Score: 100 / 100** 'x'`" in report.feedback_markdown(outcome)
    report.write_csv([outcome], tmp_path / "grades.csv")
    assert (tmp_path / "grades.csv").read_text().splitlines()[1].startswith("'=cmd,")


def test_text_no_encoder_can_write_does_not_stop_the_reports(tmp_path: Path) -> None:
    """A student's exception message with a lone surrogate once made the batch die while writing feedback.md."""
    bad = "ValueError: \ud800 \x1b[31mred"
    outcome = Outcome(
        "ann",
        checks=[_check("preprocess", 10, CheckStatus.FAILED, cap(bad))],
        failures=[CellFailure(0, FailureKind.ERROR, bad, "raise")],
        diagnostics=[bad],
    )
    report.write_student(outcome, tmp_path)
    for name in ("feedback.md", "grader.log", "results.json"):
        assert "\x1b" not in (tmp_path / name).read_text(errors="strict")


def test_markdown_keeps_student_text_inert_across_lines_and_links() -> None:
    """A code span cannot hold a blank line: one that did would end there and leave the rest live."""
    from markdown_it import MarkdownIt

    from autograder import markup

    hostile = (
        "invalid notebook: `ValidationError: x\n\n'<img src=x onerror=alert(1)>' [a](http://example.invalid)` and <b>"
    )
    rendered = MarkdownIt("commonmark").render(markup.markdown(hostile))
    assert "<img" not in rendered and "<a " not in rendered and "<b>" not in rendered, rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered


PLAIN = [
    "Mask: pet (1) and border (3) -> 1, background (2) -> 0",
    "the learning rate is 0.0001, expected LEARNING_RATE = 0.003: pass learning_rate=LEARNING_RATE, not a number.",
    "image values span [0, 255], expected [0, 1]: divide by 255; x < 3 and y > 2 # not a heading | not a table",
    "make_unet with base_num_f=8 has 500,625 parameters, expected 485,889 (100%); 2 + 2 = 4!",
]
LIVE = [
    "<b>bold</b>",
    "<img src=x onerror=alert(1)>",
    "[a](http://example.invalid)",
    "![i](data:x)",
    "*em*",
    "**strong**",
    "_em_",
    "~~gone~~",
    "&lt;b&gt;",
    r"\*escaped",
    "www.example.invalid",
    "https://example.invalid/x",
    "mail@example.invalid",
    "<http://example.invalid>",
    "<!-- comment -->",
]


def _rendered(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def test_feedback_markdown_reads_as_plain_text() -> None:
    """The grader's words appear as written: no backslash escapes; a rendered page shows the same words."""
    import html as html_lib
    import re

    from autograder import markup

    for text in PLAIN:
        assert markup.markdown(text) == text, text
        shown = html_lib.unescape(re.sub(r"<[^>]+>", "", _rendered(f"- Note: {markup.markdown(text)}")))
        assert shown.strip() == f"Note: {text}", shown
    outcome = _outcome(notes=[PLAIN[0]])
    outcome.checks[1] = _check("encoder", 30, CheckStatus.FAILED, f"{PLAIN[2]} {PLAIN[3]}")
    text = report.feedback_markdown(outcome)
    assert "\\" not in text and f"- Note: {PLAIN[0]}." in text and f"{PLAIN[2]} {PLAIN[3]}" in text


def test_every_committed_facts_feedback_reads_without_escapes(tmp_path: Path) -> None:
    """Every message the hidden checks give the committed notebooks, in feedback.md: no backslash anywhere."""
    from grading import FIXTURES, judge, load_fixture

    for fixture in sorted(FIXTURES.glob("*.json")):
        results = judge(tmp_path, load_fixture(fixture.stem))
        text = report.feedback_markdown(Outcome(fixture.stem, checks=results))
        assert "\\" not in text, (fixture.stem, [line for line in text.splitlines() if "\\" in line])


def test_markup_in_prose_becomes_code_and_nothing_renders_live() -> None:
    from autograder import markup

    for text in LIVE:
        shown = markup.markdown(f"a value {text} in prose, and `{text}` in a span")
        rendered = _rendered(f"- {shown}")
        live = ("<a ", "<img", "<b>", "<em>", "<strong>", "<s>", "<del>", "<!--")
        assert not [tag for tag in live if tag in rendered], (text, rendered)
        assert markup.plain(shown) == f"a value {text} in prose, and {text} in a span", shown
    assert markup.markdown("a\n\n# heading\n[x]: http://example.invalid") == "a # heading [x]: `http://example.invalid`"
    assert markup.markdown("empty `` span `<b>`") == "empty  span `<b>`", "an empty span would pair with others"


def test_cap_ends_at_a_sentence_or_a_word_with_an_ellipsis() -> None:
    sentence = "The mask maps pet (1) and border (3) to 1. "
    shortened = cap(sentence * 10, 100)
    assert shortened == (sentence * 2).rstrip() + " …" and len(shortened) <= 100
    words = cap("word " * 40, 50)
    assert words.endswith("word…") and len(words) <= 50 and "  " not in words
    span = cap("calling `preprocess` failed: `ValueError: " + "a b " * 50 + "`", 80)
    assert span.endswith("…`") and span.count("`") % 2 == 0 and len(span) <= 80
    assert cap("x" * 400, 30) == "x" * 28 + "…" and cap("short enough.", 30) == "short enough."
    notes = report.feedback_markdown(_outcome(notes=[sentence * 10]))
    assert f"- Note: {cap(sentence * 10)}\n" in notes, "a shortened note gets no full stop after its ellipsis"


def test_a_failed_cell_reads_as_a_sentence_and_its_first_line_ends_at_a_word() -> None:
    line = "model = make_unet(input_shape=(IMG_SIZE, IMG_SIZE, 3), base_num_f=BASE_FILTERS, num_classes=1)"
    failure = CellFailure(28, FailureKind.ERROR, "AssertionError: run its cell again.", line)
    text = report.feedback_markdown(_outcome(failures=[failure]))
    note = next(row for row in text.splitlines() if row.startswith("- Note: cell 29"))
    assert note == (
        "- Note: cell 29 `model = make_unet(input_shape=(IMG_SIZE, IMG_SIZE, 3)…`: "
        "`AssertionError: run its cell again.`"
    ), note


def test_a_cause_several_checks_share_is_stated_once_then_pointed_to(tmp_path: Path) -> None:
    """The unfilled release: each function's "not written yet" and the missing trained model once, in every report a
    student reads; the other checks they stopped name the check that states it. The instructor's messages stay
    whole."""
    from grading import judge, load_fixture

    results = judge(tmp_path, load_fixture("unfilled_release"))
    shared = [r for r in results if r.cause]
    assert len(shared) == len(results) and len({r.cause for r in results}) == 6, "5 functions and the trained model"
    outcome = Outcome("unfilled", checks=results)
    markdown = report.feedback_markdown(outcome)
    page = report.results_json(outcome)
    outputs = [t["output"] for t in page["tests"] if t["visibility"] != "hidden"]
    for text in (markdown, page["output"], "\n".join(outputs)):
        assert text.count("is not written yet") == 5 and text.count("there is no trained model") == 1, text
        assert text.count('see "') == len(results) - 6
    first = next(r for r in wording.stated_once(results) if r.section == "training")
    assert f'see "{first.name}" above' in markdown
    assert all(r.message == r.cause for r in outcome.checks), "outcome.json keeps every check's own message"
