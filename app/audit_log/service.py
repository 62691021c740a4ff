"""What the audit log may be filtered and sorted by (read-only everywhere)."""

from __future__ import annotations

from app.lists.grammar import ListSpec
from app.models import AuditEvent

LIST_SPEC = ListSpec(
    model=AuditEvent,
    sortable=("id", "occurred_at"),
    default_sort="-id",
    searchable=("action", "actor_email"),
    exact=(
        "actor_user_id",
        "actor_email",
        "channel",
        "action",
        "resource_type",
        "resource_id",
        "token_id",
        "request_id",
    ),
    ranges=("id", "occurred_at"),
)
