"""The student's feedback page (OUT/<student>/feedback.html), the HTML body results.json shares with it, and the
page shell the batch report uses too.

One self-contained file: inline CSS, figures as PNG data URIs, a Content-Security-Policy that forbids every
request, no script. Every text a student can influence goes through `text` (autograder.markup.html, with web
addresses broken so no viewer links them). Figures that would push a page over its size limit are drawn smaller,
then left out, and the page says so.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assignment.points import MAX_POINTS, SECTIONS
from autograder import adjustments, figures, markup, wording
from autograder.figures import Drawn
from autograder.measuring.facts import Facts, Scores, Status, Training
from autograder.results import CheckStatus, Outcome, cap

CURVES = Path(__file__).resolve().parent.parent / "assignment" / "reference_curves.json"
PAGE_LIMIT = 1_000_000  # bytes of one feedback.html
SHOWN = 40  # notes and failed cells listed; the rest are counted
SIZES = ((96, True), (64, True), (64, False))  # (dpi, with the predictions) tried in turn, then no figures
STYLE = """:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--good:#1a7f37;--bad:#cf222e;
--warn:#9a6700;--blue:#0969da}*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--soft)}main{max-width:1060px;margin:0 auto;padding:28px 24px 48px}main.wide{max-width:1360px}
section,header.top{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:0 0 18px}
header.top{display:flex;justify-content:space-between;align-items:center;gap:24px}
h1{font-size:26px;margin:2px 0 6px;word-break:break-all}h2{font-size:18px;margin:0 0 12px}
h3{font-size:15px;margin:14px 0 4px}p{margin:6px 0}
.kicker{color:var(--muted);font-size:13px;text-transform:uppercase;letter-spacing:.06em;margin:0}
.total{text-align:right;white-space:nowrap}.total strong{font-size:46px;line-height:1}.total span{color:var(--muted)}
.status{display:inline-block;padding:2px 10px;border-radius:999px;font-weight:600;font-size:14px}
.status.ok{background:#dafbe1;color:var(--good)}.status.bad{background:#ffebe9;color:var(--bad)}
.status.warn{background:#fff8c5;color:var(--warn)}div.wide{overflow-x:auto}
table{border-collapse:collapse;width:100%}th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}th{font-size:13px;color:var(--muted);font-weight:600}td.num,th.num{text-align:right;
white-space:nowrap;font-variant-numeric:tabular-nums}td.status-words{min-width:220px}
.bar{background:#eff2f5;border-radius:5px;height:10px;min-width:120px;overflow:hidden;margin-top:6px}
.bar span{display:block;height:100%;background:var(--good)}.bar span.part{background:var(--warn)}
.bar span.none{background:var(--bad)}
ul{margin:4px 0 8px;padding-left:22px}li{margin:3px 0}.minus{color:var(--bad);font-weight:600;white-space:nowrap}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);border:1px solid var(--line);
border-radius:4px;padding:0 4px;word-break:break-word}
figure{margin:10px 0}figure img{max-width:100%;height:auto;display:block}figcaption,.muted{color:var(--muted);
font-size:13px}.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;font-size:12px;
max-height:480px;white-space:pre-wrap;word-break:break-word}mark{background:#fff1a8}a{color:var(--blue)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:8px 24px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:10px}.card{border:1px solid var(--line);border-radius:8px;
padding:8px 14px;min-width:110px}.card strong{display:block;font-size:24px}summary{cursor:pointer;padding:4px 0}
th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:after{content:" \\2195";color:var(--line)}"""


def unlinked(escaped: str) -> str:
    """Escaped HTML that reads the same but holds no web address a viewer would link (split at a <wbr>) and no
    Markdown link syntax (brackets as character references), whatever renders it."""
    for raw, inert in (("://", ":<wbr>//"), ("www.", "www<wbr>."), ("[", "&#91;"), ("]", "&#93;")):
        escaped = escaped.replace(raw, inert)
    return escaped


def text(value: str) -> str:
    """Text a student may have influenced, for an element's content (never an attribute): escaped, code spans as
    <code>, nothing a viewer would link; quotes stay as typed, which element content allows."""
    return unlinked(markup.html(value).replace("&#x27;", "'").replace("&quot;", '"'))


def section(title: str, content: str) -> str:
    return f"<section><h2>{title}</h2>{content}</section>"


def table(head: list[str], rows: list[str], css: str = "") -> str:
    """A table of `rows` (each a <tr>) under the header cells `head` (each a <th>)."""
    head_row = "<thead><tr>" + "".join(head) + "</tr></thead>"
    return f'<div class="wide"><table class="{css}">{head_row}<tbody>{"".join(rows)}</tbody></table></div>'


def bar(share: float, tone: str = "") -> str:
    """A bar filled to `share` (0 to 1), by default green when full, amber when partly, red when empty."""
    tone = tone or ("" if share >= 1 else "part" if share > 0 else "none")
    return f'<div class="bar"><span class="{tone}" style="width:{100 * share:.0f}%"></span></div>'


def figure(drawn: Drawn, caption: str = "", heading: bool = False) -> str:
    title = f"<h3>{html.escape(drawn.title)}</h3>" if heading else ""
    caption = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure>{title}<img src="{drawn.uri}" alt="{html.escape(drawn.alt)}">{caption}</figure>'


def reference_curve(run_config: dict | None, path: Path = CURVES) -> dict[str, list[float]] | None:
    """The solution's loss and val_loss for the run's profile and data kind, when one is recorded."""
    try:
        recorded = json.loads(path.read_text())
        return recorded[f"{run_config['profile']['name']}/{run_config['data']['kind']}"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class Feedback:
    """What a student's page and results.json show: the outcome, report's words for it, and the facts behind it."""

    outcome: Outcome
    status: str  # report.status
    failed_cells: list[str]  # wording.describe_failure of each failed cell
    measured: Facts | None = None
    run_config: dict | None = None
    carried: str = ""  # wording.carried_note of the second run the training section was judged on
    drawn: dict[int, dict[str, Drawn]] = field(default_factory=dict)  # figures by size, drawn when first needed
    problem: str = ""  # why the figures could not be drawn (instructor-only)
    name: str = ""  # who the page is for, when known (Gradescope's submitters), else the student id

    def figures(self, size: int) -> dict[str, Drawn]:
        """The figures at SIZES[size] (none past the last size, or when drawing failed), by kind."""
        if size >= len(SIZES) or self.measured is None or self.problem:
            return {}
        if size not in self.drawn:
            dpi, with_predictions = SIZES[size]
            training = self.measured.training
            threshold = (self.run_config or {}).get("iou_threshold")
            curve = reference_curve(self.run_config)
            second = self.outcome.second_run  # the history of that notebook is its claim: not drawn (carry.py)
            try:
                judged, baseline = _judged(training, self.run_config)
                made = {
                    "gauge": figures.iou_gauge(judged.iou if judged else None, threshold, baseline, dpi),
                    "curves": None if second else figures.curves(training.history, curve, dpi),
                    "predictions": figures.predictions(training.predictions, dpi) if with_predictions else None,
                }
            except Exception as error:  # noqa: BLE001 - a figure never costs a student their grade or their page
                self.problem = cap(f"feedback figures not drawn: {type(error).__name__}: {error}")
                return {}
            self.drawn[size] = {kind: drawn for kind, drawn in made.items() if drawn}
        return self.drawn[size]

    def fitted(self, render: Callable[[dict[str, Drawn], bool], str], limit: int) -> str:
        """`render(figures, dropped)` with the largest figures that keep it within `limit` bytes."""
        some = bool(self.figures(0))
        for size in range(len(SIZES) + 1):
            page = render(self.figures(size), some and size > 0)
            if len(page.encode()) <= limit:
                break
        return page


def _listed(items: list[str], what: str) -> str:
    more = f"<li>… and {len(items) - SHOWN} more {what}</li>" if len(items) > SHOWN else ""
    return "<ul>" + "".join(f"<li>{text(item)}</li>" for item in items[:SHOWN]) + more + "</ul>"


def _score(outcome: Outcome) -> str:
    points = outcome.section_points()
    rows = [
        f'<tr><td>{html.escape(title)}</td><td class="num">{points[key]:g} / {maximum}</td>'
        f"<td>{bar(points[key] / maximum if maximum else 0.0)}</td></tr>"
        for key, (title, maximum) in SECTIONS.items()
    ]
    return section("Points by section", table(["<th>Section</th>", '<th class="num">Points</th>', "<th></th>"], rows))


def _adjusted(outcome: Outcome) -> str:
    """The instructor's adjustments, each with its note, marked as the instructor's."""
    items = [
        f"<li>{html.escape(SECTIONS[a.section][0])} <strong>({a.points:+g})</strong>: your instructor's note: "
        f"{text(a.note) if a.note else 'none'}{f' ({html.escape(bound)})' if bound else ''}</li>"
        for a, bound in adjustments.shown(outcome.checked_points(), outcome.adjustments)
    ]
    return section("Adjusted by your instructor", f"<ul>{''.join(items)}</ul>") if items else ""


def _checks(outcome: Outcome) -> str:
    """The lost points under their section's title, then what is pending, in the words of feedback.md."""
    checks = wording.stated_once(outcome.checks)
    lost = [c for c in checks if c.status is CheckStatus.FAILED]
    parts = []
    for key, (title, _) in SECTIONS.items():
        items = [
            f'<li>{text(c.name)} <span class="minus">(-{c.max_score:g})</span>: {text(cap(c.message))}</li>'
            for c in lost
            if c.section == key
        ]
        parts += [f"<h3>{html.escape(title)}</h3><ul>{''.join(items)}</ul>"] if items else []
    pending = [
        f"<li>{html.escape(SECTIONS[c.section][0])}, {text(c.name)} ({c.max_score:g} points): "
        f"{text(cap(c.message))}</li>"
        for c in checks
        if c.status is CheckStatus.PENDING
    ]
    if pending:
        parts.append(f"<h3>Pending (not graded here, neither earned nor lost)</h3><ul>{''.join(pending)}</ul>")
    heading = "Points lost" if lost else "No points lost" if outcome.checks else "No checks ran (see the run status)"
    return section(heading, "".join(parts))


