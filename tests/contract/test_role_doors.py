"""One role, two doors (issue 15): the API and the admin's role form build the same
CreateRole, so the same input is stored as the same row, or refused naming the same field
with the same message. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import Role
from tests.contract.test_doors_agree import (  # noqa: F401 (`doors` is a fixture)
    Doors,
    created,
    doors,
    expected_outcome,
    refused_by_admin,
    refused_by_api,
)

ROLES = "/api/v1/roles"
ROLE_FIELDS = ("name", "description", "permissions", "is_builtin")

# (what is typed, the stored row or the refused field)
ROLE_CREATES: dict[str, tuple[dict[str, Any], dict[str, Any] | str]] = {
    "valid, padded name, permissions out of order": (
        {
            "name": "  door-auditor ",
            "description": "Reads the log",
            "permissions": ["orders:read", "audit:read", "orders:read"],
        },
        {
            "name": "door-auditor",
            "description": "Reads the log",
            "permissions": ["audit:read", "orders:read"],
            "is_builtin": False,
        },
    ),
    "unknown permission": (
        {"name": "door-thief", "permissions": ["orders:read", "orders:steal"]},
        "permissions",
    ),
    "empty name": ({"name": "", "permissions": ["orders:read"]}, "name"),
    "blank name": ({"name": "   ", "permissions": []}, "name"),
}


@pytest.mark.parametrize("case", list(ROLE_CREATES))
async def test_a_new_role_gets_one_answer_from_the_api_and_the_admin(
    doors: Doors,  # noqa: F811
    case: str,
) -> None:
    typed, expected = ROLE_CREATES[case]
    create = lambda send, refused, success: created(  # noqa: E731
        doors, Role, ROLE_FIELDS, send, refused, success
    )
    outcomes = {
        "api": await create(
            lambda: doors.client.post(ROLES, json=typed, headers=doors.staff.headers),
            lambda r: refused_by_api(r, ("body",)),
            201,
        ),
        # The form as a browser posts it: the description box is sent empty, ticked
        # permissions as one field repeated.
        "admin": await create(
            lambda: doors.admin_post("/admin/role/create", {"description": "", **typed}),
            refused_by_admin,
            302,
        ),
    }

    expected_outcome(outcomes, expected)


@pytest.mark.parametrize(
    ("typed", "field"),
    [({"permissions": ["orders:steal"]}, "permissions"), ({"name": ""}, "name")],
    ids=["unknown permission", "empty name"],
)
async def test_a_role_edit_is_refused_alike_by_the_api_and_the_admin(
    doors: Doors,  # noqa: F811
    typed: dict[str, Any],
    field: str,
) -> None:
    role = Role(name="door-editable", description="", permissions=["orders:read"])
    doors.session.add(role)
    await doors.session.flush()
    form = {"name": role.name, "description": "", "permissions": ["orders:read"]}

    api = await doors.client.patch(f"{ROLES}/{role.id}", json=typed, headers=doors.staff.headers)
    admin = await doors.admin_post(
        f"/admin/role/edit/{role.id}", {**form, **typed, "version": str(role.version)}
    )

    assert refused_by_api(api, ("body",)) == refused_by_admin(admin)
    assert list(refused_by_admin(admin).messages) == [field]
    await doors.session.refresh(role)
    assert (role.name, role.permissions) == ("door-editable", ["orders:read"])
