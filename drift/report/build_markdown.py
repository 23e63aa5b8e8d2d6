"""Markdown for a build or a diff of two builds: reads well pasted into a pull request or a wiki."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from drift.report.explanation import baseline_words
from drift.report.markdown_text import inline_code
from drift.values import BuildSummary, Finding

MAX_PATHS_PER_LAYER = 50


def _code(text: str) -> str:
    # Blank text shows as an empty pair of backticks here (the many-target report leaves it out).
    return inline_code(text) or "``"


def _change_line(finding: Finding) -> str:
    detail = ""
    if finding.before and finding.after:
        detail = f": {finding.before} → {finding.after}"
    elif finding.after:
        detail = f": {finding.after}"
    elif finding.before:
        detail = f": was {finding.before}"
    new = "" if finding.new else " _(not new)_"
    risk = f" (risk {finding.risk})" if finding.risk else ""
    return f"- {finding.change} {_code(finding.subject)}{detail}{risk}{new}"


def findings_markdown(findings: Sequence[Finding]) -> list[str]:
    """Findings grouped by layer, then the image-level ones, then the noise folded away."""
    lines: list[str] = []
    real = [f for f in findings if not f.ignored]
    image_level = [f for f in real if f.kind != "file"]
    if image_level:
        lines.append("| kind | subject | change | before | after | cause |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for f in image_level:
            lines.append(
                f"| {f.kind} | {_code(f.subject)} | {f.change} | {_code(f.before) if f.before else ''} "
                f"| {_code(f.after) if f.after else ''} | {f.cause} |"
            )
        lines.append("")
    by_layer: dict[int, list[Finding]] = defaultdict(list)
    for f in real:
        if f.kind == "file" and f.layer is not None:
            by_layer[f.layer].append(f)
    for layer in sorted(by_layer):
        items = by_layer[layer]
        causes = ", ".join(sorted({f.cause for f in items}))
        lines.append(f"**Layer {layer}** {_code(items[0].instruction)} (cause: {causes})")
        lines.append("")
        lines.extend(_change_line(f) for f in items[:MAX_PATHS_PER_LAYER])
        if len(items) > MAX_PATHS_PER_LAYER:
            lines.append(f"- … and {len(items) - MAX_PATHS_PER_LAYER} more")
        lines.append("")
    noise = [f for f in findings if f.ignored]
    if noise:
        lines.append(f"<details><summary>Noise: {len(noise)} difference(s) in ignored paths</summary>")
        lines.append("")
        by_rule: dict[str, list[Finding]] = defaultdict(list)
        for f in noise:
            by_rule[f.ignored_by or "ignored"].append(f)
        for rule, items in sorted(by_rule.items()):
            lines.append(
                f"- {rule}: " + ", ".join(_code(f.subject) for f in items[:20]) + (" …" if len(items) > 20 else "")
            )
        lines.append("")
        lines.append("</details>")
        lines.append("")
    if not real and not noise:
        lines.append("No differences.")
        lines.append("")
    return lines


def build_markdown(
    build: BuildSummary,
    layers: Sequence[Mapping[str, Any]],
    risks: Sequence[Mapping[str, Any]] = (),
    pins_diff: str = "",
) -> str:
    verdict = build.verdict.value if build.verdict else "running"
    lines = [f"### drift: {_code(build.target)} build {build.id}: **{verdict}**", ""]
    facts = [f"commit {_code(build.commit[:12])}", f"started {build.started_at:%Y-%m-%d %H:%M} UTC"]
    if words := baseline_words(build):
        facts.append(_code(words) if build.published or build.compared_to_published else words)
    lines.append(" · ".join(facts))
    lines.append("")
    if build.builder:
        b = build.builder
        lines.append(
            f"Built by Docker Engine {b.engine_version} (API {b.api_version}, {b.os}/{b.arch}, {b.storage_driver})."
        )
        lines.append("")
    if build.error:
        step = f" at step {_code(build.failed_step)}" if build.failed_step else ""
        lines.append(f"**Build failed{step}:** {build.error}")
        lines.append("")
        if build.log_tail:
            lines.extend(
                ["<details><summary>Log tail</summary>", "", "```", build.log_tail, "```", "", "</details>", ""]
            )
    if build.findings:
        lines.append("#### Findings")
        lines.append("")
        lines.extend(findings_markdown(build.findings))
    if build.base_images:
        lines.append("#### Base images")
        lines.append("")
        for base in build.base_images:
            inherited = f", {base.layer_count} layers inherited by the final stage" if base.final else ""
            lines.append(f"- stage {base.stage}: {_code('FROM ' + base.reference)} → {_code(base.digest)}{inherited}")
        lines.append("")
    if risks:
        lines.append("#### Unpinned inputs (risks)")
        lines.append("")
        lines.append("| id | line | subject | what | fix |")
        lines.append("| --- | --- | --- | --- | --- |")
        for risk in risks:
            lines.append(
                f"| {risk['id']} | {risk['line']} | {_code(str(risk['subject']))} | {risk['message']} | {risk['fix']} |"
            )
        lines.append("")
    if pins_diff:
        lines.extend(["#### Suggested pins", "", "```diff", pins_diff.rstrip("\n"), "```", ""])
    if layers:
        lines.append("<details><summary>Layers</summary>")
        lines.append("")
        lines.append("| # | normalized digest | files | instruction |")
        lines.append("| --- | --- | --- | --- |")
        for layer in layers:
            lines.append(
                f"| {layer['index']} | {_code(str(layer['normalized_digest'])[:19])} | {layer['files']} "
                f"| {_code(str(layer['instruction']))} |"
            )
        lines.extend(["", "</details>", ""])
    return "\n".join(lines).rstrip("\n") + "\n"


def diff_markdown(first: BuildSummary, second: BuildSummary, findings: Sequence[Finding]) -> str:
    lines = [
        f"### drift diff: build {first.id} ({_code(first.target)}) → build {second.id} ({_code(second.target)})",
        "",
        f"commits {_code(first.commit[:12])} → {_code(second.commit[:12])}",
        "",
    ]
    lines.extend(findings_markdown(findings))
    return "\n".join(lines).rstrip("\n") + "\n"
