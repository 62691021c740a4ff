"""One staff user, one personal token, every door (issue 15): the API, the admin (the user
form, the account page) and the CLI (`create-user`, `create-token`) build the same
CreateUser, UpdateUser and CreateToken, so the same input is stored as the same row, or
refused naming the same field with the same message. On SQLite and PostgreSQL.

A refusal is compared as {field: message} as each door shows it: the API's error `loc`
(or a problem's `field`), the admin's message above the form, the CLI's one `error:` line.
A refusal that names no field (a permission) is keyed "-". Trailing full stops are
ignored: the CLI drops them.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import Result

from app.models import ApiToken, User, user_roles
from tests.admin.admin_world import page_token
from tests.api.order_helpers import caller
from tests.auth_helpers import admin_login, client_for
from tests.cli.helpers import STRONG_PASSWORD, in_database, invoke
from tests.contract.test_doors_agree import (  # noqa: F401 (`doors` is a fixture)
    Doors,
    Outcome,
    Refused,
    Stored,
    doors,
    expected_outcome,
)
from tests.factories import make_user

USERS = "/api/v1/users"
TOKENS = "/api/v1/me/tokens"
USER_FIELDS = ("email", "full_name", "is_active", "roles")
TOKEN_FIELDS = ("name", "scopes", "expires_days")
# The message above an admin form (sqladmin's) or on the account page (a notice).
ALERT = re.compile(r'<div class="alert alert-danger[^"]*" role="alert">(.*?)</div>', re.S)
FIELD = re.compile(r"[a-z_]+(?:\.\w+)*")
NEXT_FIELD = re.compile(r"; (?=[a-z_]+(?:\.\w+)*: )")
TAKEN = "door.taken@example.com"

# (what is typed, the stored row or the refused field)
USER_CREATES: dict[str, tuple[dict[str, Any], dict[str, Any] | str]] = {
    "valid, padded and capitalised email, roles out of order": (
        {
            "email": "  Door.User@EXAMPLE.com ",
            "full_name": " Door User ",
            "password": STRONG_PASSWORD,
            "roles": ["viewer", "clerk", "viewer"],
        },
        {
            "email": "Door.User@example.com",
            "full_name": "Door User",
            "is_active": True,
            "roles": ["clerk", "viewer"],
        },
    ),
    "email without a domain": (
        {"email": "door@", "password": STRONG_PASSWORD, "roles": ["viewer"]},
        "email",
    ),
    "short password": (
        {"email": "door.short@example.com", "password": "short-1", "roles": ["viewer"]},
        "password",
    ),
    "common password": (
        {"email": "door.common@example.com", "password": "password1234", "roles": ["viewer"]},
        "password",
    ),
    "password equal to the email": (
        {
            "email": "door.same@example.com",
            "password": "door.same@example.com",
            "roles": ["viewer"],
        },
        "password",
    ),
    "unknown role": (
        {"email": "door.role@example.com", "password": STRONG_PASSWORD, "roles": ["wizard"]},
        "roles",
    ),
    "email of an existing user, in another case": (
        {"email": "Door.TAKEN@Example.com", "password": STRONG_PASSWORD, "roles": ["viewer"]},
        "email",
    ),
}

# Edits of a fresh clerk, through the API and the admin's edit form.
USER_EDITS: dict[str, tuple[dict[str, Any], dict[str, Any] | str]] = {
    "new name and roles": (
        {"full_name": " Edited Name ", "roles": ["viewer", "clerk"]},
        {"full_name": "Edited Name", "roles": ["clerk", "viewer"]},
    ),
    "capitalised email domain": (
        {"email": "Edit.Me@EXAMPLE.org"},
        {"email": "Edit.Me@example.org"},
    ),
    "deactivated": ({"is_active": False}, {"is_active": False}),
    "email without an @": ({"email": "edit.example.org"}, "email"),
    "unknown role": ({"roles": ["clerk", "wizard"]}, "roles"),
    "email of another user": ({"email": TAKEN.upper()}, "email"),
}

# A token for a clerk (who does not hold users:manage).
TOKEN_CREATES: dict[str, tuple[dict[str, Any], dict[str, Any] | str]] = {
    "valid, padded name, scopes repeated and out of order": (
        {
            "name": "  nightly export ",
            "scopes": ["orders:read", "customers:read", "orders:read"],
            "expires_days": 90,
        },
        {"name": "nightly export", "scopes": ["customers:read", "orders:read"], "expires_days": 90},
    ),
    "no scopes, no expiry": (
        {"name": "everything"},
        {"name": "everything", "scopes": [], "expires_days": None},
    ),
    "blank name": ({"name": "   ", "scopes": ["orders:read"]}, "name"),
    "unknown scope": ({"name": "thief", "scopes": ["orders:steal"]}, "scopes"),
    "scope beyond the owner's": ({"name": "climber", "scopes": ["users:manage"]}, "-"),
    "expires in 0 days": ({"name": "brief", "expires_days": 0}, "expires_days"),
    "expires in 3651 days": ({"name": "eternal", "expires_days": 3651}, "expires_days"),
}


# --- reading what a door did --------------------------------------------------------------


def _refusal(text: str) -> Refused:
    """`field: message; …` as {field: message}; a message that names no field is "-"."""
    messages: dict[str, str] = {}
    # "; " also occurs inside a message ("too common; choose another"): a new part starts
    # only where a field's name follows.
    for part in NEXT_FIELD.split(text.strip()):
        field, sep, message = part.partition(": ")
        if not sep or not FIELD.fullmatch(field):
            return Refused({"-": text.strip().rstrip(".")})
        messages[field.split(".")[0]] = message.rstrip(".")
    return Refused(messages)


def refused_by_api(response: httpx.Response) -> Refused:
    assert response.status_code in (403, 409, 422), response.text
    body = response.json()
    if response.status_code == 422:
        return Refused({str(e["loc"][1]): e["message"].rstrip(".") for e in body["errors"]})
    return Refused({body.get("field") or "-": body["detail"].rstrip(".")})


def refused_by_admin(response: httpx.Response) -> Refused:
    assert response.status_code == 400, response.text
    alerts = ALERT.findall(response.text)
    assert alerts, "no message above the form (a form error instead of the service's?)"
    return _refusal(html.unescape(alerts[0]))


def refused_by_cli(result: Result) -> Refused:
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: "), line
    return _refusal(line.removeprefix("error: "))


def conflict_named(outcome: Outcome, field: str) -> Outcome:
    """A duplicate is a 409 naming its field at the API; the admin and the CLI show its
    message only, in words ("A user with this email…"): keyed by the field it names."""
    if isinstance(outcome, Refused) and list(outcome.messages) == ["-"]:
        message = outcome.messages["-"]
        if f" {field} " in message and "already exists" in message:
            return Refused({field: message})
    return outcome


def as_user(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "roles": sorted(role.name for role in user.roles),
    }


def as_token(token: ApiToken) -> dict[str, Any]:
    lifetime = None
    if token.expires_at is not None:
        lifetime = round((token.expires_at - token.created_at).total_seconds() / 86400)
    return {"name": token.name, "scopes": list(token.scopes), "expires_days": lifetime}


async def users_in(session: AsyncSession) -> list[User]:
    statement = select(User).order_by(User.id).execution_options(populate_existing=True)
    return list((await session.execute(statement)).scalars())


async def tokens_of(session: AsyncSession, owner_id: int) -> list[ApiToken]:
    statement = (
        select(ApiToken)
        .where(ApiToken.user_id == owner_id)
        .order_by(ApiToken.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(statement)).scalars())


async def remove_user(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))


# --- user creates ---------------------------------------------------------------------------


async def user_created(
    doors: Doors,  # noqa: F811
    send: Callable[[], Awaitable[httpx.Response]],
    refused: Callable[[httpx.Response], Refused],
    success: int,
) -> Outcome:
    """What one door did with a create: the new user (then removed, for the next door), or
    the refusal, with nothing stored."""
    before = [user.id for user in await users_in(doors.session)]
    response = await send()
    after = await users_in(doors.session)
    if response.status_code != success:
        assert [user.id for user in after] == before, "refused, yet something was stored"
        return conflict_named(refused(response), "email")
    assert len(after) == len(before) + 1, response.text
    new = after[-1]
    values = as_user(new)
    await remove_user(doors.session, new.id)
    return Stored(values)


def create_user_with_the_cli(database_url: str, typed: dict[str, Any]) -> Result:
    args = ["create-user", "--email", typed["email"], "--password-stdin"]
    if "full_name" in typed:
        args += ["--name", typed["full_name"]]
    for role in typed["roles"]:
        args += ["--role", role]
    return invoke(database_url, *args, input=typed["password"] + "\n")


async def user_created_by_the_cli(database_url: str, typed: dict[str, Any]) -> Outcome:
    """`create-user` on its own database, where TAKEN exists already."""
    taken = {"email": TAKEN, "password": STRONG_PASSWORD, "roles": ["viewer"]}
    first = await asyncio.to_thread(create_user_with_the_cli, database_url, taken)
    assert first.exit_code == 0, first.output
    result = await asyncio.to_thread(create_user_with_the_cli, database_url, typed)

    async def stored(session: AsyncSession) -> list[dict[str, Any]]:
        return [as_user(user) for user in await users_in(session) if user.email != TAKEN]

    rows = await asyncio.to_thread(in_database, database_url, stored)
    if result.exit_code != 0:
        assert rows == [], "refused, yet something was stored"
        return conflict_named(refused_by_cli(result), "email")
    assert len(rows) == 1, result.output
    return Stored(rows[0])


@pytest.mark.parametrize("case", list(USER_CREATES))
async def test_a_new_user_gets_one_answer_from_every_door(
    doors: Doors,  # noqa: F811
    migrated_url: str,
    case: str,
) -> None:
    typed, expected = USER_CREATES[case]
    await make_user(doors.session, role="viewer", email=TAKEN)
    outcomes = {
        "api": await user_created(
            doors,
            lambda: doors.client.post(USERS, json=typed, headers=doors.staff.headers),
            refused_by_api,
            201,
        ),
        # The form as a browser posts it: the name box is sent empty when left so, ticked
        # roles as one field repeated.
        "admin": await user_created(
            doors,
            lambda: doors.admin_post("/admin/user/create", {"full_name": "", **typed}),
            refused_by_admin,
            302,
        ),
        "cli": await user_created_by_the_cli(migrated_url, typed),
    }

    expected_outcome(outcomes, expected)


# --- user edits -----------------------------------------------------------------------------


def user_form(user: User) -> dict[str, Any]:
    """The edit form as the browser posts it: the user's values, and the version."""
    form: dict[str, Any] = {
        "email": user.email,
        "full_name": user.full_name,
        "roles": sorted(role.name for role in user.roles),
        "version": str(user.version),
    }
    if user.is_active:
        form["is_active"] = "y"
    return form


