"""Reports: results.json (Gradescope's format), feedback.md, feedback.html and grader.log per student; grades.csv.

Students see results.json's visible parts, feedback.md and feedback.html: the score per section, the cause of
every lost point, short notes, and (in HTML) figures of their training. Tracebacks, grader errors and sandbox
diagnostics go only to grader.log and to a hidden test in results.json.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import replace
from pathlib import Path

from assignment.points import MAX_POINTS, SECTIONS
from autograder import adjustments, feedback, markup, wording
from autograder.measuring.facts import Facts, parse
from autograder.results import (
    CheckResult,
    CheckStatus,
    Outcome,
    cap,
    clean,
    replace_file,
)

DIAGNOSTICS_LIMIT = 20_000  # characters of instructor diagnostics in results.json
RESULTS_LIMIT = 1_000_000  # bytes of results.json: its figures are drawn smaller, then left out, to stay within it
GRADER_ERROR = "grader error (your instructor has the details)"


def status(outcome: Outcome) -> str:
    """The run status in a few words, e.g. "ok", "ok (self-checks failed: check_preprocess)", "error in cell 12
    `model.fit(`, 14", "refused: ..."."""
    words = cap(outcome.problem or (GRADER_ERROR if outcome.judge_problem else "")) or wording.run(outcome.failures)
    if outcome.pending:
        words += f"; partial: {sum(c.max_score for c in outcome.pending):g} points pending"
    return words


def student_notes(outcome: Outcome) -> list[str]:
    """The notes a student sees: the grader's notes and every failed cell."""
    return [cap(n) for n in outcome.notes] + [wording.describe_failure(f) for f in outcome.failures]


def _test_entry(check: CheckResult, number: str, visibility: str) -> dict:
    title = SECTIONS[check.section][0]
    entry = {
        "name": f"{title}: {check.name}",
        "number": number,
        "score": check.score,
        "max_score": check.max_score,
        "status": check.status.value,
        "output_format": "html",
        "visibility": visibility,
    }
    if check.status is CheckStatus.PENDING:
        output = f"<p>Not graded here, neither earned nor lost: {feedback.text(cap(check.message))}</p>"
        return {**entry, "name": f"{entry['name']} (pending)", "score": 0, "max_score": 0, "output": output}
    output = f"<p>{feedback.text(cap(check.message)) if check.message else 'passed'}</p>"
    if check.values:
        output += "<p>" + html.escape(", ".join(f"{key}: {value:.4g}" for key, value in check.values.items())) + "</p>"
    return {**entry, "output": output}


def instructor_adjustments(outcome: Outcome) -> list[tuple[str, adjustments.Adjustment, str]]:
    """Each adjustment with its section's title and what the section's bounds did to it (see adjustments.shown)."""
    listed = adjustments.shown(outcome.checked_points(), outcome.adjustments)
    return [(SECTIONS[a.section][0], a, bound) for a, bound in listed]


def _adjustment_entry(title: str, adjustment: adjustments.Adjustment, bound: str, visibility: str) -> dict:
    note = feedback.text(adjustment.note) if adjustment.note else "no note"
    return {
        "name": f"{title}: adjusted by your instructor",
        "score": adjustment.points,
        "max_score": 0,
        "output_format": "html",
        "output": f"<p>Your instructor's note: {note}</p>" + (f"<p>{html.escape(bound)}</p>" if bound else ""),
        "visibility": visibility,
    }


def _feedback(outcome: Outcome, measured: Facts | None, run_config: dict | None, name: str = "") -> feedback.Feedback:
    failed = [wording.describe_failure(f) for f in outcome.failures]
    carried = wording.carried_note(outcome.carried) if outcome.carried else ""
    return feedback.Feedback(outcome, status(outcome), failed, measured, run_config, carried, name=name)


