"""published images: a target judged against the image its registry serves, and builds that are such an image

`targets.published` is the reference (tag or digest) a target's builds are
judged against; `builds.published` marks a row that is not a build but the
published image as pulled ("REF@sha256:..."). Both are empty for every row
stored before: nothing stored changes its verdict.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("published", sa.Text(), nullable=True))
    with op.batch_alter_table("builds") as batch:
        batch.add_column(sa.Column("published", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("published")
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("published")
