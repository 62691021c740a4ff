"""User rules: who may exist, with which password and roles; every change audited."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import ceilings, login
from app.auth import repository as auth_repository
from app.auth.login import LoginThrottle
from app.auth.passwords import WeakPassword, check_password_rules, hash_password
from app.auth.principal import Principal
from app.errors import Conflict, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import Role, User
from app.models.base import utcnow
from app.permissions import permissions_of
from app.users import repository

LIST_SPEC = ListSpec(
    model=User,
    sortable=("id", "email", "full_name", "last_login_at", "created_at"),
    default_sort="email",
    searchable=("email", "full_name"),
    exact=("email", "is_active"),
    ranges=("id", "created_at", "last_login_at"),
)


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
    ceilings.ensure_holds(principal, _permissions(roles), "give these roles")
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


def _permissions(roles: Sequence[Role]) -> frozenset[str]:
    return permissions_of(role.permissions for role in roles)


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
    throttle: LoginThrottle | None = None,
    keep_session_id: int | None = None,
) -> None:
    """Set a new password (the current one is required for one's own); ends other sessions.

    Checking the current password is a login attempt (SPEC §14): it needs a full
    credential (no scoped token), is rate limited by `throttle` like logins, and a wrong
    one counts toward the lockout.
    """
    ceilings.ensure_may_manage(principal, user)
    if current_password is not None:
        ceilings.ensure_full_credential(principal, "change a password")
        if throttle is not None:
            await throttle.check(principal.meta.ip, user.email)
        await login.check_current_password(session, principal, user, current_password)
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


async def _switch_off(session: AsyncSession, user: User) -> None:
    """Deactivate: every session and token, personal ones included, is revoked for good,
    so reactivating the user later brings none of them back."""
    user.is_active = False
    await rotate_security_stamp(session, user)
    await auth_repository.revoke_user_api_tokens(session, user.id, utcnow())


async def deactivate_user(session: AsyncSession, principal: Principal, user: User) -> User:
    """Switch a user off: sessions and tokens stop working at once (audited)."""
    ceilings.ensure_may_manage(principal, user)
    if user.is_active:
        await ceilings.lock_staff_access(session)
        await _switch_off(session, user)
        await ceilings.ensure_staff_can_be_managed(session)
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
    ceilings.ensure_may_manage(principal, user)
    before = audit.snapshot(user, ["email", "full_name", "is_active"])
    before_roles = sorted(role.name for role in user.roles)
    may_remove_access = role_names is not None or is_active is False
    if may_remove_access:
        await ceilings.lock_staff_access(session)
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
            kept = {role.id for role in roles} & {role.id for role in user.roles}
            changed = [role for role in [*roles, *user.roles] if role.id not in kept]
            ceilings.ensure_holds(principal, _permissions(changed), "give or take these roles")
            user.roles = roles
            # A collection change alone issues no UPDATE of the row, so the version (the
            # ETag) would not move and a stale If-Match could overwrite it unnoticed.
            user.updated_at = utcnow()
    if is_active is not None and is_active != user.is_active:
        if is_active:
            user.is_active = True
        else:
            await _switch_off(session, user)
    if may_remove_access:
        await ceilings.ensure_staff_can_be_managed(session)
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
    ceilings.ensure_may_manage(principal, user)
    await rotate_security_stamp(session, user)
    audit.record(
        session, principal, "user.logged_out_everywhere", resource_type="user", resource_id=user.id
    )
