"""Customers over the JSON API (SPEC §6, §7, §9): auth, permissions, validation, ETags, audit."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.api.domain_helpers import (
    assert_problem,
    audit_events,
    error_fields,
    only_audit_event,
    token_caller,
)
from tests.factories import make_customer, make_order

URL = "/api/v1/customers"
MISSING_ID = 987_654_321
NEW_CUSTOMER = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "company": "Analytical Engines",
    "notes": "Prefers email.",
}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: object
) -> httpx.Response:
    return await client.post(URL, json={**NEW_CUSTOMER, **fields}, headers=headers)


# --- authentication and permissions --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", URL),
        ("GET", f"{URL}/1"),
        ("POST", URL),
        ("PATCH", f"{URL}/1"),
        ("DELETE", f"{URL}/1"),
    ],
)
async def test_anonymous_caller_gets_401_with_bearer_challenge(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    body = NEW_CUSTOMER if method in {"POST", "PATCH"} else None

    response = await client.request(method, path, json=body)

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_personal_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(URL, headers={"Authorization": "Bearer bo_" + "x" * 43})

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_viewer_can_read_but_not_create_update_or_delete_customers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Unchanged")
    _, viewer = await token_caller(session, "viewer")

    assert (await client.get(f"{URL}/{customer.id}", headers=viewer)).status_code == 200
    assert_problem(await create(client, viewer), 403)
    assert_problem(
        await client.patch(f"{URL}/{customer.id}", json={"name": "Changed"}, headers=viewer), 403
    )
    assert_problem(await client.delete(f"{URL}/{customer.id}", headers=viewer), 403)

    _, admin = await token_caller(session, "admin")
    after = (await client.get(f"{URL}/{customer.id}", headers=admin)).json()
    assert after["name"] == "Unchanged"
    assert after["version"] == 1
    assert await audit_events(session, "customer", customer.id) == []


async def test_clerk_can_create_and_edit_but_not_delete_customers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, clerk = await token_caller(session, "clerk")

    created = await create(client, clerk)
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    edited = await client.patch(f"{URL}/{customer_id}", json={"notes": "VIP"}, headers=clerk)
    assert edited.status_code == 200, edited.text

    body = assert_problem(await client.delete(f"{URL}/{customer_id}", headers=clerk), 403)
    assert "customers:delete" in body["detail"]
    assert (await client.get(f"{URL}/{customer_id}", headers=clerk)).status_code == 200


async def test_token_without_any_role_is_403_not_401(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, nobody = await token_caller(session, None)

    assert_problem(await client.get(URL, headers=nobody), 403)


# --- missing rows and invalid bodies -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"name": "Nobody"}), ("DELETE", None)],
)
async def test_unknown_customer_is_404(
    client: httpx.AsyncClient, session: AsyncSession, method: str, body: object
) -> None:
    _, admin = await token_caller(session)

    response = await client.request(method, f"{URL}/{MISSING_ID}", json=body, headers=admin)

    assert_problem(response, 404)


async def test_invalid_customer_lists_every_bad_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        URL,
        json={
            "name": "",
            "email": "not-an-email",
            "phone": "9" * 51,
            "is_active": "perhaps",
            "colour": "blue",
        },
        headers=admin,
    )

    body = assert_problem(response, 422)
    assert error_fields(body) == {"name", "email", "phone", "is_active", "colour"}
    assert all(error["loc"][0] == "body" for error in body["errors"])
    assert (await client.get(URL, headers=admin)).json()["items"] == []


async def test_missing_required_customer_fields_are_each_listed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    body = assert_problem(await client.post(URL, json={}, headers=admin), 422)

    assert error_fields(body) == {"name", "email"}
    assert {error["type"] for error in body["errors"]} == {"missing"}


async def test_invalid_patch_lists_every_bad_field_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Kept")
    _, admin = await token_caller(session)

    response = await client.patch(
        f"{URL}/{customer.id}", json={"name": "", "email": "@", "notes": 5}, headers=admin
    )

    assert error_fields(assert_problem(response, 422)) == {"name", "email", "notes"}
    assert (await client.get(f"{URL}/{customer.id}", headers=admin)).json()["name"] == "Kept"


@pytest.mark.parametrize("field", ["name", "email", "is_active"])
async def test_explicit_null_for_a_required_field_is_422(
    client: httpx.AsyncClient, session: AsyncSession, field: str
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)

    response = await client.patch(f"{URL}/{customer.id}", json={field: None}, headers=admin)

    assert error_fields(assert_problem(response, 422)) == {field}
    after = (await client.get(f"{URL}/{customer.id}", headers=admin)).json()
    assert after["version"] == 1


# --- happy paths and conditional requests --------------------------------------------------


async def test_create_customer_returns_201_with_location_and_etag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await create(client, admin)

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{URL}/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert {k: body[k] for k in NEW_CUSTOMER} == NEW_CUSTOMER
    assert body["is_active"] is True
    assert body["version"] == 1
    assert body["created_at"].endswith(("+00:00", "Z"))
    fetched = await client.get(response.headers["location"], headers=admin)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_get_with_current_etag_in_if_none_match_is_304(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)
    first = await client.get(f"{URL}/{customer.id}", headers=admin)
    etag = first.headers["etag"]

    cached = await client.get(f"{URL}/{customer.id}", headers={**admin, "If-None-Match": etag})
    stale = await client.get(f"{URL}/{customer.id}", headers={**admin, "If-None-Match": '"99"'})

    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert stale.status_code == 200
    assert stale.json() == first.json()


async def test_patch_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, phone="111")
    _, admin = await token_caller(session)
    first = await client.patch(
        f"{URL}/{customer.id}", json={"phone": "222"}, headers={**admin, "If-Match": '"1"'}
    )
    assert first.status_code == 200, first.text

    late = await client.patch(
        f"{URL}/{customer.id}", json={"phone": "333"}, headers={**admin, "If-Match": '"1"'}
    )

    assert_problem(late, 412)
    after = (await client.get(f"{URL}/{customer.id}", headers=admin)).json()
    assert (after["phone"], after["version"]) == ("222", 2)
    assert len(await audit_events(session, "customer", customer.id, "customer.updated")) == 1


async def test_patch_with_current_if_match_bumps_version_and_etag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, company="Old Co")
    _, admin = await token_caller(session)
    etag = (await client.get(f"{URL}/{customer.id}", headers=admin)).headers["etag"]

    response = await client.patch(
        f"{URL}/{customer.id}", json={"company": "New Co"}, headers={**admin, "If-Match": etag}
    )

    assert response.status_code == 200, response.text
    assert response.json()["company"] == "New Co"
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'


async def test_patch_sends_only_the_given_fields(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, phone="555", company="Keep Co")
    _, admin = await token_caller(session)

    response = await client.patch(f"{URL}/{customer.id}", json={"phone": "556"}, headers=admin)

    assert response.status_code == 200, response.text
    assert (response.json()["phone"], response.json()["company"]) == ("556", "Keep Co")


async def test_delete_customer_is_204_and_then_404(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)

    response = await client.delete(f"{URL}/{customer.id}", headers=admin)

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"{URL}/{customer.id}", headers=admin), 404)


async def test_delete_with_stale_if_match_is_412_and_keeps_the_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)

    response = await client.delete(f"{URL}/{customer.id}", headers={**admin, "If-Match": '"7"'})

    assert_problem(response, 412)
    assert (await client.get(f"{URL}/{customer.id}", headers=admin)).status_code == 200


# --- conflicts -----------------------------------------------------------------------------


async def test_duplicate_email_in_another_case_is_409_naming_email(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_customer(session, email="grace@example.com")
    _, admin = await token_caller(session)

    response = await create(client, admin, email="Grace@EXAMPLE.com")

    body = assert_problem(response, 409)
    assert body["field"] == "email"
    assert "email" in body["detail"]


async def test_changing_email_to_a_taken_one_is_409_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_customer(session, email="taken@example.com")
    customer = await make_customer(session, email="mine@example.com")
    _, admin = await token_caller(session)

    response = await client.patch(
        f"{URL}/{customer.id}", json={"email": "TAKEN@example.com"}, headers=admin
    )

    assert assert_problem(response, 409)["field"] == "email"
    after = (await client.get(f"{URL}/{customer.id}", headers=admin)).json()
    assert after["email"] == "mine@example.com"


async def test_changing_only_the_case_of_ones_own_email_is_allowed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, email="case@example.com")
    _, admin = await token_caller(session)

    response = await client.patch(
        f"{URL}/{customer.id}", json={"email": "Case@example.com"}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "Case@example.com"


async def test_deleting_a_customer_with_orders_is_409_naming_the_count(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await make_order(session, customer=customer)
    await make_order(session, customer=customer)
    _, admin = await token_caller(session)

    response = await client.delete(f"{URL}/{customer.id}", headers=admin)

    body = assert_problem(response, 409)
    assert "2 order" in body["detail"]
    assert body["referencing_orders"] == 2
    assert (await client.get(f"{URL}/{customer.id}", headers=admin)).status_code == 200


# --- audit ---------------------------------------------------------------------------------


async def test_create_writes_an_audit_row_with_every_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, admin = await token_caller(session)

    response = await create(client, admin)

    customer_id = response.json()["id"]
    event = await only_audit_event(session, "customer", customer_id, "customer.created")
    assert event.changes == {
        "name": [None, "Ada Lovelace"],
        "email": [None, "ada@example.com"],
        "phone": [None, "+44 20 7946 0000"],
        "company": [None, "Analytical Engines"],
        "notes": [None, "Prefers email."],
        "is_active": [None, True],
    }
    assert event.channel == "api"
    assert (event.actor_user_id, event.actor_email) == (user.id, user.email)
    assert event.token_id is not None
    assert event.request_id == response.headers["x-request-id"]


async def test_update_writes_an_audit_row_with_old_and_new_values(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, phone="111", company="Same")
    user, admin = await token_caller(session, "clerk")

    await client.patch(
        f"{URL}/{customer.id}",
        json={"phone": "222", "company": "Same", "is_active": False},
        headers=admin,
    )

    event = await only_audit_event(session, "customer", customer.id, "customer.updated")
    assert event.changes == {"phone": ["111", "222"], "is_active": [True, False]}
    assert (event.channel, event.actor_user_id) == ("api", user.id)


async def test_patch_that_changes_nothing_writes_no_audit_row(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, phone="111")
    _, admin = await token_caller(session)

    response = await client.patch(f"{URL}/{customer.id}", json={"phone": "111"}, headers=admin)

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert await audit_events(session, "customer", customer.id) == []


async def test_delete_writes_an_audit_row_with_the_old_values(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Gone", email="gone@example.com", phone="9")
    user, admin = await token_caller(session)

    await client.delete(f"{URL}/{customer.id}", headers=admin)

    event = await only_audit_event(session, "customer", customer.id, "customer.deleted")
    assert event.changes == {
        "name": ["Gone", None],
        "email": ["gone@example.com", None],
        "phone": ["9", None],
        "company": ["", None],
        "notes": ["", None],
        "is_active": [True, None],
    }
    assert (event.channel, event.actor_user_id) == ("api", user.id)


async def test_refused_writes_leave_no_audit_row(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await make_order(session, customer=customer)
    _, viewer = await token_caller(session, "viewer")
    _, admin = await token_caller(session)

    await client.patch(f"{URL}/{customer.id}", json={"name": "X"}, headers=viewer)
    await client.delete(f"{URL}/{customer.id}", headers=admin)

    assert await audit_events(session, "customer", customer.id) == []
