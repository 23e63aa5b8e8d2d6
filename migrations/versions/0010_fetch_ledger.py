"""the fetch ledger: what each build fetched, stored once per distinct set; the ledger switch per target

Targets tracked before this revision get the ledger (the server default is on):
it changes no build output, Docker keeps its proxy build args out of the image.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fetch_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("fetch_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_sets")),
        sa.UniqueConstraint("digest", name=op.f("uq_fetch_sets_digest")),
    )
    op.create_table(
        "fetches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=True),
        sa.Column("risk", sa.String(length=20), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"], ["fetch_sets.id"], name=op.f("fk_fetches_set_id_fetch_sets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetches")),
    )
    with op.batch_alter_table("fetches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fetches_set_id_url"), ["set_id", "url"], unique=False)

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ledger", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("fetch_set_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_builds_fetch_set_id"), ["fetch_set_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_builds_fetch_set_id_fetch_sets"), "fetch_sets", ["fetch_set_id"], ["id"]
        )

    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ledger", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_column("ledger")

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_builds_fetch_set_id_fetch_sets"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_builds_fetch_set_id"))
        batch_op.drop_column("fetch_set_id")
        batch_op.drop_column("ledger")

    with op.batch_alter_table("fetches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fetches_set_id_url"))

    op.drop_table("fetches")
    op.drop_table("fetch_sets")
