"""the builder of each target (auto, buildkit, legacy) and of each build

Targets tracked before this revision were built by the legacy builder: they
keep it, so that an upgrade never changes how a stored target is built (and
so never flips its verdict). New targets default to auto (the model's default).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("builder", sa.String(length=16), server_default="legacy", nullable=False))
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("builder", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_column("builder")
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_column("builder")
