"""`backoffice create-user`: the user service from the command line, audited on channel `cli`."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import Result

from app.auth.passwords import verify_password
from app.models import AuditEvent, User
from tests.cli.helpers import STRONG_PASSWORD, in_database, invoke, lines


def create_user(url: str, email: str, *roles: str, password: str = STRONG_PASSWORD) -> Result:
    """`create-user --password-stdin` with `password` piped in."""
    role_args = [arg for role in roles for arg in ("--role", role)]
    args = ("create-user", "--email", email, *role_args, "--password-stdin")
    return invoke(url, *args, input=password + "\n")


def _verify(password: str, password_hash: str) -> bool:
    return asyncio.run(verify_password(password, password_hash))[0]


async def _users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.id)))


async def _user_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def _audit(session: AsyncSession) -> list[AuditEvent]:
    return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_create_user_stores_argon2id_hash_roles_and_a_cli_audit_row(migrated_url: str) -> None:
    result = invoke(
        migrated_url,
        *("create-user", "--email", "Ann@Example.COM", "--name", "Ann Lee"),
        *("--role", "manager", "--role", "viewer", "--password-stdin"),
        input=STRONG_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Ann@example.com" in result.stdout
    [user] = in_database(migrated_url, _users)
    assert (user.email, user.full_name) == ("Ann@example.com", "Ann Lee")
    assert sorted(role.name for role in user.roles) == ["manager", "viewer"]
    assert user.password_hash.startswith("$argon2id$")
    assert _verify(STRONG_PASSWORD, user.password_hash)
    [event] = in_database(migrated_url, _audit)
    assert (event.action, event.channel, event.resource_id) == ("user.created", "cli", str(user.id))
    assert event.actor_user_id is None
    assert event.changes["roles"] == [None, ["manager", "viewer"]]
    assert event.changes["password_hash"] == [None, "[redacted]"]
    assert STRONG_PASSWORD not in str(event.changes)


def test_password_from_stdin_keeps_inner_spaces_and_drops_the_line_break(migrated_url: str) -> None:
    password = "  two words and 42  "
    result = create_user(migrated_url, "ann@example.com", "viewer", password=password + "\r")
    assert result.exit_code == 0, result.output
    [user] = in_database(migrated_url, _users)
    assert _verify(password, user.password_hash)


def test_duplicate_email_in_another_case_exits_2_with_one_line(migrated_url: str) -> None:
    assert create_user(migrated_url, "ann@example.com", "viewer").exit_code == 0
    result = create_user(migrated_url, "ANN@example.com", "admin")
    assert result.exit_code == 2
    assert lines(result.stderr) == ["error: A user with this email already exists"]
    assert "Traceback" not in result.output
    assert in_database(migrated_url, _user_count) == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-1", "at least 12 characters"),
        ("ann-ann-ann-ann-1", "email address's name part"),
        ("password1234", "too common"),
        ("", "at least 12 characters"),
    ],
)
def test_weak_password_exits_2_and_creates_nothing(
    migrated_url: str, password: str, reason: str
) -> None:
    result = create_user(migrated_url, "ann@example.com", "viewer", password=password)
    assert result.exit_code == 2
    [line] = lines(result.stderr)
    assert line.startswith("error: password: ") and reason in line
    assert in_database(migrated_url, _user_count) == 0


def test_unknown_role_exits_2_and_creates_nothing(migrated_url: str) -> None:
    result = create_user(migrated_url, "ann@example.com", "viewer", "wizard")
    assert result.exit_code == 2
    assert lines(result.stderr) == ["error: roles: unknown role(s): wizard"]
    assert in_database(migrated_url, _user_count) == 0


def test_invalid_email_exits_2(migrated_url: str) -> None:
    result = create_user(migrated_url, "not-an-email", "viewer")
    assert result.exit_code == 2
    [line] = lines(result.stderr)
    assert line.startswith("error: email: value is not a valid email address")


def test_without_a_terminal_or_password_stdin_it_refuses(migrated_url: str) -> None:
    result = invoke(migrated_url, "create-user", "--email", "ann@example.com", "--role", "viewer")
    assert result.exit_code == 2
    [line] = lines(result.stderr)
    assert "--password-stdin" in line
    assert in_database(migrated_url, _user_count) == 0


def test_interactive_prompt_hides_and_confirms_the_password(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.ops.cli.stdin_is_interactive", lambda: True)
    result = invoke(
        migrated_url,
        *("create-user", "--email", "ann@example.com", "--role", "viewer"),
        input=f"{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    assert STRONG_PASSWORD not in result.output
    [user] = in_database(migrated_url, _users)
    assert _verify(STRONG_PASSWORD, user.password_hash)


def test_interactive_prompt_creates_nothing_when_confirmation_differs(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.ops.cli.stdin_is_interactive", lambda: True)
    result = invoke(
        migrated_url,
        *("create-user", "--email", "ann@example.com", "--role", "viewer"),
        input=f"{STRONG_PASSWORD}\nsomething-else-entirely\n",
    )
    assert result.exit_code != 0
    assert in_database(migrated_url, _user_count) == 0
