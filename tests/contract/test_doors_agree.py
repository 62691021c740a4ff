"""One input, every door, one answer (issue 15): the same write through the API, the admin
form, a CSV import row (through the API's import endpoint) and `backoffice import-products`
is stored as the same row, or refused naming the same field with the same message; a stale
version and a caller without the permission are refused by every door. On SQLite and
PostgreSQL.

Each case is what a person types, as text: the API gets it as a JSON body, the admin as the
form a browser posts (every field, with the defaults the form shows), the CSV as one line
under a header of the case's columns, the CLI as that file.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Base, Customer, Product
from tests.admin.admin_world import page_token
from tests.api.order_helpers import Caller, caller
from tests.auth_helpers import admin_login, client_for
from tests.cli.helpers import in_database, invoke
from tests.factories import make_customer, make_product

PRODUCTS = "/api/v1/products"
CUSTOMERS = "/api/v1/customers"
IMPORT = "/api/v1/products/import"
PRODUCT_FIELDS = ("sku", "name", "description", "price", "stock", "reorder_level", "is_active")
CUSTOMER_FIELDS = ("name", "email", "phone", "company", "notes", "is_active")
# What the admin's create forms show before anyone types: a browser posts these too.
PRODUCT_FORM_DEFAULTS = {"description": "", "stock": "0", "reorder_level": "0", "is_active": "y"}
CUSTOMER_FORM_DEFAULTS = {"phone": "", "company": "", "notes": "", "is_active": "y"}
LONG_TEXT = "x" * 10_001
ALERT = re.compile(r'<div class="alert alert-danger" role="alert">(.*?)</div>', re.S)


@dataclass(frozen=True)
class Stored:
    """The write was applied: the row as stored (the fields a door can set)."""

    values: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """The write was refused: {field: message}, nothing stored."""

    messages: dict[str, str]


Outcome = Stored | Refused


def product(**values: Any) -> dict[str, Any]:
    """A stored product's values, with the defaults of the fields not given."""
    defaults = {"description": "", "stock": 0, "reorder_level": 0, "is_active": True}
    return {**defaults, **values}


def customer(**values: Any) -> dict[str, Any]:
    defaults = {"phone": "", "company": "", "notes": "", "is_active": True}
    return {**defaults, **values}


# (what is typed, the stored row or the refused field)
PRODUCT_CREATES: dict[str, tuple[dict[str, str], dict[str, Any] | str]] = {
    "valid": (
        {"sku": "DOOR-001", "name": "Widget", "description": "A useful widget.", "price": "12.50"},
        product(sku="DOOR-001", name="Widget", description="A useful widget.", price="12.50"),
    ),
    "lower-case, padded SKU": (
        {"sku": "  door-002 ", "name": "Gadget", "price": "3", "stock": "7"},
        product(sku="DOOR-002", name="Gadget", price="3.00", stock=7),
    ),
    "SKU with a space inside": ({"sku": "DOOR 003", "name": "Gizmo", "price": "1.00"}, "sku"),
    "SKU that is not ASCII": ({"sku": "ſku-004", "name": "Gizmo", "price": "1.00"}, "sku"),
    "over-long description": (
        {"sku": "DOOR-005", "name": "Gizmo", "description": LONG_TEXT, "price": "1.00"},
        "description",
    ),
    "price with three decimals": ({"sku": "DOOR-006", "name": "Gizmo", "price": "1.005"}, "price"),
    "price that is no number": ({"sku": "DOOR-007", "name": "Gizmo", "price": "cheap"}, "price"),
    "negative stock": ({"sku": "DOOR-008", "name": "Gizmo", "price": "1", "stock": "-1"}, "stock"),
    "missing name": ({"sku": "DOOR-009", "name": "", "price": "1.00"}, "name"),
}

