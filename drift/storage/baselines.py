"""Baselines: the build each target's source is judged against, set by its first good build or by a person."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from drift.storage.models import BaselineRow, BuildRow, utcnow
from drift.storage.rows import target_row


def baseline_build_id(session: Session, target: str, fingerprint: str) -> int | None:
    target_id = target_row(session, target).id
    return session.scalar(
        select(BaselineRow.build_id).where(BaselineRow.target_id == target_id, BaselineRow.fingerprint == fingerprint)
    )


def set_baseline(session: Session, build_id: int, *, accepted: bool) -> None:
    build = session.get_one(BuildRow, build_id)
    row = session.scalar(
        select(BaselineRow).where(
            BaselineRow.target_id == build.target_id, BaselineRow.fingerprint == build.fingerprint
        )
    )
    if row is None:
        row = BaselineRow(target_id=build.target_id, fingerprint=build.fingerprint)
        session.add(row)
    row.build_id = build_id
    row.accepted = accepted
    row.set_at = utcnow()
    session.flush()


def baseline_published(session: Session, target: str, fingerprint: str) -> str | None:
    """The published image ("REF@sha256:...") the source is judged against; None when its baseline is a build."""
    target_id = target_row(session, target).id
    return session.scalar(
        select(BuildRow.published)
        .join(BaselineRow, BaselineRow.build_id == BuildRow.id)
        .where(BaselineRow.target_id == target_id, BaselineRow.fingerprint == fingerprint)
    )