def results_json(
    outcome: Outcome,
    visibility: str = "visible",
    measured: Facts | None = None,
    run_config: dict | None = None,
    shared: feedback.Feedback | None = None,
    name: str = "",
) -> dict:
    """Gradescope's autograder results format, in HTML: the feedback page's content on top (figures of `measured`
    included while the file stays within RESULTS_LIMIT, titled `name` when given), one test per check (`shared`: the
    page's own figures)."""
    page = shared or _feedback(outcome, measured, run_config, name)
    counters = dict.fromkeys(SECTIONS, 0)
    tests = []
    for check in wording.stated_once(outcome.checks):
        counters[check.section] += 1
        number = f"{list(SECTIONS).index(check.section) + 1}.{counters[check.section]}"
        tests.append(_test_entry(check, number, visibility))
    tests += [_adjustment_entry(*shown, visibility) for shown in instructor_adjustments(outcome)]
    sandbox = f"sandbox: {outcome.sandbox or 'none (the notebook was not run)'}"
    judging = [f"the hidden checks did not run: {outcome.judge_problem}"] if outcome.judge_problem else []
    diagnostics = "\n\n".join([sandbox, *outcome.diagnostics, *judging])[-DIAGNOSTICS_LIMIT:]
    tests.append(
        {
            "name": "Grader diagnostics (instructor only)",
            "score": 0,
            "max_score": 0,
            "output_format": "html",
            "output": f"<pre>{html.escape(diagnostics, quote=False)}</pre>",
            "visibility": "hidden",
        }
    )
    result = {
        "score": outcome.total,
        "execution_time": round(outcome.seconds, 1),
        "output": "",
        "output_format": "html",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"sandbox": outcome.sandbox, "partial": bool(outcome.pending)},
    }
    # the leaderboard ranks against the true masks, also where the check judged the student's own (carried forward)
    iou = next(
        (c.values.get("true_iou", c.values["foreground_iou"]) for c in outcome.checks if "foreground_iou" in c.values),
        None,
    )
    if iou is not None:
        result["leaderboard"] = [{"name": "Foreground IoU", "value": round(iou, 4)}]
    room = RESULTS_LIMIT - len(json.dumps(result, indent=2).encode())
    fitted = page.fitted(lambda shown, dropped: json.dumps(feedback.body(page, shown, dropped)), room)
    result["output"] = json.loads(fitted)
    return result


def _stored(folder: Path) -> tuple[Facts | None, dict | None]:
    """The facts and run settings in OUT/<student>/ (facts.json, run.json), when readable."""
    try:
        return parse(Facts, json.loads((folder / "facts.json").read_text())), json.loads(
            (folder / "run.json").read_text()
        )
    except (OSError, ValueError):
        return None, None


def results_from(folder: Path, visibility: str, name: str = "") -> dict:
    """results_json of the outcome in OUT/<student>/, with the figures of its facts.json and run.json when readable,
    its page titled `name` when given."""
    return results_json(Outcome.load(folder / "outcome.json"), visibility, *_stored(folder), name=name)


def rewrite(folder: Path, outcome: Outcome) -> None:
    """OUT/<student>/'s reports written again for `outcome` (re-judged, or adjusted), with the figures of the facts
    stored there and the visibility of its run's profile."""
    measured, run_config = _stored(folder)
    visibility = (run_config or {}).get("profile", {}).get("details_visibility", "visible")
    write_student(outcome, folder, visibility, measured, run_config)


def _sentence(text: str) -> str:
    """`text` ending as a sentence: a full stop unless it ends (or its last code span ends) in one, a question, or
    an ellipsis (it was shortened)."""
    return text if text.rstrip("`").endswith((".", "!", "?", "…")) else f"{text}."


