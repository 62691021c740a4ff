"""Admin test rows and requests: a fresh set of rows per test, a request template, and a
whole-database snapshot to prove that a refused request changed nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.api_tokens import create_token
from app.auth.principal import Principal, RequestMeta
from app.auth.sessions import start_session
from app.auth.token_commands import CreateToken
from app.infra.settings import Settings
from app.models import Base, OrderStatus, User
from app.roles.commands import CreateRole
from app.roles.service import create_role
from tests.auth_helpers import admin_csrf
from tests.factories import make_customer, make_order, make_product, make_user

SYSTEM = Principal.system()
NEW_PASSWORD = "a brand new passphrase 42"
IMPORT_CSV = b"sku,name,price\nIMP-0001,Imported gear,2.50\n"


# --- the rows every request below acts on --------------------------------------------------


@dataclass(frozen=True)
class World:
    """Fresh rows for one test (ids); `me` is the logged-in user."""

    me: int
    customer: int  # no orders: deletable
    buyer: int  # has orders
    product: int  # in no order: deletable
    stocked: int  # on the orders
    draft: int  # a draft with one item: place, cancel, items, delete
    item: int
    placed: int  # pay
    paid: int  # ship
    role: int  # a custom role
    staffer: int  # another user: edit, deactivate, their token and session
    staffer_token: int
    staffer_session: int
    my_token: int
    my_other_session: int


async def make_world(session: AsyncSession, me: User, settings: Settings) -> World:
    """A customer, product, orders in each state, a role, a user with a token and a session."""
    customer = await make_customer(session)
    buyer = await make_customer(session)
    product = await make_product(session)
    stocked = await make_product(session, stock=50, price=Decimal("4.00"))
    draft = await make_order(session, customer=buyer, items=[(stocked, 1)])
    placed = await make_order(
        session, customer=buyer, status=OrderStatus.PLACED, items=[(stocked, 1)]
    )
    paid = await make_order(session, customer=buyer, status=OrderStatus.PAID, items=[(stocked, 1)])
    role = await create_role(
        session, SYSTEM, CreateRole(name=f"auditors-{customer.id}", permissions=["audit:read"])
    )
    staffer = await make_user(session, role="clerk")
    staffer_token, _ = await create_token(
        session, SYSTEM, staffer, CreateToken(name="staffer's script")
    )
    my_token, _ = await create_token(session, SYSTEM, me, CreateToken(name="my script"))
    meta = RequestMeta(request_id=None, ip="10.0.0.9", user_agent="elsewhere")
    staffer_session = await start_session(session, staffer, meta, settings)
    my_other_session = await start_session(session, me, meta, settings)
    await session.flush()
    return World(
        me=me.id,
        customer=customer.id,
        buyer=buyer.id,
        product=product.id,
        stocked=stocked.id,
        draft=draft.id,
        item=draft.items[0].id,
        placed=placed.id,
        paid=paid.id,
        role=role.id,
        staffer=staffer.id,
        staffer_token=staffer_token.id,
        staffer_session=staffer_session.row.id,
        my_token=my_token.id,
        my_other_session=my_other_session.row.id,
    )


async def database_state(session: AsyncSession) -> dict[str, list[str]]:
    """Every row of every table: equal before and after means nothing changed."""
    state: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        rows = (await session.execute(select(table))).all()
        state[table.name] = sorted(repr(tuple(row)) for row in rows)
    return state


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


async def page_token(browser: httpx.AsyncClient) -> str:
    """The CSRF token a logged-in page would give its forms."""
    return await admin_csrf(browser, "/admin/logout")


@dataclass(frozen=True)
class Call:
    """One admin request: method, path (with `{world field}` holes) and form fields."""

    method: str
    path: str
    form: dict[str, str] | None = None
    upload: bool = False

    async def send(
        self, browser: httpx.AsyncClient, world: World, token: str | None
    ) -> httpx.Response:
        values = asdict(world)
        path = self.path.format(**values)
        if self.method in {"GET", "DELETE"}:
            headers = {"X-CSRF-Token": token} if token else {}
            return await browser.request(self.method, path, headers=headers)
        form = {key: value.format(**values) for key, value in (self.form or {}).items()}
        if token:
            form["csrf_token"] = token
        if self.upload:
            files = {"file": ("products.csv", IMPORT_CSV, "text/csv")}
            return await browser.post(path, data=form, files=files)
        return await browser.post(path, data=form)
