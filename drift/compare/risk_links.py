"""Linking observed drift to the static risk that predicted it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from drift.dockerfile import Risk
from drift.values import Finding


def link_risks(
    findings: Sequence[Finding],
    risks: Sequence[Risk],
    layer_lines: Mapping[int, tuple[int, int]],
    from_lines: Mapping[str, int],
) -> list[Finding]:
    """Give each finding the id of the risk on its instruction's lines whose cause matches.

    `layer_lines`: layer index -> (first, last) Dockerfile line of the
    instruction that made it; `from_lines`: base reference -> its FROM line.
    """
    linked = []
    for finding in findings:
        risk = _risk_for(finding, risks, layer_lines, from_lines)
        linked.append(replace(finding, risk=risk.id) if risk is not None and not finding.ignored else finding)
    return linked


def _risk_for(
    finding: Finding,
    risks: Sequence[Risk],
    layer_lines: Mapping[int, tuple[int, int]],
    from_lines: Mapping[str, int],
) -> Risk | None:
    if finding.kind == "base-image":
        line = from_lines.get(finding.subject)
        candidates = [r for r in risks if r.cause == "base-image-tag" and r.line == line]
    elif finding.layer is not None and finding.layer in layer_lines:
        first, last = layer_lines[finding.layer]
        candidates = [r for r in risks if first <= r.line <= last and r.cause == finding.cause]
        if finding.kind == "package":
            # Prefer the risk that names the package itself.
            candidates.sort(key=lambda r: r.subject.lower() != finding.subject.lower())
    else:
        return None
    return candidates[0] if candidates else None
