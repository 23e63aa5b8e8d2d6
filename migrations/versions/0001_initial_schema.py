"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 07:22:12.730322
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "layer_contents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("normalized_digest", sa.String(length=80), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("content_size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_layer_contents")),
        sa.UniqueConstraint("normalized_digest", name=op.f("uq_layer_contents_normalized_digest")),
    )
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("repo", sa.Text(), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("dockerfile", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("build_args", sa.JSON(), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=True),
        sa.Column("platform", sa.String(length=100), nullable=True),
        sa.Column("network", sa.String(length=100), nullable=True),
        sa.Column("pull", sa.String(length=16), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("ignore", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_targets_name")),
    )
    op.create_table(
        "builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("image_id", sa.String(length=80), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("config_digest", sa.String(length=80), nullable=True),
        sa.Column("engine_version", sa.String(length=100), nullable=True),
        sa.Column("api_version", sa.String(length=20), nullable=True),
        sa.Column("os_arch", sa.String(length=100), nullable=True),
        sa.Column("storage_driver", sa.String(length=100), nullable=True),
        sa.Column("compared_to_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_step", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["compared_to_id"],
            ["builds.id"],
            name=op.f("fk_builds_compared_to_id_builds"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_builds_target_id_targets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_builds_target_id_fingerprint_id"), ["target_id", "fingerprint", "id"], unique=False
        )

    op.create_table(
        "layer_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("gid", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("link_target", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["layer_contents.id"],
            name=op.f("fk_layer_files_content_id_layer_contents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_layer_files")),
    )
    with op.batch_alter_table("layer_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_layer_files_content_id_path"), ["content_id", "path"], unique=False)

    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("build_id", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_baselines_build_id_builds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_baselines_target_id_targets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
        sa.UniqueConstraint("target_id", "fingerprint", name=op.f("uq_baselines_target_id_fingerprint")),
    )
    op.create_table(
        "build_layers",
        sa.Column("build_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("diff_id", sa.String(length=80), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_layers_build_id_builds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["content_id"], ["layer_contents.id"], name=op.f("fk_build_layers_content_id_layer_contents")
        ),
        sa.PrimaryKeyConstraint("build_id", "index", name=op.f("pk_build_layers")),
    )
    with op.batch_alter_table("build_layers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_build_layers_content_id"), ["content_id"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("build_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=True),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("cause", sa.String(length=30), nullable=False),
        sa.Column("ignored", sa.Boolean(), nullable=False),
        sa.Column("new", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_findings_build_id_builds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_build_id"), ["build_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_build_id"))

    op.drop_table("findings")
    with op.batch_alter_table("build_layers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_build_layers_content_id"))

    op.drop_table("build_layers")
    op.drop_table("baselines")
    with op.batch_alter_table("layer_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_layer_files_content_id_path"))

    op.drop_table("layer_files")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_builds_target_id_fingerprint_id"))

    op.drop_table("builds")
    op.drop_table("targets")
    op.drop_table("layer_contents")
