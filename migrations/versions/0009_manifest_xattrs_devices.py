"""file manifests record extended attributes, device numbers and normalized content digests in columns

`xattrs` and `device` are NULL on every row stored before this revision: they
were not recorded then, and a comparison only compares them where both sides
recorded them (so no stored baseline turns a build drifted by itself).

`normalized_sha256` takes over what link_target carried for a file with a
volatile field (/etc/shadow): `normalized-sha256:<hex>`. Those values move to
the new column, and link_target of a regular file is "" again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PREFIX = "normalized-sha256:"


def upgrade() -> None:
    # Nullable columns only: SQLite adds them in place, a large layer_files table is not copied.
    with op.batch_alter_table("layer_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("normalized_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("xattrs", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("device", sa.String(length=32), nullable=True))
    op.execute(
        sa.text(
            "UPDATE layer_files SET normalized_sha256 = substr(link_target, :start), link_target = '' "
            "WHERE type = 'file' AND link_target LIKE :pattern"
        ).bindparams(start=len(_PREFIX) + 1, pattern=_PREFIX + "%")
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE layer_files SET link_target = :prefix || normalized_sha256 "
            "WHERE type = 'file' AND normalized_sha256 IS NOT NULL AND normalized_sha256 <> ''"
        ).bindparams(prefix=_PREFIX)
    )
    with op.batch_alter_table("layer_files", schema=None) as batch_op:
        batch_op.drop_column("device")
        batch_op.drop_column("xattrs")
        batch_op.drop_column("normalized_sha256")
