"""The OpenAPI document: bearer security on authenticated operations, tags in reading order."""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import OPENAPI_TAGS
from app.models import OrderStatus
from app.models.webhooks import DELIVERY_STATUSES
from app.permissions import PERMISSIONS
from app.webhooks.commands import SUBSCRIBABLE
from tests.api.domain_helpers import token_caller


async def test_authenticated_operations_declare_both_bearer_schemes(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    both = [{"OAuth2PasswordBearer": []}, {"HTTPBearer": []}]

    assert set(document["components"]["securitySchemes"]) == {"OAuth2PasswordBearer", "HTTPBearer"}
    assert paths["/api/v1/products"]["get"]["security"] == both
    assert paths["/api/v1/orders/{order_id}/place"]["post"]["security"] == both
    assert paths["/api/v1/me"]["get"]["security"] == both
    assert "security" not in paths["/api/v1/auth/token"]["post"]  # the password flow itself
    assert "security" not in paths["/healthz"]["get"]


async def test_tags_keep_their_reading_order_whatever_the_matching_order(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    assert [tag["name"] for tag in document["tags"]] == [tag["name"] for tag in OPENAPI_TAGS]
    assert document["tags"][0]["name"] == "auth"


# --- what a client generator reads (issue 18) ----------------------------------------------

PERSON_NAMED = re.compile(r"^[a-z]+(_[a-z]+)*$")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


async def test_every_operation_is_named_as_a_person_would(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    ids = [operation["operationId"] for _, _, operation in _operations(document)]

    assert len(ids) == len(set(ids))
    assert [name for name in ids if not PERSON_NAMED.match(name) or "api_v1" in name] == []
    for name in (
        "list_products",
        "create_customer",
        "place_order",
        "read_product",
        "update_customer",
        "add_order_item",
        "list_webhook_endpoints",
        "healthz",
    ):
        assert name in ids


async def test_a_resource_names_its_path_parameter_one_way(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    names: dict[str, set[str]] = {}
    for path in document["paths"]:
        segments = path.split("/")
        for before, segment in itertools.pairwise(segments):
            if segment.startswith("{"):
                names.setdefault(before, set()).add(segment)

    assert {before: found for before, found in names.items() if len(found) > 1} == {}
    assert names["products"] == {"{product_id}"}
    assert names["customers"] == {"{customer_id}"}


async def test_the_headers_read_and_written_are_declared(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    for path, method, operation in _operations(document):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        if method == "post" and operation.get("security"):
            assert "Idempotency-Key" in headers, where
        assert ("If-Match" in headers) == ("412" in responses), where
        assert ("If-None-Match" in headers) == ("304" in responses), where
        for status, response in responses.items():
            written = set(response.get("headers", {}))
            assert "X-Request-ID" in written, (where, status)
            if operation.get("security"):
                assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= written
            if status == "201":
                assert "Location" in written, where
            if status in {"429", "503"}:
                assert "Retry-After" in written, (where, status)
    place = document["paths"]["/api/v1/orders/{order_id}/place"]["post"]
    assert "ETag" in place["responses"]["200"]["headers"]


async def test_the_declared_headers_are_the_ones_the_server_acts_on(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Each declared header, sent, changes the answer as documented."""
    _, admin = await token_caller(session)
    created = await client.post(
        "/api/v1/products",
        json={"sku": "DOC-001", "name": "Doc", "price": "1.00"},
        headers={**admin, "Idempotency-Key": "doc-1"},
    )
    replayed = await client.post(
        "/api/v1/products",
        json={"sku": "DOC-001", "name": "Doc", "price": "1.00"},
        headers={**admin, "Idempotency-Key": "doc-1"},
    )
    assert created.status_code == replayed.status_code == 201
    assert replayed.json()["id"] == created.json()["id"]
    assert created.headers["location"] == f"/api/v1/products/{created.json()['id']}"
    url = created.headers["location"]
    etag = created.headers["etag"]
    assert (await client.get(url, headers={**admin, "If-None-Match": etag})).status_code == 304
    stale = await client.patch(url, json={"name": "x"}, headers={**admin, "If-Match": '"99"'})
    assert stale.status_code == 412
    for name in ("x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        assert name in stale.headers


async def test_edit_bodies_never_offer_null(client: httpx.AsyncClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    edits = [name for name in schemas if name.endswith("Update") or name.startswith("Update")]
    assert {"ProductUpdate", "CustomerUpdate", "OrderUpdate", "UpdateUser"} <= set(edits)
    nullable = [
        (name, field)
        for name in edits
        for field, schema in schemas[name]["properties"].items()
        if {"type": "null"} in schema.get("anyOf", []) or "default" in schema
    ]
    assert nullable == []
    assert "required" not in schemas["ProductUpdate"]


async def test_sets_the_server_enforces_are_enums(client: httpx.AsyncClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]

    assert set(schemas["OrderRead"]["properties"]["status"]["enum"]) == set(OrderStatus)
    events = schemas["WebhookEndpointCreate"]["properties"]["events"]["items"]["enum"]
    assert set(events) == set(SUBSCRIBABLE)
    scopes = schemas["CreateToken"]["properties"]["scopes"]["items"]["enum"]
    assert set(scopes) == set(PERMISSIONS)
    permissions = schemas["CreateRole"]["properties"]["permissions"]["items"]["enum"]
    assert set(permissions) == set(PERMISSIONS)
    assert set(schemas["WebhookDeliveryRead"]["properties"]["status"]["enum"]) == set(
        DELIVERY_STATUSES
    )


async def test_money_is_a_decimal_string_in_the_document_and_at_the_door(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    for name in ("ProductCreate", "ProductUpdate"):
        assert schemas[name]["properties"]["price"]["type"] == "string"
    _, admin = await token_caller(session)
    for price in (12.5, 7, 1e3):
        response = await client.post(
            "/api/v1/products", json={"sku": "NUM-001", "name": "n", "price": price}, headers=admin
        )
        assert response.status_code == 422, price
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "price"]]


async def test_a_flag_is_a_json_boolean(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, admin = await token_caller(session)
    for flag in (0, 1, "yes please", None):
        response = await client.post(
            "/api/v1/customers",
            json={"name": "n", "email": "flag@example.com", "is_active": flag},
            headers=admin,
        )
        assert response.status_code == 422, flag
    accepted = await client.post(
        "/api/v1/customers",
        json={"name": "n", "email": "flag@example.com", "is_active": False},
        headers=admin,
    )
    assert accepted.status_code == 201 and accepted.json()["is_active"] is False


async def test_every_405_names_every_method_the_path_answers(client: httpx.AsyncClient) -> None:
    """`Allow` lists the methods of every route whose path template takes the path (a
    template's `{id}` takes any one segment, as the router's does: `export.csv` too)."""
    paths = (await _document(client))["paths"]
    templates = {
        path: re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for path in paths
    }
    for path in paths:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        answered = {
            method.upper()
            for template, pattern in templates.items()
            if pattern.match(concrete)
            for method in paths[template]
        }
        unused = next(m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in answered)
        response = await client.request(unused, concrete)
        assert response.status_code == 405, (unused, path)
        assert set(response.headers["allow"].split(", ")) == answered, path


async def test_text_fields_state_the_characters_they_refuse(client: httpx.AsyncClient) -> None:
    """The control-character rule (app/text_rules.py) is in the document as a pattern."""
    schemas = (await _document(client))["components"]["schemas"]
    one_line = re.compile(schemas["CustomerCreate"]["properties"]["name"]["pattern"])
    multi_line = re.compile(schemas["CustomerCreate"]["properties"]["notes"]["pattern"])

    assert one_line.match("Ada Lovelace") and multi_line.match("two\nlines\tand a tab")
    assert not one_line.match("a\nb") and not one_line.match("nul\x00")
    assert not multi_line.match("bell\x07") and not multi_line.match("del\x7f")
    # A field with its own pattern keeps it (the SKU's).
    assert schemas["ProductCreate"]["properties"]["sku"]["pattern"].startswith(r"^\s*[A-Za-z")
