"""Users, roles and the permission registry over the API (SPEC §4, §6, §9)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import verify_password
from app.models import AuditEvent, Role, User
from app.permissions import PERMISSIONS
from tests.api.conftest import LoginAs
from tests.auth_helpers import api_login
from tests.factories import make_user

NEW_USER_PASSWORD = "river stones and moss 7"
Caller = tuple[User, dict[str, str]]


async def audit_events(session: AsyncSession, action: str) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(statement)).scalars())


async def create_user(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: object
) -> httpx.Response:
    body: dict[str, object] = {
        "email": "new.hire@example.com",
        "full_name": "New Hire",
        "password": NEW_USER_PASSWORD,
        "roles": ["clerk"],
    }
    body.update(fields)
    return await client.post("/api/v1/users", json=body, headers=headers)


async def create_role(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: object
) -> httpx.Response:
    body: dict[str, object] = {
        "name": "auditor",
        "description": "Reads the log",
        "permissions": ["audit:read", "orders:read"],
    }
    body.update(fields)
    return await client.post("/api/v1/roles", json=body, headers=headers)


async def role_id(session: AsyncSession, name: str) -> int:
    return int((await session.execute(select(Role.id).where(Role.name == name))).scalar_one())


def assert_actor(event: AuditEvent, actor: User) -> None:
    assert event.channel == "api"
    assert event.actor_user_id == actor.id
    assert event.actor_email == actor.email


# --- permissions of each endpoint ----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("admin", True), ("manager", True), ("clerk", False), ("viewer", False), (None, False)],
)
async def test_reading_users_needs_users_read(
    client: httpx.AsyncClient, login_as: LoginAs, role: str | None, allowed: bool
) -> None:
    user, headers = await login_as(role)

    listed = await client.get("/api/v1/users", headers=headers)
    one = await client.get(f"/api/v1/users/{user.id}", headers=headers)

    assert listed.status_code == one.status_code == (200 if allowed else 403), listed.text
    if allowed:
        assert user.email in [row["email"] for row in listed.json()["items"]]


@pytest.mark.parametrize(
    ("role", "allowed"), [("admin", True), ("manager", False), ("clerk", False), ("viewer", False)]
)
async def test_managing_users_needs_users_manage(
    client: httpx.AsyncClient,
    session: AsyncSession,
    login_as: LoginAs,
    role: str,
    allowed: bool,
) -> None:
    _, headers = await login_as(role)
    target = await make_user(session, role="viewer")
    expected = 201 if allowed else 403

    created = await create_user(client, headers)
    updated = await client.patch(
        f"/api/v1/users/{target.id}", json={"full_name": "Renamed"}, headers=headers
    )
    deactivated = await client.post(f"/api/v1/users/{target.id}/deactivate", headers=headers)

    assert created.status_code == expected, created.text
    assert updated.status_code == deactivated.status_code == (200 if allowed else 403)


@pytest.mark.parametrize(
    ("role", "allowed"), [("admin", True), ("manager", True), ("clerk", False), ("viewer", False)]
)
async def test_reading_roles_needs_users_read(
    client: httpx.AsyncClient, session: AsyncSession, login_as: LoginAs, role: str, allowed: bool
) -> None:
    _, headers = await login_as(role)

    listed = await client.get("/api/v1/roles", headers=headers)
    one = await client.get(f"/api/v1/roles/{await role_id(session, 'viewer')}", headers=headers)

    assert listed.status_code == one.status_code == (200 if allowed else 403)


@pytest.mark.parametrize(
    ("role", "allowed"), [("admin", True), ("manager", False), ("clerk", False), ("viewer", False)]
)
async def test_managing_roles_needs_roles_manage(
    client: httpx.AsyncClient, session: AsyncSession, login_as: LoginAs, role: str, allowed: bool
) -> None:
    _, headers = await login_as(role)
    viewer_role = await role_id(session, "viewer")

    created = await create_role(client, headers)
    updated = await client.patch(
        f"/api/v1/roles/{viewer_role}", json={"description": "Looks"}, headers=headers
    )

    assert created.status_code == (201 if allowed else 403), created.text
    assert updated.status_code == (200 if allowed else 403), updated.text


async def test_unauthenticated_user_and_role_requests_are_401(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/v1/users"),
        await client.get("/api/v1/roles"),
        await client.get("/api/v1/permissions"),
        await client.post("/api/v1/roles", json={"name": "x"}),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


# --- users ---------------------------------------------------------------------------------


async def test_creating_a_user_returns_201_with_location_and_etag(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin

    response = await create_user(client, headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/users/{body['id']}"
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert body["email"] == "new.hire@example.com"
    assert [role["name"] for role in body["roles"]] == ["clerk"]
    assert "password" not in response.text and "password_hash" not in body
    stored = await session.get_one(User, body["id"])
    assert stored.password_hash.startswith("$argon2id$")
    assert (await verify_password(NEW_USER_PASSWORD, stored.password_hash))[0]


async def test_a_created_user_can_log_in(client: httpx.AsyncClient, admin: Caller) -> None:
    _, headers = admin
    await create_user(client, headers)

    response = await api_login(client, "new.hire@example.com", NEW_USER_PASSWORD)

    assert response.status_code == 200, response.text


async def test_user_creation_is_audited_with_channel_and_actor(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    actor, headers = admin
    created = (await create_user(client, headers)).json()

    (event,) = await audit_events(session, "user.created")

    assert_actor(event, actor)
    assert event.resource_type == "user" and event.resource_id == str(created["id"])
    assert event.changes["email"] == [None, "new.hire@example.com"]
    assert event.changes["roles"] == [None, ["clerk"]]
    assert event.changes["password_hash"] == [None, "[redacted]"]
    assert NEW_USER_PASSWORD not in str(event.changes)


async def test_a_duplicate_email_in_another_case_is_409_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    await make_user(session, email="taken@example.com")

    response = await create_user(client, headers, email="TAKEN@Example.com")

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["field"] == "email"
    assert "email" in body["detail"]


async def test_a_weak_password_is_422_listing_the_rule(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin

    response = await create_user(client, headers, password="new.hire is me")

    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "password"]
    assert error["type"] == "weak_password"
    assert "name part" in error["message"]
    assert (
        await session.execute(select(User).where(User.email == "new.hire@example.com"))
    ).first() is None


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"email": "not-an-email"}, ["body", "email"]),
        ({"roles": ["wizard"]}, ["body", "roles"]),
        ({"password": "123456789012"}, ["body", "password"]),
        ({"is_admin": True}, ["body", "is_admin"]),
    ],
    ids=["bad-email", "unknown-role", "common-password", "unknown-field"],
)
async def test_invalid_user_fields_are_422(
    client: httpx.AsyncClient, admin: Caller, fields: dict[str, object], loc: list[str]
) -> None:
    _, headers = admin

    response = await create_user(client, headers, **fields)

    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["errors"]]


async def test_a_missing_user_is_404(client: httpx.AsyncClient, admin: Caller) -> None:
    _, headers = admin

    assert (await client.get("/api/v1/users/999999", headers=headers)).status_code == 404
    patched = await client.patch("/api/v1/users/999999", json={"full_name": "x"}, headers=headers)
    assert patched.status_code == 404


async def test_reading_a_user_honours_if_none_match(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    target = await make_user(session, role="viewer")
    first = await client.get(f"/api/v1/users/{target.id}", headers=headers)
    etag = first.headers["etag"]

    unchanged = await client.get(
        f"/api/v1/users/{target.id}", headers={**headers, "If-None-Match": etag}
    )
    stale = await client.get(
        f"/api/v1/users/{target.id}", headers={**headers, "If-None-Match": '"999"'}
    )

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert stale.status_code == 200


async def test_updating_a_user_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    target = await make_user(session, role="viewer", full_name="Before")
    etag = (await client.get(f"/api/v1/users/{target.id}", headers=headers)).headers["etag"]
    first = await client.patch(
        f"/api/v1/users/{target.id}",
        json={"full_name": "First"},
        headers={**headers, "If-Match": etag},
    )
    assert first.status_code == 200, first.text
    assert first.headers["etag"] != etag

    second = await client.patch(
        f"/api/v1/users/{target.id}",
        json={"full_name": "Second"},
        headers={**headers, "If-Match": etag},
    )

    assert second.status_code == 412, second.text
    reread = await client.get(f"/api/v1/users/{target.id}", headers=headers)
    assert reread.json()["full_name"] == "First"


async def test_changing_only_roles_moves_the_etag(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    target = await make_user(session, role="viewer")
    etag = (await client.get(f"/api/v1/users/{target.id}", headers=headers)).headers["etag"]

    changed = await client.patch(
        f"/api/v1/users/{target.id}",
        json={"roles": ["clerk"]},
        headers={**headers, "If-Match": etag},
    )
    late = await client.patch(
        f"/api/v1/users/{target.id}",
        json={"roles": ["manager"]},
        headers={**headers, "If-Match": etag},
    )

    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != etag
    # A second editor who loaded the old roles must not silently overwrite the change.
    assert late.status_code == 412, late.text


async def test_a_role_change_is_audited_as_a_diff(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    actor, headers = admin
    target = await make_user(session, role="clerk")

    response = await client.patch(
        f"/api/v1/users/{target.id}", json={"roles": ["manager", "viewer"]}, headers=headers
    )

    assert response.status_code == 200, response.text
    assert sorted(role["name"] for role in response.json()["roles"]) == ["manager", "viewer"]
    (event,) = await audit_events(session, "user.updated")
    assert_actor(event, actor)
    assert event.resource_id == str(target.id)
    assert event.changes == {"roles": [["clerk"], ["manager", "viewer"]]}


async def test_an_update_that_changes_nothing_writes_no_audit_row(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    target = await make_user(session, role="clerk", full_name="Same")

    response = await client.patch(
        f"/api/v1/users/{target.id}",
        json={"full_name": "Same", "roles": ["clerk"]},
        headers=headers,
    )

    assert response.status_code == 200
    assert await audit_events(session, "user.updated") == []


async def test_changing_email_to_a_taken_one_is_409(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    await make_user(session, email="taken@example.com")
    target = await make_user(session)

    response = await client.patch(
        f"/api/v1/users/{target.id}", json={"email": "Taken@EXAMPLE.com"}, headers=headers
    )

    assert response.status_code == 409
    assert response.json()["field"] == "email"


async def test_deactivating_a_user_is_audited_and_idempotent(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    actor, headers = admin
    target = await make_user(session, role="clerk")

    first = await client.post(f"/api/v1/users/{target.id}/deactivate", headers=headers)
    again = await client.post(f"/api/v1/users/{target.id}/deactivate", headers=headers)

    assert first.status_code == again.status_code == 200
    assert first.json()["is_active"] is False
    (event,) = await audit_events(session, "user.deactivated")
    assert_actor(event, actor)
    assert event.resource_id == str(target.id)
    assert event.changes == {"is_active": [True, False]}


async def test_a_deactivated_user_cannot_log_in(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    target = await make_user(session, role="clerk")
    await client.post(f"/api/v1/users/{target.id}/deactivate", headers=headers)

    assert (await api_login(client, target.email)).status_code == 401


# --- roles ---------------------------------------------------------------------------------


async def test_creating_a_role_returns_201_with_location_and_is_audited(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    actor, headers = admin

    response = await create_role(client, headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/roles/{body['id']}"
    assert body["permissions"] == ["audit:read", "orders:read"]
    assert body["is_builtin"] is False
    (event,) = await audit_events(session, "role.created")
    assert_actor(event, actor)
    assert event.resource_id == str(body["id"])
    assert event.changes["name"] == [None, "auditor"]
    assert event.changes["permissions"] == [None, ["audit:read", "orders:read"]]


async def test_a_duplicate_role_name_is_409_naming_the_field(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    _, headers = admin

    response = await create_role(client, headers, name="Admin")

    assert response.status_code == 409, response.text
    assert response.json()["field"] == "name"


async def test_a_role_with_an_unknown_permission_is_422(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    _, headers = admin

    response = await create_role(client, headers, permissions=["orders:read", "orders:steal"])

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "permissions"]


@pytest.mark.parametrize("name", ["admin", "manager", "clerk", "viewer"])
async def test_a_builtin_role_cannot_be_renamed(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller, name: str
) -> None:
    _, headers = admin

    response = await client.patch(
        f"/api/v1/roles/{await role_id(session, name)}", json={"name": "renamed"}, headers=headers
    )

    assert response.status_code == 409, response.text
    assert await role_id(session, name)


@pytest.mark.parametrize("name", ["admin", "manager", "clerk", "viewer"])
async def test_a_builtin_role_cannot_be_deleted(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller, name: str
) -> None:
    _, headers = admin

    response = await client.delete(f"/api/v1/roles/{await role_id(session, name)}", headers=headers)

    assert response.status_code == 409, response.text
    assert await role_id(session, name)


async def test_a_role_in_use_cannot_be_deleted_until_released(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    role = (await create_role(client, headers)).json()
    holder = await make_user(session, role="auditor")

    refused = await client.delete(f"/api/v1/roles/{role['id']}", headers=headers)
    released = await client.patch(f"/api/v1/users/{holder.id}", json={"roles": []}, headers=headers)
    deleted = await client.delete(f"/api/v1/roles/{role['id']}", headers=headers)

    assert refused.status_code == 409, refused.text
    assert released.status_code == 200
    assert deleted.status_code == 204, deleted.text
    assert (await client.get(f"/api/v1/roles/{role['id']}", headers=headers)).status_code == 404
    (event,) = await audit_events(session, "role.deleted")
    assert event.resource_id == str(role["id"])


async def test_updating_a_role_with_a_stale_if_match_is_412(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    _, headers = admin
    role = (await create_role(client, headers)).json()
    etag = f'"{role["version"]}"'
    first = await client.patch(
        f"/api/v1/roles/{role['id']}",
        json={"description": "first"},
        headers={**headers, "If-Match": etag},
    )
    assert first.status_code == 200, first.text

    second = await client.patch(
        f"/api/v1/roles/{role['id']}",
        json={"description": "second"},
        headers={**headers, "If-Match": etag},
    )
    deleted = await client.delete(
        f"/api/v1/roles/{role['id']}", headers={**headers, "If-Match": etag}
    )

    assert second.status_code == 412
    assert deleted.status_code == 412
    reread = await client.get(f"/api/v1/roles/{role['id']}", headers=headers)
    assert reread.json()["description"] == "first"


async def test_reading_a_role_honours_if_none_match(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    _, headers = admin
    url = f"/api/v1/roles/{await role_id(session, 'clerk')}"
    etag = (await client.get(url, headers=headers)).headers["etag"]

    response = await client.get(url, headers={**headers, "If-None-Match": etag})

    assert response.status_code == 304
    assert response.headers["etag"] == etag


async def test_a_role_permission_change_reaches_its_members_at_once(
    client: httpx.AsyncClient, login_as: LoginAs, admin: Caller
) -> None:
    _, headers = admin
    role = (await create_role(client, headers, permissions=["orders:read"])).json()
    _, member_headers = await login_as("auditor")
    assert (await client.get("/api/v1/users", headers=member_headers)).status_code == 403

    await client.patch(
        f"/api/v1/roles/{role['id']}",
        json={"permissions": ["orders:read", "users:read"]},
        headers=headers,
    )

    assert (await client.get("/api/v1/users", headers=member_headers)).status_code == 200


# --- the registry --------------------------------------------------------------------------


async def test_the_permissions_endpoint_lists_the_registry(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    _, headers = admin

    response = await client.get("/api/v1/permissions", headers=headers)

    assert response.status_code == 200
    page = response.json()
    assert {row["name"]: row["description"] for row in page["items"]} == PERMISSIONS
    assert page["next_cursor"] is None


@pytest.mark.parametrize(("role", "allowed"), [("manager", True), ("viewer", False)])
async def test_reading_the_registry_needs_users_read(
    client: httpx.AsyncClient, login_as: LoginAs, role: str, allowed: bool
) -> None:
    _, headers = await login_as(role)

    response = await client.get("/api/v1/permissions", headers=headers)

    assert response.status_code == (200 if allowed else 403)


# --- hostile ids ---------------------------------------------------------------------------

HOSTILE_IDS = ["0", "-1", "2147483648", "9223372036854775808", "18446744073709551616"]


@pytest.mark.parametrize("row_id", HOSTILE_IDS)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/users/{}"),
        ("PATCH", "/api/v1/users/{}"),
        ("POST", "/api/v1/users/{}/deactivate"),
        ("GET", "/api/v1/roles/{}"),
        ("PATCH", "/api/v1/roles/{}"),
        ("DELETE", "/api/v1/roles/{}"),
    ],
)
async def test_an_id_outside_the_column_range_is_a_client_error_never_500(
    client: httpx.AsyncClient, admin: Caller, method: str, path: str, row_id: str
) -> None:
    _, headers = admin

    response = await client.request(
        method, path.format(row_id), headers=headers, json={} if method == "PATCH" else None
    )

    assert response.status_code in (404, 422), response.text
