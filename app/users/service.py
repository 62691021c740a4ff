"""User rules: who may exist, with which password and roles; every change audited."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import ceilings, login
from app.auth import repository as auth_repository
from app.auth.login import LoginThrottle
from app.auth.passwords import WeakPassword, check_password_rules, hash_password
from app.auth.principal import Principal
from app.commands import authorize, check_version, flush_versioned
from app.errors import Conflict, NotFound, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import Role, User
from app.models.base import utcnow
from app.permissions import permissions_of
from app.uniqueness import flush_or_conflict
from app.users import repository
from app.users.commands import ChangePassword, CreateUser, UpdateUser

# The email's unique index (PostgreSQL's name, SQLite's wording) → the field it guards.
UNIQUE = {"uq_users_email_lower": "email", "users.email": "email"}
LIST_SPEC = ListSpec(
    model=User,
    sortable=("id", "email", "full_name", "last_login_at", "created_at"),
    default_sort="email",
    searchable=("email", "full_name"),
    exact=("email", "is_active"),
    ranges=("id", "created_at", "last_login_at"),
)


def new_security_stamp() -> str:
    return secrets.token_hex(16)


def _refused(field: str, message: str, kind: str) -> ValidationFailed:
    """A rule the command could not check alone, broken: worded like a command's refusal
    (app/commands.py `build`), so every door names the field the same way."""
    return ValidationFailed(
        f"{field}: {message}",
        errors=[{"loc": ["body", field], "message": message, "type": kind}],
    )


def _check_password(password: str, email: str, *, field: str) -> None:
    try:
        check_password_rules(password, email)
    except WeakPassword as exc:
        raise _refused(field, str(exc), "weak_password") from None


async def _roles_named(session: AsyncSession, role_names: Sequence[str]) -> list[Role]:
    roles = await repository.get_roles_by_name(session, role_names)
    missing = sorted(set(role_names) - {role.name for role in roles})
    if missing:
        raise _refused("roles", f"unknown role(s): {', '.join(missing)}", "unknown_role")
    return roles


async def create_user(session: AsyncSession, principal: Principal, command: CreateUser) -> User:
    """Create a staff user with a checked password and existing roles (audited as user.created)."""
    authorize(principal, "users:manage")
    _check_password(command.password, command.email, field="password")
    roles = await _roles_named(session, command.roles)
    ceilings.ensure_holds(principal, _permissions(roles), "give these roles")
    await _ensure_email_free(session, command.email, None)
    user = User(
        email=command.email,
        full_name=command.full_name,
        password_hash=await hash_password(command.password),
        security_stamp=new_security_stamp(),
        roles=list(roles),
    )
    session.add(user)
    await flush_or_conflict(session, UNIQUE)
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


async def _ensure_email_free(session: AsyncSession, email: str, exclude_id: int | None) -> None:
    other = await repository.get_by_email(session, email)
    if other is not None and other.id != exclude_id:
        raise Conflict("A user with this email already exists.", field="email")


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The user with their roles, or NotFound."""
    user = await auth_repository.get_user_with_roles(session, user_id)
    if user is None:
        raise NotFound("No such user.")
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
    command: ChangePassword,
    *,
    throttle: LoginThrottle | None = None,
    keep_session_id: int | None = None,
) -> None:
    """Set a new password, given the current one; ends the user's other sessions.

    Checking the current password is a login attempt (SPEC §14): it needs a full
    credential (no scoped token), is rate limited by `throttle` like logins, and a wrong
    one counts toward the lockout.
    """
    ceilings.ensure_may_manage(principal, user)
    ceilings.ensure_full_credential(principal, "change a password")
    if throttle is not None:
        await throttle.check(principal.meta.ip, user.email)
    await login.check_current_password(session, principal, user, command.current_password)
    _check_password(command.new_password, user.email, field="new_password")
    user.password_hash = await hash_password(command.new_password)
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
    user_id: int,
    command: UpdateUser,
    *,
    expected_version: int | None,
) -> User:
    """Edit a user's profile, roles or active flag; deactivation kills their access."""
    user = await get_user(session, user_id)
    authorize(principal, "users:manage", user)
    ceilings.ensure_may_manage(principal, user)
    check_version(user, expected_version)
    values = command.changes()
    before = audit.snapshot(user, ["email", "full_name", "is_active"])
    before_roles = sorted(role.name for role in user.roles)
    may_remove_access = "roles" in values or values.get("is_active") is False
    if may_remove_access:
        await ceilings.lock_staff_access(session)
    if "email" in values:
        await _ensure_email_free(session, values["email"], user.id)
        user.email = values["email"]
    if "full_name" in values:
        user.full_name = values["full_name"]
    if "roles" in values and values["roles"] != before_roles:
        roles = await _roles_named(session, values["roles"])
        kept = {role.id for role in roles} & {role.id for role in user.roles}
        changed = [role for role in [*roles, *user.roles] if role.id not in kept]
        ceilings.ensure_holds(principal, _permissions(changed), "give or take these roles")
        user.roles = roles
        # A collection change alone issues no UPDATE of the row, so the version (the
        # ETag) would not move and a stale If-Match could overwrite it unnoticed.
        user.updated_at = utcnow()
    if values.get("is_active") is not None and values["is_active"] != user.is_active:
        if values["is_active"]:
            user.is_active = True
        else:
            await _switch_off(session, user)
    changes = audit.diff(before, audit.snapshot(user, ["email", "full_name", "is_active"]))
    after_roles = sorted(role.name for role in user.roles)
    if after_roles != before_roles:
        changes["roles"] = [before_roles, after_roles]
    if changes:
        await flush_versioned(session, UNIQUE)
        if may_remove_access:
            await ceilings.ensure_staff_can_be_managed(session)
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
