"""Turning findings into a verdict, and marking which findings are new since the previous build."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from drift.values import Finding, Verdict

# A base image of a builder stage moved: informational, since what the stage built is compared in the image.
BUILDER_STAGE_MOVED = "moved-in-builder-stage"


def is_informational(finding: Finding) -> bool:
    """Findings that explain but do not change the output: a new engine version, a tag re-pointed at equal
    content, a builder stage's base that moved, a fetch (the network served something else: only the output says
    whether it reached the image), a rebuild's own creation time beside a published image's."""
    return (
        finding.kind in ("builder", "fetch")
        or (finding.kind == "base-image" and finding.change in ("retagged", BUILDER_STAGE_MOVED))
        or (finding.kind == "published" and finding.subject == "created")
    )


def judge(findings: Sequence[Finding]) -> Verdict:
    """The verdict of a succeeded build against its baseline, from its findings."""
    findings = [finding for finding in findings if not is_informational(finding)]
    if not findings:
        return Verdict.REPRODUCIBLE
    if all(finding.ignored for finding in findings):
        return Verdict.NOISY
    return Verdict.DRIFTED


def mark_new(findings: Iterable[Finding], previous: set[tuple[str, int | None, str, str, str]]) -> list[Finding]:
    """Flag each finding the previous build of the same source did not already show."""
    return [replace(finding, new=finding.key() not in previous) for finding in findings]
