"""The formats of `drift report`, by name: each renders the same rows (target, latest build, history) to text.

Adding a format is adding a module and a line here, as with the catalogers.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from drift.report.explanation import Rows
from drift.values import BuildSummary


@dataclass(frozen=True)
class ReportContext:
    """What a format may need besides the rows.

    Attributes:
        now: when the report is made (UTC).
        risks: the static risks of given builds, by build id (read only by the formats that show them).
        builds: the rows' recent builds as the timeline shows each night (history.night_builds: all but the
            image, builder, base images and fetch ledger), by id, read only by the formats that show each
            night's build; a history given as whole builds is used as it is.
        terminal: whether the text goes to a terminal (colours in the table).
        width: the table's width.
    """

    now: datetime
    risks: Callable[[], Mapping[int, Sequence[Mapping[str, Any]]]]
    builds: Callable[[], Mapping[int, BuildSummary]] = dict
    terminal: bool = False
    width: int = 160


class ReportFormat(Protocol):
    def __call__(self, rows: Rows, context: ReportContext) -> str: ...


def _table(rows: Rows, context: ReportContext) -> str:
    from rich.console import Console

    from drift.report.table import render_report

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=context.width, force_terminal=context.terminal, markup=False, highlight=False, emoji=False
    )
    render_report(console, rows)
    return buffer.getvalue()


def _json(rows: Rows, context: ReportContext) -> str:
    from drift.report.document import report_document
    from drift.report.json_text import indented_json

    return indented_json(report_document(rows, generated_at=context.now)) + "\n"


def _markdown(rows: Rows, context: ReportContext) -> str:
    from drift.report.report_markdown import report_markdown

    return report_markdown(rows, context.now)


def _html(rows: Rows, context: ReportContext) -> str:
    from drift.report.html import report_html

    builds: Mapping[int, BuildSummary] = {}
    if any(not isinstance(night, BuildSummary) for _spec, _latest, history in rows for night in history):
        builds = context.builds()
    whole = [
        (spec, latest, [night if isinstance(night, BuildSummary) else builds[night.id] for night in history])
        for spec, latest, history in rows
    ]
    return report_html(whole, context.now, dict(context.risks()))


def _junit(rows: Rows, context: ReportContext) -> str:
    from drift.report.junit import junit_xml

    return junit_xml(rows, context.now)


# Each renderer imports its module when it runs: the command line starts without loading them all.
REPORT_FORMATS: dict[str, ReportFormat] = {
    "table": _table,
    "json": _json,
    "markdown": _markdown,
    "html": _html,
    "junit": _junit,
}
