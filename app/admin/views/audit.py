"""The audit log in the admin: read-only, filterable, with a readable diff."""

from __future__ import annotations

from typing import Any, ClassVar

from app.admin.filters import ChoiceFilter, DateRangeFilter, TextFilter
from app.admin.views.base import ServiceModelView
from app.audit_log.service import LIST_SPEC as AUDIT_SPEC
from app.models import AuditEvent
from app.models.audit import CHANNELS


class AuditEventView(ServiceModelView, model=AuditEvent):
    name = "Audit event"
    name_plural = "Audit log"
    identity = "audit-event"
    icon = "fa-solid fa-clipboard-list"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        "id",
        "occurred_at",
        "actor_email",
        "channel",
        "action",
        "resource_type",
        "resource_id",
    ]
    column_sortable_list: ClassVar[Any] = ["id", "occurred_at"]
    column_default_sort: ClassVar[Any] = ("id", True)
    # The search box searches what the API's `q` searches (one list of fields).
    list_spec = AUDIT_SPEC
    column_searchable_list: ClassVar[Any] = list(AUDIT_SPEC.search_fields)
    # Typed filters: no SELECT DISTINCT over a big table to build a menu; an action
    # "starts with" (`order.` is every order event), a resource type is one word.
    column_filters: ClassVar[Any] = [
        TextFilter(AuditEvent.actor_email, title="Actor", match="contains"),
        TextFilter(AuditEvent.resource_type, title="Resource", match="exact"),
        TextFilter(AuditEvent.action, title="Action", match="prefix"),
        ChoiceFilter(AuditEvent.channel, [(c, c.capitalize()) for c in CHANNELS], title="Channel"),
        DateRangeFilter(AuditEvent.occurred_at, title="Date"),
    ]
    details_template = "admin/audit_details.html"
