"""SPEC §14: every admin list pages forward and back under every sortable column. "next" on
a list sorted by price, total, stock or a timestamp was a 500 (the cursor's value was
compared as text); NULLs (a user who never logged in) must sort last both ways.

Each list gets rows spanning 3+ pages at 3 rows a page, with ties in the sort column and
NULLs where it has them; the walk goes next to the end and prev back to the start, and
must see every row exactly once each way, in the order the database gives for
`ORDER BY (column IS NULL), column, id` (an order written independently of the code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import MODEL_VIEWS
from app.auth.api_tokens import create_token
from app.auth.principal import Principal, RequestMeta
from app.auth.sessions import start_session
from app.auth.token_commands import CreateToken
from app.infra.settings import Settings
from app.lists.cursors import CursorCodec
from app.models import ApiToken, User, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.roles.commands import CreateRole
from app.roles.service import create_role
from tests.admin.hostile import admin_browser
from tests.factories import make_customer, make_order, make_product, make_user

PAGE_SIZE = 3
ROWS = 11
SYSTEM = Principal.system()
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROW_ID = re.compile(r'<input type="hidden" value="(\d+)">')
NEXT = re.compile(r'id="page-next" href="([^"#]+)"')
PREVIOUS = re.compile(r'id="page-previous" href="([^"#]+)"')
VIEWS = {view.identity: view for view in MODEL_VIEWS}
CASES = [
    (identity, column, direction)
    for identity, view in VIEWS.items()
    for column in view.column_sortable_list
    for direction in ("asc", "desc")
]


def _moment(i: int) -> datetime | None:
    """Timestamps with ties (pairs) and NULLs (every third)."""
    return None if i % 3 == 0 else WHEN + timedelta(minutes=i // 2)


async def _fill(session: AsyncSession, settings: Settings, identity: str) -> None:
    """ROWS more rows of the view's table, with tied sort values and NULLs."""
    meta = RequestMeta(request_id=None, ip="127.0.0.1", user_agent="pager")
    for i in range(ROWS):
        if identity == "customer":
            await make_customer(session, company=f"Co {i % 2}", name=f"Same {i % 3}")
        elif identity == "product":
            await make_product(
                session, price=Decimal(f"{i % 3}.50"), stock=i % 2, name=f"Gear {i % 3}"
            )
        elif identity == "order":
            buyer = await make_customer(session)
            product = await make_product(session, stock=10, price=Decimal("1.25"))
            await make_order(session, customer=buyer, items=[(product, 1 + i % 2)])
        elif identity in {"user", "api-token", "staff-session"}:
            user = await make_user(session, role="viewer", full_name=f"Twin {i % 2}")
            user.last_login_at = _moment(i)
            token, _ = await create_token(session, SYSTEM, user, CreateToken(name=f"job {i % 2}"))
            token.last_used_at = _moment(i)
            started = await start_session(session, user, meta, settings)
            started.row.last_seen_at = _moment(i) or WHEN
        elif identity in {"role", "audit-event"}:
            await create_role(session, SYSTEM, CreateRole(name=f"pager-{i}-{id(session)}"))
        elif identity in {"webhook-endpoint", "webhook-delivery"}:
            endpoint = WebhookEndpoint(
                url=f"https://hooks{i}.example.com/in", secret="s" * 32, events=["order.placed"]
            )
            event = WebhookEvent(type="order.placed", data={})
            session.add_all([endpoint, event])
            await session.flush()
            session.add(
                WebhookDelivery(
                    event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=_moment(i) or WHEN
                )
            )
    await session.flush()


async def _expected(session: AsyncSession, view: Any, name: str, descending: bool) -> list[int]:
    """Every row's id in the list's order, as the database sorts it with IS NULL first."""
    model = view.model
    column, id_column = getattr(model, name), model.id
    by_value = column.desc() if descending else column.asc()
    by_id = id_column.desc() if descending else id_column.asc()
    order = [by_id] if name == "id" else [column.is_(None), by_value, by_id]
    return list((await session.execute(select(model.id).order_by(*order))).scalars())


