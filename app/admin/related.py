"""Rows related to the one a details page shows, one click away: a customer's orders, a
product's recent order lines, a user's API tokens and staff sessions.

Each section is shown only to whom the related list itself would be shown (the same
policy question as its menu entry), holds the newest few rows, and says how many there
are in all. One statement for the rows and one for the count, whatever the row count.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from starlette.requests import Request

from app.admin.auth import current_principal
from app.admin.display import Display, status_badge, truncated
from app.admin.policy import allowed
from app.admin.views.details import RelatedRows
from app.admin.views.list_page import Links
from app.models import ApiToken, Customer, Order, OrderItem, Product, StaffSession, User
from app.permissions import sees_only_own_rows

NEWEST = 10  # rows a section shows; its count says how many there are in all


def may_list(request: Request, identity: str) -> bool:
    return allowed(current_principal(request), identity, "list")


async def newest(
    session: AsyncSession, model: Any, where: Any, *options: Any
) -> tuple[list[Any], int]:
    """The newest rows of `model` matching `where` (by id), and how many match in all."""
    statement = select(model).where(where).options(*options).order_by(model.id.desc())
    rows = list(await session.scalars(statement.limit(NEWEST)))
    total = await session.scalar(select(func.count()).select_from(model).where(where))
    return rows, int(total or 0)


async def customer_orders(
    session: AsyncSession, request: Request, customer: Customer, links: Links, display: Display
) -> list[RelatedRows]:
    if not may_list(request, "order"):
        return []
    orders, total = await newest(session, Order, Order.customer_id == customer.id)
    rows = [
        (
            links.to("admin:details", "order", order.id),
            [
                order.number,
                status_badge(order.status),
                display.value(order.total),
                display.value(order.placed_at),
            ],
        )
        for order in orders
    ]
    return [
        RelatedRows(
            title="Orders",
            headers=["Number", "Status", "Total", "Placed at"],
            rows=rows,
            total=total,
            empty="No orders yet.",
        )
    ]


async def product_order_lines(
    session: AsyncSession, request: Request, product: Product, links: Links, display: Display
) -> list[RelatedRows]:
    if not may_list(request, "order"):
        return []
    lines, total = await newest(
        session,
        OrderItem,
        OrderItem.product_id == product.id,
        joinedload(OrderItem.order, innerjoin=True),
    )
    rows = [
        (
            links.to("admin:details", "order", item.order_id),
            [
                item.order.number,
                status_badge(item.order.status),
                item.quantity,
                display.value(item.unit_price),
                display.value(item.order.created_at),
            ],
        )
        for item in lines
    ]
    return [
        RelatedRows(
            title="Recent order lines",
            headers=["Order", "Status", "Quantity", "Unit price", "Ordered"],
            rows=rows,
            total=total,
            empty="Not ordered yet.",
        )
    ]


def _sees_rows_of(request: Request, user: User, table: str) -> bool:
    """Whether this viewer may see `user`'s rows of `table` (their own, or everyone's)."""
    principal = current_principal(request)
    if principal is None:
        return False
    return principal.user_id == user.id or not sees_only_own_rows(principal, table)


async def user_tokens_and_sessions(
    session: AsyncSession, request: Request, user: User, links: Links, display: Display
) -> list[RelatedRows]:
    sections = []
    if may_list(request, "api-token") and _sees_rows_of(request, user, "api_tokens"):
        tokens, total = await newest(session, ApiToken, ApiToken.user_id == user.id)
        sections.append(
            RelatedRows(
                title="API tokens",
                headers=["Name", "Prefix", "Scopes", "Last used", "Expires", "Revoked"],
                rows=[
                    (
                        links.to("admin:details", "api-token", token.id),
                        [
                            token.name,
                            token.token_prefix,
                            ", ".join(token.scopes or []) or "all the owner's",
                            display.value(token.last_used_at),
                            display.value(token.expires_at),
                            display.value(token.revoked_at),
                        ],
                    )
                    for token in tokens
                ],
                total=total,
                empty="No tokens.",
            )
        )
    if may_list(request, "staff-session") and _sees_rows_of(request, user, "staff_sessions"):
        staff_sessions, total = await newest(session, StaffSession, StaffSession.user_id == user.id)
        sections.append(
            RelatedRows(
                title="Staff sessions",
                headers=["Started", "Last seen", "IP", "Browser", "Ended"],
                rows=[
                    (
                        links.to("admin:details", "staff-session", row.id),
                        [
                            display.value(row.created_at),
                            display.value(row.last_seen_at),
                            row.ip or "",
                            truncated(row.user_agent or "", 40),
                            display.value(row.revoked_at),
                        ],
                    )
                    for row in staff_sessions
                ],
                total=total,
                empty="No sessions.",
            )
        )
    return sections
