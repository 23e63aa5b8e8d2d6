"""Every report format through the registry, the terminal rendering of builds, targets, history, packages and
alerts, the Markdown of one build, CI annotations, and untrusted text made printable — without an engine."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text
from support.synthetic_history import FIRST_NIGHT, Row, synthetic_risks, synthetic_rows

from drift.report import build_markdown, table
from drift.report.annotations import github_annotations
from drift.report.document import alert_document, package_document, spec_document
from drift.report.explanation import since
from drift.report.formats import REPORT_FORMATS, ReportContext
from drift.report.printable import printable, printable_block, printable_build, printable_spec
from drift.values import BuildSummary, Finding, Package, TargetSpec, Verdict

NOW = FIRST_NIGHT + timedelta(days=31)
ROWS: list[Row] = synthetic_rows(targets=12, nights=10, never_built=1)


def console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, markup=False, highlight=False, emoji=False), buffer


def context() -> ReportContext:
    return ReportContext(now=NOW, risks=lambda: synthetic_risks(ROWS))


def latest(verdict: Verdict) -> BuildSummary:
    return next(build for _spec, build, _history in ROWS if build is not None and build.verdict is verdict)


@pytest.mark.parametrize("name", sorted(REPORT_FORMATS))
def test_every_registered_format_renders_every_target(name: str) -> None:
    text = REPORT_FORMATS[name](ROWS, context())
    for spec, _latest, _history in ROWS:
        assert spec.name in text, (name, spec.name)
    if name == "json":
        assert json.loads(text)["schema"] == 1


def test_the_table_report_names_each_verdict_and_its_explanation() -> None:
    text = REPORT_FORMATS["table"](ROWS, context())
    drifted = latest(Verdict.DRIFTED)
    assert "drift report" in text and "drifted" in text and "never built" in text
    assert str(drifted.id) in text


def _rich_report_table(console: Console, rows: list[Row]) -> None:
    """The report table as Rich's Table lays it out, every cell measured and rendered by Rich (as drift drew
    it before it wrote the plain cells itself)."""
    cells = [
        (
            spec.name,
            spec.commit[:12],
            table.verdict_text(latest.verdict) if latest else Text("never built", style="dim"),
            table._when(since(history)),
            str(latest.id) if latest else "-",
            str(table._streak(history)),
            table._top_finding(latest),
        )
        for spec, latest, history in rows
    ]
    rich_table = Table(title="drift report")
    for index, column in enumerate(("target", "commit", "verdict", "since", "build", "good streak")):
        rich_table.add_column(
            column, no_wrap=True, width=max(Text(str(c[index])).cell_len for c in [(column,) * 7, *cells])
        )
    rich_table.add_column("explanation", overflow="fold", ratio=1)
    for row in cells:
        rich_table.add_row(*row)
    console.print(rich_table)


def _odd_rows() -> list[Row]:
    """Rows whose explanations fold, hold a tab or edge spaces, or are wider than any terminal."""
    odd = []
    for number, (spec, latest, history) in enumerate(ROWS[:8]):
        if latest is not None:
            error = ["x" * 300, "a\tb", " edged ", "wide 漢字 " * 30, "", "é" * 3, "ok", "two  spaces"][number]
            latest = replace(latest, verdict=Verdict.ERROR, error=error)
        odd.append((spec, latest, history))
    return odd


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("width", [20, 60, 100, 160, 250])
@pytest.mark.parametrize("rows", ["synthetic", "odd", "one", "none"])
def test_the_report_table_is_the_table_rich_draws(terminal: bool, width: int, rows: str) -> None:
    chosen = {"synthetic": ROWS, "odd": _odd_rows(), "one": ROWS[:1], "none": []}[rows]
    texts = []
    for render in (table.render_report, _rich_report_table):
        buffer = io.StringIO()
        out = Console(
            file=buffer,
            width=width,
            force_terminal=terminal,
            color_system="truecolor" if terminal else None,
            markup=False,
            highlight=False,
            emoji=False,
        )
        render(out, chosen)
        texts.append(buffer.getvalue())
    assert texts[0] == texts[1]


def test_a_drifted_outcome_lists_its_layer_instruction_and_paths() -> None:
    out, buffer = console()
    table.render_outcome(out, latest(Verdict.DRIFTED))
    text = buffer.getvalue()
    assert ": drifted  (build" in text and "layer" in text and "(cause:" in text


def test_a_broken_outcome_names_its_failed_step_and_error() -> None:
    out, buffer = console()
    broken = latest(Verdict.BROKEN)
    table.render_outcome(out, broken)
    assert f"failed step: {broken.failed_step}" in buffer.getvalue()


def test_noise_is_one_line_or_listed_by_rule() -> None:
    noise = [
        Finding(
            "file",
            2,
            "RUN apt-get update",
            f"/var/log/apt/{n}.log",
            "modified",
            "a",
            "b",
            "nondeterministic",
            ignored=True,
            ignored_by="default rule /var/log: logs",
        )
        for n in range(12)
    ]
    out, buffer = console()
    table.render_findings(out, noise)
    assert buffer.getvalue().strip() == "12 difference(s) in ignored paths (noise)"
    out, buffer = console()
    table.render_findings(out, noise, show_noise=True)
    shown = buffer.getvalue()
    assert "default rule /var/log: logs" in shown and "... and 2 more" in shown


def test_targets_history_packages_and_alerts_tables() -> None:
    out, buffer = console()
    specs = [(spec, build) for spec, build, _history in ROWS]
    table.render_targets(out, specs, {spec.name: NOW for spec, _build in specs})
    spec, _build, history = next(row for row in ROWS if row[2])
    table.render_history(out, spec.name, history)
    package = Package(
        "deb", "curl", "7.88.1-10", "amd64", "pkg:deb/debian/curl@7.88.1-10?arch=amd64", "/var/lib/dpkg/status", 2
    )
    table.render_packages(out, history[0], [package], ["rpm: Berkeley DB not supported"])

    class Alert:
        id, build_id, target, event, route, status, attempts, last_error = (
            1,
            3,
            "web",
            "drifted",
            "json://h/x",
            "sending",
            1,
            None,
        )

    table.render_alerts(out, [Alert()], lambda route: "json://***")
    text = buffer.getvalue()
    assert "tracked targets" in text and f"history of {spec.name}" in text
    assert "curl" in text and "warning: rpm: Berkeley DB not supported" in text
    assert "json://***" in text and "json://h/x" not in text


def test_show_renders_the_whole_build() -> None:
    out, buffer = console()
    build = latest(Verdict.DRIFTED)
    layers = [{"index": 0, "normalized_digest": "sha256:" + "a" * 64, "files": 12, "instruction": "COPY . /app"}]
    risks = [{"id": "DRIFT101", "line": 3, "message": "apt-get install without versions", "fix": "pin curl"}]
    table.render_build_detail(out, build, layers, risks)
    text = buffer.getvalue()
    assert "DRIFT101 line 3: apt-get install without versions; fix: pin curl" in text
    assert "layer 0: sha256:aaaaaaaaaaaa" in text and "COPY . /app" in text


def test_the_markdown_of_one_build_and_of_a_diff() -> None:
    build = latest(Verdict.DRIFTED)
    layers = [{"index": 1, "normalized_digest": "sha256:" + "b" * 64, "files": 3, "instruction": "RUN make | tee x"}]
    risks: list[dict[str, Any]] = [{"id": "DRIFT301", "line": 4, "subject": "curl", "message": "m", "fix": "f"}]
    text = build_markdown.build_markdown(build, layers, risks, "--- a\n+++ b\n")
    assert f"build {build.id}: **drifted**" in text
    assert "#### Suggested pins" in text and "```diff" in text
    assert "RUN make \\| tee x" in text  # a pipe inside a table cell is escaped
    broken = latest(Verdict.BROKEN)
    assert "**Build failed" in build_markdown.build_markdown(broken, [], [])
    diff = build_markdown.diff_markdown(build, broken, list(build.findings))
    assert f"build {build.id}" in diff and f"build {broken.id}" in diff


def test_github_annotations_warn_for_drift_and_error_for_breaks() -> None:
    lines = github_annotations(ROWS)
    assert any(line.startswith("::warning title=drift: ") and " drifted::" in line for line in lines)
    assert any(line.startswith("::error title=drift: ") for line in lines)
    assert all("\n" not in line for line in lines)


def test_untrusted_text_is_escaped_and_secrets_hidden() -> None:
    assert printable("a\x1b[2Jb\udcffc\u202e\n") == "a\\x1b[2Jb\\xffc\\u202e\\x0a"
    assert printable_block("line one\n\tline two\x07") == "line one\n\tline two\\x07"
    spec = TargetSpec(name="web", repo="https://ci:TOKEN@git.example.com/web.git", commit="a" * 40, dockerfile="D\x1b")
    shown = printable_spec(spec)
    assert shown.repo == "https://ci:***@git.example.com/web.git" and shown.dockerfile == "D\\x1b"
    build = latest(Verdict.BROKEN)
    hostile = printable_build(replace(build, error="fetch https://u:SECRET@h/x failed\x1b]0;t\x07"))
    assert hostile.error == "fetch https://u:***@h/x failed\\x1b]0;t\\x07"


def test_documents_of_targets_packages_and_alerts() -> None:
    spec = TargetSpec(name="web", repo="/r", commit="a" * 40, stage="final", alerts=("json://h",))
    document = spec_document(spec)
    assert document["target"] == "final" and "stage" not in document and document["alerts"] == ["json://h"]
    package = Package("pypi", "requests", "2.31.0", "", "pkg:pypi/requests@2.31.0", "/usr/lib/python3/x", 3)
    assert package_document(package)["purl"] == "pkg:pypi/requests@2.31.0"

    class Alert:
        id, build_id, target, event, route, status, attempts = 1, 3, "web", "drifted", "json://u:p@h/x", "sent", 2
        created_at = sent_at = NOW
        last_error, title = "boom\x1b", "web drifted"

    assert alert_document(Alert(), lambda route: "json://u:****@h/x") == {
        "id": 1,
        "build": 3,
        "target": "web",
        "event": "drifted",
        "route": "json://u:****@h/x",
        "status": "sent",
        "attempts": 2,
        "created_at": NOW.isoformat(timespec="seconds"),
        "sent_at": NOW.isoformat(timespec="seconds"),
        "last_error": "boom\\x1b",
        "title": "web drifted",
    }
