"""Flag pairs of submissions whose written code looks copied; for the instructor only, never changes a grade.

A submission's written code is what its author typed: its solution cells and its cells without a grade id (the
release's free cells and any cell the student added), less IPython magics and shell lines. copydetect tokenises it
with pygments, turning every identifier, attribute and string into one letter and dropping comments and whitespace,
and fingerprints the k-grams of that token text. Code the release hands out and the instructor's answer (the
reference) are boilerplate and never match: the answer is what a student who follows the hints writes.

A pair's score is the larger of copydetect's two directional shares, the share of one student's own code found in
the other's: code a copier adds around a copy (dead, unrelated, the release's or another student's) cannot lower it.
Own code counts as at least MIN_OWN_CODE characters of token text, so that a notebook differing from the answer in a
line or two is not found whole in every notebook that has that line too.

Measured on tests/fast/fixtures/similarity (NOISE 15, MIN_OWN_CODE 300). Honest notebooks written independently (ana,
ben, chen, dana, eli, fay, the solution) reach at most 0.463 (dana/fay), and the solution with one function of one of
them at most 0.340 against another. Copies reach at least 0.742 against whom they copied: ana's notebook disguised
(comments, names or whitespace changed 1.000, statements reordered 0.857, all four 0.857) or padded (3x dead code
0.857, the release's and solution's code 0.826, ben's notebook 1.000 against ana and 0.993 against ben, a dead
statement after every statement 0.742). A copy reaches at most 0.567 against an honest notebook it did not copy
(fay/padded_honest). THRESHOLD 0.65 is the middle of 0.567..0.742. One exception: a notebook that pastes in three
students' code besides ana's holds nearly all of the few lines fay wrote beyond the hints, and is flagged with her too
(0.878). The smaller share, used before, let padding hide a copy (3x dead code: 0.181). Without the solution as
reference, notebooks that follow the hints hold each other's code (ana 0.968 of the solution's) more than the
disguised copy holds ana's (0.903), so `compare` requires it.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import get_token_coverage

from autograder.results import replace_file
from autograder.submission import load

log = logging.getLogger(__name__)

# k, copydetect's noise threshold: a match is a run of at least NOISE characters of token text, about one short
# statement (`x=layers.Concatenate()([x,skip])` is `V=V.V()([V,V])`, 14). Every k-gram is kept (winnowing window 1,
# so the guarantee threshold is NOISE too): notebooks are small, and scores then do not depend on Python's hash seed.
NOISE = 15
# Independent notebooks share at most 152 characters of own token text here (dana/fay); over 300 that stays at 0.51,
# under THRESHOLD. The honest notebooks' own code is 320 to 751, so 300 changes none of their scores.
MIN_OWN_CODE = 300
THRESHOLD = 0.65
CODE_LIMIT = 200_000  # characters of one student's written code compared (a whole notebook's exercises are ~10 kB)


@dataclass(frozen=True)
class Pair:
    """Two students, the share (`score`) of one's own code found in the other's, and each one's matching spans."""

    student_a: str
    student_b: str
    score: float
    code_a: str
    code_b: str
    matches_a: list[tuple[int, int]]
    matches_b: list[tuple[int, int]]


def _without_magics(source: str) -> str:
    """The cell's lines except IPython magics (`%`) and shell escapes (`!`), which are not Python."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def written_code(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> str:
    """The code the student wrote: solution cells and cells without a grade id, in notebook order."""
    solutions = {
        cell.metadata["nbgrader"].get("grade_id")
        for cell in release.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
    }
    parts = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and (not grade_id or grade_id in solutions):
            parts.append(_without_magics(cell.source).strip("\n"))
    return "\n\n".join(part for part in parts if part.strip())


def _boilerplate(release: nbformat.NotebookNode, given: list[nbformat.NotebookNode]) -> frozenset[int]:
    """Every k-gram of the given notebooks' code cells, and of their written code (whose k-grams span cells)."""
    texts = [_without_magics(cell.source) for nb in given for cell in nb.cells if cell.cell_type == "code"]
    texts += [written_code(nb, release) for nb in given]
    every = (CodeFingerprint("given.py", NOISE, 1, language="python", fp=io.StringIO(text)) for text in texts)
    return frozenset().union(*(fingerprint.hashes for fingerprint in every))


