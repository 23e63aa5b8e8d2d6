"""Recording a build: starting it, what it left in the engine, and everything it produced when it finished."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from drift.storage import baselines, fetches, images, recent
from drift.storage.models import BuildRow, FindingRow, utcnow
from drift.storage.rows import target_row, write_builder_info
from drift.values import BaseImage, BuilderInfo, Finding, ImageRecord, RecordedFetch, Verdict


def start_build(
    session: Session,
    target: str,
    fingerprint: str,
    commit: str,
    *,
    slot: datetime | None = None,
    owner: str | None = None,
    engine_host: str | None = None,
) -> int:
    now = utcnow()
    row = BuildRow(
        target_id=target_row(session, target).id,
        fingerprint=fingerprint,
        commit=commit,
        status="running",
        slot=slot,
        owner=owner,
        started_at=now,
        heartbeat_at=now,
        engine_host=engine_host,
    )
    session.add(row)
    session.flush()
    return row.id


def add_engine_objects(session: Session, build_id: int, objects: Sequence[str]) -> None:
    """Remember containers and images a build made, so that whoever finds it abandoned can remove them."""
    row = session.get_one(BuildRow, build_id)
    row.engine_objects = [*(row.engine_objects or []), *objects]


def engine_objects(session: Session, build_id: int) -> list[str]:
    return list(session.get_one(BuildRow, build_id).engine_objects or [])


def set_build_error(session: Session, build_id: int, error: str) -> None:
    session.execute(update(BuildRow).where(BuildRow.id == build_id).values(error=error))


def finish_build(
    session: Session,
    build_id: int,
    *,
    status: str,
    verdict: Verdict,
    builder: BuilderInfo | None = None,
    image: ImageRecord | None = None,
    compared_to: int | None = None,
    findings: Iterable[Finding] = (),
    error: str | None = None,
    failed_step: str | None = None,
    log_tail: str | None = None,
    base_images: Sequence[BaseImage] = (),
    dockerfile_text: str | None = None,
    risks: Sequence[dict[str, Any]] | None = None,
    ledger: str | None = None,
    fetched: Sequence[RecordedFetch] = (),
) -> None:
    """Record everything a finished build produced, in the caller's unit of work.

    `ledger`: "on", "off" or "off: <why>" (None: the build never got to building); `fetched`: its
    fetch ledger when it was on.
    """
    row = session.get_one(BuildRow, build_id)
    row.status = status
    row.verdict = verdict.value
    row.finished_at = utcnow()
    row.compared_to_id = compared_to
    row.error = error
    row.failed_step = failed_step
    row.log_tail = log_tail
    row.dockerfile_text = dockerfile_text
    row.risks = list(risks) if risks is not None else None
    images.save_base_images(session, row, base_images)
    if builder is not None:
        write_builder_info(row, builder)
    if image is not None:
        images.save_image(session, row, image)
    if ledger is not None:
        fetches.save_fetches(session, row, ledger, fetched)
    _save_findings(session, build_id, findings)
    if verdict is Verdict.BASELINE:
        baselines.set_baseline(session, build_id, accepted=False)
    recent.add_finished(session, row)
    session.flush()


def _save_findings(session: Session, build_id: int, findings: Iterable[Finding]) -> None:
    finding_rows = [
        {
            "build_id": build_id,
            "kind": f.kind,
            "layer": f.layer,
            "instruction": f.instruction,
            "subject": f.subject,
            "change": f.change,
            "before": f.before,
            "after": f.after,
            "cause": f.cause,
            "ignored": f.ignored,
            "new": f.new,
            "ignored_by": f.ignored_by or None,
            "risk": f.risk or None,
            "ecosystem": f.ecosystem or None,
        }
        for f in findings
    ]
    if finding_rows:
        session.execute(insert(FindingRow), finding_rows)


def record_published(
    session: Session, target: str, fingerprint: str, commit: str, published: str, image: ImageRecord
) -> int:
    """Record a published image ("REF@sha256:...") as a row of the target's history, its source's baseline.

    It is no build: no engine built it and it has no builder; it is what a
    registry serves, and every build of the source is judged against it.
    """
    build_id = start_build(session, target, fingerprint, commit)
    session.get_one(BuildRow, build_id).published = published
    finish_build(session, build_id, status="succeeded", verdict=Verdict.BASELINE, image=image)
    return build_id