CUSTOMER_CREATES: dict[str, tuple[dict[str, str], dict[str, Any] | str]] = {
    "valid": (
        {"name": "Ada Lovelace", "email": "ada@example.com", "company": "Engines"},
        customer(name="Ada Lovelace", email="ada@example.com", company="Engines"),
    ),
    "email with a capitalised domain and spaces": (
        {"name": "Grace Hopper", "email": "  Grace@EXAMPLE.com "},
        customer(name="Grace Hopper", email="Grace@example.com"),
    ),
    "email without a domain": ({"name": "Alan", "email": "alan@"}, "email"),
    "email on a special-use domain": ({"name": "Alan", "email": "alan@example.test"}, "email"),
    "over-long notes": ({"name": "Alan", "email": "al@example.com", "notes": LONG_TEXT}, "notes"),
    "missing name": ({"name": "", "email": "nobody@example.com"}, "name"),
}

# Edits of an existing row (made with the sku/email below), through the API and the admin.
PRODUCT_EDITS: dict[str, tuple[dict[str, str], dict[str, Any] | str]] = {
    "new price and stock": ({"price": "9.5", "stock": "3"}, {"price": "9.50", "stock": 3}),
    "lower-case, padded SKU": ({"sku": " edit-002 "}, {"sku": "EDIT-002"}),
    "over-long description": ({"description": LONG_TEXT}, "description"),
    "price with three decimals": ({"price": "0.001"}, "price"),
    "empty name": ({"name": ""}, "name"),
}
CUSTOMER_EDITS: dict[str, tuple[dict[str, str], dict[str, Any] | str]] = {
    "new company": ({"company": "Analytical"}, {"company": "Analytical"}),
    "email with a capitalised domain": ({"email": "Ann@EXAMPLE.org"}, {"email": "Ann@example.org"}),
    "email without an @": ({"email": "ann.example.org"}, "email"),
    "over-long notes": ({"notes": LONG_TEXT}, "notes"),
}


# --- reading what a door did --------------------------------------------------------------


def as_stored(row: Base, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in fields}
    if "price" in values:
        values["price"] = f"{values['price']:.2f}"
    return values


async def rows_of(session: AsyncSession, model: type[Base]) -> list[Any]:
    statement = select(model).order_by(model.id).execution_options(populate_existing=True)
    return list((await session.execute(statement)).scalars())


def refused_by_api(response: httpx.Response, loc_prefix: tuple[Any, ...]) -> Refused:
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert all(tuple(e["loc"][: len(loc_prefix)]) == loc_prefix for e in errors), errors
    return Refused({str(e["loc"][len(loc_prefix)]): e["message"] for e in errors})


def refused_by_admin(response: httpx.Response) -> Refused:
    """The message above the form, `field: message; …`, as {field: message}."""
    assert response.status_code == 400, response.text
    alerts = ALERT.findall(response.text)
    assert alerts, "no message above the form (a form error instead of the service's?)"
    messages: dict[str, str] = {}
    for part in html.unescape(alerts[0].strip()).split("; "):
        field, _, message = part.partition(": ")
        messages[field] = message
    return Refused(messages)


def csv_text(fields: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(fields))
    writer.writerow(list(fields.values()))
    return buffer.getvalue()


# --- the doors ----------------------------------------------------------------------------


@dataclass
class Doors:
    """Every door, as the same staff member (an admin) and as a viewer."""

    app: FastAPI
    session: AsyncSession
    client: httpx.AsyncClient
    staff: Caller
    viewer: Caller
    browser: httpx.AsyncClient
    viewer_browser: httpx.AsyncClient

    async def admin_post(self, path: str, form: dict[str, str], *, viewer: bool = False) -> Any:
        browser = self.viewer_browser if viewer else self.browser
        return await browser.post(path, data={**form, "csrf_token": await page_token(browser)})


