"""The alert outbox: alerts queued once per build, event and route, claimed by one sender at a time,
marked sent or retried later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from drift.storage.models import AlertRow, BuildRow, TargetRow, utcnow
from drift.storage.rows import dialect_insert, target_row
from drift.values import Verdict


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An alert in the outbox, as its sender and `drift alerts list` see it."""

    id: int
    build_id: int
    target: str
    event: str
    route: str
    title: str
    body: str
    attempts: int
    status: str
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


def previous_verdict(session: Session, build_id: int) -> Verdict | None:
    """The verdict of the build before this one of the same target and source, skipping checks that could not run."""
    build = session.get_one(BuildRow, build_id)
    verdict = session.scalar(
        select(BuildRow.verdict)
        .where(
            BuildRow.target_id == build.target_id,
            BuildRow.fingerprint == build.fingerprint,
            BuildRow.id < build_id,
            BuildRow.verdict.is_not(None),
            BuildRow.verdict != Verdict.ERROR.value,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )
    return Verdict(verdict) if verdict else None


def alert_routes(session: Session, target: str) -> list[str]:
    return list(target_row(session, target).alert_routes or [])


def enqueue_alert(session: Session, build_id: int, event: str, route: str, title: str, body: str) -> bool:
    """Put an alert in the outbox once: a second call for the same build, event and route does nothing."""
    build = session.get_one(BuildRow, build_id)
    now = utcnow()
    statement = dialect_insert(session, AlertRow).values(
        build_id=build_id,
        target_id=build.target_id,
        event=event,
        route=route,
        title=title,
        body=body,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    statement = statement.on_conflict_do_nothing(
        index_elements=[AlertRow.build_id, AlertRow.event, AlertRow.route]
    ).returning(AlertRow.id)
    return session.scalar(statement) is not None


def _pending(row: AlertRow, target: str) -> PendingAlert:
    return PendingAlert(
        id=row.id,
        build_id=row.build_id,
        target=target,
        event=row.event,
        route=row.route,
        title=row.title,
        body=row.body,
        attempts=row.attempts,
        status=row.status,
        created_at=row.created_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def list_alerts(session: Session, *, pending_only: bool = False, due_at: datetime | None = None) -> list[PendingAlert]:
    query = select(AlertRow, TargetRow.name).join(TargetRow, TargetRow.id == AlertRow.target_id)
    if pending_only:
        query = query.where(AlertRow.status == "pending")
    if due_at is not None:
        query = query.where(AlertRow.next_attempt_at <= due_at)
    return [_pending(row, name) for row, name in session.execute(query.order_by(AlertRow.id))]


def claim_alert(session: Session, alert_id: int, owner: str) -> bool:
    """Mark an alert as being sent by `owner`, atomically, so two processes never both send it."""
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status == "pending")
        .values(status="sending", claimed_by=owner, claimed_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def alert_claims(session: Session) -> list[tuple[int, str | None, datetime | None]]:
    """(alert id, claimed by, claimed at) of every alert some process was sending."""
    rows = session.execute(
        select(AlertRow.id, AlertRow.claimed_by, AlertRow.claimed_at).where(AlertRow.status == "sending")
    )
    return [(i, owner, at) for i, owner, at in rows]


def release_alert_claim(session: Session, alert_id: int, claimed_by: str | None) -> bool:
    """Put an alert whose sender died back in the outbox; False if its claim changed meanwhile."""
    owner_matches = AlertRow.claimed_by.is_(None) if claimed_by is None else AlertRow.claimed_by == claimed_by
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status == "sending", owner_matches)
        .values(status="pending", claimed_by=None, claimed_at=None, next_attempt_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def alert_sent(session: Session, alert_id: int) -> None:
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(status="sent", sent_at=utcnow(), attempts=AlertRow.attempts + 1, last_error=None)
    )


def alert_failed(session: Session, alert_id: int, error: str, retry_after: timedelta) -> None:
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(
            status="pending",
            attempts=AlertRow.attempts + 1,
            last_error=error,
            next_attempt_at=utcnow() + retry_after,
        )
    )
