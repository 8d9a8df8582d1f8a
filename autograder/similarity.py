"""Flag pairs of submissions whose written code looks copied; for the instructor only, never changes a grade.

A submission's written code is what its author typed: its solution cells and its cells without a grade id (the
release's free cells and any cell the student added), less IPython magics and shell lines. copydetect tokenises it
with pygments, turning every identifier, attribute and string into one letter and dropping comments and whitespace,
and fingerprints the k-grams of that token text. Code the release hands out is boilerplate and never matches;
so is the instructor's answer when it is given (`reference`): it is what a student who follows the hints writes.
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
# Measured on tests/fast/fixtures/similarity (NOISE 15, min score). Honest, independently written notebooks (ana, ben,
# chen, dana, eli, fay, and the solution as a seventh) reach at most 0.602 (ana/solution) against the release alone,
# except fay/solution at 0.858: both follow the hints word for word and write nothing else, which only `reference`
# tells from a copy; with the solution as `reference` they reach at most 0.214 (ana/fay). Disguised copies of ana
# score at least 0.862 against the release alone (renamed 1.000, comments 1.000, whitespace 0.980, reordered 0.878,
# all four at once 0.862) and 0.744 with `reference` (1.000, 1.000, 0.968, 0.765, 0.744). 0.67 is the middle of
# 0.602..0.744, the range that separates them either way.
THRESHOLD = 0.67
CODE_LIMIT = 200_000  # characters of one student's written code compared (a whole notebook's exercises are ~10 kB)


@dataclass(frozen=True)
class Pair:
    """Two students whose written code matches at `score` (0 to 1), with the matching spans of each one's code."""

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


def compare(
    notebooks: dict[str, Path], release: Path, threshold: float = THRESHOLD, reference: Path | None = None
) -> list[Pair]:
    """Pairs of readable notebooks whose score is at least `threshold`, highest first.

    The score is the smaller of copydetect's two directional similarities (the share of each student's own code
    that the other has): a whole copy keeps both high, while a short, generic notebook inside a long one scores low.
    Against the release alone on the fixtures, the larger of the two put the solution inside ana at 0.968, above the
    weakest disguised copy (0.903); the mean left a 0.785..0.882 gap, the smaller leaves 0.602..0.862.
    `reference` is the instructor's solution notebook, whose code then counts as boilerplate too (recommended).
    An unreadable submission is skipped and logged; an unreadable release or reference raises ValueError.
    """
    release_nb = load(release)
    boilerplate = _boilerplate(release_nb, [release_nb] + ([load(reference)] if reference else []))
    codes = {
        student: code[:CODE_LIMIT] for student, path in sorted(notebooks.items()) if (code := _read(path, release_nb))
    }
    prints = {student: _fingerprint(code, boilerplate) for student, code in codes.items()}
    students = sorted(prints)
    pairs = []
    for i, a in enumerate(students):
        for b in students[i + 1 :]:
            _, (share_a, share_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
            score = float(min(share_a, share_b))
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
