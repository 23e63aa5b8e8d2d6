"""Terminal rendering (Rich) of targets, verdicts, findings and history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from drift.report.explanation import Night, baseline_words, since
from drift.report.printable import printable
from drift.values import BuildSummary, Finding, Package, TargetSpec, Verdict

VERDICT_STYLE = {
    Verdict.BASELINE: "cyan",
    Verdict.REPRODUCIBLE: "green",
    Verdict.NOISY: "yellow",
    Verdict.DRIFTED: "bold red",
    Verdict.BROKEN: "bold red",
    Verdict.FAILED: "red",
    Verdict.ERROR: "magenta",
}

MAX_PATHS_PER_CHANGE = 10


def verdict_text(verdict: Verdict | None) -> Text:
    if verdict is None:
        return Text("running", style="dim")
    return Text(verdict.value, style=VERDICT_STYLE[verdict])


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def render_findings(
    console: Console, findings: Sequence[Finding], *, indent: str = "  ", show_noise: bool = False
) -> None:
    """Per changed layer: its instruction, then the paths added, removed and modified; then the rest."""
    shown = [f for f in findings if not f.ignored]
    by_layer: dict[int | None, list[Finding]] = defaultdict(list)
    for finding in shown:
        by_layer[finding.layer if finding.kind in ("file", "package") else None].append(finding)
    for finding in by_layer.get(None, []):
        console.print(f"{indent}{describe_finding(finding)}", highlight=False, markup=False)
    for layer in sorted(key for key in by_layer if key is not None):
        layer_findings = by_layer[layer]
        causes = sorted({f.cause for f in layer_findings})
        console.print(
            Text.assemble(
                f"{indent}layer {layer}: ",
                (printable(layer_findings[0].instruction), "bold"),
                f"  (cause: {', '.join(causes)})",
            ),
            highlight=False,
        )
        # A package change explains the layer's files: lead with it, fold the files under it.
        packages = [f for f in layer_findings if f.kind == "package"]
        files = [f for f in layer_findings if f.kind != "package"]
        for finding in packages:
            console.print(f"{indent}  {describe_finding(finding)}", highlight=False, markup=False)
        file_indent = indent + ("    " if packages else "  ")
        if packages and files:
            console.print(f"{indent}  {len(files)} file(s) changed with them:", highlight=False)
        by_change: dict[str, list[Finding]] = defaultdict(list)
        for finding in files:
            by_change[finding.change].append(finding)
        for change in sorted(by_change):
            items = by_change[change]
            for finding in items[:MAX_PATHS_PER_CHANGE]:
                detail = f"  ({finding.before} -> {finding.after})" if finding.before and finding.after else ""
                marker = ("" if finding.new else "  (not new)") + (f"  [risk {finding.risk}]" if finding.risk else "")
                console.print(
                    f"{file_indent}{change:<8} {finding.subject}{detail}{marker}", highlight=False, markup=False
                )
            if len(items) > MAX_PATHS_PER_CHANGE:
                console.print(
                    f"{file_indent}{change:<8} ... and {len(items) - MAX_PATHS_PER_CHANGE} more", highlight=False
                )
    noise = [f for f in findings if f.ignored]
    if noise and not show_noise:
        summary = Text(f"{indent}{len(noise)} difference(s) in ignored paths (noise)", style="dim")
        console.print(summary, highlight=False)
    elif noise:
        console.print(f"{indent}noise ({len(noise)} difference(s) in ignored paths):", highlight=False)
        by_rule: dict[str, list[Finding]] = defaultdict(list)
        for finding in noise:
            by_rule[finding.ignored_by or "ignored"].append(finding)
        for rule, items in sorted(by_rule.items()):
            console.print(f"{indent}  {rule}", highlight=False, markup=False)
            for finding in items[:MAX_PATHS_PER_CHANGE]:
                subject = finding.subject
                if finding.kind != "file":  # the image's creation time beside a published image's, ...
                    subject = f"{finding.kind} {subject}: {finding.before or '-'} -> {finding.after or '-'}"
                console.print(f"{indent}    {finding.change:<8} {subject}", highlight=False, markup=False)
            if len(items) > MAX_PATHS_PER_CHANGE:
                console.print(f"{indent}    ... and {len(items) - MAX_PATHS_PER_CHANGE} more", highlight=False)


def describe_finding(finding: Finding) -> str:
    """One sentence for a finding that is not about one file."""
    if finding.kind == "base-image":
        verb = {
            "retagged": "was re-tagged with the same content",
            "moved-in-builder-stage": "moved in a builder stage (what the stage built is compared in the image)",
        }.get(finding.change, "moved")
        return f"base image {finding.subject} {verb}: {finding.before} -> {finding.after} (cause {finding.cause})"
    if finding.kind == "published":
        return (
            f"published image {finding.subject} was re-pushed: {finding.before} -> {finding.after}; "
            "the new image is the baseline from now on"
        )
    if finding.kind == "builder":
        return f"builder {finding.subject} changed: {finding.before} -> {finding.after}"
    if finding.kind == "package":
        versions = " -> ".join(v for v in (finding.before, finding.after) if v)
        return f"package {finding.subject} {finding.change}: {versions} ({finding.ecosystem}, cause {finding.cause})"
    if finding.kind == "fetch":
        values = " -> ".join(v for v in (finding.before, finding.after) if v)
        where = f" in layer {finding.layer}" if finding.layer is not None else ""
        step = f" during {finding.instruction}" if finding.instruction else ""
        risk = f" [risk {finding.risk}]" if finding.risk else ""
        return f"fetch {finding.subject} {finding.change}: {values}{where}{step} (cause {finding.cause}){risk}"
    if finding.kind == "config":
        return f"config {finding.subject} {finding.change}: {finding.before or '-'} -> {finding.after or '-'}"
    return f"{finding.kind} {finding.subject}: {finding.change} ({finding.before or '-'} -> {finding.after or '-'})"


def render_external_inputs(console: Console, build: BuildSummary) -> None:
    """The build's fetch ledger: the hosts it contacted, then each URL with the instruction that fetched it."""
    if build.ledger is None:
        return
    if build.ledger != "on":
        console.print(f"  external inputs: not recorded (fetch ledger {build.ledger})", highlight=False, markup=False)
        return
    hosts = sorted({f.host for f in build.fetches if f.host})
    unverified = sum(1 for f in build.fetches if f.unverified)
    console.print(
        f"  external inputs ({len(hosts)} host(s), {len(build.fetches)} fetch(es), {unverified} unverified):",
        highlight=False,
    )
    if hosts:
        console.print(f"    hosts: {', '.join(hosts)}", highlight=False, markup=False)
    for fetch in build.fetches:
        body = f"sha256:{fetch.sha256}" if fetch.sha256 else (fetch.error or "no complete body")
        status = fetch.status if fetch.status is not None else "-"
        where = f"layer {fetch.layer}" if fetch.layer is not None else "no layer"
        marker = f"  [unverified: risk {fetch.risk}]" if fetch.unverified else ""
        console.print(
            f"    {fetch.method} {fetch.url} {status} {fetch.bytes} B {body}  ({where}: {fetch.instruction or '?'})"
            + marker,
            highlight=False,
            markup=False,
        )


