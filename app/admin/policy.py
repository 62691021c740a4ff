"""The admin's door to THE policy: sqladmin's (view, action) questions → permissions.can.

This module only translates vocabulary (identity + action → permission name); the
decision, rows included, is always permissions.can, as in the API.
"""

from __future__ import annotations

from typing import Any

from sqladmin.authorization import AuthorizationBackend
from starlette.requests import Request

from app.admin.auth import current_principal
from app.auth.principal import Principal
from app.permissions import OWNED_ROWS, can, table_of

ANY_STAFF = "*"  # any authenticated staff member (their own rows only)


def _crud(resource: str, **extra: str) -> dict[str, str]:
    return {
        "list": f"{resource}:read",
        "details": f"{resource}:read",
        "export": f"{resource}:read",
        "create": f"{resource}:create",
        "edit": f"{resource}:update",
        "delete": f"{resource}:delete",
        **extra,
    }


# What each admin view × action needs. Missing pairs are refused.
VIEW_PERMISSIONS: dict[str, dict[str, str]] = {
    "customer": _crud("customers"),
    "product": _crud("products", **{"import": "products:import"}),
    "order": _crud(
        "orders",
        **{
            "action:place": "orders:place",
            "action:pay": "orders:pay",
            "action:ship": "orders:ship",
            "action:cancel": "orders:cancel",
        },
    ),
    "user": {
        "list": "users:read",
        "details": "users:read",
        "create": "users:manage",
        "edit": "users:manage",
        "action:deactivate": "users:manage",
        "action:end-sessions": "users:manage",
    },
    "role": {
        "list": "users:read",
        "details": "users:read",
        "create": "roles:manage",
        "edit": "roles:manage",
        "delete": "roles:manage",
    },
    "api-token": {
        "list": ANY_STAFF,
        "details": ANY_STAFF,
        "delete": ANY_STAFF,
        "action:revoke": ANY_STAFF,
    },
    "staff-session": {
        "list": ANY_STAFF,
        "details": ANY_STAFF,
        "delete": ANY_STAFF,
        "action:revoke": ANY_STAFF,
    },
    "audit-event": {"list": "audit:read", "details": "audit:read", "export": "audit:read"},
    "webhook-endpoint": {
        "list": "webhooks:manage",
        "details": "webhooks:manage",
        "create": "webhooks:manage",
        "edit": "webhooks:manage",
        "delete": "webhooks:manage",
        "action:ping": "webhooks:manage",
        "action:rotate-secret": "webhooks:manage",
    },
    "webhook-delivery": {
        "list": "webhooks:manage",
        "details": "webhooks:manage",
        "action:resend": "webhooks:manage",
    },
    # Pages that are not model views.
    "dashboard": {"list": ANY_STAFF},
    "account": {"list": ANY_STAFF},
    "product-import": {"list": "products:import"},
}

# Views whose rows belong to a user (their table in permissions.OWNED_ROWS): any staff
# member opens the list (it shows the rows they may see, permissions.sees_only_own_rows)
# and the action buttons; each row is answered by `can` with the row. sqladmin asks about
# custom actions (`action:revoke`) without a row, to decide whether the button shows and
# the route opens; the action's handler asks again for each selected row.
OWNED_VIEWS = {"api-token": "api_tokens", "staff-session": "staff_sessions"}
ROW_ACTIONS = {"details", "edit", "delete"}


def allowed(principal: Principal | None, identity: str, action: str, obj: Any = None) -> bool:
    """May `principal` do `action` on the admin view `identity` (and on `obj`)?"""
    if principal is None:
        return False
    permission = VIEW_PERMISSIONS.get(identity, {}).get(str(action))
    if permission is None:
        return False
    table = OWNED_VIEWS.get(identity)
    if table is not None:
        if obj is None:
            # sqladmin asks with obj=None when a row is hidden from this user (or missing):
            # refuse, instead of its default of allowing a direct delete of a hidden row.
            return str(action) not in ROW_ACTIONS
        return table_of(obj) == table and can(principal, OWNED_ROWS[table], obj)
    return permission == ANY_STAFF or can(principal, permission, obj)


def answer_depends_on_row(identity: str, model: Any) -> bool:
    """Whether `allowed` can answer differently for two rows of `model` on view
    `identity`: only where a row's owner counts (OWNED_VIEWS, `can`'s OWNED_ROWS rule).
    Elsewhere a list page asks once for all its rows (list_page.rows_of)."""
    return identity in OWNED_VIEWS or table_of(model) in OWNED_ROWS


class PolicyAuthorization(AuthorizationBackend):
    """sqladmin's authorization hook, answered by `allowed` (no I/O: the principal is loaded)."""

    def has_permission(
        self, request: Request, identity: str, action: str, obj: Any | None = None
    ) -> bool:
        return allowed(current_principal(request), identity, str(action), obj)
