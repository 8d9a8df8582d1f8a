"""Student text made inert in every format the reports use.

A message is the grader's words with the student's own text in code spans (`results.literal` puts it between
backticks and turns backticks inside into quotes). Whatever a student can influence may still appear outside a
span (a value the grader quotes), so the prose is guarded too. In Markdown, prose stays as it reads (feedback.md is
also read as plain text: no backslash escapes), on one line, and each word that could start markup (an HTML tag or
autolink, a link or image, emphasis, a backslash escape, a character reference, a web or e-mail address) is set as a
code span, which no renderer turns into anything but code. In HTML everything is escaped and spans become <code>.
No student byte becomes a tag, a link, an image or a script.
"""

from __future__ import annotations

import html as html_lib
import re

# A word that could start markup in CommonMark or GitHub's Markdown when it stands in prose
LIVE = re.compile(r"<[A-Za-z/!?]|\]\(|\]\[|[*~]|(?:^|[^0-9A-Za-z])_|\\[!-/:-@\[-`{-~]|&#?\w+;|://|www\.|@", re.I)


def _spans(text: str) -> list[tuple[bool, str]]:
    """(is it a code span, its text) in order; an unpaired backtick counts as prose."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one opens nothing
        parts[-2:] = [parts[-2] + "'" + parts[-1]]
    return [(index % 2 == 1, part) for index, part in enumerate(parts)]


def _prose_markdown(text: str) -> str:
    """Prose on one line, each word that could start markup set as a code span (a prose word holds no backtick)."""
    words = re.split(r"(\s+)", text)
    return "".join(" " if not word.strip() else f"`{word}`" if LIVE.search(word) else word for word in words if word)


def markdown(text: str) -> str:
    """`text` for a Markdown document that also reads as plain text: prose as written, with the words that could
    start markup in code spans; code spans kept, on one line (a span cannot hold a blank line: it would end there
    and leave the rest live), and an empty one dropped (two backticks would pair with others and end a span early)."""
    parts = [(code, " ".join(part.split()) if code else part) for code, part in _spans(text)]
    return "".join(f"`{part}`" if code else _prose_markdown(part) for code, part in parts if part or not code)


def html(text: str) -> str:
    """`text` for an HTML page: everything escaped, code spans as <code>."""
    return "".join(
        f"<code>{html_lib.escape(part)}</code>" if code else html_lib.escape(part) for code, part in _spans(text)
    )


def plain(text: str) -> str:
    """`text` for a plain-text view: the backticks of code spans dropped."""
    return "".join(part for _, part in _spans(text))
