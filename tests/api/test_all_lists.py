"""Every list endpoint follows SPEC §6: `{"items", "next_cursor"}`, limit 1–200, opaque
cursors that walk every row once under every documented sort, `q`, include_total, and
the same number of statements whatever the limit."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.audit_log.service import LIST_SPEC as AUDIT_SPEC
from app.auth import api_tokens
from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.customers.service import LIST_SPEC as CUSTOMER_SPEC
from app.lists.grammar import ListSpec
from app.models import (
    ApiToken,
    AuditEvent,
    Customer,
    Order,
    Product,
    Role,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.orders.service import LIST_SPEC as ORDER_SPEC
from app.permissions import PERMISSIONS
from app.products.service import LIST_SPEC as PRODUCT_SPEC
from app.roles import service as roles
from app.users import service as users
from app.webhooks import service as webhooks
from tests.api.domain_helpers import assert_problem
from tests.api.order_helpers import Caller, caller, statements_on
from tests.factories import make_customer, make_order, make_product, make_user

ROWS = 7  # with a page of 3: two full pages and a short one
PAGE = "3"
WHEN = datetime(2026, 2, 1, tzinfo=UTC)
_unique = itertools.count(1)


@dataclass
class World:
    """The caller and what the nested lists hang from (one webhook endpoint)."""

    session: AsyncSession
    caller: Caller
    endpoint_id: int = 0


def marker(i: int) -> str:
    """Text that `q=zq1x` finds in rows 1, 4, 7, … (and nowhere else in the database)."""
    return f"zq{i % 3}x"


def tie(i: int) -> datetime | None:
    """Timestamps in pairs (ties the id must break), NULL for every third row."""
    return None if i % 3 == 0 else WHEN + timedelta(minutes=i // 2)


async def seed_user(world: World, i: int) -> None:
    user = await make_user(
        world.session, role=None, full_name=f"Same {i % 2} {marker(i)}", email=None
    )
    user.last_login_at = tie(i)


async def seed_token(world: World, i: int) -> None:
    token, _ = await create_token(
        world.session,
        Principal.system(),
        world.caller.user,
        CreateToken(name=f"t{i % 2} {marker(i)}"),
    )
    token.last_used_at = tie(i)
    token.expires_at = None if i % 3 == 0 else WHEN + timedelta(days=365 + i // 2)


async def seed_endpoint(world: World, i: int) -> None:
    world.session.add(
        WebhookEndpoint(
            url=f"https://hooks{i % 2}.example.com/{next(_unique)}",
            description=marker(i),
            events=["order.placed"],
            secret="s" * 32,
        )
    )


async def seed_delivery(world: World, i: int) -> None:
    event = WebhookEvent(type="order.placed", data={})
    world.session.add(event)
    await world.session.flush()
    world.session.add(
        WebhookDelivery(
            event_id=event.id,
            endpoint_id=world.endpoint_id,
            next_attempt_at=WHEN + timedelta(minutes=i // 2),
            last_error=marker(i),
        )
    )


async def seed_audit_event(world: World, i: int) -> None:
    world.session.add(
        AuditEvent(
            channel="system",
            action=f"probe.{marker(i)}",
            changes={},
            occurred_at=WHEN + timedelta(minutes=i // 2),
        )
    )


async def seed_role(world: World, i: int) -> None:
    world.session.add(
        Role(name=f"lists-{next(_unique)}", description=marker(i), permissions=["orders:read"])
    )


async def seed_customer(world: World, i: int) -> None:
    await make_customer(world.session, name=f"Same {i % 2} {marker(i)}", company=f"co{i % 2}")


async def seed_product(world: World, i: int) -> None:
    await make_product(world.session, name=f"Same {i % 2} {marker(i)}", stock=i % 2)


async def seed_order(world: World, i: int) -> None:
    order = await make_order(world.session)
    order.notes = marker(i)


async def no_rows(world: World, i: int) -> None:
    """The permission registry is fixed: nothing to add."""


@dataclass(frozen=True)
class Listed:
    url: str
    spec: ListSpec
    seed: Callable[[World, int], Awaitable[None]]
    # Every row the list shows the caller, by key (read straight from the database).
    expected: Callable[[World], Select[Any]]
    key: str = "id"
    q_matches: int = len([i for i in range(ROWS) if i % 3 == 1])


LISTS = {
    "users": Listed("/api/v1/users", users.LIST_SPEC, seed_user, lambda w: select(User.id)),
    "tokens": Listed(
        "/api/v1/me/tokens",
        api_tokens.LIST_SPEC,
        seed_token,
        lambda w: select(ApiToken.id).where(ApiToken.user_id == w.caller.user.id),
    ),
    "webhooks": Listed(
        "/api/v1/webhooks",
        webhooks.ENDPOINT_SPEC,
        seed_endpoint,
        lambda w: select(WebhookEndpoint.id),
    ),
    "deliveries": Listed(
        "/api/v1/webhooks/{endpoint_id}/deliveries",
        webhooks.DELIVERY_SPEC,
        seed_delivery,
        lambda w: select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == w.endpoint_id),
    ),
    "audit-events": Listed(
        "/api/v1/audit-events", AUDIT_SPEC, seed_audit_event, lambda w: select(AuditEvent.id)
    ),
    "roles": Listed("/api/v1/roles", roles.LIST_SPEC, seed_role, lambda w: select(Role.id)),
    "permissions": Listed(
        "/api/v1/permissions",
        roles.PERMISSION_SPEC,
        no_rows,
        lambda w: select(roles.PERMISSION_ROWS.c.name),
        key="name",
        q_matches=len([name for name, text in PERMISSIONS.items() if "audit" in name + text]),
    ),
    "customers": Listed(
        "/api/v1/customers", CUSTOMER_SPEC, seed_customer, lambda w: select(Customer.id)
    ),
    "products": Listed(
        "/api/v1/products", PRODUCT_SPEC, seed_product, lambda w: select(Product.id)
    ),
    "orders": Listed("/api/v1/orders", ORDER_SPEC, seed_order, lambda w: select(Order.id)),
}
SORTS = [
    pytest.param(name, f"{sign}{field}", id=f"{name}-{sign}{field}")
    for name, listed in LISTS.items()
    for field in listed.spec.sortable
    for sign in ("", "-")
]


async def world_of(session: AsyncSession, listed: Listed, rows: int = ROWS) -> World:
    """An admin caller (their token already used once) and `rows` rows of the list."""
    world = World(session, await caller(session, "admin"))
    endpoint = WebhookEndpoint(url="https://lists.example.com/", events=["ping"], secret="s" * 32)
    session.add(endpoint)
    await session.flush()
    world.endpoint_id = endpoint.id
    for i in range(rows):
        await listed.seed(world, i)
    await session.flush()
    return world


def url_of(listed: Listed, world: World) -> str:
    return listed.url.format(endpoint_id=world.endpoint_id)


async def expected_keys(world: World, listed: Listed) -> set[Any]:
    return set((await world.session.execute(listed.expected(world))).scalars())


async def walk(
    client: httpx.AsyncClient, world: World, listed: Listed, params: dict[str, str]
) -> list[Any]:
    """The keys of every item, following next_cursor page by page."""
    keys: list[Any] = []
    cursor: str | None = None
    for _ in range(200):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            url_of(listed, world), params=query, headers=world.caller.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= int(params["limit"])
        keys.extend(item[listed.key] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return keys
    raise AssertionError("the list never ended")


@pytest.mark.parametrize(("name", "sort"), SORTS)
async def test_the_cursor_walks_every_row_once_under_every_sort(
    client: httpx.AsyncClient, session: AsyncSession, name: str, sort: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed)
    expected = await expected_keys(world, listed)

    keys = await walk(client, world, listed, {"limit": PAGE, "sort": sort})

    assert len(keys) == len(set(keys)), f"a row came twice: {keys}"
    assert set(keys) == expected
    assert len(expected) > int(PAGE)  # several pages were walked


@pytest.mark.parametrize("name", LISTS)
async def test_a_page_is_items_and_next_cursor_and_total_when_asked(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed)
    url, headers = url_of(listed, world), world.caller.headers
    everything = await expected_keys(world, listed)

    plain = await client.get(url, params={"limit": "1"}, headers=headers)
    counted = await client.get(url, params={"include_total": "true", "limit": "1"}, headers=headers)

    assert plain.status_code == counted.status_code == 200, plain.text + counted.text
    assert set(plain.json()) == {"items", "next_cursor"}
    assert len(plain.json()["items"]) == 1 and plain.json()["next_cursor"]
    assert set(counted.json()) == {"items", "next_cursor", "total"}
    assert counted.json()["total"] == len(everything)


@pytest.mark.parametrize("name", LISTS)
async def test_q_searches_the_documented_text_fields(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed)
    term = "audit" if name == "permissions" else marker(1)
    assert listed.spec.search_fields, "every list here has a text field to search"

    response = await client.get(
        url_of(listed, world),
        params={"q": term.upper(), "limit": "200", "include_total": "1"},
        headers=world.caller.headers,
    )

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == response.json()["total"] == listed.q_matches


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
async def test_a_limit_outside_1_to_200_is_422(
    client: httpx.AsyncClient, session: AsyncSession, name: str, limit: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed, rows=0)

    response = await client.get(
        url_of(listed, world), params={"limit": limit}, headers=world.caller.headers
    )

    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("name", LISTS)
async def test_limits_1_and_200_are_allowed(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed, rows=2)
    url, headers = url_of(listed, world), world.caller.headers

    one = await client.get(url, params={"limit": "1"}, headers=headers)
    most = await client.get(url, params={"limit": "200"}, headers=headers)

    assert one.status_code == most.status_code == 200
    assert len(one.json()["items"]) == 1
    assert len(most.json()["items"]) == min(200, len(await expected_keys(world, listed)))


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("cursor", ["garbage", "a.b", "x" * 3000])
async def test_a_cursor_that_is_not_ours_is_400(
    client: httpx.AsyncClient, session: AsyncSession, name: str, cursor: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed, rows=0)

    response = await client.get(
        url_of(listed, world), params={"cursor": cursor}, headers=world.caller.headers
    )

    assert_problem(response, 400)


@pytest.mark.parametrize("name", LISTS)
async def test_a_cursor_of_another_sort_is_400(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed)
    url, headers = url_of(listed, world), world.caller.headers
    first = await client.get(url, params={"limit": "1"}, headers=headers)
    default = listed.spec.default_sort
    other = default.removeprefix("-") if default.startswith("-") else f"-{default}"

    response = await client.get(
        url, params={"cursor": first.json()["next_cursor"], "sort": other}, headers=headers
    )

    assert "sort" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize("name", LISTS)
async def test_an_unknown_parameter_is_422_naming_it(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed, rows=0)

    response = await client.get(
        url_of(listed, world), params={"colour": "red"}, headers=world.caller.headers
    )

    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "colour"]


@pytest.mark.parametrize("name", LISTS)
async def test_a_page_costs_the_same_statements_whatever_its_limit(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession, name: str
) -> None:
    listed = LISTS[name]
    world = await world_of(session, listed)
    url, headers = url_of(listed, world), world.caller.headers
    await client.get(url, params={"limit": "1"}, headers=headers)  # stamps last_used_at

    counts = {}
    for limit in ("1", "3", "200"):
        with statements_on(engine) as log:
            response = await client.get(url, params={"limit": limit}, headers=headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == min(
            int(limit), len(await expected_keys(world, listed))
        )
        counts[limit] = log

    assert counts["1"].count == counts["3"].count == counts["200"].count, "\n".join(
        counts["200"].statements
    )


async def test_a_scoped_token_may_not_list_its_siblings(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await world_of(session, LISTS["tokens"], rows=0)
    _, narrow = await create_token(
        session,
        Principal.system(),
        world.caller.user,
        CreateToken(name="narrow", scopes=["orders:read"]),
    )

    response = await client.get("/api/v1/me/tokens", headers={"Authorization": f"Bearer {narrow}"})

    assert_problem(response, 403)


async def test_my_tokens_are_only_mine(client: httpx.AsyncClient, session: AsyncSession) -> None:
    world = await world_of(session, LISTS["tokens"], rows=2)
    other = await make_user(session, role="admin")
    theirs, _ = await create_token(session, Principal.system(), other, CreateToken(name="theirs"))

    keys = await walk(client, world, LISTS["tokens"], {"limit": "1", "include_total": "0"})

    assert theirs.id not in keys
    assert len(keys) == 3  # the caller's own token and the two seeded


def documented_lists() -> dict[str, list[str]]:
    """The table of lists in docs/api.md: its cells by the list's path."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "api.md"
    rows = [line for line in doc.read_text().splitlines() if line.startswith("| `/api/v1/")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return {row[0].strip("`"): row[1:] for row in cells}


def words(cell: str) -> list[str]:
    return [] if cell == "—" else [word.strip("` ") for word in cell.replace(";", ",").split(",")]


def test_docs_api_md_documents_every_list_as_it_is() -> None:
    documented = documented_lists()

    assert set(documented) == {listed.url for listed in LISTS.values()}
    for listed in LISTS.values():
        default, sorts, searched, exact, ranges = documented[listed.url]
        spec = listed.spec
        assert default.strip("`") == spec.default_sort, listed.url
        assert words(sorts) == list(spec.sortable), listed.url
        prefixes = [f"start of {name}" for name in spec.prefix_searchable]
        assert words(searched) == [*spec.searchable, *prefixes], listed.url
        assert words(exact) == list(spec.exact), listed.url
        assert words(ranges) == list(spec.ranges), listed.url
