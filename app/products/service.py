"""Product rules: unique SKU, stock ≥ 0, low-stock events, no deletion while ordered.

One function per write, each taking its command (app/products/commands.py: the fields
already trimmed, upper-cased and checked by the domain's rules), the principal and, for a
product that exists, the version the caller expects (None: the caller names none, as an
API request without If-Match). Each checks the permission with the row and the version,
applies the rule, and writes the audit row and the outbox event.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import Writes, authorize, check_version, flush_versioned
from app.errors import Conflict, NotFound
from app.lists.grammar import ListSpec
from app.models import OrderItem, Product
from app.products.commands import CreateProduct, UpdateProduct
from app.uniqueness import flush_or_conflict
from app.webhooks.outbox import emit

FIELDS = ["sku", "name", "description", "price", "stock", "reorder_level", "is_active"]
UNIQUE = {"uq_products_sku": "sku", "products.sku": "sku"}
CONFLICTS = {"sku": "A product with this SKU already exists."}
LIST_SPEC = ListSpec(
    model=Product,
    sortable=("id", "sku", "name", "price", "stock", "created_at", "updated_at"),
    default_sort="id",
    searchable=("name",),
    prefix_searchable=("sku",),
    exact=("sku", "is_active"),
    ranges=("id", "price", "stock", "created_at", "updated_at"),
)


async def get_product(session: AsyncSession, product_id: int) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    return product


def low_stock(product: Product, old_stock: int) -> dict[str, Any] | None:
    """The product.low_stock event's data if stock just fell to or below the reorder level."""
    if not product.stock <= product.reorder_level < old_stock:
        return None
    return {
        "product": {
            "id": product.id,
            "sku": product.sku,
            "name": product.name,
            "stock": product.stock,
            "reorder_level": product.reorder_level,
        }
    }


async def notice_stock_change(session: AsyncSession, product: Product, old_stock: int) -> None:
    """Emit product.low_stock when stock falls to or below the reorder level."""
    data = low_stock(product, old_stock)
    if data is not None:
        await emit(session, "product.low_stock", data)


async def create_product(
    session: AsyncSession, principal: Principal, command: CreateProduct
) -> Product:
    """Create a product (audited)."""
    authorize(principal, "products:create")
    product = Product(**command.model_dump())
    session.add(product)
    await flush_or_conflict(session, UNIQUE, CONFLICTS)
    audit.record(
        session,
        principal,
        "product.created",
        resource_type="product",
        resource_id=product.id,
        changes=audit.diff(None, audit.snapshot(product, FIELDS)),
    )
    return product


async def update_product(
    session: AsyncSession,
    principal: Principal,
    product_id: int,
    command: UpdateProduct,
    *,
    expected_version: int | None,
) -> Product:
    """Apply the given fields (audited with the diff; low stock noticed)."""
    product = await get_product(session, product_id)
    authorize(principal, "products:update", product)
    check_version(product, expected_version)
    values = command.changes()
    old_stock = product.stock
    changes = audit.apply_changes(product, values)
    if changes:
        await flush_versioned(session, UNIQUE, CONFLICTS)
        entry = audit.entry(
            principal,
            "product.updated",
            resource_type="product",
            resource_id=product.id,
            changes=changes,
        )
        data = low_stock(product, old_stock)
        if data is None:
            audit.add(session, entry)
        else:
            await emit(session, "product.low_stock", data, audit=entry)
    return product


async def delete_product(
    session: AsyncSession, principal: Principal, product_id: int, *, expected_version: int | None
) -> None:
    """Delete a product no order references (409 naming how many do; deactivate instead)."""
    product = await get_product(session, product_id)
    authorize(principal, "products:delete", product)
    check_version(product, expected_version)
    # The lock the DELETE would take, taken before counting: an order being created with
    # this product holds KEY SHARE on it until it commits, so the count waits and sees its
    # items (a 409), where the DELETE alone would have failed on the foreign key. Only the
    # id is read: the row keeps the version just checked, and the DELETE's own
    # `WHERE version = …` finds out if another change landed meanwhile (a 412).
    await session.execute(select(Product.id).where(Product.id == product.id).with_for_update())
    referencing = (
        await session.execute(
            select(func.count(func.distinct(OrderItem.order_id))).where(
                OrderItem.product_id == product.id
            )
        )
    ).scalar_one()
    if referencing:
        raise Conflict(
            f"The product is referenced by {referencing} order(s); deactivate it instead.",
            referencing_orders=referencing,
        )
    before = audit.snapshot(product, FIELDS)
    await session.delete(product)
    await flush_versioned(session, UNIQUE, CONFLICTS)
    audit.record(
        session,
        principal,
        "product.deleted",
        resource_type="product",
        resource_id=product.id,
        changes=audit.diff(before, None),
    )


WRITES = Writes(CreateProduct, UpdateProduct, create_product, update_product, delete_product)