async def _walk(browser: httpx.AsyncClient, first: str) -> tuple[list[int], list[int]]:
    """(ids going next from `first` to the end, ids going prev back, in list order)."""
    forward: list[int] = []
    pages = 0
    url: str | None = first
    html = ""
    while url is not None:
        response = await browser.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.text
        forward += [int(pk) for pk in ROW_ID.findall(html)]
        found = NEXT.search(html)
        url = found.group(1).replace("&amp;", "&") if found else None
        pages += 1
        assert pages < 100, "next never ends"
    # Back from the last page (its own rows included) to the first.
    backward = [int(pk) for pk in ROW_ID.findall(html)]
    while (found := PREVIOUS.search(html)) is not None:
        response = await browser.get(found.group(1).replace("&amp;", "&"))
        assert response.status_code == 200, response.status_code
        html = response.text
        backward = [int(pk) for pk in ROW_ID.findall(html)] + backward
        pages += 1
        assert pages < 200, "prev never ends"
    return forward, backward


@pytest.mark.parametrize(("identity", "column", "direction"), CASES)
async def test_every_admin_list_pages_forward_and_back_under_every_sortable_column(
    app: FastAPI,
    session: AsyncSession,
    settings: Settings,
    identity: str,
    column: str,
    direction: str,
) -> None:
    view = VIEWS[identity]
    async with admin_browser(app, session) as (browser, _):
        await _fill(session, settings, identity)
        expected = await _expected(session, view, column, direction == "desc")
        first = f"/admin/{identity}/list?sortBy={column}&sort={direction}&pageSize={PAGE_SIZE}"
        forward, backward = await _walk(browser, first)
        # Nothing the walk did changed the rows or their order.
        assert await _expected(session, view, column, direction == "desc") == expected

    assert len(expected) > 3 * PAGE_SIZE
    assert forward == expected
    assert backward == expected


async def test_the_lists_have_ties_and_nulls_to_page_through(
    session: AsyncSession, settings: Settings
) -> None:
    # The walk above proves something only if the data has what breaks naive keysets.
    for identity in ("user", "product"):
        await _fill(session, settings, identity)
    logins = list((await session.execute(select(User.last_login_at))).scalars())
    uses = list((await session.execute(select(ApiToken.last_used_at))).scalars())
    assert logins.count(None) >= 3 and len(set(logins)) < len(logins)
    assert uses.count(None) >= 3
    assert inspect(User).columns["last_login_at"].nullable


FORGED: list[str | list[Any]] = [
    "garbage",
    "e30.AAAA",
    "x" * 5000,
    "\x00",
    # Well signed, but not a position of this list (the tests hold the key).
    ["-price", "not a number", 1],
    ["-price", "1e999999", 1],
    ["-price", "NaN", 1],
    ["-price", None, 1],  # price is never NULL
    ["-price", "1.50", 99999999999],
    ["-price", "1.50", True],
    ["-price", ["1.50"], 1],
    ["price", "1.50", 1],  # another sort's cursor
]


@pytest.mark.parametrize("forged", FORGED)
@pytest.mark.parametrize("param", ["after", "before"])
async def test_a_tampered_or_forged_cursor_is_a_message_and_the_first_page(
    app: FastAPI, session: AsyncSession, settings: Settings, param: str, forged: str | list[Any]
) -> None:
    await _fill(session, settings, "product")
    codec = CursorCodec(settings.secret_key)
    cursor = forged if isinstance(forged, str) else codec.sign(forged)
    async with admin_browser(app, session) as (browser, _):
        response = await browser.get(
            "/admin/product/list",
            params={"sortBy": "price", "sort": "desc", "pageSize": "3", param: cursor},
        )

    assert response.status_code == 200
    assert len(ROW_ID.findall(response.text)) == PAGE_SIZE
    assert "alert-danger" in response.text
