"""SPEC §14: admin search and filter values with NUL (or another C0 control character) are
refused with a message on the list page, and never reach the database (PostgreSQL refuses
a NUL in text: it was a 500). Same for the lookups behind the order form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.admin import MODEL_VIEWS
from tests.admin.hostile import admin_browser
from tests.auth_helpers import admin_csrf, client_for

CONTROL = ["\x00", "a\x00b", "\x1b[31mred", "tab\there", "x\x7f", "line\nbreak"]
SEARCHABLE = [view.identity for view in MODEL_VIEWS if view.column_searchable_list]
# (identity, query parameters) of every filter of every view, with a value to attack.
FILTERS = [
    (view.identity, parameter, getattr(filter_, "has_operator", False))
    for view in MODEL_VIEWS
    for filter_ in view.column_filters
    # A typed filter reads several parameters (`price_min`, `price_max`): each is attacked.
    for parameter in getattr(filter_, "parameter_names", (filter_.parameter_name,))
]


@contextmanager
def sent_parameters(engine: AsyncEngine) -> Iterator[list[Any]]:
    """Every parameter value sent to the database while the block runs."""
    sent: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        sent.extend(values)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def has_control(values: list[Any]) -> bool:
    return any(isinstance(v, str) and any(ord(c) < 32 or c == "\x7f" for c in v) for v in values)


@pytest.mark.parametrize("identity", SEARCHABLE)
async def test_a_search_with_a_control_character_is_refused_with_a_message(
    app: FastAPI, session: AsyncSession, engine: AsyncEngine, identity: str
) -> None:
    async with admin_browser(app, session) as (browser, _):
        for term in CONTROL:
            with sent_parameters(engine) as sent:
                response = await browser.get(f"/admin/{identity}/list", params={"search": term})
            assert response.status_code == 200, (term, response.status_code)
            assert "must not contain control characters" in response.text, term
            assert "alert-danger" in response.text
            assert not has_control(sent), term


@pytest.mark.parametrize(("identity", "parameter", "has_operator"), FILTERS)
async def test_a_filter_with_a_control_character_is_refused_with_a_message(
    app: FastAPI,
    session: AsyncSession,
    engine: AsyncEngine,
    identity: str,
    parameter: str,
    has_operator: bool,
) -> None:
    async with admin_browser(app, session) as (browser, _):
        for value in CONTROL:
            attacks = [{parameter: value}]
            if has_operator:
                attacks = [
                    {parameter: value, f"{parameter}_op": "contains"},
                    {parameter: value, f"{parameter}_op": "equals"},
                    {parameter: "ok", f"{parameter}_op": value},
                ]
            for params in attacks:
                with sent_parameters(engine) as sent:
                    response = await browser.get(f"/admin/{identity}/list", params=params)
                assert response.status_code == 200, (params, response.status_code)
                assert "must not contain control characters" in response.text, params
                assert not has_control(sent), params


async def test_a_search_longer_than_the_apis_q_is_refused_with_a_message(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, _):
        response = await browser.get("/admin/customer/list", params={"search": "x" * 5000})

    assert response.status_code == 200
    assert "at most 200 characters" in response.text


@pytest.mark.parametrize("term", CONTROL)
async def test_the_order_forms_lookups_refuse_control_characters(
    app: FastAPI, session: AsyncSession, engine: AsyncEngine, term: str
) -> None:
    async with admin_browser(app, session) as (browser, _):
        with sent_parameters(engine) as sent:
            customers = await browser.get(
                "/admin/order/ajax/lookup", params={"name": "customer", "term": term}
            )
            products = await browser.get("/admin/order/product-lookup", params={"term": term})

    assert customers.status_code == 400
    assert products.status_code == 200 and products.json() == {"results": []}
    assert not has_control(sent)


async def test_a_date_filter_at_the_end_of_time_filters_nothing_rather_than_failing(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, _):
        response = await browser.get(
            "/admin/audit-event/list",
            params={"occurred_at_from": "9999-12-31", "occurred_at_to": "9999-12-31"},
        )

    assert response.status_code == 200
    assert "alert-danger" not in response.text


@pytest.mark.parametrize("email", ["a\x00b@example.com", "\x00", "admin@example.com\n"])
async def test_a_login_with_a_control_character_is_the_generic_refusal(
    app: FastAPI, engine: AsyncEngine, email: str
) -> None:
    async with client_for(app) as browser:
        token = await admin_csrf(browser)
        with sent_parameters(engine) as sent:
            response = await browser.post(
                "/admin/login",
                data={"username": email, "password": "pass\x00word", "csrf_token": token},
            )

    assert response.status_code == 400
    assert 'id="login-error"' in response.text
    assert not has_control(sent)
