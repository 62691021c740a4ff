"""Password login with per-account lockout; the same rules for the admin form and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.passwords import DUMMY_HASH, MAX_LENGTH, verify_password
from app.auth.principal import Principal
from app.errors import RateLimited, ValidationFailed
from app.infra.ratelimit import RateLimiter, RateLimitResult
from app.models import User
from app.models.base import utcnow
from app.text_rules import control_character_problem
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
    if control_character_problem(email) is not None:
        # No account is named with a control character (PostgreSQL cannot even compare or
        # store text holding a NUL): the generic refusal, at the same cost, unrecorded.
        await verify_password(password, DUMMY_HASH)
        return LoginResult(None, "bad_credentials")
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


class WrongCurrentPassword(ValidationFailed):
    """The current password given to change a password (or the account is locked).

    `keeps_changes`: the unit of work commits before this refusal is answered, so the
    failure count and its audit row stand (the lockout would never trigger otherwise).
    """

    keeps_changes = True

    def __init__(self) -> None:
        super().__init__(
            "The current password is not correct.",
            errors=[
                {"loc": ["body", "current_password"], "message": "incorrect", "type": "invalid"}
            ],
        )


async def check_current_password(
    session: AsyncSession, principal: Principal, user: User, password: str
) -> None:
    """Verify `password` as a login would, or raise WrongCurrentPassword.

    SPEC §14: the current password is not an oracle. A wrong one counts toward the
    lockout of SPEC §5 and is audited as `login.failed` in the request's channel; while
    the account is locked every answer is the same refusal.
    """
    # Locked like a login, so parallel guesses queue and each one is counted.
    await session.refresh(
        user,
        ["version", "failed_login_count", "last_failed_login_at", "locked_until", "password_hash"],
        with_for_update={"key_share": True},
    )
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        await verify_password(password[:MAX_LENGTH], DUMMY_HASH)
        _audit_failure(session, principal, user, user.email, "locked")
        raise WrongCurrentPassword()
    matches, _ = await verify_password(password[:MAX_LENGTH], user.password_hash)
    if not matches:
        _count_failure(session, principal, user)
        _audit_failure(session, principal, user, user.email, "bad_password")
        raise WrongCurrentPassword()


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


@dataclass(frozen=True)
class LoginThrottle:
    """RATE_LIMIT_LOGIN per client IP and per account, for anything that checks a password."""

    limiter: RateLimiter
    rate: str

    async def check(self, ip: str | None, email: str) -> None:
        """Count one attempt; RateLimited (429 with Retry-After) when it is over the limit."""
        result = await login_allowed(self.limiter, self.rate, ip, email)
        if not result.allowed:
            raise RateLimited(
                "Too many password attempts; wait and try again.",
                headers={"Retry-After": str(result.reset_after)},
            )
