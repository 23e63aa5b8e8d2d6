"""The words of an alert: the target, the verdict, the top findings with cause and layer, the pins, where to look."""

from __future__ import annotations

from collections.abc import Sequence

from drift.values import BuildSummary, Finding

MAX_FINDINGS = 5


def _finding_line(finding: Finding) -> str:
    where = f"layer {finding.layer} ({finding.instruction})" if finding.layer is not None else finding.kind
    change = f"{finding.before} -> {finding.after}" if finding.before and finding.after else finding.change
    risk = f", predicted by {finding.risk}" if finding.risk else ""
    return f"- {finding.subject} {finding.change}: {change}; {where}; cause {finding.cause}{risk}"


def alert_message(event: str, build: BuildSummary, pins: Sequence[str] = (), report_hint: str = "") -> tuple[str, str]:
    """(title, body) of the alert for `event` on `build`, in plain text that reads well in chat and mail."""
    verdict = build.verdict.value if build.verdict else "unknown"
    titles = {
        "drifted": f"drift: {build.target} drifted (build {build.id})",
        "broken": f"drift: {build.target} is broken (build {build.id})",
        "recovered": f"drift: {build.target} is reproducible again (build {build.id})",
    }
    title = titles.get(event, f"drift: {build.target} {verdict} (build {build.id})")
    lines = [f"Target {build.target} at commit {build.commit[:12]}: {verdict}."]
    real = [f for f in build.findings if not f.ignored]
    if event == "drifted" and real:
        lines.append(f"What changed although the source did not ({len(real)} finding(s)):")
        lines.extend(_finding_line(f) for f in real[:MAX_FINDINGS])
        if len(real) > MAX_FINDINGS:
            lines.append(f"- ... and {len(real) - MAX_FINDINGS} more")
    if event == "broken":
        if build.failed_step:
            lines.append(f"Failed step: {build.failed_step}")
        if build.error:
            lines.append(f"Error: {build.error}")
    if event == "recovered":
        lines.append("The build matches its baseline again.")
    if pins:
        lines.append("Suggested pins (from the last good build):")
        lines.extend(f"- {pin}" for pin in pins)
    lines.append(report_hint or f"Details: drift show {build.id}")
    return title, "\n".join(lines)
