"""The report of many targets as Markdown, for a pull-request comment, a wiki page or GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from drift.report.explanation import (
    Night,
    Rows,
    baseline_words,
    explanation,
    real_findings,
    severity_rank,
    short,
    since,
    utc,
    verdict_counts,
)
from drift.report.markdown_text import inline_code, table_text
from drift.values import BuildSummary, TargetSpec, Verdict

MAX_FINDINGS_PER_TARGET = 10

_MARKERS = {
    Verdict.BASELINE: "✓ baseline",
    Verdict.REPRODUCIBLE: "✓ reproducible",
    Verdict.NOISY: "✓ noisy",
    Verdict.DRIFTED: "✗ **drifted**",
    Verdict.BROKEN: "✗ **broken**",
    Verdict.FAILED: "✗ **failed**",
    Verdict.ERROR: "! **error**",
}


def _explanation_markdown(text: str) -> str:
    """An explanation as Markdown: the backticked instructions become code, the rest stays text."""
    pieces = text.split("`")
    return "".join(inline_code(piece) if index % 2 else table_text(piece) for index, piece in enumerate(pieces))


def _day(moment: datetime | None) -> str:
    return utc(moment).strftime("%Y-%m-%d") if moment else "-"


def _marker(build: BuildSummary | None) -> str:
    if build is None:
        return "_never built_"
    return _MARKERS[build.verdict] if build.verdict is not None else "_running_"


def _fence(text: str) -> str:
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text.rstrip()}\n{ticks}"


def _section(spec: TargetSpec, latest: BuildSummary, history: Sequence[Night]) -> list[str]:
    verdict = latest.verdict.value if latest.verdict else "running"
    lines = [
        f"### {inline_code(spec.name)}: {verdict} since {_day(since(history))}",
        "",
        f"Build {latest.id} of commit {inline_code(latest.commit[:12])}"
        + (f", {baseline_words(latest)}" if latest.compared_to or latest.published else "")
        + f". Details: {inline_code(f'drift show {latest.id}')}",
        "",
    ]
    if latest.verdict in (Verdict.BROKEN, Verdict.FAILED):
        if latest.failed_step:
            lines += [f"Failed step: {inline_code(latest.failed_step)}", ""]
        if latest.error:
            lines += [f"Error: {table_text(latest.error)}", ""]
        if latest.log_tail:
            tail = "\n".join(latest.log_tail.rstrip().splitlines()[-10:])
            lines += ["<details><summary>Log tail</summary>", "", _fence(tail), "", "</details>", ""]
    real = real_findings(latest)
    if real:
        lines.append("| layer | instruction | subject | change | cause | risk |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for f in real[:MAX_FINDINGS_PER_TARGET]:
            values = " → ".join(inline_code(short(v, 40)) for v in (f.before, f.after) if v)
            change = f"{f.change}{': ' + values if values else ''}{'' if f.new else ' _(not new)_'}"
            subject = (
                f"{f.kind} {inline_code(f.subject)}"
                if f.kind in ("package", "base-image", "config")
                else inline_code(f.subject)
            )
            lines.append(
                f"| {'' if f.layer is None else f.layer} | {inline_code(short(f.instruction, 60))} | {subject} "
                f"| {change} | {table_text(f.cause)} | {table_text(f.risk) if f.risk else ''} |"
            )
        if len(real) > MAX_FINDINGS_PER_TARGET:
            lines.append("")
            lines.append(f"… and {len(real) - MAX_FINDINGS_PER_TARGET} more finding(s).")
        lines.append("")
    noise = len(latest.findings) - len(real)
    if noise:
        lines += [f"{noise} more difference(s) in ignored paths (noise).", ""]
    return lines


def report_markdown(rows: Rows, generated_at: datetime) -> str:
    """Counts per verdict, one table row per target (most severe first), then a section per target that
    drifted, broke or failed with its top findings."""
    counts = verdict_counts(rows)
    heading = " · ".join(f"{count} {key}" for key, count in counts.items()) or "no targets"
    lines = [
        f"## drift report: {heading}",
        "",
        f"{len(rows)} target(s), generated {utc(generated_at):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    if not rows:
        return "\n".join(lines)
    ordered = sorted(rows, key=lambda row: severity_rank(row[1]))
    lines.append("| target | verdict | since | build | explanation |")
    lines.append("| --- | --- | --- | --- | --- |")
    for spec, latest, history in ordered:
        lines.append(
            f"| {inline_code(spec.name)} | {_marker(latest)} | {_day(since(history))} "
            f"| {latest.id if latest else '-'} | {_explanation_markdown(explanation(latest))} |"
        )
    lines.append("")
    for spec, latest, history in ordered:
        if latest is not None and latest.verdict in (Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED):
            lines.extend(_section(spec, latest, history))
    return "\n".join(lines).rstrip("\n") + "\n"
