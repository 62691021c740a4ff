"""One principal (issue 15): every credential kind becomes the same Principal, and `can`
decides rows with the row (own tokens and sessions, or the table's manage permission)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.policy import allowed
from app.auth.api_tokens import create_token
from app.auth.principal import Principal, RequestMeta
from app.auth.sessions import start_session
from app.auth.token_commands import CreateToken
from app.auth.tokens import encode_access_token
from app.edge import callers
from app.infra.db import Database
from app.infra.settings import Settings
from app.models import ApiToken, StaffSession, User
from app.models.base import utcnow
from app.permissions import BUILTIN_ROLES, can, sees_only_own_rows
from tests.factories import make_user

META = RequestMeta(request_id="req-principal", ip="203.0.113.7", user_agent="pytest")
KINDS = ("personal_token", "access_token", "session")


@pytest.fixture
def principal_by(
    database: Database, session: AsyncSession, settings: Settings
) -> Callable[[str, User], Awaitable[Principal | None]]:
    """Log `user` in with a fresh credential of one kind and resolve it through callers."""

    async def resolve(kind: str, user: User, **token: Any) -> Principal | None:
        if kind == "session":
            started = await start_session(session, user, META, settings)
            await session.flush()
            caller = await callers.from_staff_session(session, started.token, settings, META)
            return caller.principal if caller else None
        if kind == "personal_token":
            _, credential = await create_token(
                session, Principal.system(), user, CreateToken(name="t", **token)
            )
        else:
            credential, _ = encode_access_token(
                user_id=user.id,
                stamp=user.security_stamp,
                secret_key=settings.secret_key,
                lifetime=timedelta(minutes=5),
            )
        await session.flush()
        async with database.reader() as reader:
            return await callers.from_bearer(reader, f"Bearer {credential}", settings, META)

    return resolve


def _shape(principal: Principal) -> tuple[object, ...]:
    """Everything but the credential-specific fields (door, method, token)."""
    return (
        principal.user_id,
        principal.email,
        principal.permissions,
        principal.scopes,
        principal.meta,
        principal.person_key,
    )


async def test_each_credential_kind_yields_the_same_principal(
    principal_by: Callable[[str, User], Awaitable[Principal | None]], session: AsyncSession
) -> None:
    user = await make_user(session, role="clerk")

    found = {kind: await principal_by(kind, user) for kind in KINDS}

    principals = {kind: p for kind, p in found.items() if p is not None}
    assert set(principals) == set(KINDS)
    assert {_shape(p) for p in principals.values()} == {
        (user.id, user.email, frozenset(BUILTIN_ROLES["clerk"][1]), (), META, f"user:{user.id}")
    }
    by_token, by_jwt, by_session = (principals[kind] for kind in KINDS)
    assert (by_token.channel, by_token.auth_method) == ("api", "personal_token")
    assert (by_jwt.channel, by_jwt.auth_method) == ("api", "access_token")
    assert (by_session.channel, by_session.auth_method) == ("admin", "session")
    # Idempotency records are per credential: a personal token is its own key.
    assert by_token.token_id is not None
    assert by_token.key == f"token:{by_token.token_id}"
    assert by_jwt.token_id is None and by_jwt.key == by_jwt.person_key
    assert by_session.token_id is None and by_session.key == by_session.person_key


async def test_a_scoped_token_holds_its_scopes_that_its_owner_holds(
    principal_by: Callable[..., Awaitable[Principal | None]], session: AsyncSession
) -> None:
    user = await make_user(session, role="clerk")

    principal = await principal_by("personal_token", user, scopes=["orders:read"])

    assert principal is not None
    assert principal.permissions == {"orders:read"}
    assert principal.scopes == ("orders:read",)


@pytest.mark.parametrize("kind", KINDS)
async def test_no_kind_of_credential_lets_an_inactive_user_in(
    principal_by: Callable[[str, User], Awaitable[Principal | None]],
    session: AsyncSession,
    kind: str,
) -> None:
    user = await make_user(session, role="admin", is_active=False)

    assert await principal_by(kind, user) is None


@pytest.mark.parametrize(
    "authorization",
    ["", "Basic abc", "Bearer ", "Bearer bo_unknown", "Bearer not.a.jwt", "Bearer " + "x" * 5000],
)
async def test_a_bearer_header_that_names_no_live_credential_is_nobody(
    database: Database, settings: Settings, authorization: str
) -> None:
    async with database.reader() as reader:
        assert await callers.from_bearer(reader, authorization, settings, META) is None


# --- can() with the row ----------------------------------------------------------------------


def _caller(user_id: int | None, *permissions: str) -> Principal:
    return Principal(user_id, "x@example.com", "admin", "session", frozenset(permissions))


def _token(user_id: int) -> ApiToken:
    return ApiToken(user_id=user_id, name="t", token_prefix="p", token_hash="h", scopes=[])


def _session(user_id: int) -> StaffSession:
    now = utcnow()
    return StaffSession(user_id=user_id, token_hash="h", last_seen_at=now, expires_at=now)


@pytest.mark.parametrize(("row", "manage"), [(_token, "tokens:manage"), (_session, "users:manage")])
def test_own_rows_pass_and_others_need_the_tables_manage_permission(
    row: Callable[[int], object], manage: str
) -> None:
    clerk, manager = _caller(1), _caller(2, manage)

    assert can(clerk, manage, row(1))  # one's own row
    assert not can(clerk, manage, row(3))  # someone else's
    assert not can(clerk, manage)  # any row: no
    assert can(manager, manage, row(3))
    assert can(manager, manage)
    # Without a user (the system, the CLI) nothing is "own".
    assert not can(_caller(None), manage, row(1))
    assert sees_only_own_rows(clerk, str(row(1).__tablename__))  # type: ignore[attr-defined]
    assert not sees_only_own_rows(manager, str(row(1).__tablename__))  # type: ignore[attr-defined]


def test_owning_a_row_grants_only_that_tables_permission() -> None:
    clerk = _caller(1)

    # Owning a token is not owning the right to manage users, nor anything on other rows.
    assert not can(clerk, "users:manage", _token(1))
    assert not can(clerk, "tokens:manage", _session(1))
    assert not can(clerk, "customers:delete", _token(1))
    with pytest.raises(KeyError):
        can(clerk, "tokens:own", _token(1))


def test_the_admin_asks_the_same_row_rule() -> None:
    clerk, admin = _caller(1, "customers:read"), _caller(2, "tokens:manage", "users:manage")

    for identity, row in (("api-token", _token), ("staff-session", _session)):
        assert allowed(clerk, identity, "list")  # filtered to own rows
        assert allowed(clerk, identity, "action:revoke")  # asked again per row
        assert allowed(clerk, identity, "details", row(1))
        assert allowed(clerk, identity, "delete", row(1))
        assert not allowed(clerk, identity, "details", row(2))
        assert not allowed(clerk, identity, "action:revoke", row(2))
        assert not allowed(clerk, identity, "details")  # a hidden or missing row
        assert allowed(admin, identity, "delete", row(1))
    assert not allowed(clerk, "api-token", "details", _session(1))  # another view's row
