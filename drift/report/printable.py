"""Untrusted text made safe to print: file names, build logs and Dockerfile lines come from other people.

A path in a layer tar is bytes; drift keeps the bytes that are not UTF-8 as
surrogate escapes (`\\udcff` for the byte 0xff), so nothing is lost and paths
compare exactly. For people, those bytes are shown as `\\xff`, and so are the
control characters that would otherwise move the cursor, clear the screen or
set the terminal's title (`\\x1b`), and the bidirectional overrides that make
text read differently from what it is.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from drift.source.location import redact_credentials
from drift.values import BuildSummary, Finding, RecordedFetch, TargetSpec

# C0 controls, DEL, C1 controls, lone surrogates (the undecodable bytes), bidi overrides and isolates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_IN_BLOCK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """One line of untrusted text, with every control character and undecodable byte escaped."""
    return _UNPRINTABLE.sub(_escape, text)


def printable_block(text: str) -> str:
    """Several lines of untrusted text (a build log): newlines and tabs kept, everything else escaped."""
    return _UNPRINTABLE_IN_BLOCK.sub(_escape, text)


def printable_finding(finding: Finding) -> Finding:
    # One search over the texts joined by a space (printable, so it matches nothing of its own).
    texts = (finding.instruction, finding.subject, finding.before, finding.after, finding.ignored_by)
    if not _UNPRINTABLE.search(" ".join(texts)):
        return finding  # the usual case: nothing to escape, no copy (a report holds thousands)
    return replace(
        finding,
        instruction=printable(finding.instruction),
        subject=printable(finding.subject),
        before=printable(finding.before),
        after=printable(finding.after),
        ignored_by=printable(finding.ignored_by),
    )


def printable_fetch(fetch: RecordedFetch) -> RecordedFetch:
    """A fetch as people may see it: its URL without credentials, every text escaped."""
    return replace(
        fetch,
        url=printable(redact_credentials(fetch.url)),
        host=printable(fetch.host),
        instruction=printable(redact_credentials(fetch.instruction)),
        error=printable(fetch.error),
    )


def printable_build(build: BuildSummary) -> BuildSummary:
    """A recorded build as people may see it: every text escaped, every URL without its secret."""
    # Only what a build holds is looked at: a year of nights is sixty thousand builds, most without an error,
    # a log, base images or fetches.
    changed: dict[str, Any] = {}
    for name in ("error", "failed_step", "engine_host", "ledger", "published", "compared_to_published"):
        text = getattr(build, name)
        if text is not None and (shown := printable(redact_credentials(text))) != text:
            changed[name] = shown
    if build.log_tail is not None and (log := printable_block(redact_credentials(build.log_tail))) != build.log_tail:
        changed["log_tail"] = log
    if build.findings:
        findings = tuple(printable_finding(f) for f in build.findings)
        if findings != build.findings:
            changed["findings"] = findings
    if build.base_images:
        bases = tuple(
            replace(b, reference=printable(b.reference)) if _UNPRINTABLE.search(b.reference) else b
            for b in build.base_images
        )
        if bases != build.base_images:
            changed["base_images"] = bases
    if build.fetches:
        fetches = tuple(printable_fetch(f) for f in build.fetches)
        if fetches != build.fetches:
            changed["fetches"] = fetches
    return replace(build, **changed) if changed else build


def printable_spec(spec: TargetSpec) -> TargetSpec:
    """A target as people may see it: the repository URL without its credentials, alert routes redacted."""
    spec = replace(
        spec,
        repo=printable(redact_credentials(spec.repo)),
        dockerfile=printable(spec.dockerfile),
        context=printable(spec.context),
    )
    if not spec.alerts:
        return spec  # apprise, which redacts routes, takes longer to load than a report of a thousand targets
    from drift.alerts.deliver import redact

    return replace(spec, alerts=tuple(redact(route) for route in spec.alerts))
