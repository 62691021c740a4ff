"""The driver path's SQL (app/infra/db_reads.py) without a database: what SQLAlchemy sends."""

from __future__ import annotations

import pytest
from sqlalchemy import Integer, bindparam, literal, literal_column, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from app.auth.repository import _STAMP_TOKEN_USE, _TOKEN_IDENTITY, _USER_IDENTITY
from app.infra.db_reads import driver_statement
from app.models import Product

DIALECT = PGDialect_asyncpg()  # the engine's paramstyle: numeric_dollar, "$1"
products = Product.__table__
SEARCH = (
    select(products.c.id, literal_column("'50%'"), literal("a%b"))
    .where(products.c.name.ilike(bindparam("q", type_=products.c.name.type), escape="\\"))
    .where(products.c.stock % 2 == bindparam("odd", type_=Integer()))
    .limit(bindparam("page_limit", type_=Integer()))
)


@pytest.mark.parametrize("statement", [_TOKEN_IDENTITY, _USER_IDENTITY, _STAMP_TOKEN_USE, SEARCH])
def test_the_text_is_the_one_sqlalchemy_compiles_for_asyncpg(statement: object) -> None:
    prepared = driver_statement(statement, DIALECT)  # type: ignore[arg-type]

    assert prepared.sql == statement.compile(dialect=DIALECT).string  # type: ignore[attr-defined]


def test_a_repeated_parameter_keeps_its_number_and_fixed_values_are_bound() -> None:
    stamp = driver_statement(_STAMP_TOKEN_USE, DIALECT)
    search = driver_statement(SEARCH, DIALECT)

    assert stamp.names == ("used_at", "used_ip", "token_id")
    assert stamp.sql.count("$1") == 2
    assert stamp.arguments({"used_at": 1, "used_ip": "::1", "token_id": 7}) == [1, "::1", 7]
    assert "'50%'" in search.sql and "%%" not in search.sql
    arguments = search.arguments({"q": "%oak%", "odd": 1, "page_limit": 51})
    assert arguments == ["a%b", "%oak%", 2, 1, 51]


def test_a_missing_value_is_named() -> None:
    with pytest.raises(ValueError, match="token_hash"):
        driver_statement(_TOKEN_IDENTITY, DIALECT).arguments({})
