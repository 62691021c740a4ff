"""No climbing (SPEC §14): grant only what you hold; never leave nobody able to manage staff.

The services for users, roles and tokens call these, so the API, the admin and the CLI
share them. The CLI (and the system itself) is exempt from the ceilings: whoever runs it
already holds the database. The lock-out guard applies to every channel.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.errors import Conflict, PermissionDenied
from app.models import Role, User, user_roles
from app.permissions import permissions_of

OPERATOR_CHANNELS = frozenset({"cli", "system"})
# The pair that lets someone repair any other access problem through the product.
STAFF_MANAGEMENT = frozenset({"users:manage", "roles:manage"})


def ensure_holds(principal: Principal, permissions: Iterable[str], action: str) -> None:
    """PermissionDenied unless `principal` holds every one of `permissions`."""
    if principal.channel in OPERATOR_CHANNELS:
        return
    missing = sorted(set(permissions) - principal.permissions)
    if missing:
        raise PermissionDenied(
            f"You cannot {action}: it needs {', '.join(missing)}, which you do not hold."
        )


def ensure_full_credential(principal: Principal, action: str) -> None:
    """PermissionDenied for a scoped personal token: passwords and tokens need a full one.

    Full: an unscoped personal token, an OAuth access token, an admin session or the CLI.
    """
    if principal.auth_method == "personal_token" and principal.scopes:
        raise PermissionDenied(
            f"A scoped token cannot {action}; use an unscoped token, a password login or the admin."
        )


def ensure_may_manage(principal: Principal, user: User) -> None:
    """Managing a user (edit, deactivate, end sessions) needs every permission they hold."""
    if user.id == principal.user_id:
        return  # what one may change about oneself is checked by what is changed
    held = permissions_of(role.permissions for role in user.roles)
    ensure_holds(principal, held, "manage a user who holds permissions you do not")


async def lock_staff_access(session: AsyncSession) -> None:
    """Serialize changes that could take staff management away (roles rows, in id order).

    Taken first, before the change itself, by every write that may remove
    users:manage or roles:manage from someone: the one global lock order that keeps
    two admins demoting each other at once from both succeeding, without deadlocks.
    FOR NO KEY UPDATE does not block foreign-key checks of new user_roles rows.
    """
    statement = select(Role.id).order_by(Role.id).with_for_update(key_share=True)
    await session.execute(statement)


async def ensure_staff_can_be_managed(session: AsyncSession) -> None:
    """Conflict if, after this change, no active user holds users:manage and roles:manage."""
    await session.flush()
    statement = (
        select(User.id, Role.permissions)
        .join(user_roles, user_roles.c.user_id == User.id)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(User.is_active.is_(True))
    )
    held: dict[int, set[str]] = {}
    for user_id, permissions in await session.execute(statement):
        held.setdefault(user_id, set()).update(permissions or ())
    if not any(permissions >= STAFF_MANAGEMENT for permissions in held.values()):
        raise Conflict(
            "This change would leave no active user who can manage users and roles; "
            "give someone else those permissions first."
        )