def _training(feedback: Feedback, shown: dict[str, Drawn]) -> str:
    """The IoU against its threshold and the baseline, and the curves; or why there is nothing to show."""
    if feedback.measured is None:
        return ""
    training = feedback.measured.training
    config = feedback.run_config or {}
    evaluation = training.evaluation
    threshold = config.get("iou_threshold")
    judged, baseline = _judged(training, config)
    parts = []
    second = feedback.outcome.second_run
    if judged is not None:
        against = f", against the threshold {threshold:.2f}" if threshold is not None else ""
        base = f"; predicting “pet” everywhere scores {baseline:.3f}" if baseline is not None else ""
        where = "private examples" if evaluation.held_out == "private" else "test split"
        second_run = f"the model the grader's second run trained (with its own <code>{second}</code>)"
        whose = f"The foreground IoU of {second_run}" if second else "Your trained model's foreground IoU"
        parts.append(f"<p>{whose} on the grader's {where} is <strong>{judged.iou:.3f}</strong>{against}{base}.</p>")
        if judged is not evaluation.truth:
            parts.append(
                "<p>It is judged against the masks your own preprocess makes of them "
                f"({text(evaluation.carried)}), so that a preprocessing mistake costs its own section only; against "
                f"the true masks it is {evaluation.truth.iou:.3f}.</p>"
            )
    elif evaluation.status is not Status.OK:
        why = evaluation.reason or training.model_problem or "the model was not evaluated"
        detail = f" ({text(cap(training.model_problem))})" if training.model_problem and evaluation.reason else ""
        lead = "Not evaluated here" if evaluation.status is Status.PENDING else "No trained model to show"
        parts.append(f"<p>{lead}: {text(cap(why))}{detail}.</p>")
    if "gauge" in shown:
        parts.append(figure(shown["gauge"]))
    if "curves" in shown:
        run = f"{config.get('profile', {}).get('name', '?')}, {config.get('data', {}).get('kind', '?')} data"
        dashed = f"; dashed: the solution's run under the same profile ({html.escape(run)})"
        caption = "Loss and val_loss per epoch, as your notebook reported them"
        parts.append(figure(shown["curves"], caption + (dashed if reference_curve(config) else "") + "."))
    elif not training.history and not second:
        parts.append('<p class="muted">Your notebook reported no training history (loss per epoch).</p>')
    return section("Training", "".join(parts))


