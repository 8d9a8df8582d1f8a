"""The instructor's page of a batch, OUT/report.html, and OUT/similarity.csv (copied-work pairs).

    python -m autograder.dashboard OUT        (make report OUT=<dir>)

Built from what OUT holds (every OUT/<student>/outcome.json, read by `batch.merge`, and the manifest's notebooks),
so a merged Slurm batch or a resumed one gets the same page. One self-contained file, like the students' pages:
figures as PNG data URIs, a policy that allows no request, one inline script of ours that sorts the table.
"""

from __future__ import annotations

import argparse
import html
import logging
import statistics
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import numpy as np

from assignment.points import MAX_POINTS, SECTIONS
from autograder import adjustments, batch, figures, provenance, report, similarity
from autograder.feedback import bar, document, figure, section, table, text, unlinked
from autograder.figures import Drawn
from autograder.results import CheckResult, CheckStatus, Outcome, replace_file

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "release" / "tiny_unet" / "tiny_unet.ipynb"
REFERENCE = ROOT / "solution" / "tiny_unet" / "tiny_unet.ipynb"
IOU_CHECK = "test_final_foreground_iou"
DPI = 96
KINDS = ("ok", "error", "timeout", "refused", "grader error", "other")
LISTED = 30  # students named in one cell; the rest are counted
MESSAGES = 6  # distinct messages shown per check
CODE_SHOWN = 40_000  # characters of each side of a copied-work pair
PAIRS_SHOWN = 30  # copied-work pairs shown side by side, the most similar first (similarity.csv lists every one)
SORTING = """document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], column = th.cellIndex, numeric = th.dataset.sort === "number";
      var up = th.getAttribute("aria-sort") !== "ascending";
      var key = function (row) { var cell = row.cells[column]; return cell.dataset.value || cell.textContent; };
      var rows = Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var order = numeric ? Number(key(a)) - Number(key(b)) : key(a).localeCompare(key(b));
        return up ? order : -order;
      });
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});"""


def kind(words: str) -> str:
    """The status kind of `report.status` words: ok, error, timeout, refused, grader error, other."""
    if words == "ok" or words.startswith(("ok;", "ok (")):
        return "ok"
    if "grader error" in words:
        return "grader error"
    if words.startswith("refused"):
        return "refused"
    if words.startswith(("timeout", "total time limit")):
        return "timeout"
    return "error" if words.startswith(("error in cell", "kernel died")) else "other"


def _iou(outcome: Outcome) -> tuple[float, float | None] | None:
    """(foreground IoU, threshold) of the IoU check, when it measured one."""
    check = next((c for c in outcome.checks if c.id == IOU_CHECK and "foreground_iou" in c.values), None)
    return (check.values["foreground_iou"], check.values.get("threshold")) if check else None


class Batch:
    """The outcomes of OUT with what the page says of each student."""

    def __init__(self, out: Path, outcomes: list[Outcome]) -> None:
        self.out = out
        self.outcomes = sorted(outcomes, key=lambda o: o.student)
        self.words = {o.student: report.status(o) for o in self.outcomes}

    def link(self, student: str) -> str:
        """The student's id, linked to their feedback.html when OUT holds one."""
        if (self.out / student / "feedback.html").is_file():
            return f'<a href="{html.escape(quote(student, safe=""))}/feedback.html">{text(student)}</a>'
        return text(student)

    def names(self, students: list[str]) -> str:
        more = f" and {len(students) - LISTED} more" if len(students) > LISTED else ""
        return ", ".join(self.link(s) for s in students[:LISTED]) + more


def _figure(drawn: Drawn | None, caption: str) -> str:
    return figure(drawn, caption, heading=True) if drawn else ""


def _overview(run: Batch) -> str:
    graded = [o.total for o in run.outcomes if o.checks]
    by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
    for student, words in run.words.items():
        by_kind[kind(words)].append(student)
    cards = [(len(run.outcomes), "students")]
    if graded:
        cards += [
            (f"{statistics.mean(graded):.1f}", f"mean of {MAX_POINTS}"),
            (f"{statistics.median(graded):g}", "median"),
        ]
    cards += [(len(names), k) for k, names in by_kind.items() if names]
    shown = "".join(f'<div class="card"><strong>{value}</strong>{label}</div>' for value, label in cards)
    rows = [
        f'<tr><td>{k}</td><td class="num">{len(names)}</td><td>{run.names(names)}</td></tr>'
        for k, names in by_kind.items()
        if names
    ]
    head = ["<th>Status</th>", '<th class="num">Students</th>', "<th>Who (each links to their feedback page)</th>"]
    return (
        f'<header class="top"><div><p class="kicker">Tiny U-Net · batch report</p><h1>{text(run.out.name)}</h1>'
        f'<p class="muted">{len(graded)} graded of {len(run.outcomes)} students</p></div></header>'
        + section("Status", f'<div class="cards">{shown}</div>' + table(head, rows))
    )