@pytest.fixture
async def doors(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> AsyncIterator[Doors]:
    staff, viewer = await caller(session, "admin"), await caller(session, "viewer")
    async with client_for(app) as browser, client_for(app) as viewer_browser:
        for who, user in ((browser, staff.user), (viewer_browser, viewer.user)):
            assert (await admin_login(who, user.email)).status_code == 302
        yield Doors(app, session, client, staff, viewer, browser, viewer_browser)


async def created(
    doors: Doors,
    model: type[Base],
    fields: tuple[str, ...],
    send: Callable[[], Awaitable[httpx.Response]],
    refused: Callable[[httpx.Response], Refused],
    success: int,
) -> Outcome:
    """What one door did with a create: the new row (then removed, for the next door), or
    the refusal, with nothing stored."""
    before = await rows_of(doors.session, model)
    response = await send()
    after = await rows_of(doors.session, model)
    if response.status_code != success:
        assert after == before, "refused, yet something was stored"
        return refused(response)
    assert len(after) == len(before) + 1, response.text
    new = after[-1]
    values = as_stored(new, fields)
    await doors.session.execute(delete(model).where(model.id == new.id))
    return Stored(values)


async def through_the_cli(database_url: str, tmp_path: Path, fields: dict[str, str]) -> Outcome:
    file = tmp_path / "products.csv"
    file.write_text(csv_text(fields), encoding="utf-8")
    result = await asyncio.to_thread(invoke, database_url, "import-products", str(file))

    async def stored(session: AsyncSession) -> list[dict[str, Any]]:
        return [as_stored(p, PRODUCT_FIELDS) for p in await rows_of(session, Product)]

    rows = await asyncio.to_thread(in_database, database_url, stored)
    if result.exit_code != 0:
        assert rows == []
        messages = {}
        for line in result.stderr.splitlines():
            found = re.fullmatch(r"line 2, (\w+): (.*)", line)
            if found:
                messages[found.group(1)] = found.group(2)
        return Refused(messages)
    assert len(rows) == 1, result.output
    return Stored(rows[0])


def expected_outcome(outcomes: dict[str, Outcome], expected: dict[str, Any] | str) -> None:
    """Every door agrees with the first, and the first is what was expected."""
    first = next(iter(outcomes.values()))
    assert outcomes == dict.fromkeys(outcomes, first), outcomes
    if isinstance(expected, str):
        assert isinstance(first, Refused) and list(first.messages) == [expected], first
    else:
        assert first == Stored(expected), first


# --- creates ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(PRODUCT_CREATES))
async def test_a_new_product_gets_one_answer_from_every_door(
    doors: Doors, migrated_url: str, tmp_path: Path, case: str
) -> None:
    typed, expected = PRODUCT_CREATES[case]
    create = lambda send, refused, success: created(  # noqa: E731
        doors, Product, PRODUCT_FIELDS, send, refused, success
    )
    staff = doors.staff.headers
    outcomes = {
        "api": await create(
            lambda: doors.client.post(PRODUCTS, json=typed, headers=staff),
            lambda r: refused_by_api(r, ("body",)),
            201,
        ),
        "admin": await create(
            lambda: doors.admin_post("/admin/product/create", {**PRODUCT_FORM_DEFAULTS, **typed}),
            refused_by_admin,
            302,
        ),
        "csv": await create(
            lambda: doors.client.post(
                IMPORT, content=csv_text(typed), headers={**staff, "Content-Type": "text/csv"}
            ),
            lambda r: refused_by_api(r, ("line", 2)),
            200,
        ),
        "cli": await through_the_cli(migrated_url, tmp_path, typed),
    }

    expected_outcome(outcomes, expected)


@pytest.mark.parametrize("case", list(CUSTOMER_CREATES))
async def test_a_new_customer_gets_one_answer_from_every_door(doors: Doors, case: str) -> None:
    typed, expected = CUSTOMER_CREATES[case]
    create = lambda send, refused, success: created(  # noqa: E731
        doors, Customer, CUSTOMER_FIELDS, send, refused, success
    )
    outcomes = {
        "api": await create(
            lambda: doors.client.post(CUSTOMERS, json=typed, headers=doors.staff.headers),
            lambda r: refused_by_api(r, ("body",)),
            201,
        ),
        "admin": await create(
            lambda: doors.admin_post("/admin/customer/create", {**CUSTOMER_FORM_DEFAULTS, **typed}),
            refused_by_admin,
            302,
        ),
    }

    expected_outcome(outcomes, expected)


# --- edits --------------------------------------------------------------------------------


def as_form(row: Any, fields: tuple[str, ...]) -> dict[str, str]:
    """The edit form as the browser posts it: the row's values as text, and its version."""
    form = {name: str(getattr(row, name)) for name in fields if name != "is_active"}
    if getattr(row, "is_active", False):
        form["is_active"] = "y"
    return {**form, "version": str(row.version)}


async def edited(
    doors: Doors,
    make: Callable[[], Awaitable[Any]],
    fields: tuple[str, ...],
    send: Callable[[Any], Awaitable[httpx.Response]],
    refused: Callable[[httpx.Response], Refused],
    success: int,
) -> Outcome:
    """What one door did with an edit of a fresh row: the changed fields, or the refusal
    (the row unchanged)."""
    row = await make()
    before = as_stored(row, fields)
    response = await send(row)
    await doors.session.refresh(row)
    after = as_stored(row, fields)
    if response.status_code != success:
        assert after == before, "refused, yet the row changed"
        return refused(response)
    return Stored({name: value for name, value in after.items() if before[name] != value})


EDITS = {"product": PRODUCT_EDITS, "customer": CUSTOMER_EDITS}
FIELDS = {"product": PRODUCT_FIELDS, "customer": CUSTOMER_FIELDS}


async def row_to_edit(session: AsyncSession, resource: str) -> Product | Customer:
    """A fresh row; what the edits rename it to is free again (for the next door)."""
    if resource == "product":
        await session.execute(delete(Product).where(Product.sku == "EDIT-002"))
        return await make_product(session, price=Decimal("1.00"), stock=10)
    await session.execute(delete(Customer).where(Customer.email == "Ann@example.org"))
    return await make_customer(session, company="Engines")


@pytest.mark.parametrize(
    ("resource", "case"), [(resource, case) for resource in EDITS for case in EDITS[resource]]
)
async def test_an_edit_gets_one_answer_from_every_door(
    doors: Doors, resource: str, case: str
) -> None:
    typed, expected = EDITS[resource][case]
    fields = FIELDS[resource]

    def patch(row: Any) -> Awaitable[httpx.Response]:
        headers = {**doors.staff.headers, "If-Match": f'"{row.version}"'}
        return doors.client.patch(f"/api/v1/{resource}s/{row.id}", json=typed, headers=headers)

    def post_form(row: Any) -> Awaitable[httpx.Response]:
        form = {**as_form(row, fields), **typed}
        return doors.admin_post(f"/admin/{resource}/edit/{row.id}", form)

    def make() -> Awaitable[Base]:
        return row_to_edit(doors.session, resource)

    outcomes = {
        "api": await edited(
            doors, make, fields, patch, lambda r: refused_by_api(r, ("body",)), 200
        ),
        "admin": await edited(doors, make, fields, post_form, refused_by_admin, 302),
    }

    expected_outcome(outcomes, expected)


# --- a stale version ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "fields", "change"),
    [
        ("product", PRODUCT_FIELDS, {"name": "Mine"}),
        ("customer", CUSTOMER_FIELDS, {"company": "Mine"}),
    ],
)
async def test_an_edit_from_a_version_someone_else_changed_is_refused_by_every_door(
    doors: Doors, resource: str, fields: tuple[str, ...], change: dict[str, str]
) -> None:
    make = make_product if resource == "product" else make_customer
    row = await make(doors.session)
    read = as_form(row, fields)  # what both callers read, at version 1
    # Someone else's change lands first.
    url = f"/api/v1/{resource}s/{row.id}"
    other = await doors.client.patch(url, json={"name": "Theirs"}, headers=doors.staff.headers)
    assert other.status_code == 200, other.text

    api = await doors.client.patch(
        url, json=change, headers={**doors.staff.headers, "If-Match": f'"{read["version"]}"'}
    )
    admin = await doors.admin_post(f"/admin/{resource}/edit/{row.id}", {**read, **change})

    assert api.status_code == 412, api.text
    assert api.json()["type"] == "/problems/precondition-failed"
    assert admin.status_code == 400, admin.text
    assert "Someone else changed this row" in admin.text
    assert 'id="stale-edit-reload"' in admin.text
    await doors.session.refresh(row)
    assert (row.name, row.version) == ("Theirs", 2)
    assert getattr(row, next(iter(change))) != "Mine"


