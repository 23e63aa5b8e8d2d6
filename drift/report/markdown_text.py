"""Markdown pieces both Markdown reports use (build_markdown, report_markdown): inline code and table text."""

from __future__ import annotations

import re


def inline_code(text: str) -> str:
    """Inline code that survives backticks and pipes inside it, on one line; "" for blank text."""
    text = " ".join(text.split()).replace("|", "\\|")
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table_text(text: str) -> str:
    """Plain text safe in a Markdown table cell: one line, no pipes, no HTML, no emphasis."""
    text = re.sub(r"\s+", " ", text)
    for char in "\\`*_[]<|":
        text = text.replace(char, "\\" + char)
    return text
