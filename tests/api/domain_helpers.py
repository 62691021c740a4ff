"""Helpers for the customers/products/orders API tests: personal-token callers, problems, audit."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.models import AuditEvent, User
from tests.factories import make_user

PROBLEM_TYPE = "application/problem+json"


async def token_caller(
    session: AsyncSession, role: str | None = "admin", **fields: object
) -> tuple[User, dict[str, str]]:
    """A user with `role` and the Authorization header of a fresh personal token of theirs."""
    user = await make_user(session, role=role, **fields)  # type: ignore[arg-type]
    _, plaintext = await create_token(session, Principal.system(), user, CreateToken(name="t"))
    await session.flush()
    return user, {"Authorization": f"Bearer {plaintext}"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """`response` is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_TYPE), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    """The field names a 422 problem lists (the last element of each `loc`)."""
    errors = body["errors"]
    for error in errors:
        assert set(error) == {"loc", "message", "type"}, error
        assert error["message"] and error["type"], error
    return {str(error["loc"][-1]) for error in errors}


async def audit_events(
    session: AsyncSession, resource_type: str, resource_id: object, action: str | None = None
) -> list[AuditEvent]:
    """The audit rows about one resource (re-read from the database), oldest first."""
    statement = (
        select(AuditEvent)
        .where(
            AuditEvent.resource_type == resource_type,
            AuditEvent.resource_id == str(resource_id),
        )
        .order_by(AuditEvent.id)
        .execution_options(populate_existing=True)
    )
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    return list((await session.execute(statement)).scalars())


async def only_audit_event(
    session: AsyncSession, resource_type: str, resource_id: object, action: str
) -> AuditEvent:
    """The single audit row for `action` on the resource."""
    events = await audit_events(session, resource_type, resource_id, action)
    assert len(events) == 1, [(e.action, e.changes) for e in events]
    return events[0]
