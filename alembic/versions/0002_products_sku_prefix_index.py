"""A pattern index on products.sku, for SKU-prefix search (PostgreSQL only).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_products_sku_prefix",
            "products",
            ["sku"],
            unique=False,
            postgresql_ops={"sku": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_products_sku_prefix", table_name="products")