def as_edit_form(user: User, typed: dict[str, Any]) -> dict[str, Any]:
    form = {**user_form(user), **{k: v for k, v in typed.items() if k != "is_active"}}
    if typed.get("is_active") is False:
        form.pop("is_active", None)
    return form


async def user_edited(
    doors: Doors,  # noqa: F811
    send: Callable[[User], Awaitable[httpx.Response]],
    refused: Callable[[httpx.Response], Refused],
) -> Outcome:
    """What one door did with an edit of a fresh clerk: the changed fields, or the refusal
    (the user unchanged)."""
    # What the previous door renamed its clerk to is free again.
    for earlier in await users_in(doors.session):
        if earlier.email.lower() == "edit.me@example.org":
            await remove_user(doors.session, earlier.id)
    user = await make_user(doors.session, role="clerk", full_name="Clerk")
    before = as_user(user)
    response = await send(user)
    [user] = [u for u in await users_in(doors.session) if u.id == user.id]
    after = as_user(user)
    if response.status_code not in (200, 302):
        assert after == before, "refused, yet the user changed"
        return conflict_named(refused(response), "email")
    return Stored({name: value for name, value in after.items() if before[name] != value})


@pytest.mark.parametrize("case", list(USER_EDITS))
async def test_a_user_edit_gets_one_answer_from_the_api_and_the_admin(
    doors: Doors,  # noqa: F811
    case: str,
) -> None:
    typed, expected = USER_EDITS[case]
    await make_user(doors.session, role="viewer", email=TAKEN)

    def patch(user: User) -> Awaitable[httpx.Response]:
        headers = {**doors.staff.headers, "If-Match": f'"{user.version}"'}
        return doors.client.patch(f"{USERS}/{user.id}", json=typed, headers=headers)

    def post_form(user: User) -> Awaitable[httpx.Response]:
        return doors.admin_post(f"/admin/user/edit/{user.id}", as_edit_form(user, typed))

    outcomes = {
        "api": await user_edited(doors, patch, refused_by_api),
        "admin": await user_edited(doors, post_form, refused_by_admin),
    }

    expected_outcome(outcomes, expected)


