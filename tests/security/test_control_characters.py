"""Control characters in input (SPEC §14 "No input reaches a 500"): NUL and the other C0
controls are refused as field errors naming the field, through the API, the CSV import (dry run
and real import alike), the admin and the CLI, on SQLite and PostgreSQL (which cannot store NUL)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Customer, Order, Product, Role, User
from app.text_rules import control_character_problem
from tests.admin.admin_world import page_token
from tests.api.domain_helpers import assert_problem, token_caller
from tests.api.order_helpers import Caller, caller
from tests.api.test_import_export import products_by_sku, upload
from tests.auth_helpers import admin_login, client_for
from tests.factories import make_customer, make_order, make_product, make_user

API = "/api/v1"
# Refused in every field; tab, LF and CR are refused only where a field is one line.
ALWAYS_REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]
LINE_BREAKS = ["\t", "\n", "\r", "\r\n"]
PASSWORD = "plum-orbit-kettle-42"
V = "<value>"  # where the hostile value goes in a request body


# (path, body, the field's loc under "body", one line?) for every free-text field.
CREATES: dict[str, tuple[str, dict[str, Any], list[Any], bool]] = {
    "product name": ("/products", {"sku": "CC-001", "name": V, "price": "1.00"}, ["name"], True),
    "product description": (
        "/products",
        {"sku": "CC-002", "name": "Ok", "price": "1.00", "description": V},
        ["description"],
        False,
    ),
    "customer name": ("/customers", {"name": V, "email": "cc1@example.com"}, ["name"], True),
    "customer email": ("/customers", {"name": "Ok", "email": f"{V}@example.com"}, ["email"], True),
    "customer phone": (
        "/customers",
        {"name": "Ok", "email": "cc2@example.com", "phone": V},
        ["phone"],
        True,
    ),
    "customer company": (
        "/customers",
        {"name": "Ok", "email": "cc3@example.com", "company": V},
        ["company"],
        True,
    ),
    "customer notes": (
        "/customers",
        {"name": "Ok", "email": "cc4@example.com", "notes": V},
        ["notes"],
        False,
    ),
    "order notes": ("/orders", {"customer_id": "<customer>", "notes": V}, ["notes"], False),
    "user full name": (
        "/users",
        {"email": "cc5@example.com", "password": PASSWORD, "full_name": V},
        ["full_name"],
        True,
    ),
    "user email": ("/users", {"email": f"{V}@example.com", "password": PASSWORD}, ["email"], True),
    "user role": (
        "/users",
        {"email": "cc6@example.com", "password": PASSWORD, "roles": [f"viewer{V}"]},
        ["roles", 0],
        True,
    ),
    "role name": ("/roles", {"name": f"cc{V}"}, ["name"], True),
    "role description": ("/roles", {"name": "cc-role", "description": V}, ["description"], True),
}


def fill(template: Any, value: str, customer_id: int) -> Any:
    """The body with the hostile value (and a real customer id) in its holes."""
    if isinstance(template, dict):
        return {key: fill(item, value, customer_id) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, value, customer_id) for item in template]
    if template == "<customer>":
        return customer_id
    return template.replace(V, value) if isinstance(template, str) else template


def refused_chars(single_line: bool) -> list[str]:
    return ALWAYS_REFUSED + (LINE_BREAKS if single_line else [])


@pytest.fixture
async def admin(session: AsyncSession) -> Caller:
    return await caller(session, "admin")


def assert_field_refused(response: httpx.Response, loc: list[Any], char: str) -> None:
    assert response.status_code == 422, (repr(char), response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [error["loc"] for error in errors] == [loc], (repr(char), errors)
    # The refusal names the code point; it never echoes the character back.
    assert char not in response.text


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CREATES))
async def test_a_control_character_in_a_created_field_is_a_422_naming_it(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller, case: str
) -> None:
    path, template, loc, single_line = CREATES[case]
    customer = await make_customer(session)
    counts_before = await row_counts(session)

    for char in refused_chars(single_line):
        body = fill(template, f"a{char}b", customer.id)
        response = await client.post(API + path, json=body, headers=admin.headers)
        assert_field_refused(response, ["body", *loc], char)

    assert await row_counts(session) == counts_before


@pytest.mark.parametrize("case", [name for name, spec in CREATES.items() if not spec[3]])
async def test_tabs_and_line_breaks_are_text_in_a_multi_line_field(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller, case: str
) -> None:
    path, template, loc, _ = CREATES[case]
    customer = await make_customer(session)
    value = "Line one\r\nLine two\n\tindented"

    response = await client.post(
        API + path, json=fill(template, value, customer.id), headers=admin.headers
    )

    assert response.status_code == 201, response.text
    assert response.json()[loc[0]] == value


async def row_counts(session: AsyncSession) -> list[int]:
    return [
        (await session.execute(select(func.count()).select_from(model))).scalar_one()
        for model in (Product, Customer, Order, User, Role)
    ]


async def test_a_control_character_in_an_updated_field_is_a_422_naming_it(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    product = await make_product(session)
    customer = await make_customer(session)
    order = await make_order(session, customer=customer)
    user = await make_user(session)
    targets = [
        (f"/products/{product.id}", "name", True),
        (f"/products/{product.id}", "description", False),
        (f"/customers/{customer.id}", "company", True),
        (f"/customers/{customer.id}", "notes", False),
        (f"/orders/{order.id}", "notes", False),
        (f"/users/{user.id}", "full_name", True),
    ]

    for path, field, single_line in targets:
        for char in refused_chars(single_line):
            response = await client.patch(
                API + path,
                json={field: f"a{char}b"},
                headers={**admin.headers, "If-Match": '"1"'},
            )
            assert_field_refused(response, ["body", field], char)


async def test_a_control_character_in_an_updated_role_is_a_422_naming_it(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    created = await client.post(API + "/roles", json={"name": "packers"}, headers=admin.headers)
    role_id = created.json()["id"]

    for field in ("name", "description"):
        response = await client.patch(
            f"{API}/roles/{role_id}",
            json={field: "a\x00b"},
            headers={**admin.headers, "If-Match": '"1"'},
        )
        assert_field_refused(response, ["body", field], "\x00")


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/products", "q"),
        ("/products", "sku"),
        ("/products/export.csv", "q"),
        ("/customers", "q"),
        ("/customers", "email"),
        ("/customers", "company"),
        ("/orders", "q"),
        ("/orders", "number"),
        ("/orders", "status"),
        ("/audit-events", "q"),
        ("/audit-events", "actor_email"),
        ("/audit-events", "action"),
    ],
)
async def test_a_nul_in_a_list_search_or_filter_is_a_422(
    client: httpx.AsyncClient, admin: Caller, path: str, param: str
) -> None:
    response = await client.get(API + path, params={param: "a\x00b"}, headers=admin.headers)

    assert response.status_code == 422, response.text
    assert param in response.json()["detail"]


# --- the CSV import ----------------------------------------------------------------------------

HEADER = "sku,name,description,price,stock,reorder_level,is_active\n"


def csv_line(**cells: str) -> str:
    values = {
        "sku": "CC-100",
        "name": "Fine",
        "description": "",
        "price": "1.00",
        "stock": "1",
        "reorder_level": "0",
        "is_active": "true",
    } | cells
    quoted = ['"' + value.replace('"', '""') + '"' for value in values.values()]
    return ",".join(quoted) + "\n"


CSV_REFUSALS = [
    *[("name", f"Bad{char}name") for char in ALWAYS_REFUSED + LINE_BREAKS],
    *[("description", f"Bad{char}text") for char in ALWAYS_REFUSED],
    ("name", "'=\x00"),  # hidden behind the export's escape
    ("description", "'+x\x00"),
    ("sku", "CC\x00100"),
    ("price", "1.00\x00"),
    ("stock", "1\x00"),
    ("reorder_level", "\x000"),
    ("is_active", "true\x00"),
]


@pytest.mark.parametrize(("field", "value"), CSV_REFUSALS, ids=repr)
async def test_a_control_character_in_a_csv_cell_is_the_same_line_error_in_both_runs(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller, field: str, value: str
) -> None:
    data = HEADER + csv_line(sku="CC-099") + csv_line(**{field: value})

    dry_run = await upload(client, admin, data, dry_run="true")
    applied = await upload(client, admin, data)

    # A line break inside a quoted cell moves the line the record ends on, which is the
    # line every import error names.
    line = 3 + len(re.findall("\r\n|\r|\n", value))
    for response in (dry_run, applied):
        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["errors"]] == [["line", line, field]]
    assert dry_run.json()["errors"] == applied.json()["errors"]
    assert await products_by_sku(session, "CC-099", "CC-100") == {}


async def test_tabs_and_line_breaks_in_a_csv_description_are_imported(
    client: httpx.AsyncClient, session: AsyncSession, admin: Caller
) -> None:
    description = "Line one\r\nLine two\n\tindented"

    response = await upload(client, admin, HEADER + csv_line(description=description))

    assert response.status_code == 200, response.text
    assert (await products_by_sku(session, "CC-100"))["CC-100"].description == description


async def test_a_nul_in_the_csv_header_is_a_line_one_error(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    data = "sku,name\x00,price\nCC-100,Fine,1.00\n"

    for params in ({"dry_run": "true"}, {}):
        response = await upload(client, admin, data, **params)
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {
                "loc": ["line", 1, "header"],
                "message": "column 2 must not contain control characters (found U+0000)",
                "type": "csv",
            }
        ]


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
async def browser(app: FastAPI, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """An admin logged in through the admin form."""
    user = await make_user(session, role="admin")
    async with client_for(app) as browser:
        assert (await admin_login(browser, user.email)).status_code == 302
        yield browser


@pytest.mark.parametrize("mode", ["preview", "apply"])
async def test_a_nul_in_an_admin_import_is_a_line_error_on_the_page(
    browser: httpx.AsyncClient, session: AsyncSession, mode: str
) -> None:
    token = await page_token(browser)
    data = (HEADER + csv_line(name="Bad\x00name")).encode()

    response = await browser.post(
        "/admin/product-import",
        data={"mode": mode, "csrf_token": token},
        files={"file": ("products.csv", data, "text/csv")},
    )

    assert response.status_code == 400, response.text
    assert "<td>2</td><td>name</td>" in response.text
    assert "control characters (found U+0000)" in response.text
    assert await products_by_sku(session, "CC-100") == {}


async def test_a_nul_in_an_admin_product_form_is_a_message(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    token = await page_token(browser)

    response = await browser.post(
        "/admin/product/create",
        data={"sku": "CC-200", "name": "Bad\x00name", "price": "1.00", "csrf_token": token},
    )

    assert response.status_code == 400, response.text
    assert "name: must not contain control characters (found U+0000)" in response.text
    assert await products_by_sku(session, "CC-200") == {}


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        (
            "/admin/customer/create",
            {"name": "Bad\x00name", "email": "bad-name@example.com"},
            "name: must not contain control characters (found U+0000)",
        ),
        (
            "/admin/customer/create",
            {"name": "Ok", "email": "ok@example.com", "phone": "\x1b[2J"},
            "phone: must not contain control characters (found U+001B)",
        ),
        (
            "/admin/role/create",
            {"name": "r\x00le"},
            "name: must not contain control characters (found U+0000)",
        ),
    ],
)
async def test_a_control_character_in_an_admin_form_is_a_message(
    browser: httpx.AsyncClient,
    session: AsyncSession,
    path: str,
    fields: dict[str, str],
    message: str,
) -> None:
    token = await page_token(browser)
    customers_before = await session.scalar(select(func.count()).select_from(Customer))
    roles_before = await session.scalar(select(func.count()).select_from(Role))

    response = await browser.post(path, data={**fields, "csrf_token": token})

    assert response.status_code == 400, response.text
    assert message in response.text
    assert await session.scalar(select(func.count()).select_from(Customer)) == customers_before
    assert await session.scalar(select(func.count()).select_from(Role)) == roles_before


async def test_a_control_character_in_admin_order_notes_is_a_message(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    order = await make_order(session, customer=await make_customer(session))
    form = await browser.get(f"/admin/order/edit/{order.id}")
    version = re.findall(r'name="version"[^>]*value="(\d+)"', form.text)[0]

    response = await browser.post(
        f"/admin/order/edit/{order.id}",
        data={
            "customer": str(order.customer_id),
            "notes": "a\x00b",
            "version": version,
            "csrf_token": await page_token(browser),
        },
    )

    assert response.status_code == 400, response.text
    assert "notes: must not contain control characters (found U+0000)" in response.text


# --- the one definition ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_every_c0_control_and_del_is_refused_in_one_line(code: int) -> None:
    assert control_character_problem(f"a{chr(code)}b") == (
        f"must not contain control characters (found U+{code:04X})"
    )


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_only_tab_and_line_breaks_pass_in_multi_line_text(code: int) -> None:
    problem = control_character_problem(f"a{chr(code)}b", multiline=True)

    assert (problem is None) == (chr(code) in "\t\n\r")


@pytest.mark.parametrize("text", ["", "Plain", "Ünïcödé ✓ 日本", "\u0085 \u2028 \ufeff", " =+-@"])
def test_printable_and_other_unicode_text_passes(text: str) -> None:
    assert control_character_problem(text) is None


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/me/tokens", {"name": "a\x00b"}, "name"),
        ("/api/v1/me/tokens", {"name": "ok", "scopes": ["orders:read\x00"]}, "scopes"),
        (
            "/api/v1/webhooks",
            {"url": "https://hooks.example.com/\x00", "events": ["ping"]},
            "url",
        ),
        (
            "/api/v1/webhooks",
            {"url": "https://hooks.example.com/x", "description": "a\x1bb", "events": ["ping"]},
            "description",
        ),
        (
            "/api/v1/webhooks",
            {"url": "https://hooks.example.com/x", "events": ["ping\x00"]},
            "events",
        ),
    ],
)
async def test_a_control_character_in_a_token_or_webhook_field_is_a_422_naming_it(
    client: httpx.AsyncClient, session: AsyncSession, path: str, body: dict[str, object], field: str
) -> None:
    _, headers = await token_caller(session, role="admin")

    response = await client.post(path, json=body, headers=headers)

    problem = assert_problem(response, 422)
    assert any(field in error["loc"] for error in problem["errors"]), problem
