"""One webhook endpoint, two doors, one answer (issue 15): the API's POST and the admin's
create form store the same row, or refuse naming the same field with the same message
(the command's rule, or the service's URL check). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import WebhookEndpoint
from tests.contract.test_doors_agree import (
    Doors,
    Stored,
    created,
    doors,  # noqa: F401 (the fixture)
    expected_outcome,
    refused_by_admin,
    refused_by_api,
)

WEBHOOKS = "/api/v1/webhooks"
FIELDS = ("url", "description", "events", "is_active")
# A literal public address: checked without asking DNS, never connected to.
PUBLIC_URL = "https://93.184.215.14/hook"
ORDER_PLACED = ["order.placed"]


def endpoint(**values: Any) -> dict[str, Any]:
    return {"description": "", "is_active": True, **values}


# (what is typed, the stored row or the refused field)
CREATES: dict[str, tuple[dict[str, Any], dict[str, Any] | str]] = {
    "valid": (
        {"url": f"  {PUBLIC_URL} ", "events": ["order.placed", "customer.created"]},
        endpoint(url=PUBLIC_URL, events=["customer.created", "order.placed"]),
    ),
    "URL that is not http": ({"url": "ftp://93.184.215.14/hook", "events": ORDER_PLACED}, "url"),
    "URL to a private address": ({"url": "http://10.0.0.1/hook", "events": ORDER_PLACED}, "url"),
    "unknown event": ({"url": PUBLIC_URL, "events": ["order.placed", "order.eaten"]}, "events"),
    "no event": ({"url": PUBLIC_URL, "events": []}, "events"),
    "over-long description": (
        {"url": PUBLIC_URL, "events": ["order.placed"], "description": "x" * 256},
        "description",
    ),
}


@pytest.mark.parametrize("case", list(CREATES))
async def test_a_new_webhook_endpoint_gets_one_answer_from_both_doors(
    doors: Doors,  # noqa: F811
    case: str,
) -> None:
    typed, expected = CREATES[case]
    form = {"description": "", "is_active": "y", **typed}

    async def create(send: Any, refused: Any, success: int) -> Any:
        return await created(doors, WebhookEndpoint, FIELDS, send, refused, success)

    outcomes = {
        "api": await create(
            lambda: doors.client.post(WEBHOOKS, json=typed, headers=doors.staff.headers),
            lambda r: refused_by_api(r, ("body",)),
            201,
        ),
        # The admin shows the new secret once on the page itself (200), no redirect.
        "admin": await create(
            lambda: doors.admin_post("/admin/webhook-endpoint/create", form),
            refused_by_admin,
            200,
        ),
    }

    expected_outcome(outcomes, expected)


EDITS: dict[str, tuple[dict[str, Any], dict[str, Any] | str]] = {
    "new events and description": (
        {"events": ["order.paid"], "description": "ERP"},
        {"events": ["order.paid"], "description": "ERP"},
    ),
    "unknown event": ({"events": ["order.eaten"]}, "events"),
    "URL that is not http": ({"url": "ftp://93.184.215.14/hook"}, "url"),
}


@pytest.mark.parametrize("case", list(EDITS))
async def test_an_edit_of_a_webhook_endpoint_gets_one_answer_from_both_doors(
    doors: Doors,  # noqa: F811
    case: str,
) -> None:
    typed, expected = EDITS[case]

    async def edit(through_admin: bool) -> Any:
        made = await doors.client.post(
            WEBHOOKS, json={"url": PUBLIC_URL, "events": ORDER_PLACED}, headers=doors.staff.headers
        )
        row = await doors.session.get(WebhookEndpoint, made.json()["id"])
        assert row is not None
        before = {name: getattr(row, name) for name in FIELDS}
        if through_admin:
            form = {"url": row.url, "description": "", "events": row.events, "is_active": "y"}
            response = await doors.admin_post(
                f"/admin/webhook-endpoint/edit/{row.id}",
                {**form, **typed, "version": str(row.version)},
            )
            success, refused = 302, refused_by_admin
        else:
            headers = {**doors.staff.headers, "If-Match": f'"{row.version}"'}
            response = await doors.client.patch(f"{WEBHOOKS}/{row.id}", json=typed, headers=headers)
            success, refused = 200, lambda r: refused_by_api(r, ("body",))
        await doors.session.refresh(row)
        after = {name: getattr(row, name) for name in FIELDS}
        if response.status_code != success:
            assert after == before, "refused, yet the row changed"
            return refused(response)
        return Stored({k: v for k, v in after.items() if before[k] != v})

    expected_outcome({"api": await edit(False), "admin": await edit(True)}, expected)
