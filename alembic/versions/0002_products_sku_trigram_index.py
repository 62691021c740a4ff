"""A trigram index on products.sku, for `q` and admin search (PostgreSQL only).

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
            "ix_products_sku_trgm",
            "products",
            ["sku"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"sku": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_products_sku_trgm", table_name="products")
