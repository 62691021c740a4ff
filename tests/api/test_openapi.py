"""The OpenAPI document: bearer security on authenticated operations, tags in reading order."""

from __future__ import annotations

import httpx

from app.main import OPENAPI_TAGS


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
