"""Leases, slots and crash recovery: which worker builds a target now, whether a schedule slot was built,
and the builds recorded as running that a crashed worker may have left behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from drift.storage import recent
from drift.storage.models import BuildRow, LeaseRow, TargetRow, utcnow
from drift.storage.rows import dialect_insert, target_row
from drift.values import Verdict


def claim_lease(session: Session, target: str, owner: str, ttl: timedelta) -> bool:
    """Take the target's lease for `owner` unless another live holder has it. One statement, atomic on
    SQLite and PostgreSQL alike: insert, or take over a row whose lease has expired."""
    target_id = target_row(session, target).id
    now = utcnow()
    values = {"target_id": target_id, "owner": owner, "expires_at": now + ttl}
    statement = dialect_insert(session, LeaseRow).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[LeaseRow.target_id],
        set_={"owner": owner, "expires_at": now + ttl},
        where=(LeaseRow.expires_at < now) | (LeaseRow.owner == owner),
    )
    session.execute(statement)
    holder = session.scalar(select(LeaseRow.owner).where(LeaseRow.target_id == target_id))
    return holder == owner


def lease_holder(session: Session, target: str) -> str | None:
    target_id = target_row(session, target).id
    return session.scalar(select(LeaseRow.owner).where(LeaseRow.target_id == target_id))


def renew_lease(session: Session, target: str, owner: str, ttl: timedelta, build_id: int | None) -> bool:
    """Extend `owner`'s lease; False when `owner` no longer holds it (it expired and another took it)."""
    target_id = target_row(session, target).id
    now = utcnow()
    renewed = session.execute(
        update(LeaseRow).where(LeaseRow.target_id == target_id, LeaseRow.owner == owner).values(expires_at=now + ttl)
    )
    if build_id is not None:
        session.execute(update(BuildRow).where(BuildRow.id == build_id).values(heartbeat_at=now))
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, target: str, owner: str) -> None:
    target_id = target_row(session, target).id
    session.execute(delete(LeaseRow).where(LeaseRow.target_id == target_id, LeaseRow.owner == owner))


def built_for_slot(session: Session, target: str, slot: datetime) -> bool:
    """Whether the slot already has a build that ran (running, or finished with a verdict other than error)."""
    target_id = target_row(session, target).id
    found = session.scalar(
        select(func.count())
        .select_from(BuildRow)
        .where(
            BuildRow.target_id == target_id,
            BuildRow.slot == slot,
            (BuildRow.status == "running") | (BuildRow.verdict.is_not(None) & (BuildRow.verdict != "error")),
        )
    )
    return bool(found)


def running_builds(
    session: Session,
) -> list[tuple[int, str, str | None, datetime | None, list[str], str | None]]:
    """(build id, target, owner, last heartbeat, engine objects, engine host) of every build recorded as running."""
    rows = session.execute(
        select(
            BuildRow.id,
            TargetRow.name,
            BuildRow.owner,
            BuildRow.heartbeat_at,
            BuildRow.engine_objects,
            BuildRow.engine_host,
        )
        .join(TargetRow, TargetRow.id == BuildRow.target_id)
        .where(BuildRow.status == "running")
        .order_by(BuildRow.id)
    )
    return [(i, name, owner, beat, list(objects or []), host) for i, name, owner, beat, objects, host in rows]


def running_builds_on(session: Session, host: str | None, *, exclude_owner: str) -> int:
    """How many builds other processes are running on an engine right now."""
    query = select(func.count()).select_from(BuildRow).where(BuildRow.status == "running")
    query = query.where(BuildRow.engine_host == host) if host else query.where(BuildRow.engine_host.is_(None))
    return session.scalar(query.where((BuildRow.owner != exclude_owner) | BuildRow.owner.is_(None))) or 0


def mark_interrupted(session: Session, build_id: int, reason: str) -> None:
    row = session.get_one(BuildRow, build_id)
    if row.status != "running":
        return
    row.status = "interrupted"
    row.verdict = Verdict.ERROR.value
    row.error = reason
    row.finished_at = utcnow()
    recent.add_finished(session, row)
    session.execute(delete(LeaseRow).where(LeaseRow.target_id == row.target_id, LeaseRow.owner == row.owner))


def last_build_started(session: Session, target: str) -> datetime | None:
    target_id = target_row(session, target).id
    return session.scalar(select(func.max(BuildRow.started_at)).where(BuildRow.target_id == target_id))