async def test_an_admin_edit_without_a_version_is_refused(doors: Doors) -> None:
    row = await make_product(doors.session)
    form = {**as_form(row, PRODUCT_FIELDS), "name": "Blind"}
    del form["version"]

    response = await doors.admin_post(f"/admin/product/edit/{row.id}", form)

    assert response.status_code == 400
    assert "Someone else changed this row" in response.text
    await doors.session.refresh(row)
    assert row.name != "Blind"


# --- a caller without the permission ------------------------------------------------------


async def count(session: AsyncSession, model: type[Base]) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_viewer_cannot_create_through_any_door(doors: Doors) -> None:
    typed = {"sku": "VIEW-001", "name": "Nope", "price": "1.00"}
    before = await count(doors.session, Product), await count(doors.session, Customer)
    headers = doors.viewer.headers

    responses = {
        "api product": await doors.client.post(PRODUCTS, json=typed, headers=headers),
        "api customer": await doors.client.post(
            CUSTOMERS, json={"name": "Nope", "email": "nope@example.com"}, headers=headers
        ),
        "admin product": await doors.admin_post(
            "/admin/product/create", {**PRODUCT_FORM_DEFAULTS, **typed}, viewer=True
        ),
        "admin customer": await doors.admin_post(
            "/admin/customer/create",
            {**CUSTOMER_FORM_DEFAULTS, "name": "Nope", "email": "nope@example.com"},
            viewer=True,
        ),
        "csv": await doors.client.post(
            IMPORT, content=csv_text(typed), headers={**headers, "Content-Type": "text/csv"}
        ),
    }

    assert {door: r.status_code for door, r in responses.items()} == dict.fromkeys(responses, 403)
    assert (await count(doors.session, Product), await count(doors.session, Customer)) == before


