"""Commands that read the history: report, history, show, diff, packages, sbom."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from drift.cli.app import app, settings
from drift.cli.output import DetailFormat, Format, err, out, print_json
from drift.errors import UsageError
from drift.report.printable import printable

if TYPE_CHECKING:
    from drift.storage.database import Database
    from drift.values import BuildSummary, HistoryEntry, TargetSpec

    Rows = list[tuple[TargetSpec, BuildSummary | None, list[HistoryEntry]]]


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a command reads and renders a history.

    A year of nights is hundreds of thousands of objects (builds, findings, their
    documents and cells), made and kept, none of them garbage in a cycle; the
    collector walks all of them again each time enough have been made: a tenth of
    `drift report`'s time, a fifth of the HTML page's. A command this short does
    without it and frees what it made when it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ReportFormatName(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"
    junit = "junit"


class SbomFormat(StrEnum):
    cyclonedx = "cyclonedx"
    spdx = "spdx"


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report_rows(db: Database, names: Sequence[str], since: datetime | None, nights: int = 60) -> Rows:
    """Per target: its spec, its latest finished build and its recent ones in brief, all printable."""
    from drift.report.printable import printable_build, printable_spec
    from drift.storage import history

    with db.session() as session:
        overview = history.report_overview(session, names, since=since, nights=nights)
    return [
        (printable_spec(spec), printable_build(latest) if latest is not None else None, nights_in_brief)
        for spec, latest, nights_in_brief in overview
    ]


@app.command("report")
def report_command(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Targets (default: all).")] = None,
    format: Annotated[ReportFormatName, typer.Option("--format")] = ReportFormatName.table,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of stdout.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only builds started on or after this date.")] = None,
) -> None:
    """The latest verdict of each target, with what explains it (table, json, markdown, html or junit)."""
    with without_cycle_collection():
        from drift.report.formats import REPORT_FORMATS, ReportContext
        from drift.storage import history

        db = settings(ctx).database()
        rows = report_rows(db, names or [], _parse_since(since))

        shown = [night.id for _spec, _latest, brief in rows for night in brief]

        @functools.cache
        def nights() -> tuple[dict[int, BuildSummary], dict[int, list[dict[str, Any]]]]:
            """The nights' builds and their risks, read together once, for the formats that show them."""
            from drift.report.printable import printable_build

            with db.session() as session:
                builds, risks = history.night_builds(session, shown)
            return {build_id: printable_build(b) for build_id, b in builds.items()}, risks

        context = ReportContext(
            now=datetime.now(UTC),
            risks=lambda: nights()[1],
            builds=lambda: nights()[0],
            terminal=output is None and out.is_terminal,
            width=max(out.width, 160),
        )
        text = REPORT_FORMATS[format.value](rows, context)
        if output:
            output.write_text(text, errors="backslashreplace")
            err.print(f"wrote {output}")
        else:
            sys.stdout.write(text)


@app.command("history")
def history_command(
    ctx: typer.Context, name: str, format: Annotated[Format, typer.Option("--format")] = Format.table
) -> None:
    """A target's builds, newest first."""
    from drift.report import table
    from drift.report.document import build_document
    from drift.report.printable import printable_build
    from drift.storage import history

    with without_cycle_collection():
        with settings(ctx).database().session() as session:
            builds = [printable_build(b) for b in history.target_history(session, name)]
        if format is Format.json:
            print_json({"schema": 1, "target": name, "builds": [build_document(b) for b in builds]})
        else:
            table.render_history(out, name, builds)


@app.command("show")
def show_command(
    ctx: typer.Context,
    build: int,
    format: Annotated[DetailFormat, typer.Option("--format")] = DetailFormat.table,
    suggest_pins: Annotated[
        bool, typer.Option("--suggest-pins", help="Print the pins of the last good build as a diff of the Dockerfile.")
    ] = False,
) -> None:
    """One build: verdict, findings by layer, noise and its rules, base images, risks, layers."""
    render_build(settings(ctx).database(), build, format, suggest_pins=suggest_pins)


