"""JSON written by the database: a read schema's row as SQL text, the bytes pydantic writes.

A list page spends most of its time turning rows into Python values and those into JSON
again. Here the SELECT itself yields each item's JSON text (PostgreSQL and SQLite alike),
so a page is the rows' texts joined by commas: no per-row Python work at all. The text is
byte for byte what the schema's own serializer writes (field order, `"Z"` datetimes with
microseconds only when there are some, money as `"12.50"`, the same string escapes);
tests/unit/test_sql_json.py holds the two to the same bytes on both databases, tricky
values included.

Only plain fields are written this way: integers, strings, booleans, UTC datetimes and
money (a `Decimal` marked `TwoPlaces`), each possibly null, plus JSON pieces the caller
builds (a nested object, an array of objects, a computed field). A schema with any other
field (a JSON column, an alias, an excluded field) gets None: its caller keeps pydantic.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, String, case, cast, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class TwoPlaces:
    """Annotation marker: this Decimal is written as a string with two decimal places."""


@dataclass(frozen=True)
class Json:
    """A SQL expression that already yields JSON text (never NULL): used as it is."""

    sql: ColumnElement[str]


# Lower case: SQL functions, named like them. Each yields JSON text.
class json_string(FunctionElement[str]):
    """A text value as a JSON string (NULL for NULL)."""

    name = "json_string"
    type = String()
    inherit_cache = True


class json_datetime(FunctionElement[str]):
    """A UTC timestamp as pydantic writes it: `"2026-03-01T09:30:05.001013Z"`, no fraction
    when the microseconds are zero (NULL for NULL)."""

    name = "json_datetime"
    type = String()
    inherit_cache = True


class json_two_places(FunctionElement[str]):
    """A decimal as a string with two places: `"12.50"` (NULL for NULL)."""

    name = "json_two_places"
    type = String()
    inherit_cache = True


class joined_texts(FunctionElement[str]):
    """Aggregate: the texts joined by commas in the order of the second argument (SQLite
    keeps its ordered input's order), NULL over no rows."""

    name = "joined_texts"
    type = String()
    inherit_cache = True


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(json_string, "postgresql")
def _string_pg(element: json_string, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    return f"CAST(to_json(CAST({value} AS TEXT)) AS TEXT)"


@compiles(json_string)
def _string_sqlite(element: json_string, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    return f"json_quote(CAST({value} AS TEXT))"


@compiles(json_datetime, "postgresql")
def _datetime_pg(element: json_datetime, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    utc = f"({value} AT TIME ZONE 'UTC')"
    micro = f"to_char({utc}, 'US')"
    return (
        f"'\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN {micro} = '000000' THEN '' ELSE '.' || {micro} END || 'Z\"'"
    )


@compiles(json_datetime)
def _datetime_sqlite(element: json_datetime, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, app/models/base.py UTCDateTime);
    # a value written by SQL may lack the fraction.
    (value,) = _args(element, compiler, **kw)
    micro = f"substr({value}, 21, 6)"
    return (
        f"'\"' || substr({value}, 1, 10) || 'T' || substr({value}, 12, 8)"
        f" || CASE WHEN length({micro}) < 6 OR {micro} = '000000'"
        f" THEN '' ELSE '.' || {micro} END || 'Z\"'"
    )


@compiles(json_two_places, "postgresql")
def _two_places_pg(element: json_two_places, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    return f"'\"' || CAST(round({value}, 2) AS TEXT) || '\"'"


@compiles(json_two_places)
def _two_places_sqlite(element: json_two_places, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    # printf('%.2f', NULL) is '0.00': a NULL must stay NULL (json_value writes `null`).
    return f"CASE WHEN {value} IS NOT NULL THEN '\"' || printf('%.2f', {value}) || '\"' END"


@compiles(joined_texts, "postgresql")
def _joined_pg(element: joined_texts, compiler: SQLCompiler, **kw: Any) -> str:
    text, order = _args(element, compiler, **kw)
    return f"string_agg({text}, ',' ORDER BY {order})"


@compiles(joined_texts)
def _joined_sqlite(element: joined_texts, compiler: SQLCompiler, **kw: Any) -> str:
    text, _ = _args(element, compiler, **kw)
    return f"group_concat({text}, ',')"


def _text(sql: str) -> ColumnElement[str]:
    """A constant piece of JSON, inlined in the SQL (never a bound parameter)."""
    return literal_column("'" + sql.replace("'", "''") + "'", String())


def _concat(pieces: list[ColumnElement[str]]) -> ColumnElement[str]:
    return reduce(lambda left, right: left + right, pieces)


def _without_none(annotation: Any) -> Any:
    """`X` for `X | None`; the annotation itself otherwise."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return others[0] if len(others) == 1 else annotation
    return annotation


def json_value(annotation: Any, metadata: list[Any], value: ColumnElement[Any]) -> Json | None:
    """`value`'s JSON text for a field of this annotation; None for a kind not written here.

    Null handling only for an optional field (a required one is a NOT NULL column, or the
    schema would refuse the row): it is a good part of the database's work per value.
    """
    kind = _without_none(annotation)
    piece: ColumnElement[str]
    if kind is bool:
        piece = case((value, _text("true")), (~value, _text("false")))
    elif kind is int:
        piece = cast(value, String())
    elif kind is str:
        piece = json_string(value)
    elif kind is datetime:
        piece = json_datetime(value)
    elif kind is Decimal and any(isinstance(mark, TwoPlaces) for mark in metadata):
        piece = json_two_places(value)
    else:
        return None
    if kind is not annotation:
        piece = func.coalesce(piece, _text("null"))
    return Json(piece)


_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def json_object(
    schema: type[BaseModel], values: Mapping[str, ColumnElement[Any] | Json]
) -> Json | None:
    """The SQL text of one `schema` object built from `values` (a column per field, or a
    `Json` piece for nested objects, arrays and computed fields), in the schema's field
    order; None when a field cannot be written here."""
    pieces: list[ColumnElement[str]] = []
    fields = [
        (name, info.annotation, info.metadata, info.serialization_alias or info.alias, info.exclude)
        for name, info in schema.model_fields.items()
    ]
    # pydantic writes computed fields after the others; they must come as Json pieces.
    fields += [
        (name, None, [], info.alias, None) for name, info in schema.model_computed_fields.items()
    ]
    for name, annotation, metadata, alias, exclude in fields:
        if alias not in (None, name) or exclude or not _NAME.fullmatch(name) or name not in values:
            return None
        given = values[name]
        piece = given if isinstance(given, Json) else json_value(annotation, metadata, given)
        if piece is None:
            return None
        pieces += [_text(("{" if not pieces else ",") + f'"{name}":'), piece.sql]
    return Json(_concat([*pieces, _text("}")])) if pieces else Json(_text("{}"))


def json_array(item: Json, order: ColumnElement[Any]) -> ColumnElement[str]:
    """Aggregate: a JSON array of `item` over the rows, in `order`; `[]` over none."""
    return _text("[") + func.coalesce(joined_texts(item.sql, order), _text("")) + _text("]")


# The label of the item's JSON column: the last column of a page's rows.
ITEM_JSON = "item_json"


def json_items(rows: Sequence[Sequence[Any]]) -> bytes:
    """The JSON array of rows whose last column is an item's JSON text."""
    return ("[" + ",".join([row[-1] for row in rows]) + "]").encode()
