"""recent builds: each target's latest finished builds in brief, what `drift report` reads in one query

Filled here from the builds already stored (the latest 60 finished builds of
each target, newest first), so an upgraded database reports exactly what it
reported before; from then on drift.storage.recent keeps it current.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

RECENT_BUILDS = 60  # drift.storage.recent.RECENT_BUILDS when this revision was written


def upgrade() -> None:
    recent_builds = op.create_table(
        "recent_builds",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("builds", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_recent_builds_target_id_targets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("target_id", name=op.f("pk_recent_builds")),
    )
    builds = sa.table(
        "builds",
        sa.column("id", sa.Integer()),
        sa.column("target_id", sa.Integer()),
        sa.column("verdict", sa.String()),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("commit", sa.String()),
    )
    finished = (
        sa.select(builds.c.target_id, builds.c.id, builds.c.verdict, builds.c.started_at, builds.c.commit)
        .where(builds.c.verdict.is_not(None))
        .order_by(builds.c.target_id, builds.c.id.desc())
    )
    latest: dict[int, list[list[Any]]] = {}
    for target_id, build_id, verdict, started_at, commit in op.get_bind().execute(finished):
        kept = latest.setdefault(target_id, [])
        if len(kept) < RECENT_BUILDS:
            kept.append([build_id, verdict, _utc(started_at).isoformat(), commit])
    rows = [{"target_id": target_id, "builds": kept} for target_id, kept in latest.items()]
    for start in range(0, len(rows), 500):
        op.bulk_insert(recent_builds, rows[start : start + 500])


def _utc(moment: datetime) -> datetime:
    """As drift reads a stored time: SQLite gives it back without its zone, which is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def downgrade() -> None:
    op.drop_table("recent_builds")