def feedback_markdown(outcome: Outcome) -> str:
    """A student-facing summary naming the cause of every lost point; every text a student influenced is inert."""
    md = markup.markdown
    lines = [
        f"# Feedback for {md(outcome.student)}",
        "",
        f"**Score: {outcome.total:g} / {MAX_POINTS}**. Run status: {md(status(outcome))}.",
        "",
    ]
    if outcome.carried:
        lines += [f"**Carried forward**: {md(wording.carried_note(outcome.carried))}", ""]
    lines += [f"- Note: {md(_sentence(note))}" for note in student_notes(outcome)]
    lines += ["", "| Section | Points |", "|---|---|"]
    points = outcome.section_points()
    lines += [f"| {title} | {points[key]:g} / {maximum} |" for key, (title, maximum) in SECTIONS.items()]
    if outcome.adjustments:
        lines += ["", "## Adjusted by your instructor", ""]
        lines += [
            f"- **{title}** ({a.points:+g}): your instructor's note: {md(a.note) or 'none'}"
            + (f" ({bound})" if bound else "")
            for title, a, bound in instructor_adjustments(outcome)
        ]
    ordered = wording.stated_once(outcome.checks)
    lost = [c for c in ordered if c.status is CheckStatus.FAILED]
    heading = (
        "## Points lost" if lost else "## No points lost" if outcome.checks else "## No checks ran (see the run status)"
    )
    lines += ["", heading, ""]
    lines += [f"- **{SECTIONS[c.section][0]}**, {md(c.name)} (-{c.max_score:g}): {md(c.message)}" for c in lost]
    pending = [c for c in ordered if c.status is CheckStatus.PENDING]
    if pending:
        lines += ["", "## Pending (not graded here, neither earned nor lost)", ""]
        lines += [
            f"- **{SECTIONS[c.section][0]}**, {md(c.name)} ({c.max_score:g} points): {md(c.message)}" for c in pending
        ]
    return "\n".join(lines) + "\n"


def grader_log(outcome: Outcome) -> str:
    """Everything the instructor may need: status, sandbox, diagnostics, check details."""
    lines = [
        f"student: {outcome.student}",
        f"status: {status(outcome)}",
        f"sandbox: {outcome.sandbox}",
        f"seconds: {outcome.seconds:.1f}",
        "",
    ]
    lines += outcome.diagnostics
    lines += [f"the hidden checks did not run: {outcome.judge_problem}"] if outcome.judge_problem else []
    lines += [f"adjustment: {a.section} {a.points:+g}: {a.note}" for a in outcome.adjustments]
    lines += [
        f"check {c.id}: {c.status.value} {c.score:g}/{c.max_score:g} {c.values or ''} {c.diagnostic}".rstrip()
        for c in outcome.checks
    ]
    return clean("\n".join(lines)) + "\n"


def write_student(
    outcome: Outcome,
    folder: Path,
    visibility: str = "visible",
    measured: Facts | None = None,
    run_config: dict | None = None,
) -> None:
    """results.json, feedback.md, feedback.html, grader.log and, last, outcome.json in `folder` (`measured`: the
    facts behind it, `run_config`: the run's settings, as the checks got them)."""
    folder.mkdir(parents=True, exist_ok=True)
    shared = _feedback(outcome, measured, run_config)
    noted = outcome
    if not shared.figures(0) and shared.problem:  # drawn first: a figure that failed is noted for the instructor
        noted = replace(outcome, diagnostics=[*outcome.diagnostics, shared.problem])
    texts = {
        "results.json": json.dumps(results_json(noted, visibility, shared=shared), indent=2),
        "feedback.md": feedback_markdown(outcome),
        "feedback.html": feedback.page(shared),
        "grader.log": grader_log(noted),
    }
    for name, text in texts.items():
        (folder / name).write_text(text, errors="backslashreplace")
    outcome.save(folder / "outcome.json")


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return f"'{text}" if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def write_csv(outcomes: list[Outcome], path: Path) -> None:
    """grades.csv: one row per student, points per section, total, max, status."""
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["student", *SECTIONS, "total", "max", "status"])
    for outcome in sorted(outcomes, key=lambda o: o.student):
        points = outcome.section_points()
        cells = [f"{points[k]:g}" for k in SECTIONS]
        writer.writerow([_cell(outcome.student), *cells, f"{outcome.total:g}", MAX_POINTS, _cell(status(outcome))])
    replace_file(path, table.getvalue())


def table(outcomes: list[Outcome]) -> str:
    """A plain-text table of the batch for the terminal."""
    header = ["student", *SECTIONS, "total", "status"]
    rows = [
        [o.student, *(f"{o.section_points()[k]:g}" for k in SECTIONS), f"{o.total:g}/{MAX_POINTS}", status(o)]
        for o in sorted(outcomes, key=lambda o: o.student)
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    )
