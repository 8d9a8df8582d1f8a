"""The student's feedback.html and results.json in HTML: figures that decode, inert student text, a size cap."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autograder import feedback, report
from autograder.measuring.facts import (
    Block,
    Call,
    Evaluation,
    Facts,
    Picture,
    Prediction,
    Preprocess,
    Scores,
    Status,
    Training,
    dumps,
)
from autograder.results import CellFailure, CheckResult, CheckStatus, FailureKind, Outcome, Substitution

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import reference_curves

HOSTILE = "<script>alert(1)</script> <img src=http://example.invalid/x.png> [click](http://example.invalid)"
RAW = ["<script>alert(1)</script>", "<img src=http://example.invalid/x.png>", "[click](http://example.invalid)"]
RUN = {"profile": {"name": "smoke"}, "data": {"kind": "synthetic"}, "iou_threshold": 0.6}
PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def picture(array: np.ndarray) -> Picture:
    data = np.ascontiguousarray(array, np.uint8)
    return Picture([int(n) for n in data.shape], base64.b64encode(data.tobytes()).decode())


def predictions(count: int = 6, size: int = 32, noise: bool = False) -> list[Prediction]:
    """Test images with a disc for a pet; `noise`: random pixels everywhere (pictures that compress badly)."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:size, :size]
    shown = []
    for i in range(count):
        disc = (ys - size / 2) ** 2 + (xs - size / 2 - i) ** 2 < (size / 3) ** 2
        image = rng.integers(0, 256, (size, size, 3)) if noise else np.stack([disc * 200 + 30] * 3, axis=-1)
        guess = (
            rng.integers(0, 256, (size, size))
            if noise
            else np.clip(disc * 230 + rng.integers(0, 25, disc.shape), 0, 255)
        )
        shown.append(Prediction(picture(image), picture(disc * 255), picture(guess), iou=0.5 + i / 20))
    return shown


def facts(trained: bool = True, shown: list[Prediction] | None = None, reason: str = "") -> Facts:
    """Facts of a notebook that trained (history, an evaluated model, pictures) or did not."""
    if trained:
        scores = Scores(iou=0.87, flipped_iou=0.86, inverted_iou=0.01, bce=0.05, constant_bce=0.5)
        evaluation = Evaluation(Status.OK, held_out="private", truth=scores, test_loss=0.05)
        history = {"loss": [0.6, 0.2, 0.08, 0.05], "val_loss": [0.4, 0.1, 0.06, 0.05]}
        training = Training(
            40, 200, history, evaluation, baseline_iou=0.2, predictions=predictions() if shown is None else shown
        )
    else:
        evaluation = Evaluation(Status.PROBLEM, reason or "there is no trained model to evaluate")
        training = Training(0, 0, {}, evaluation, model_problem=reason or "trained.keras was not written")
    skipped = Call(ok=False, error="the feedback page does not show what the probe measured")
    return Facts(1, Call(ok=True), Preprocess(skipped, 32), {"make_unet": Block(skipped)}, training)


def check(
    section: str, points: int, status: CheckStatus, message: str = "", check_id: str = "", **values: float
) -> CheckResult:
    score = points if status is CheckStatus.PASSED else 0
    return CheckResult(
        check_id or f"test_{section}_{points}", section, f"a {section} check", points, score, status, message, values
    )


def outcome(student: str = "ann", message: str = "use padding='same'.", **kwargs) -> Outcome:
    checks = [
        check("preprocess", 10, CheckStatus.PASSED),
        check("encoder", 30, CheckStatus.FAILED, message),
        check("decoder", 20, CheckStatus.PASSED),
        check("unet", 30, CheckStatus.PASSED),
        check("training", 7, CheckStatus.PASSED),
        check("training", 3, CheckStatus.PASSED, "", "test_final_foreground_iou", foreground_iou=0.87, threshold=0.6),
    ]
    kwargs = {"sandbox": "bwrap (test)", "diagnostics": ["Traceback: <secret>"], "seconds": 42.0, **kwargs}
    return Outcome(student, checks=checks, **kwargs)