def _data(run: Batch) -> str:
    """What the batch graded on, and the IoU threshold with what it rests on (autograder/provenance.py)."""
    graded = provenance.recorded(run.out, [o.student for o in run.outcomes])
    if not graded:
        why = (
            "No student's run settings (run.json) are in this folder (outcomes merged without them?), so what the "
            "batch graded on is not shown."
            if run.outcomes
            else "No student was graded, so no data is recorded."
        )
        return section("Data", f'<p class="muted">{why}</p>')
    return section("Data", provenance.table_html(graded, run.names))


def _distributions(run: Batch) -> str:
    graded = [o for o in run.outcomes if o.checks]
    ious = [found for o in run.outcomes if (found := _iou(o))]
    thresholds = Counter(t for _, t in ious if t is not None).most_common(1)
    threshold = thresholds[0][0] if thresholds else None
    seconds = [o.seconds for o in run.outcomes if o.seconds > 0]
    means = {
        title.split(":")[0]: (statistics.mean(o.section_points()[key] for o in graded), maximum)
        for key, (title, maximum) in SECTIONS.items()
        if graded
    }
    marker = f"threshold {threshold:.2f}" if threshold is not None else ""
    iou = figures.histogram([i for i, _ in ious], list(np.linspace(0, 1, 21)), "foreground IoU", DPI, threshold, marker)
    edges = list(np.linspace(0, max(seconds, default=1) * 1.05, 21))
    shown = [
        _figure(
            figures.histogram([o.total for o in graded], list(range(0, MAX_POINTS + 1, 5)), "total points", DPI),
            f"{len(graded)} graded students, in bins of 5 points.",
        ),
        _figure(figures.section_means(means, DPI), "Mean points of each section over the graded students."),
        _figure(iou, f"{len(ious)} trained models on the grader's held-out examples; dashed: the profile's threshold."),
        _figure(
            figures.histogram(seconds, edges, "run time (s)", DPI),
            f"Grading time of {len(seconds)} notebooks (run, probe and measuring).",
        ),
    ]
    content = "".join(shown)
    return section("Distributions", f'<div class="grid">{content}</div>' if content else "<p>Nothing was graded.</p>")


def _flagged(run: Batch) -> str:
    rows = []
    for o in run.outcomes:
        flags = [("edited locked cells", "; ".join(o.edited))] if o.edited else []
        if kind(run.words[o.student]) in ("grader error", "other"):
            flags.append((kind(run.words[o.student]), run.words[o.student]))
        if o.pending:
            flags.append(("pending checks", ", ".join(f"{c.name} ({c.max_score:g})" for c in o.pending)))
        flags += [("to look at", flag) for flag in o.flags]
        flags += [("adjusted by the instructor", f"{a.section} {a.points:+g}: {a.note}") for a in o.adjustments]
        rows += [f"<tr><td>{run.link(o.student)}</td><td>{flag}</td><td>{text(d)}</td></tr>" for flag, d in flags]
    none = (
        '<p class="muted">None: no edited locked cells, grader errors, unusual statuses, pending checks, '
        "adjustments or other flags.</p>"
    )
    head = ["<th>Student</th>", "<th>Flag</th>", "<th>Detail</th>"]
    return section("Flagged submissions", table(head, rows) if rows else none)


def _failures(run: Batch) -> str:
    """Every check that failed somewhere, most often first, with its messages and who got each."""
    graded: dict[str, list[tuple[str, CheckResult]]] = {}
    for o in run.outcomes:
        for c in o.checks:
            if c.status is not CheckStatus.PENDING:
                graded.setdefault(c.id, []).append((o.student, c))
    failed = {cid: [(s, c) for s, c in pairs if c.status is CheckStatus.FAILED] for cid, pairs in graded.items()}
    rows = []
    for cid in sorted((c for c in failed if failed[c]), key=lambda c: (-len(failed[c]) / len(graded[c]), c)):
        first = failed[cid][0][1]
        messages: dict[str, list[str]] = {}
        for student, c in failed[cid]:
            messages.setdefault(c.message, []).append(student)
        common = sorted(messages.items(), key=lambda item: -len(item[1]))
        listed = "".join(
            f'<li>{text(m) or "no message"} <span class="muted">({len(who)}: {run.names(who)})</span></li>'
            for m, who in common[:MESSAGES]
        )
        listed += f"<li>… and {len(common) - MESSAGES} other messages</li>" if len(common) > MESSAGES else ""
        check = f"{html.escape(SECTIONS[first.section][0])}: {text(first.name)} ({first.max_score:g})"
        count = f"{len(failed[cid])} / {len(graded[cid])}{bar(len(failed[cid]) / len(graded[cid]), 'none')}"
        rows.append(f'<tr><td>{check}<ul>{listed}</ul></td><td class="num">{count}</td></tr>')
    head = ["<th>Check, its messages and who got them</th>", '<th class="num">Failed</th>']
    return section("Checks failed, most often first", table(head, rows) if rows else "<p>No check failed.</p>")


