"""Comparing any two recorded builds (`drift diff`): of one target or two, of one commit or two."""

from __future__ import annotations

from dataclasses import replace

from drift.compare.diff import compare_builds
from drift.compare.ignore import IgnoreRules
from drift.errors import UsageError
from drift.storage import history, images, targets
from drift.storage.database import Database
from drift.values import BuildSummary, Finding

# Instructions that put the repository's own files into the image.
_SOURCE_INSTRUCTIONS = ("COPY ", "ADD ")


def diff_builds(db: Database, build_a: int, build_b: int) -> tuple[BuildSummary, BuildSummary, list[Finding]]:
    """Both builds and every difference from the first to the second, judged with the second's ignore rules.

    Between builds of two commits, a file its repository put in with COPY or
    ADD changed because the source did: its cause is `source`, not unknown.
    """
    with db.session() as session:
        first, second = history.get_build(session, build_a), history.get_build(session, build_b)
        for summary in (first, second):
            if summary.status != "succeeded":
                raise UsageError(f"build {summary.id} did not succeed ({summary.status}); it has no image to compare")
        spec = targets.get_target(session, second.target)
        findings = compare_builds(
            images.load_output(session, build_a),
            images.load_output(session, build_b),
            IgnoreRules.for_target(spec.ignore),
        )
    if first.commit != second.commit:
        findings = [_caused_by_source(finding) for finding in findings]
    return first, second, findings


def _caused_by_source(finding: Finding) -> Finding:
    copied = finding.instruction.upper().startswith(_SOURCE_INSTRUCTIONS)
    if finding.kind == "file" and copied and not finding.ignored and finding.cause in ("unknown", "base-image-tag"):
        return replace(finding, cause="source")
    return finding