def hostile() -> Outcome:
    """Every student-visible text carries markup, a remote image and a Markdown link."""
    return outcome(
        "mallory",
        message=f"`{HOSTILE}` and outside a span: {HOSTILE}",
        notes=[HOSTILE],
        failures=[CellFailure(3, FailureKind.ERROR, f"ValueError: {HOSTILE}", HOSTILE)],
    )


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in PNG.findall(page)]


def visible(results: dict) -> str:
    """What a student sees of results.json."""
    shown = [t for t in results["tests"] if t["visibility"] != "hidden"]
    return results["output"] + json.dumps(shown, ensure_ascii=False)


def assert_inert_html(page: str) -> None:
    for raw in [*RAW, "http://example.invalid", "<script", "<img src=http", "[click](", "](http"]:
        assert raw.lower() not in page.lower(), f"{raw!r} is live in the page"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


def assert_no_remote_resource(page: str) -> None:
    for pattern in ('src="http', "src='http", 'href="http', 'src="//', 'href="//', "url(", "@import"):
        assert pattern not in page.lower(), pattern
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', page))
    assert not [href for href in re.findall(r'href="([^"]*)"', page) if ":" in href or href.startswith("/")]


def test_student_folder_holds_a_page_with_figures_that_decode(tmp_path: Path) -> None:
    report.write_student(outcome(), tmp_path / "ann", "visible", facts(), RUN)
    names = {p.name for p in (tmp_path / "ann").iterdir()}
    assert {"results.json", "feedback.md", "feedback.html", "grader.log", "outcome.json"} <= names
    page = (tmp_path / "ann" / "feedback.html").read_text()
    assert len(page.encode()) < feedback.PAGE_LIMIT
    pngs = images(page)
    assert len(pngs) == 3 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)  # gauge, curves, predictions
    assert Image.open(io.BytesIO(pngs[-1])).size[0] > 400
    assert "(-30)" in page and "use padding='same'." in page and "0.870" in page and "threshold 0.60" in page
    assert "dashed: the solution" in page  # smoke/synthetic is recorded in assignment/reference_curves.json
    assert "secret" not in page
    assert_no_remote_resource(page)


@pytest.mark.parametrize("carry_forward", [True, False])
def test_the_page_says_which_masks_judged_the_model(tmp_path: Path, carry_forward: bool) -> None:
    measured = facts()
    own = Scores(iou=0.96, flipped_iou=0.96, inverted_iou=0.0, bce=0.09, constant_bce=0.16)
    evaluation = dataclasses.replace(
        measured.training.evaluation, own=own, carried="masks from trimap values 1 -> 1, 2 -> 1, 3 -> 0"
    )
    measured = dataclasses.replace(measured, training=dataclasses.replace(measured.training, evaluation=evaluation))
    run = {**RUN, "profile": {"name": "smoke", "carry_forward": carry_forward}}
    report.write_student(outcome(), tmp_path / "ann", "visible", measured, run)
    page = (tmp_path / "ann" / "feedback.html").read_text()
    assert "grader's private examples is <strong>" in page
    if carry_forward:
        assert "<strong>0.960</strong>" in page and "your own preprocess makes" in page and "it is 0.870" in page
        assert "1 -&gt; 1, 2 -&gt; 1, 3 -&gt; 0" in page and "predicting" not in page
    else:
        assert "<strong>0.870</strong>" in page and "own preprocess" not in page and "scores 0.200" in page


def test_results_json_is_html_with_the_figures_and_keeps_its_keys() -> None:
    results = report.results_json(outcome(), "visible", facts(), RUN)
    assert results["output_format"] == "html" and all(t["output_format"] == "html" for t in results["tests"])
    assert {"score", "execution_time", "output", "stdout_visibility", "tests", "leaderboard", "extra_data"} <= set(
        results
    )
    assert len(images(results["output"])) == 3
    hidden = results["tests"][-1]
    assert (
        hidden["visibility"] == "hidden"
        and hidden["output"] == "<pre>sandbox: bwrap (test)\n\nTraceback: &lt;secret&gt;</pre>"
    )
    assert "secret" not in visible(results)
    failed = next(t for t in results["tests"] if t["status"] == "failed")
    assert failed["output"] == "<p>use padding='same'.</p>" and failed["max_score"] == 30


