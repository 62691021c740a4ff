"""No climbing (SPEC §14): a caller grants only what it holds, in both doors.

Attacks: a custom role holding users:manage gives its holder `admin`; a roles:manage
holder adds every permission to its own role; one PATCH empties the admin role; the last
admin demotes or deactivates themself; a users:manage holder deactivates the admin;
a token asks for scopes its owner lacks.
"""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.models import ApiToken, Role, User
from app.roles import service as roles_service
from app.roles.commands import CreateRole
from tests.admin.conftest import OpenBrowser
from tests.api.domain_helpers import assert_problem, token_caller
from tests.auth_helpers import csrf_from
from tests.factories import make_user

ROLES = "/api/v1/roles"
USERS = "/api/v1/users"


async def custom_role(session: AsyncSession, name: str, permissions: list[str]) -> Role:
    return await roles_service.create_role(
        session, Principal.system(), CreateRole(name=name, permissions=permissions)
    )


async def holder_of(session: AsyncSession, role: Role) -> tuple[User, dict[str, str]]:
    user, headers = await token_caller(session, role=None)
    user.roles = [role]
    await session.flush()
    return user, headers


async def roles_of(session: AsyncSession, user: User) -> list[str]:
    await session.refresh(user, ["roles"])
    return sorted(role.name for role in user.roles)


async def admin_role(session: AsyncSession) -> Role:
    return (await session.execute(select(Role).where(Role.name == "admin"))).scalar_one()


# --- the API door --------------------------------------------------------------------------


async def test_a_user_manager_cannot_make_themself_admin_by_api(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    hr = await custom_role(session, "hr", ["users:read", "users:manage"])
    user, headers = await holder_of(session, hr)

    response = await client.patch(
        f"{USERS}/{user.id}", json={"roles": ["hr", "admin"]}, headers=headers
    )

    body = assert_problem(response, 403)
    assert "roles:manage" in body["detail"]
    assert await roles_of(session, user) == ["hr"]


async def test_a_user_manager_cannot_create_an_admin_by_api(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    hr = await custom_role(session, "hr", ["users:read", "users:manage"])
    _, headers = await holder_of(session, hr)

    response = await client.post(
        USERS,
        json={
            "email": "new-admin@example.com",
            "password": "plum-orbit-kettle-42",
            "roles": ["admin"],
        },
        headers=headers,
    )

    assert_problem(response, 403)
    found = await session.execute(select(User).where(User.email == "new-admin@example.com"))
    assert found.scalar_one_or_none() is None


async def test_a_role_manager_cannot_widen_their_own_role_by_api(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    keeper = await custom_role(session, "keeper", ["roles:manage", "users:read"])
    _, headers = await holder_of(session, keeper)

    response = await client.patch(
        f"{ROLES}/{keeper.id}",
        json={"permissions": ["roles:manage", "users:read", "users:manage"]},
        headers=headers,
    )
    created = await client.post(
        ROLES, json={"name": "wide", "permissions": ["audit:read"]}, headers=headers
    )

    assert_problem(response, 403)
    assert_problem(created, 403)
    await session.refresh(keeper)
    assert keeper.permissions == ["roles:manage", "users:read"]


async def test_a_role_manager_cannot_withdraw_what_they_do_not_hold(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    keeper = await custom_role(session, "keeper", ["roles:manage"])
    auditors = await custom_role(session, "auditors", ["audit:read"])
    _, headers = await holder_of(session, keeper)

    response = await client.patch(
        f"{ROLES}/{auditors.id}", json={"permissions": []}, headers=headers
    )

    assert_problem(response, 403)


async def test_the_admin_role_cannot_be_emptied(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, role="admin")
    role = await admin_role(session)

    response = await client.patch(f"{ROLES}/{role.id}", json={"permissions": []}, headers=headers)

    assert_problem(response, 409)
    await session.refresh(role)
    assert len(role.permissions) > 20


async def test_the_last_admin_cannot_demote_or_deactivate_themself(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # Only the test's admin holds users:manage + roles:manage among active users.
    for other in (await session.execute(select(User))).scalars():
        other.is_active = False
    me, headers = await token_caller(session, role="admin")

    demoted = await client.patch(f"{USERS}/{me.id}", json={"roles": ["viewer"]}, headers=headers)
    deactivated = await client.post(f"{USERS}/{me.id}/deactivate", headers=headers)

    assert "manage users and roles" in assert_problem(demoted, 409)["detail"]
    assert_problem(deactivated, 409)
    await session.refresh(me)
    assert me.is_active and await roles_of(session, me) == ["admin"]


async def test_a_user_manager_cannot_deactivate_someone_above_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    hr = await custom_role(session, "hr", ["users:read", "users:manage"])
    _, headers = await holder_of(session, hr)
    boss = await make_user(session, role="admin")

    response = await client.post(f"{USERS}/{boss.id}/deactivate", headers=headers)

    assert_problem(response, 403)
    await session.refresh(boss)
    assert boss.is_active


async def test_a_token_cannot_have_scopes_its_owner_lacks(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, role="clerk")

    response = await client.post(
        "/api/v1/me/tokens",
        json={"name": "wide", "scopes": ["orders:read", "users:manage"]},
        headers=headers,
    )

    assert "users:manage" in assert_problem(response, 403)["detail"]


# --- the admin door ------------------------------------------------------------------------


async def test_a_user_manager_cannot_make_themself_admin_in_the_admin(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    hr = await custom_role(session, "hr", ["users:read", "users:manage"])
    user = await make_user(session, role=None)
    user.roles = [hr]
    await session.flush()
    _, browser = await open_browser(user=user)
    form = await browser.get(f"/admin/user/edit/{user.id}")
    assert form.status_code == 200, form.text

    saved = await browser.post(
        f"/admin/user/edit/{user.id}",
        data={
            "csrf_token": csrf_from(form.text),
            "email": user.email,
            "full_name": user.full_name,
            "is_active": "y",
            "roles": ["hr", "admin"],
            "version": re.findall(r'name="version"[^>]*value="(\d+)"', form.text)[0],
            "save": "Save",
        },
    )

    assert saved.status_code == 400, saved.text
    assert "roles:manage" in saved.text  # the service's refusal, as the form's message
    assert await roles_of(session, user) == ["hr"]


async def test_a_token_with_scopes_its_owner_lacks_is_refused_in_the_admin(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser(role="viewer")
    page = await browser.get("/admin/account")

    await browser.post(
        "/admin/account",
        data={
            "csrf_token": csrf_from(page.text),
            "op": "create-token",
            "name": "wide",
            "scopes": ["users:manage"],
        },
    )

    made = (await session.execute(select(ApiToken).where(ApiToken.user_id == user.id))).scalars()
    assert list(made) == []