def render_outcome(console: Console, build: BuildSummary, *, show_noise: bool = False) -> None:
    """One line per checked target, then what explains the verdict."""
    line = Text.assemble(f"{build.target}: ", verdict_text(build.verdict), f"  (build {build.id})")
    console.print(line, highlight=False)
    if build.published or build.compared_to_published:
        console.print(f"  {baseline_words(build)}", highlight=False, markup=False)
    if build.compared_to_published and any(f.kind == "file" for f in build.findings):
        console.print("  (removed: only in the published image; added: only in the rebuild)", highlight=False)
    if build.verdict in (Verdict.BROKEN, Verdict.FAILED):
        if build.failed_step:
            console.print(f"  failed step: {build.failed_step}", highlight=False)
        if build.error:
            console.print(f"  {build.error}", highlight=False, markup=False)
    if build.findings:
        render_findings(console, build.findings, show_noise=show_noise)


def render_targets(
    console: Console,
    rows: Sequence[tuple[TargetSpec, BuildSummary | None]],
    next_runs: Mapping[str, datetime | None],
) -> None:
    table = Table(title="tracked targets")
    for column in ("name", "repo", "commit", "dockerfile", "schedule", "latest", "last run", "next run"):
        table.add_column(column, overflow="fold", no_wrap=column not in ("repo", "dockerfile"))
    for spec, latest in rows:
        table.add_row(
            spec.name,
            spec.repo,
            spec.commit[:12],
            spec.dockerfile,
            spec.schedule,
            verdict_text(latest.verdict) if latest else Text("never built", style="dim"),
            _when(latest.started_at) if latest else "-",
            _when(next_runs.get(spec.name)),
        )
    console.print(table)


def _streak(history: Sequence[Night]) -> int:
    count = 0
    for build in history:
        if build.verdict not in (Verdict.REPRODUCIBLE, Verdict.NOISY, Verdict.BASELINE):
            break
        count += 1
    return count