def test_results_json_stays_under_its_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long = "<x> " * 2_000
    failures = [CellFailure(i, FailureKind.ERROR, long, long) for i in range(200)]
    big = outcome(message=long, notes=[long] * 100, failures=failures, diagnostics=[long * 10])
    measured = facts(shown=predictions(6, 256, noise=True))
    report.write_student(big, tmp_path / "big", "visible", measured, RUN)
    written = (tmp_path / "big" / "results.json").read_bytes()
    assert (
        len(written) < report.RESULTS_LIMIT
        and len((tmp_path / "big" / "feedback.html").read_bytes()) < feedback.PAGE_LIMIT
    )
    results = json.loads(written)
    assert results["output_format"] == "html" and {t["output_format"] for t in results["tests"]} == {"html"}
    assert "… and 160 more cells" in results["output"]
    monkeypatch.setattr(report, "RESULTS_LIMIT", 120_000)
    small = report.results_json(big, "visible", measured, RUN)
    assert len(json.dumps(small, indent=2).encode()) <= 120_000 and "left out" in small["output"]


def test_hostile_student_text_stays_inert_everywhere(tmp_path: Path) -> None:
    reasoned = facts(trained=False, reason=HOSTILE)
    report.write_student(hostile(), tmp_path / "mallory", "visible", reasoned, RUN)
    folder = tmp_path / "mallory"
    assert_inert_html((folder / "feedback.html").read_text())
    assert_inert_html(visible(json.loads((folder / "results.json").read_text())))
    prose = re.sub(r"(`+).+?\1", "", (folder / "feedback.md").read_text(), flags=re.S)  # code spans are inert
    assert not [raw for raw in [*RAW, "](http", "://"] if raw in prose]
    assert not re.search(r"<[A-Za-z/!?]|\]\(|\\", prose), prose  # no tag, no link, and no backslash escape
    assert "`<script>alert(1)</script>`" in (folder / "feedback.md").read_text(), "student text shown as written"


def test_a_notebook_that_never_trained_gets_no_empty_figure(tmp_path: Path) -> None:
    failures = [
        CellFailure(33, FailureKind.ERROR, "NotImplementedError:", "model.compile("),
        CellFailure(34, FailureKind.TIMEOUT, "the cell ran past 180 s", "history = model.fit("),
    ]
    report.write_student(outcome(failures=failures), tmp_path / "bo", "visible", facts(trained=False), RUN)
    page = (tmp_path / "bo" / "feedback.html").read_text()
    assert "<img" not in page and "<figure" not in page and "Predictions" not in page
    assert "Cells that did not run cleanly" in page and "cell 35 <code>history = model.fit(</code>" in page
    assert "No trained model to show: there is no trained model to evaluate (trained.keras was not written)" in page
    results = json.loads((tmp_path / "bo" / "results.json").read_text())
    assert "<img" not in results["output"] and "did not finish" in results["output"]


def test_a_refused_notebook_still_shows_its_score_and_why(tmp_path: Path) -> None:
    report.write_student(Outcome("cy", problem="refused: the notebook is a symbolic link"), tmp_path / "cy")
    page = (tmp_path / "cy" / "feedback.html").read_text()
    assert "refused: the notebook is a symbolic link" in page and "<strong>0</strong>" in page
    assert "No checks ran" in page and "<img" not in page and "Training" not in page
    assert_no_remote_resource(page)


def test_a_figure_that_fails_costs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("no canvas")

    monkeypatch.setattr(feedback.figures, "curves", broken)
    done = outcome()
    report.write_student(done, tmp_path / "ann", "visible", facts(), RUN)
    assert "<img" not in (tmp_path / "ann" / "feedback.html").read_text() and done.total == 70
    assert "feedback figures not drawn: RuntimeError: no canvas" in (tmp_path / "ann" / "grader.log").read_text()


