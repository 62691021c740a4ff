"""Every table, imported here so Alembic, the admin and the tests see the whole schema."""

from app.models.audit import AuditEvent
from app.models.auth import ApiToken, RefreshToken, Role, StaffSession, User, user_roles
from app.models.base import Base, utcnow
from app.models.customers import Customer
from app.models.idempotency import IdempotencyRecord
from app.models.orders import Order, OrderItem, OrderStatus
from app.models.products import Product
from app.models.saved_views import SavedView
from app.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Customer",
    "IdempotencyRecord",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Product",
    "RefreshToken",
    "Role",
    "SavedView",
    "StaffSession",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "user_roles",
    "utcnow",
]