def _top_finding(build: BuildSummary | None) -> str:
    if build is None:
        return ""
    if build.error and build.verdict in (Verdict.BROKEN, Verdict.FAILED, Verdict.ERROR):
        return build.error
    real = [f for f in build.findings if not f.ignored]
    if not real:
        return ""
    first = real[0]
    where = f"layer {first.layer} " if first.layer is not None else ""
    more = f" (+{len(real) - 1} more)" if len(real) > 1 else ""
    return f"{where}{first.subject} {first.change}, cause {first.cause}{more}"


def render_report(console: Console, rows: Sequence[tuple[TargetSpec, BuildSummary | None, Sequence[Night]]]) -> None:
    cells = [
        (
            spec.name,
            spec.commit[:12],
            verdict_text(latest.verdict) if latest else Text("never built", style="dim"),
            _when(since(history)),
            str(latest.id) if latest else "-",
            str(_streak(history)),
            _top_finding(latest),
        )
        for spec, latest, history in rows
    ]
    console.print(_ReportTable(cells))


_REPORT_HEADERS = ("target", "commit", "verdict", "since", "build", "good streak", "explanation")


class _ReportTable:
    """The report's table, drawn as Rich draws its Table, without Rich measuring, wrapping and padding each of a
    thousand targets' cells one by one (that took most of `drift report`'s second).

    Rich lays the table out: its title, header and borders come from a Rich Table without rows, and every cell
    that is not one plain line (a verdict with its colour, an explanation that folds) is rendered by Rich as its
    Table renders a cell. The cells that are one plain line, almost all of them, are padded here. A table too wide
    for the width, or a cell Rich would measure differently (a tab, a newline, edge spaces), is left to Rich's
    Table whole. tests/unit/test_report_render.py holds the two to the same text, in colour and without.
    """

    def __init__(self, cells: Sequence[tuple[str | Text, ...]]) -> None:
        self.cells = cells

    def table(self, widths: Sequence[int | None]) -> Table:
        """Rich's Table of these columns: with every row, or (given every width) without rows."""
        table = Table(title="drift report")
        for header, width in zip(_REPORT_HEADERS[:-1], widths[:-1], strict=True):
            table.add_column(header, no_wrap=True, width=width)
        table.add_column(_REPORT_HEADERS[-1], overflow="fold", ratio=1, width=widths[-1])
        if widths[-1] is None:
            for row in self.cells:
                table.add_row(*row)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Each fixed width is what Rich would measure: these cells are one line each.
        fixed = [
            max([cell_len(header), *(_cell_width(row[index]) for row in self.cells)])
            for index, header in enumerate(_REPORT_HEADERS[:-1])
        ]
        explanations = [row[-1] for row in self.cells if isinstance(row[-1], str)]
        # The room Rich leaves the explanation: the widest one, folded into what the other columns leave.
        extra = len(_REPORT_HEADERS) + 1  # the borders
        room = options.max_width - extra - sum(width + 2 for width in fixed)
        simple = len(explanations) == len(self.cells) and all(_one_plain_line(text) for text in explanations)
        if not simple or room < 3:
            yield self.table([*fixed, None])
            return
        widest = max([cell_len(_REPORT_HEADERS[-1]), *(_width(text) for text in explanations if text)]) + 2
        widths = [*(width + 2 for width in fixed), min(widest, room)]
        # The title, the header and its borders; the bottom edge is drawn after the rows.
        header = list(Segment.split_lines(console.render(self.table([*fixed, widths[-1] - 2]), options)))
        for line in header[:-1]:
            yield from line
            yield Segment.line()
        box = (Table().box or HEAVY_HEAD).substitute(options, safe=console.safe_box)
        rendered: dict[tuple[str, str, int], list[list[Segment]]] = {}
        for number, row in enumerate(self.cells, start=1):
            last = number == len(self.cells)
            left, divider, right = (
                (box.foot_left, box.foot_vertical, box.foot_right)
                if last
                else (box.mid_left, box.mid_vertical, box.mid_right)
            )
            cells = [
                self._cell(console, options, cell, width, index == len(widths) - 1, rendered)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            height = max(len(cell) for cell in cells)
            if height > 1:
                cells = [
                    Segment.set_shape(Segment.align_top(cell, w, height, Style()), w, height)
                    for cell, w in zip(cells, widths, strict=True)
                ]
            for at in range(height):
                # Unstyled text joined into one segment: the console measures each segment it prints.
                plain = left
                for position, cell in enumerate(cells):
                    if position:
                        plain += divider
                    for segment in cell[at]:
                        if segment.style or segment.control:
                            yield Segment(plain)
                            yield segment
                            plain = ""
                        else:
                            plain += segment.text
                yield Segment(plain + right)
                yield Segment.line()
        yield Segment(box.get_bottom(widths))
        yield Segment.line()

    @staticmethod
    def _cell(
        console: Console,
        options: ConsoleOptions,
        cell: str | Text,
        width: int,
        folds: bool,
        rendered: dict[tuple[str, str, int], list[list[Segment]]],
    ) -> list[list[Segment]]:
        """A cell's lines, padded to its column's width."""
        if isinstance(cell, str) and _one_plain_line(cell) and (length := _width(cell)) <= width - 2:
            return [[Segment(" " + cell + " " * (width - 1 - length))]]
        key = (cell.plain, str(cell.style), width) if isinstance(cell, Text) else (cell, "", width)
        lines = rendered.get(key)
        if lines is None:  # as Table renders a cell: padded, folded at the column's width
            cell_options = options.update(
                width=width,
                justify="left",
                no_wrap=not folds,
                overflow="fold" if folds else "ellipsis",
                height=None,
                highlight=False,
            )
            lines = console.render_lines(Padding(cell, (0, 1)), cell_options, style=Style())
            if isinstance(cell, Text):  # the verdicts: a few distinct cells, a thousand times each
                rendered[key] = lines
        return lines


def _cell_width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else _width(cell)


def _width(text: str) -> int:
    """The cells `text` takes in a terminal (printable ASCII: one a character, measured without Rich)."""
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def _one_plain_line(text: str) -> bool:
    """Text that Rich would measure and lay out as it is, on one line."""
    return text.isprintable() and text == text.strip()


def render_history(console: Console, name: str, builds: Sequence[BuildSummary]) -> None:
    table = Table(title=f"history of {name}")
    for column in ("build", "started", "commit", "verdict", "baseline", "findings"):
        table.add_column(column, no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1)
    for build in builds:
        real = [f for f in build.findings if not f.ignored]
        table.add_row(
            str(build.id),
            _when(build.started_at),
            build.commit[:12],
            verdict_text(build.verdict),
            ("accepted" if build.accepted else "yes") if build.is_baseline else "",
            str(len(real)) if real else "",
            build.error or "",
        )
    console.print(table)


def render_packages(
    console: Console, build: BuildSummary, packages: Sequence[Package], warnings: Sequence[str]
) -> None:
    table = Table(title=f"packages of build {build.id} ({build.target})")
    for column in ("ecosystem", "name", "version", "arch", "layer", "source"):
        table.add_column(column, overflow="fold")
    for p in packages:
        table.add_row(
            p.ecosystem,
            printable(p.name),
            printable(p.version),
            printable(p.arch),
            "" if p.layer is None else str(p.layer),
            printable(p.source),
        )
    console.print(table)
    for warning in warnings:
        console.print(f"warning: {warning}", highlight=False, markup=False)


def render_alerts(console: Console, alerts: Sequence[Any], redact: Callable[[str], str]) -> None:
    table = Table(title="alerts")
    for column in ("id", "target", "build", "event", "route", "status", "attempts", "last error"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        status = "unknown (stopped while sending)" if a.status == "sending" else a.status
        table.add_row(
            str(a.id),
            a.target,
            str(a.build_id),
            a.event,
            redact(a.route),
            status,
            str(a.attempts),
            printable(a.last_error or ""),
        )
    console.print(table)


def render_build_detail(
    console: Console, build: BuildSummary, layers: Sequence[Mapping[str, Any]], risks: Sequence[Mapping[str, Any]]
) -> None:
    """`drift show`: the outcome with its noise, then base images, builder, risks, external inputs, layers, log."""
    render_outcome(console, build, show_noise=True)
    for base in build.base_images:
        inherited = f" ({base.layer_count} inherited layers)" if base.final else ""
        console.print(f"  stage {base.stage}: FROM {base.reference} -> {base.digest}{inherited}")
    if build.builder:
        b = build.builder
        console.print(
            f"  built by Docker Engine {b.engine_version} with the {b.builder} builder "
            f"(API {b.api_version}, {b.os}/{b.arch}, {b.storage_driver})"
        )
    if risks:
        console.print(f"  unpinned inputs ({len(risks)}):")
        for risk in risks:
            console.print(f"    {risk['id']} line {risk['line']}: {risk['message']}; fix: {risk['fix']}")
    render_external_inputs(console, build)
    for layer in layers:
        console.print(
            f"  layer {layer['index']}: {str(layer['normalized_digest'])[:19]}  {layer['files']:>6} files  "
            f"{layer['instruction']}"
        )
    if build.log_tail:
        console.print("  log tail:")
        console.print(build.log_tail)
