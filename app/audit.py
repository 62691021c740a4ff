"""The audit log writer: one row per change or security event, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import Unpack

from app.auth.principal import Principal
from app.infra.jsonutil import to_jsonable
from app.models import AuditEvent, Base
from app.models.base import utcnow

REDACTED = "[redacted]"
# Fields whose values never reach the log; a change to them is recorded as redacted.
SECRET_FIELDS = frozenset(
    {"password", "password_hash", "token", "token_hash", "secret", "security_stamp"}
)
# Bookkeeping that every update touches; recording it would only add noise.
IGNORED_FIELDS = frozenset({"updated_at", "version"})


def snapshot(row: Base, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The row's column values as JSON-ready data (the "before" or "after" of a diff)."""
    mapper = inspect(type(row))
    names = list(fields) if fields is not None else [c.key for c in mapper.column_attrs]
    return {name: to_jsonable(getattr(row, name)) for name in names}


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for every field that changed; secrets show as redacted.

    A create has no `before` (old values are None); a delete has no `after`.
    """
    before = before or {}
    after = after or {}
    changes: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        if name in IGNORED_FIELDS:
            continue
        old, new = to_jsonable(before.get(name)), to_jsonable(after.get(name))
        if old == new:
            continue
        if name in SECRET_FIELDS:
            old = REDACTED if old is not None else None
            new = REDACTED if new is not None else None
        changes[name] = [old, new]
    return changes


class Details(TypedDict, total=False):
    """What an audit row says beyond who and which action (all optional)."""

    resource_type: str | None
    resource_id: object | None
    changes: Mapping[str, list[Any]] | None
    # Override the principal's identity for events where the caller is not yet known (a
    # failed login names the account tried, not a logged-in user).
    actor_user_id: int | None
    actor_email: str | None


def entry(principal: Principal, action: str, **details: Unpack[Details]) -> dict[str, Any]:
    """The audit row's column values: who, how, what, the redacted changes and when.

    The one source of an audit row, whether it is added to the session (`record`) or
    written in one statement with the event it goes with (app/webhooks/outbox.py `emit`).
    """
    actor_user_id = details.get("actor_user_id")
    actor_email = details.get("actor_email")
    resource_id = details.get("resource_id")
    return {
        "occurred_at": utcnow(),
        "actor_user_id": actor_user_id if actor_user_id is not None else principal.user_id,
        "actor_email": actor_email if actor_email is not None else principal.email,
        "channel": principal.channel,
        "token_id": principal.token_id,
        "action": action,
        "resource_type": details.get("resource_type"),
        "resource_id": str(resource_id) if resource_id is not None else None,
        "changes": _redact(dict(details.get("changes") or {})),
        "request_id": principal.meta.request_id,
        "ip": principal.meta.ip,
        "user_agent": (principal.meta.user_agent or "")[:255] or None,
    }


def add(session: AsyncSession, values: Mapping[str, Any]) -> AuditEvent:
    """Add the audit row of `entry(...)` to `session`, in the caller's transaction."""
    event = AuditEvent(**values)
    session.add(event)
    return event


def record(
    session: AsyncSession, principal: Principal, action: str, **details: Unpack[Details]
) -> AuditEvent:
    """Add an audit row to `session`; it commits or rolls back with the change it describes.

    A change that also emits an event passes `entry(...)` to `outbox.emit` instead, which
    writes both together.
    """
    return add(session, entry(principal, action, **details))


def _redact(changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # Belt and braces: callers that build `changes` by hand get the same redaction.
    return {
        name: [REDACTED if v is not None else None for v in values]
        if name in SECRET_FIELDS
        else [to_jsonable(v) for v in values]
        for name, values in changes.items()
    }


def apply_changes(row: Base, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Set `values` on `row` and return the `{field: [old, new]}` diff of what changed."""
    before = snapshot(row, values.keys())
    for name, value in values.items():
        setattr(row, name, value)
    return diff(before, snapshot(row, values.keys()))
