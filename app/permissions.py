"""THE policy: the permission registry, the built-in role map and `can()`, the one decision."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

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


class HasPermissions(Protocol):
    """Anything that knows its effective permissions (a Principal, in practice)."""

    @property
    def permissions(self) -> frozenset[str]: ...


def is_known(permission: str) -> bool:
    return permission in PERMISSIONS


def can(principal: HasPermissions | None, permission: str, obj: object | None = None) -> bool:
    """Whether `principal` may do `permission` (on `obj`, when given). The only decision point."""
    if principal is None:
        return False
    if permission not in PERMISSIONS:
        # A typo in a permission name must fail closed, loudly, in development.
        raise KeyError(f"unknown permission {permission!r}")
    return permission in principal.permissions


def permissions_of(role_permissions: Iterable[Iterable[str]]) -> frozenset[str]:
    """The union of some roles' permissions (unknown names, e.g. retired ones, are dropped)."""
    return frozenset(p for perms in role_permissions for p in perms if p in PERMISSIONS)


def narrow_to_scopes(permissions: frozenset[str], scopes: Iterable[str]) -> frozenset[str]:
    """A token's effective permissions: its scopes ∩ its owner's (empty scopes = all)."""
    wanted = frozenset(scopes)
    return permissions if not wanted else permissions & wanted
