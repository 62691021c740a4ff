"""Role rules: unique names, registry permissions, built-ins never renamed or deleted."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Integer, String, column, func, select, values
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import ceilings
from app.auth.principal import Principal
from app.errors import Conflict, NotFound, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import Role, user_roles
from app.permissions import PERMISSIONS

ROLE_FIELDS = ["name", "description", "permissions", "is_builtin"]
# The built-in role that always holds every permission (SPEC §14).
ALL_PERMISSIONS_ROLE = "admin"

LIST_SPEC = ListSpec(
    model=Role,
    sortable=("id", "name", "created_at", "updated_at"),
    default_sort="name",
    searchable=("name", "description"),
    exact=("name", "is_builtin"),
    ranges=("id", "created_at", "updated_at"),
)
# The permission registry as a VALUES list: it pages, sorts and searches like any table
# (one implementation of the list rules), and `id` is a name's place in the registry.
PERMISSION_ROWS = (
    values(
        column("id", Integer),
        column("name", String),
        column("description", String),
        name="permissions",
        literal_binds=True,
    )
    .data([(i, name, text) for i, (name, text) in enumerate(PERMISSIONS.items(), 1)])
    .cte("permissions")
)
PERMISSION_SPEC = ListSpec(
    model=PERMISSION_ROWS,
    sortable=("name",),
    default_sort="name",
    searchable=("name", "description"),
)


def _checked_permissions(permissions: Sequence[str]) -> list[str]:
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown:
        raise ValidationFailed(
            f"Unknown permission(s): {', '.join(unknown)}.",
            errors=[
                {"loc": ["body", "permissions"], "message": "unknown permission", "type": "enum"}
            ],
        )
    return sorted(set(permissions))


def _checked_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(
            "A role name has 1 to 64 characters.",
            errors=[{"loc": ["body", "name"], "message": "1 to 64 characters", "type": "value"}],
        )
    return name


async def _ensure_name_free(session: AsyncSession, name: str, exclude_id: int | None) -> None:
    statement = select(Role.id).where(func.lower(Role.name) == name.lower())
    existing = (await session.execute(statement)).scalar_one_or_none()
    if existing is not None and existing != exclude_id:
        raise Conflict("A role with this name already exists.", field="name")


async def get_role(session: AsyncSession, role_id: int) -> Role:
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound("No such role.")
    return role


async def create_role(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str = "",
    permissions: Sequence[str] = (),
) -> Role:
    """A new custom role (audited as role.created)."""
    name = _checked_name(name)
    checked = _checked_permissions(permissions)
    ceilings.ensure_holds(principal, checked, "grant these permissions")
    await _ensure_name_free(session, name, None)
    role = Role(
        name=name,
        description=description.strip()[:255],
        permissions=checked,
        is_builtin=False,
    )
    session.add(role)
    await session.flush()
    audit.record(
        session,
        principal,
        "role.created",
        resource_type="role",
        resource_id=role.id,
        changes=audit.diff(None, audit.snapshot(role, ROLE_FIELDS)),
    )
    return role


async def update_role(
    session: AsyncSession,
    principal: Principal,
    role: Role,
    *,
    name: str | None = None,
    description: str | None = None,
    permissions: Sequence[str] | None = None,
) -> Role:
    """Edit a role; a built-in role keeps its name. Members' access changes at once.

    Changing permissions needs holding every one added or removed; the admin role's are
    fixed; no change may leave nobody able to manage users and roles.
    """
    checked = None if permissions is None else _checked_permissions(permissions)
    if checked is not None and checked != sorted(role.permissions):
        if role.is_builtin and role.name == ALL_PERMISSIONS_ROLE:
            raise Conflict("The admin role always has every permission; it cannot be edited.")
        changed = set(checked) ^ set(role.permissions)
        ceilings.ensure_holds(principal, changed, "grant or withdraw these permissions")
        await ceilings.lock_staff_access(session)
    before = audit.snapshot(role, ROLE_FIELDS)
    if name is not None:
        name = _checked_name(name)
        if role.is_builtin and name != role.name:
            raise Conflict("Built-in roles cannot be renamed.", field="name")
        await _ensure_name_free(session, name, role.id)
        role.name = name
    if description is not None:
        role.description = description.strip()[:255]
    if checked is not None and checked != sorted(role.permissions):
        role.permissions = checked
        await ceilings.ensure_staff_can_be_managed(session)
    changes = audit.diff(before, audit.snapshot(role, ROLE_FIELDS))
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "role.updated",
            resource_type="role",
            resource_id=role.id,
            changes=changes,
        )
    return role


async def delete_role(session: AsyncSession, principal: Principal, role: Role) -> None:
    """Delete a custom role that no user holds (409 otherwise)."""
    if role.is_builtin:
        raise Conflict("Built-in roles cannot be deleted.")
    holders = (
        await session.execute(
            select(func.count()).select_from(user_roles).where(user_roles.c.role_id == role.id)
        )
    ).scalar_one()
    if holders:
        raise Conflict(f"The role is held by {holders} user(s); remove it from them first.")
    before = audit.snapshot(role, ROLE_FIELDS)
    await session.delete(role)
    await session.flush()
    audit.record(
        session,
        principal,
        "role.deleted",
        resource_type="role",
        resource_id=role.id,
        changes=audit.diff(before, None),
    )
