"""package manifests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:00:02.723371
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "package_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("package_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_sets")),
        sa.UniqueConstraint("digest", name=op.f("uq_package_sets_digest")),
    )
    op.create_table(
        "packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("ecosystem", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("arch", sa.String(length=40), nullable=False),
        sa.Column("purl", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["set_id"], ["package_sets.id"], name=op.f("fk_packages_set_id_package_sets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
    )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_packages_set_id_ecosystem_name"), ["set_id", "ecosystem", "name"], unique=False
        )

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("package_set_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("catalog_warnings", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_builds_package_set_id"), ["package_set_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_builds_package_set_id_package_sets"), "package_sets", ["package_set_id"], ["id"]
        )

    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ecosystem", sa.String(length=20), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("ecosystem")

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_builds_package_set_id_package_sets"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_builds_package_set_id"))
        batch_op.drop_column("catalog_warnings")
        batch_op.drop_column("package_set_id")

    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packages_set_id_ecosystem_name"))

    op.drop_table("packages")
    op.drop_table("package_sets")
