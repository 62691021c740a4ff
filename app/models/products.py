"""The products table, with the stock CHECK that keeps it from going negative."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Versioned, trigram_index

SKU_PATTERN = r"^[A-Z0-9-]{3,32}$"


class Product(Versioned, Base):
    """Something the company sells; `stock` can never go below zero."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("reorder_level >= 0", name="reorder_level_non_negative"),
        CheckConstraint("length(sku) BETWEEN 3 AND 32", name="sku_length"),
        # The character class needs a regex on PostgreSQL and GLOB on SQLite.
        CheckConstraint(f"sku ~ '{SKU_PATTERN}'", name="sku_format").ddl_if(dialect="postgresql"),
        CheckConstraint("sku NOT GLOB '*[^A-Z0-9-]*'", name="sku_format").ddl_if(dialect="sqlite"),
        trigram_index("products", "name"),
        # `q` and the admin search match the start of a SKU (`sku LIKE 'KIT-00%'`): a
        # pattern btree serves it on PostgreSQL whatever the collation. (A trigram index
        # for substrings would double the time of a 100,000-row import.)
        Index(
            "ix_products_sku_prefix", "sku", postgresql_ops={"sku": "varchar_pattern_ops"}
        ).ddl_if(dialect="postgresql"),
        # The dashboard's low-stock list: a small partial index instead of a full scan.
        Index(
            "ix_products_low_stock",
            "id",
            postgresql_where=text("stock <= reorder_level"),
            sqlite_where=text("stock <= reorder_level"),
        ),
    )

    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), index=True)
    stock: Mapped[int] = mapped_column(default=0, index=True)
    reorder_level: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"