@pytest.mark.parametrize("resource", ["product", "customer"])
async def test_a_viewer_cannot_edit_through_any_door(doors: Doors, resource: str) -> None:
    fields = PRODUCT_FIELDS if resource == "product" else CUSTOMER_FIELDS
    row = await (make_product if resource == "product" else make_customer)(doors.session)
    url = f"/api/v1/{resource}s/{row.id}"
    headers = {**doors.viewer.headers, "If-Match": f'"{row.version}"'}

    api = await doors.client.patch(url, json={"name": "Viewer's"}, headers=headers)
    admin = await doors.admin_post(
        f"/admin/{resource}/edit/{row.id}",
        {**as_form(row, fields), "name": "Viewer's"},
        viewer=True,
    )

    assert (api.status_code, admin.status_code) == (403, 403)
    await doors.session.refresh(row)
    assert (row.name, row.version) != ("Viewer's", 2)
    assert row.version == 1


async def test_the_cli_is_the_operator_and_needs_no_permission(
    migrated_url: str, tmp_path: Path
) -> None:
    outcome = await through_the_cli(
        migrated_url, tmp_path, {"sku": "OPS-001", "name": "Operator's", "price": "1"}
    )

    assert outcome == Stored(product(sku="OPS-001", name="Operator's", price="1.00"))


def test_every_case_names_a_field_its_doors_know() -> None:
    # A typo in the table would make a case pass for the wrong reason.
    for cases, known in (
        (PRODUCT_CREATES, PRODUCT_FIELDS),
        (PRODUCT_EDITS, PRODUCT_FIELDS),
        (CUSTOMER_CREATES, CUSTOMER_FIELDS),
        (CUSTOMER_EDITS, CUSTOMER_FIELDS),
    ):
        for typed, expected in cases.values():
            assert set(typed) <= set(known)
            assert expected in known if isinstance(expected, str) else set(expected) <= set(known)
