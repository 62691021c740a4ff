"""Role rules: unique names, registry permissions, built-ins never renamed or deleted."""

from __future__ import annotations

from sqlalchemy import Integer, String, column, func, select, values
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import ceilings
from app.auth.principal import Principal
from app.commands import authorize, check_version, flush_versioned
from app.errors import Conflict, NotFound
from app.lists.grammar import ListSpec
from app.models import Role, user_roles
from app.permissions import PERMISSIONS
from app.roles.commands import CreateRole, UpdateRole
from app.uniqueness import flush_or_conflict

ROLE_FIELDS = ["name", "description", "permissions", "is_builtin"]
# The name's unique constraint (PostgreSQL's name, SQLite's wording) → the field it guards.
UNIQUE = {"uq_roles_name": "name", "roles.name": "name"}
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


async def create_role(session: AsyncSession, principal: Principal, command: CreateRole) -> Role:
    """A new custom role (audited as role.created); granting needs holding every permission."""
    authorize(principal, "roles:manage")
    ceilings.ensure_holds(principal, command.permissions, "grant these permissions")
    await _ensure_name_free(session, command.name, None)
    role = Role(**command.model_dump(), is_builtin=False)
    session.add(role)
    await flush_or_conflict(session, UNIQUE)
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
    role_id: int,
    command: UpdateRole,
    *,
    expected_version: int | None,
) -> Role:
    """Edit a role; a built-in role keeps its name. Members' access changes at once.

    Changing permissions needs holding every one added or removed; the admin role's are
    fixed; no change may leave nobody able to manage users and roles.
    """
    role = await get_role(session, role_id)
    authorize(principal, "roles:manage", role)
    check_version(role, expected_version)
    values = command.changes()
    # Sorted and unique in the command: the same set given again is no change.
    if values.get("permissions") == sorted(role.permissions):
        del values["permissions"]
    permissions_change = "permissions" in values
    if permissions_change:
        if role.is_builtin and role.name == ALL_PERMISSIONS_ROLE:
            raise Conflict("The admin role always has every permission; it cannot be edited.")
        changed = set(values["permissions"]) ^ set(role.permissions)
        ceilings.ensure_holds(principal, changed, "grant or withdraw these permissions")
        await ceilings.lock_staff_access(session)
    if "name" in values:
        if role.is_builtin and values["name"] != role.name:
            raise Conflict("Built-in roles cannot be renamed.", field="name")
        await _ensure_name_free(session, values["name"], role.id)
    changes = audit.apply_changes(role, values)
    if changes:
        await flush_versioned(session, UNIQUE)
        if permissions_change:
            await ceilings.ensure_staff_can_be_managed(session)
        audit.record(
            session,
            principal,
            "role.updated",
            resource_type="role",
            resource_id=role.id,
            changes=changes,
        )
    return role


async def delete_role(
    session: AsyncSession, principal: Principal, role_id: int, *, expected_version: int | None
) -> None:
    """Delete a custom role that no user holds (409 otherwise)."""
    role = await get_role(session, role_id)
    authorize(principal, "roles:manage", role)
    check_version(role, expected_version)
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
    await flush_versioned(session, UNIQUE)
    audit.record(
        session,
        principal,
        "role.deleted",
        resource_type="role",
        resource_id=role.id,
        changes=audit.diff(before, None),
    )