def _fingerprint(code: str, boilerplate: frozenset[int]) -> CodeFingerprint:
    """copydetect's fingerprint of `code`, less the k-grams in `boilerplate`.

    They are taken out here rather than by CodeFingerprint(boilerplate=...): copydetect 0.5.0 finds them with
    np.intersect1d(assume_unique=True) on a hash list with repeats, which also drops repeated k-grams of the student.
    """
    fingerprint = CodeFingerprint("written.py", NOISE, 1, language="python", fp=io.StringIO(code))
    fingerprint.hashes = fingerprint.hashes - boilerplate
    fingerprint.hash_idx = {h: idx for h, idx in fingerprint.hash_idx.items() if h not in boilerplate}
    fingerprint.token_coverage = get_token_coverage(fingerprint.hash_idx, NOISE, len(fingerprint.filtered_code))
    return fingerprint


def _spans(slices: np.ndarray, code: str) -> list[tuple[int, int]]:
    """copydetect's copied slices as (start, end) character spans of `code`, clipped and trimmed of blank edges."""
    spans = []
    for start, end in zip(*(np.asarray(row, dtype=int).tolist() for row in slices), strict=True):
        start, end = max(0, start), min(len(code), end)
        text = code[start:end]
        start, end = start + len(text) - len(text.lstrip()), end - len(text) + len(text.rstrip())
        if start < end:
            spans.append((start, end))
    return spans


def _read(path: Path, release: nbformat.NotebookNode) -> str | None:
    """The written code of the notebook at `path`, or None (logged) when it cannot be read."""
    try:
        return written_code(load(path), release)
    except (ValueError, AttributeError, TypeError) as error:  # not a notebook; nbgrader metadata that is not a mapping
        log.warning("similarity: skipped %s (%s)", path, error)
        return None


def _found(share: float, fingerprint: CodeFingerprint) -> float:
    """copydetect's share of this notebook's own code found in the other, over at least MIN_OWN_CODE characters."""
    coverage = float(fingerprint.token_coverage)
    return float(share) * coverage / max(coverage, MIN_OWN_CODE)


def compare(notebooks: dict[str, Path], release: Path, reference: Path, threshold: float = THRESHOLD) -> list[Pair]:
    """Pairs of readable notebooks whose score is at least `threshold`, highest first.

    `reference` is the instructor's solution notebook; its code counts as given, like the release's.
    An unreadable submission is skipped and logged; an unreadable release or reference raises ValueError.
    """
    release_nb = load(release)
    boilerplate = _boilerplate(release_nb, [release_nb, load(reference)])
    codes = {
        student: code[:CODE_LIMIT] for student, path in sorted(notebooks.items()) if (code := _read(path, release_nb))
    }
    prints = {student: _fingerprint(code, boilerplate) for student, code in codes.items()}
    students = sorted(prints)
    pairs = []
    for i, a in enumerate(students):
        for b in students[i + 1 :]:
            _, (share_a, share_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
            score = max(_found(share_a, prints[a]), _found(share_b, prints[b]))
            if score >= threshold:
                pairs.append(
                    Pair(a, b, score, codes[a], codes[b], _spans(slices_a, codes[a]), _spans(slices_b, codes[b]))
                )
    return sorted(pairs, key=lambda pair: (-pair.score, pair.student_a, pair.student_b))


def write_csv(pairs: list[Pair], path: Path) -> None:
    """student_a,student_b,score (3 decimals), highest score first."""
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["student_a", "student_b", "score"])
    for pair in sorted(pairs, key=lambda pair: -pair.score):
        writer.writerow([pair.student_a, pair.student_b, f"{pair.score:.3f}"])
    replace_file(path, table.getvalue())
