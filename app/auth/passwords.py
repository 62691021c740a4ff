"""Password hashing (argon2id via passlib, bcrypt upgraded on login) and the password rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

from passlib.context import CryptContext

MIN_LENGTH = 12
MAX_LENGTH = 1024

# OWASP's argon2id profile: 19 MiB, 2 passes, 1 lane — cheap enough that a burst of
# logins cannot exhaust a 512 MB dyno, slow enough to make offline guessing costly.
password_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated=["bcrypt"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__rounds=2,
    argon2__parallelism=1,
)

_COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
_common_passwords: frozenset[str] | None = None


class WeakPassword(ValueError):
    """A password that breaks a rule; the message says which, for the user."""


def _common() -> frozenset[str]:
    global _common_passwords
    if _common_passwords is None:
        lines = _COMMON_PASSWORDS_FILE.read_text().splitlines()
        _common_passwords = frozenset(line.strip().lower() for line in lines if line.strip())
    return _common_passwords


def check_password_rules(password: str, email: str) -> None:
    """Raise WeakPassword unless `password` is acceptable for the account `email`."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 3 and local_part in password.lower():
        raise WeakPassword("password must not contain the email address's name part")
    if password.lower() in _common():
        raise WeakPassword("password is too common; choose another")


def hash_password_sync(password: str) -> str:
    return password_context.hash(password)


async def hash_password(password: str) -> str:
    """argon2id hash, computed in a thread so the event loop keeps serving."""
    return await asyncio.to_thread(password_context.hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one should be upgraded, e.g. from bcrypt)."""
    return await asyncio.to_thread(password_context.verify_and_update, password, password_hash)


# Verified against when the email is unknown, so that path costs the same as a wrong password.
DUMMY_HASH = hash_password_sync("backoffice-dummy-password-for-timing")
