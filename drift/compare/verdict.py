"""Turning findings into a verdict, and marking which findings are new since the previous build."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from drift.values import Finding, Verdict


def judge(findings: Sequence[Finding]) -> Verdict:
    """The verdict of a succeeded build against its baseline, from its findings."""
    if not findings:
        return Verdict.REPRODUCIBLE
    if all(finding.ignored for finding in findings):
        return Verdict.NOISY
    return Verdict.DRIFTED


def mark_new(
    findings: Iterable[Finding], previous: set[tuple[str, int | None, str, str, str]]
) -> list[Finding]:
    """Flag each finding the previous build of the same source did not already show."""
    return [replace(finding, new=finding.key() not in previous) for finding in findings]
