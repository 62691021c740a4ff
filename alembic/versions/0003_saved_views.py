"""Saved list views (issue 17): a staff member's named list URL, private or shared.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("list_identity", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=1000), nullable=False),
        sa.Column("is_shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_saved_views_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint(
            "owner_user_id", "list_identity", "name", name="uq_saved_views_owner_list_name"
        ),
    )
    op.create_index(op.f("ix_saved_views_created_at"), "saved_views", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_saved_views_list_identity"), "saved_views", ["list_identity"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_views_list_identity"), table_name="saved_views")
    op.drop_index(op.f("ix_saved_views_created_at"), table_name="saved_views")
    op.drop_table("saved_views")
