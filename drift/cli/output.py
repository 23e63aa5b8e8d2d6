"""What the command line prints with: two Rich consoles that never read markup, one-line errors, ASCII JSON,
and the choices of the `--format` options."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

from rich.console import Console

from drift.report.printable import printable
from drift.source.location import redact_credentials

# soft_wrap: a finding is one line however long, so it can be grepped and copied.
# Everything drift prints is data from other people's repositories and images:
# never Rich markup, never emoji codes, never highlighted as if it were code.
out = Console(soft_wrap=True, markup=False, highlight=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)
if not out.is_terminal:
    # CI logs and files: Rich would assume 80 columns and fold every table.
    out.width = max(out.width, 160)


class Format(StrEnum):
    table = "table"
    json = "json"


class DetailFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def error_line(message: str) -> None:
    # Plain write: an error is one line, never folded to the terminal's width, never a secret or an escape code.
    sys.stderr.write(printable(redact_credentials(" ".join(message.split()))) + "\n")


def print_json(document: dict[str, Any]) -> None:
    # ASCII JSON: control characters and undecodable bytes stay escaped, whatever the terminal.
    from drift.report.json_text import indented_json

    sys.stdout.write(indented_json(document) + "\n")


def human_size(size: int) -> str:
    """Bytes in the decimal units drift reads sizes in (--min-free 5GB): "812 bytes", "3.4 MB"."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1e3:.1f} kB"
    if size < 1_000_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.1f} GB"
