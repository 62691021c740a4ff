"""Password login with per-account lockout; the same rules for the admin form and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.passwords import DUMMY_HASH, MAX_LENGTH, verify_password
from app.auth.principal import Principal
from app.models import User
from app.models.base import utcnow
from app.ratelimit import RateLimiter, RateLimitResult
from app.users import repository as users_repository

LOCKOUT_THRESHOLD = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_DURATION = timedelta(minutes=15)
# Shown for every refusal: wrong password, unknown email, locked or inactive account alike.
GENERIC_LOGIN_ERROR = "Invalid email or password."


@dataclass(frozen=True)
class LoginResult:
    """A login's outcome; `user` is set only on success."""

    user: User | None
    reason: str  # "ok", "bad_credentials", "locked", "inactive"

    @property
    def ok(self) -> bool:
        return self.user is not None


async def login_with_password(
    session: AsyncSession, anonymous: Principal, email: str, password: str
) -> LoginResult:
    """Check credentials, keep the lockout counters and audit the attempt.

    The caller must commit even when the result is a failure: the failure count and
    the audit row are the point. Every path verifies one argon2 hash, so timing does
    not tell an unknown email from a wrong password.
    """
    email = email.strip()[:320]
    password = password[:MAX_LENGTH]
    # Locked: concurrent attempts on one account queue here. Unlocked, they raced on the
    # user's version and all but one failed with a 409, uncounted and unaudited, so ten
    # parallel guesses a minute counted as one or two and never reached the lockout.
    user = await users_repository.get_by_email(session, email, lock=True) if email else None
    now = utcnow()
    if user is None:
        await verify_password(password, DUMMY_HASH)
        _audit_failure(session, anonymous, None, email, "unknown_account")
        return LoginResult(None, "bad_credentials")
    if user.locked_until is not None and user.locked_until > now:
        await verify_password(password, DUMMY_HASH)
        _audit_failure(session, anonymous, user, email, "locked")
        return LoginResult(None, "locked")
    matches, upgraded_hash = await verify_password(password, user.password_hash)
    if not matches:
        _count_failure(session, anonymous, user)
        _audit_failure(session, anonymous, user, email, "bad_password")
        return LoginResult(None, "bad_credentials")
    if not user.is_active:
        _audit_failure(session, anonymous, user, email, "inactive")
        return LoginResult(None, "inactive")
    if upgraded_hash:
        # bcrypt (or weaker argon2 parameters) verified: store the argon2id hash now.
        user.password_hash = upgraded_hash
    user.failed_login_count = 0
    user.last_failed_login_at = None
    user.locked_until = None
    user.last_login_at = now
    audit.record(
        session,
        anonymous,
        "login.succeeded",
        resource_type="user",
        resource_id=user.id,
        actor_user_id=user.id,
        actor_email=user.email,
        changes={"password_hash": [audit.REDACTED, audit.REDACTED]} if upgraded_hash else None,
    )
    return LoginResult(user, "ok")


def _count_failure(session: AsyncSession, anonymous: Principal, user: User) -> None:
    now = utcnow()
    run_started = user.last_failed_login_at
    if run_started is None or now - run_started > LOCKOUT_WINDOW:
        user.failed_login_count = 0
        user.last_failed_login_at = now
    user.failed_login_count += 1
    if user.failed_login_count >= LOCKOUT_THRESHOLD:
        user.locked_until = now + LOCKOUT_DURATION
        user.failed_login_count = 0
        user.last_failed_login_at = None
        audit.record(
            session,
            anonymous,
            "user.locked",
            resource_type="user",
            resource_id=user.id,
            actor_user_id=user.id,
            actor_email=user.email,
            changes={"locked_until": [None, user.locked_until]},
        )


def _audit_failure(
    session: AsyncSession, anonymous: Principal, user: User | None, email: str, reason: str
) -> None:
    audit.record(
        session,
        anonymous,
        "login.failed",
        resource_type="user",
        resource_id=user.id if user else None,
        actor_user_id=user.id if user else None,
        actor_email=email or None,
        changes={"reason": [None, reason]},
    )


async def login_allowed(
    limiter: RateLimiter, rate: str, ip: str | None, email: str
) -> RateLimitResult:
    """Count a login attempt per client IP and per account; refused when either is spent."""
    by_ip = await limiter.hit(rate, "login-ip", ip or "unknown")
    by_account = await limiter.hit(rate, "login-account", email.strip().lower()[:320])
    return by_ip if not by_ip.allowed or by_account.allowed else by_account
