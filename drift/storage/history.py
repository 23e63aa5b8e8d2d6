"""Reading history: recorded builds as the reports and the command line see them, and the builds a new one
is judged against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from drift.errors import UsageError
from drift.storage import fetches, images
from drift.storage.models import BaselineRow, BuildRow, FindingRow
from drift.storage.rows import builder_info, target_row
from drift.values import BuildSummary, Finding, Verdict


def _summary(session: Session, row: BuildRow) -> BuildSummary:
    baseline = session.scalar(
        select(BaselineRow).where(BaselineRow.target_id == row.target_id, BaselineRow.fingerprint == row.fingerprint)
    )
    builder = builder_info(row)
    findings = tuple(_finding(f) for f in row.findings)
    is_baseline = baseline is not None and baseline.build_id == row.id
    return BuildSummary(
        id=row.id,
        target=row.target.name,
        fingerprint=row.fingerprint,
        commit=row.commit,
        status=row.status,
        verdict=Verdict(row.verdict) if row.verdict else None,
        started_at=row.started_at,
        finished_at=row.finished_at,
        image_id=row.image_id,
        builder=builder,
        compared_to=row.compared_to_id,
        error=row.error,
        failed_step=row.failed_step,
        log_tail=row.log_tail,
        findings=findings,
        is_baseline=is_baseline,
        accepted=is_baseline and baseline is not None and baseline.accepted,
        base_images=images.base_images(session, row.id),
        engine_host=row.engine_host,
        ledger=row.ledger,
        fetches=fetches.load_fetches(session, row.fetch_set_id),
        published=row.published,
        compared_to_published=(
            session.scalar(select(BuildRow.published).where(BuildRow.id == row.compared_to_id))
            if row.compared_to_id is not None
            else None
        ),
    )


def _finding(f: FindingRow) -> Finding:
    return Finding(
        kind=f.kind,
        layer=f.layer,
        instruction=f.instruction,
        subject=f.subject,
        change=f.change,
        before=f.before,
        after=f.after,
        cause=f.cause,
        ignored=f.ignored,
        new=f.new,
        ignored_by=f.ignored_by or "",
        risk=f.risk or "",
        ecosystem=f.ecosystem or "",
    )


def get_build(session: Session, build_id: int) -> BuildSummary:
    row = session.get(BuildRow, build_id)
    if row is None:
        raise UsageError(f"no build {build_id}; `drift history NAME` lists a target's builds")
    return _summary(session, row)


def target_history(
    session: Session, target: str, *, since: datetime | None = None, limit: int | None = None
) -> list[BuildSummary]:
    """A target's builds, newest first."""
    query = select(BuildRow).where(BuildRow.target_id == target_row(session, target).id)
    if since is not None:
        query = query.where(BuildRow.started_at >= since)
    query = query.order_by(BuildRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_summary(session, row) for row in session.scalars(query)]


def latest_finished_build(session: Session, target: str) -> BuildSummary | None:
    builds = session.scalars(
        select(BuildRow)
        .where(BuildRow.target_id == target_row(session, target).id, BuildRow.verdict.is_not(None))
        .order_by(BuildRow.id.desc())
        .limit(1)
    ).all()
    return _summary(session, builds[0]) if builds else None


def latest_succeeded_build_id(session: Session, target: str) -> int | None:
    row = target_row(session, target)
    return session.scalar(
        select(BuildRow.id)
        .where(
            BuildRow.target_id == row.id,
            BuildRow.status == "succeeded",
            BuildRow.commit == row.commit,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )


def count_builds(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(BuildRow)) or 0


def delete_build(session: Session, build_id: int) -> None:
    session.execute(delete(BuildRow).where(BuildRow.id == build_id))


def previous_succeeded_build(session: Session, build_id: int) -> int | None:
    """The latest succeeded build of the same target and fingerprint before this one."""
    build = session.get_one(BuildRow, build_id)
    return session.scalar(
        select(BuildRow.id)
        .where(
            BuildRow.target_id == build.target_id,
            BuildRow.fingerprint == build.fingerprint,
            BuildRow.status == "succeeded",
            BuildRow.id < build_id,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )


def finding_keys(session: Session, build_id: int) -> set[tuple[str, int | None, str, str, str]]:
    rows = session.execute(
        select(FindingRow.kind, FindingRow.layer, FindingRow.subject, FindingRow.change, FindingRow.after).where(
            FindingRow.build_id == build_id
        )
    )
    return set(rows)


def build_dockerfile(session: Session, build_id: int) -> tuple[str | None, list[dict[str, Any]]]:
    """The Dockerfile text a build was made from, and the risks found in it."""
    build = session.get_one(BuildRow, build_id)
    return build.dockerfile_text, list(build.risks or [])
