"""Student text made inert in every format the reports use.

A message is the grader's words with the student's own text in code spans (`results.literal` puts it between
backticks and turns backticks inside into quotes). Whatever a student can influence may still appear outside a
span (a value the grader quotes), so the prose is escaped too: in Markdown every character that could start
markup, a link, an image or raw HTML is escaped and web addresses are broken so no viewer links them; in HTML
everything is escaped and spans become <code>. No student byte becomes a tag, a link, an image or a script.
"""

from __future__ import annotations

import html as html_lib
import re

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
ADDRESS = re.compile(r"(?i)(://|www\.|@)")


def _spans(text: str) -> list[tuple[bool, str]]:
    """(is it a code span, its text) in order; an unpaired backtick counts as prose."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one opens nothing
        parts[-2:] = [parts[-2] + "'" + parts[-1]]
    return [(index % 2 == 1, part) for index, part in enumerate(parts)]


def _defused(found: re.Match) -> str:
    """A backslash before each punctuation mark of a web address's start: it reads the same and links nowhere."""
    return "".join(f"\\{c}" if not c.isalnum() else c for c in found.group(1))


def _prose_markdown(text: str) -> str:
    return ADDRESS.sub(_defused, MARKDOWN_SPECIAL.sub(r"\\\1", text))


def markdown(text: str) -> str:
    """`text` for a Markdown document: prose escaped, code spans kept as code spans on one line (a span cannot hold
    a blank line: it would end there and leave the rest live)."""
    return "".join(f"`{' '.join(part.split())}`" if code else _prose_markdown(part) for code, part in _spans(text))


def html(text: str) -> str:
    """`text` for an HTML page: everything escaped, code spans as <code>."""
    return "".join(
        f"<code>{html_lib.escape(part)}</code>" if code else html_lib.escape(part) for code, part in _spans(text)
    )


def plain(text: str) -> str:
    """`text` for a plain-text view: the backticks of code spans dropped."""
    return "".join(part for _, part in _spans(text))
