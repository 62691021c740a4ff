"""User rules: who may exist, with which password and roles; every change audited."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import repository as auth_repository
from app.auth.passwords import WeakPassword, check_password_rules, hash_password, verify_password
from app.auth.principal import Principal
from app.errors import Conflict, ValidationFailed
from app.models import Role, User
from app.models.base import utcnow
from app.users import repository


def normalize_email(raw: str, *, field: str = "email") -> str:
    """A syntactically valid email with its domain lower-cased, or ValidationFailed."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "The email address is not valid.",
            errors=[{"loc": ["body", field], "message": str(exc), "type": "value_error.email"}],
        ) from None


def new_security_stamp() -> str:
    return secrets.token_hex(16)


def _check_password(password: str, email: str, *, field: str) -> None:
    try:
        check_password_rules(password, email)
    except WeakPassword as exc:
        raise ValidationFailed(
            "The password is too weak.",
            errors=[{"loc": ["body", field], "message": str(exc), "type": "weak_password"}],
        ) from None


async def _roles_named(session: AsyncSession, role_names: Sequence[str]) -> list[Role]:
    roles = await repository.get_roles_by_name(session, role_names)
    missing = sorted(set(role_names) - {role.name for role in roles})
    if missing:
        raise ValidationFailed(
            f"Unknown role(s): {', '.join(missing)}.",
            errors=[{"loc": ["body", "roles"], "message": "unknown role", "type": "unknown_role"}],
        )
    return roles


async def create_user(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    password: str,
    full_name: str = "",
    role_names: Sequence[str] = (),
) -> User:
    """Create a staff user with a checked password and existing roles (audited as user.created)."""
    email = normalize_email(email)
    _check_password(password, email, field="password")
    roles = await _roles_named(session, role_names)
    if await repository.get_by_email(session, email) is not None:
        raise Conflict("A user with this email already exists.", field="email")
    user = User(
        email=email,
        full_name=full_name.strip(),
        password_hash=await hash_password(password),
        security_stamp=new_security_stamp(),
        roles=list(roles),
    )
    session.add(user)
    await session.flush()
    changes = audit.diff(None, audit.snapshot(user, ["email", "full_name", "is_active"]))
    changes["roles"] = [None, sorted(role.name for role in roles)]
    changes["password_hash"] = [None, audit.REDACTED]
    audit.record(
        session,
        principal,
        "user.created",
        resource_type="user",
        resource_id=user.id,
        changes=changes,
    )
    return user


async def rotate_security_stamp(
    session: AsyncSession, user: User, *, keep_session_id: int | None = None
) -> None:
    """Kill every session, access token and refresh token issued before now.

    Access tokens die because they carry the old stamp; sessions and refresh tokens are
    revoked outright. `keep_session_id` spares the session that made the change.
    """
    now = utcnow()
    user.security_stamp = new_security_stamp()
    await auth_repository.revoke_user_staff_sessions(
        session, user.id, now, except_id=keep_session_id
    )
    await auth_repository.revoke_user_refresh_tokens(session, user.id, now)


async def change_password(
    session: AsyncSession,
    principal: Principal,
    user: User,
    *,
    current_password: str | None,
    new_password: str,
    keep_session_id: int | None = None,
) -> None:
    """Set a new password (the current one is required for one's own); ends other sessions."""
    if current_password is not None:
        matches, _ = await verify_password(current_password[:1024], user.password_hash)
        if not matches:
            raise ValidationFailed(
                "The current password is not correct.",
                errors=[
                    {
                        "loc": ["body", "current_password"],
                        "message": "incorrect",
                        "type": "invalid_password",
                    }
                ],
            )
    _check_password(new_password, user.email, field="new_password")
    user.password_hash = await hash_password(new_password)
    await rotate_security_stamp(session, user, keep_session_id=keep_session_id)
    audit.record(
        session,
        principal,
        "user.password_changed",
        resource_type="user",
        resource_id=user.id,
        changes={"password_hash": [audit.REDACTED, audit.REDACTED]},
    )


async def deactivate_user(session: AsyncSession, principal: Principal, user: User) -> User:
    """Switch a user off: sessions and tokens stop working at once (audited)."""
    if user.is_active:
        user.is_active = False
        await rotate_security_stamp(session, user)
        audit.record(
            session,
            principal,
            "user.deactivated",
            resource_type="user",
            resource_id=user.id,
            changes={"is_active": [True, False]},
        )
    return user


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user: User,
    *,
    email: str | None = None,
    full_name: str | None = None,
    is_active: bool | None = None,
    role_names: Sequence[str] | None = None,
) -> User:
    """Edit a user's profile, roles or active flag; deactivation kills their access."""
    before = audit.snapshot(user, ["email", "full_name", "is_active"])
    before_roles = sorted(role.name for role in user.roles)
    if email is not None:
        normalized = normalize_email(email)
        other = await repository.get_by_email(session, normalized)
        if other is not None and other.id != user.id:
            raise Conflict("A user with this email already exists.", field="email")
        user.email = normalized
    if full_name is not None:
        user.full_name = full_name.strip()
    if role_names is not None:
        roles = await _roles_named(session, role_names)
        if sorted(role.name for role in roles) != before_roles:
            user.roles = roles
            # A collection change alone issues no UPDATE of the row, so the version (the
            # ETag) would not move and a stale If-Match could overwrite it unnoticed.
            user.updated_at = utcnow()
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            await rotate_security_stamp(session, user)
    changes = audit.diff(before, audit.snapshot(user, ["email", "full_name", "is_active"]))
    after_roles = sorted(role.name for role in user.roles)
    if after_roles != before_roles:
        changes["roles"] = [before_roles, after_roles]
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "user.updated",
            resource_type="user",
            resource_id=user.id,
            changes=changes,
        )
    return user


async def log_out_everywhere(session: AsyncSession, principal: Principal, user: User) -> None:
    """End every session and OAuth token of `user` (audited)."""
    await rotate_security_stamp(session, user)
    audit.record(
        session, principal, "user.logged_out_everywhere", resource_type="user", resource_id=user.id
    )
