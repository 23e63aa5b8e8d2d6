"""CI annotations: GitHub Actions workflow commands, an error per broken target and a warning per drifted one."""

from __future__ import annotations

from collections.abc import Sequence

from drift.report.explanation import Rows, explanation
from drift.values import Verdict


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(rows: Rows) -> Sequence[str]:
    """One `::warning ...::` or `::error ...::` line per target that needs a person."""
    lines = []
    for spec, latest, _history in rows:
        if latest is None or latest.verdict not in (Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED):
            continue
        level = "warning" if latest.verdict is Verdict.DRIFTED else "error"
        title = _escape(f"drift: {spec.name} {latest.verdict.value}").replace(",", "%2C").replace("::", "%3A%3A")
        lines.append(f"::{level} title={title}::{_escape(explanation(latest))} (drift show {latest.id})")
    return lines