def test_results_from_a_graded_folder_draws_its_figures(tmp_path: Path) -> None:
    report.write_student(outcome(), tmp_path / "ann", "after_published")
    (tmp_path / "ann" / "facts.json").write_text(dumps(facts()))
    (tmp_path / "ann" / "run.json").write_text(json.dumps(RUN))
    results = report.results_from(tmp_path / "ann", "visible")
    assert len(images(results["output"])) == 3 and results["tests"][0]["visibility"] == "visible"
    (tmp_path / "ann" / "facts.json").write_text("{}")
    assert "<img" not in report.results_from(tmp_path / "ann", "visible")["output"]


def test_reference_curves_are_recorded_and_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "solution"
    folder.mkdir()
    (folder / "facts.json").write_text(dumps(facts()))
    config = {
        "profile": {
            "name": "ci",
            "parameters": {"epochs": 4, "img_size": 64, "train_split": "train", "test_split": "test"},
        },
        "data": {"kind": "real"},
    }
    (folder / "run.json").write_text(json.dumps(config))
    path = tmp_path / "curves.json"
    assert reference_curves.record([folder], path) == ["ci/real"]
    assert feedback.reference_curve(config, path)["val_loss"] == [0.4, 0.1, 0.06, 0.05]
    assert feedback.reference_curve({**config, "data": {"kind": "synthetic"}}, path) is None
    assert feedback.reference_curve(config, tmp_path / "missing.json") is None
    smoke = feedback.reference_curve(RUN)
    assert smoke and len(smoke["loss"]) == len(smoke["val_loss"]) > 0
    (folder / "facts.json").write_text(dumps(facts(trained=False)))
    with pytest.raises(ValueError, match="no loss and val_loss"):
        reference_curves.record([folder], path)


def test_a_graded_results_json_is_titled_with_the_name_given(tmp_path: Path) -> None:
    """Gradescope's run titles the page with the submitters' names (engines/gradescope.submitters), as text."""
    report.write_student(outcome("submission"), tmp_path / "submission", "visible", facts(), RUN)
    (tmp_path / "submission" / "run.json").write_text(json.dumps(RUN))
    (tmp_path / "submission" / "facts.json").write_text(dumps(facts()))
    titled = report.results_from(tmp_path / "submission", "visible", "Ana <i>López</i>")["output"]
    assert "<h1>Ana &lt;i&gt;López&lt;/i&gt;</h1>" in titled and "<h1>submission</h1>" not in titled
    assert "<h1>submission</h1>" in report.results_from(tmp_path / "submission", "visible")["output"]


def test_a_second_run_is_named_and_shown_by_its_numbers_only(tmp_path: Path) -> None:
    """The training section judged on the grader's second run (autograder/carry.py): the pages say what was put in and
    why, show its IoU, and draw neither its curves nor its predictions (only the gauge)."""
    why = "the grader's call of your `decoder_block` failed (`NameError: name 'skp' is not defined`)"
    carried = Substitution("decoder_block", why, 23, trained=True)
    report.write_student(outcome(carried=carried), tmp_path / "ann", "visible", facts(shown=[]), RUN)
    page = (tmp_path / "ann" / "feedback.html").read_text()
    assert len(images(page)) == 1 and "Carried forward" in page and "after your cell 23" in page
    assert "the model the grader's second run trained (with its own <code>decoder_block</code>)" in page
    assert "<code>NameError: name 'skp' is not defined</code>" in page and "earns no points" in page
    markdown = (tmp_path / "ann" / "feedback.md").read_text()
    assert "**Carried forward**: The grader's call of your `decoder_block` failed" in markdown
    assert Outcome.load(tmp_path / "ann" / "outcome.json").carried == carried
    untrained = replace(carried, trained=False)
    report.write_student(outcome(carried=untrained), tmp_path / "bo", "visible", facts(), RUN)
    assert "it trained no model either" in (tmp_path / "bo" / "feedback.md").read_text()
    assert len(images((tmp_path / "bo" / "feedback.html").read_text())) == 3, "the first run's own figures"