async def test_a_user_edit_from_a_stale_version_is_refused_by_the_api_and_the_admin(
    doors: Doors,  # noqa: F811
) -> None:
    user = await make_user(doors.session, role="clerk", full_name="Clerk")
    read = user_form(user)  # what both callers read, at version 1
    url = f"{USERS}/{user.id}"
    # Someone else's change lands first.
    other = await doors.client.patch(url, json={"full_name": "Theirs"}, headers=doors.staff.headers)
    assert other.status_code == 200, other.text

    api = await doors.client.patch(
        url,
        json={"roles": ["viewer"]},
        headers={**doors.staff.headers, "If-Match": f'"{read["version"]}"'},
    )
    admin = await doors.admin_post(
        f"/admin/user/edit/{user.id}", {**read, "roles": ["viewer"], "full_name": "Mine"}
    )

    assert api.status_code == 412, api.text
    assert api.json()["type"] == "/problems/precondition-failed"
    assert admin.status_code == 400, admin.text
    assert "Someone else changed this row" in admin.text
    [user] = [u for u in await users_in(doors.session) if u.id == user.id]
    assert (user.full_name, user.version) == ("Theirs", 2)
    assert [role.name for role in user.roles] == ["clerk"]


# --- personal tokens ------------------------------------------------------------------------