def render_build(db: Database, build: int, format: DetailFormat, *, suggest_pins: bool = False) -> None:
    """`drift show`'s output of one build, in the format asked for (drift verify prints its rebuild so too)."""
    from drift.baseline_pins import suggested_pins
    from drift.report import build_markdown, table
    from drift.report.document import build_document, fetch_document, pin_document
    from drift.report.printable import printable_block, printable_build
    from drift.storage import history, images

    with db.session() as session:
        summary = printable_build(history.get_build(session, build))
        layers = [
            {**layer, "instruction": printable(str(layer["instruction"]))}
            for layer in images.layer_summaries(session, build)
        ]
        _text, risks = history.build_dockerfile(session, build)
    risks = [{key: printable(value) if isinstance(value, str) else value for key, value in r.items()} for r in risks]
    pins = suggested_pins(db, build) if suggest_pins else None
    if format is DetailFormat.json:
        document = {
            "schema": 1,
            **build_document(summary),
            "risks": risks,
            "layers": layers,
            "ledger": summary.ledger,
            "fetches": [fetch_document(f) for f in summary.fetches],
        }
        if pins is not None:
            document["suggested_pins"] = [pin_document(pin) for pin in pins.pins]
            document["pins_diff"] = pins.diff
        print_json(document)
    elif format is DetailFormat.markdown:
        sys.stdout.write(build_markdown.build_markdown(summary, layers, risks, pins.diff if pins else ""))
    elif pins is not None:
        for pin in pins.pins:
            out.print(f"# line {pin.line} ({pin.risk_id}, {pin.subject}): {printable(pin.description)}")
        if pins.diff:
            sys.stdout.write(printable_block(pins.diff))
        elif not pins.pins:
            err.print("no pins to suggest: no risk of this Dockerfile has a known last good value")
    else:
        table.render_build_detail(out, summary, layers, risks)


@app.command("diff")
def diff_command(
    ctx: typer.Context,
    build_a: int,
    build_b: int,
    format: Annotated[DetailFormat, typer.Option("--format")] = DetailFormat.table,
) -> None:
    """Every difference between two succeeded builds (of any targets)."""
    from drift.build_diff import diff_builds
    from drift.report import build_markdown, table
    from drift.report.document import finding_document
    from drift.report.printable import printable_build, printable_finding

    first, second, findings = diff_builds(settings(ctx).database(), build_a, build_b)
    first, second = printable_build(first), printable_build(second)
    findings = [printable_finding(f) for f in findings]
    if format is DetailFormat.markdown:
        sys.stdout.write(build_markdown.diff_markdown(first, second, findings))
    elif format is DetailFormat.json:
        print_json({"schema": 1, "from": build_a, "to": build_b, "findings": [finding_document(f) for f in findings]})
    else:
        if not findings:
            out.print(f"builds {build_a} and {build_b} have the same normalized content")
        table.render_findings(out, findings)


@app.command("packages")
def packages_command(
    ctx: typer.Context, build: int, format: Annotated[Format, typer.Option("--format")] = Format.table
) -> None:
    """The packages installed in a build's image, with the layer that introduced each."""
    from drift.report import table
    from drift.report.document import package_document
    from drift.storage import history, images

    with settings(ctx).database().session() as session:
        summary = history.get_build(session, build)
        packages = images.load_packages(session, build)
        warnings = images.catalog_warnings(session, build) if summary.status == "succeeded" else []
    if format is Format.json:
        documents = [package_document(p) for p in packages]
        print_json({"schema": 1, "build": build, "packages": documents, "warnings": warnings})
    else:
        table.render_packages(out, summary, packages, warnings)


@app.command("sbom")
def sbom_command(
    ctx: typer.Context,
    build: int,
    format: Annotated[SbomFormat, typer.Option("--format")] = SbomFormat.cyclonedx,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of stdout.")] = None,
) -> None:
    """A software bill of materials of a build's image (CycloneDX 1.6 or SPDX 2.3 JSON)."""
    from drift.report import sbom
    from drift.storage import history, images

    with settings(ctx).database().session() as session:
        summary = history.get_build(session, build)
        if summary.status != "succeeded":
            raise UsageError(f"build {build} did not succeed ({summary.status}); it has no image to describe")
        packages = images.load_packages(session, build)
    render = sbom.cyclonedx_json if format is SbomFormat.cyclonedx else sbom.spdx_json
    text = render(summary, packages) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
