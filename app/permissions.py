"""THE policy: the permission registry, the built-in role map and `can()`, the one decision."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pydantic_core import PydanticCustomError

DOMAIN_RESOURCES = ("customers", "products", "orders")
CRUD_ACTIONS = ("read", "create", "update", "delete")

PERMISSIONS: dict[str, str] = {
    **{
        f"{resource}:{action}": f"{action.capitalize()} {resource}"
        for resource in DOMAIN_RESOURCES
        for action in CRUD_ACTIONS
    },
    "orders:place": "Place draft orders (reserves stock)",
    "orders:cancel": "Cancel orders (returns stock)",
    "orders:ship": "Mark paid orders shipped",
    "orders:pay": "Mark placed orders paid",
    "products:import": "Import products from CSV",
    "users:read": "See staff users",
    "users:manage": "Create, edit and deactivate staff users; end their sessions",
    "roles:manage": "Create, edit and delete roles",
    "tokens:manage": "See and revoke other users' API tokens",
    "audit:read": "Read the audit log",
    "webhooks:manage": "Manage webhook endpoints and deliveries",
}


def known_permission_names(names: list[str]) -> list[str]:
    """Permission names the registry knows, once each and sorted: the rule of a role's
    permissions and a token's scopes (a command's validator; the refusal names them)."""
    unknown = sorted(set(names) - set(PERMISSIONS))
    if unknown:
        raise PydanticCustomError(
            "enum", "unknown permission(s): {unknown}", {"unknown": ", ".join(unknown)}
        )
    return sorted(set(names))


def _on(resources: Iterable[str], actions: Iterable[str]) -> list[str]:
    return [f"{r}:{a}" for r in resources for a in actions]


def _all_on_domain() -> list[str]:
    return [p for p in PERMISSIONS if p.split(":", 1)[0] in DOMAIN_RESOURCES]


BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "admin": ("Everything", list(PERMISSIONS)),
    "manager": (
        "All on customers, products and orders; sees users and the audit log",
        [*_all_on_domain(), "users:read", "audit:read"],
    ),
    "clerk": (
        "Reads everything; creates and edits customers and orders; places and cancels orders",
        [
            *_on(DOMAIN_RESOURCES, ["read"]),
            *_on(["customers", "orders"], ["create", "update"]),
            "orders:place",
            "orders:cancel",
        ],
    ),
    "viewer": ("Read-only on customers, products and orders", _on(DOMAIN_RESOURCES, ["read"])),
}


class Caller(Protocol):
    """Anything that knows who it is and its effective permissions (a Principal, in practice)."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def permissions(self) -> frozenset[str]: ...


# Rows that belong to one user (by table): their owner may act on them as if they held
# the permission named here; anyone else needs that permission (SPEC §4, §5: others'
# tokens need tokens:manage, ending others' sessions users:manage).
OWNED_ROWS: dict[str, str] = {
    "api_tokens": "tokens:manage",
    "staff_sessions": "users:manage",
}


def is_known(permission: str) -> bool:
    return permission in PERMISSIONS


def can(principal: Caller | None, permission: str, obj: object | None = None) -> bool:
    """Whether `principal` may do `permission` on `obj` (any row, when `obj` is None).

    The only decision point. A row of an OWNED_ROWS table passes its own permission to
    its owner: `can(p, "tokens:manage", token)` holds for p's own token.
    """
    if principal is None:
        return False
    if permission not in PERMISSIONS:
        # A typo in a permission name must fail closed, loudly, in development.
        raise KeyError(f"unknown permission {permission!r}")
    if permission in principal.permissions:
        return True
    table = table_of(obj)
    return table is not None and OWNED_ROWS.get(table) == permission and owns(principal, obj)


def owns(principal: Caller, obj: object) -> bool:
    """Whether `obj` (a row with a `user_id`) belongs to `principal`."""
    return principal.user_id is not None and getattr(obj, "user_id", None) == principal.user_id


def table_of(obj: object) -> str | None:
    """The table an ORM row (or model) is stored in."""
    name = getattr(obj, "__tablename__", None)
    return name if isinstance(name, str) else None


def sees_only_own_rows(principal: Caller | None, table: str) -> bool:
    """`can`'s row rule for a whole list of an OWNED_ROWS table: True when `principal`
    may see only their own rows (a query filters on `user_id`), False when every row."""
    return not can(principal, OWNED_ROWS[table])


def permissions_of(role_permissions: Iterable[Iterable[str]]) -> frozenset[str]:
    """The union of some roles' permissions (unknown names, e.g. retired ones, are dropped)."""
    return frozenset(p for perms in role_permissions for p in perms if p in PERMISSIONS)


def narrow_to_scopes(permissions: frozenset[str], scopes: Iterable[str]) -> frozenset[str]:
    """A token's effective permissions: its scopes ∩ its owner's (empty scopes = all)."""
    wanted = frozenset(scopes)
    return permissions if not wanted else permissions & wanted
