"""engine host per build

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 08:51:36.598224
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine_host", sa.Text(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_column("engine_host")
