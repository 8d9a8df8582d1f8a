"""Grades Tiny U-Net submissions: submission -> headless run -> probe -> checks -> report."""

import sys

# jsonschema imports rfc3987_syntax, where installed, to check "iri" formats: 38 parsers built at import, about 1.4 s
# in every grader process that reads a notebook. nbformat's schema has no such format, so the grader goes without.
sys.modules.setdefault("rfc3987_syntax", None)
