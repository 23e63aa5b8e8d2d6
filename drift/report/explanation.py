"""What every report format says about a target's latest build, in the same words.

The order of verdicts by how much they need a person, since when a target's
current verdict holds, and the one-line explanation of a build (the top
findings with their layer and cause, or the step that failed). The formats
(report_markdown, html, junit, table) only lay these out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from drift.values import BuildSummary, Finding, HistoryEntry, TargetSpec, Verdict

# A night of a target's timeline: a build in brief (as `drift report` reads it) or in full.
Night = HistoryEntry | BuildSummary
# Per target: its spec, its latest finished build in full, and its recent builds, newest first.
Rows = Sequence[tuple[TargetSpec, BuildSummary | None, Sequence[Night]]]

# Most in need of a person first: the order of counts, of rows and of sections.
SEVERITY: tuple[Verdict, ...] = (
    Verdict.BROKEN,
    Verdict.DRIFTED,
    Verdict.FAILED,
    Verdict.ERROR,
    Verdict.NOISY,
    Verdict.BASELINE,
    Verdict.REPRODUCIBLE,
)
PROBLEMS = frozenset({Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED, Verdict.ERROR})
NEVER_BUILT = "never built"

# Image-level findings explain the rest (a moved base image changes every file
# of its layers), then packages (they explain their files), then files.
_KIND_ORDER = {"base-image": 0, "package": 1, "config": 2, "file": 3, "layers": 4, "builder": 5}


def verdict_key(build: BuildSummary | None) -> str:
    """The verdict's word, "running" for a build without one, "never built" for no build."""
    if build is None:
        return NEVER_BUILT
    return build.verdict.value if build.verdict is not None else "running"


def severity_rank(build: BuildSummary | None) -> int:
    if build is None or build.verdict is None:
        return len(SEVERITY)
    return SEVERITY.index(build.verdict)


def verdict_counts(rows: Rows) -> dict[str, int]:
    """Targets per latest verdict, most severe first; verdicts no target has are left out."""
    counts: dict[str, int] = defaultdict(int)
    for _spec, latest, _history in rows:
        counts[verdict_key(latest)] += 1
    order = [v.value for v in SEVERITY] + ["running", NEVER_BUILT]
    return {key: counts[key] for key in order if counts.get(key)}


def utc(moment: datetime) -> datetime:
    """The moment in UTC; naive times (as SQLite gives them back) are UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def since(history: Sequence[Night]) -> datetime | None:
    """When the latest verdict started: the oldest build of the newest run of equal verdicts."""
    if not history:
        return None
    start = history[0].started_at
    for build in history:
        if build.verdict != history[0].verdict:
            break
        start = build.started_at
    return start


def real_findings(build: BuildSummary) -> list[Finding]:
    """The findings outside ignored paths, the most explaining first (stable within a kind and layer)."""
    real = [f for f in build.findings if not f.ignored]
    # What the network served differently explains a drifted output first; without drift it is information.
    fetch_order = -1 if build.verdict is Verdict.DRIFTED else 10
    order = {**_KIND_ORDER, "fetch": fetch_order}
    return sorted(real, key=lambda f: (order.get(f.kind, 9), -1 if f.layer is None else f.layer))


def short(text: str, limit: int = 80) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int) -> str:
    """Short text without backticks, to stand between the backticks of an explanation."""
    return short(text.replace("`", "'"), limit)


def finding_sentence(finding: Finding) -> str:
    """What changed, in words: "package curl modified 7.88.1-10 -> 7.88.1-11"."""
    values = " -> ".join(v for v in (finding.before, finding.after) if v)
    subject = {
        "package": f"package {finding.subject}",
        "base-image": f"base image {finding.subject}",
        "config": f"config {finding.subject}",
        "builder": f"builder {finding.subject}",
        "layers": f"layers {finding.subject}".rstrip(),
        "published": f"published image {finding.subject}",
    }.get(finding.kind, finding.subject)
    return f"{subject} {finding.change}" + (f" {values}" if values else "")


def finding_line(finding: Finding) -> str:
    """One finding on one line, with where it is and why: for lists of all findings."""
    where = f"layer {finding.layer} ({short(finding.instruction, 60)}): " if finding.layer is not None else ""
    extras = [f"cause {finding.cause}"]
    if finding.risk:
        extras.append(f"risk {finding.risk}")
    if finding.new:
        extras.append("new")
    return f"{where}{finding_sentence(finding)} [{', '.join(extras)}]"


def failure_text(build: BuildSummary) -> str:
    """Why a build failed: its step, its error and the log's last line."""
    text = f"step `{_plain(build.failed_step, 70)}` failed" if build.failed_step else "the build failed"
    if build.error:
        text += ": " + short(build.error, 200)
    last = [line for line in (build.log_tail or "").splitlines() if line.strip()]
    if last and (not build.error or last[-1].strip() not in build.error):
        text += "; " + short(last[-1], 120)
    return text


def baseline_words(build: BuildSummary) -> str:
    """What a build was judged against, or that it is the baseline: "compared with baseline build 3",
    "baseline: published registry/app:1@sha256:... (build 3)", "" for a build judged against nothing."""
    if build.published:
        return f"the published image {build.published}, the baseline"
    if build.is_baseline:
        return "this build is the baseline" + (" (accepted)" if build.accepted else "")
    if build.compared_to_published:
        return f"baseline: published {build.compared_to_published} (build {build.compared_to})"
    if build.compared_to:
        return f"compared with baseline build {build.compared_to}"
    return ""


def explanation(build: BuildSummary | None, *, groups: int = 3) -> str:
    """One line a person reads first: what explains this build's verdict."""
    if build is None:
        return "never built"
    verdict = build.verdict
    if verdict is Verdict.ERROR:
        return "the check could not run: " + short(build.error or "unknown reason", 200)
    if verdict in (Verdict.BROKEN, Verdict.FAILED):
        return failure_text(build)
    real = real_findings(build)
    noise = len(build.findings) - len(real)
    if not real:
        if verdict is Verdict.NOISY:
            return f"{noise} difference(s) in ignored paths only"
        if verdict is Verdict.BASELINE and build.published:
            return f"the published image {build.published}: the baseline its builds are judged against"
        if verdict is Verdict.BASELINE:
            return "accepted as the baseline" if build.accepted else "first good build: the baseline"
        if verdict is Verdict.REPRODUCIBLE and build.compared_to_published:
            return f"same output as the published image {build.compared_to_published}"
        if verdict is Verdict.REPRODUCIBLE and build.compared_to:
            return f"same output as baseline build {build.compared_to}"
        return ""
    by_layer: dict[int | None, list[Finding]] = defaultdict(list)
    for finding in real:
        by_layer[finding.layer].append(finding)
    texts = []
    for layer, items in list(by_layer.items())[:groups]:
        causes = ", ".join(sorted({f.cause for f in items}))
        lead = [f for f in items if f.kind != "file"] or items
        named = "; ".join(finding_sentence(f) for f in lead[:2])
        more = f" (+{len(items) - min(2, len(lead))} more)" if len(items) > min(2, len(lead)) else ""
        where = f"layer {layer} `{_plain(items[0].instruction, 50)}`: " if layer is not None else ""
        texts.append(f"{where}{named}{more}, cause {causes}")
    rest = len(by_layer) - groups
    return "; ".join(texts) + (f"; and {rest} more layer(s)" if rest > 0 else "")
