"""The dashboard's numbers: counts, recent orders, low stock, 30 days of orders and revenue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.admin.display import money
from app.lists.counts import approximate_count
from app.models import Customer, Order, OrderStatus, Product, WebhookEndpoint
from app.models.base import utcnow

CHART_DAYS = 30


@dataclass(frozen=True)
class DayPoint:
    day: date
    orders: int
    revenue: Decimal


async def daily_series(session: AsyncSession, days: int = CHART_DAYS) -> list[DayPoint]:
    """Orders placed and revenue per day (UTC) over the last `days` days, gaps filled."""
    start = (utcnow() - timedelta(days=days - 1)).date()
    rows = (
        await session.execute(
            select(Order.placed_at, Order.total).where(
                Order.placed_at.is_not(None),
                Order.placed_at >= utcnow() - timedelta(days=days),
                Order.status != OrderStatus.CANCELLED.value,
            )
        )
    ).all()
    per_day: dict[date, tuple[int, Decimal]] = {}
    for placed_at, total in rows:
        if placed_at is None:
            continue
        count, revenue = per_day.get(placed_at.date(), (0, Decimal("0")))
        per_day[placed_at.date()] = (count + 1, revenue + total)
    return [
        DayPoint(day, *per_day.get(day, (0, Decimal("0"))))
        for day in (start + timedelta(days=i) for i in range(days))
    ]


def chart_svg_points(series: list[DayPoint], width: int = 600, height: int = 160) -> dict[str, Any]:
    """Coordinates for the server-rendered SVG chart (no scripts, nothing from other sites)."""
    peak_orders = max((p.orders for p in series), default=0) or 1
    peak_revenue = max((p.revenue for p in series), default=Decimal(0)) or Decimal(1)
    step = width / max(len(series), 1)
    bars = [
        {
            "x": round(i * step + 1, 1),
            "w": round(step - 2, 1),
            "h": round(p.orders / peak_orders * (height - 20), 1),
            "day": p.day.isoformat(),
            "orders": p.orders,
            "revenue": money(p.revenue),
        }
        for i, p in enumerate(series)
    ]
    usable = height - 20
    line = " ".join(
        f"{round(i * step + step / 2, 1)},"
        f"{round(height - float(p.revenue / peak_revenue) * usable, 1)}"
        for i, p in enumerate(series)
    )
    return {
        "bars": bars,
        "line": line,
        "width": width,
        "height": height,
        "peak_orders": peak_orders,
        "peak_revenue": money(peak_revenue),
    }


async def dashboard_context(session: AsyncSession) -> dict[str, Any]:
    counts = {
        "customers": await approximate_count(session, Customer),
        "products": await approximate_count(session, Product),
        "orders": await approximate_count(session, Order),
    }
    recent = (
        (
            await session.execute(
                select(Order)
                .options(joinedload(Order.customer))
                .order_by(Order.id.desc())
                .limit(10)
            )
        )
        .scalars()
        .all()
    )
    low_stock = (
        (
            await session.execute(
                select(Product)
                .where(Product.stock <= Product.reorder_level, Product.is_active.is_(True))
                .order_by(Product.id)
                .limit(10)
            )
        )
        .scalars()
        .all()
    )
    failing_now = (WebhookEndpoint.failing_since.is_not(None)) | (
        WebhookEndpoint.disabled_at.is_not(None)
    )
    # The page shows these URLs to webhooks:manage holders only (URLs carry secrets), and
    # the count to everyone else.
    failing = (
        (
            await session.execute(
                select(WebhookEndpoint).where(failing_now).order_by(WebhookEndpoint.id).limit(10)
            )
        )
        .scalars()
        .all()
    )
    failing_count = (
        await session.execute(select(func.count()).select_from(WebhookEndpoint).where(failing_now))
    ).scalar_one()
    series = await daily_series(session)
    return {
        "counts": counts,
        "recent_orders": recent,
        "low_stock": low_stock,
        "failing_endpoints": failing,
        "failing_endpoint_count": failing_count,
        "chart": chart_svg_points(series),
        "totals": {
            "orders": sum(p.orders for p in series),
            "revenue": money(sum((p.revenue for p in series), Decimal(0))),
        },
    }
