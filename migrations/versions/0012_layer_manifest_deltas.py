"""layer manifests as deltas: a layer content may be stored as the entries that differ from another's

A layer whose normalized digest changes every night only in its noise (apt's
lists, logs and caches) stored its whole file list again each night. Such a
content now names a base content (the same layer of the target's previous
build) and keeps only what differs. Contents stored before keep their whole
manifests (base_id NULL); nothing read back changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("layer_contents") as batch:
        batch.add_column(sa.Column("base_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_layer_contents_base_id_layer_contents"), "layer_contents", ["base_id"], ["id"]
        )
        batch.create_index(op.f("ix_layer_contents_base_id"), ["base_id"])


def downgrade() -> None:
    with op.batch_alter_table("layer_contents") as batch:
        batch.drop_index(op.f("ix_layer_contents_base_id"))
        batch.drop_constraint(op.f("fk_layer_contents_base_id_layer_contents"), type_="foreignkey")
        batch.drop_column("base_id")
