"""Version 1 of the JSON API: one router per domain, mounted at /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.v1 import (
    audit_events,
    auth,
    customers,
    me,
    orders,
    product_io,
    products,
    roles,
    users,
    webhooks,
)

router = APIRouter()
# Matched in this order, and FastAPI tries routes one by one: the busiest resources come
# first so a list request does not first test every auth and user route. (The docs keep
# their own order: OPENAPI_TAGS in app/main.py.)
# product_io before products: "/products/export.csv" must not be taken for "/products/{id}".
router.include_router(product_io.router)
router.include_router(products.router)
router.include_router(orders.router)
router.include_router(customers.router)
router.include_router(me.router)
router.include_router(audit_events.router)
router.include_router(webhooks.router)
router.include_router(auth.router)
router.include_router(users.router)
router.include_router(roles.router)