async def token_created(
    session: AsyncSession,
    owner_id: int,
    send: Callable[[], Awaitable[httpx.Response]],
    refused: Callable[[httpx.Response], Refused],
    success: int,
) -> Outcome:
    """What one door did with a token: the new row (then revoked and renamed away), or the
    refusal, with nothing stored."""
    before = [token.id for token in await tokens_of(session, owner_id)]
    response = await send()
    after = await tokens_of(session, owner_id)
    if response.status_code != success:
        assert [token.id for token in after] == before, "refused, yet something was stored"
        return refused(response)
    assert len(after) == len(before) + 1, response.text
    new = after[-1]
    values = as_token(new)
    await session.execute(delete(ApiToken).where(ApiToken.id == new.id))
    return Stored(values)


def as_account_form(typed: dict[str, Any]) -> dict[str, Any]:
    """The account page's token form as a browser posts it (the expiry box as text)."""
    days = typed.get("expires_days")
    return {
        "op": "create-token",
        "name": typed["name"],
        "scopes": typed.get("scopes", []),
        "expires_days": "" if days is None else str(days),
    }


def create_token_with_the_cli(database_url: str, owner: str, typed: dict[str, Any]) -> Result:
    args = ["create-token", "--email", owner, "--name", typed["name"]]
    if typed.get("scopes"):
        args += ["--scopes", ",".join(typed["scopes"])]
    if typed.get("expires_days") is not None:
        args += ["--expires-days", str(typed["expires_days"])]
    return invoke(database_url, *args)


async def token_created_by_the_cli(database_url: str, typed: dict[str, Any]) -> Outcome:
    """`create-token` on its own database, for a clerk made with `create-user`."""
    owner = {"email": "door.clerk@example.com", "password": STRONG_PASSWORD, "roles": ["clerk"]}
    made = await asyncio.to_thread(create_user_with_the_cli, database_url, owner)
    assert made.exit_code == 0, made.output
    result = await asyncio.to_thread(create_token_with_the_cli, database_url, owner["email"], typed)

    async def stored(session: AsyncSession) -> list[dict[str, Any]]:
        return [as_token(token) for token in await session.scalars(select(ApiToken))]

    rows = await asyncio.to_thread(in_database, database_url, stored)
    if result.exit_code != 0:
        assert rows == [], "refused, yet something was stored"
        return refused_by_cli(result)
    assert len(rows) == 1, result.output
    assert len(result.stdout.split()) == 1, result.output  # only the token, for `$(…)`
    return Stored(rows[0])


@pytest.mark.parametrize("case", list(TOKEN_CREATES))
async def test_a_new_token_gets_one_answer_from_every_door(
    doors: Doors,  # noqa: F811
    migrated_url: str,
    case: str,
) -> None:
    typed, expected = TOKEN_CREATES[case]
    clerk = await caller(doors.session, "clerk")
    async with client_for(doors.app) as browser:
        assert (await admin_login(browser, clerk.user.email)).status_code == 302

        async def post_account() -> httpx.Response:
            form = {**as_account_form(typed), "csrf_token": await page_token(browser)}
            return await browser.post("/admin/account", data=form)

        outcomes = {
            "api": await token_created(
                doors.session,
                clerk.user.id,
                lambda: doors.client.post(TOKENS, json=typed, headers=clerk.headers),
                refused_by_api,
                201,
            ),
            "admin": await token_created(
                doors.session, clerk.user.id, post_account, refused_by_admin, 200
            ),
            "cli": await token_created_by_the_cli(migrated_url, typed),
        }

    expected_outcome(outcomes, expected)


def test_every_case_names_a_field_its_doors_know() -> None:
    # A typo in the table would make a case pass for the wrong reason.
    for cases, known in (
        (USER_CREATES, (*USER_FIELDS, "password")),
        (USER_EDITS, USER_FIELDS),
        (TOKEN_CREATES, (*TOKEN_FIELDS, "-")),
    ):
        for typed, expected in cases.values():
            assert set(typed) <= set(known)
            assert expected in known if isinstance(expected, str) else set(expected) <= set(known)
