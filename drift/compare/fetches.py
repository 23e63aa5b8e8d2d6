"""Comparing a build's fetch ledger with its baseline's: `fetch` findings for what the network served differently.

Per request (method and URL; "host:port" for an HTTPS tunnel): the same URL
answered with another body is `modified` (both sha256 values and sizes); a URL
or host the baseline did not contact is `added`, one no longer contacted is
`removed`. HTTPS passes through tunnels drift does not open, so only its hosts
can be compared.

A fetch finding never decides the verdict (drift.compare.verdict): the output
does. When the output drifted, they come first, since they say what outside the
repository changed; when it did not, they are shown as information.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from drift.values import Finding, RecordedFetch, Verdict

KIND = "fetch"
CAUSE = "network-fetch"


def _key(fetch: RecordedFetch) -> tuple[str, str]:
    return (fetch.method, fetch.url)


def _subject(method: str, url: str) -> str:
    return url if method in ("GET", "CONNECT") else f"{method} {url}"


def describe_body(fetch: RecordedFetch) -> str:
    """ "sha256:<hex> (1234 bytes)", or why no whole body came."""
    if fetch.method == "CONNECT":
        return f"tunnel ({fetch.bytes} bytes)"
    if fetch.sha256:
        return f"sha256:{fetch.sha256} ({fetch.bytes} bytes)"
    why = fetch.error or (f"status {fetch.status}" if fetch.status is not None else "no answer")
    return f"no complete body ({why})"


def _bodies(fetches: Sequence[RecordedFetch]) -> str:
    described = sorted({describe_body(f) for f in fetches})
    return ", ".join(described)


def _finding(fetch: RecordedFetch, change: str, before: str, after: str) -> Finding:
    return Finding(
        kind=KIND,
        layer=fetch.layer,
        instruction=fetch.instruction,
        subject=_subject(fetch.method, fetch.url),
        change=change,
        before=before,
        after=after,
        cause=CAUSE,
        risk=fetch.risk,
    )


def compare_fetches(baseline: Sequence[RecordedFetch], current: Sequence[RecordedFetch]) -> list[Finding]:
    """The fetch findings between two ledgers, in URL order."""
    old: dict[tuple[str, str], list[RecordedFetch]] = defaultdict(list)
    new: dict[tuple[str, str], list[RecordedFetch]] = defaultdict(list)
    for fetch in baseline:
        old[_key(fetch)].append(fetch)
    for fetch in current:
        new[_key(fetch)].append(fetch)
    return list(_findings(old, new))


def _findings(
    old: dict[tuple[str, str], list[RecordedFetch]], new: dict[tuple[str, str], list[RecordedFetch]]
) -> Iterator[Finding]:
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k[1], k[0])):
        before, after = old.get(key, []), new.get(key, [])
        if not before:
            yield _finding(after[0], "added", "", _bodies(after))
        elif not after:
            yield _finding(before[0], "removed", _bodies(before), "")
        elif key[0] != "CONNECT" and {f.sha256 for f in before} != {f.sha256 for f in after}:
            yield _finding(after[0], "modified", _bodies(before), _bodies(after))


def order_findings(findings: Sequence[Finding], verdict: Verdict) -> list[Finding]:
    """Fetch findings first when the output drifted (they name what changed outside), last otherwise."""
    fetch = [f for f in findings if f.kind == KIND]
    rest = [f for f in findings if f.kind != KIND]
    return fetch + rest if verdict is Verdict.DRIFTED else rest + fetch
