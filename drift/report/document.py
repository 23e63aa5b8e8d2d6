"""The versioned report document (`drift report --format json`), built from recorded builds.

Schema 1, stable: fields may be added, never renamed or removed without a new
schema number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from drift import __version__
from drift.report.explanation import Rows
from drift.report.printable import printable
from drift.values import BuildSummary, Finding, Package, RecordedFetch, TargetSpec, Verdict

SCHEMA = 1

_VERDICT_WORDS: dict[Verdict | None, str | None] = {None: None, **{verdict: verdict.value for verdict in Verdict}}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _iso_utc(moment: datetime) -> str:
    """`moment.isoformat(timespec="seconds")`, written out for a time in UTC: a year of nights is sixty thousand
    of them, and isoformat of an aware time takes twice as long (so does an f-string with format specs)."""
    if moment.tzinfo is not UTC:
        return moment.isoformat(timespec="seconds")
    fields = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return "%04d-%02d-%02dT%02d:%02d:%02d+00:00" % fields  # noqa: UP031  (the fastest way, see above)


def finding_document(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "layer": finding.layer,
        "instruction": finding.instruction,
        "subject": finding.subject,
        "change": finding.change,
        "before": finding.before,
        "after": finding.after,
        "cause": finding.cause,
        "ignored": finding.ignored,
        "ignored_by": finding.ignored_by or None,
        "risk": finding.risk or None,
        "ecosystem": finding.ecosystem or None,
        "new": finding.new,
    }


def fetch_document(fetch: RecordedFetch) -> dict[str, Any]:
    """One request of a build's fetch ledger (`drift show --format json`, "fetches")."""
    return {
        "url": fetch.url,
        "host": fetch.host,
        "method": fetch.method,
        "status": fetch.status,
        "bytes": fetch.bytes,
        "sha256": fetch.sha256 or None,
        "layer": fetch.layer,
        "instruction": fetch.instruction,
        "unverified": fetch.unverified,
        "risk": fetch.risk or None,
        "error": fetch.error or None,
    }


def external_hosts(build: BuildSummary) -> list[str]:
    """The hosts a build contacted through drift's proxy, sorted."""
    return sorted({fetch.host for fetch in build.fetches if fetch.host})


def ledger_counts(build: BuildSummary | None) -> dict[str, Any]:
    """Per target in the report: whether the latest build's ledger was on, its external hosts and its
    unverified fetches (content no checksum in the Dockerfile pins); null counts when it was not on."""
    if build is None or build.ledger != "on":
        ledger = build.ledger if build is not None else None
        return {"ledger": ledger, "external_hosts": None, "unverified_fetches": None}
    return {
        "ledger": "on",
        "external_hosts": len(external_hosts(build)),
        "unverified_fetches": sum(1 for fetch in build.fetches if fetch.unverified),
    }


def build_document(build: BuildSummary) -> dict[str, Any]:
    """One build: its verdict, when, what built it and what it found."""
    builder = build.builder
    return {
        "build": build.id,
        "verdict": build.verdict.value if build.verdict else None,
        "status": build.status,
        "commit": build.commit,
        "fingerprint": build.fingerprint,
        "started_at": _iso(build.started_at),
        "finished_at": _iso(build.finished_at),
        "image_id": build.image_id,
        "compared_to": build.compared_to,
        "is_baseline": build.is_baseline,
        "published": build.published,
        "compared_to_published": build.compared_to_published,
        "accepted": build.accepted,
        "engine_host": build.engine_host,
        "builder": None
        if builder is None
        else {
            "engine_version": builder.engine_version,
            "api_version": builder.api_version,
            "os": builder.os,
            "arch": builder.arch,
            "storage_driver": builder.storage_driver,
        },
        "base_images": [
            {
                "stage": b.stage,
                "reference": b.reference,
                "image_id": b.image_id,
                "repo_digest": b.repo_digest or None,
                "layer_count": b.layer_count,
                "final": b.final,
            }
            for b in build.base_images
        ],
        "error": build.error,
        "failed_step": build.failed_step,
        "log_tail": build.log_tail,
        "findings": [finding_document(f) for f in build.findings if not f.ignored],
        "ignored_findings": [finding_document(f) for f in build.findings if f.ignored],
    }


def report_document(
    targets: Rows,
    *,
    generated_at: datetime,
) -> dict[str, Any]:
    """The whole report: per target its pin, its latest verdict with findings, and its recent history."""
    return {
        "schema": SCHEMA,
        "generated_at": _iso(generated_at),
        "drift_version": __version__,
        "targets": [
            {
                "name": spec.name,
                "repo": spec.repo,
                "commit": spec.commit,
                "dockerfile": spec.dockerfile,
                "context": spec.context,
                "latest": build_document(latest) if latest is not None else None,
                **ledger_counts(latest),
                "history": [
                    {
                        "build": b.id,
                        "verdict": _VERDICT_WORDS[b.verdict],
                        "started_at": _iso_utc(b.started_at),
                        "commit": b.commit,
                    }
                    for b in history  # sixty nights of a thousand targets: as little as can be per night
                ],
            }
            for spec, latest, history in targets
        ],
    }


def spec_document(spec: TargetSpec) -> dict[str, Any]:
    """A tracked target, as `drift targets --format json` lists it (give it a printable spec)."""
    document = asdict(spec)
    document["target"] = document.pop("stage")
    document["ignore"] = list(spec.ignore)
    document["alerts"] = list(spec.alerts)
    return document


def package_document(package: Package) -> dict[str, Any]:
    return asdict(package)


def alert_document(alert: Any, redact: Callable[[str], str]) -> dict[str, Any]:
    """One alert of the outbox, its route without secrets."""
    return {
        "id": alert.id,
        "build": alert.build_id,
        "target": alert.target,
        "event": alert.event,
        "route": redact(alert.route),
        "status": alert.status,
        "attempts": alert.attempts,
        "created_at": _iso(alert.created_at),
        "sent_at": _iso(alert.sent_at),
        "last_error": printable(alert.last_error) if alert.last_error else None,
        "title": printable(alert.title),
    }


def pin_document(pin: Any) -> dict[str, Any]:
    return {
        "line": pin.line,
        "risk": pin.risk_id,
        "subject": pin.subject,
        "before": pin.before,
        "after": pin.after,
        "description": pin.description,
    }