def _judged(training: Training, run_config: dict | None) -> tuple[Scores | None, float | None]:
    """The scores the checks judged (against the student's own masks where the profile carries preprocessing
    forward), and the all-pet baseline when they are against the true masks."""
    evaluation = training.evaluation
    judged = evaluation.judged(((run_config or {}).get("profile") or {}).get("carry_forward", True))
    return judged, training.baseline_iou if judged is evaluation.truth else None


def body(feedback: Feedback, shown: dict[str, Drawn], dropped: bool) -> str:
    """The page's content as simple semantic HTML (also results.json's output)."""
    outcome = feedback.outcome
    words = feedback.status
    tone = "ok" if words == "ok" else "warn" if words.startswith(("ok;", "ok (")) else "bad"
    who = text(feedback.name or outcome.student)
    parts = [
        f'<header class="top"><div><p class="kicker">Tiny U-Net · feedback</p><h1>{who}</h1>'
        f'<p>Run status: <span class="status {tone}">{text(words)}</span></p></div>'
        f'<p class="total"><strong>{outcome.total:g}</strong> <span>/ {MAX_POINTS} points</span></p></header>',
        _score(outcome),
        _adjusted(outcome),
        _checks(outcome),
    ]
    if feedback.carried:
        parts.append(section("Carried forward", f"<p>{text(feedback.carried)}</p>"))
    if outcome.notes:
        parts.append(section("Notes", _listed([cap(n) for n in outcome.notes], "notes")))
    if feedback.failed_cells:
        intro = "<p>The grader ran your notebook from the top; these cells stopped with an error or did not finish:</p>"
        parts.append(section("Cells that did not run cleanly", intro + _listed(feedback.failed_cells, "cells")))
    parts.append(_training(feedback, shown))
    if "predictions" in shown:
        intro = (
            "<p>Your trained model on the grader's first test images: each image, its true mask, and your predicted "
            "probability of “pet” (white: 1).</p>"
        )
        parts.append(section("Predictions", intro + figure(shown["predictions"])))
    if dropped:
        parts.append('<p class="muted">Some figures are drawn smaller or left out to keep this page small.</p>')
    return "".join(parts)


def document(title: str, content: str, script: str = "", wide: bool = False) -> str:
    """A self-contained HTML page whose policy allows no request at all (only data: images and its own script)."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    allowed = f"'sha256-{digest}'" if script else "'none'"
    policy = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {allowed}; base-uri 'none'"
    head = (
        f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{policy}; form-action \'none\'">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{title}</title><style>{STYLE}</style>'
    )
    tail = f"<script>{script}</script>" if script else ""
    main = f'<main class="{"wide" if wide else "page"}">{content}</main>'
    return f'<!doctype html><html lang="en"><head>{head}</head><body>{main}{tail}</body></html>\n'


def page(feedback: Feedback) -> str:
    """feedback.html: the body in a page of its own, within PAGE_LIMIT."""
    title = f"Feedback: {html.escape(feedback.name or feedback.outcome.student)}"
    return feedback.fitted(lambda shown, dropped: document(title, body(feedback, shown, dropped)), PAGE_LIMIT)
