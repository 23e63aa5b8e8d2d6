"""base images, learned noise, risks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:52:27.713638
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "learned_noise",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("first_build_id", sa.Integer(), nullable=False),
        sa.Column("second_build_id", sa.Integer(), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_learned_noise_target_id_targets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learned_noise")),
        sa.UniqueConstraint(
            "target_id", "fingerprint", "path", name=op.f("uq_learned_noise_target_id_fingerprint_path")
        ),
    )
    op.create_table(
        "build_base_images",
        sa.Column("build_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("image_id", sa.String(length=80), nullable=True),
        sa.Column("repo_digest", sa.Text(), nullable=True),
        sa.Column("layer_count", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_base_images_build_id_builds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("build_id", "stage", name=op.f("pk_build_base_images")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_layer_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dockerfile_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("risks", sa.JSON(), nullable=True))

    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ignored_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("risk", sa.String(length=20), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("risk")
        batch_op.drop_column("ignored_by")

    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_column("risks")
        batch_op.drop_column("dockerfile_text")
        batch_op.drop_column("base_layer_count")

    op.drop_table("build_base_images")
    op.drop_table("learned_noise")
