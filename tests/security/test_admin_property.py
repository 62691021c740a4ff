"""SPEC §14 "No input reaches a 500", the admin's half, as a property: arbitrary strings
(control characters, huge numbers, odd Unicode) in every admin list's search box, filters,
sort, page size and cursors, and in the ids of its details and edit pages, never give a
500: the answer is a page (with a message when the input was refused) or a 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import MODEL_VIEWS
from tests.admin.hostile import HOSTILE_IDS, admin_browser
from tests.factories import make_customer, make_order, make_product

VIEWS = {view.identity: view for view in MODEL_VIEWS}
# C0 controls and DEL, format and separator characters, combining marks, non-ASCII digits.
_ODD = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Co", "Nd", "No", "So"])
_SPECIAL = st.sampled_from(list("\x00\x7f\ufeff%_\\'\",.-+=&?#/ "))
TEXT = st.text(_ODD | _SPECIAL | st.characters(codec="utf-8"), max_size=40)
NUMBERS = st.one_of(
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e999999", "١٢", "²", "-0", "9" * 5000, "2147483648", "0x10"]),
)
HOSTILE = st.one_of(TEXT, NUMBERS, st.sampled_from(HOSTILE_IDS))


def _parameters(identity: str) -> list[str]:
    """The query parameters a list of `identity` reads."""
    names = ["search", "sortBy", "sort", "pageSize", "page", "after", "before", "last"]
    for filter_ in VIEWS[identity].column_filters:
        names += [filter_.parameter_name, f"{filter_.parameter_name}_op"]
        names += getattr(filter_, "parameter_names", ())
    return names


@pytest.fixture
async def admin(app: FastAPI, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """One logged-in admin browser for every example of a test, over a few rows."""
    product = await make_product(session, stock=5)
    await make_order(session, customer=await make_customer(session), items=[(product, 1)])
    async with admin_browser(app, session) as (browser, _):
        yield browser


@pytest.mark.parametrize("identity", list(VIEWS))
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_list_parameter_or_id_gives_the_admin_a_500(
    admin: httpx.AsyncClient, identity: str, data: st.DataObject
) -> None:
    names = _parameters(identity)
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    params = {name: data.draw(HOSTILE, label=name) for name in chosen}
    if data.draw(st.booleans(), label="a column the list sorts by"):
        params["sortBy"] = data.draw(st.sampled_from(VIEWS[identity].column_sortable_list))
    raw_id = data.draw(HOSTILE, label="id")

    listed = await admin.get(f"/admin/{identity}/list", params=params)
    details = await admin.get(f"/admin/{identity}/details/{quote(raw_id, safe='')}")
    edit = await admin.get(f"/admin/{identity}/edit/{quote(raw_id, safe='')}")

    assert listed.status_code < 500, (params, listed.status_code)
    assert details.status_code < 500, (raw_id, details.status_code)
    assert edit.status_code < 500, (raw_id, edit.status_code)
    assert "Something went wrong" not in listed.text