def _students(run: Batch) -> str:
    """The sortable table of every student."""
    numbers = [f'<th class="num" data-sort="number">{name}</th>' for name in [*SECTIONS, "total", "IoU", "seconds"]]
    head = ['<th data-sort="text">student</th>', *numbers, '<th data-sort="text">status</th>']
    rows = []
    for o in run.outcomes:
        points = o.section_points()
        found = _iou(o)
        cells = [f'<td data-value="{html.escape(o.student)}">{run.link(o.student)}</td>']
        cells += [f'<td class="num">{points[key]:g}</td>' for key in SECTIONS]
        cells.append(f'<td class="num"><strong>{o.total:g}</strong></td>')
        iou = f'data-value="{found[0]:.4f}">{found[0]:.3f}' if found else 'data-value="-1">-'
        cells.append(f'<td class="num" {iou}</td><td class="num" data-value="{o.seconds:.1f}">{o.seconds:.0f}</td>')
        rows.append(f'<tr>{"".join(cells)}<td class="status-words">{text(run.words[o.student])}</td></tr>')
    return section("Every student", '<p class="muted">Click a heading to sort.</p>' + table(head, rows, "sortable"))


def _escaped(code: str) -> str:
    return unlinked(html.escape(code))


def _marked(code: str, spans: list[tuple[int, int]]) -> str:
    """`code` escaped, its matching spans in <mark>, cut at CODE_SHOWN characters."""
    shown = code[:CODE_SHOWN]
    parts = []
    at = 0
    for start, end in sorted(spans):
        start, end = max(start, at), min(end, len(shown))
        if start < end:
            parts += [_escaped(shown[at:start]), "<mark>", _escaped(shown[start:end]), "</mark>"]
            at = end
    parts.append(_escaped(shown[at:]))
    cut = f"\n… ({len(code) - CODE_SHOWN} more characters)" if len(code) > CODE_SHOWN else ""
    return "".join(parts) + cut


def _copied(run: Batch, pairs: list[similarity.Pair], note: str) -> str:
    intro = (
        f"<p>Pairs in which {similarity.THRESHOLD:.2f} or more of one student's written code is found in the "
        "other's (copydetect; the code the release hands out and the solution's count as given, and code added "
        "around a copy does not lower the score); matching code is highlighted. For a closer look, not a verdict: "
        'the score does not say who copied whom. All scores: <a href="similarity.csv">similarity.csv</a>.</p>'
    )
    if note or not pairs:
        return section("Copied work", f'{intro}<p class="muted">{text(note or "No pair reaches the threshold.")}</p>')
    shown = []
    for index, p in enumerate(pairs[:PAIRS_SHOWN]):
        sides = "".join(
            f"<div><h3>{run.link(who)}</h3><pre>{_marked(code, spans)}</pre></div>"
            for who, code, spans in ((p.student_a, p.code_a, p.matches_a), (p.student_b, p.code_b, p.matches_b))
        )
        shown.append(
            f"<details{' open' if index == 0 else ''}><summary><strong>{p.score:.3f}</strong>: "
            f'{run.link(p.student_a)} and {run.link(p.student_b)}</summary><div class="pair">{sides}</div></details>'
        )
    if len(pairs) > PAIRS_SHOWN:  # a class that shares much code: the page stays readable (each pair ~30 kB)
        rest = len(pairs) - PAIRS_SHOWN
        shown.append(
            f'<p class="muted">{rest} more pair{"s" if rest > 1 else ""} (scores {pairs[PAIRS_SHOWN].score:.3f} and '
            'below) not shown here: <a href="similarity.csv">similarity.csv</a> lists every pair.</p>'
        )
    return section(f"Copied work ({len(pairs)} pair{'s' if len(pairs) > 1 else ''})", intro + "".join(shown))


def _pairs(out: Path) -> tuple[list[similarity.Pair], str]:
    """Flagged pairs of the manifest's readable notebooks, or a note saying why none were compared."""
    notebooks = {s.student: s.path for s in batch.read_manifest(out) if not s.refused and s.path.is_file()}
    if len(notebooks) < 2:
        return [], "Not compared: OUT's batch manifest lists fewer than two readable notebooks."
    if not REFERENCE.is_file():
        solution = REFERENCE.relative_to(ROOT)
        return (
            [],
            f"Not compared: {solution} is missing; without the solution, code that follows the hints looks copied.",
        )
    try:
        return similarity.compare(notebooks, RELEASE, REFERENCE), ""
    except ValueError as error:
        return [], f"Not compared: {error}"


def build(out: Path) -> Path:
    """OUT/report.html and OUT/similarity.csv from what OUT holds (grades.csv is rewritten by the merge); the page."""
    run = Batch(out, batch.merge(out))
    pairs, note = _pairs(out)
    similarity.write_csv(pairs, out / "similarity.csv")
    content = _overview(run) + _data(run) + _distributions(run) + _flagged(run) + _students(run) + _failures(run)
    page = document(f"Batch report: {html.escape(out.name)}", content + _copied(run, pairs, note), SORTING, wide=True)
    replace_file(out / "report.html", page)
    return out / "report.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write OUT/report.html and OUT/similarity.csv from OUT/<student>/.")
    parser.add_argument("out", type=Path, help="the batch's output folder (make grade's OUT)")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"make report: error: {args.out} is not a folder", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        print(f"report: {build(args.out)}")
    except adjustments.Invalid as error:
        print(f"make report: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
