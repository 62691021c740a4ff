"""Password hashing, the bcrypt upgrade at login, the password rules and equal-cost login (§5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import login as login_module
from app.auth.login import login_with_password
from app.auth.passwords import (
    DUMMY_HASH,
    MAX_LENGTH,
    MIN_LENGTH,
    WeakPassword,
    check_password_rules,
    hash_password,
    hash_password_sync,
    password_context,
    verify_password,
)
from app.auth.principal import Principal
from app.models import AuditEvent, User
from app.models.base import utcnow
from tests.factories import DEFAULT_PASSWORD, make_user

ARGON2ID_OWASP = "$argon2id$v=19$m=19456,t=2,p=1$"
EMAIL = "grace.hopper@example.com"
# Cheap bcrypt (4 rounds): the upgrade path is what is tested, not bcrypt's cost.
fast_bcrypt = password_context.handler("bcrypt").using(rounds=4)

VerifyFn = Callable[[str, str], Awaitable[tuple[bool, str | None]]]


def anonymous() -> Principal:
    return Principal.anonymous("api")


# --- hashing -------------------------------------------------------------------------------


async def test_new_hashes_are_argon2id_with_the_owasp_parameters() -> None:
    hashed = await hash_password("a perfectly fine passphrase")

    assert hashed.startswith(ARGON2ID_OWASP)
    assert hash_password_sync("another fine passphrase").startswith(ARGON2ID_OWASP)


async def test_the_dummy_hash_has_the_same_cost_as_a_real_one() -> None:
    assert DUMMY_HASH.startswith(ARGON2ID_OWASP)


async def test_a_hash_verifies_only_its_own_password() -> None:
    hashed = await hash_password("a perfectly fine passphrase")

    assert await verify_password("a perfectly fine passphrase", hashed) == (True, None)
    assert (await verify_password("a perfectly fine passphrasE", hashed))[0] is False


async def test_a_bcrypt_hash_verifies_and_asks_for_an_argon2id_upgrade() -> None:
    legacy = fast_bcrypt.hash("a perfectly fine passphrase")

    matches, upgraded = await verify_password("a perfectly fine passphrase", legacy)

    assert matches is True
    assert upgraded is not None and upgraded.startswith(ARGON2ID_OWASP)


async def test_bcrypt_hash_is_replaced_by_argon2id_at_the_next_successful_login(
    session: AsyncSession,
) -> None:
    user = await make_user(session, email=EMAIL)
    user.password_hash = fast_bcrypt.hash(DEFAULT_PASSWORD)
    await session.flush()

    result = await login_with_password(session, anonymous(), EMAIL, DEFAULT_PASSWORD)

    assert result.ok
    assert user.password_hash.startswith(ARGON2ID_OWASP)
    assert (await verify_password(DEFAULT_PASSWORD, user.password_hash))[0] is True


async def test_a_failed_login_leaves_a_bcrypt_hash_alone(session: AsyncSession) -> None:
    user = await make_user(session, email=EMAIL)
    legacy = fast_bcrypt.hash(DEFAULT_PASSWORD)
    user.password_hash = legacy
    await session.flush()

    result = await login_with_password(session, anonymous(), EMAIL, "not the password at all")

    assert not result.ok
    assert user.password_hash == legacy


async def test_the_hash_upgrade_is_audited_without_the_hash(session: AsyncSession) -> None:
    user = await make_user(session, email=EMAIL)
    user.password_hash = fast_bcrypt.hash(DEFAULT_PASSWORD)
    await session.flush()

    await login_with_password(session, anonymous(), EMAIL, DEFAULT_PASSWORD)
    await session.flush()

    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "login.succeeded"))
    ).scalar_one()
    assert event.changes == {"password_hash": ["[redacted]", "[redacted]"]}
    assert "$argon2" not in str(event.changes) and "$2b$" not in str(event.changes)


# --- rules ---------------------------------------------------------------------------------


def test_a_long_uncommon_password_is_accepted() -> None:
    check_password_rules("violet staircase under the moon", EMAIL)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("x7#kq" * 2 + "z", "at least"),  # 11 characters
        ("x" * (MAX_LENGTH + 1), "at most"),
        ("my name is grace.hopper, hi", "name part"),
        ("GRACE.HOPPER-is-my-password", "name part"),
        ("123456789012", "too common"),
        ("Administrator", "too common"),
    ],
    ids=[
        "too-short",
        "too-long",
        "contains-local-part",
        "local-part-any-case",
        "common",
        "common-any-case",
    ],
)
def test_a_password_breaking_a_rule_is_weak(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_password_rules(password, EMAIL)


def test_the_length_limits_are_inclusive() -> None:
    check_password_rules("q" * (MIN_LENGTH - 4) + "7#Zw", EMAIL)
    check_password_rules("q7#Zw" * (MAX_LENGTH // 5) + "q" * (MAX_LENGTH % 5), EMAIL)


# --- equal cost for unknown accounts -------------------------------------------------------


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hash `login_with_password` verifies against, in order."""
    calls: list[str] = []
    real: VerifyFn = login_module.verify_password

    async def counting(password: str, password_hash: str) -> tuple[bool, str | None]:
        calls.append(password_hash)
        return await real(password, password_hash)

    monkeypatch.setattr(login_module, "verify_password", counting)
    return calls


async def test_an_unknown_email_is_verified_once_against_the_dummy_hash(
    session: AsyncSession, verify_calls: list[str]
) -> None:
    result = await login_with_password(session, anonymous(), "nobody@example.com", "guess-guess-1")

    assert not result.ok
    assert result.reason == "bad_credentials"
    assert verify_calls == [DUMMY_HASH]


async def test_a_wrong_password_is_verified_once_against_the_users_hash(
    session: AsyncSession, verify_calls: list[str]
) -> None:
    user = await make_user(session, email=EMAIL)

    result = await login_with_password(session, anonymous(), EMAIL, "guess-guess-1")

    assert result.reason == "bad_credentials"
    assert verify_calls == [user.password_hash]


async def test_unknown_email_and_wrong_password_cost_one_verification_each(
    session: AsyncSession, verify_calls: list[str]
) -> None:
    await make_user(session, email=EMAIL)

    await login_with_password(session, anonymous(), "nobody@example.com", "guess-guess-1")
    unknown_cost = len(verify_calls)
    await login_with_password(session, anonymous(), EMAIL, "guess-guess-1")
    wrong_cost = len(verify_calls) - unknown_cost

    assert unknown_cost == wrong_cost == 1


async def test_a_locked_account_still_costs_one_verification(
    session: AsyncSession, verify_calls: list[str]
) -> None:
    user = await make_user(session, email=EMAIL)
    user.locked_until = utcnow() + timedelta(minutes=10)
    await session.flush()

    result = await login_with_password(session, anonymous(), EMAIL, DEFAULT_PASSWORD)

    assert result.reason == "locked"
    assert len(verify_calls) == 1


async def test_an_inactive_user_with_the_right_password_is_refused(session: AsyncSession) -> None:
    await make_user(session, email=EMAIL, is_active=False)

    result = await login_with_password(session, anonymous(), EMAIL, DEFAULT_PASSWORD)

    assert not result.ok
    assert result.user is None


async def test_email_lookup_ignores_case_and_surrounding_space(session: AsyncSession) -> None:
    user = await make_user(session, email=EMAIL)

    result = await login_with_password(
        session, anonymous(), "  Grace.Hopper@EXAMPLE.com ", DEFAULT_PASSWORD
    )

    assert result.user is not None and result.user.id == user.id
    assert isinstance(result.user, User)
