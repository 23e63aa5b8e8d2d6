"""schedules, leases, timeouts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:16:20.418722
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "leases",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_leases_target_id_targets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("target_id", name=op.f("pk_leases")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("engine_objects", sa.JSON(), nullable=True))

    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timeout_s", sa.Integer(), server_default="3600", nullable=False))
        batch_op.add_column(sa.Column("config_path", sa.Text(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_column("config_path")
        batch_op.drop_column("timeout_s")

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_column("engine_objects")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("owner")
        batch_op.drop_column("slot")

    op.drop_table("leases")
